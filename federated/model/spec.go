package model

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Model kinds accepted in [Spec.Kind].
const (
	// KindLogistic is binary logistic regression: one weight per feature and a
	// bias, sigmoid output, binary cross-entropy loss. It requires exactly two
	// classes (labels 0 and 1).
	KindLogistic = "logistic"
	// KindSoftmax is multinomial (softmax) regression: a features x classes
	// weight matrix and one bias per class, cross-entropy loss.
	KindSoftmax = "softmax"
	// KindMLP is a multilayer perceptron: hidden fully connected layers with
	// ReLU activations followed by a softmax output layer.
	KindMLP = "mlp"
)

// Size limits checked by [New] and [ParseSpec] before anything is allocated.
const (
	// DefaultHidden is the hidden width used for an MLP whose Spec lists none.
	DefaultHidden = 128
	// MaxHiddenLayers is the largest number of hidden layers of an MLP.
	MaxHiddenLayers = 4
	// MaxWidth bounds every layer width: features, hidden units and classes.
	MaxWidth = 1 << 20
	// MaxParams bounds the length of a model's parameter vector (1 GiB of float32).
	MaxParams = 1 << 28
)

// Errors returned (wrapped) by this package.
var (
	// ErrSpec marks an unknown model kind or invalid layer sizes.
	ErrSpec = errors.New("model: bad model spec")
	// ErrShape marks data whose length does not match the model's features or
	// labels, or a gradient/parameter buffer of the wrong length.
	ErrShape = errors.New("model: shape mismatch")
	// ErrLabel marks a label outside [0, classes).
	ErrLabel = errors.New("model: label out of range")
	// ErrConfig marks an invalid [TrainConfig].
	ErrConfig = errors.New("model: bad training config")
	// ErrDiverged is returned by [Train] when the training loss becomes NaN or
	// infinite; lower the learning rate.
	ErrDiverged = errors.New("model: training diverged")
)

// Spec names a model architecture. The zero value is invalid; useful values
// are {Kind: "logistic"}, {Kind: "softmax"} and {Kind: "mlp", Hidden: []int{128}}.
type Spec struct {
	// Kind is one of [KindLogistic], [KindSoftmax], [KindMLP].
	Kind string `json:"kind" toml:"kind"`
	// Hidden lists the hidden layer widths of an MLP, input side first (1 to
	// [MaxHiddenLayers] entries; none means one layer of [DefaultHidden]). It
	// must be empty for the linear kinds.
	Hidden []int `json:"hidden,omitempty" toml:"hidden,omitempty"`
}

// ParseSpec parses the command-line form of a model: "logistic", "softmax",
// "mlp" (one hidden layer of [DefaultHidden] units), "mlp:256" or
// "mlp:256,128". It is the inverse of [Spec.String].
func ParseSpec(s string) (Spec, error) {
	s = strings.TrimSpace(s)
	kind, widths, hasWidths := strings.Cut(s, ":")
	switch kind {
	case KindLogistic, KindSoftmax:
		if hasWidths {
			return Spec{}, fmt.Errorf("%w: %q takes no hidden layers", ErrSpec, kind)
		}
		return Spec{Kind: kind}, nil
	case KindMLP:
	default:
		return Spec{}, fmt.Errorf("%w: unknown kind %q (want logistic, softmax or mlp[:H1,H2])", ErrSpec, kind)
	}
	sp := Spec{Kind: KindMLP}
	if !hasWidths {
		sp.Hidden = []int{DefaultHidden}
		return sp, nil
	}
	parts := strings.Split(widths, ",")
	if len(parts) > MaxHiddenLayers {
		return Spec{}, fmt.Errorf("%w: %d hidden layers, at most %d", ErrSpec, len(parts), MaxHiddenLayers)
	}
	for _, p := range parts {
		h, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || h < 1 || h > MaxWidth {
			return Spec{}, fmt.Errorf("%w: hidden width %q is not an integer in [1, %d]", ErrSpec, p, MaxWidth)
		}
		sp.Hidden = append(sp.Hidden, h)
	}
	return sp, nil
}

// String returns the form accepted by [ParseSpec], e.g. "mlp:128,64".
func (s Spec) String() string {
	if s.Kind != KindMLP {
		return s.Kind
	}
	h := s.Hidden
	if len(h) == 0 {
		h = []int{DefaultHidden}
	}
	var b strings.Builder
	b.WriteString(KindMLP)
	for i, w := range h {
		if i == 0 {
			b.WriteByte(':')
		} else {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(w))
	}
	return b.String()
}

// Validate checks the kind and the hidden widths.
func (s Spec) Validate() error {
	switch s.Kind {
	case KindLogistic, KindSoftmax:
		if len(s.Hidden) != 0 {
			return fmt.Errorf("%w: %q takes no hidden layers", ErrSpec, s.Kind)
		}
	case KindMLP:
		if len(s.Hidden) > MaxHiddenLayers {
			return fmt.Errorf("%w: %d hidden layers, at most %d", ErrSpec, len(s.Hidden), MaxHiddenLayers)
		}
		for _, h := range s.Hidden {
			if h < 1 || h > MaxWidth {
				return fmt.Errorf("%w: hidden width %d not in [1, %d]", ErrSpec, h, MaxWidth)
			}
		}
	default:
		return fmt.Errorf("%w: unknown kind %q", ErrSpec, s.Kind)
	}
	return nil
}

// layerDims returns the widths of all layers, input first: features, the
// hidden widths, then the output width (1 for logistic, classes otherwise).
func (s Spec) layerDims(features, classes int) ([]int, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if features < 1 || features > MaxWidth {
		return nil, fmt.Errorf("%w: %d features, want 1..%d", ErrSpec, features, MaxWidth)
	}
	if classes < 2 || classes > MaxWidth {
		return nil, fmt.Errorf("%w: %d classes, want 2..%d", ErrSpec, classes, MaxWidth)
	}
	dims := []int{features}
	switch s.Kind {
	case KindLogistic:
		if classes != 2 {
			return nil, fmt.Errorf("%w: logistic regression is binary, got %d classes (use softmax)", ErrSpec, classes)
		}
		dims = append(dims, 1)
	case KindSoftmax:
		dims = append(dims, classes)
	case KindMLP:
		h := s.Hidden
		if len(h) == 0 {
			h = []int{DefaultHidden}
		}
		dims = append(dims, h...)
		dims = append(dims, classes)
	}
	total := 0
	for l := 1; l < len(dims); l++ {
		// Each factor is at most 2^20, so the product fits in int64.
		total += dims[l-1]*dims[l] + dims[l]
		if total > MaxParams {
			return nil, fmt.Errorf("%w: more than %d parameters", ErrSpec, MaxParams)
		}
	}
	return dims, nil
}
