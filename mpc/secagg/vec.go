package secagg

import (
	"fmt"

	"github.com/consort-ml/consort/kernels"
	"github.com/consort-ml/consort/mpc"
)

// vec is a ring vector of Z_{2^bits} in the narrowest lane that holds it:
// v16 for bits <= 16, v32 for bits <= 32, v64 otherwise. Arithmetic wraps at
// the lane width; reduce maps to Z_{2^bits}, which is consistent because
// 2^bits divides the lane modulus. Masks are drawn at the lane width (2, 4
// or 8 keystream bytes per element), so at 16 bits a mask costs exactly the
// bytes that go on the wire.
type vec struct {
	bits uint
	v16  []uint16
	v32  []uint32
	v64  []uint64
}

// laneBits returns the lane width of a ring of bits bits.
func laneBits(bits uint) uint {
	switch {
	case bits <= 16:
		return 16
	case bits <= 32:
		return 32
	}
	return 64
}

func newVec(p *Params) vec {
	v := vec{bits: p.bits}
	switch laneBits(p.bits) {
	case 16:
		v.v16 = make([]uint16, p.dim)
	case 32:
		v.v32 = make([]uint32, p.dim)
	default:
		v.v64 = make([]uint64, p.dim)
	}
	return v
}

// inputVec copies a party's input into a fresh vector of its lane width.
func inputVec(p *Params, in32 []uint32, in64 []uint64) vec {
	v := vec{bits: p.bits}
	switch laneBits(p.bits) {
	case 16:
		v.v16 = make([]uint16, len(in32))
		for i, x := range in32 {
			v.v16[i] = uint16(x) // x < 2^bits <= 2^16, checked by NewClient
		}
	case 32:
		// Clone rather than make and copy: the copy is the only pass over
		// the vector before masking.
		v.v32 = append([]uint32(nil), in32...)
	default:
		v.v64 = append([]uint64(nil), in64...)
	}
	return v
}

func (v vec) maskSub(seed *[32]byte) {
	var err error
	switch {
	case v.v16 != nil:
		err = kernels.MaskSub16(v.v16, seed[:])
	case v.v64 != nil:
		err = kernels.MaskSub64(v.v64, seed[:])
	default:
		err = kernels.MaskSub32(v.v32, seed[:])
	}
	if err != nil {
		panic("secagg: 32-byte mask seed refused")
	}
}

// applyMasks adds and subtracts a set of masks in one tiled pass over v
// (kernels.MaskSet): the vector is read and written once, not once per mask.
func (v vec) applyMasks(set kernels.MaskSet) {
	var err error
	switch {
	case v.v16 != nil:
		err = set.Apply16(v.v16)
	case v.v64 != nil:
		err = set.Apply64(v.v64)
	default:
		err = set.Apply32(v.v32)
	}
	if err != nil {
		panic("secagg: 32-byte mask seed refused")
	}
}

// addPacked unpacks a StepMaskedInput body into scratch and adds it to v.
// v is unchanged when the body is malformed.
func (v vec) addPacked(body []byte, scratch vec) error {
	var err error
	switch {
	case v.v16 != nil:
		if err = kernels.Unpack16(scratch.v16, body, v.bits); err == nil {
			kernels.AddRing16(v.v16, scratch.v16)
		}
	case v.v64 != nil:
		if err = kernels.Unpack64(scratch.v64, body, v.bits); err == nil {
			kernels.AddRing64(v.v64, scratch.v64)
		}
	default:
		if err = kernels.Unpack32(scratch.v32, body, v.bits); err == nil {
			kernels.AddRing32(v.v32, scratch.v32)
		}
	}
	if err != nil {
		return fmt.Errorf("%w: secagg: masked input: %w", mpc.ErrMalformed, err)
	}
	return nil
}

// pack appends v reduced to bits, bit-packed.
func (v vec) pack(dst []byte) []byte {
	switch {
	case v.v16 != nil:
		return kernels.Pack16(dst, v.v16, v.bits)
	case v.v64 != nil:
		return kernels.Pack64(dst, v.v64, v.bits)
	}
	return kernels.Pack32(dst, v.v32, v.bits)
}

// reduce maps every element into [0, 2^bits).
func (v vec) reduce() {
	switch {
	case v.v16 != nil:
		if v.bits < 16 {
			m := uint16(1)<<v.bits - 1
			for i := range v.v16 {
				v.v16[i] &= m
			}
		}
	case v.v64 != nil:
		if v.bits < 64 {
			m := uint64(1)<<v.bits - 1
			for i := range v.v64 {
				v.v64[i] &= m
			}
		}
	default:
		if v.bits < 32 {
			m := uint32(1)<<v.bits - 1
			for i := range v.v32 {
				v.v32[i] &= m
			}
		}
	}
}

// sums returns the reduced vector as the Result's Sum32 or Sum64: 16-bit
// lanes are widened, so callers see one type for every width up to 32.
func (v vec) sums() ([]uint32, []uint64) {
	v.reduce()
	if v.v16 != nil {
		out := make([]uint32, len(v.v16))
		for i, x := range v.v16 {
			out[i] = uint32(x)
		}
		return out, nil
	}
	return v.v32, v.v64
}
