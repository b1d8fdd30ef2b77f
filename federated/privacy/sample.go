package privacy

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// source turns an io.Reader into uniform variates. It reads in blocks, so a
// cryptographic reader is called rarely.
type source struct {
	r     io.Reader
	buf   [512]byte
	off   int
	spare float64 // second normal of the last polar pair
	has   bool
}

func newSource(r io.Reader) *source {
	s := &source{r: r}
	s.off = len(s.buf)
	return s
}

func (s *source) uint64() (uint64, error) {
	if s.off+8 > len(s.buf) {
		if _, err := io.ReadFull(s.r, s.buf[:]); err != nil {
			return 0, fmt.Errorf("%w: %w", ErrRandom, err)
		}
		s.off = 0
	}
	v := binary.LittleEndian.Uint64(s.buf[s.off:])
	s.off += 8
	return v, nil
}

// float64 returns a uniform variate in [0, 1) with 53 random bits.
func (s *source) float64() (float64, error) {
	v, err := s.uint64()
	return float64(v>>11) * 0x1p-53, err
}

// open returns a uniform variate in (0, 1).
func (s *source) open() (float64, error) {
	v, err := s.uint64()
	return (float64(v>>11) + 0.5) * 0x1p-53, err
}

// normal returns a standard normal variate (Marsaglia's polar method,
// which yields two independent variates per accepted pair).
func (s *source) normal() (float64, error) {
	if s.has {
		s.has = false
		return s.spare, nil
	}
	for {
		u, err := s.float64()
		if err != nil {
			return 0, err
		}
		v, err := s.float64()
		if err != nil {
			return 0, err
		}
		u, v = 2*u-1, 2*v-1
		r := u*u + v*v
		if r > 0 && r < 1 {
			f := math.Sqrt(-2 * math.Log(r) / r)
			s.spare, s.has = v*f, true
			return u * f, nil
		}
	}
}

// maxPoissonMean bounds the Poisson means we sample: k stays an exact
// float64 integer and the variance fits comfortably in 64-bit rings.
const maxPoissonMean = 1 << 52

// poisson draws from Poisson(mean). Means below 10 use inversion by
// sequential search from P(0) = e^-mean (exact up to float64 rounding of the
// cumulative probabilities, at most ~30 steps). Larger means use PTRS, the
// transformed rejection sampler with squeeze of Hormann, "The transformed
// rejection method for generating Poisson random variables" (Insurance:
// Mathematics and Economics 12, 1993): a candidate k is drawn from a
// hat built on a transformed uniform, accepted at once inside the squeeze
// region, and otherwise accepted iff V * hat(k) <= P(k). Rejection makes the
// output exactly Poisson distributed as long as P(k) is evaluated exactly;
// we evaluate log P(k) with Loader's saddle-point form (bd0 and stirlerr,
// "Fast and Accurate Computation of Binomial Probabilities", 2000), which
// keeps a relative error near 1e-15 even for means around 1e12, where the
// naive -mean + k log mean - lgamma(k+1) loses about six digits to
// cancellation. The expected cost is O(1) per sample, about 2.3 uniforms.
func (s *source) poisson(mean float64) (int64, error) {
	switch {
	case !(mean >= 0) || mean > maxPoissonMean:
		return 0, fmt.Errorf("%w: Poisson mean %v outside [0, 2^52]", ErrInvalid, mean)
	case mean == 0:
		return 0, nil
	case mean < 10:
		u, err := s.float64()
		if err != nil {
			return 0, err
		}
		p := math.Exp(-mean)
		cdf := p
		var k int64
		for u >= cdf && k < 1000 {
			k++
			p *= mean / float64(k)
			cdf += p
			if p == 0 {
				break
			}
		}
		return k, nil
	}
	slam := math.Sqrt(mean)
	b := 0.931 + 2.53*slam
	a := -0.059 + 0.02483*b
	invAlpha := 1.1239 + 1.1328/(b-3.4)
	vr := 0.9277 - 3.6224/(b-2)
	for {
		u, err := s.float64()
		if err != nil {
			return 0, err
		}
		v, err := s.open()
		if err != nil {
			return 0, err
		}
		u -= 0.5
		us := 0.5 - math.Abs(u)
		k := math.Floor((2*a/us+b)*u + mean + 0.43)
		if us >= 0.07 && v <= vr {
			return int64(k), nil
		}
		if k < 0 || (us < 0.013 && v > us) {
			continue
		}
		if math.Log(v)+math.Log(invAlpha)-math.Log(a/(us*us)+b) <= logPoissonPMF(k, mean) {
			return int64(k), nil
		}
	}
}

// logPoissonPMF is log(e^-mean mean^k / k!) for integer k >= 0, in Loader's
// form -stirlerr(k) - bd0(k, mean) - log(2 pi k)/2.
func logPoissonPMF(k, mean float64) float64 {
	if k == 0 {
		return -mean
	}
	return -stirlerr(k) - bd0(k, mean) - 0.5*math.Log(2*math.Pi*k)
}

// stirlerr(n) = log(n!) - log(sqrt(2 pi n) (n/e)^n), the error of Stirling's
// formula, by its asymptotic series for n > 15 and directly below.
func stirlerr(n float64) float64 {
	if n <= 15 {
		lg, _ := math.Lgamma(n + 1)
		return lg - (n+0.5)*math.Log(n) + n - 0.5*math.Log(2*math.Pi)
	}
	const (
		s0 = 1.0 / 12
		s1 = 1.0 / 360
		s2 = 1.0 / 1260
		s3 = 1.0 / 1680
		s4 = 1.0 / 1188
	)
	nn := n * n
	switch {
	case n > 500:
		return (s0 - s1/nn) / n
	case n > 80:
		return (s0 - (s1-s2/nn)/nn) / n
	case n > 35:
		return (s0 - (s1-(s2-s3/nn)/nn)/nn) / n
	}
	return (s0 - (s1-(s2-(s3-s4/nn)/nn)/nn)/nn) / n
}

// bd0(x, np) = x log(x/np) + np - x, the deviance term, computed without
// cancellation when x is close to np by the series
// (x-np)^2/(x+np) * sum_j 2 v^(2j) / (2j+1) with v = (x-np)/(x+np).
func bd0(x, np float64) float64 {
	if math.Abs(x-np) < 0.1*(x+np) {
		v := (x - np) / (x + np)
		s := (x - np) * v
		ej := 2 * x * v
		v *= v
		for j := 1; j < 1000; j++ {
			ej *= v
			s1 := s + ej/float64(2*j+1)
			if s1 == s {
				return s1
			}
			s = s1
		}
		return s
	}
	return x*math.Log(x/np) + np - x
}

// skellam draws from the symmetric Skellam distribution of the given
// variance: Poisson(variance/2) - Poisson(variance/2).
func (s *source) skellam(variance float64) (int64, error) {
	a, err := s.poisson(variance / 2)
	if err != nil {
		return 0, err
	}
	b, err := s.poisson(variance / 2)
	return a - b, err
}
