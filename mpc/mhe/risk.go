package mhe

// ResidualRisk states, for operators and for the CLI to print next to an mhe
// federation, what verified decryption does not stop. See "Residual risks"
// in the package documentation and docs/mhe.md for the measurements behind
// it.
const ResidualRisk = "mhe residual risk: contributions carry no proof that they are well-formed " +
	"encryptions (such proofs cost about 10^3 to 10^4 times a node's encryption time today). " +
	"A node that colludes with the aggregator can therefore upload a crafted ciphertext that makes " +
	"the honest decryptors reveal the collective secret key, after which the aggregator can read every " +
	"team's individual update of every round, past and future; it can also cancel an honest team's " +
	"contribution out of a sum. Without a colluding node, a malicious aggregator learns only aggregates " +
	"of at least min_participants signed contributions, once per round and model version. " +
	"Use secagg where any node may collude with the coordinator."
