//go:build goexperiment.simd && !purego

package kernels

// The SIMD build (GOEXPERIMENT=simd, Go 1.26's simd/archsimd) vectorises the
// ring, float and fixed-point kernels with 256-bit AVX2 vectors. Each kernel
// checks AVX2 support and falls back to the portable loop; the results are
// bit-identical to the portable kernels (no fused multiply-add, the same
// rounding), except for Dot and Norm2, whose float64 accumulation order
// differs and which stay within the accuracy the tests check.
//
// Every kernel ends its vector loop with VZEROUPPER
// (archsimd.ClearAVXUpperBits): the compiler does not yet insert it, and
// without it the legacy-SSE code that follows (AES-CTR in particular, and
// the compiler's own scalar float code) pays for false dependencies on the
// upper register halves; MaskAdd32 ran at half speed before this.

import (
	"math"
	"simd/archsimd"
)

func addRing16(dst, src []uint16) {
	if !archsimd.X86.AVX2() {
		addRing16Go(dst, src)
		return
	}
	src = src[:len(dst)]
	i := 0
	for ; i+64 <= len(dst); i += 64 {
		d, s := dst[i:i+64], src[i:i+64]
		archsimd.LoadUint16x16Slice(d).Add(archsimd.LoadUint16x16Slice(s)).StoreSlice(d)
		archsimd.LoadUint16x16Slice(d[16:]).Add(archsimd.LoadUint16x16Slice(s[16:])).StoreSlice(d[16:])
		archsimd.LoadUint16x16Slice(d[32:]).Add(archsimd.LoadUint16x16Slice(s[32:])).StoreSlice(d[32:])
		archsimd.LoadUint16x16Slice(d[48:]).Add(archsimd.LoadUint16x16Slice(s[48:])).StoreSlice(d[48:])
	}
	archsimd.ClearAVXUpperBits()
	addRing16Go(dst[i:], src[i:])
}

func subRing16(dst, src []uint16) {
	if !archsimd.X86.AVX2() {
		subRing16Go(dst, src)
		return
	}
	src = src[:len(dst)]
	i := 0
	for ; i+64 <= len(dst); i += 64 {
		d, s := dst[i:i+64], src[i:i+64]
		archsimd.LoadUint16x16Slice(d).Sub(archsimd.LoadUint16x16Slice(s)).StoreSlice(d)
		archsimd.LoadUint16x16Slice(d[16:]).Sub(archsimd.LoadUint16x16Slice(s[16:])).StoreSlice(d[16:])
		archsimd.LoadUint16x16Slice(d[32:]).Sub(archsimd.LoadUint16x16Slice(s[32:])).StoreSlice(d[32:])
		archsimd.LoadUint16x16Slice(d[48:]).Sub(archsimd.LoadUint16x16Slice(s[48:])).StoreSlice(d[48:])
	}
	archsimd.ClearAVXUpperBits()
	subRing16Go(dst[i:], src[i:])
}

func addRing32(dst, src []uint32) {
	if !archsimd.X86.AVX2() {
		addRing32Go(dst, src)
		return
	}
	src = src[:len(dst)]
	i := 0
	for ; i+32 <= len(dst); i += 32 {
		d, s := dst[i:i+32], src[i:i+32]
		archsimd.LoadUint32x8Slice(d).Add(archsimd.LoadUint32x8Slice(s)).StoreSlice(d)
		archsimd.LoadUint32x8Slice(d[8:]).Add(archsimd.LoadUint32x8Slice(s[8:])).StoreSlice(d[8:])
		archsimd.LoadUint32x8Slice(d[16:]).Add(archsimd.LoadUint32x8Slice(s[16:])).StoreSlice(d[16:])
		archsimd.LoadUint32x8Slice(d[24:]).Add(archsimd.LoadUint32x8Slice(s[24:])).StoreSlice(d[24:])
	}
	archsimd.ClearAVXUpperBits()
	addRing32Go(dst[i:], src[i:])
}

