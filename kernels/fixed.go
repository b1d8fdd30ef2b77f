package kernels

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"math"
	"math/bits"
)

// maxFrac bounds the scale exponent used internally: 2^maxFrac already
// saturates every non-zero float32 in both rings, and keeping the exponent
// small keeps math.Ldexp finite.
const maxFrac = 400

// scaleOf returns 2^frac as a float64, with frac capped at maxFrac.
func scaleOf(frac uint) float64 {
	return math.Ldexp(1, int(min(frac, maxFrac)))
}

// EncodeNearest32 encodes src into the ring Z_2^32 with scale 2^frac and
// round-to-nearest (ties to even): dst[i] = round(src[i] * 2^frac) as a
// two's complement int32. Values outside [-2^31, 2^31-1] after scaling
// (including ±Inf) saturate to the nearest end of that range; NaN encodes
// to 0. The absolute error of an in-range value, measured after decoding,
// is at most 2^-(frac+1). dst and src must have the same length.
func EncodeNearest32(dst []uint32, src []float32, frac uint) {
	mustSameLen(len(dst), len(src))
	scale := scaleOf(frac)
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = uint32(nearest32(float64(v) * scale))
	}
}

// nearest32 rounds x to the nearest int32, saturating; NaN gives 0.
func nearest32(x float64) int32 {
	r := math.RoundToEven(x)
	switch {
	case r >= math.MaxInt32:
		return math.MaxInt32
	case r <= math.MinInt32:
		return math.MinInt32
	case r == r:
		return int32(r)
	}
	return 0
}

// EncodeNearest64 is [EncodeNearest32] for the ring Z_2^64: values outside
// [-2^63, 2^63-1] after scaling saturate.
func EncodeNearest64(dst []uint64, src []float32, frac uint) {
	mustSameLen(len(dst), len(src))
	scale := scaleOf(frac)
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = uint64(nearest64(float64(v) * scale))
	}
}

// nearest64 rounds x to the nearest int64, saturating; NaN gives 0.
func nearest64(x float64) int64 {
	r := math.RoundToEven(x)
	switch {
	case r >= 0x1p63:
		return math.MaxInt64
	case r <= -0x1p63:
		return math.MinInt64
	case r == r:
		return int64(r)
	}
	return 0
}

// Decode32 decodes ring elements of Z_2^32, read as two's complement int32,
// with scale 2^frac: dst[i] = float32(int32(src[i]) / 2^frac), rounded once
// to the nearest float32. dst and src must have the same length.
func Decode32(dst []float32, src []uint32, frac uint) {
	mustSameLen(len(dst), len(src))
	inv := 1 / scaleOf(frac)
	dst = dst[:len(src)]
	for i, u := range src {
		dst[i] = float32(float64(int32(u)) * inv)
	}
}

// Decode64 is [Decode32] for Z_2^64: elements are read as int64.
func Decode64(dst []float32, src []uint64, frac uint) {
	mustSameLen(len(dst), len(src))
	dst = dst[:len(src)]
	if frac <= 126 {
		// float32(int64) is correctly rounded and scaling a float32 by a
		// power of two within the normal range is exact, so this is
		// one rounding (results below 2^-126 may round again as subnormals).
		inv := float32(math.Ldexp(1, -int(frac)))
		for i, u := range src {
			dst[i] = float32(int64(u)) * inv
		}
		return
	}
	inv := 1 / scaleOf(frac)
	for i, u := range src {
		dst[i] = float32(float64(int64(u)) * inv)
	}
}

// HeadroomBits returns ceil(log2 n), the number of bits to reserve above the
// encoded magnitude so that the sum of n encoded values cannot wrap around
// the ring (0 for n <= 1).
func HeadroomBits(n int) uint {
	if n <= 1 {
		return 0
	}
	return uint(bits.Len(uint(n - 1)))
}

// stochasticDomain separates the rounding keystream from every other use of
// a caller's seed (mask expansion in particular).
const stochasticDomain = "consort/kernels/stochastic-rounding/v1"

// stochasticStream returns the AES-128-CTR stream that supplies the rounding
// randomness for seed: key and IV are the two halves of
// SHA-256(stochasticDomain || seed).
func stochasticStream(seed *[32]byte) cipher.Stream {
	h := sha256.New()
	h.Write([]byte(stochasticDomain))
	h.Write(seed[:])
	var kiv [32]byte
	h.Sum(kiv[:0])
	block, err := aes.NewCipher(kiv[:16])
	if err != nil {
		panic("kernels: aes.NewCipher rejected a 16-byte key")
	}
	return cipher.NewCTR(block, kiv[16:])
}

