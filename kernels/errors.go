package kernels

import "errors"

var (
	// ErrSeedLength is returned by the mask kernels when the seed is neither
	// 16 nor 32 bytes long.
	ErrSeedLength = errors.New("kernels: mask seed must be 16 or 32 bytes")

	// ErrMalformed is returned by the unpackers when the packed bytes do not
	// have the length implied by the element count and width, when a padding
	// bit is set, or when the width is out of range.
	ErrMalformed = errors.New("kernels: malformed packed ring vector")
)

// mustSameLen panics when two vector arguments differ in length. Lengths are
// chosen by the caller, never by a peer, so a mismatch is a programming error,
// as it is for gonum's BLAS.
func mustSameLen(a, b int) {
	if a != b {
		panic("kernels: vector lengths differ")
	}
}
