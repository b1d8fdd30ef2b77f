package federated

import "math"

// Standardisation statistics through a protection protocol.
//
// The statistics attempts carry per-feature means and variances, whose range
// (from tiny variances to large raw values) needs more than the 32-bit
// quantisation of mhe: there each value v (|v| < 2^statsSplitBits) is sent
// exactly as two integers, V = round(v 2^F) = H 2^F + L with 0 <= L < 2^F and
// F = statsSplitBits, in a vector [H..., L...] of twice the length with bound
// 2^F, which every mhe quantisation up to 256 parties encodes exactly. Sums
// of the parts recombine linearly: sum v = sum H + (sum L) 2^-F, exact to
// about 2^-F. secagg sends the values directly in its 64-bit ring with bound
// statsBound.

const (
	// statsSplitBits is F above: precision 2^-20 and range 2^20 for mhe.
	statsSplitBits = 20
	// statsBound is the largest magnitude of a statistic sent directly.
	statsBound = 1 << 40
)

// splitStats encodes values as [H..., L...] (see above), clamping them to
// the range.
func splitStats(v []float32) []float32 {
	d := len(v)
	out := make([]float32, 2*d)
	lim := math.Ldexp(1, statsSplitBits) - math.Ldexp(1, -statsSplitBits)
	for j, x := range v {
		y := min(max(float64(x), -lim), lim)
		V := int64(math.Round(math.Ldexp(y, statsSplitBits)))
		H := V >> statsSplitBits
		L := V - H<<statsSplitBits
		out[j], out[d+j] = float32(H), float32(L)
	}
	return out
}

// joinStats decodes the sum of split vectors.
func joinStats(s []float32) []float64 {
	d := len(s) / 2
	out := make([]float64, d)
	for j := range out {
		out[j] = float64(s[j]) + math.Ldexp(float64(s[d+j]), -statsSplitBits)
	}
	return out
}
