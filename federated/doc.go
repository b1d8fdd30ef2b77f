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
// # Usage
//
//	cfg := federated.SimConfig{Dataset: "breast-cancer", Parties: 3, Rounds: 20, Centralized: true}
//	res, err := federated.Simulate(ctx, cfg, federated.Plain{}, nil)
//	fmt.Println(res.FinalAccuracy, res.CentralizedAccuracy)
package federated
