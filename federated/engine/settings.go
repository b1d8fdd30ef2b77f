package engine

import (
	"errors"
	"fmt"
	"math"

	"github.com/consort-ml/consort/federated/model"
	"github.com/consort-ml/consort/federated/strategy"
	"github.com/consort-ml/consort/transport"
)

// ErrConfig marks an invalid configuration.
var ErrConfig = errors.New("engine: bad config")

// Defaults, defined once. Doc comments of the fields that use them say so.
const (
	// DefaultBound is the clamp of each coordinate of a weighted update.
	DefaultBound = 4
	// DefaultDelta is the delta at which epsilon is reported.
	DefaultDelta = 1e-5
	// DefaultLocalEpochs, DefaultBatchSize and DefaultLR are local training's.
	DefaultLocalEpochs = 1
	DefaultBatchSize   = 32
	DefaultLR          = 0.1
)

// TrainSettings are the local-training hyper-parameters every node uses.
// Zero fields take the defaults named in their comments ([TrainSettings.Resolved]).
type TrainSettings struct {
	LocalEpochs int     // epochs of local SGD per round (default DefaultLocalEpochs)
	BatchSize   int     // mini-batch size (default DefaultBatchSize)
	LR          float32 // learning rate (default DefaultLR)
	Momentum    float32 // SGD momentum (default 0)
	WeightDecay float32 // L2 weight decay (default 0)
}

// Resolved returns s with its defaults filled in.
func (s TrainSettings) Resolved() TrainSettings {
	if s.LocalEpochs == 0 {
		s.LocalEpochs = DefaultLocalEpochs
	}
	if s.BatchSize == 0 {
		s.BatchSize = DefaultBatchSize
	}
	if s.LR == 0 {
		s.LR = DefaultLR
	}
	return s
}

// Validate checks the resolved settings without changing s.
func (s TrainSettings) Validate() error {
	r := s.Resolved()
	if r.LocalEpochs < 1 || r.BatchSize < 1 || !(r.LR > 0) || r.Momentum < 0 || r.Momentum >= 1 || r.WeightDecay < 0 {
		return fmt.Errorf("%w: need local epochs >= 1, batch size >= 1, lr > 0, 0 <= momentum < 1, weight decay >= 0", ErrConfig)
	}
	return nil
}

// DPConfig configures distributed differential privacy: every node clips its
// update to L2 norm Clip and adds its share of the noise, sized for the
// federation's threshold.
type DPConfig struct {
	// Clip is the L2 norm bound C of a node's update (0 disables DP).
	Clip float64
	// NoiseMultiplier z: every released aggregate carries noise of standard
	// deviation at least z*C.
	NoiseMultiplier float64
	// Delta is the delta at which epsilon is reported (default DefaultDelta).
	Delta float64
	// EpsilonBudget, when > 0, stops training at the last round that keeps
	// epsilon within it.
	EpsilonBudget float64
}

// Enabled reports whether DP is on.
func (c DPConfig) Enabled() bool { return c.Clip > 0 }

// Resolved returns c with its defaults filled in.
func (c DPConfig) Resolved() DPConfig {
	if c.Enabled() && c.Delta == 0 {
		c.Delta = DefaultDelta
	}
	return c
}

// Validate checks c without changing it.
func (c DPConfig) Validate() error {
	r := c.Resolved()
	switch {
	case r.Clip < 0 || math.IsNaN(r.Clip) || math.IsInf(r.Clip, 0):
		return fmt.Errorf("%w: dp clip must be >= 0 and finite", ErrConfig)
	case r.Enabled() && !(r.NoiseMultiplier > 0 && !math.IsInf(r.NoiseMultiplier, 0)):
		return fmt.Errorf("%w: dp noise multiplier must be > 0 with a clip", ErrConfig)
	case !r.Enabled() && (r.NoiseMultiplier != 0 || r.EpsilonBudget != 0):
		return fmt.Errorf("%w: dp noise and budget need a clip", ErrConfig)
	case r.Enabled() && !(r.Delta > 0 && r.Delta < 1):
		return fmt.Errorf("%w: dp delta must be in (0, 1)", ErrConfig)
	case !(r.EpsilonBudget >= 0) || math.IsInf(r.EpsilonBudget, 0):
		return fmt.Errorf("%w: dp budget must be >= 0 and finite", ErrConfig)
	}
	return nil
}

