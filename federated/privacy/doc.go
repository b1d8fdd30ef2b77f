// Package privacy implements distributed differential privacy for federated
// rounds and the Renyi-DP accountant that turns rounds into (epsilon, delta).
//
// # Distributed noise
//
// Every node clips its model update to L2 norm C ([Mechanism.ClipUpdate],
// built on kernels.ClipToNorm) and adds its own share of noise before the
// update is protected by secure aggregation or encryption. No party (the
// aggregator included) is trusted to add noise, yet the released aggregate
// carries the full noise. Shares are sized for the guaranteed minimum number
// of contributors t (the protocol's threshold, [Mechanism.MinContributors]):
// each carries 1/t of the target variance, so an aggregate of m >= t
// contributors has m/t >= 1 times the intended variance. Dropouts never
// weaken the guarantee; a full round is slightly noisier than needed.
//
// Two noise kinds:
//
//   - [Gaussian] (plain mode, float updates): each share is
//     N(0, z^2 C^2 / t), the sum of t shares is N(0, z^2 C^2): the Gaussian
//     mechanism with noise multiplier z.
//   - [Skellam] (ring mode, for secagg): the update is scaled by 2^f and
//     rounded with conditional randomized rounding ([Mechanism.QuantizeRing32]),
//     then each share adds symmetric Skellam noise of variance mu/t in the
//     ring ([Mechanism.AddNoiseRing32]); Skellam is closed under addition, so
//     the aggregate noise is exactly Skellam of variance mu, whatever t nodes
//     contribute. This is the distributed Skellam mechanism of Agarwal,
//     Kairouz and Liu, "The Skellam Mechanism for Differentially Private
//     Federated Learning" (NeurIPS 2021). Quantisation is accounted for as in
//     that paper and in Kairouz, Liu and Steinke, "The Distributed Discrete
//     Gaussian Mechanism for Federated Learning with Secure Aggregation" (ICML
//     2021): the L2 sensitivity grows from C 2^f to the bound enforced by
//     conditional rounding, and the L1 sensitivity is bounded from it
//     ([Mechanism.RingSensitivity]); mu = (z l2)^2 ([Mechanism.RingVariance]).
//     We skip the random rotation of those papers: our rings are 32 or 64 bits
//     wide, so modular wrap-around is avoided by headroom rather than by
//     flattening the vector.
//
// Samplers read an injected [io.Reader]: crypto/rand.Reader on real nodes, a
// seeded stream (math/rand/v2.ChaCha8) in simulation so runs repeat. Poisson
// variates use inversion for means below 10 and Hormann's PTRS transformed
// rejection above, with log-probabilities by Loader's saddle-point formulas,
// so the sampler is exact (up to float64 evaluation of the acceptance test,
// relative error ~1e-15) for means up to 2^52.
//
// # Accounting
//
// An [Accountant] sums RDP curves over rounds at a grid of orders
// ([DefaultOrders]: 1.25 to 4.75, every integer to 128, a grid to 1024) and
// converts to (epsilon, delta) with the conversion of Balle et al. (AISTATS
// 2020) and Canonne, Kamath and Steinke (NeurIPS 2020) ([EpsilonFromRDP]);
// the classic conversion of Mironov (CSF 2017) is [EpsilonFromRDPClassic].
// Curves:
//
//   - Gaussian: alpha/(2 z^2) ([GaussianRDP]).
//   - Poisson-subsampled Gaussian, for rounds that ask each node with
//     probability q: Mironov, Talwar and Zhang (2019), integer orders by the
//     binomial expansion and fractional orders by their erfc series, both in
//     log-space ([SampledGaussianRDP]).
//   - Skellam: Agarwal et al. (2021), Theorem 3.5 ([SkellamRDP]), amplified
//     by subsampling with the general bound of Zhu and Wang (ICML 2019)
//     ([PoissonSubsampledRDP]) at integer orders.
//
// A [Budget] wraps the accountant for a federation with an epsilon limit:
// [Budget.Spend] refuses the round that would exceed it, so training stops
// at the last affordable round.
//
// The tests reproduce published values: TensorFlow Privacy's
// compute_dp_sgd_privacy tests, Opacus' accountant test, and Abadi et al.'s
// MNIST (2.92, 1e-5) with the classic conversion.
//
// # Threat model
//
// The guarantee is record-level (here: node-level, add/remove one node's
// update) differential privacy of everything released after aggregation,
// against any coalition that does not include at least t honest noise
// adders: a node's own noise share protects nothing on its own, which is why
// the update must be protected (secagg, mhe) before it leaves the node. A
// malicious node can withhold its noise share; sizing shares for t rather
// than n assumes at most m - t such nodes in an aggregate of m. Float
// Gaussian noise is open to floating-point side channels (Mironov, CCS 2012);
// the ring mode is not.
//
// # Usage
//
//	m := privacy.Mechanism{Clip: 1, NoiseMultiplier: 1.1, MinContributors: t,
//		Noise: privacy.Skellam, FracBits: 16}
//	q := make([]uint32, len(update))
//	if err := m.QuantizeRing32(q, update, rand.Reader); err != nil { ... }
//	if err := m.AddNoiseRing32(q, rand.Reader); err != nil { ... }
//	// protect q with secagg, send it
//
//	acc, _ := privacy.NewAccountant(nil)
//	curve, _ := m.Curve(acc.Orders(), 1, len(update))
//	_ = acc.Compose(curve, rounds)
//	eps, _ := acc.Epsilon(1e-5)
//	left, _ := acc.RoundsAffordable(budget, 1e-5, curve, maxRounds)
package privacy
