package model

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/consort-ml/consort/federated/trainer"
	"github.com/consort-ml/consort/federated/trainer/safetensors"
)

// twoBlobs returns n rows of two well-separated Gaussian classes in d features.
func twoBlobs(n, d int, seed uint64) ([]float32, []int) {
	rng := rand.New(rand.NewPCG(seed, 1))
	X := make([]float32, n*d)
	Y := make([]int, n)
	for i := range n {
		Y[i] = i % 2
		for j := range d {
			X[i*d+j] = float32(rng.NormFloat64()) + float32(2*Y[i]-1)
		}
	}
	return X, Y
}

func TestLayoutMatchesParams(t *testing.T) {
	m, err := New(Spec{Kind: KindMLP, Hidden: []int{5}}, 4, 3, 1)
	if err != nil {
		t.Fatal(err)
	}
	l := Layout(m)
	want := []trainer.TensorSpec{
		{Name: "layer0.weight", Shape: []int{4, 5}}, {Name: "layer0.bias", Shape: []int{5}},
		{Name: "layer1.weight", Shape: []int{5, 3}}, {Name: "layer1.bias", Shape: []int{3}},
	}
	if !trainer.SameLayout(l, want) {
		t.Fatalf("layout %v", l)
	}
	if n, _ := trainer.Elements(l); n != m.NumParams() {
		t.Fatalf("layout has %d elements, model %d", n, m.NumParams())
	}
}

func TestBuiltinTrainer(t *testing.T) {
	X, Y := twoBlobs(200, 3, 1)
	TX, TY := twoBlobs(100, 3, 2)
	m, _ := New(Spec{Kind: KindLogistic}, 3, 2, 0)
	tr, err := NewTrainer(m, TrainerData{X: X, Y: Y, TestX: TX, TestY: TY})
	if err != nil {
		t.Fatal(err)
	}
	ck := trainer.Checked(tr, 0)
	global := trainer.Tensors{Layout: ck.Layout(), Data: make([]float32, m.NumParams())}
	before, err := ck.Evaluate(context.Background(), global)
	if err != nil || before.Examples != 100 {
		t.Fatalf("%+v %v", before, err)
	}
	s := trainer.Settings{Epochs: 3, BatchSize: 16, LR: 0.1, Momentum: 0.9}
	r := trainer.Round{Global: global, Settings: s, Seed: 9}
	local, tm, err := ck.Train(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	if tm.Examples != 200 || !(tm.LossSum > 0) {
		t.Fatalf("train metrics %+v", tm)
	}
	after, err := ck.Evaluate(context.Background(), local)
	if err != nil {
		t.Fatal(err)
	}
	if after.Accuracy() < 0.9 || after.MeanLoss() >= before.MeanLoss() {
		t.Fatalf("training did not help: before %+v after %+v", before, after)
	}
	// Same as calling Train directly with the same config: the adapter adds nothing.
	ref, _ := New(Spec{Kind: KindLogistic}, 3, 2, 0)
	if _, err := Train(ref, X, Y, TrainConfig{Epochs: 3, BatchSize: 16, LR: 0.1, Momentum: 0.9, Seed: 9}); err != nil {
		t.Fatal(err)
	}
	if !ParamsEqual(ref.Params(), local.Data) {
		t.Fatal("adapter result differs from Train")
	}
	// The result round-trips through safetensors, the final model's format.
	b, err := safetensors.Encode(local.Layout, local.Data, nil)
	if err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.Decode(b, Layout(m), safetensors.Limits{})
	if err != nil || !slices.Equal(f.Data, local.Data) {
		t.Fatalf("safetensors round trip: %v", err)
	}
	bad := trainer.Tensors{Layout: global.Layout, Data: slices.Clone(global.Data)}
	bad.Data[0] = float32(math.NaN())
	if _, _, err := ck.Train(context.Background(), trainer.Round{Global: bad, Settings: s}); !errors.Is(err, trainer.ErrConfig) {
		t.Fatalf("NaN global: %v", err)
	}
}
