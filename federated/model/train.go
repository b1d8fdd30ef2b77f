package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// TrainConfig holds the hyper-parameters of mini-batch SGD.
//
// Each step computes the mean gradient g of the batch loss and applies
//
//	g += WeightDecay*w + Prox*(w - ProxCenter)
//	v  = Momentum*v + g
//	w -= LR*v
//
// (heavy-ball momentum as in PyTorch's SGD, with v = 0 at the start of each
// call to [Train]). Weight decay applies to every parameter, biases included.
type TrainConfig struct {
	// Epochs is the number of passes over the data (>= 1).
	Epochs int
	// BatchSize is the number of rows per step (>= 1); the last batch of an
	// epoch may be smaller.
	BatchSize int
	// LR is the learning rate (> 0).
	LR float32
	// Momentum is the heavy-ball coefficient, in [0, 1).
	Momentum float32
	// WeightDecay is the L2 penalty coefficient (>= 0).
	WeightDecay float32
	// Prox is FedProx's mu (>= 0): adds mu*(w - ProxCenter) to the gradient,
	// pulling the local model toward the global one (Li et al., MLSys 2020).
	Prox float32
	// ProxCenter is the global model w_global; it must have NumParams()
	// entries when Prox > 0 and is ignored otherwise.
	ProxCenter []float32
	// Seed drives the per-epoch shuffling of the rows.
	Seed uint64
}

// Validate checks the scalar fields (ProxCenter's length is checked by [Train]).
func (c TrainConfig) Validate() error {
	switch {
	case c.Epochs < 1:
		return fmt.Errorf("%w: epochs %d, want >= 1", ErrConfig, c.Epochs)
	case c.BatchSize < 1:
		return fmt.Errorf("%w: batch size %d, want >= 1", ErrConfig, c.BatchSize)
	case !(c.LR > 0) || math.IsInf(float64(c.LR), 0):
		return fmt.Errorf("%w: learning rate %v, want a finite value > 0", ErrConfig, c.LR)
	case !(c.Momentum >= 0 && c.Momentum < 1):
		return fmt.Errorf("%w: momentum %v, want [0, 1)", ErrConfig, c.Momentum)
	case !(c.WeightDecay >= 0) || math.IsInf(float64(c.WeightDecay), 0):
		return fmt.Errorf("%w: weight decay %v, want a finite value >= 0", ErrConfig, c.WeightDecay)
	case !(c.Prox >= 0) || math.IsInf(float64(c.Prox), 0):
		return fmt.Errorf("%w: prox mu %v, want a finite value >= 0", ErrConfig, c.Prox)
	}
	return nil
}

// Stats summarises a call to [Train].
type Stats struct {
	// Epochs, Steps and Examples count the passes, SGD steps and rows processed.
	Epochs, Steps, Examples int
	// EpochLoss is the mean data loss (cross-entropy, without the weight
	// decay and proximal terms) of each epoch's mini-batches, weighted by
	// batch size, measured before each step.
	EpochLoss []float64
	// Loss is the last entry of EpochLoss.
	Loss float64
	// FLOPs counts the floating-point operations of the matrix products
	// (2*m*n*k per product, forward and backward); elementwise work is not
	// counted.
	FLOPs float64
}

