package kernels

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
)

// maskChunk is the number of keystream bytes generated at a time. The chunk
// stays in L1 cache between being written by AES-CTR and being added into
// the ring vector, so the vector itself is read and written exactly once.
const maskChunk = 4096

// maskStream returns the AES-128-CTR keystream for a mask seed: a 16-byte
// seed is the key with an all-zero IV, a 32-byte seed is key || IV.
func maskStream(seed []byte) (cipher.Stream, error) {
	var iv [aes.BlockSize]byte
	switch len(seed) {
	case 16:
	case 32:
		copy(iv[:], seed[16:])
	default:
		return nil, ErrSeedLength
	}
	block, err := aes.NewCipher(seed[:16])
	if err != nil {
		return nil, err
	}
	return cipher.NewCTR(block, iv[:]), nil
}

// MaskAdd32 adds the mask expanded from seed to dst: dst[i] += K_i modulo
// 2^32, where K_i is the little-endian uint32 in bytes [4i, 4i+4) of the
// AES-128-CTR keystream of seed (16 bytes: AES key with zero IV; 32 bytes:
// key = seed[:16], IV = seed[16:], the IV being the initial big-endian
// counter block). The keystream is produced in small chunks and added as it
// is produced; no buffer of the vector's size is allocated. Any other seed
// length returns [ErrSeedLength] and leaves dst unchanged.
func MaskAdd32(dst []uint32, seed []byte) error {
	return mask32(dst, seed, false)
}

// MaskSub32 subtracts the mask of [MaskAdd32]: dst[i] -= K_i modulo 2^32.
func MaskSub32(dst []uint32, seed []byte) error {
	return mask32(dst, seed, true)
}

// MaskAdd16 is [MaskAdd32] over Z_2^16: K_i is the little-endian uint16 in
// bytes [2i, 2i+2) of the keystream. A ring of k <= 16 bits draws its masks
// here (reduced modulo 2^k when packed), so a mask costs 2 keystream bytes
// per element, the wire size at k = 16.
func MaskAdd16(dst []uint16, seed []byte) error {
	return mask16(dst, seed, false)
}

// MaskSub16 subtracts the mask of [MaskAdd16]: dst[i] -= K_i modulo 2^16.
func MaskSub16(dst []uint16, seed []byte) error {
	return mask16(dst, seed, true)
}

// MaskAdd64 is [MaskAdd32] over Z_2^64: K_i is the little-endian uint64 in
// bytes [8i, 8i+8) of the keystream.
func MaskAdd64(dst []uint64, seed []byte) error {
	return mask64(dst, seed, false)
}

// MaskSub64 subtracts the mask of [MaskAdd64]: dst[i] -= K_i modulo 2^64.
func MaskSub64(dst []uint64, seed []byte) error {
	return mask64(dst, seed, true)
}

// maskBuffers holds the per-call chunk buffers: zeros to encrypt and the
// keystream as ring words. raw receives the keystream bytes on big-endian
// targets only.
type maskBuffers struct {
	zero []byte
	ks   []uint64
	raw  []byte
}

func newMaskBuffers() maskBuffers {
	b := maskBuffers{zero: make([]byte, maskChunk), ks: make([]uint64, maskChunk/8)}
	if !littleEndian {
		b.raw = make([]byte, maskChunk)
	}
	return b
}

// next16 returns the next n <= maskChunk/2 keystream words as uint16.
func (b *maskBuffers) next16(stream cipher.Stream, n int) []uint16 {
	k := words16Of64(b.ks)[:n]
	if littleEndian {
		stream.XORKeyStream(bytesOf16(k), b.zero[:n*2])
		return k
	}
	raw := b.raw[:n*2]
	stream.XORKeyStream(raw, b.zero[:n*2])
	for i := range k {
		k[i] = binary.LittleEndian.Uint16(raw[2*i:])
	}
	return k
}

// next32 returns the next n <= maskChunk/4 keystream words as uint32.
func (b *maskBuffers) next32(stream cipher.Stream, n int) []uint32 {
	k := words32Of64(b.ks)[:n]
	if littleEndian {
		stream.XORKeyStream(bytesOf32(k), b.zero[:n*4])
		return k
	}
	raw := b.raw[:n*4]
	stream.XORKeyStream(raw, b.zero[:n*4])
	for i := range k {
		k[i] = binary.LittleEndian.Uint32(raw[4*i:])
	}
	return k
}

// next64 returns the next n <= maskChunk/8 keystream words as uint64.
func (b *maskBuffers) next64(stream cipher.Stream, n int) []uint64 {
	k := b.ks[:n]
	if littleEndian {
		stream.XORKeyStream(bytesOf64(k), b.zero[:n*8])
		return k
	}
	raw := b.raw[:n*8]
	stream.XORKeyStream(raw, b.zero[:n*8])
	for i := range k {
		k[i] = binary.LittleEndian.Uint64(raw[8*i:])
	}
	return k
}

