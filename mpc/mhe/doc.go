// Package mhe implements threshold multiparty homomorphic aggregation: every
// node encrypts its quantised model update under a collective public key
// whose secret key is Shamir-shared among the nodes, the aggregator adds the
// ciphertexts, and any t nodes jointly decrypt only the sum. No single party,
// the aggregator included, can decrypt anything.
//
// It follows the multiparty RLWE scheme of Mouchet, Troncoso-Pastoriza,
// Bossuat and Hubaux ("Multiparty Homomorphic Encryption from
// Ring-Learning-with-Errors", PETS 2021) with the t-of-n access structure of
// Mouchet, Bertrand and Hubaux ("An Efficient Threshold Access-Structure for
// RLWE-Based Multiparty Homomorphic Encryption", eprint 2022/780), on the
// lattigo v6 library (core/rlwe, multiparty), with BGV's LSB plaintext
// encoding (Brakerski, Gentry and Vaikuntanathan, ITCS 2012). It is the only
// package of consort that imports lattigo.
//
// # Threat model
//
// The aggregator (the coordinator) may deviate arbitrarily: drop, reorder,
// replay or forge any message it relays, choose the contributor set, the
// decryption set and the attempt number, and substitute or alter
// ciphertexts. It may collude with fewer than t nodes. In a verified round
// ([RoundConfig.Identities] set, as every networked federation should) an
// honest node guarantees, whatever the aggregator does and as long as no
// contributor colludes with it:
//
//   - it decrypts only an aggregate that is the sum of the ciphertexts of at
//     least max(MinContributors, t) distinct participants, each signed by its
//     contributor over (federation, round, model version, ciphertext
//     digest); a substituted ciphertext or a sum altered anywhere, even in a
//     single coefficient, is refused except with probability 2^-128 per
//     chunk ("Verified decryption" below);
//   - it produces at most one decryption share per round and per model
//     version, whatever the attempt number or round label ([Ledger]), so no
//     two aggregates over different subsets of the same updates can be
//     decrypted and differenced;
//   - it refuses with a classified error ([ErrAggregateMismatch],
//     [ErrBadSignature], [ErrTooFewContributors], [ErrAlreadyDecrypted], all
//     wrapping mpc.ErrProtocol) and the aggregator obtains nothing;
//   - the collective public key is formed by every node itself from
//     public-key shares each node committed to before any was revealed, so
//     the aggregator cannot install a key of its own and no node can choose
//     a rogue share after seeing the others;
//   - Shamir shares of the secret keys travel sealed with ChaCha20-Poly1305
//     under keys from an X25519 agreement between the two nodes, signed with
//     the nodes' Ed25519 identities ([SetupConfig.Identities]), so an
//     aggregator that relays them can neither read nor substitute them;
//   - each decryptor adds smudging noise of width 2^LogSmudge to its share,
//     so the decrypted noise reveals nothing about the secret-key shares
//     ("Smudging" below), and updates are encrypted under the collective
//     public key, never with a party's own key share and a seeded c1 (that
//     construction lets the aggregator read a party's input:
//     [TestSeededC1AttackControl] shows the attack,
//     [TestAggregatorCannotIsolateInput] shows it fails here);
//   - every peer byte is size-checked against the agreed parameters before
//     it is decoded; lattigo's own decoders, which trust length prefixes,
//     never see peer bytes.
//
// What remains ([ResidualRisk], "Residual risks" below): contributions
// carry no proof of well-formedness, so a node that colludes with the
// aggregator can make the decryptors reveal the collective secret key, or
// cancel an honest contribution out of a sum. Differencing across different
// model versions (the coordinator choosing who takes part in successive
// rounds) is not stopped by bookkeeping; differential privacy bounds it. An
// unverified round (no Identities) trusts the aggregator to follow the
// protocol, as the first release did; it remains for simulations and
// benchmarks. Up to n - t nodes may drop out; in a verified round every
// contributor must stay until it has answered the fingerprint challenge.
//
// # Protocol
//
// Setup, once per federation (round 0), with the node ids 1..n:
//
//  1. Each node draws its ternary secret s_i from its injected reader,
//     computes its share -a*s_i + e_i of the collective public key (a is
//     expanded from the federation's CRS seed) and sends every node its
//     X25519 key and a commitment (SHA-256) to that share, signed with its
//     identity ([KindAnnounce]).
//  2. Once it holds every announcement (every commitment), each node sends
//     its public-key share to the aggregator ([KindKeyShare]) and shares s_i
//     with a polynomial f_i of degree t-1, f_i(0) = s_i, by pseudo-random
//     secret sharing (Cramer, Damgard and Ishai, TCC 2005): its values at
//     the t-1 lowest other ids are uniform polynomials mod QP that sender and
//     recipient both expand from their X25519 agreement, which fixes f_i; the
//     values at the n-t other ids are interpolated and sent sealed
//     ([KindShamirShare]). Any t-1 nodes see t-1 uniform values, independent
//     of s_i. Every pair still exchanges one sealed message (the seeded ones
//     carry only the result-key contribution), so a node sends n-t
//     polynomials instead of n-1; with t = n none (the keys are additive).
//     Each node sums what it receives into its share of s = sum s_i.
//  3. The aggregator relays all n public-key shares to every node
//     ([KindPublicKey]); each node checks every share against its owner's
//     commitment and the parameters, sums them into pk = (-a*s + e, a)
//     itself and keeps a [KeyMaterial] that the federated layer persists
//     with mode 0600. Every node and the aggregator can log
//     [KeyMaterial.PublicKeyDigest] to check that they agree.
//
// Round r >= 1:
//
//  1. Each participant quantises its update (package kernels, see below),
//     packs it into plaintexts, encrypts them with pk (public-key encryption
//     as lattigo's rlwe.Encryptor performs it, on lattigo's ring arithmetic:
//     the encryption of zero is drawn in QP and divided by P) and sends them,
//     bit-packed, in one message ([KindCiphertext]).
//  2. The aggregator adds each ciphertext into one running sum per chunk as
//     it arrives (O(dim) memory). When all participants have uploaded, or the
//     driver calls [Aggregator.CloseUploads], the contributor set is fixed;
//     below max(MinContributors, t) the round aborts.
//  3. In a verified round the aggregator first runs the check of
//     "Verified decryption" below ([KindAggregate], [KindChallenge],
//     [KindChallengeSet], [KindFingerprint]); the decryption requests then
//     carry every contributor's signed fingerprints.
//  4. It asks the first t live contributors to decrypt ([KindDecryptRequest]:
//     contributors, decryption set, the aggregate's c1). Each computes its
//     additive share s_j' of s by Lagrange interpolation
//     (multiparty.Combiner) and answers c1*s_j' + e_j with smudging noise e_j
//     ([KindDecryptShare]): the share of multiparty.KeySwitchProtocol towards
//     the zero key, or of multiparty.PublicKeySwitchProtocol towards the
//     nodes' result key when the nodes are the recipients. If a decryptor does
//     not answer ([Aggregator.Dropped]), a new attempt with the next live
//     contributors starts (in a verified round, contributors that were not
//     asked before: a node gives one share per round); with fewer than t
//     left the round aborts with an *mpc.AbortError wrapping
//     mpc.ErrTooFewParties.
//  5. The aggregator combines the shares (KeySwitchProtocol.AggregateShares,
//     KeySwitch) and decodes the sum, or, when the nodes are the recipients,
//     sends them the re-encrypted sum ([KindResult]) which they decrypt with
//     the result key; its seed is the hash of contributions every node sent
//     inside its sealed Shamir shares, so the aggregator never has it.
//
// # Verified decryption
//
// A decryption share c1*s_j' + e_j of a c1 that is not the honest sum gives
// the aggregator what it asks for: with c1 = c1_a alone it reads team a's
// update, and with a sparse change to the sum (a scaled monomial alpha*X^k,
// even a single altered coefficient) the decryption reveals alpha*X^k*s,
// the collective secret key itself. Checking a sample of coefficients cannot
// catch a sparse change, so the decryptors check a random linear
// fingerprint of every coefficient, with a challenge drawn after the claimed
// sum is fixed:
//
//  1. Upload: node i sends its ciphertext and an Ed25519 signature over
//     [ContributionMessage](federation, round, model version, D_i), D_i the
//     digest of the ciphertext bytes. The aggregator checks it and keeps
//     (D_i, signature) per contributor.
//  2. [KindAggregate]: once the uploads close, the aggregator sends every
//     contributor the contributor set, every (D_i, signature), and H, the
//     digest of the packed claimed c1 (NTT domain) of every chunk. A
//     contributor checks at least max(MinContributors, t) distinct
//     participants, every signature, and that its own D_i is listed; then it
//     draws a fresh 32-byte seed ([KindChallenge]).
//  3. [KindChallengeSet]: every contributor's seed. Each contributor checks
//     its own seed is there, derives the joint challenge rho = SHA-256(label,
//     federation, round, model version, H, aggregate digest, seeds) and
//     expands it (AES-CTR, rejection sampling) into K = ceil(128 / floor(log2
//     q_min)) uniform vectors r_k,l modulo each prime q_l of Q. It answers
//     ([KindFingerprint]) with f_i = (<r_k,l, c1_i^(c) mod q_l>) for every
//     chunk c, repetition k and prime l (coefficient domain), signed over
//     (federation, round, model version, rho, D_i, f_i).
//  4. [KindDecryptRequest]: the decryption set, every contributor's signed
//     fingerprints and the claimed c1. A decryptor checks the c1 against H,
//     every fingerprint signature (bound to D_i and rho), and that sum_i f_i
//     equals the fingerprint of INTT(claimed c1) for every chunk, repetition
//     and prime. Only then does it claim (federation, round, model version,
//     aggregate digest) in its [Ledger] and compute its share.
//
// Soundness. Let delta = claimed c1 - sum_i c1_i (the c1_i fixed by the
// signed digests D_i before any seed is drawn). The claimed c1 is fixed by
// H before the honest decryptor draws its seed, so rho is unpredictable to
// the aggregator (SHA-256 as a random oracle). If delta != 0 in some chunk,
// it is nonzero modulo some prime q_l, and <r, delta> = 0 mod q_l for a
// uniform r with probability exactly 1/q_l; the K independent repetitions
// give at most q_min^-K <= 2^-128 per chunk, and a union bound over the
// chunks gives chunks * 2^-128 per attempt. Contributors that collude with
// the aggregator choose their seeds after seeing the honest ones, which lets
// it try many rho: G tries succeed with probability at most G * chunks *
// 2^-128 (N13-T128 has 49-bit primes, K = 3, 2^-144). An honest contributor
// computes its fingerprints from its own c1, so the check also proves that
// its contribution is in the sum exactly once. A contributor cannot refuse
// to be counted after the fact: its signature over D_i is in the aggregate.
// Fingerprints are linear functions of c1 only, which the aggregator holds
// anyway, and c1 does not depend on the plaintext: they reveal nothing.
//
// Replays. A node accepts one [KindAggregate] per round, and once it has
// produced its share refuses every further request of the round
// ([ErrAlreadyDecrypted]) whatever the attempt number; its [Ledger] refuses
// a second decryption of the same round or model version across restarts
// and relabelled rounds. The aggregator therefore never asks a node twice:
// a new attempt (a decryptor dropped) goes to contributors that were not in
// an earlier decryption set, so a verified round survives
// contributors - (attempts * t) dropouts in the decryption phase rather than
// contributors - t. [Result.Contributions] and [Result.Aggregate] give the
// audit log the contribution digests of the aggregate, and
// [Node.ContributionDigest] and [Node.Decryption] what each node signed and
// claimed, so a cross-check of the logs catches a substituted sum.
//
// Cost. Per contributor: one SHA-256 pass over its ciphertext, one
// signature, one 32-byte challenge, K passes of 64-bit multiplications over
// its c1 and a fingerprint message of chunks*K*len(Q)*8 + 64 bytes (1,360 B
// with N14-T256 at 2^20 values). Per decryptor, in addition: n signature
// checks of each kind, one SHA-256 pass and one inverse NTT over the claimed
// c1, K fingerprint passes, and n*(fingerprint + 64) more bytes in its
// request. Measured with bench.RunMHE (Verified), see docs/mhe.md.
//
// # Residual risks
//
// [ResidualRisk] is the statement for operators. Contributions carry no
// zero-knowledge proof that they are well-formed encryptions (knowledge of
// a short u, e0, e1 and a plaintext in range). A node that colludes with the
// aggregator can upload c1_b = alpha*X^k (its ciphertext is signed and
// fingerprinted like any other, so verification passes): the decryptors
// then release (c1_h + alpha*X^k) s + E, from which the aggregator, knowing
// the honest c0_h and c1_h, reads alpha*X^k*s, the collective secret key,
// and from then on every individual ciphertext of the federation. It can
// also upload minus an honest node's ciphertext (plus an encryption of
// zero), which cancels that node out of a sum that still names it. Proofs
// of well-formed RLWE encryptions exist (Baum, Damgard, Larsen and Nielsen,
// "How to prove knowledge of small secrets", CRYPTO 2016; Baum and Nof, PKC
// 2020; Lyubashevsky, Nguyen and Plancon, CRYPTO 2022; Beullens and Seiler,
// "LaBRADOR", CRYPTO 2023), but none comes near a node's encryption time at
// these ring sizes: the fastest published implementation for exactly this
// statement, Greco (a Halo2 circuit for secret-key BFV encryption), proves
// one N = 2^14 ciphertext with eight 54-bit primes in 29-57 s on a 12-core
// laptop, against 7-11 ms for one of our N = 2^14 encryptions (2^20
// values take 8): at least 10^3 times today's node time, far beyond the
// 3x budget, so they are not implemented. secagg, where a colluding node
// learns nothing about an honest node's input beyond the aggregate, is the
// recommended protocol where any node may collude with the coordinator.
//
// # Plaintext encoding and the plaintext modulus
//
// A node quantises each coordinate x to round(x * 2^frac) with stochastic
// (or nearest) rounding, clamped to |q| <= C = floor((2^(b-1) - 1) / n) for a
// round of n participants and b = 32 (or 16) bits; frac is the largest
// exponent with Bound * 2^frac <= C. A coefficient of the BGV plaintext
// carries F = LogT / b such values as the integer M = sum_f (q_f + C) 2^(f b)
// (offset binary), embedded as M * T^-1 mod Q with T = 2^LogT (the LSB
// encoding: decryption computes T*(c0 + c1*s) = M + T*E and reduces modulo
// T). Since at most n values of at most 2C are added, a field's sum stays
// below 2^b: the plaintext modulus T = 2^(F b) holds the sum of n quantised
// updates without wrap-around and the decrypted plaintext is exactly the
// integer sum of the quantised inputs; the decoder subtracts
// (contributors * C) per field.
//
// lattigo's bgv package requires a prime T below the first modulus (at most
// 2^61), so one coefficient could carry one 32-bit value plus headroom, and
// the modulus needed for a secure smudging would cost more than 16 bytes per
// value. Hence mhe embeds the plaintexts itself (a power-of-two T is coprime
// to the odd moduli) and uses lattigo for keys, encryption, the multiparty
// protocols and all ring arithmetic. At 16-bit quantisation the same
// parameters carry twice as many values per coefficient, which halves the
// bytes per value.
//
// # Parameters
//
// [ParamSets] lists the secure sets. log QP is within the 128-bit bound of
// the HomomorphicEncryption.org standard for a uniform ternary secret
// ([HEStandardMaxLogQP]); the ternary secret and the error of width 3.2 are
// lattigo's defaults.
//
//	set       N     log Q  log P  log QP/bound  T      max n  sigma_smudge  values/ct (b=32)  B/value sent (b=32, b=16)
//	N12-T32   2^12  93.7   15.3   109.0/109     2^32   16     2^53.5        4096              35.3, 17.6
//	N13-T128  2^13  196    22     218/218       2^128  64     2^56.5        32768             18.4, 9.2
//	N14-T256  2^14  330    50     380/438       2^256  128    2^58.5        131072            15.5, 7.7
//	N15-T512  2^15  590    60     650/881       2^512  256    2^60.5        524288            13.8, 6.9
//
// "B/value sent" is a decryptor's ciphertext plus its decryption share at a
// full chunk; the ciphertext alone is two thirds of it.
//
// Sizing. [ChooseParams] picks, from the literals alone (no set is built
// until the choice is made), the set with the fewest ciphertext bytes for
// the job among those whose budget covers the federation: a model of d
// values at b bits takes ceil(d / (N * LogT/b)) ciphertexts of 2 * N *
// sum_i bitlen(q_i) / 8 bytes. Small updates land on N12-T32 (up to 16
// parties: one 96 KB ciphertext holds 4,096 32-bit or 8,192 16-bit values,
// against 401 KB with N13-T128), 2^20 values on N15-T512 (2 ciphertexts,
// 9.7 MB) rather than N14-T256 (8, 10.8 MB). N12-T32 is as small as a 2^12
// ring gets: with log QP <= 109 and the 40-bit smudging, T = 2^64 would
// need log Q >= 64 + 58.7 + 1 = 123.7, so T = 2^32 carries one 32-bit (or
// two 16-bit) values per coefficient. The Q chain holds exactly the moduli
// the decryption noise needs, so ciphertexts are produced at the lowest level
// that decrypts (encrypting there directly is the same as encrypting at a
// higher level and dropping moduli, which for the LSB encoding is a reduction
// modulo the remaining product, and costs less). [InsecureTestParams] is a
// small ring for tests only; [NewParams] refuses it unless its
// InsecureTestOnly field is set. [NewParams] recomputes the analysis below
// and refuses a literal whose budget does not close.
//
// # Noise budget
//
// Per coefficient, for n key holders (the collective secret s has variance
// 2n/3 per coefficient) and N the ring degree ([Params.Budget] computes it):
//
//   - fresh encryption: the QP encryption noise (e_pk*u + e0 + e1*s) is
//     divided by P, leaving the rounding tau0 + tau1*s: variance
//     1/12 + N (2n/3) / 12 (plus a negligible term over P^2);
//   - sum of n ciphertexts: n times that variance;
//   - decryption: each of the t decryptors adds smudging of width sigma; the
//     decrypted value is M + T*E with |E| <= 9 sqrt(Var(sum) + t sigma^2)
//     except with probability below 2^-62 per coefficient, and decodes
//     correctly while T * 9 sqrt(...) < Q/2.
//
// Worked out for N14-T256 at its maximum of n = t = 128: fresh std 341, sum
// std 3862 (2^11.9); sigma = 2^58.5; total 9 sqrt(128) 2^58.5 = 2^65.2;
// needed log Q = 256 + 65.2 + 1 = 322.2 against log Q = 330.0, a margin of
// 7.8 bits. For N13-T128 at 64 parties: sum std 1365, margin 4.3 bits; for
// N15-T512 at 256: sum std 10923, margin 9.3 bits. For N12-T32 at its
// maximum of n = t = 16: fresh std 60.3 (the division by P = 40961 leaves
// a variance of 5.3e-4, negligible), sum std 241 (2^7.9); sigma =
// 2^53.5 gives 1 + 53.5 - log2(1.1 * 64 * 241) = 40.45 bits of statistical
// security; total 9 * 4 * 2^53.5 = 2^58.7; needed log Q = 32 + 58.7 + 1 =
// 91.7 against 93.67, a margin of 2.0 bits (3.0 at 10 parties, t = 4). [TestFreshNoiseMatchesModel]
// measures the fresh noise under a real collective key against the model.
//
// # Smudging and statistical security
//
// The smudging must hide the summed ciphertext noise e (which depends on the
// secret-key shares) from whoever sees the decrypted value. Relying on one
// honest decryptor's noise only, the statistical distance between
// e + Gaussian(sigma)^N and Gaussian(sigma)^N is at most ||e||_2 / (2 sigma)
// (Kullback-Leibler divergence ||e||^2 / (2 sigma^2), then Pinsker), with
// ||e||_2 <= 1.1 sqrt(N) std(e) except with negligible probability. All three
// sets give 40.4 bits per decrypted ciphertext at their maximum federation
// (N14-T256: 1.1 * 128 * 3862 = 2^19.05 against 2 sigma = 2^59.5), more for
// fewer parties; [NewParams] requires at least [MinStatSecurity] = 40. KL
// divergences add up, so D decrypted ciphertexts over the federation's
// lifetime keep sqrt(D) 2^-40.4 (2^-30.4 after 2^20 ciphertexts).
//
// lattigo's Gaussian sampler (lattigo issue 391 leaves the smudging to the
// caller) scales a ziggurat sample of 31-bit resolution: at sigma = 2^58 its
// outputs lie on a grid with gaps of about 2^27, which would not hide e. mhe
// therefore composes each smudging sample as y0 + 2^k y1 + 2^(2k) y2 of three
// rounded Gaussians of width sigma0 in [2^(k+1), 2^26] (grid far below one);
// by the convolution theorem for discrete Gaussians (Peikert, CRYPTO 2010;
// Micciancio and Walter, CRYPTO 2017) the sum is statistically close to a
// discrete Gaussian of width sigma0 sqrt(1 + 4^k + 4^(2k)) since sigma0 is
// twice the smoothing parameter of 2^k Z. The generator is ChaCha8 keyed from
// the node's injected reader.
//
// # The mpc contract
//
// The same state machines implement the protocol contract of package mpc,
// so a driver runs them like any other protocol: [SetupNode] and [Node]
// (built with [NewNodeClient], whose Start uploads the update) are
// mpc.Clients, [SetupAggregatorParty] ([NewSetupAggregatorParty], whose
// Advance aborts a setup without every key share) and [AggregatorParty]
// ([NewAggregatorParty], whose Advance closes the uploads or gives up on the
// silent decryptors) are mpc.Servers. Every message carries Kind = its
// [Kind]'s name, Step refuses a Kind that contradicts the bytes, and a late
// or repeated message is ignored with an error wrapping mpc.ErrUnexpected.
// A node's Revealed reports a decryption share sent (or a result
// received that includes it). With the aggregator as the recipient a round
// node never learns that the round is over: its Status stays pending and the
// driver ends it.
//
// # Randomness
//
// Every random choice of a party comes from its injected io.Reader: a setup
// node expands 32 bytes into its secret key, key-generation error, X25519
// key and result-key contribution (through lattigo's samplers keyed with our
// seeds; the seeded Shamir values come from the pairwise X25519
// agreements); a round node reads seeds for the
// stochastic rounding (the kernels' AES-CTR stream), the encryption
// randomness u, e0, e1 (AES-128-CTR feeding lattigo's samplers, faster than
// lattigo's BLAKE2b generator) and the smudging noise (ChaCha8). A run is
// therefore reproducible from its readers (testdata pins a complete one).
// The one exception is the public key switch used when the nodes are the
// recipients: lattigo's multiparty.PublicKeySwitchProtocol draws its
// encryption of zero from its own crypto/rand-seeded generator.
//
// # Wire
//
// Every message starts with a header: version (1), kind (1), from (uint16),
// to (uint16, 0xFFFF for a broadcast), round (uint64, 0 for setup), attempt
// (uint32), len(federation id) (1), federation id; integers little-endian.
// Bodies, with sizes fixed by the parameters and the round:
//
//	announce          X25519 key (32) | key-share commitment (32) [| Ed25519 signature (64)]
//	key-share         polynomial mod QP
//	shamir-share      ChaCha20-Poly1305(polynomial mod QP | contribution (32)), AD = header
//	public-key        n polynomials mod QP: every node's key share, by id
//	ciphertext        per chunk: c0, c1 mod Q (coefficient domain) [| signature (64), verified]
//	decrypt-request   contributors | decryptors (uint16 count, uint16 ids) | per chunk: c1 (NTT domain)
//	                  verified: decryptors | per contributor: fingerprints | signature (64) | per chunk: c1
//	decrypt-share     per chunk: share (NTT domain) [| second share polynomial, nodes as recipients]
//	result            contributors | per chunk: c0', c1' (NTT domain)
//	aggregate         contributors | per contributor: digest (32) | signature (64) | claimed-c1 digest (32)
//	challenge         seed (32)
//	challenge-set     per contributor: seed (32)
//	fingerprint       per chunk, repetition, prime: uint64 residue | signature (64)
//
// A polynomial is stored prime by prime, each residue bit-packed to
// bitlen(q_i - 1) bits with kernels.Pack64 (lattigo's own encoding spends 8
// bytes per residue); decoders reject non-canonical padding and residues
// >= q_i, so every accepted message re-encodes to the same bytes.
//
// # Performance
//
// Measured with bench.RunMHE on this machine kind (2 shared cores, so
// medians of alternating runs), 2^20 values, 32-bit quantisation: with
// N14-T256 a decrypting node sends 15.5 B/value (ciphertext 10.3, share
// 5.2) and spends about 65-75 ms (encryption 55, decryption share 15), 1.0
// to 1.2 times lattigo's own rlwe.Encryptor on the same 8 ciphertexts timed
// alternately (median about 1.1); the aggregator spends 50 ms for 3 nodes
// and 100 ms for 10. N15-T512 sends 13.8 B/value in about 60 ms, but since
// lattigo encrypts 2^20 values faster there (46 ms) its ratio is about 1.3:
// the work beyond encryption (quantisation, embedding into 10 primes,
// packing, smudging) does not shrink with the ring. At 16-bit quantisation
// the node sends 7.7 (N14) or 6.9 (N15) B/value. The nodes' encryption
// skips the two forward NTTs of a BGV ciphertext (the aggregator only adds)
// and draws its randomness from AES-CTR, which pays for most of that extra
// work. The one-time setup takes 0.1 s for 3 nodes and 0.4 s for 10 (N14).
//
// Later measurements (bench.RunMHE, thread CPU time, 10 parties, t = 4,
// load average 11 on the 2 cores): at 2^20 values N14-T256 spends 98.7 ms
// per decryptor against 83.8 ms raw (1.16), a verified round 128.1 ms
// (1.30 x the unverified round of the same run) with 1,360 B more sent and
// 13,520 B more received; N15-T512 87.8 ms (raw 67.8, 1.27), verified 1.26
// x. At 4,096 values N12-T32 sends 115.5 KB per party per round (upload and
// shares, the target 150 KB; it was 401 KB with N13-T128) in 1.3 ms
// against 1.1 ms raw (1.13); verified 2.8 ms, the fixed cost of 2n
// signature checks. The setup of 10 nodes with N12-T32 sends 565 KB per node
// at t = 4 with every Shamir share sent, 395 KB with the seeded shares (6 of
// 9 sent) and 58 KB at t = n (no Shamir sharing), and a node receives 564 KB
// of public-key shares; with N14-T256 7.8 MB, 5.4 MB, 0.78 MB and 7.8 MB.
//
// # Usage
//
// Setup (every node, and the aggregator, over any transport):
//
//	lit, _ := mhe.ChooseParams(n, d, 32) // sized to the job
//	p, _ := mhe.NewParams(lit)
//	cfg := mhe.SetupConfig{Params: p, FederationID: "fed", Parties: n, Threshold: t, CRS: crs}
//	node, _ := mhe.NewSetupNode(cfg, id, nil, rand.Reader)
//	out, _ := node.Start()           // send out; feed incoming messages to node.Step
//	km, ok := node.KeyMaterial()     // persist km.MarshalBinary() with mode 0600
//
//	agg, _ := mhe.NewSetupAggregator(cfg) // feeds on key shares, broadcasts the public key
//
// A round:
//
//	rc := mhe.RoundConfig{FederationID: "fed", Round: r, Dim: d, Participants: ids, Bound: 4,
//		ModelVersion: digest, Identities: keys} // a verified round
//	nrc := rc
//	nrc.Signer, nrc.Ledger = identityKey, ledger // the node's side: its key, its durable ledger
//	nd, _ := mhe.NewNode(km, nrc, rand.Reader)
//	out, _ := nd.Upload(update)      // to the aggregator
//	out, _ = nd.Step(msg)            // aggregate -> challenge, challenge set -> fingerprints, request -> share
//	d, _ := nd.Decryption()          // what the ledger recorded
//
//	a, _ := mhe.NewAggregator(cfg, rc)
//	out, err := a.Step(msg)          // ciphertexts and shares; CloseUploads and Dropped on deadlines
//	res, ok := a.Result()            // res.Sum, res.Contributors, res.Contributions (audit)
package mhe