// Train runs cfg.Epochs epochs of mini-batch SGD on the n = len(Y) rows of
// the row-major n x m.Features() matrix X, updating m.Params() in place.
// The rows are visited in a fresh permutation each epoch, drawn from a PCG
// generator seeded with cfg.Seed, so a given model, data and config always
// produce bit-identical parameters. On [ErrDiverged] the parameters are
// left as they were after the failing step.
func Train(m Model, X []float32, Y []int, cfg TrainConfig) (Stats, error) {
	net := m.network()
	if err := cfg.Validate(); err != nil {
		return Stats{}, err
	}
	if err := net.checkData(X, Y); err != nil {
		return Stats{}, err
	}
	np := len(net.params)
	if cfg.Prox > 0 && len(cfg.ProxCenter) != np {
		return Stats{}, fmt.Errorf("%w: prox center has %d entries, model has %d parameters", ErrConfig, len(cfg.ProxCenter), np)
	}
	n, d := len(Y), net.dims[0]
	if n == 0 {
		return Stats{}, fmt.Errorf("%w: no training rows", ErrShape)
	}
	bs := min(cfg.BatchSize, n)
	var (
		st    = Stats{EpochLoss: make([]float64, 0, cfg.Epochs)}
		grad  = make([]float32, np)
		vel   []float32
		xb    = make([]float32, bs*d)
		yb    = make([]int, bs)
		perm  = make([]int, n)
		rng   = rand.New(rand.NewPCG(cfg.Seed, 0x73687566666c65)) // "shuffle"
		w     = net.params
		flops = net.flopsPerRow(true)
	)
	if cfg.Momentum > 0 {
		vel = make([]float32, np)
	}
	for i := range perm {
		perm[i] = i
	}
	for epoch := 0; epoch < cfg.Epochs; epoch++ {
		rng.Shuffle(n, func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
		var epochLoss float64
		for lo := 0; lo < n; lo += bs {
			hi := min(lo+bs, n)
			rows := hi - lo
			for r, idx := range perm[lo:hi] {
				copy(xb[r*d:(r+1)*d], X[idx*d:(idx+1)*d])
				yb[r] = Y[idx]
			}
			loss := net.lossGrad(grad, xb[:rows*d], yb[:rows])
			if math.IsNaN(loss) || math.IsInf(loss, 0) {
				st.Loss = loss
				return st, fmt.Errorf("%w: loss %v at epoch %d step %d", ErrDiverged, loss, epoch+1, st.Steps+1)
			}
			epochLoss += loss * float64(rows)
			sgdStep(w, grad, vel, cfg)
			st.Steps++
			st.Examples += rows
			st.FLOPs += flops * float64(rows)
		}
		st.Epochs++
		st.Loss = epochLoss / float64(n)
		st.EpochLoss = append(st.EpochLoss, st.Loss)
	}
	return st, nil
}

// sgdStep applies one update; vel is nil when momentum is zero.
func sgdStep(w, grad, vel []float32, cfg TrainConfig) {
	lr, wd, mu, mom := cfg.LR, cfg.WeightDecay, cfg.Prox, cfg.Momentum
	grad = grad[:len(w)]
	if mu > 0 {
		c := cfg.ProxCenter[:len(w)]
		for i := range grad {
			grad[i] += mu * (w[i] - c[i])
		}
	}
	if wd > 0 {
		for i := range grad {
			grad[i] += wd * w[i]
		}
	}
	if vel == nil {
		for i, g := range grad {
			w[i] -= lr * g
		}
		return
	}
	vel = vel[:len(w)]
	for i, g := range grad {
		v := mom*vel[i] + g
		vel[i] = v
		w[i] -= lr * v
	}
}

// flopsPerRow counts the matrix-product FLOPs per row of one forward pass,
// plus, with grad, the backward pass (weight gradients of every layer and
// input gradients of every layer but the first).
func (m *network) flopsPerRow(grad bool) float64 {
	var f float64
	for l := 1; l < len(m.dims); l++ {
		mac := float64(m.dims[l-1]) * float64(m.dims[l])
		f += 2 * mac
		if grad {
			f += 2 * mac
			if l > 1 {
				f += 2 * mac
			}
		}
	}
	return f
}

// FLOPsPerExample returns the matrix-product floating-point operations (2 per
// multiply-add) that one training example costs m: forward plus backward.
// Multiplied by the examples processed it gives the work behind a GFLOP/s figure.
func FLOPsPerExample(m Model) float64 { return m.network().flopsPerRow(true) }

// Evaluate returns the mean cross-entropy loss and the accuracy (fraction of
// rows whose most probable class equals the label) of m on X, Y. It returns
// NaN for both when there are no rows or the data do not fit the model
// (wrong length or a label out of range); [Model.LossGrad] reports such errors.
func Evaluate(m Model, X []float32, Y []int) (loss, accuracy float64) {
	net := m.network()
	if net.checkData(X, Y) != nil || len(Y) == 0 {
		return math.NaN(), math.NaN()
	}
	sum, correct := net.evaluate(X, Y)
	return sum / float64(len(Y)), float64(correct) / float64(len(Y))
}

// Predict returns the most probable class of each row of the row-major
// matrix X (ties go to the lower class).
func Predict(m Model, X []float32) ([]int, error) {
	net := m.network()
	n, err := net.rowsOf(X)
	if err != nil {
		return nil, err
	}
	d, k := net.dims[0], net.outputs()
	out := make([]int, 0, n)
	for lo := 0; lo < n; lo += net.chunk {
		hi := min(lo+net.chunk, n)
		z := net.forward(X[lo*d:hi*d], hi-lo)
		for r := range hi - lo {
			out = append(out, argmaxLogits(z[r*k:(r+1)*k]))
		}
	}
	return out, nil
}

// ParamsEqual reports whether two parameter vectors are bit-for-bit identical.
func ParamsEqual(a, b []float32) bool {
	return slices.EqualFunc(a, b, func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) })
}
