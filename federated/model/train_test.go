package model

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

// blobs returns n points of k Gaussian clusters (std 0.5) centred at
// distinct random points of [-3, 3]^d: an almost separable problem.
func blobs(seed uint64, n, d, k int) ([]float32, []int) {
	rng := rand.New(rand.NewPCG(seed, 3))
	centers := make([]float64, k*d)
	for i := range centers {
		centers[i] = rng.Float64()*6 - 3
	}
	X := make([]float32, n*d)
	Y := make([]int, n)
	for i := range n {
		c := i % k
		Y[i] = c
		for j := range d {
			X[i*d+j] = float32(centers[c*d+j] + 0.5*rng.NormFloat64())
		}
	}
	return X, Y
}

// xor returns points of [-1,1]^2 labelled by the sign of x*y: not linearly
// separable.
func xor(seed uint64, n int) ([]float32, []int) {
	rng := rand.New(rand.NewPCG(seed, 4))
	X := make([]float32, 2*n)
	Y := make([]int, n)
	for i := range n {
		a, b := rng.Float64()*2-1, rng.Float64()*2-1
		X[2*i], X[2*i+1] = float32(a), float32(b)
		if a*b > 0 {
			Y[i] = 1
		}
	}
	return X, Y
}

func TestTrainReachesAccuracy(t *testing.T) {
	for _, tc := range []struct {
		name    string
		spec    Spec
		data    func(seed uint64) ([]float32, []int)
		classes int
		cfg     TrainConfig
		minAcc  float64
	}{
		{"logistic/blobs", Spec{Kind: KindLogistic}, func(s uint64) ([]float32, []int) { return blobs(s, 400, 5, 2) }, 2,
			TrainConfig{Epochs: 10, BatchSize: 16, LR: 0.1, Momentum: 0.9}, 0.97},
		{"softmax/blobs", Spec{Kind: KindSoftmax}, func(s uint64) ([]float32, []int) { return blobs(s, 600, 8, 4) }, 4,
			TrainConfig{Epochs: 10, BatchSize: 16, LR: 0.1, Momentum: 0.9}, 0.95},
		{"mlp/xor", Spec{Kind: KindMLP, Hidden: []int{32}}, func(s uint64) ([]float32, []int) { return xor(s, 800) }, 2,
			TrainConfig{Epochs: 40, BatchSize: 16, LR: 0.1, Momentum: 0.9}, 0.93},
		{"mlp2/blobs", Spec{Kind: KindMLP, Hidden: []int{16, 16}}, func(s uint64) ([]float32, []int) { return blobs(s, 600, 8, 4) }, 4,
			TrainConfig{Epochs: 10, BatchSize: 16, LR: 0.05, Momentum: 0.9, WeightDecay: 1e-4}, 0.95},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Train on the first half, test on the held-out second half.
			X, Y := tc.data(1)
			n := len(Y) / 2
			d := len(X) / len(Y)
			X, Y, Xt, Yt := X[:n*d], Y[:n], X[n*d:], Y[n:]
			m, err := New(tc.spec, d, tc.classes, 9)
			if err != nil {
				t.Fatal(err)
			}
			loss0, acc0 := Evaluate(m, Xt, Yt)
			st, err := Train(m, X, Y, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			loss, acc := Evaluate(m, Xt, Yt)
			t.Logf("test loss %.3f -> %.3f, accuracy %.3f -> %.3f, %d steps", loss0, loss, acc0, acc, st.Steps)
			if acc < tc.minAcc {
				t.Fatalf("test accuracy %.3f, want >= %.2f", acc, tc.minAcc)
			}
			if !(loss < loss0) {
				t.Fatalf("test loss went from %v to %v", loss0, loss)
			}
			if st.Epochs != tc.cfg.Epochs || st.Examples != tc.cfg.Epochs*n || len(st.EpochLoss) != tc.cfg.Epochs {
				t.Fatalf("stats %+v", st)
			}
			if st.EpochLoss[len(st.EpochLoss)-1] >= st.EpochLoss[0] {
				t.Fatalf("training loss did not decrease: %v", st.EpochLoss)
			}
		})
	}
}

