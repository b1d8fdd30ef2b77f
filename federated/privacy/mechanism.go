package privacy

import (
	"fmt"
	"io"
	"math"

	"github.com/consort-ml/consort/kernels"
)

// Noise selects the noise distribution of a [Mechanism].
type Noise uint8

const (
	// Gaussian is continuous Gaussian noise added to float updates (plain
	// mode, or a protocol that protects float values). Each of t shares is
	// N(0, z^2 C^2 / t), so the sum of t shares is N(0, z^2 C^2).
	Gaussian Noise = iota
	// Skellam is integer noise added in the ring after fixed-point encoding
	// (secagg). Each share is symmetric Skellam of variance mu/t; sums of
	// independent Skellams are Skellam, so the aggregate of t shares is
	// exactly Skellam of variance mu (Agarwal, Kairouz and Liu, NeurIPS 2021).
	Skellam
)

// String returns "gaussian" or "skellam".
func (n Noise) String() string {
	switch n {
	case Gaussian:
		return "gaussian"
	case Skellam:
		return "skellam"
	}
	return fmt.Sprintf("noise(%d)", uint8(n))
}

// DefaultBeta is the conditional-rounding failure parameter used when
// [Mechanism.Beta] is zero: exp(-1/2), as in Kairouz, Liu and Steinke, "The
// Distributed Discrete Gaussian Mechanism for Federated Learning with Secure
// Aggregation" (ICML 2021), Section 5.
const DefaultBeta = 0.6065306597126334

// maxRoundingTries bounds conditional rounding. Each try fails with
// probability at most Beta < 1 for a clipped input; 10000 failures in a row
// at the default Beta has probability below 10^-2000.
const maxRoundingTries = 10000

// Mechanism is one node's part of distributed differential privacy: clip the
// update to L2 norm Clip, then add a share of noise sized so that the sum of
// MinContributors shares carries the full noise. Fields are plain values;
// every method validates them first.
type Mechanism struct {
	// Clip is the L2 norm bound C of one node's update (> 0).
	Clip float64
	// NoiseMultiplier z (>= 0) is the aggregate noise standard deviation in
	// units of the L2 sensitivity: z*C for Gaussian; z*Delta2 in the ring for
	// Skellam, Delta2 being the sensitivity after scaling and rounding (see
	// [Mechanism.RingSensitivity]).
	NoiseMultiplier float64
	// MinContributors t (>= 1) is the smallest number of contributors an
	// aggregate can be released with (the protocol's threshold). Each share
	// carries 1/t of the variance, so any m >= t contributors give at least
	// the intended noise: dropouts never weaken the guarantee, and extra
	// contributors only add noise (m/t times the intended variance).
	MinContributors int
	// Noise selects Gaussian (float) or Skellam (ring) noise.
	Noise Noise
	// FracBits f is the fixed-point scale 2^f of the ring encoding
	// (Skellam only; the same f the protocol decodes with).
	FracBits uint
	// Beta in (0, 1) is the conditional-rounding parameter (Skellam only); 0
	// means [DefaultBeta].
	Beta float64
}

// Validate checks the fields.
func (m *Mechanism) Validate() error {
	switch {
	case !(m.Clip > 0) || math.IsInf(m.Clip, 0):
		return fmt.Errorf("%w: clip norm %v must be positive and finite", ErrInvalid, m.Clip)
	case !(m.NoiseMultiplier >= 0) || math.IsInf(m.NoiseMultiplier, 0):
		return fmt.Errorf("%w: noise multiplier %v must be finite and non-negative", ErrInvalid, m.NoiseMultiplier)
	case m.MinContributors < 1:
		return fmt.Errorf("%w: min contributors %d must be at least 1", ErrInvalid, m.MinContributors)
	case m.Noise != Gaussian && m.Noise != Skellam:
		return fmt.Errorf("%w: unknown noise kind %d", ErrInvalid, m.Noise)
	case m.Noise == Skellam && (m.FracBits > 40):
		return fmt.Errorf("%w: %d fraction bits (at most 40)", ErrInvalid, m.FracBits)
	case !(m.Beta >= 0 && m.Beta < 1):
		return fmt.Errorf("%w: beta %v outside [0, 1)", ErrInvalid, m.Beta)
	}
	return nil
}