func mask16(dst []uint16, seed []byte, sub bool) error {
	stream, err := maskStream(seed)
	if err != nil {
		return err
	}
	buf := newMaskBuffers()
	for start := 0; start < len(dst); start += maskChunk / 2 {
		n := min(maskChunk/2, len(dst)-start)
		k := buf.next16(stream, n)
		if sub {
			subRing16(dst[start:start+n], k)
		} else {
			addRing16(dst[start:start+n], k)
		}
	}
	return nil
}

func mask32(dst []uint32, seed []byte, sub bool) error {
	stream, err := maskStream(seed)
	if err != nil {
		return err
	}
	buf := newMaskBuffers()
	for start := 0; start < len(dst); start += maskChunk / 4 {
		n := min(maskChunk/4, len(dst)-start)
		k := buf.next32(stream, n)
		if sub {
			subRing32(dst[start:start+n], k)
		} else {
			addRing32(dst[start:start+n], k)
		}
	}
	return nil
}

func mask64(dst []uint64, seed []byte, sub bool) error {
	stream, err := maskStream(seed)
	if err != nil {
		return err
	}
	buf := newMaskBuffers()
	for start := 0; start < len(dst); start += maskChunk / 8 {
		n := min(maskChunk/8, len(dst)-start)
		k := buf.next64(stream, n)
		if sub {
			subRing64(dst[start:start+n], k)
		} else {
			addRing64(dst[start:start+n], k)
		}
	}
	return nil
}

// MaskSet is a set of masks to apply to one vector in a single pass: the
// keystreams of Add are added and those of Sub subtracted, exactly as a
// sequence of MaskAdd and MaskSub calls with the same seeds would (ring
// addition commutes). Secure aggregation applies one mask per neighbour
// plus a self mask to each input, and the server removes hundreds.
type MaskSet struct {
	Add, Sub [][]byte
}

// maskTile is the number of bytes of the vector processed against every
// keystream before moving on: small enough that the tile stays in L1 cache
// next to the keystream chunk, so the vector is read and written once for
// the whole set instead of once per mask.
const maskTile = maskChunk

// streams opens the keystream of every seed; any bad seed length returns
// ErrSeedLength before anything is written.
func (m MaskSet) streams() (add, sub []cipher.Stream, err error) {
	open := func(seeds [][]byte) ([]cipher.Stream, error) {
		out := make([]cipher.Stream, len(seeds))
		for i, s := range seeds {
			st, err := maskStream(s)
			if err != nil {
				return nil, err
			}
			out[i] = st
		}
		return out, nil
	}
	if add, err = open(m.Add); err != nil {
		return nil, nil, err
	}
	if sub, err = open(m.Sub); err != nil {
		return nil, nil, err
	}
	return add, sub, nil
}

// Apply16 applies the set to dst over Z_2^16 (see [MaskAdd16]). On a bad
// seed length it returns [ErrSeedLength] and leaves dst unchanged.
func (m MaskSet) Apply16(dst []uint16) error {
	add, sub, err := m.streams()
	if err != nil {
		return err
	}
	buf := newMaskBuffers()
	const step = maskTile / 2
	for start := 0; start < len(dst); start += step {
		d := dst[start:min(start+step, len(dst))]
		for _, st := range add {
			addRing16(d, buf.next16(st, len(d)))
		}
		for _, st := range sub {
			subRing16(d, buf.next16(st, len(d)))
		}
	}
	return nil
}

// Apply32 applies the set to dst over Z_2^32 (see [MaskAdd32]).
func (m MaskSet) Apply32(dst []uint32) error {
	add, sub, err := m.streams()
	if err != nil {
		return err
	}
	buf := newMaskBuffers()
	const step = maskTile / 4
	for start := 0; start < len(dst); start += step {
		d := dst[start:min(start+step, len(dst))]
		for _, st := range add {
			addRing32(d, buf.next32(st, len(d)))
		}
		for _, st := range sub {
			subRing32(d, buf.next32(st, len(d)))
		}
	}
	return nil
}

// Apply64 applies the set to dst over Z_2^64 (see [MaskAdd64]).
func (m MaskSet) Apply64(dst []uint64) error {
	add, sub, err := m.streams()
	if err != nil {
		return err
	}
	buf := newMaskBuffers()
	const step = maskTile / 8
	for start := 0; start < len(dst); start += step {
		d := dst[start:min(start+step, len(dst))]
		for _, st := range add {
			addRing64(d, buf.next64(st, len(d)))
		}
		for _, st := range sub {
			subRing64(d, buf.next64(st, len(d)))
		}
	}
	return nil
}
