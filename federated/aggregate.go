package federated

import (
	"context"
	"errors"
	"fmt"
)

// DropStage says when, within one round, a participant stops responding.
// The simulation draws one stage per participant from the dropout rate, so every
// protocol sees the same dropouts for the same seed and the same set of
// contributors ends up in the aggregate.
type DropStage uint8

const (
	// DropNone: the participant completes the round.
	DropNone DropStage = iota
	// DropBeforeUpload: the participant stops before its protected update is
	// sent; its update is not in the aggregate. A protocol maps this to any of its
	// steps before the upload (drawn from RoundSpec.Seed).
	DropBeforeUpload
	// DropAfterUpload: the participant stops after its protected update was
	// sent, during the protocol's finishing steps (unmasking, decryption); its
	// update is in the aggregate.
	DropAfterUpload
)

// RoundSpec is one round's input to an [Aggregator].
type RoundSpec struct {
	// FederationID and Round bind every key and message of the round.
	FederationID string
	Round        uint64
	// Inputs holds one update per selected participant, all of equal length.
	// Values are expected to lie within [-Bound, Bound]; protocols that
	// quantise use Bound to choose their fixed-point scale.
	Inputs [][]float32
	// Bound is the largest absolute value an input coordinate may take.
	Bound float32
	// Drops has one entry per input (nil means nobody drops).
	Drops []DropStage
	// Threshold is the minimum number of contributors an aggregate may be
	// released for (0 lets the protocol choose its default for len(Inputs)).
	Threshold int
	// Seed derives all protocol randomness in simulation, so runs repeat.
	Seed uint64
	// Ring32, when set, holds the inputs already encoded in Z_2^32 at scale
	// 2^RingFrac (distributed DP in the ring: each party's Skellam noise is
	// added after encoding). A [RingAggregator] sums them as they are;
	// Inputs then holds their decoded values.
	Ring32   [][]uint32
	RingFrac uint
}

// RingAggregator is implemented by aggregators that sum fixed-point ring
// vectors and can take inputs already encoded (RoundSpec.Ring32).
type RingAggregator interface {
	Aggregator
	// RingFrac is the fraction bits the aggregator uses for n inputs of
	// magnitude at most bound in Z_2^32.
	RingFrac(n int, bound float32) (uint, error)
}

// RoundResult is the outcome of one aggregation.
type RoundResult struct {
	// Sum is the sum of the contributors' inputs (up to the protocol's
	// documented quantisation error).
	Sum []float32
	// Contributors lists the indices into RoundSpec.Inputs whose updates are in Sum.
	Contributors []int
	// BytesUp holds, per input, the bytes that participant sent in this round
	// (real encoded message sizes).
	BytesUp []int64
	// BytesDown holds, per input, the bytes that participant received.
	BytesDown []int64
}

// Aggregator turns the updates of one round into their sum. Implementations:
// [Plain] (insecure baseline) and the secure protocols wired in by this
// package (secagg, mhe).
type Aggregator interface {
	// Name is the protocol name used on the command line and in reports.
	Name() string
	// Secure reports whether the aggregator hides individual updates.
	Secure() bool
	// Aggregate runs one round.
	Aggregate(ctx context.Context, spec RoundSpec) (RoundResult, error)
}

// ErrTooFewContributors is returned (wrapped) when fewer than the threshold of
// participants complete a round: no aggregate is released.
var ErrTooFewContributors = errors.New("federated: too few contributors")

// ErrBadRound marks a malformed RoundSpec.
var ErrBadRound = errors.New("federated: bad round spec")

// Validate checks the shape of a RoundSpec.
func (s RoundSpec) Validate() error {
	if len(s.Inputs) == 0 {
		return fmt.Errorf("%w: no inputs", ErrBadRound)
	}
	d := len(s.Inputs[0])
	for i, in := range s.Inputs {
		if len(in) != d {
			return fmt.Errorf("%w: input %d has length %d, want %d", ErrBadRound, i, len(in), d)
		}
	}
	if s.Drops != nil && len(s.Drops) != len(s.Inputs) {
		return fmt.Errorf("%w: %d drop stages for %d inputs", ErrBadRound, len(s.Drops), len(s.Inputs))
	}
	if s.Ring32 != nil {
		if len(s.Ring32) != len(s.Inputs) {
			return fmt.Errorf("%w: %d ring inputs for %d inputs", ErrBadRound, len(s.Ring32), len(s.Inputs))
		}
		for i, r := range s.Ring32 {
			if len(r) != d {
				return fmt.Errorf("%w: ring input %d has length %d, want %d", ErrBadRound, i, len(r), d)
			}
		}
	}
	if s.Threshold < 0 || s.Threshold > len(s.Inputs) {
		return fmt.Errorf("%w: threshold %d out of range 0..%d", ErrBadRound, s.Threshold, len(s.Inputs))
	}
	return nil
}

// Stage returns the drop stage of input i.
func (s RoundSpec) Stage(i int) DropStage {
	if s.Drops == nil {
		return DropNone
	}
	return s.Drops[i]
}

// Plain sums float32 updates in the clear. It is insecure: the aggregator sees
// every update. It exists as the baseline for benchmarks and tests.
type Plain struct{}

// Name implements [Aggregator].
func (Plain) Name() string { return "plain" }

// Secure implements [Aggregator]; Plain is not secure.
func (Plain) Secure() bool { return false }

// Aggregate implements [Aggregator]. A participant that drops before upload is
// left out; one that drops after upload is counted, as in the secure protocols.
func (Plain) Aggregate(ctx context.Context, spec RoundSpec) (RoundResult, error) {
	if err := spec.Validate(); err != nil {
		return RoundResult{}, err
	}
	if err := ctx.Err(); err != nil {
		return RoundResult{}, err
	}
	d := len(spec.Inputs[0])
	res := RoundResult{
		Sum:       make([]float32, d),
		BytesUp:   make([]int64, len(spec.Inputs)),
		BytesDown: make([]int64, len(spec.Inputs)),
	}
	for i, in := range spec.Inputs {
		if spec.Stage(i) == DropBeforeUpload {
			continue
		}
		for j, v := range in {
			res.Sum[j] += v
		}
		res.Contributors = append(res.Contributors, i)
		res.BytesUp[i] = int64(4 * d)
	}
	t := spec.Threshold
	if t == 0 {
		t = 1
	}
	if len(res.Contributors) < t {
		return RoundResult{}, fmt.Errorf("%w: %d of %d, threshold %d", ErrTooFewContributors, len(res.Contributors), len(spec.Inputs), t)
	}
	return res, nil
}
