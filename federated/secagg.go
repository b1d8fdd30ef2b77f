package federated

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"

	"github.com/consort-ml/consort/kernels"
	"github.com/consort-ml/consort/mpc"
	"github.com/consort-ml/consort/mpc/secagg"
)

// SecAggConfig configures the secure aggregation protocol ([NewSecAgg]).
// The zero value is usable.
type SecAggConfig struct {
	// Bits is the ring width: 32 (default) or 64. The fixed-point scale is
	// chosen per round from RoundSpec.Bound and the number of participants
	// so that the sum cannot wrap (see [SecAggFracBits]).
	Bits uint
	// Dropout is the fraction of participants the neighbour graph is sized
	// to lose (default 0.2), and Corrupt the fraction that may collude with
	// the aggregator (default 1/3); both go to secagg.Recommend, which picks
	// the SecAgg+ graph degree and the share threshold. Small rounds use the
	// complete graph of the original SecAgg.
	Dropout, Corrupt float64
	// Rand, if set, supplies the participants' private randomness (use
	// crypto/rand.Reader outside simulation). When nil, every key, mask seed
	// and share is derived from RoundSpec.Seed so that simulations repeat:
	// such a round is not secure against anyone who knows the seed.
	Rand io.Reader
}

// NewSecAgg returns the secagg [Aggregator]: pairwise-masking secure
// aggregation with dropout recovery (Bonawitz et al., CCS 2017, with the
// SecAgg+ neighbour graph of Bell et al., CCS 2020; package mpc/secagg). Each
// participant and the aggregator run as separate state machines that
// exchange encoded messages in process, so BytesUp and BytesDown are the
// real wire sizes.
//
// Per round: every input is clamped to [-Bound, Bound] and fixed-point
// encoded with stochastic rounding (seeded from RoundSpec.Seed) into
// Z_{2^Bits}. The threshold t is RoundSpec.Threshold when set (with the
// complete graph it is the Shamir threshold and the fewest contributors; with
// a sparse graph the fewest contributors, the share threshold coming from
// secagg.Recommend), and otherwise secagg.Recommend's for the participant
// count. A participant with DropBeforeUpload stops before its masked input:
// before advertising its keys, before sharing them, or before masking, the
// step drawn from RoundSpec.Seed. One with DropAfterUpload stops when asked
// to help unmask. Fewer than t survivors abort the round with
// ErrTooFewContributors (wrapping the protocol's *mpc.AbortError).
//
// The decoded sum differs from the float sum of the contributors' clamped
// inputs by less than (contributors) * 2^-f per coordinate (stochastic
// rounding, unbiased), plus float32 rounding of the result.
func NewSecAgg(cfg SecAggConfig) Aggregator { return &secAgg{cfg: cfg} }

type secAgg struct{ cfg SecAggConfig }

// Name implements [Aggregator].
func (*secAgg) Name() string { return "secagg" }

// Secure implements [Aggregator].
func (*secAgg) Secure() bool { return true }

// RingFrac implements [RingAggregator].
func (a *secAgg) RingFrac(n int, bound float32) (uint, error) {
	if a.cfg.Bits != 0 && a.cfg.Bits != 32 {
		return 0, fmt.Errorf("%w: ring inputs need the 32-bit ring", ErrBadRound)
	}
	return SecAggFracBits(32, n, bound)
}

// SecAggFracBits returns the fixed-point fraction bits f for n summands of
// magnitude at most bound in a ring of ringBits bits: the largest f with
// bound * 2^f <= 2^(ringBits - 2 - ceil(log2 n)). One sign bit, the headroom
// of kernels.HeadroomBits and one bit of margin (for the rounding step of
// stochastic rounding) keep the sum of n encodings inside the signed range,
// so the ring sum never wraps. f is capped at 48 (float32 carries 24
// significant bits).
func SecAggFracBits(ringBits uint, n int, bound float32) (uint, error) {
	if !(bound > 0) || math.IsInf(float64(bound), 0) {
		return 0, fmt.Errorf("%w: bound %g must be positive and finite", ErrBadRound, bound)
	}
	room := int(ringBits) - 2 - int(kernels.HeadroomBits(n))
	f := int(math.Floor(float64(room) - math.Log2(float64(bound))))
	for f >= 0 && math.Ldexp(float64(bound), f) > math.Ldexp(1, room) {
		f-- // guard against rounding in Log2
	}
	if f < 1 {
		return 0, fmt.Errorf("%w: bound %g with %d participants leaves no fraction bits in a %d-bit ring", ErrBadRound, bound, n, ringBits)
	}
	return uint(min(f, 48)), nil
}

