package kernels

import "encoding/binary"

// PackedLen returns the number of bytes [Pack64] and [Pack32] produce for n
// elements of k bits: ceil(n*k/8). It computes without overflow for every
// non-negative n and k <= 64 and returns 0 for n <= 0.
func PackedLen(n int, k uint) int {
	if n <= 0 {
		return 0
	}
	return (n/8)*int(k) + int((uint(n%8)*k+7)/8)
}

// lowMask returns a mask of the k low bits (k <= 64).
func lowMask(k uint) uint64 {
	if k >= 64 {
		return ^uint64(0)
	}
	return 1<<k - 1
}

// Pack64 appends the k-bit elements of src to dst and returns the extended
// slice. Bits are packed in little-endian order: bit j of element i is bit
// (i*k + j) of the output, counting from the least significant bit of byte 0.
// The last byte is padded with zero bits, so the encoding is canonical.
// Elements are reduced modulo 2^k (bits at k and above are discarded); k must
// be in 0..64, where k = 0 produces no bytes. It panics on a larger k.
func Pack64(dst []byte, src []uint64, k uint) []byte {
	if k > 64 {
		panic("kernels: Pack64 bit width above 64")
	}
	return pack(dst, len(src), k, func(i int) uint64 { return src[i] })
}

// Pack32 is [Pack64] for uint32 elements; k must be in 0..32.
func Pack32(dst []byte, src []uint32, k uint) []byte {
	if k > 32 {
		panic("kernels: Pack32 bit width above 32")
	}
	return pack(dst, len(src), k, func(i int) uint64 { return uint64(src[i]) })
}

// pack is the portable bit packer: an accumulator of up to 64 pending bits
// flushed eight bytes at a time.
func pack(dst []byte, n int, k uint, elem func(int) uint64) []byte {
	total := PackedLen(n, k)
	out, body := grow(dst, total)
	if k == 0 {
		return out
	}
	mask := lowMask(k)
	var acc uint64
	var nacc uint // pending bits in acc, always < 64 between elements
	w := 0
	for i := range n {
		v := elem(i) & mask
		acc |= v << nacc
		if nacc+k >= 64 {
			binary.LittleEndian.PutUint64(body[w:], acc)
			w += 8
			used := 64 - nacc // bits of v already in acc
			if used == 64 {
				acc = 0
			} else {
				acc = v >> used
			}
			nacc = nacc + k - 64
		} else {
			nacc += k
		}
	}
	for ; nacc > 0; nacc -= min(nacc, 8) {
		body[w] = byte(acc)
		acc >>= 8
		w++
	}
	return out
}

// grow extends dst by n bytes and returns the extended slice and its new
// tail; the tail is zeroed.
func grow(dst []byte, n int) (out, tail []byte) {
	l := len(dst)
	if cap(dst)-l < n {
		nd := make([]byte, l, l+n)
		copy(nd, dst)
		dst = nd
	}
	out = dst[:l+n]
	tail = out[l:]
	clear(tail)
	return out, tail
}

// Unpack64 decodes len(dst) elements of k bits packed by [Pack64] from src.
// It returns [ErrMalformed] (wrapped with the sizes involved, never the data)
// if k is above 64, if len(src) != PackedLen(len(dst), k), or if a padding
// bit of the last byte is set, so every accepted input is the canonical
// packing of dst. dst is left in an unspecified state on error.
func Unpack64(dst []uint64, src []byte, k uint) error {
	if k > 64 {
		return malformed("bit width %d above 64", k)
	}
	if err := checkPacked(len(dst), src, k); err != nil {
		return err
	}
	unpack(len(dst), src, k, func(i int, v uint64) { dst[i] = v })
	return nil
}

// Unpack32 is [Unpack64] for uint32 elements; k must be in 0..32.
func Unpack32(dst []uint32, src []byte, k uint) error {
	if k > 32 {
		return malformed("bit width %d above 32", k)
	}
	if err := checkPacked(len(dst), src, k); err != nil {
		return err
	}
	unpack(len(dst), src, k, func(i int, v uint64) { dst[i] = uint32(v) })
	return nil
}

// checkPacked validates the length and the padding bits of a packed vector.
func checkPacked(n int, src []byte, k uint) error {
	want := PackedLen(n, k)
	if len(src) != want {
		return malformed("%d bytes for %d elements of %d bits, want %d", len(src), n, k, want)
	}
	if rem := (uint(n%8) * k) % 8; rem != 0 {
		if src[len(src)-1]>>rem != 0 {
			return malformed("padding bits set")
		}
	}
	return nil
}

// unpack is the portable bit unpacker; src has been validated.
func unpack(n int, src []byte, k uint, set func(int, uint64)) {
	if k == 0 {
		for i := range n {
			set(i, 0)
		}
		return
	}
	mask := lowMask(k)
	var acc uint64
	var nacc uint // valid bits in acc
	r := 0
	for i := range n {
		var v uint64
		if nacc >= k {
			v = acc & mask
			if k == 64 {
				acc = 0
			} else {
				acc >>= k
			}
			nacc -= k
		} else {
			// Refill: take the nacc pending bits and the rest from the next word.
			var next uint64
			var got uint
			if r+8 <= len(src) {
				next = binary.LittleEndian.Uint64(src[r:])
				r += 8
				got = 64
			} else {
				for j := 0; r < len(src); j++ {
					next |= uint64(src[r]) << (8 * j)
					r++
					got += 8
				}
			}
			need := k - nacc
			v = (acc | next<<nacc) & mask
			if need == 64 {
				acc = 0
			} else {
				acc = next >> need
			}
			nacc = got - need
		}
		set(i, v)
	}
}