func (m *Mechanism) beta() float64 {
	if m.Beta == 0 {
		return DefaultBeta
	}
	return m.Beta
}

// ClipUpdate scales update in place so that its L2 norm is at most Clip, with
// [kernels.ClipToNorm], and returns the factor applied (1 if none). A
// non-finite coordinate is an error: it would defeat the norm bound.
func (m *Mechanism) ClipUpdate(update []float32) (float32, error) {
	if err := m.Validate(); err != nil {
		return 0, err
	}
	for _, v := range update {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return 0, fmt.Errorf("%w: update has a non-finite coordinate", ErrInvalid)
		}
	}
	return kernels.ClipToNorm(update, float32(m.Clip)), nil
}

// ShareStddev is the standard deviation of one node's Gaussian noise share,
// z*C/sqrt(t).
func (m *Mechanism) ShareStddev() float64 {
	return m.NoiseMultiplier * m.Clip / math.Sqrt(float64(m.MinContributors))
}

// AddNoiseFloat adds this node's Gaussian share N(0, z^2 C^2 / t) to every
// coordinate of update (already clipped with [Mechanism.ClipUpdate]), drawing
// randomness from rng (crypto/rand.Reader in production; a seeded stream
// such as math/rand/v2.ChaCha8 in simulation). Float noise is subject to the
// floating-point attacks of Mironov (CCS 2012) on its low-order bits; use the
// ring mechanism where that matters.
func (m *Mechanism) AddNoiseFloat(update []float32, rng io.Reader) error {
	if err := m.Validate(); err != nil {
		return err
	}
	if m.Noise != Gaussian {
		return fmt.Errorf("%w: float noise needs Gaussian, mechanism is %v", ErrMode, m.Noise)
	}
	sd := m.ShareStddev()
	if sd == 0 {
		return nil
	}
	src := newSource(rng)
	for i := range update {
		g, err := src.normal()
		if err != nil {
			return err
		}
		update[i] = float32(float64(update[i]) + sd*g)
	}
	return nil
}

// RingSensitivity returns the L1 and L2 sensitivities, in ring units, of a
// d-dimensional update clipped to Clip, scaled by 2^FracBits and rounded by
// [Mechanism.QuantizeRing32]'s conditional randomized rounding (Kairouz, Liu
// and Steinke 2021, Section 4.1; Agarwal et al. 2021, Section 4):
//
//	c  = C 2^f
//	l2 = min( c + sqrt(d), sqrt(c^2 + d/4 + sqrt(2 log(1/beta)) (c + sqrt(d)/2)) )
//	l1 = l2 min(sqrt(d), l2)
//
// The first branch of l2 holds for any rounding (each coordinate moves by
// less than 1); the second is the bound that conditional rounding enforces by
// resampling. l1 uses |x_i| <= x_i^2 for integers and Cauchy-Schwarz.
func (m *Mechanism) RingSensitivity(d int) (l1, l2 float64) {
	c := m.Clip * math.Ldexp(1, int(m.FracBits))
	fd := float64(d)
	l2 = c + math.Sqrt(fd)
	sq := c*c + fd/4 + math.Sqrt(2*math.Log(1/m.beta()))*(c+math.Sqrt(fd)/2)
	l2 = math.Min(l2, math.Sqrt(sq))
	return l2 * math.Min(math.Sqrt(fd), l2), l2
}

// RingVariance is the aggregate Skellam variance mu = (z l2)^2 in ring units
// for a d-dimensional update; each share carries mu/t.
func (m *Mechanism) RingVariance(d int) float64 {
	_, l2 := m.RingSensitivity(d)
	return m.NoiseMultiplier * m.NoiseMultiplier * l2 * l2
}