func TestTrainDeterministic(t *testing.T) {
	X, Y := blobs(2, 300, 6, 3)
	run := func(modelSeed, trainSeed uint64) []float32 {
		m, err := New(Spec{Kind: KindMLP, Hidden: []int{64, 32}}, 6, 3, modelSeed)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Train(m, X, Y, TrainConfig{Epochs: 2, BatchSize: 10, LR: 0.05, Momentum: 0.9, WeightDecay: 1e-3, Seed: trainSeed}); err != nil {
			t.Fatal(err)
		}
		return m.Params()
	}
	a, b := run(1, 2), run(1, 2)
	if !ParamsEqual(a, b) {
		t.Fatal("same seeds gave different parameters")
	}
	if ParamsEqual(a, run(1, 3)) {
		t.Fatal("a different shuffle seed gave identical parameters")
	}
	if ParamsEqual(a, run(4, 2)) {
		t.Fatal("a different init seed gave identical parameters")
	}
}

// fullBatch returns a model with random parameters and data for exact
// single-step checks (batch = all rows, so shuffling only reorders the sum).
func fullBatch(t *testing.T) (Model, []float32, []int) {
	t.Helper()
	m, err := New(Spec{Kind: KindMLP, Hidden: []int{5}}, 4, 3, 1)
	if err != nil {
		t.Fatal(err)
	}
	randomize(m, 8, 0.5)
	X, Y := randData(9, 20, 4, 3)
	return m, X, Y
}

func near(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > tol {
			t.Fatalf("%s[%d] = %v, want %v", what, i, got[i], want[i])
		}
	}
}

func TestWeightDecayStep(t *testing.T) {
	m, X, Y := fullBatch(t)
	p0 := append([]float32(nil), m.Params()...)
	g := make([]float32, m.NumParams())
	if _, err := m.LossGrad(g, X, Y); err != nil {
		t.Fatal(err)
	}
	const lr, wd = 0.5, 0.1
	step := func(wd float32) []float32 {
		c := m.Clone()
		if _, err := Train(c, X, Y, TrainConfig{Epochs: 1, BatchSize: len(Y), LR: lr, WeightDecay: wd}); err != nil {
			t.Fatal(err)
		}
		return c.Params()
	}
	plain, decayed := step(0), step(wd)
	want := make([]float32, len(p0))
	for i := range p0 {
		want[i] = p0[i] - lr*g[i]
	}
	near(t, "sgd", plain, want, 1e-6)
	for i := range p0 {
		want[i] = plain[i] - lr*wd*p0[i]
	}
	near(t, "decayed", decayed, want, 1e-6)
	// Heavy decay dominates the data gradient and shrinks the parameters.
	c := m.Clone()
	if _, err := Train(c, X, Y, TrainConfig{Epochs: 20, BatchSize: len(Y), LR: 0.1, WeightDecay: 5}); err != nil {
		t.Fatal(err)
	}
	if n0, n1 := norm(p0), norm(c.Params()); !(n1 < 0.2*n0) {
		t.Fatalf("weight decay 5 for 20 steps: norm %v -> %v", n0, n1)
	}
}

func TestMomentumSteps(t *testing.T) {
	m, X, Y := fullBatch(t)
	const lr, mom = 0.3, 0.9
	// Reference: two heavy-ball steps computed by hand.
	ref := m.Clone()
	w := ref.Params()
	g := make([]float32, len(w))
	v := make([]float32, len(w))
	for range 2 {
		if _, err := ref.LossGrad(g, X, Y); err != nil {
			t.Fatal(err)
		}
		for i := range w {
			v[i] = mom*v[i] + g[i]
			w[i] -= lr * v[i]
		}
	}
	got := m.Clone()
	if _, err := Train(got, X, Y, TrainConfig{Epochs: 2, BatchSize: len(Y), LR: lr, Momentum: mom}); err != nil {
		t.Fatal(err)
	}
	near(t, "momentum", got.Params(), w, 1e-5)
	// Without momentum the second step differs by lr*mom*g0.
	plain := m.Clone()
	if _, err := Train(plain, X, Y, TrainConfig{Epochs: 2, BatchSize: len(Y), LR: lr}); err != nil {
		t.Fatal(err)
	}
	if ParamsEqual(plain.Params(), got.Params()) {
		t.Fatal("momentum had no effect")
	}
}

