package kernels

import "encoding/binary"

// AddRing32 sets dst[i] += src[i] modulo 2^32. dst and src must have the
// same length.
func AddRing32(dst, src []uint32) {
	mustSameLen(len(dst), len(src))
	addRing32(dst, src)
}

// SubRing32 sets dst[i] -= src[i] modulo 2^32. dst and src must have the
// same length.
func SubRing32(dst, src []uint32) {
	mustSameLen(len(dst), len(src))
	subRing32(dst, src)
}

// AddRing64 sets dst[i] += src[i] modulo 2^64. dst and src must have the
// same length.
func AddRing64(dst, src []uint64) {
	mustSameLen(len(dst), len(src))
	addRing64(dst, src)
}

// SubRing64 sets dst[i] -= src[i] modulo 2^64. dst and src must have the
// same length.
func SubRing64(dst, src []uint64) {
	mustSameLen(len(dst), len(src))
	subRing64(dst, src)
}

// AddRing16 sets dst[i] += src[i] modulo 2^16. dst and src must have the
// same length. It is the ring of narrow secure aggregation (widths up to
// 16 bits live in 16-bit lanes).
func AddRing16(dst, src []uint16) {
	mustSameLen(len(dst), len(src))
	addRing16(dst, src)
}

// SubRing16 sets dst[i] -= src[i] modulo 2^16. dst and src must have the
// same length.
func SubRing16(dst, src []uint16) {
	mustSameLen(len(dst), len(src))
	subRing16(dst, src)
}

// addRing16Go is the portable loop: four 16-bit lanes per uint64 word, added
// without carries across lanes (SWAR: the low 15 bits of each lane are
// added, then the top bits are set by XOR), and element by element for the
// tail and on big-endian targets.
func addRing16Go(dst, src []uint16) {
	src = src[:len(dst)]
	i := 0
	if littleEndian {
		n := len(dst) &^ 3
		d, s := bytesOf16(dst[:n]), bytesOf16(src[:n])
		for j := 0; j+8 <= len(d); j += 8 {
			a, b := binary.LittleEndian.Uint64(d[j:]), binary.LittleEndian.Uint64(s[j:])
			binary.LittleEndian.PutUint64(d[j:], ((a&^swarHigh16)+(b&^swarHigh16))^((a^b)&swarHigh16))
		}
		i = n
	}
	for ; i < len(dst); i++ {
		dst[i] += src[i]
	}
}

// subRing16Go is [addRing16Go] for subtraction: a - b = a + (^b) + 1 per
// lane, computed as ((a | H) - (b &^ H)) ^ ((a ^ ^b) & H), the borrow of
// each lane being absorbed by its own top bit.
func subRing16Go(dst, src []uint16) {
	src = src[:len(dst)]
	i := 0
	if littleEndian {
		n := len(dst) &^ 3
		d, s := bytesOf16(dst[:n]), bytesOf16(src[:n])
		for j := 0; j+8 <= len(d); j += 8 {
			a, b := binary.LittleEndian.Uint64(d[j:]), binary.LittleEndian.Uint64(s[j:])
			binary.LittleEndian.PutUint64(d[j:], ((a|swarHigh16)-(b&^swarHigh16))^((a^^b)&swarHigh16))
		}
		i = n
	}
	for ; i < len(dst); i++ {
		dst[i] -= src[i]
	}
}

// swarHigh16 has the top bit of each 16-bit lane of a uint64 set.
const swarHigh16 = 0x8000800080008000

// addRing32Go is the portable loop, unrolled by four.
func addRing32Go(dst, src []uint32) {
	src = src[:len(dst)]
	i := 0
	for ; i+4 <= len(dst); i += 4 {
		d := dst[i : i+4 : i+4]
		s := src[i : i+4 : i+4]
		d[0] += s[0]
		d[1] += s[1]
		d[2] += s[2]
		d[3] += s[3]
	}
	for ; i < len(dst); i++ {
		dst[i] += src[i]
	}
}

func subRing32Go(dst, src []uint32) {
	src = src[:len(dst)]
	i := 0
	for ; i+4 <= len(dst); i += 4 {
		d := dst[i : i+4 : i+4]
		s := src[i : i+4 : i+4]
		d[0] -= s[0]
		d[1] -= s[1]
		d[2] -= s[2]
		d[3] -= s[3]
	}
	for ; i < len(dst); i++ {
		dst[i] -= src[i]
	}
}

func addRing64Go(dst, src []uint64) {
	src = src[:len(dst)]
	i := 0
	for ; i+4 <= len(dst); i += 4 {
		d := dst[i : i+4 : i+4]
		s := src[i : i+4 : i+4]
		d[0] += s[0]
		d[1] += s[1]
		d[2] += s[2]
		d[3] += s[3]
	}
	for ; i < len(dst); i++ {
		dst[i] += src[i]
	}
}

func subRing64Go(dst, src []uint64) {
	src = src[:len(dst)]
	i := 0
	for ; i+4 <= len(dst); i += 4 {
		d := dst[i : i+4 : i+4]
		s := src[i : i+4 : i+4]
		d[0] -= s[0]
		d[1] -= s[1]
		d[2] -= s[2]
		d[3] -= s[3]
	}
	for ; i < len(dst); i++ {
		dst[i] -= src[i]
	}
}
