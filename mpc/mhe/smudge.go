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
	y   [smudgeLevels][]int64
}

func newSmudger(p *params, seed [32]byte) *smudger {
	s := &smudger{p: p, rng: rand.New(rand.NewChaCha8(seed))}
	for l := range s.y {
		s.y[l] = make([]int64, p.n)
	}
	return s
}

// sample writes a fresh noise polynomial into dst (coefficient domain, Q
// primes 0..p.level).
func (s *smudger) sample(dst ring.Poly) {
	p := s.p
	for i := range p.n {
		for l := range s.y {
			s.y[l][i] = int64(math.Round(p.sigma0 * s.rng.NormFloat64()))
		}
	}
	// x = y0 + 2^k * (y1 + 2^k * y2); the inner sum fits an int64 easily
	// (|y| < 2^31), so each prime needs one constant multiplication.
	y0, y1, y2 := s.y[0], s.y[1], s.y[2]
	for i := range y1 {
		y1[i] += y2[i] << p.smudgeShift
	}
	for k, q := range p.lit.Q {
		out := dst.Coeffs[k][:p.n]
		pow := p.smudgePow[k][1]
		for i, v := range y1 {
			r := signedMod(y0[i], q) + pow.mulReduced(signedMod(v, q), q)
			out[i] = min(r, r-q)
		}
	}
}

// signedMod maps a small signed integer (|v| < q) to [0, q).
func signedMod(v int64, q uint64) uint64 {
	return uint64(v) + q&uint64(v>>63) // branch-free: adds q when v < 0
}
