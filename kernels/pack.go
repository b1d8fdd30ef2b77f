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
	out, body := grow(dst, PackedLen(len(src), k))
	if littleEndian && k == 64 {
		copy(body, bytesOf64(src))
		return out
	}
	packBits(body, src, k)
	return out
}

// Pack32 is [Pack64] for uint32 elements; k must be in 0..32.
func Pack32(dst []byte, src []uint32, k uint) []byte {
	if k > 32 {
		panic("kernels: Pack32 bit width above 32")
	}
	out, body := grow(dst, PackedLen(len(src), k))
	if littleEndian && k == 32 {
		copy(body, bytesOf32(src))
		return out
	}
	packBits(body, src, k)
	return out
}

// Pack16 is [Pack64] for uint16 elements; k must be in 0..16.
func Pack16(dst []byte, src []uint16, k uint) []byte {
	if k > 16 {
		panic("kernels: Pack16 bit width above 16")
	}
	out, body := grow(dst, PackedLen(len(src), k))
	if littleEndian && k == 16 {
		copy(body, bytesOf16(src))
		return out
	}
	packBits(body, src, k)
	return out
}

// packBits is the bit packer: an accumulator of up to 64 pending bits,
// flushed eight bytes at a time. body has exactly PackedLen(len(src), k)
// zeroed bytes.
func packBits[T uint16 | uint32 | uint64](body []byte, src []T, k uint) {
	if k == 0 {
		return
	}
	mask := lowMask(k)
	var acc uint64
	var nacc uint // pending bits in acc, always < 64 between elements
	w := 0
	for _, e := range src {
		v := uint64(e) & mask
		acc |= v << nacc
		nacc += k
		if nacc >= 64 {
			binary.LittleEndian.PutUint64(body[w:w+8], acc)
			w += 8
			nacc -= 64
			// The nacc high bits of v that did not fit; none when nacc == 0,
			// as v < 2^k (and Go defines a shift by 64 as giving 0).
			acc = v >> (k - nacc)
		}
	}
	for ; nacc > 0; nacc -= min(nacc, 8) {
		body[w] = byte(acc)
		acc >>= 8
		w++
	}
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
// packing of dst. dst is left unchanged on error.
func Unpack64(dst []uint64, src []byte, k uint) error {
	if k > 64 {
		return malformed("bit width %d above 64", k)
	}
	if err := checkPacked(len(dst), src, k); err != nil {
		return err
	}
	if littleEndian && k == 64 {
		copy(bytesOf64(dst), src)
		return nil
	}
	unpackBits(dst, src, k)
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
	if littleEndian && k == 32 {
		copy(bytesOf32(dst), src)
		return nil
	}
	unpackBits(dst, src, k)
	return nil
}

// Unpack16 is [Unpack64] for uint16 elements; k must be in 0..16.
func Unpack16(dst []uint16, src []byte, k uint) error {
	if k > 16 {
		return malformed("bit width %d above 16", k)
	}
	if err := checkPacked(len(dst), src, k); err != nil {
		return err
	}
	if littleEndian && k == 16 {
		copy(bytesOf16(dst), src)
		return nil
	}
	unpackBits(dst, src, k)
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

// unpackBits is the bit unpacker; src has been validated. For k <= 56 every
// element lies within the 8 bytes starting at its first byte, so the main
// loop reads one unaligned little-endian word per element and needs no
// state; the last elements, whose word would run past the end, and widths
// above 56 go through an accumulator.
func unpackBits[T uint16 | uint32 | uint64](dst []T, src []byte, k uint) {
	if k == 0 {
		clear(dst)
		return
	}
	mask := lowMask(k)
	i := 0
	if k <= 56 {
		// Element i starts at bit i*k; its word is in range while
		// (i*k)/8 + 8 <= len(src).
		fast := 0
		if len(src) >= 8 {
			fast = min(len(dst), ((len(src)-8)*8)/int(k)+1)
		}
		pos := uint(0)
		for ; i < fast; i++ {
			w := binary.LittleEndian.Uint64(src[pos>>3:])
			dst[i] = T((w >> (pos & 7)) & mask)
			pos += k
		}
	}
	// Accumulator for the rest, starting at bit i*k.
	pos := uint(i) * k
	r := int(pos >> 3)
	var acc uint64
	var nacc uint // valid bits in acc
	if skip := pos & 7; skip != 0 {
		acc = uint64(src[r]) >> skip
		nacc = 8 - skip
		r++
	}
	for ; i < len(dst); i++ {
		var v uint64
		if nacc >= k {
			v = acc & mask
			acc >>= k // a shift by 64 gives 0
			nacc -= k
		} else {
			// Refill: the nacc pending bits and the rest from the next word.
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
			acc = next >> need // 0 when need == 64
			nacc = got - need
		}
		dst[i] = T(v)
	}
}
