package model

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/consort-ml/consort/federated/trainer"
)

// Layout returns the model's parameters as named tensors, in the order of
// [Model.Params]: for each layer l = 0, 1, ... from the input side,
// "layer<l>.weight" of shape [in, out] (row-major, one row per input unit)
// and "layer<l>.bias" of shape [out]. This is the layout a built-in model
// declares to the node and the one its safetensors file is written in.
func Layout(m Model) []trainer.TensorSpec {
	dims := m.network().dims
	out := make([]trainer.TensorSpec, 0, 2*(len(dims)-1))
	for l := 1; l < len(dims); l++ {
		p := "layer" + strconv.Itoa(l-1)
		out = append(out,
			trainer.TensorSpec{Name: p + ".weight", Shape: []int{dims[l-1], dims[l]}},
			trainer.TensorSpec{Name: p + ".bias", Shape: []int{dims[l]}})
	}
	return out
}

// TrainerData is a node's local data for [NewTrainer]: a training split and
// a held-out split, row-major as for [Train].
type TrainerData struct {
	// X, Y are the training rows and labels.
	X []float32
	Y []int
	// TestX, TestY are the held-out rows and labels (may be empty).
	TestX []float32
	TestY []int
}

// NewTrainer returns the built-in model m as a [trainer.Trainer] on data d.
// Train loads the global tensors into m, runs [Train] with the round's
// settings (FedProx centred on the global model when ProxMu > 0, shuffling
// seeded by the round's seed) and returns a copy of the parameters with
// training metrics (Examples = training rows, the FedAvg weight; LossSum =
// the last epoch's mean batch loss times the rows; Correct is not counted).
// Evaluate scores the global tensors on the held-out split. The trainer
// owns m and is not safe for concurrent use.
func NewTrainer(m Model, d TrainerData) (trainer.Trainer, error) {
	net := m.network()
	if err := net.checkData(d.X, d.Y); err != nil {
		return nil, err
	}
	if len(d.Y) == 0 {
		return nil, fmt.Errorf("%w: no training rows", ErrShape)
	}
	if err := net.checkData(d.TestX, d.TestY); err != nil {
		return nil, err
	}
	return &builtin{m: m, layout: Layout(m), d: d}, nil
}

type builtin struct {
	m      Model
	layout []trainer.TensorSpec
	d      TrainerData
}

func (b *builtin) Layout() []trainer.TensorSpec { return b.layout }

func (b *builtin) load(global trainer.Tensors) error {
	if err := trainer.Check(global, b.layout); err != nil {
		return err
	}
	copy(b.m.Params(), global.Data)
	return nil
}

func (b *builtin) Train(ctx context.Context, r trainer.Round) (trainer.Tensors, trainer.Metrics, error) {
	if err := ctx.Err(); err != nil {
		return trainer.Tensors{}, trainer.Metrics{}, err
	}
	if err := r.Settings.Validate(); err != nil {
		return trainer.Tensors{}, trainer.Metrics{}, err
	}
	if err := b.load(r.Global); err != nil {
		return trainer.Tensors{}, trainer.Metrics{}, err
	}
	s := r.Settings
	cfg := TrainConfig{
		Epochs: s.Epochs, BatchSize: s.BatchSize, LR: float32(s.LR), Momentum: float32(s.Momentum),
		WeightDecay: float32(s.WeightDecay), Prox: float32(s.ProxMu), Seed: r.Seed,
	}
	if cfg.Prox > 0 {
		cfg.ProxCenter = r.Global.Data
	}
	st, err := Train(b.m, b.d.X, b.d.Y, cfg)
	if err != nil {
		return trainer.Tensors{}, trainer.Metrics{}, err
	}
	n := uint64(len(b.d.Y))
	return trainer.Tensors{Layout: b.layout, Data: slices.Clone(b.m.Params())},
		trainer.Metrics{Examples: n, LossSum: st.Loss * float64(n)}, nil
}

func (b *builtin) Evaluate(ctx context.Context, global trainer.Tensors) (trainer.Metrics, error) {
	if err := ctx.Err(); err != nil {
		return trainer.Metrics{}, err
	}
	if err := b.load(global); err != nil {
		return trainer.Metrics{}, err
	}
	n := len(b.d.TestY)
	if n == 0 {
		return trainer.Metrics{}, nil
	}
	loss, acc := Evaluate(b.m, b.d.TestX, b.d.TestY)
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return trainer.Metrics{}, fmt.Errorf("%w: held-out loss is not finite", ErrDiverged)
	}
	return trainer.Metrics{
		Examples: uint64(n),
		Correct:  uint64(math.Round(acc * float64(n))),
		LossSum:  loss * float64(n),
	}, nil
}

func (b *builtin) Close() error { return nil }
