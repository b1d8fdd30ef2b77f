package bench

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"time"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"

	"github.com/consort-ml/consort/federated/model"
)

// ErrTrainingConfig marks an invalid [TrainingConfig].
var ErrTrainingConfig = errors.New("bench: bad training config")

// TrainingConfig describes the local-training benchmark: epochs of mini-batch
// SGD on a synthetic data set of a given shape (MNIST's by default), timed
// and compared with gonum's float64 GEMM (Dgemm) measured in the same run.
//
// The synthetic features are dense uniform values in [0, 1) and the labels
// come from a random linear teacher, so the task is learnable and no matrix
// entry is zero: gonum's GEMM skips zero entries of its left operand, which
// would inflate the rate on real MNIST (about 80% zero pixels).
type TrainingConfig struct {
	// Examples, Features and Classes give the data shape (60000, 784, 10).
	Examples, Features, Classes int
	// Model is the model spec in [model.ParseSpec] form ("mlp:128").
	Model string
	// BatchSize, Epochs, LR and Momentum configure SGD (128, 1, 0.05, 0.9).
	BatchSize int
	Epochs    int
	LR        float32
	Momentum  float32
	// Seed drives data generation, initialisation and shuffling.
	Seed uint64
	// ReferenceTime is how long each GEMM reference rate is measured, split
	// before and after the training run (zero means 400ms).
	ReferenceTime time.Duration
}

// DefaultTrainingConfig returns one epoch of MLP training on MNIST-shaped
// data: 60000 x 784, 10 classes, one hidden layer of 128, batch 128.
func DefaultTrainingConfig() TrainingConfig {
	return TrainingConfig{
		Examples: 60000, Features: 784, Classes: 10,
		Model:     "mlp:128",
		BatchSize: 128, Epochs: 1, LR: 0.05, Momentum: 0.9,
		Seed: 1,
	}
}

// Validate checks the sizes and the model spec.
func (c TrainingConfig) Validate() error {
	if c.Examples < 1 || c.Features < 1 || c.Classes < 2 || c.BatchSize < 1 || c.Epochs < 1 {
		return fmt.Errorf("%w: need examples, features, batch and epochs >= 1 and classes >= 2", ErrTrainingConfig)
	}
	if int64(c.Examples)*int64(c.Features) > 1<<30 {
		return fmt.Errorf("%w: data set of %d x %d values is larger than 2^30", ErrTrainingConfig, c.Examples, c.Features)
	}
	if c.ReferenceTime < 0 {
		return fmt.Errorf("%w: negative reference time", ErrTrainingConfig)
	}
	if _, err := model.ParseSpec(c.Model); err != nil {
		return fmt.Errorf("%w: %w", ErrTrainingConfig, err)
	}
	return nil
}

// TrainingResult reports one run of [RunTraining].
type TrainingResult struct {
	// Params is the model's parameter count.
	Params int
	// Seconds is the wall time of the training epochs.
	Seconds float64
	// FLOPs counts the matrix-product work of training (2*m*n*k per GEMM,
	// forward and backward).
	FLOPs float64
	// GFLOPS is FLOPs / Seconds / 1e9: the achieved training rate.
	GFLOPS float64
	// DgemmGFLOPS and SgemmGFLOPS are gonum's float64 and float32 GEMM rates
	// on the shape of the first layer's forward product (batch x features
	// times features x hidden), measured in the same run.
	DgemmGFLOPS, SgemmGFLOPS float64
	// Ratio is GFLOPS / DgemmGFLOPS (target >= 0.5).
	Ratio float64
	// Loss and Accuracy are the training-set loss and accuracy after training.
	Loss, Accuracy float64
}

// TrainingData returns the synthetic data set of cfg: X row-major
// Examples x Features, uniform in [0, 1), and labels argmax(X*T) for a random
// Gaussian teacher T (Features x Classes). It is deterministic for cfg.Seed.
func TrainingData(cfg TrainingConfig) (X []float32, Y []int, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	n, d, k := cfg.Examples, cfg.Features, cfg.Classes
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x64617461)) // "data"
	teacher := make([]float32, d*k)
	for i := range teacher {
		teacher[i] = float32(rng.NormFloat64())
	}
	X = make([]float32, n*d)
	for i := range X {
		X[i] = rng.Float32()
	}
	// Centre the teacher's scores so every class occurs.
	mean := make([]float32, k)
	for j := range d {
		for c := range k {
			mean[c] += 0.5 * teacher[j*k+c]
		}
	}
	Y = make([]int, n)
	score := make([]float32, k)
	for i := range n {
		copy(score, mean)
		for c := range score {
			score[c] = -score[c]
		}
		row := X[i*d : (i+1)*d]
		for j, x := range row {
			t := teacher[j*k : (j+1)*k]
			for c := range score {
				score[c] += x * t[c]
			}
		}
		best := 0
		for c, s := range score {
			if s > score[best] {
				best = c
			}
		}
		Y[i] = best
	}
	return X, Y, nil
}

