package secagg

import (
	"fmt"

	"github.com/consort-ml/consort/kernels"
	"github.com/consort-ml/consort/mpc"
)

// vec is a ring vector of Z_{2^bits}: v32 for bits <= 32, v64 otherwise.
// Arithmetic wraps at the storage width; reduce maps to Z_{2^bits}, which is
// consistent because 2^bits divides the storage modulus.
type vec struct {
	bits uint
	v32  []uint32
	v64  []uint64
}

func newVec(p *Params) vec {
	v := vec{bits: p.bits}
	if p.Wide() {
		v.v64 = make([]uint64, p.dim)
	} else {
		v.v32 = make([]uint32, p.dim)
	}
	return v
}

func (v vec) maskAdd(seed *[32]byte) {
	var err error
	if v.v64 != nil {
		err = kernels.MaskAdd64(v.v64, seed[:])
	} else {
		err = kernels.MaskAdd32(v.v32, seed[:])
	}
	if err != nil {
		panic("secagg: 32-byte mask seed refused")
	}
}

func (v vec) maskSub(seed *[32]byte) {
	var err error
	if v.v64 != nil {
		err = kernels.MaskSub64(v.v64, seed[:])
	} else {
		err = kernels.MaskSub32(v.v32, seed[:])
	}
	if err != nil {
		panic("secagg: 32-byte mask seed refused")
	}
}

// addPacked unpacks a StepMaskedInput body into scratch and adds it to v.
// v is unchanged when the body is malformed.
func (v vec) addPacked(body []byte, scratch vec) error {
	var err error
	if v.v64 != nil {
		if err = kernels.Unpack64(scratch.v64, body, v.bits); err == nil {
			kernels.AddRing64(v.v64, scratch.v64)
		}
	} else {
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
	if v.v64 != nil {
		return kernels.Pack64(dst, v.v64, v.bits)
	}
	return kernels.Pack32(dst, v.v32, v.bits)
}

// reduce maps every element into [0, 2^bits).
func (v vec) reduce() {
	if v.v64 != nil {
		if v.bits < 64 {
			m := uint64(1)<<v.bits - 1
			for i := range v.v64 {
				v.v64[i] &= m
			}
		}
		return
	}
	if v.bits < 32 {
		m := uint32(1)<<v.bits - 1
		for i := range v.v32 {
			v.v32[i] &= m
		}
	}
}