// Federation is what the coordinator and every node agree on: the signed
// manifest's content, or a simulation's flags. The protection plan of every
// attempt ([NewPlan]) is derived from it and the attempt's RoundStart, the
// same way on both sides.
type Federation struct {
	// ID names the federation and binds every key and message.
	ID string
	// Nodes lists the members in manifest order (mhe party ids are
	// positions + 1).
	Nodes []transport.PeerID
	// Threshold is the fewest contributors any aggregate is released for.
	Threshold int
	// MinParticipants is the fewest live nodes an attempt starts with
	// (default Threshold).
	MinParticipants int
	// Protocols lists the protection protocols the federation allows; the
	// coordinator uses Protocol, which must be among them.
	Protocols []string
	Protocol  string
	// Rounds is the number of training rounds.
	Rounds int
	// Model, Features and Classes describe the model.
	Model             model.Spec
	Features, Classes int
	// Train holds the local training settings and Strategy the server's.
	Train    TrainSettings
	Strategy strategy.Config
	// Bound clamps each coordinate of a weighted update (default
	// DefaultBound); with DP the plan widens it for the noise tails.
	Bound float32
	// DP configures distributed differential privacy.
	DP DPConfig
	// Standardize runs the two statistics phases before training.
	Standardize bool
	// MHEParamSet pins the mhe parameter set by name ("" picks the smallest
	// secure set that fits); MHEInsecureTestParams selects the insecure test
	// ring (tests only).
	MHEParamSet           string
	MHEInsecureTestParams bool
}

// Resolved returns f with its defaults filled in.
func (f Federation) Resolved() Federation {
	if f.MinParticipants == 0 {
		f.MinParticipants = f.Threshold
	}
	if f.Bound == 0 {
		f.Bound = DefaultBound
	}
	if len(f.Protocols) == 0 && f.Protocol != "" {
		f.Protocols = []string{f.Protocol}
	}
	f.Train = f.Train.Resolved()
	f.DP = f.DP.Resolved()
	return f
}

// Validate checks the resolved federation without changing f.
func (f Federation) Validate() error {
	r := f.Resolved()
	n := len(r.Nodes)
	switch {
	case r.ID == "":
		return fmt.Errorf("%w: no federation id", ErrConfig)
	case n == 0:
		return fmt.Errorf("%w: no nodes", ErrConfig)
	case r.Threshold < 1 || r.Threshold > n:
		return fmt.Errorf("%w: threshold %d must be in 1..%d", ErrConfig, r.Threshold, n)
	case r.MinParticipants < r.Threshold || r.MinParticipants > n:
		return fmt.Errorf("%w: min_participants %d must be in threshold..nodes (%d..%d)", ErrConfig, r.MinParticipants, r.Threshold, n)
	case r.Rounds < 1:
		return fmt.Errorf("%w: rounds must be >= 1", ErrConfig)
	case r.Features < 1 || r.Classes < 2:
		return fmt.Errorf("%w: need features >= 1 and classes >= 2", ErrConfig)
	case !(r.Bound > 0) || math.IsInf(float64(r.Bound), 0):
		return fmt.Errorf("%w: bound must be positive and finite", ErrConfig)
	}
	seen := map[transport.PeerID]bool{}
	for _, p := range r.Nodes {
		if p == "" || seen[p] {
			return fmt.Errorf("%w: empty or repeated node id", ErrConfig)
		}
		seen[p] = true
	}
	for _, p := range r.Protocols {
		if _, err := lookup(p); err != nil {
			return err
		}
	}
	if r.Protocol != "" && !r.Allows(r.Protocol) {
		return fmt.Errorf("%w: protocol %q is not among the federation's %v", ErrConfig, r.Protocol, r.Protocols)
	}
	if err := r.Train.Validate(); err != nil {
		return err
	}
	if _, err := strategy.New(r.Strategy); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return r.DP.Validate()
}

// Allows reports whether the federation allows protocol p.
func (f Federation) Allows(p string) bool {
	for _, q := range f.Protocols {
		if q == p {
			return true
		}
	}
	return false
}
