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
	return RingBitsNoise(contributors, maxAbs, 0)
}

// RingBitsNoise is [RingBits] with distributed DP noise accounted for in
// the sum rather than per value: up to contributors encodings of magnitude
// at most maxAbs, plus noise shares whose sum has magnitude at most
// noiseTail, never wrap when
//
//	contributors * maxAbs + noiseTail <= 2^(k-1) - 1.
//
// For Skellam or discrete Gaussian shares the sum of n shares has the
// distribution of one share of n times the variance, so noiseTail grows as
// sqrt(n) where a per-value bound would grow as n; the caller picks the
// tail for the failure probability it accepts (a wrap makes the released
// value wrong, it reveals nothing more).
func RingBitsNoise(contributors int, maxAbs, noiseTail uint64) (uint, error) {
	if contributors < 1 || contributors > MaxParties {
		return 0, fmt.Errorf("%w: %d contributors (want 1..%d)", ErrParams, contributors, MaxParties)
	}
	hi, lo := bits.Mul64(uint64(contributors), maxAbs)
	sum, carry := bits.Add64(lo, noiseTail, 0)
	if hi != 0 || carry != 0 || sum > math.MaxInt64 {
		return 0, fmt.Errorf("%w: a sum of %d values of magnitude up to 2^%d with noise up to 2^%d needs more than 64 bits",
			ErrParams, contributors, bits.Len64(maxAbs), bits.Len64(noiseTail))
	}
	return uint(bits.Len64(sum)) + 1, nil
}

// RingBitsFixed is [RingBits] for fixed-point values: each contributor's
// real values satisfy |v| <= bound and are encoded as round(v * 2^frac)
// (nearest or stochastic rounding, kernels.EncodeNearest32 and
// kernels.EncodeStochastic32), so every encoding has magnitude at most
// ceil(bound * 2^frac). Distributed DP noise added after encoding is not
// included: use [RingBitsNoise] with this maximum and a tail bound of the
// summed noise (or pass bound + tail / 2^frac, a per-share tail, which is
// looser). bound must be finite and non-negative.
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

// CheckMaliciousThreshold reports whether threshold t protects a round of n
// parties with neighbour degree degree (0 or >= n-1: the complete graph)
// against a malicious server, with the consistency check on. Each secret is
// shared among h = degree+1 holders (h = n for the complete graph); a server
// that tells two groups of honest holders different survivor sets must
// gather t confirmations for each, and each honest party confirms one set,
// so with c colluding holders it succeeds only if 2(t - c) <= h - c. It
// fails with [ErrParams] unless 2t > h, i.e. t > n/2 for the complete graph
// (no coalition needed), and then tolerates up to [MaliciousColluders]
// colluding holders per secret. For SecAgg+ graphs the same bound applies per
// neighbourhood: following Bell et al. (CCS 2020), choose t > (k + 1 + c_k)/2
// where c_k bounds the corrupt neighbours of any party except with
// probability 2^-SecurityBits (n · P[Bin(k, γ) >= c_k] <= 2^-40 for a
// corruption fraction γ).
func CheckMaliciousThreshold(n, t, degree int) error {
	h, err := holders(n, degree)
	if err != nil {
		return err
	}
	if t < 1 || t > h {
		return fmt.Errorf("%w: threshold %d with %d share holders", ErrParams, t, h)
	}
	if 2*t <= h {
		return fmt.Errorf("%w: threshold %d of %d share holders lets a server that lies about dropouts unmask an input (want threshold > %d)", ErrParams, t, h, h/2)
	}
	return nil
}

// MaliciousColluders returns the largest number c of colluding share holders
// of any one secret (server aside) under which a malicious server still
// cannot obtain both shares of an honest party's secrets: the largest c < t
// with 2(t - c) > h - c, that is c = min(t - 1, 2t - h - 1), where h is the
// number of share holders (-1 when even the server alone can).
func MaliciousColluders(n, t, degree int) int {
	h, err := holders(n, degree)
	if err != nil || t < 1 || t > h {
		return -1
	}
	return max(min(t-1, 2*t-h-1), -1)
}

func holders(n, degree int) (int, error) {
	if n < 1 || n > MaxParties || degree < 0 {
		return 0, fmt.Errorf("%w: %d parties, degree %d", ErrParams, n, degree)
	}
	if degree == 0 || degree >= n-1 {
		return n, nil
	}
	return degree + 1, nil
}