func subRing32(dst, src []uint32) {
	if !archsimd.X86.AVX2() {
		subRing32Go(dst, src)
		return
	}
	src = src[:len(dst)]
	i := 0
	for ; i+32 <= len(dst); i += 32 {
		d, s := dst[i:i+32], src[i:i+32]
		archsimd.LoadUint32x8Slice(d).Sub(archsimd.LoadUint32x8Slice(s)).StoreSlice(d)
		archsimd.LoadUint32x8Slice(d[8:]).Sub(archsimd.LoadUint32x8Slice(s[8:])).StoreSlice(d[8:])
		archsimd.LoadUint32x8Slice(d[16:]).Sub(archsimd.LoadUint32x8Slice(s[16:])).StoreSlice(d[16:])
		archsimd.LoadUint32x8Slice(d[24:]).Sub(archsimd.LoadUint32x8Slice(s[24:])).StoreSlice(d[24:])
	}
	archsimd.ClearAVXUpperBits()
	subRing32Go(dst[i:], src[i:])
}

func addRing64(dst, src []uint64) {
	if !archsimd.X86.AVX2() {
		addRing64Go(dst, src)
		return
	}
	src = src[:len(dst)]
	i := 0
	for ; i+16 <= len(dst); i += 16 {
		d, s := dst[i:i+16], src[i:i+16]
		archsimd.LoadUint64x4Slice(d).Add(archsimd.LoadUint64x4Slice(s)).StoreSlice(d)
		archsimd.LoadUint64x4Slice(d[4:]).Add(archsimd.LoadUint64x4Slice(s[4:])).StoreSlice(d[4:])
		archsimd.LoadUint64x4Slice(d[8:]).Add(archsimd.LoadUint64x4Slice(s[8:])).StoreSlice(d[8:])
		archsimd.LoadUint64x4Slice(d[12:]).Add(archsimd.LoadUint64x4Slice(s[12:])).StoreSlice(d[12:])
	}
	archsimd.ClearAVXUpperBits()
	addRing64Go(dst[i:], src[i:])
}

func subRing64(dst, src []uint64) {
	if !archsimd.X86.AVX2() {
		subRing64Go(dst, src)
		return
	}
	src = src[:len(dst)]
	i := 0
	for ; i+16 <= len(dst); i += 16 {
		d, s := dst[i:i+16], src[i:i+16]
		archsimd.LoadUint64x4Slice(d).Sub(archsimd.LoadUint64x4Slice(s)).StoreSlice(d)
		archsimd.LoadUint64x4Slice(d[4:]).Sub(archsimd.LoadUint64x4Slice(s[4:])).StoreSlice(d[4:])
		archsimd.LoadUint64x4Slice(d[8:]).Sub(archsimd.LoadUint64x4Slice(s[8:])).StoreSlice(d[8:])
		archsimd.LoadUint64x4Slice(d[12:]).Sub(archsimd.LoadUint64x4Slice(s[12:])).StoreSlice(d[12:])
	}
	archsimd.ClearAVXUpperBits()
	subRing64Go(dst[i:], src[i:])
}

// axpy multiplies then adds in two roundings, as axpyGo does.
func axpy(alpha float32, x, y []float32) {
	if !archsimd.X86.AVX2() {
		axpyGo(alpha, x, y)
		return
	}
	x = x[:len(y)]
	a := archsimd.BroadcastFloat32x8(alpha)
	i := 0
	for ; i+16 <= len(y); i += 16 {
		xx, yy := x[i:i+16], y[i:i+16]
		archsimd.LoadFloat32x8Slice(xx).Mul(a).Add(archsimd.LoadFloat32x8Slice(yy)).StoreSlice(yy)
		archsimd.LoadFloat32x8Slice(xx[8:]).Mul(a).Add(archsimd.LoadFloat32x8Slice(yy[8:])).StoreSlice(yy[8:])
	}
	archsimd.ClearAVXUpperBits()
	axpyGo(alpha, x[i:], y[i:])
}

func scale(alpha float32, x []float32) {
	if !archsimd.X86.AVX2() {
		scaleGo(alpha, x)
		return
	}
	a := archsimd.BroadcastFloat32x8(alpha)
	i := 0
	for ; i+16 <= len(x); i += 16 {
		xx := x[i : i+16]
		archsimd.LoadFloat32x8Slice(xx).Mul(a).StoreSlice(xx)
		archsimd.LoadFloat32x8Slice(xx[8:]).Mul(a).StoreSlice(xx[8:])
	}
	archsimd.ClearAVXUpperBits()
	scaleGo(alpha, x[i:])
}