// secAggParty is one simulated participant.
type secAggParty struct {
	c    *secagg.Client
	stop secagg.Step // the server message on whose arrival it stops (0: never)
	dead bool
}

// Aggregate implements [Aggregator].
func (a *secAgg) Aggregate(ctx context.Context, spec RoundSpec) (RoundResult, error) {
	if err := spec.Validate(); err != nil {
		return RoundResult{}, err
	}
	if err := ctx.Err(); err != nil {
		return RoundResult{}, err
	}
	n, d := len(spec.Inputs), len(spec.Inputs[0])
	bits := a.cfg.Bits
	if bits == 0 {
		bits = 32
	}
	if bits != 32 && bits != 64 {
		return RoundResult{}, fmt.Errorf("%w: secagg ring of %d bits (want 32 or 64)", ErrBadRound, bits)
	}
	frac, err := SecAggFracBits(bits, n, spec.Bound)
	if err != nil {
		return RoundResult{}, err
	}
	if spec.Ring32 != nil {
		if bits != 32 {
			return RoundResult{}, fmt.Errorf("%w: ring inputs are 32-bit, the aggregator uses %d bits", ErrBadRound, bits)
		}
		frac = spec.RingFrac
	}
	params, err := a.params(spec, n, d, bits)
	if err != nil {
		return RoundResult{}, err
	}
	srv, err := secagg.NewServer(secagg.ServerConfig{Params: params})
	if err != nil {
		return RoundResult{}, err
	}
	parties := make([]*secAggParty, n)
	res := RoundResult{BytesUp: make([]int64, n), BytesDown: make([]int64, n)}
	var queue []secagg.Message
	for i := range parties {
		p := &secAggParty{}
		parties[i] = p
		signer := ed25519.NewKeyFromSeed(secAggDerive(spec, "identity", i))
		cc := secagg.ClientConfig{Params: params, ID: i + 1, Signer: signer}
		enc := a.encode(spec, i, frac, bits)
		if bits == 64 {
			cc.Input64 = enc.([]uint64)
		} else {
			cc.Input32 = enc.([]uint32)
		}
		rnd := a.cfg.Rand
		if rnd == nil {
			rnd = rand.NewChaCha8([32]byte(secAggDerive(spec, "randomness", i)))
		}
		if p.c, err = secagg.NewClient(cc, rnd); err != nil {
			return RoundResult{}, err
		}
		switch spec.Stage(i) {
		case DropBeforeUpload:
			// Stop before advertising (0), before sharing keys, or before masking.
			switch binary.LittleEndian.Uint64(secAggDerive(spec, "drop", i)) % 3 {
			case 0:
				p.dead = true
			case 1:
				p.stop = secagg.StepKeyList
			default:
				p.stop = secagg.StepShares
			}
		case DropAfterUpload:
			p.stop = secagg.StepUnmask
		}
		if p.dead {
			continue
		}
		out, err := p.c.Start()
		if err != nil {
			return RoundResult{}, err
		}
		queue = a.send(queue, out, &res)
	}
	for delivered := 0; ; delivered++ {
		if delivered%64 == 0 {
			if err := ctx.Err(); err != nil {
				return RoundResult{}, err
			}
		}
		if len(queue) == 0 {
			// Nothing in flight: the server's deadline for this step fires.
			if step, _ := srv.Waiting(); step == 0 {
				break
			}
			out, err := srv.Advance()
			if err != nil && srv.Err() == nil {
				return RoundResult{}, err
			}
			queue = a.send(queue, out, &res)
			continue
		}
		m := queue[0]
		queue[0] = secagg.Message{}
		queue = queue[1:]
		var out []secagg.Message
		if m.To == 0 {
			out, err = srv.Step(m)
		} else {
			p := parties[m.To-1]
			if p.dead || (p.stop != 0 && secagg.Step(m.Data[1]) == p.stop) {
				p.dead = true
				continue
			}
			res.BytesDown[m.To-1] += int64(len(m.Data))
			out, err = p.c.Step(m)
		}
		// Rejected stragglers (ErrUnexpected) are normal; an abort ends with
		// the server's error below. Anything else is a bug of this driver.
		var abort *mpc.AbortError
		if err != nil && !errors.Is(err, secagg.ErrUnexpected) && !errors.As(err, &abort) {
			return RoundResult{}, fmt.Errorf("secagg round: %w", err)
		}
		queue = a.send(queue, out, &res)
	}
	sum, ok := srv.Result()
	if !ok {
		return RoundResult{}, fmt.Errorf("%w: %w", ErrTooFewContributors, srv.Err())
	}
	res.Sum = make([]float32, d)
	if bits == 64 {
		kernels.Decode64(res.Sum, sum.Sum64, frac)
	} else {
		kernels.Decode32(res.Sum, sum.Sum32, frac)
	}
	res.Contributors = make([]int, len(sum.Contributors))
	for i, id := range sum.Contributors {
		res.Contributors[i] = id - 1
	}
	return res, nil
}

