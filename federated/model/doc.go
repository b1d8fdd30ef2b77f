// Package model implements the classifiers that consort nodes train locally:
// binary logistic regression, softmax (multinomial logistic) regression and a
// multilayer perceptron with ReLU hidden layers and a softmax output, trained
// by mini-batch SGD with heavy-ball momentum, L2 weight decay and an optional
// FedProx proximal term (Li et al., "Federated Optimization in Heterogeneous
// Networks", MLSys 2020).
//
// Every model keeps all its parameters in one flat []float32, returned by
// [Model.Params]: that vector is what a node turns into an update
// (local - global), clips, fixed-point encodes and protects, and what the
// coordinator overwrites with the aggregated global model. The layout is
// fixed by the [Spec] and the data shape: layer by layer from the input side,
// each layer's in x out weight matrix (row-major, one row per input unit)
// followed by its out biases. Two parties that build a model with the same
// Spec, features and classes agree on the meaning of every coordinate.
//
// Data are plain slices so that the package does not depend on a loader: X is
// a row-major n x features []float32 and Y holds n labels in [0, classes).
//
// # Numerics and performance
//
// Layers are computed a block of rows at a time with matrix products:
// forward Z = A*W + b, backward dW = Aᵀ*dZ and dA = dZ*Wᵀ, so a batch costs
// three GEMMs per layer (two for the first). The GEMM is this package's own
// packed, blocked float32 kernel (Goto and van de Geijn, ACM TOMS 2008): a
// 6x16 AVX2/FMA register tile in assembly, 256-deep panels of B that stay in
// L1, row blocks of A in L2, and the rows of C split over up to GOMAXPROCS
// goroutines for products above 4 MFLOP. CPUs without AVX2 or FMA, and
// other architectures, use gonum's Sgemm instead. Measured on the
// development machine (AMD EPYC, 2 vCPUs shared with other jobs, hence
// ranges) on the MNIST MLP shapes (batch 128, 784 -> 128): 69 to 153 GFLOP/s
// for the blocked kernel against 5 to 35 GFLOP/s for gonum's Sgemm; a whole
// training epoch (60000 x 784, mlp:128, batch 128, about 0.4 s) ran at 29 to
// 60 GFLOP/s (mlp:256: 77 to 97), 3 to 6 times gonum's float64 Dgemm measured
// in the same run (BenchmarkTrainingEpoch in package bench; BenchmarkSgemm
// here).
//
// Losses are accumulated in float64; softmax and the logistic loss use the
// max-shifted and log1p forms, so large logits neither overflow nor lose
// the loss. At most 512 rows are processed at once, which bounds scratch
// memory for evaluation on large sets.
//
// # Determinism
//
// Results depend only on the inputs and seeds: MLP weights are drawn from a
// PCG generator seeded by [New]'s seed (He-scaled normals, biases zero;
// linear models start at zero), rows are shuffled by a PCG generator seeded
// with [TrainConfig.Seed], and every GEMM output element is summed in one
// fixed order whichever goroutine computes it, so neither scheduling nor
// GOMAXPROCS changes a bit of the result. Bits can differ between a CPU with
// FMA and one without (different roundings), never between runs on one
// machine. The only package-level variable records, once at start-up,
// whether the CPU has AVX2 and FMA.
//
// # Threat model
//
// This package sees only the local party's own data and the global model;
// it does no protection itself. A [Spec] may arrive in a manifest written by
// another party, so [ParseSpec] and [New] bound every width (see
// [MaxWidth], [MaxHiddenLayers], [MaxParams]) before allocating, and nothing
// here panics on malformed input: shape and label errors are returned as
// [ErrShape] and [ErrLabel].
//
// # As a trainer
//
// [NewTrainer] wraps a model and a node's local data as a
// trainer.Trainer (package federated/trainer), the interface through which
// the round engine trains every model, built-in or external. [Layout] names
// the parameter vector's tensors ("layer0.weight" [in, out], "layer0.bias"
// [out], ...), in Params order, so a built-in model is written to and read
// from safetensors like any other.
//
// # Usage
//
//	spec, err := model.ParseSpec("mlp:128")           // or Spec{Kind: "softmax"}
//	m, err := model.New(spec, features, classes, seed)
//	copy(m.Params(), global)                          // load the global model
//	st, err := model.Train(m, X, Y, model.TrainConfig{
//		Epochs: 1, BatchSize: 64, LR: 0.05, Momentum: 0.9,
//		Prox: 0.01, ProxCenter: global, Seed: seed,  // FedProx, optional
//	})
//	loss, acc := model.Evaluate(m, Xtest, Ytest)
//	update := m.Params()                              // subtract global to get the update
//
// A Model holds scratch buffers and is not safe for concurrent use; give each
// goroutine its own [Model.Clone].
package model