// dot64 widens four float32 at a time to float64 and keeps two vector
// accumulators.
func dot64(x, y []float32) float64 {
	if !archsimd.X86.AVX2() {
		return dot64Go(x, y)
	}
	y = y[:len(x)]
	var s0, s1 archsimd.Float64x4
	i := 0
	for ; i+8 <= len(x); i += 8 {
		xx, yy := x[i:i+8], y[i:i+8]
		a0 := archsimd.LoadFloat32x4Slice(xx).ConvertToFloat64()
		b0 := archsimd.LoadFloat32x4Slice(yy).ConvertToFloat64()
		a1 := archsimd.LoadFloat32x4Slice(xx[4:]).ConvertToFloat64()
		b1 := archsimd.LoadFloat32x4Slice(yy[4:]).ConvertToFloat64()
		s0 = s0.Add(a0.Mul(b0))
		s1 = s1.Add(a1.Mul(b1))
	}
	var lanes [4]float64
	s0.Add(s1).Store(&lanes)
	archsimd.ClearAVXUpperBits()
	return (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]) + dot64Go(x[i:], y[i:])
}

func sumSquares(x []float32) float64 {
	if !archsimd.X86.AVX2() {
		return sumSquaresGo(x)
	}
	var s0, s1 archsimd.Float64x4
	i := 0
	for ; i+8 <= len(x); i += 8 {
		xx := x[i : i+8]
		a0 := archsimd.LoadFloat32x4Slice(xx).ConvertToFloat64()
		a1 := archsimd.LoadFloat32x4Slice(xx[4:]).ConvertToFloat64()
		s0 = s0.Add(a0.Mul(a0))
		s1 = s1.Add(a1.Mul(a1))
	}
	var lanes [4]float64
	s0.Add(s1).Store(&lanes)
	archsimd.ClearAVXUpperBits()
	return (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]) + sumSquaresGo(x[i:])
}

// encodeNearest32 scales in float32, which is exact for frac <= 126 (a
// power of two times a float32, or +-Inf beyond the float32 range, which
// saturates either way), rounds to even and converts with explicit
// saturation and NaN handling, matching encodeNearest32Go bit for bit.
func encodeNearest32(dst []uint32, src []float32, frac uint) {
	if !archsimd.X86.AVX2() || frac > 126 {
		encodeNearest32Go(dst, src, frac)
		return
	}
	dst = dst[:len(src)]
	sc := archsimd.BroadcastFloat32x8(float32(math.Ldexp(1, int(frac))))
	hi := archsimd.BroadcastFloat32x8(0x1p31)
	lo := archsimd.BroadcastFloat32x8(-0x1p31)
	maxI := archsimd.BroadcastInt32x8(math.MaxInt32)
	i := 0
	for ; i+8 <= len(src); i += 8 {
		x := archsimd.LoadFloat32x8Slice(src[i : i+8]).Mul(sc).RoundToEven()
		ordered := x.Equal(x) // false for NaN
		over := x.GreaterEqual(hi)
		q := x.Max(lo).ConvertToInt32()
		q = maxI.Merge(q, over).Masked(ordered)
		q.AsUint32x8().StoreSlice(dst[i : i+8])
	}
	archsimd.ClearAVXUpperBits()
	encodeNearest32Go(dst[i:], src[i:], frac)
}

// decode32 converts int32 to float32 (one rounding, to nearest even) and
// scales by 2^-frac, which is exact for frac <= 126 because no non-zero
// result is then below the normal range.
func decode32(dst []float32, src []uint32, frac uint) {
	if !archsimd.X86.AVX2() || frac > 126 {
		decode32Go(dst, src, frac)
		return
	}
	dst = dst[:len(src)]
	inv := archsimd.BroadcastFloat32x8(float32(math.Ldexp(1, -int(frac))))
	i := 0
	for ; i+8 <= len(src); i += 8 {
		archsimd.LoadUint32x8Slice(src[i : i+8]).AsInt32x8().ConvertToFloat32().Mul(inv).StoreSlice(dst[i : i+8])
	}
	archsimd.ClearAVXUpperBits()
	decode32Go(dst[i:], src[i:], frac)
}
