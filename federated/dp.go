package federated

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/consort-ml/consort/federated/privacy"
	"github.com/consort-ml/consort/kernels"
)

// simDP is the distributed differential privacy of a simulation: every party
// clips its update to L2 norm C and adds its share N(0, z^2 C^2 / t) of the
// noise, t being the threshold, so any released aggregate (at least t
// contributors) carries noise of standard deviation at least z*C whoever
// drops out. The budget composes the rounds with the RDP accountant.
type simDP struct {
	mech      privacy.Mechanism
	budget    *privacy.Budget
	threshold int
	bound     float32
	// ring is set when the aggregator sums ring vectors: noise is then
	// Skellam, added after fixed-point encoding (see the package doc).
	ring bool
}

// newSimDP returns nil when DP is off. With a RingAggregator the noise is
// distributed Skellam in Z_2^32 at the aggregator's scale (Agarwal, Kairouz
// and Liu, NeurIPS 2021), accounted with its RDP including the quantisation
// (conditional randomized rounding inflates the sensitivity); otherwise it is
// Gaussian on the float update.
func newSimDP(cfg SimConfig, d int, agg Aggregator) (*simDP, error) {
	if !cfg.DP.Enabled() {
		return nil, nil
	}
	if cfg.DP.Delta == 0 {
		cfg.DP.Delta = 1e-5
	}
	k := min(max(int(math.Ceil(cfg.Fraction*float64(cfg.Parties))), cfg.Threshold, 1), cfg.Parties)
	t := cfg.Threshold
	if t == 0 {
		// The noise must be sized for the fewest contributors a released
		// aggregate can have, so DP needs a threshold; default to the
		// secure-aggregation default of two thirds of the participants.
		t = max(1, int(math.Ceil(2*float64(k)/3)))
	}
	m := privacy.Mechanism{Clip: cfg.DP.Clip, NoiseMultiplier: cfg.DP.NoiseMultiplier, MinContributors: t, Noise: privacy.Gaussian}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	// Coordinates of a clipped update are at most C; the noise share adds
	// tails: 12 standard deviations make clamping at the bound (which
	// protects fixed-point protocols) practically never trigger.
	bound := max(float32(cfg.DP.Clip+12*m.ShareStddev()), cfg.Bound)
	ring := false
	if ra, ok := agg.(RingAggregator); ok {
		f, err := ra.RingFrac(k, bound)
		if err != nil {
			return nil, err
		}
		m.Noise, m.FracBits = privacy.Skellam, f
		if err := m.Validate(); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadConfig, err)
		}
		ring = true
	}
	limit := math.Inf(1)
	if cfg.DP.EpsilonBudget > 0 {
		limit = cfg.DP.EpsilonBudget
	}
	// A party takes part in a round with probability Fraction (sampling
	// without replacement is accounted as Poisson sampling at that rate, the
	// usual approximation).
	b, err := privacy.NewBudget(m, min(1, float64(k)/float64(cfg.Parties)), d, cfg.DP.Delta, limit)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	return &simDP{mech: m, budget: b, threshold: t, bound: bound, ring: ring}, nil
}

// protect clips u and adds party p's noise share for round r, from a stream
// seeded by (seed, round, party) so simulations repeat. In ring mode it
// returns the encoded, noised vector and leaves in u its decoded value.
func (s *simDP) protect(u []float32, seed uint64, r, p int) ([]uint32, error) {
	if _, err := s.mech.ClipUpdate(u); err != nil {
		return nil, err
	}
	var key [32]byte
	binary.LittleEndian.PutUint64(key[0:], seed)
	binary.LittleEndian.PutUint64(key[8:], uint64(r))
	binary.LittleEndian.PutUint64(key[16:], uint64(p))
	copy(key[24:], "dpnoise")
	rng := rand.NewChaCha8(key)
	if s.ring {
		q := make([]uint32, len(u))
		if err := s.mech.QuantizeRing32(q, u, rng); err != nil {
			return nil, err
		}
		if err := s.mech.AddNoiseRing32(q, rng); err != nil {
			return nil, err
		}
		kernels.Decode32(u, q, s.mech.FracBits)
		return q, nil
	}
	if err := s.mech.AddNoiseFloat(u, rng); err != nil {
		return nil, err
	}
	for j, v := range u {
		u[j] = min(max(v, -s.bound), s.bound)
	}
	return nil, nil
}
