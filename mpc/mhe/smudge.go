package mhe

import (
	"math"
	"math/rand/v2"

	"github.com/tuneinsight/lattigo/v6/ring"
)

// smudger draws the smudging (noise-flooding) noise a decryptor adds to its
// decryption share.
//
// lattigo's Gaussian sampler scales a ziggurat sample with 31 bits of
// resolution by sigma, so at sigma = 2^58 its outputs lie on a grid with gaps
// of about 2^27: such a distribution does not hide a ciphertext noise of a few
// thousand. Instead a sample is composed as y0 + 2^k y1 + 2^(2k) y2 from three
// rounded Gaussians of width sigma0 <= 2^26, whose grids are far below one.
// By the convolution theorem for discrete Gaussians (Peikert, CRYPTO 2010;
// Micciancio and Walter, CRYPTO 2017) the sum is statistically close to a
// discrete Gaussian of width sigma0 * sqrt(1 + 4^k + 4^(2k)) as long as
// sigma0 exceeds the smoothing parameter of 2^k Z, which params.initSmudge
// enforces with a factor of two to spare.
//
// The randomness is ChaCha8 (math/rand/v2, a cryptographically strong
// generator) keyed with 32 bytes from the state machine's injected reader.
type smudger struct {
	p   *params
	rng *rand.Rand
}

func newSmudger(p *params, seed [32]byte) *smudger {
	return &smudger{p: p, rng: rand.New(rand.NewChaCha8(seed))}
}

// sample writes a fresh noise polynomial into dst (coefficient domain, Q
// primes 0..p.level).
func (s *smudger) sample(dst ring.Poly) {
	p := s.p
	for i := range p.n {
		var y [smudgeLevels]int64
		for l := range y {
			y[l] = int64(math.Round(p.sigma0 * s.rng.NormFloat64()))
		}
		for k, q := range p.lit.Q {
			pow := p.smudgePow[k]
			var acc uint64
			for l, v := range y {
				r := signedMod(v, q)
				if l > 0 {
					r = pow[l].mulReduced(r, q)
				}
				acc += r
				if acc >= q {
					acc -= q
				}
			}
			dst.Coeffs[k][i] = acc
		}
	}
}

// signedMod maps a small signed integer (|v| < q) to [0, q).
func signedMod(v int64, q uint64) uint64 {
	if v < 0 {
		return q - uint64(-v)
	}
	return uint64(v)
}