// QuantizeRing32 clips update (in place) and encodes it into dst in Z_2^32 at
// scale 2^FracBits with conditional randomized rounding: unbiased stochastic
// rounding ([kernels.EncodeStochastic32], seeded from rng) repeated until the
// rounded vector's L2 norm is within the l2 of [Mechanism.RingSensitivity],
// so that bound is a true sensitivity. Values beyond the int32 range
// saturate: choose FracBits so that C 2^f plus the noise and the sum
// headroom fit (see [Mechanism.RingVariance], [kernels.HeadroomBits]).
func (m *Mechanism) QuantizeRing32(dst []uint32, update []float32, rng io.Reader) error {
	return quantize(m, len(dst), update, rng, func(seed [32]byte) float64 {
		kernels.EncodeStochastic32(dst, update, m.FracBits, seed)
		s := 0.0
		for _, v := range dst {
			x := float64(int32(v))
			s += x * x
		}
		return s
	})
}

// QuantizeRing64 is [Mechanism.QuantizeRing32] for Z_2^64.
func (m *Mechanism) QuantizeRing64(dst []uint64, update []float32, rng io.Reader) error {
	return quantize(m, len(dst), update, rng, func(seed [32]byte) float64 {
		kernels.EncodeStochastic64(dst, update, m.FracBits, seed)
		s := 0.0
		for _, v := range dst {
			x := float64(int64(v))
			s += x * x
		}
		return s
	})
}

func quantize(m *Mechanism, n int, update []float32, rng io.Reader, encode func([32]byte) float64) error {
	if n != len(update) {
		return fmt.Errorf("%w: %d ring elements for %d coordinates", ErrInvalid, n, len(update))
	}
	if m.Noise != Skellam {
		return fmt.Errorf("%w: ring encoding needs Skellam, mechanism is %v", ErrMode, m.Noise)
	}
	if _, err := m.ClipUpdate(update); err != nil {
		return err
	}
	_, l2 := m.RingSensitivity(n)
	bound := l2 * l2
	var seed [32]byte
	for range maxRoundingTries {
		if _, err := io.ReadFull(rng, seed[:]); err != nil {
			return fmt.Errorf("%w: %w", ErrRandom, err)
		}
		if encode(seed) <= bound {
			return nil
		}
	}
	return ErrRounding
}

// AddNoiseRing32 adds this node's Skellam share (variance mu/t, mu from
// [Mechanism.RingVariance] for d = len(q)) to every element of the encoded
// update q, wrapping in Z_2^32 like the secure sum does.
func (m *Mechanism) AddNoiseRing32(q []uint32, rng io.Reader) error {
	return m.ringNoise(len(q), rng, func(i int, k int64) { q[i] += uint32(k) })
}

// AddNoiseRing64 is [Mechanism.AddNoiseRing32] for Z_2^64.
func (m *Mechanism) AddNoiseRing64(q []uint64, rng io.Reader) error {
	return m.ringNoise(len(q), rng, func(i int, k int64) { q[i] += uint64(k) })
}

func (m *Mechanism) ringNoise(n int, rng io.Reader, add func(int, int64)) error {
	if err := m.Validate(); err != nil {
		return err
	}
	if m.Noise != Skellam {
		return fmt.Errorf("%w: ring noise needs Skellam, mechanism is %v", ErrMode, m.Noise)
	}
	share := m.RingVariance(n) / float64(m.MinContributors)
	if share == 0 {
		return nil
	}
	if share > 2*maxPoissonMean {
		return fmt.Errorf("%w: share variance %.3g too large (lower FracBits)", ErrInvalid, share)
	}
	src := newSource(rng)
	for i := range n {
		k, err := src.skellam(share)
		if err != nil {
			return err
		}
		add(i, k)
	}
	return nil
}

// Curve returns the per-round RDP of this mechanism at the given orders for
// d-dimensional updates when each node takes part in a round with
// probability q (1 when every node is asked every round), ready for
// [Accountant.Compose]. Gaussian: the sampled Gaussian mechanism with
// multiplier z. Skellam: [SkellamCurve] with the ring sensitivities and
// variance, which accounts for scaling, rounding and the clipping inflation.
// The curve holds for any number of contributors m >= MinContributors.
func (m *Mechanism) Curve(orders []float64, q float64, d int) ([]float64, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	if m.Noise == Gaussian {
		return SampledGaussianCurve(orders, q, m.NoiseMultiplier)
	}
	if d < 1 {
		return nil, fmt.Errorf("%w: dimension %d", ErrInvalid, d)
	}
	l1, l2 := m.RingSensitivity(d)
	return SkellamCurve(orders, q, l1, l2, m.RingVariance(d))
}
