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
	encodeNearest32(dst, src, frac)
}

// encodeNearest32Go is the portable EncodeNearest32.
func encodeNearest32Go(dst []uint32, src []float32, frac uint) {
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
	decode32(dst, src, frac)
}

// decode32Go is the portable Decode32.
func decode32Go(dst []float32, src []uint32, frac uint) {
	inv := 1 / scaleOf(frac)
	dst = dst[:len(src)]
	for i, u := range src {
		dst[i] = float32(float64(int32(u)) * inv)
	}
}

// Decode64 is [Decode32] for Z_2^64: elements are read as int64, and the
// result is the float32 nearest to int64(src[i]) / 2^frac.
func Decode64(dst []float32, src []uint64, frac uint) {
	mustSameLen(len(dst), len(src))
	inv := 1 / scaleOf(frac)
	dst = dst[:len(src)]
	for i, u := range src {
		dst[i] = float32(int64ToFloat64Sticky(int64(u)) * inv)
	}
}

// int64ToFloat64Sticky converts i to a float64 that rounds to the same
// float32 as i itself: exactly when |i| < 2^53, and otherwise by keeping the
// top 53 bits and folding the discarded ones into a sticky lowest bit, which
// lies far below the float32 rounding position. Converting through float64
// without it would round twice, and the compiler's direct int64 to float32
// conversion is not correctly rounded on every port (386).
func int64ToFloat64Sticky(i int64) float64 {
	if -1<<53 < i && i < 1<<53 {
		return float64(i)
	}
	m := uint64(i)
	neg := i < 0
	if neg {
		m = -m
	}
	sh := uint(bits.Len64(m)) - 53
	t := m >> sh
	if m&(1<<sh-1) != 0 {
		t |= 1
	}
	f := math.Ldexp(float64(t), int(sh))
	if neg {
		f = -f
	}
	return f
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

// stochastic32 encodes one chunk: src[i] is rounded with the random word
// rnd[i] (see [EncodeStochastic32]). The loop is branch-free except for the
// rare out-of-range or NaN element: the coin flip r < t, taken half the time
// on typical data, is computed as the sign bit of r - t. The sign is read
// from x rather than v so that v is dead after its conversion, which lets
// the compiler convert in place and avoids a false register dependency
// between iterations.
func stochastic32(dst []uint32, src []float32, scale float64, rnd []uint32) {
	rnd = rnd[:len(src)]
	dst = dst[:len(src)]
	for i, v := range src {
		x := float64(v) * scale // exact: a float32 times a power of two
		a := math.Abs(x)
		var mag int64
		if a < 0x1p31 {
			w := int64(a * 0x1p32) // floor(a * 2^32): integer part, 32 fraction bits
			mag = w>>32 + int64((uint64(rnd[i])-uint64(uint32(w)))>>63)
		} else if x == x {
			mag = 1 << 31 // out of range or infinite; NaN stays 0
		}
		neg := int64(math.Float64bits(x) >> 63)
		mag -= (mag >> 31) &^ neg // +2^31 saturates to 2^31-1
		dst[i] = uint32((mag ^ -neg) + neg)
	}
}

// stochastic64 is [stochastic32] for Z_2^64.
func stochastic64(dst []uint64, src []float32, scale float64, rnd []uint32) {
	rnd = rnd[:len(src)]
	dst = dst[:len(src)]
	for i, v := range src {
		x := float64(v) * scale
		a := math.Abs(x)
		var mag uint64
		if a < 0x1p63 {
			ai := int64(a)
			t := int64((a - float64(ai)) * 0x1p32) // the same floor(p * 2^32)
			mag = uint64(ai) + (uint64(rnd[i])-uint64(t))>>63
		} else if x == x {
			mag = 1 << 63
		}
		neg := math.Float64bits(x) >> 63
		mag -= (mag >> 63) &^ neg // +2^63 saturates to 2^63-1
		dst[i] = (mag ^ -neg) + neg
	}
}

// randChunk is the number of 32-bit random words drawn from the keystream at
// once by the stochastic encoders.
const randChunk = 2048

// EncodeStochastic32 encodes src into Z_2^32 with scale 2^frac and unbiased
// stochastic rounding: src[i] * 2^frac = q + p with q an integer and p in
// [0, 1) is rounded to q + 1 with probability p and to q otherwise, so the
// expected decoded value is src[i] and the absolute error is below 2^-frac.
// Saturation and NaN are handled as in [EncodeNearest32]. Rounding acts on
// the magnitude, so -v encodes as the negation of v for the same randomness.
//
// The randomness is deterministic for seed: element i consumes the 32-bit
// little-endian word r_i of an AES-128-CTR keystream whose key and IV are
// derived from seed with SHA-256 under a label of this function, so the same
// seed gives the same encoding on every platform and for every chunking, and
// reusing a mask seed here does not correlate the rounding with the mask.
// Exactly: the magnitude rounds up iff r_i < floor(p * 2^32), so the
// probability of rounding up matches p to within 2^-32 (a bias below
// 2^-(32+frac) in the decoded value).
func EncodeStochastic32(dst []uint32, src []float32, frac uint, seed [32]byte) {
	mustSameLen(len(dst), len(src))
	r := newRoundingStream(&seed)
	scale := scaleOf(frac)
	dst = dst[:len(src)]
	for start := 0; start < len(src); start += randChunk {
		n := min(randChunk, len(src)-start)
		stochastic32(dst[start:start+n], src[start:start+n], scale, r.next(n))
	}
}

// EncodeStochastic64 is [EncodeStochastic32] for Z_2^64. The same seed draws
// the same random words in both, so the two encodings agree wherever neither
// saturates.
func EncodeStochastic64(dst []uint64, src []float32, frac uint, seed [32]byte) {
	mustSameLen(len(dst), len(src))
	r := newRoundingStream(&seed)
	scale := scaleOf(frac)
	dst = dst[:len(src)]
	for start := 0; start < len(src); start += randChunk {
		n := min(randChunk, len(src)-start)
		stochastic64(dst[start:start+n], src[start:start+n], scale, r.next(n))
	}
}

// roundingStream hands out the rounding randomness chunk by chunk.
type roundingStream struct {
	stream cipher.Stream
	zero   []byte
	words  []uint64 // randChunk 32-bit words, stored in uint64s for alignment
	raw    []byte   // keystream bytes, big-endian targets only
}

func newRoundingStream(seed *[32]byte) *roundingStream {
	r := &roundingStream{
		stream: stochasticStream(seed),
		zero:   make([]byte, randChunk*4),
		words:  make([]uint64, randChunk/2),
	}
	if !littleEndian {
		r.raw = make([]byte, randChunk*4)
	}
	return r
}

// next returns the next n <= randChunk little-endian 32-bit keystream words.
func (r *roundingStream) next(n int) []uint32 {
	w := words32Of64(r.words)[:n]
	if littleEndian {
		r.stream.XORKeyStream(bytesOf32(w), r.zero[:n*4])
		return w
	}
	raw := r.raw[:n*4]
	r.stream.XORKeyStream(raw, r.zero[:n*4])
	for i := range w {
		w[i] = binary.LittleEndian.Uint32(raw[4*i:])
	}
	return w
}

// SignExtend32 maps elements of Z_{2^k}, stored in [0, 2^k), to their
// two's complement representatives in Z_2^32: bit k-1 is copied into bits
// k..31, so [Decode32] then reads the signed value of a k-bit ring (a sum
// of k-bit encodings that did not wrap, see "Headroom for sums"). k must be
// in 1..32; bits at k and above are ignored, and k = 32 leaves v unchanged.
func SignExtend32(v []uint32, k uint) {
	if k < 1 || k > 32 {
		panic("kernels: SignExtend32 width not in 1..32")
	}
	s := 32 - k
	for i, x := range v {
		v[i] = uint32(int32(x<<s) >> s)
	}
}

// SignExtend64 is [SignExtend32] for Z_2^64 and [Decode64]; k must be in
// 1..64.
func SignExtend64(v []uint64, k uint) {
	if k < 1 || k > 64 {
		panic("kernels: SignExtend64 width not in 1..64")
	}
	s := 64 - k
	for i, x := range v {
		v[i] = uint64(int64(x<<s) >> s)
	}
}
