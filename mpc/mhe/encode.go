package mhe

import (
	"math"
	"math/bits"

	"github.com/tuneinsight/lattigo/v6/ring"
)

// Plaintext layout. A chunk of V = N * F values (F = LogT / b values of b
// bits per coefficient) is laid out field-major: value v goes to coefficient
// v mod N, field v / N. Field f of a coefficient occupies bits [f*b, (f+1)*b)
// of the LogT-bit integer the coefficient encodes. Each quantised value x is
// clamped to |x| <= C = floor((2^(b-1) - 1) / n) for a round of n
// participants (see clampBound) and stored offset-binary as x + C in [0, 2C].
// The sum over at most n contributors stays below 2^b, so fields never carry
// into each other and the plaintext sum modulo T is the field-wise integer
// sum of the offset values; the decoder subtracts (contributors * C).

// fields returns the number of b-bit fields per coefficient.
func (p *params) fields(b uint) int { return p.lit.LogT / int(b) }

// embed writes the BGV plaintext of one chunk into dst (coefficient domain,
// Q primes 0..p.level): coefficient i encodes M_i = sum_f (vals[f*N+i] + off)
// * 2^(f*b), embedded as M_i * T^-1 mod q for every prime q (the LSB
// encoding: decryption multiplies by T and reduces modulo T). vals shorter
// than a chunk are padded with zeros; they are two's complement int32. scratch
// is reused between calls.
func (p *params) embed(dst ring.Poly, vals []uint32, off int32, b uint, scratch *[]uint64) {
	n := p.n
	if cap(*scratch) < p.words*n {
		*scratch = make([]uint64, p.words*n)
	}
	words := (*scratch)[:p.words*n]
	clear(words)
	perWord := 64 / int(b)
	mask := uint64(1)<<b - 1
	for fi := range p.fields(b) {
		j := fi / perWord
		sh := uint(fi%perWord) * b
		w := words[j*n : (j+1)*n]
		lo := min(fi*n, len(vals))
		src := vals[lo:min(lo+n, len(vals))]
		for i, x := range src {
			w[i] |= (uint64(x+uint32(off)) & mask) << sh
		}
		pad := (uint64(uint32(off)) & mask) << sh
		for i := len(src); i < n; i++ {
			w[i] |= pad
		}
	}
	for k, q := range p.lit.Q {
		out := dst.Coeffs[k][:n]
		row := p.enc[k]
		if p.words == 1 || p.words > 8 || q >= 1<<59 {
			c := row[0]
			for i, x := range words[:n] {
				out[i] = c.mulReduced(x, q)
			}
			for j := 1; j < p.words; j++ {
				c := row[j]
				for i, x := range words[j*n : (j+1)*n] {
					r := out[i] + c.mulReduced(x, q)
					out[i] = min(r, r-q)
				}
			}
			continue
		}
		// Lazy: each Shoup product is in [0, 2q); at most 8 of them sum below
		// 16q < 2^64 (q < 2^59), reduced once per coefficient.
		q2, q4, q8 := 2*q, 4*q, 8*q
		for i := range out {
			var acc uint64
			for j, c := range row {
				acc += c.mul(words[j*n+i], q)
			}
			acc = min(acc, acc-q8)
			acc = min(acc, acc-q4)
			acc = min(acc, acc-q2)
			out[i] = min(acc, acc-q)
		}
	}
}

// extract decodes one decrypted chunk. src holds, in the coefficient domain
// and for primes 0..p.level, x = M * T^-1 + E mod Q. For each coefficient it
// computes z = M + T*E as the centred CRT lift of T*x (the rounding of
// sum_i a_i / q_i to the nearest integer is exact while |z| < Q/2 - Q*2^-50,
// which the noise budget guarantees), keeps z mod 2^LogT = M, and writes the
// field values of M into out (field-major, len(out) <= N*F).
func (p *params) extract(out []uint64, src ring.Poly, b uint) {
	n := p.n
	f := p.fields(b)
	perWord := 64 / int(b)
	mask := uint64(1)<<b - 1
	var w [16]uint64
	acc := w[:p.words]
	for i := range n {
		clear(acc)
		var frac float64
		for k, q := range p.lit.Q {
			a := p.dec[k].mulReduced(src.Coeffs[k][i], q)
			frac += float64(a) * p.invQ[k]
			mulAddWords(acc, a, p.qHatModT[k])
		}
		alpha := uint64(math.Round(frac))
		mulAddWords(acc, alpha, p.qNegModT)
		for fi := range f {
			idx := fi*n + i
			if idx >= len(out) {
				break
			}
			out[idx] = (acc[fi/perWord] >> (uint(fi%perWord) * b)) & mask
		}
	}
}

// mulAddWords sets acc = acc + a*c modulo 2^(64*len(acc)).
func mulAddWords(acc []uint64, a uint64, c []uint64) {
	var carry uint64
	for j := range acc {
		hi, lo := bits.Mul64(a, c[j])
		var cc uint64
		lo, cc = bits.Add64(lo, carry, 0)
		hi += cc
		acc[j], cc = bits.Add64(acc[j], lo, 0)
		carry = hi + cc
	}
}