// gemmRate measures gonum's GEMM on an m x k times k x n product for about
// dur and returns GFLOP/s; f64 selects Dgemm, otherwise Sgemm.
func gemmRate(m, n, k int, f64 bool, dur time.Duration) float64 {
	impl := gonum.Implementation{}
	var run func()
	if f64 {
		a, b, c := make([]float64, m*k), make([]float64, k*n), make([]float64, m*n)
		for i := range a {
			a[i] = float64(i%13)/13 + 0.1
		}
		for i := range b {
			b[i] = float64(i%7)/7 - 0.4
		}
		run = func() { impl.Dgemm(blas.NoTrans, blas.NoTrans, m, n, k, 1, a, k, b, n, 0, c, n) }
	} else {
		a, b, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
		for i := range a {
			a[i] = float32(i%13)/13 + 0.1
		}
		for i := range b {
			b[i] = float32(i%7)/7 - 0.4
		}
		run = func() { impl.Sgemm(blas.NoTrans, blas.NoTrans, m, n, k, 1, a, k, b, n, 0, c, n) }
	}
	run() // warm up
	calls := 0
	start := time.Now()
	for calls < 3 || time.Since(start) < dur {
		run()
		calls++
	}
	return 2 * float64(m) * float64(n) * float64(k) * float64(calls) / time.Since(start).Seconds() / 1e9
}

// referenceShape returns the GEMM shape used for the reference rates: the
// first layer's forward product.
func referenceShape(cfg TrainingConfig, spec model.Spec) (m, n, k int) {
	n = cfg.Classes
	if len(spec.Hidden) > 0 {
		n = spec.Hidden[0]
	}
	return min(cfg.BatchSize, cfg.Examples), n, cfg.Features
}

// RunTraining generates the data of cfg, trains a fresh model for cfg.Epochs
// epochs, measures gonum's Dgemm and Sgemm rates (half before and half after
// training, to even out load from other processes) and writes a short report
// to w.
func RunTraining(cfg TrainingConfig, w io.Writer) (TrainingResult, error) {
	X, Y, err := TrainingData(cfg)
	if err != nil {
		return TrainingResult{}, err
	}
	spec, _ := model.ParseSpec(cfg.Model)
	m, err := model.New(spec, cfg.Features, cfg.Classes, cfg.Seed)
	if err != nil {
		return TrainingResult{}, fmt.Errorf("bench: %w", err)
	}
	ref := cfg.ReferenceTime
	if ref == 0 {
		ref = 400 * time.Millisecond
	}
	gm, gn, gk := referenceShape(cfg, spec)
	d1 := gemmRate(gm, gn, gk, true, ref/2)
	s1 := gemmRate(gm, gn, gk, false, ref/2)

	start := time.Now()
	st, err := model.Train(m, X, Y, model.TrainConfig{
		Epochs: cfg.Epochs, BatchSize: cfg.BatchSize, LR: cfg.LR, Momentum: cfg.Momentum, Seed: cfg.Seed,
	})
	secs := time.Since(start).Seconds()
	if err != nil {
		return TrainingResult{}, fmt.Errorf("bench: %w", err)
	}
	d2 := gemmRate(gm, gn, gk, true, ref/2)
	s2 := gemmRate(gm, gn, gk, false, ref/2)

	res := TrainingResult{
		Params:      m.NumParams(),
		Seconds:     secs,
		FLOPs:       st.FLOPs,
		GFLOPS:      st.FLOPs / secs / 1e9,
		DgemmGFLOPS: (d1 + d2) / 2,
		SgemmGFLOPS: (s1 + s2) / 2,
	}
	res.Ratio = res.GFLOPS / res.DgemmGFLOPS
	res.Loss, res.Accuracy = model.Evaluate(m, X, Y)
	if math.IsNaN(res.Loss) {
		return res, fmt.Errorf("bench: evaluation failed")
	}
	_, err = fmt.Fprintf(w, "training %s (%d params) on %d x %d, %d classes, batch %d, %d epoch(s): %.2f s, %.2f GFLOP/s, train loss %.3f, accuracy %.3f\n"+
		"matmul kernel: %s; reference GEMM %dx%d * %dx%d: gonum Dgemm %.2f GFLOP/s, Sgemm %.2f GFLOP/s\n"+
		"ratio training/Dgemm %.2f (target >= 0.5)\n",
		spec, res.Params, cfg.Examples, cfg.Features, cfg.Classes, cfg.BatchSize, cfg.Epochs, res.Seconds, res.GFLOPS, res.Loss, res.Accuracy,
		model.MatMulKernel(), gm, gk, gk, gn, res.DgemmGFLOPS, res.SgemmGFLOPS, res.Ratio)
	return res, err
}
