package trainer

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/consort-ml/consort/federated/trainer/safetensors"
)

// Errors returned (wrapped) by this package.
var (
	// ErrConfig marks an invalid configuration, [Settings] or layout.
	ErrConfig = errors.New("trainer: bad configuration")
	// ErrInvalidOutput marks tensors or metrics that do not match what was
	// asked: wrong or missing or extra tensor, wrong shape or dtype,
	// NaN or infinity, implausible metrics.
	ErrInvalidOutput = errors.New("trainer: invalid output")
)

// TensorSpec names one tensor of a model layout and its shape. A layout is
// a []TensorSpec, in order; the flat vector of a model is the concatenation
// of its tensors (row-major) in layout order.
type TensorSpec = safetensors.TensorSpec

// Tensors is a model's tensors as one flat float32 vector in layout order:
// the form the round engine works on.
type Tensors struct {
	// Layout names the tensors and their shapes, in order.
	Layout []TensorSpec
	// Data holds the values of every tensor, concatenated in layout order.
	Data []float32
}

// Settings are the round's local training hyper-parameters, set by the
// manifest and the coordinator. JSON names are those of the external
// trainer protocol.
type Settings struct {
	// Epochs is the number of local passes over the training split (>= 1).
	Epochs int `json:"epochs"`
	// BatchSize is the mini-batch size (>= 1).
	BatchSize int `json:"batch_size"`
	// LR is the learning rate (> 0, finite).
	LR float64 `json:"lr"`
	// Momentum is the heavy-ball coefficient, in [0, 1).
	Momentum float64 `json:"momentum"`
	// WeightDecay is the L2 penalty (>= 0, finite).
	WeightDecay float64 `json:"weight_decay"`
	// ProxMu is FedProx's mu (>= 0, finite; 0 disables the proximal term).
	ProxMu float64 `json:"prox_mu"`
}

// Validate checks the ranges documented on each field.
func (s Settings) Validate() error {
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch {
	case s.Epochs < 1 || s.Epochs > MaxEpochs:
		return fmt.Errorf("%w: epochs %d, want 1..%d", ErrConfig, s.Epochs, MaxEpochs)
	case s.BatchSize < 1 || s.BatchSize > MaxBatch:
		return fmt.Errorf("%w: batch size %d, want 1..%d", ErrConfig, s.BatchSize, MaxBatch)
	case !(s.LR > 0) || !finite(s.LR):
		return fmt.Errorf("%w: learning rate %v, want a finite value > 0", ErrConfig, s.LR)
	case !(s.Momentum >= 0 && s.Momentum < 1):
		return fmt.Errorf("%w: momentum %v, want [0, 1)", ErrConfig, s.Momentum)
	case !(s.WeightDecay >= 0) || !finite(s.WeightDecay):
		return fmt.Errorf("%w: weight decay %v, want a finite value >= 0", ErrConfig, s.WeightDecay)
	case !(s.ProxMu >= 0) || !finite(s.ProxMu):
		return fmt.Errorf("%w: prox mu %v, want a finite value >= 0", ErrConfig, s.ProxMu)
	}
	return nil
}

// Bounds on settings and metrics.
const (
	// MaxEpochs bounds Settings.Epochs.
	MaxEpochs = 10000
	// MaxBatch bounds Settings.BatchSize.
	MaxBatch = 1 << 20
	// DefaultMaxExamples bounds Metrics.Examples when [Command.MaxExamples]
	// (or the built-in trainer's data) sets no other bound.
	DefaultMaxExamples = 1 << 32
)

// Round is one local training request: the global model, the settings and
// a seed for the trainer's shuffling and augmentation (derived by the node;
// a trainer that uses it is reproducible).
type Round struct {
	// Round is the round number, for the trainer's logs.
	Round int
	// Global is the global model the round starts from.
	Global Tensors
	// Settings are the local training hyper-parameters.
	Settings Settings
	// Seed drives the trainer's randomness.
	Seed uint64
}

