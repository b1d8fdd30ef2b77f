package federated

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/consort-ml/consort/federated/privacy"
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
}

// newSimDP returns nil when DP is off.
func newSimDP(cfg SimConfig, d int) (*simDP, error) {
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
	// Coordinates of a clipped update are at most C; the noise share adds
	// Gaussian tails: 12 standard deviations make clamping at the bound
	// (which protects fixed-point protocols) practically never trigger.
	bound := float32(cfg.DP.Clip + 12*m.ShareStddev())
	return &simDP{mech: m, budget: b, threshold: t, bound: max(bound, cfg.Bound)}, nil
}

// protect clips u and adds party p's noise share for round r, from a stream
// seeded by (seed, round, party) so simulations repeat.
func (s *simDP) protect(u []float32, seed uint64, r, p int) error {
	if _, err := s.mech.ClipUpdate(u); err != nil {
		return err
	}
	var key [32]byte
	binary.LittleEndian.PutUint64(key[0:], seed)
	binary.LittleEndian.PutUint64(key[8:], uint64(r))
	binary.LittleEndian.PutUint64(key[16:], uint64(p))
	copy(key[24:], "dpnoise")
	if err := s.mech.AddNoiseFloat(u, rand.NewChaCha8(key)); err != nil {
		return err
	}
	for j, v := range u {
		u[j] = min(max(v, -s.bound), s.bound)
	}
	return nil
}
