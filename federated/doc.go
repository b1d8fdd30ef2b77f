// Package federated runs federated training rounds: participant selection,
// local training, protected aggregation, the server strategy and evaluation.
//
// The protection of updates goes through the [Aggregator] interface. [Plain]
// sums updates in the clear and is insecure (it exists as the baseline for
// benchmarks and tests); the secure protocols (pairwise-masking secure
// aggregation and multiparty homomorphic encryption, package mpc) implement the
// same interface, so the round loop is the same for all.
//
// # A round
//
// The coordinator selects ceil(Fraction*n) parties (at least Threshold). Each
// selected party copies the global model, trains LocalEpochs epochs of
// mini-batch SGD on its own data, and forms its update u_i = local - global. The
// update is weighted by w_i = n_i / sum_selected n_j (n_i the party's number of
// examples; FedAvg of McMahan et al., AISTATS 2017) and each coordinate is
// clipped to [-Bound, Bound] so fixed-point protocols cannot overflow. The
// aggregator returns the sum of the contributors' weighted updates; dividing by
// the contributors' total weight gives the weighted mean update, which the
// strategy applies:
//
//   - fedavg: global += mean update.
//   - fedprox (Li et al., MLSys 2020): the same, with the proximal term
//     mu/2 ||w - global||^2 in local training.
//   - fedadam (Reddi et al., ICLR 2021): the mean update is a pseudo-gradient
//     for a server-side Adam step.
//
// Revealing each participant's example count n_i to the coordinator is the
// price of weighting; the counts are coarse and public in most deployments.
//
// Dropouts are drawn per round from the dropout rate: a dropping party stops
// either before its protected update is sent (it is not in the aggregate) or
// after (it is, and the protocol's recovery finishes the round without it).
// All protocols see the same drops for the same seed, so their accuracies can be
// compared. If fewer than the threshold contribute, the round aborts, no
// aggregate is released and the global model is unchanged.
//
// The centralised baseline trains the same model, from the same initial
// weights, on all training data pooled, for Rounds*LocalEpochs epochs.
//
// # Networked rounds
//
// [Coordinator] and [Node] run the same protocols over any
// transport.Transport: transport/p2p (libp2p) in production, transport/mem in
// tests. Both are event loops around the pure protocol state machines; they own
// the goroutines, the deadlines and the clock. Decisions worth knowing:
//
//   - Attempts. Every protocol instance is an attempt with a strictly
//     increasing number, persisted in the checkpoint before its RoundStart is
//     sent, and used as the protocol's round binding: masks and keys are never
//     reused, even across a coordinator crash. A training round that aborts
//     (fewer than the threshold contribute) releases nothing and is retried as
//     a new attempt with the nodes that are live.
//   - Liveness. Nodes say hello every second; a node is selected if its
//     last hello is recent (LiveWindow). Nodes may join at any time. A node
//     that cannot reach its coordinator within NodeConfig.JoinTimeout gives up
//     with ErrCoordinatorUnreachable; once it has reached it, it waits for a
//     restarted coordinator indefinitely.
//   - Deadlines. Each protocol step has StepTimeout; when it passes, the
//     session's Advance treats silent participants as dropped and the
//     protocol's recovery takes over. Outgoing messages go through one FIFO
//     queue per peer, so a dead peer never stalls the others.
//   - Standardisation. Before training, two statistics attempts release,
//     through the same protection protocol, the federation's feature means and
//     then variances (weighted by example counts), so every node standardises
//     alike without any team revealing its own statistics. secagg uses a
//     64-bit ring for them; mhe quantises them more coarsely (documented in
//     netmhe.go).
//   - mhe key setup. With protocol mhe, a setup attempt with every node of
//     the manifest runs first; the coordinator relays the node-to-node setup
//     messages (signed announcements, sealed Shamir shares) and records in its
//     checkpoint that the setup is done; each node keeps its key share in
//     STATE/mhe.key (0600) and reports it in its hellos.
//   - Evaluation. The coordinator holds no data: after each round it sends
//     the new model to the contributors, which report counts of correct
//     predictions on their own held-out rows (never a row); -1 means none
//     reported.
//   - Refusals. A node checks every RoundStart against the signed manifest
//     and its own policy and refuses with a typed reason; an attempt stops as
//     soon as refusals leave fewer than the threshold, and after three such
//     attempts in a row the coordinator stops with ErrRefused.
//   - Audit. With an audit.Log, both sides record joins, attempts, the
//     digest of every contribution (sent and received), refusals, aggregates
//     with the contributors' detached countersignatures, model versions and
//     epsilon; consort audit verify cross-checks the logs.
//   - State. The coordinator's checkpoint (model, round, attempt counter,
//     standardisation, strategy state, manifest digest) is written atomically
//     with fsync after every attempt and round; a restart with the same state
//     directory resumes at the next round with the same model.
//
// # Differential privacy
//
// With DPConfig.Clip > 0 every party clips its update to L2 norm C and adds
// its own share of noise sized for the threshold t, so any released aggregate
// carries at least the intended noise whoever drops out, and no party,
// aggregator included, is trusted to add it. Updates are then averaged
// uniformly (each team is one privacy unit). With secagg the shares are
// Skellam noise added in Z_2^32 after encoding with conditional randomized
// rounding at the protocol's scale (Agarwal, Kairouz and Liu, NeurIPS 2021);
// with plain and mhe they are Gaussian on the float update. The RDP
// accountant of package privacy composes the rounds; a budget stops training
// at the last affordable round.
//
// Not covered by the accountant: the two standardisation releases of a
// networked federation (federation-wide per-feature means and variances, each
// an aggregate of at least the threshold of teams, protected by the protocol
// but without noise). The coordinator logs a warning when DP and
// standardisation are both on; a federation that needs every release
// accounted should standardise with public constants instead.
//
// # Usage
//
//	cfg := federated.SimConfig{Dataset: "breast-cancer", Parties: 3, Rounds: 20, Centralized: true}
//	res, err := federated.Simulate(ctx, cfg, federated.Plain{}, nil)
//	fmt.Println(res.FinalAccuracy, res.CentralizedAccuracy)
package federated
