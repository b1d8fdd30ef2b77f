package trainer

import (
	"math"
	"unsafe"
)

// nonFiniteIn reports whether v holds a NaN or an infinity (see
// firstNonFinite), reading two float32 per 64-bit word.
func nonFiniteIn(v []float32) bool {
	const (
		abs   = 0x7fffffff7fffffff
		carry = 0x0080000000800000
		top   = 0x8000000080000000
	)
	var acc uint64
	pairs := len(v) / 2
	if pairs > 0 {
		w := unsafe.Slice((*uint64)(unsafe.Pointer(&v[0])), pairs)
		for i := 0; i+4 <= len(w); i += 4 {
			acc |= (w[i]&abs + carry) | (w[i+1]&abs + carry) | (w[i+2]&abs + carry) | (w[i+3]&abs + carry)
		}
		for i := len(w) &^ 3; i < len(w); i++ {
			acc |= w[i]&abs + carry
		}
	}
	if len(v)%2 == 1 {
		acc |= uint64(math.Float32bits(v[len(v)-1])&0x7fffffff + 0x00800000)
	}
	return acc&top != 0
}
