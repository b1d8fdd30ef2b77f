package model

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// randData returns n rows of d features in [-1, 1) and labels in [0, k).
func randData(seed uint64, n, d, k int) ([]float32, []int) {
	rng := rand.New(rand.NewPCG(seed, 1))
	X := make([]float32, n*d)
	for i := range X {
		X[i] = float32(rng.Float64()*2 - 1)
	}
	Y := make([]int, n)
	for i := range Y {
		Y[i] = rng.IntN(k)
	}
	return X, Y
}

// randomize fills the parameters with N(0, s^2) values.
func randomize(m Model, seed uint64, s float64) {
	rng := rand.New(rand.NewPCG(seed, 2))
	for i := range m.Params() {
		m.Params()[i] = float32(rng.NormFloat64() * s)
	}
}

var gradCases = []struct {
	name    string
	spec    Spec
	classes int
}{
	{"logistic", Spec{Kind: KindLogistic}, 2},
	{"softmax", Spec{Kind: KindSoftmax}, 4},
	{"mlp/hidden=7", Spec{Kind: KindMLP, Hidden: []int{7}}, 3},
	{"mlp/hidden=6,5", Spec{Kind: KindMLP, Hidden: []int{6, 5}}, 3},
}

// TestGradientFiniteDifference compares LossGrad with central differences of
// the loss for every parameter of small models.
func TestGradientFiniteDifference(t *testing.T) {
	const n, d = 23, 5
	for _, tc := range gradCases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := New(tc.spec, d, tc.classes, 7)
			if err != nil {
				t.Fatal(err)
			}
			randomize(m, 3, 0.5)
			X, Y := randData(11, n, d, tc.classes)
			grad := make([]float32, m.NumParams())
			if _, err := m.LossGrad(grad, X, Y); err != nil {
				t.Fatal(err)
			}
			p := m.Params()
			const eps = 1e-3
			fd := make([]float64, len(p))
			for i := range p {
				orig := p[i]
				p[i] = orig + eps
				lp, _ := m.LossGrad(nil, X, Y)
				p[i] = orig - eps
				lm, _ := m.LossGrad(nil, X, Y)
				p[i] = orig
				fd[i] = (lp - lm) / (2 * eps)
			}
			var diff, norm float64
			for i := range fd {
				e := float64(grad[i]) - fd[i]
				diff += e * e
				norm += fd[i] * fd[i]
			}
			rel := math.Sqrt(diff) / math.Sqrt(norm)
			t.Logf("relative error %.3g over %d parameters", rel, len(p))
			if norm == 0 || rel > 1e-3 {
				t.Fatalf("relative gradient error %.3g (|fd| = %.3g), want <= 1e-3", rel, math.Sqrt(norm))
			}
		})
	}
}

// TestChunking checks that processing rows in chunks (as for large inputs)
// gives the same loss and gradient as one pass.
func TestChunking(t *testing.T) {
	const n, d = 50, 6
	for _, tc := range gradCases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := New(tc.spec, d, tc.classes, 1)
			if err != nil {
				t.Fatal(err)
			}
			randomize(m, 5, 0.4)
			X, Y := randData(6, n, d, tc.classes)
			g1 := make([]float32, m.NumParams())
			l1, _ := m.LossGrad(g1, X, Y)
			p1, _ := m.Probabilities(nil, X)
			c := m.Clone()
			c.network().chunk = 7
			g2 := make([]float32, m.NumParams())
			l2, _ := c.LossGrad(g2, X, Y)
			p2, _ := c.Probabilities(nil, X)
			if math.Abs(l1-l2) > 1e-6 {
				t.Fatalf("loss %v unchunked, %v chunked", l1, l2)
			}
			for i := range g1 {
				if math.Abs(float64(g1[i]-g2[i])) > 1e-5 {
					t.Fatalf("grad[%d] = %v unchunked, %v chunked", i, g1[i], g2[i])
				}
			}
			for i := range p1 {
				if math.Abs(float64(p1[i]-p2[i])) > 1e-6 {
					t.Fatalf("prob[%d] = %v unchunked, %v chunked", i, p1[i], p2[i])
				}
			}
			l3, acc3 := Evaluate(c, X, Y)
			if math.Abs(l1-l3) > 1e-5 || acc3 < 0 || acc3 > 1 {
				t.Fatalf("Evaluate loss %v acc %v, LossGrad loss %v", l3, acc3, l1)
			}
		})
	}
}