func TestProxPullsToCenter(t *testing.T) {
	m, X, Y := fullBatch(t)
	center := make([]float32, m.NumParams())
	for i := range center {
		center[i] = 1
	}
	p0 := append([]float32(nil), m.Params()...)
	const lr, mu = 0.2, 0.5
	one := func(prox float32) []float32 {
		c := m.Clone()
		if _, err := Train(c, X, Y, TrainConfig{Epochs: 1, BatchSize: len(Y), LR: lr, Prox: prox, ProxCenter: center}); err != nil {
			t.Fatal(err)
		}
		return c.Params()
	}
	plain, prox := one(0), one(mu)
	want := make([]float32, len(p0))
	for i := range p0 {
		want[i] = plain[i] - lr*mu*(p0[i]-center[i])
	}
	near(t, "prox step", prox, want, 1e-6)
	// Over many steps a strong proximal term keeps the model near the center.
	dist := func(mu float32) float64 {
		c := m.Clone()
		if _, err := Train(c, X, Y, TrainConfig{Epochs: 30, BatchSize: 5, LR: 0.1, Prox: mu, ProxCenter: center}); err != nil {
			t.Fatal(err)
		}
		p := c.Params()
		for i := range p {
			p[i] -= center[i]
		}
		return norm(p)
	}
	free, pulled := dist(0), dist(2)
	if !(pulled < 0.5*free) {
		t.Fatalf("distance to center: %v without prox, %v with mu=2", free, pulled)
	}
}

func TestTrainConfigErrors(t *testing.T) {
	m, X, Y := fullBatch(t)
	ok := TrainConfig{Epochs: 1, BatchSize: 4, LR: 0.1}
	for _, tc := range []struct {
		name string
		mod  func(*TrainConfig)
	}{
		{"epochs=0", func(c *TrainConfig) { c.Epochs = 0 }},
		{"batch=0", func(c *TrainConfig) { c.BatchSize = 0 }},
		{"lr=0", func(c *TrainConfig) { c.LR = 0 }},
		{"lr=NaN", func(c *TrainConfig) { c.LR = float32(math.NaN()) }},
		{"momentum=1", func(c *TrainConfig) { c.Momentum = 1 }},
		{"decay<0", func(c *TrainConfig) { c.WeightDecay = -1 }},
		{"prox<0", func(c *TrainConfig) { c.Prox = -1 }},
		{"prox-without-center", func(c *TrainConfig) { c.Prox = 0.1 }},
		{"prox-short-center", func(c *TrainConfig) { c.Prox = 0.1; c.ProxCenter = make([]float32, 3) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.mod(&cfg)
			if _, err := Train(m, X, Y, cfg); !errors.Is(err, ErrConfig) {
				t.Fatalf("Train = %v, want ErrConfig", err)
			}
		})
	}
	if _, err := Train(m, X[:len(X)-1], Y, ok); !errors.Is(err, ErrShape) {
		t.Errorf("short X: %v, want ErrShape", err)
	}
	if _, err := Train(m, nil, nil, ok); !errors.Is(err, ErrShape) {
		t.Errorf("no rows: %v, want ErrShape", err)
	}
}

func TestTrainDiverges(t *testing.T) {
	m, X, Y := fullBatch(t)
	for i := range X {
		X[i] *= 1e30
	}
	_, err := Train(m, X, Y, TrainConfig{Epochs: 3, BatchSize: 4, LR: 1e30})
	if !errors.Is(err, ErrDiverged) {
		t.Fatalf("Train = %v, want ErrDiverged", err)
	}
}

func norm(p []float32) float64 {
	var s float64
	for _, v := range p {
		s += float64(v) * float64(v)
	}
	return math.Sqrt(s)
}
