package kernels

// Naive reference implementations used by the differential tests. They are
// written for obviousness, not speed: exact big-integer arithmetic for the
// fixed-point codecs, block-by-block AES for CTR mode, bit-by-bit packing.

import (
	"crypto/aes"
	"crypto/sha256"
	"encoding/binary"
	"math"
	"math/big"
)

// refExact returns v * 2^frac exactly as a big.Rat (v finite).
func refExact(v float32, frac uint) *big.Rat {
	r := new(big.Rat)
	r.SetFloat64(float64(v))
	p := new(big.Int).Lsh(big.NewInt(1), frac)
	return r.Mul(r, new(big.Rat).SetInt(p))
}

// refSaturate clamps z to the signed range of a bits-wide ring and returns it
// as a two's complement ring element.
func refSaturate(z *big.Int, bitsN uint) uint64 {
	hi := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), bitsN-1), big.NewInt(1))
	lo := new(big.Int).Neg(new(big.Int).Lsh(big.NewInt(1), bitsN-1))
	if z.Cmp(hi) > 0 {
		z = hi
	}
	if z.Cmp(lo) < 0 {
		z = lo
	}
	mod := new(big.Int).Lsh(big.NewInt(1), bitsN)
	u := new(big.Int).Mod(z, mod) // Mod is Euclidean: result in [0, mod)
	return u.Uint64()
}

// refEncodeNearest rounds v*2^frac to the nearest integer, ties to even,
// saturating to the bitsN-bit signed range; NaN gives 0.
func refEncodeNearest(v float32, frac, bitsN uint) uint64 {
	if v != v {
		return 0
	}
	if math.IsInf(float64(v), 0) {
		if v > 0 {
			return refSaturate(new(big.Int).Lsh(big.NewInt(1), 200), bitsN)
		}
		return refSaturate(new(big.Int).Neg(new(big.Int).Lsh(big.NewInt(1), 200)), bitsN)
	}
	x := refExact(v, frac)
	// floor(x) and the remainder x - floor(x) in [0, 1).
	q := new(big.Int).Div(x.Num(), x.Denom()) // Euclidean: floor for positive denominators
	rem := new(big.Rat).Sub(x, new(big.Rat).SetInt(q))
	half := big.NewRat(1, 2)
	switch c := rem.Cmp(half); {
	case c > 0:
		q.Add(q, big.NewInt(1))
	case c == 0 && q.Bit(0) == 1:
		q.Add(q, big.NewInt(1))
	}
	return refSaturate(q, bitsN)
}

// refDecode returns the float32 nearest to int(u) / 2^frac, reading u as a
// bitsN-bit two's complement integer.
func refDecode(u uint64, frac, bitsN uint) float32 {
	z := new(big.Int).SetUint64(u)
	if u>>(bitsN-1)&1 == 1 {
		z.Sub(z, new(big.Int).Lsh(big.NewInt(1), bitsN))
	}
	r := new(big.Rat).SetFrac(z, new(big.Int).Lsh(big.NewInt(1), frac))
	f, _ := r.Float32()
	return f
}

// refRandomWords returns the first n 32-bit rounding words for seed: the
// AES-128-CTR keystream under SHA-256(label || seed), computed block by block.
func refRandomWords(seed [32]byte, n int) []uint32 {
	h := sha256.Sum256(append([]byte(stochasticDomain), seed[:]...))
	ks := refKeystream(h[:16], h[16:], n*4)
	out := make([]uint32, n)
	for i := range out {
		out[i] = binary.LittleEndian.Uint32(ks[4*i:])
	}
	return out
}

// refEncodeStochastic rounds |v|*2^frac = q + p up with probability p (to
// within 2^-32): up iff r < floor(p * 2^32). Then the sign and saturation.
func refEncodeStochastic(v float32, frac, bitsN uint, r uint32) uint64 {
	if v != v {
		return 0
	}
	neg := math.Signbit(float64(v))
	if math.IsInf(float64(v), 0) {
		return refEncodeNearest(v, frac, bitsN)
	}
	a := float32(math.Abs(float64(v)))
	x := refExact(a, frac)
	q := new(big.Int).Div(x.Num(), x.Denom())
	p := new(big.Rat).Sub(x, new(big.Rat).SetInt(q))
	p.Mul(p, new(big.Rat).SetInt(new(big.Int).Lsh(big.NewInt(1), 32)))
	t := new(big.Int).Div(p.Num(), p.Denom())
	if big.NewInt(int64(r)).Cmp(t) < 0 {
		q.Add(q, big.NewInt(1))
	}
	if neg {
		q.Neg(q)
	}
	return refSaturate(q, bitsN)
}

// refKeystream returns n bytes of AES-128-CTR keystream for key and the
// initial counter block iv, incrementing the counter as a 128-bit big-endian
// integer, one block at a time.
func refKeystream(key, iv []byte, n int) []byte {
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(err)
	}
	ctr := make([]byte, 16)
	copy(ctr, iv)
	out := make([]byte, 0, n+16)
	buf := make([]byte, 16)
	for len(out) < n {
		block.Encrypt(buf, ctr)
		out = append(out, buf...)
		for j := 15; j >= 0; j-- {
			ctr[j]++
			if ctr[j] != 0 {
				break
			}
		}
	}
	return out[:n]
}

// refMaskWords splits a seed as the mask kernels do and returns n keystream
// bytes.
func refMaskKeystream(seed []byte, n int) []byte {
	iv := make([]byte, 16)
	if len(seed) == 32 {
		iv = seed[16:]
	}
	return refKeystream(seed[:16], iv, n)
}

// refPack packs bit by bit.
func refPack(src []uint64, k uint) []byte {
	out := make([]byte, (len(src)*int(k)+7)/8)
	for i, v := range src {
		for j := uint(0); j < k; j++ {
			if v>>j&1 == 1 {
				pos := i*int(k) + int(j)
				out[pos/8] |= 1 << (pos % 8)
			}
		}
	}
	return out
}

// refUnpack unpacks bit by bit (no validation).
func refUnpack(src []byte, n int, k uint) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		for j := uint(0); j < k; j++ {
			pos := i*int(k) + int(j)
			if src[pos/8]>>(pos%8)&1 == 1 {
				out[i] |= 1 << j
			}
		}
	}
	return out
}

// refSumSquares returns sum x_i^2 exactly, as a big.Float.
func refDotExact(x, y []float32) *big.Float {
	s := new(big.Float).SetPrec(4096)
	for i := range x {
		p := new(big.Float).SetPrec(4096).SetFloat64(float64(x[i]))
		p.Mul(p, new(big.Float).SetPrec(4096).SetFloat64(float64(y[i])))
		s.Add(s, p)
	}
	return s
}