// TestKnownValues pins the loss and probabilities of hand-set tiny models.
func TestKnownValues(t *testing.T) {
	t.Run("logistic", func(t *testing.T) {
		m, _ := New(Spec{Kind: KindLogistic}, 2, 2, 0)
		copy(m.Params(), []float32{1, -2, 0.5}) // w = (1, -2), b = 0.5
		X := []float32{1, 1, 0, 0}              // z = -0.5, 0.5
		Y := []int{0, 1}
		loss, _ := m.LossGrad(nil, X, Y)
		want := math.Log1p(math.Exp(-0.5)) // both rows: log(1+e^-0.5)
		if math.Abs(loss-want) > 1e-7 {
			t.Fatalf("loss %v, want %v", loss, want)
		}
		p, _ := m.Probabilities(nil, X)
		s := 1 / (1 + math.Exp(0.5))
		wantP := []float64{1 - s, s, s, 1 - s}
		for i := range p {
			if math.Abs(float64(p[i])-wantP[i]) > 1e-6 {
				t.Fatalf("probabilities %v, want %v", p, wantP)
			}
		}
		got, _ := Predict(m, X)
		if !slices.Equal(got, []int{0, 1}) {
			t.Fatalf("Predict = %v, want [0 1]", got)
		}
	})
	t.Run("softmax", func(t *testing.T) {
		m, _ := New(Spec{Kind: KindSoftmax}, 1, 3, 0)
		copy(m.Params(), []float32{1, 2, 3, 0, 0, 0}) // logits = x*(1,2,3)
		loss, acc := Evaluate(m, []float32{1, 1}, []int{2, 0})
		lse := math.Log(math.Exp(1) + math.Exp(2) + math.Exp(3))
		want := ((lse - 3) + (lse - 1)) / 2
		if math.Abs(loss-want) > 1e-6 || acc != 0.5 {
			t.Fatalf("Evaluate = %v, %v; want %v, 0.5", loss, acc, want)
		}
	})
}

// TestParamsAlias checks that Params is the live storage.
func TestParamsAlias(t *testing.T) {
	m, err := New(Spec{Kind: KindMLP, Hidden: []int{8}}, 4, 3, 42)
	if err != nil {
		t.Fatal(err)
	}
	X, _ := randData(1, 10, 4, 3)
	before, _ := m.Probabilities(nil, X)
	clear(m.Params())
	after, _ := m.Probabilities(nil, X)
	if slices.Equal(before, after) {
		t.Fatal("zeroing Params() did not change the predictions")
	}
	for _, p := range after {
		if math.Abs(float64(p)-1.0/3) > 1e-6 {
			t.Fatalf("all-zero model gives probability %v, want 1/3", p)
		}
	}
	// Make class 2 win everywhere through its output bias (the last entry).
	m.Params()[m.NumParams()-1] = 5
	pred, _ := Predict(m, X)
	for i, c := range pred {
		if c != 2 {
			t.Fatalf("row %d predicted %d after raising class 2's bias", i, c)
		}
	}
	// A clone does not share storage.
	c := m.Clone()
	c.Params()[0] = 99
	if m.Params()[0] == 99 {
		t.Fatal("Clone shares parameter storage")
	}
}

func TestNumParamsAndLayout(t *testing.T) {
	for _, tc := range []struct {
		spec        Spec
		d, k, wantN int
	}{
		{Spec{Kind: KindLogistic}, 30, 2, 31},
		{Spec{Kind: KindSoftmax}, 64, 10, 650},
		{Spec{Kind: KindMLP, Hidden: []int{128}}, 784, 10, 784*128 + 128 + 128*10 + 10},
		{Spec{Kind: KindMLP, Hidden: []int{16, 8}}, 13, 3, 13*16 + 16 + 16*8 + 8 + 8*3 + 3},
		{Spec{Kind: KindMLP}, 5, 2, 5*DefaultHidden + DefaultHidden + DefaultHidden*2 + 2},
	} {
		m, err := New(tc.spec, tc.d, tc.k, 0)
		if err != nil {
			t.Fatalf("%v: %v", tc.spec, err)
		}
		if m.NumParams() != tc.wantN || len(m.Params()) != tc.wantN {
			t.Errorf("%v: %d params, want %d", tc.spec, m.NumParams(), tc.wantN)
		}
		if m.Features() != tc.d || m.Classes() != tc.k {
			t.Errorf("%v: features/classes %d/%d", tc.spec, m.Features(), m.Classes())
		}
	}
}

func TestNewErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		spec    Spec
		d, k    int
		wantErr error
	}{
		{"unknown", Spec{Kind: "svm"}, 3, 2, ErrSpec},
		{"logistic-3-classes", Spec{Kind: KindLogistic}, 3, 3, ErrSpec},
		{"linear-with-hidden", Spec{Kind: KindSoftmax, Hidden: []int{4}}, 3, 3, ErrSpec},
		{"zero-features", Spec{Kind: KindSoftmax}, 0, 3, ErrSpec},
		{"one-class", Spec{Kind: KindSoftmax}, 3, 1, ErrSpec},
		{"zero-width", Spec{Kind: KindMLP, Hidden: []int{0}}, 3, 3, ErrSpec},
		{"too-deep", Spec{Kind: KindMLP, Hidden: []int{2, 2, 2, 2, 2}}, 3, 3, ErrSpec},
		{"too-many-params", Spec{Kind: KindMLP, Hidden: []int{MaxWidth, MaxWidth}}, 3, 3, ErrSpec},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.spec, tc.d, tc.k, 0); !errors.Is(err, tc.wantErr) {
				t.Fatalf("New = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestDataErrors(t *testing.T) {
	m, _ := New(Spec{Kind: KindSoftmax}, 3, 3, 0)
	if _, err := m.LossGrad(nil, make([]float32, 5), []int{0, 1}); !errors.Is(err, ErrShape) {
		t.Errorf("short X: %v, want ErrShape", err)
	}
	if _, err := m.LossGrad(nil, make([]float32, 6), []int{0, 3}); !errors.Is(err, ErrLabel) {
		t.Errorf("label 3: %v, want ErrLabel", err)
	}
	if _, err := m.LossGrad(nil, make([]float32, 6), []int{-1, 0}); !errors.Is(err, ErrLabel) {
		t.Errorf("label -1: %v, want ErrLabel", err)
	}
	if _, err := m.LossGrad(make([]float32, 2), make([]float32, 6), []int{0, 0}); !errors.Is(err, ErrShape) {
		t.Errorf("short grad: %v, want ErrShape", err)
	}
	if _, err := m.Probabilities(nil, make([]float32, 4)); !errors.Is(err, ErrShape) {
		t.Errorf("Probabilities on 4 values: %v, want ErrShape", err)
	}
	if _, err := Predict(m, make([]float32, 4)); !errors.Is(err, ErrShape) {
		t.Errorf("Predict on 4 values: %v, want ErrShape", err)
	}
	if l, a := Evaluate(m, make([]float32, 6), []int{0, 7}); !math.IsNaN(l) || !math.IsNaN(a) {
		t.Errorf("Evaluate with a bad label = %v, %v; want NaN, NaN", l, a)
	}
}

func TestParseSpec(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Spec
		str  string
	}{
		{"logistic", Spec{Kind: KindLogistic}, "logistic"},
		{" softmax ", Spec{Kind: KindSoftmax}, "softmax"},
		{"mlp", Spec{Kind: KindMLP, Hidden: []int{DefaultHidden}}, "mlp:128"},
		{"mlp:256", Spec{Kind: KindMLP, Hidden: []int{256}}, "mlp:256"},
		{"mlp:64, 32", Spec{Kind: KindMLP, Hidden: []int{64, 32}}, "mlp:64,32"},
	} {
		got, err := ParseSpec(tc.in)
		if err != nil {
			t.Errorf("ParseSpec(%q): %v", tc.in, err)
			continue
		}
		if got.Kind != tc.want.Kind || !slices.Equal(got.Hidden, tc.want.Hidden) || got.String() != tc.str {
			t.Errorf("ParseSpec(%q) = %#v (%q), want %#v (%q)", tc.in, got, got.String(), tc.want, tc.str)
		}
	}
	for _, bad := range []string{"", "cnn", "logistic:4", "mlp:", "mlp:0", "mlp:-3", "mlp:a", "mlp:1,2,3,4,5", "mlp:99999999999999999999", "MLP"} {
		if _, err := ParseSpec(bad); !errors.Is(err, ErrSpec) {
			t.Errorf("ParseSpec(%q) = %v, want ErrSpec", bad, err)
		}
	}
}

// FuzzParseSpec: specs may come from a manifest written by another party.
// Nothing panics, every error is ErrSpec, and accepted specs round-trip.
func FuzzParseSpec(f *testing.F) {
	seeds := []string{"logistic", "softmax", "mlp", "mlp:128", "mlp:256,128", "mlp:1,2,3,4", "mlp:1,2,3,4,5", "mlp:,", "mlp:1048577", "x:1"}
	for _, s := range seeds {
		f.Add(s)
		for i := range len(s) {
			f.Add(s[:i])
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		sp, err := ParseSpec(s)
		if err != nil {
			if !errors.Is(err, ErrSpec) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if err := sp.Validate(); err != nil {
			t.Fatalf("accepted %q but Validate: %v", s, err)
		}
		again, err := ParseSpec(sp.String())
		if err != nil || again.String() != sp.String() || !slices.Equal(again.Hidden, sp.Hidden) {
			t.Fatalf("%q -> %q does not round-trip (%v)", s, sp.String(), err)
		}
	})
}
