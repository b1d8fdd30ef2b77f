package strategy

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// ErrConfig marks an invalid strategy configuration.
var ErrConfig = errors.New("strategy: bad config")

// Strategy turns the aggregated update of a round into the next global model.
// The aggregate it receives is already the weighted mean of the contributors'
// updates (update = local - global), so FedAvg simply adds it.
type Strategy interface {
	// Name is the strategy's command-line name.
	Name() string
	// Apply updates global in place from the mean update delta.
	Apply(global, delta []float32)
	// ProxMu is the FedProx proximal coefficient local training must use (0 for none).
	ProxMu() float32
}

// Config selects and parameterises a strategy.
type Config struct {
	// Name is fedavg (default), fedprox or fedadam.
	Name string
	// Mu is FedProx's proximal coefficient (default 0.01).
	Mu float32
	// ServerLR, Beta1, Beta2 and Tau parameterise FedAdam (Reddi et al., ICLR
	// 2021); defaults 0.01, 0.9, 0.99, 1e-3.
	ServerLR, Beta1, Beta2, Tau float32
}

// New validates cfg and returns the strategy.
func New(cfg Config) (Strategy, error) {
	switch strings.ToLower(cfg.Name) {
	case "", "fedavg":
		return fedAvg{}, nil
	case "fedprox":
		mu := cfg.Mu
		if mu == 0 {
			mu = 0.01
		}
		if mu < 0 || math.IsNaN(float64(mu)) {
			return nil, fmt.Errorf("%w: fedprox mu must be positive", ErrConfig)
		}
		return fedProx{mu: mu}, nil
	case "fedadam":
		a := &fedAdam{lr: cfg.ServerLR, b1: cfg.Beta1, b2: cfg.Beta2, tau: cfg.Tau}
		if a.lr == 0 {
			a.lr = 0.01
		}
		if a.b1 == 0 {
			a.b1 = 0.9
		}
		if a.b2 == 0 {
			a.b2 = 0.99
		}
		if a.tau == 0 {
			a.tau = 1e-3
		}
		if a.lr < 0 || a.b1 < 0 || a.b1 >= 1 || a.b2 < 0 || a.b2 >= 1 || a.tau <= 0 {
			return nil, fmt.Errorf("%w: fedadam needs server-lr > 0, 0 <= beta < 1, tau > 0", ErrConfig)
		}
		return a, nil
	default:
		return nil, fmt.Errorf("%w: unknown strategy %q (want fedavg, fedprox or fedadam)", ErrConfig, cfg.Name)
	}
}

type fedAvg struct{}

func (fedAvg) Name() string    { return "fedavg" }
func (fedAvg) ProxMu() float32 { return 0 }
func (fedAvg) Apply(global, delta []float32) {
	for i, d := range delta {
		global[i] += d
	}
}

// fedProx (Li et al., MLSys 2020) aggregates like FedAvg; the difference is the
// proximal term mu/2 ||w - w_global||^2 in local training.
type fedProx struct{ mu float32 }

func (fedProx) Name() string      { return "fedprox" }
func (p fedProx) ProxMu() float32 { return p.mu }
func (fedProx) Apply(global, delta []float32) {
	for i, d := range delta {
		global[i] += d
	}
}

// fedAdam is the server-side Adam of Reddi et al., "Adaptive Federated
// Optimization" (ICLR 2021): the mean update is a pseudo-gradient.
type fedAdam struct {
	lr, b1, b2, tau float32
	m, v            []float32
}

func (*fedAdam) Name() string    { return "fedadam" }
func (*fedAdam) ProxMu() float32 { return 0 }
func (a *fedAdam) Apply(global, delta []float32) {
	if len(a.m) != len(delta) {
		a.m = make([]float32, len(delta))
		a.v = make([]float32, len(delta))
	}
	for i, d := range delta {
		a.m[i] = a.b1*a.m[i] + (1-a.b1)*d
		a.v[i] = a.b2*a.v[i] + (1-a.b2)*d*d
		global[i] += a.lr * a.m[i] / (float32(math.Sqrt(float64(a.v[i]))) + a.tau)
	}
}

// Stateful is a strategy with state that a checkpoint must keep.
type Stateful interface {
	// State returns the strategy's state (nil before the first step).
	State() []float32
	// Restore reloads a state returned by State.
	Restore([]float32) error
}

// State implements [Stateful].
func (a *fedAdam) State() []float32 {
	if a.m == nil {
		return nil
	}
	return append(append(make([]float32, 0, 2*len(a.m)), a.m...), a.v...)
}

// Restore implements [Stateful].
func (a *fedAdam) Restore(s []float32) error {
	if len(s)%2 != 0 {
		return fmt.Errorf("%w: fedadam state of odd length", ErrConfig)
	}
	h := len(s) / 2
	a.m, a.v = append([]float32(nil), s[:h]...), append([]float32(nil), s[h:]...)
	return nil
}