// send queues messages and counts the bytes each participant sends.
func (a *secAgg) send(queue, out []secagg.Message, res *RoundResult) []secagg.Message {
	for _, m := range out {
		if m.From > 0 {
			res.BytesUp[m.From-1] += int64(len(m.Data))
		}
	}
	return append(queue, out...)
}

// params builds the round's secagg parameters (see NewSecAgg).
func (a *secAgg) params(spec RoundSpec, n, d int, bits uint) (*secagg.Params, error) {
	dropout, corrupt := a.cfg.Dropout, a.cfg.Corrupt
	if dropout == 0 && corrupt == 0 {
		dropout, corrupt = 0.2, 1.0/3
	}
	k, t, err := secagg.Recommend(n, dropout, corrupt)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRound, err)
	}
	minSur := t
	if spec.Threshold > 0 {
		if k >= n-1 {
			t = spec.Threshold
		}
		minSur = max(spec.Threshold, t)
	}
	ids := make([]ed25519.PublicKey, n)
	for i := range ids {
		ids[i] = ed25519.NewKeyFromSeed(secAggDerive(spec, "identity", i)).Public().(ed25519.PublicKey)
	}
	fed := spec.FederationID
	if fed == "" {
		fed = "simulation"
	}
	if len(fed) > secagg.MaxFederationID {
		h := sha256.Sum256([]byte(fed))
		fed = fmt.Sprintf("%x", h[:16])
	}
	p, err := secagg.NewParams(secagg.Config{FederationID: fed, Round: spec.Round, Parties: n, Dim: d, Bits: bits,
		Threshold: t, Degree: k, MinSurvivors: minSur, Identities: ids})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRound, err)
	}
	return p, nil
}

// encode clamps input i to [-Bound, Bound] and encodes it with stochastic
// rounding seeded from the round seed.
func (a *secAgg) encode(spec RoundSpec, i int, frac, bits uint) any {
	if spec.Ring32 != nil {
		return spec.Ring32[i]
	}
	x := make([]float32, len(spec.Inputs[i]))
	for j, v := range spec.Inputs[i] {
		x[j] = min(max(v, -spec.Bound), spec.Bound)
	}
	seed := [32]byte(secAggDerive(spec, "quantise", i))
	if bits == 64 {
		q := make([]uint64, len(x))
		kernels.EncodeStochastic64(q, x, frac, seed)
		return q
	}
	q := make([]uint32, len(x))
	kernels.EncodeStochastic32(q, x, frac, seed)
	return q
}

// secAggDerive derives 32 bytes for participant i from the round seed.
func secAggDerive(spec RoundSpec, label string, i int) []byte {
	h := sha256.New()
	h.Write([]byte("consort/federated/secagg simulation " + label))
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:], spec.Seed)
	binary.LittleEndian.PutUint64(b[8:], uint64(i))
	h.Write(b[:])
	h.Write([]byte(spec.FederationID))
	binary.LittleEndian.PutUint64(b[:], spec.Round)
	h.Write(b[:8])
	return h.Sum(nil)
}