// Metrics are counts only, never per-example values. Returned by
// [Trainer.Train] they describe the round's training split (Examples is the
// number of distinct training examples, the FedAvg weight; Correct and
// LossSum cover the last epoch); returned by [Trainer.Evaluate] they
// describe the node's held-out split.
type Metrics struct {
	// Examples is the number of examples counted.
	Examples uint64 `json:"examples"`
	// Correct is the number of them classified correctly (<= Examples).
	Correct uint64 `json:"correct"`
	// LossSum is the sum of their losses (finite, >= 0).
	LossSum float64 `json:"loss_sum"`
}

// Check reports [ErrInvalidOutput] for implausible metrics: more correct
// than examples, more examples than maxExamples (0 means
// [DefaultMaxExamples]), a negative or non-finite loss sum, or a loss sum
// without examples.
func (m Metrics) Check(maxExamples uint64) error {
	if maxExamples == 0 {
		maxExamples = DefaultMaxExamples
	}
	switch {
	case m.Examples > maxExamples:
		return fmt.Errorf("%w: %d examples, at most %d", ErrInvalidOutput, m.Examples, maxExamples)
	case m.Correct > m.Examples:
		return fmt.Errorf("%w: %d correct of %d examples", ErrInvalidOutput, m.Correct, m.Examples)
	case math.IsNaN(m.LossSum) || math.IsInf(m.LossSum, 0) || m.LossSum < 0:
		return fmt.Errorf("%w: loss sum is negative or not finite", ErrInvalidOutput)
	case m.Examples == 0 && m.LossSum != 0:
		return fmt.Errorf("%w: a loss sum without examples", ErrInvalidOutput)
	}
	return nil
}

// Accuracy returns Correct/Examples (NaN without examples).
func (m Metrics) Accuracy() float64 {
	if m.Examples == 0 {
		return math.NaN()
	}
	return float64(m.Correct) / float64(m.Examples)
}

// MeanLoss returns LossSum/Examples (NaN without examples).
func (m Metrics) MeanLoss() float64 {
	if m.Examples == 0 {
		return math.NaN()
	}
	return m.LossSum / float64(m.Examples)
}

// Trainer trains a model locally. The node calls it once per round and
// then, itself, computes the update (trained - global), clips it, adds its
// DP noise share, encodes and protects it: nothing a Trainer returns can
// change that, and every implementation's output is checked by [Check]
// before the node sees it.
//
// Calls are sequential (a Trainer need not be safe for concurrent use).
type Trainer interface {
	// Layout is the model layout this trainer trains; every Tensors it
	// receives and returns has exactly this layout.
	Layout() []TensorSpec
	// Train trains from r.Global and returns the locally trained tensors
	// (not the update) and the training-split metrics.
	Train(ctx context.Context, r Round) (Tensors, Metrics, error)
	// Evaluate scores global on the node's held-out split.
	Evaluate(ctx context.Context, global Tensors) (Metrics, error)
	// Close releases the trainer (stops its process, removes its files).
	Close() error
}

// SameLayout reports whether two layouts are identical: same names and
// shapes, in the same order.
func SameLayout(a, b []TensorSpec) bool {
	return slices.EqualFunc(a, b, func(x, y TensorSpec) bool {
		return x.Name == y.Name && slices.Equal(x.Shape, y.Shape)
	})
}

// Elements returns the element count of a valid layout ([ErrConfig] otherwise).
func Elements(layout []TensorSpec) (int, error) {
	n, err := safetensors.CheckLayout(layout)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return n, nil
}

