package kernels

import "math"

// Axpy sets y[i] += alpha * x[i]. The product is rounded to float32 before
// the addition (never fused into one rounding), so results are identical on
// every platform. x and y must have the same length.
func Axpy(alpha float32, x, y []float32) {
	mustSameLen(len(x), len(y))
	axpy(alpha, x, y)
}

// axpyGo is the portable Axpy, unrolled by four.
func axpyGo(alpha float32, x, y []float32) {
	x = x[:len(y)]
	i := 0
	for ; i+4 <= len(y); i += 4 {
		yy := y[i : i+4 : i+4]
		xx := x[i : i+4 : i+4]
		yy[0] += float32(alpha * xx[0])
		yy[1] += float32(alpha * xx[1])
		yy[2] += float32(alpha * xx[2])
		yy[3] += float32(alpha * xx[3])
	}
	for ; i < len(y); i++ {
		y[i] += float32(alpha * x[i])
	}
}

// Scale sets x[i] *= alpha.
func Scale(alpha float32, x []float32) {
	scale(alpha, x)
}

// scaleGo is the portable Scale, unrolled by four.
func scaleGo(alpha float32, x []float32) {
	i := 0
	for ; i+4 <= len(x); i += 4 {
		xx := x[i : i+4 : i+4]
		xx[0] *= alpha
		xx[1] *= alpha
		xx[2] *= alpha
		xx[3] *= alpha
	}
	for ; i < len(x); i++ {
		x[i] *= alpha
	}
}

// Dot returns the inner product of x and y, accumulated in float64 (so the
// only float32 rounding is that of the result). x and y must have the same
// length.
func Dot(x, y []float32) float32 {
	mustSameLen(len(x), len(y))
	return float32(dot64(x, y))
}

// dot64Go is the portable float64-accumulated dot product, with four
// independent accumulators.
func dot64Go(x, y []float32) float64 {
	y = y[:len(x)]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		xx := x[i : i+4 : i+4]
		yy := y[i : i+4 : i+4]
		s0 += float64(xx[0]) * float64(yy[0])
		s1 += float64(xx[1]) * float64(yy[1])
		s2 += float64(xx[2]) * float64(yy[2])
		s3 += float64(xx[3]) * float64(yy[3])
	}
	for ; i < len(x); i++ {
		s0 += float64(x[i]) * float64(y[i])
	}
	return (s0 + s1) + (s2 + s3)
}

// sumSquaresGo returns the sum of x[i]^2 in float64. It cannot overflow for
// finite float32 input of any practical length (each square is below 2^256).
func sumSquaresGo(x []float32) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		xx := x[i : i+4 : i+4]
		a, b, c, d := float64(xx[0]), float64(xx[1]), float64(xx[2]), float64(xx[3])
		s0 += a * a
		s1 += b * b
		s2 += c * c
		s3 += d * d
	}
	for ; i < len(x); i++ {
		a := float64(x[i])
		s0 += a * a
	}
	return (s0 + s1) + (s2 + s3)
}

// Norm2 returns the Euclidean (L2) norm of x, accumulated in float64. The
// result is +Inf only if the norm exceeds the float32 range.
func Norm2(x []float32) float32 {
	return float32(math.Sqrt(sumSquares(x)))
}

// clipShrink is the relative margin taken off the clipping factor so that
// the float32 roundings of the factor and of each scaled element (each at
// most 2^-24 relative) cannot push the norm back above the bound.
const clipShrink = 1 - 0x1p-21

// ClipToNorm scales x in place so that its L2 norm is at most c and returns
// the factor applied: 1 if the norm is already at most c (x is unchanged),
// otherwise a factor slightly below c/||x||, chosen so that the exact norm of
// the float32 result is guaranteed to be at most c (the result's norm is
// within 2^-20 relative of c). A negative c is treated as 0, which zeroes x
// and returns 0. x must be finite: a NaN anywhere leaves x unchanged and
// returns 1, so callers clipping untrusted input must check it first.
func ClipToNorm(x []float32, c float32) float32 {
	cc := max(float64(c), 0)
	n := math.Sqrt(sumSquares(x))
	if !(n > cc) {
		return 1
	}
	f := float32(cc / n * clipShrink)
	Scale(f, x)
	return f
}
