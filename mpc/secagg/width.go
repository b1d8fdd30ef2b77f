package secagg

import (
	"fmt"
	"math"
	"math/bits"
)

// RingBits returns the narrowest ring width k such that the sum of up to
// contributors values, each a two's complement integer of magnitude at most
// maxAbs, never wraps in Z_{2^k}:
//
//	contributors * maxAbs <= 2^(k-1) - 1,
//
// so that the sum read as a signed k-bit integer (sign-extended from bit
// k-1, see kernels.SignExtend32) is the exact integer sum. That is
// k = bitlen(contributors * maxAbs) + 1, at least 1. It fails with
// [ErrParams] when contributors < 1 or when no width up to 64 bits holds the
// sum. The rule is a pure function of public round parameters, so every
// party and the server derive the same width; the package overview
// (section "Ring width") explains what maxAbs must cover.
func RingBits(contributors int, maxAbs uint64) (uint, error) {
	if contributors < 1 || contributors > MaxParties {
		return 0, fmt.Errorf("%w: %d contributors (want 1..%d)", ErrParams, contributors, MaxParties)
	}
	hi, lo := bits.Mul64(uint64(contributors), maxAbs)
	if hi != 0 || lo > math.MaxInt64 {
		return 0, fmt.Errorf("%w: a sum of %d values of magnitude up to 2^%d needs more than 64 bits", ErrParams, contributors, bits.Len64(maxAbs))
	}
	return uint(bits.Len64(lo)) + 1, nil
}

// RingBitsFixed is [RingBits] for fixed-point values: each contributor's
// real values satisfy |v| <= bound and are encoded as round(v * 2^frac)
// (nearest or stochastic rounding, kernels.EncodeNearest32 and
// kernels.EncodeStochastic32), so every encoding has magnitude at most
// ceil(bound * 2^frac). Distributed DP noise added after encoding must be
// included by the caller: pass bound + tail / 2^frac, where tail bounds the
// magnitude of one party's noise share except with the probability the
// caller accepts (a party whose noise exceeds it should clip its noise, not
// widen the ring). bound must be finite and non-negative.
func RingBitsFixed(contributors int, bound float64, frac uint) (uint, error) {
	if !(bound >= 0) || math.IsInf(bound, 0) || frac > 62 {
		return 0, fmt.Errorf("%w: bound %g with %d fractional bits", ErrParams, bound, frac)
	}
	m := math.Ceil(math.Ldexp(bound, int(frac)))
	if m >= 0x1p63 {
		return 0, fmt.Errorf("%w: bound %g at %d fractional bits exceeds 64 bits", ErrParams, bound, frac)
	}
	return RingBits(contributors, uint64(m))
}