// stochasticMagnitude rounds |v| * 2^frac stochastically to an integer: up
// with probability equal to the fractional part (to within 2^-64), down
// otherwise, using the 64 random bits r. It returns the rounded magnitude,
// saturated at 1<<63 (larger values are reported as 1<<63 too), and whether
// v is negative. NaN is reported as magnitude 0.
func stochasticMagnitude(v float32, frac uint, r uint64) (mag uint64, neg bool) {
	b := math.Float32bits(v)
	neg = b>>31 != 0
	exp := int((b >> 23) & 0xff)
	m := uint64(b & 0x7fffff)
	switch exp {
	case 0xff:
		if m != 0 {
			return 0, false // NaN
		}
		return 1 << 63, neg // ±Inf
	case 0:
		exp = 1 // subnormal: no implicit bit
	default:
		m |= 1 << 23
	}
	// |v| = m * 2^(exp-150), so |v| * 2^frac = m * 2^s.
	s := int64(exp) - 150 + int64(min(frac, maxFrac))
	if s >= 0 {
		if m == 0 {
			return 0, neg
		}
		if s >= 64 || bits.Len64(m)+int(s) > 63 { // m<<s >= 2^63
			return 1 << 63, neg
		}
		return m << uint(s), neg
	}
	sh := uint(-s)
	var q, t uint64 // integer part and 64-bit threshold for the fraction
	switch {
	case sh < 64:
		q = m >> sh
		t = (m & (1<<sh - 1)) << (64 - sh)
	case sh < 64+24:
		t = m >> (sh - 64) // fraction below 2^-40: truncated to 64 bits
	}
	if r < t {
		q++
	}
	return q, neg
}

// signedSat32 applies the sign to a magnitude and saturates to int32.
func signedSat32(mag uint64, neg bool) uint32 {
	if neg {
		if mag >= 1<<31 {
			return 1 << 31 // MinInt32
		}
		return uint32(-int32(mag))
	}
	if mag >= 1<<31-1 {
		return 1<<31 - 1
	}
	return uint32(mag)
}

// signedSat64 applies the sign to a magnitude and saturates to int64.
func signedSat64(mag uint64, neg bool) uint64 {
	if neg {
		if mag >= 1<<63 {
			return 1 << 63 // MinInt64
		}
		return uint64(-int64(mag))
	}
	if mag >= 1<<63-1 {
		return 1<<63 - 1
	}
	return mag
}

// randChunk is the number of 64-bit random words drawn from the keystream at
// once by the stochastic encoders.
const randChunk = 1024

// EncodeStochastic32 encodes src into Z_2^32 with scale 2^frac and unbiased
// stochastic rounding: src[i] * 2^frac = q + p with q an integer and p in
// [0, 1) is rounded to q + 1 with probability p and to q otherwise, so the
// expected decoded value is src[i] and the absolute error is below 2^-frac.
// Saturation and NaN are handled as in [EncodeNearest32].
//
// The randomness is deterministic for seed: element i consumes the 64-bit
// little-endian word i of an AES-128-CTR keystream whose key and IV are
// derived from seed with SHA-256 under a label of this function, so the same
// seed gives the same encoding on every platform and for every chunking, and
// reusing a mask seed here does not correlate the rounding with the mask.
// The probability of rounding up matches p to within 2^-64.
func EncodeStochastic32(dst []uint32, src []float32, frac uint, seed [32]byte) {
	mustSameLen(len(dst), len(src))
	stream := stochasticStream(&seed)
	var zero [randChunk * 8]byte
	rnd := make([]uint64, randChunk)
	dst = dst[:len(src)]
	for start := 0; start < len(src); start += randChunk {
		n := min(randChunk, len(src)-start)
		fillRandom(stream, rnd[:n], zero[:n*8])
		for i, v := range src[start : start+n] {
			mag, neg := stochasticMagnitude(v, frac, rnd[i])
			dst[start+i] = signedSat32(mag, neg)
		}
	}
}

// EncodeStochastic64 is [EncodeStochastic32] for Z_2^64. The same seed draws
// the same random words in both, so the two encodings agree wherever neither
// saturates.
func EncodeStochastic64(dst []uint64, src []float32, frac uint, seed [32]byte) {
	mustSameLen(len(dst), len(src))
	stream := stochasticStream(&seed)
	var zero [randChunk * 8]byte
	rnd := make([]uint64, randChunk)
	dst = dst[:len(src)]
	for start := 0; start < len(src); start += randChunk {
		n := min(randChunk, len(src)-start)
		fillRandom(stream, rnd[:n], zero[:n*8])
		for i, v := range src[start : start+n] {
			mag, neg := stochasticMagnitude(v, frac, rnd[i])
			dst[start+i] = signedSat64(mag, neg)
		}
	}
}

// fillRandom sets rnd to the next len(rnd) little-endian 64-bit words of the
// keystream; zero must hold len(rnd)*8 zero bytes.
func fillRandom(stream cipher.Stream, rnd []uint64, zero []byte) {
	if littleEndian {
		stream.XORKeyStream(bytesOf64(rnd), zero)
		return
	}
	var buf [8]byte
	for i := range rnd {
		stream.XORKeyStream(buf[:], zero[:8])
		rnd[i] = binary.LittleEndian.Uint64(buf[:])
	}
}