// Check verifies t against layout: same tensors, names, shapes and order,
// the right number of values, every value finite. It returns
// [ErrInvalidOutput] naming the first offending tensor (never a value).
func Check(t Tensors, layout []TensorSpec) error {
	n, err := Elements(layout)
	if err != nil {
		return err
	}
	if !SameLayout(t.Layout, layout) {
		return fmt.Errorf("%w: %s", ErrInvalidOutput, layoutDiff(t.Layout, layout))
	}
	if len(t.Data) != n {
		return fmt.Errorf("%w: %d values, the layout has %d", ErrInvalidOutput, len(t.Data), n)
	}
	if i := firstNonFinite(t.Data); i >= 0 {
		pos := 0
		for _, ts := range layout {
			k := ts.Elements()
			if i < pos+k {
				return fmt.Errorf("%w: tensor %q has a non-finite value at index %d", ErrInvalidOutput, ts.Name, i-pos)
			}
			pos += k
		}
	}
	return nil
}

// firstNonFinite returns the index of the first NaN or infinity in v, or
// -1. A float32 is not finite exactly when its exponent bits are all ones,
// that is when (bits & 0x7fffffff) + 0x00800000 sets bit 31. Blocks are
// tested two values per 64-bit word with that sum (no carry crosses the
// halves), and only a block that fails is scanned value by value.
func firstNonFinite(v []float32) int {
	const block = 1024
	for lo := 0; lo < len(v); lo += block {
		hi := min(lo+block, len(v))
		if !nonFiniteIn(v[lo:hi]) {
			continue
		}
		for i := lo; i < hi; i++ {
			if math.Float32bits(v[i])&0x7f800000 == 0x7f800000 {
				return i
			}
		}
	}
	return -1
}

func layoutDiff(got, want []TensorSpec) string {
	names := make(map[string]TensorSpec, len(want))
	for _, w := range want {
		names[w.Name] = w
	}
	for _, g := range got {
		w, ok := names[g.Name]
		if !ok {
			return fmt.Sprintf("extra tensor %q", g.Name)
		}
		if !slices.Equal(g.Shape, w.Shape) {
			return fmt.Sprintf("tensor %q has shape %v, want %v", g.Name, g.Shape, w.Shape)
		}
	}
	seen := make(map[string]bool, len(got))
	for _, g := range got {
		seen[g.Name] = true
	}
	for _, w := range want {
		if !seen[w.Name] {
			return fmt.Sprintf("missing tensor %q", w.Name)
		}
	}
	return "tensors out of layout order"
}

// Checked wraps t so that every result is checked against t.Layout() (and
// metrics bounded by maxExamples, 0 for the default) before it is returned:
// the node calls its trainer only through Checked, whatever the
// implementation. A Train result that fails the checks is returned as an
// error and no tensors.
func Checked(t Trainer, maxExamples uint64) Trainer {
	if c, ok := t.(checked); ok {
		return c
	}
	return checked{t, maxExamples}
}

type checked struct {
	Trainer
	max uint64
}

func (c checked) Train(ctx context.Context, r Round) (Tensors, Metrics, error) {
	layout := c.Layout()
	if err := r.Settings.Validate(); err != nil {
		return Tensors{}, Metrics{}, err
	}
	if err := Check(r.Global, layout); err != nil {
		return Tensors{}, Metrics{}, fmt.Errorf("%w: global model: %w", ErrConfig, err)
	}
	out, m, err := c.Trainer.Train(ctx, r)
	if err != nil {
		return Tensors{}, Metrics{}, err
	}
	if err := Check(out, layout); err != nil {
		return Tensors{}, Metrics{}, err
	}
	if err := m.Check(c.max); err != nil {
		return Tensors{}, Metrics{}, err
	}
	return out, m, nil
}

func (c checked) Evaluate(ctx context.Context, global Tensors) (Metrics, error) {
	if err := Check(global, c.Layout()); err != nil {
		return Metrics{}, fmt.Errorf("%w: global model: %w", ErrConfig, err)
	}
	m, err := c.Trainer.Evaluate(ctx, global)
	if err != nil {
		return Metrics{}, err
	}
	if err := m.Check(c.max); err != nil {
		return Metrics{}, err
	}
	return m, nil
}
