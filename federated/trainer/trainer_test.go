package trainer

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

var testLayout = []TensorSpec{
	{Name: "fc.weight", Shape: []int{3, 2}},
	{Name: "fc.bias", Shape: []int{2}},
}

func testGlobal() Tensors {
	return Tensors{Layout: testLayout, Data: []float32{1, 2, 3, 4, 5, 6, 7, 8}}
}

var testSettings = Settings{Epochs: 1, BatchSize: 8, LR: 0.1, Momentum: 0.9}

func TestCheck(t *testing.T) {
	good := testGlobal()
	if err := Check(good, testLayout); err != nil {
		t.Fatal(err)
	}
	nan := Tensors{Layout: testLayout, Data: slices.Clone(good.Data)}
	nan.Data[7] = float32(math.Inf(-1))
	extra := Tensors{Layout: append(slices.Clone(testLayout), TensorSpec{Name: "evil", Shape: []int{1}}), Data: append(slices.Clone(good.Data), 0)}
	shape := Tensors{Layout: []TensorSpec{{Name: "fc.weight", Shape: []int{2, 3}}, testLayout[1]}, Data: good.Data}
	missing := Tensors{Layout: testLayout[:1], Data: good.Data[:6]}
	order := Tensors{Layout: []TensorSpec{testLayout[1], testLayout[0]}, Data: good.Data}
	short := Tensors{Layout: testLayout, Data: good.Data[:7]}
	for name, c := range map[string]struct {
		t    Tensors
		text string
	}{
		"inf":     {nan, `tensor "fc.bias" has a non-finite value at index 1`},
		"extra":   {extra, `extra tensor "evil"`},
		"shape":   {shape, `shape [2 3], want [3 2]`},
		"missing": {missing, `missing tensor "fc.bias"`},
		"order":   {order, "out of layout order"},
		"short":   {short, "7 values"},
	} {
		if err := Check(c.t, testLayout); !errors.Is(err, ErrInvalidOutput) || !strings.Contains(err.Error(), c.text) {
			t.Errorf("%s: got %v, want %q", name, err, c.text)
		}
	}
}

func TestMetricsCheck(t *testing.T) {
	if err := (Metrics{Examples: 10, Correct: 10, LossSum: 2}).Check(0); err != nil {
		t.Fatal(err)
	}
	for _, m := range []Metrics{
		{Examples: 10, Correct: 11},
		{Examples: 10, LossSum: math.NaN()},
		{Examples: 10, LossSum: math.Inf(1)},
		{Examples: 10, LossSum: -1},
		{Examples: 0, LossSum: 1},
		{Examples: 101},
	} {
		if err := m.Check(100); !errors.Is(err, ErrInvalidOutput) {
			t.Errorf("%+v: got %v", m, err)
		}
	}
	if a := (Metrics{Examples: 4, Correct: 3}).Accuracy(); a != 0.75 {
		t.Fatal(a)
	}
}

func TestSettingsValidate(t *testing.T) {
	if err := testSettings.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, s := range []Settings{
		{Epochs: 0, BatchSize: 1, LR: 1},
		{Epochs: 1, BatchSize: 0, LR: 1},
		{Epochs: 1, BatchSize: 1, LR: 0},
		{Epochs: 1, BatchSize: 1, LR: math.NaN()},
		{Epochs: 1, BatchSize: 1, LR: 1, Momentum: 1},
		{Epochs: 1, BatchSize: 1, LR: 1, WeightDecay: -1},
		{Epochs: 1, BatchSize: 1, LR: 1, ProxMu: math.Inf(1)},
	} {
		if err := s.Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: got %v", s, err)
		}
	}
}

// fakeTrainer returns fixed results, to test Checked.
type fakeTrainer struct {
	out Tensors
	m   Metrics
}

func (f fakeTrainer) Layout() []TensorSpec { return testLayout }
func (f fakeTrainer) Train(context.Context, Round) (Tensors, Metrics, error) {
	return f.out, f.m, nil
}
func (f fakeTrainer) Evaluate(context.Context, Tensors) (Metrics, error) { return f.m, nil }
func (f fakeTrainer) Close() error                                       { return nil }

func TestChecked(t *testing.T) {
	r := Round{Global: testGlobal(), Settings: testSettings}
	ok := Checked(fakeTrainer{testGlobal(), Metrics{Examples: 3, Correct: 1, LossSum: 1}}, 0)
	if _, _, err := ok.Train(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	bad := testGlobal()
	bad.Data = slices.Clone(bad.Data)
	bad.Data[0] = float32(math.NaN())
	if _, _, err := Checked(fakeTrainer{bad, Metrics{}}, 0).Train(context.Background(), r); !errors.Is(err, ErrInvalidOutput) {
		t.Fatalf("NaN passed: %v", err)
	}
	if _, err := Checked(fakeTrainer{testGlobal(), Metrics{Examples: 1, Correct: 2}}, 0).Evaluate(context.Background(), testGlobal()); !errors.Is(err, ErrInvalidOutput) {
		t.Fatalf("implausible metrics passed: %v", err)
	}
	if _, _, err := ok.Train(context.Background(), Round{Global: bad, Settings: testSettings}); !errors.Is(err, ErrConfig) {
		t.Fatalf("bad global passed: %v", err)
	}
}

// TestFirstNonFinite compares the word-parallel scan with a naive one.
func TestFirstNonFinite(t *testing.T) {
	specials := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), math.Float32frombits(0x7f800001), math.Float32frombits(0xffffffff)}
	finite := []float32{0, -0, 1, -1, math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32, math.Float32frombits(0x7f7fffff), math.Float32frombits(0x807fffff)}
	for _, n := range []int{0, 1, 2, 3, 7, 8, 9, 1023, 1024, 1025, 5000} {
		v := make([]float32, n)
		for i := range v {
			v[i] = finite[i%len(finite)]
		}
		if got := firstNonFinite(v); got != -1 {
			t.Fatalf("n=%d: finite data flagged at %d", n, got)
		}
		for _, at := range []int{0, n / 2, n - 1} {
			if n == 0 {
				continue
			}
			for _, s := range specials {
				w := slices.Clone(v)
				w[at] = s
				if got := firstNonFinite(w); got != at {
					t.Fatalf("n=%d: %x at %d found at %d", n, math.Float32bits(s), at, got)
				}
			}
		}
	}
}
