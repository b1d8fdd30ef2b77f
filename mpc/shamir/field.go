package shamir

import (
	"errors"
	"fmt"
	"io"
	"math/big"

	"filippo.io/bigmod"
)

// ElementSize is the encoded size of a field element in bytes.
const ElementSize = 33

// pBytes is p = 2^256 + 297 in big-endian order.
var pBytes = [ElementSize]byte{0: 1, 31: 0x01, 32: 0x29}

// field holds the modulus in both representations. It is built per Scheme so
// that the package keeps no mutable global state.
type field struct {
	m *bigmod.Modulus
	p *big.Int
}

func newField() field {
	m, err := bigmod.NewModulus(pBytes[:])
	if err != nil {
		// The modulus is a constant greater than one.
		panic("shamir: bad modulus: " + err.Error())
	}
	return field{m: m, p: new(big.Int).SetBytes(pBytes[:])}
}

// errNonCanonical is wrapped into ErrMalformed by callers.
var errNonCanonical = errors.New("field element not less than p")

// fromLE decodes a little-endian element, rejecting values >= p.
func (f field) fromLE(b *[ElementSize]byte) (*bigmod.Nat, error) {
	var be [ElementSize]byte
	for i := range b {
		be[ElementSize-1-i] = b[i]
	}
	n, err := bigmod.NewNat().SetBytes(be[:], f.m)
	if err != nil {
		return nil, errNonCanonical
	}
	return n, nil
}

// toLE encodes n (reduced) as a little-endian element.
func (f field) toLE(n *bigmod.Nat) [ElementSize]byte {
	be := n.Bytes(f.m)
	var out [ElementSize]byte
	for i := range be {
		out[ElementSize-1-i] = be[i]
	}
	return out
}

// fromUint returns the element v (v < p).
func (f field) fromUint(v uint64) *bigmod.Nat {
	var be [ElementSize]byte
	for i := range 8 {
		be[ElementSize-1-i] = byte(v >> (8 * i))
	}
	n, err := bigmod.NewNat().SetBytes(be[:], f.m)
	if err != nil {
		panic("shamir: small constant overflows the field")
	}
	return n
}

// fromBig returns the element v, 0 <= v < p.
func (f field) fromBig(v *big.Int) *bigmod.Nat {
	var be [ElementSize]byte
	v.FillBytes(be[:])
	n, err := bigmod.NewNat().SetBytes(be[:], f.m)
	if err != nil {
		panic("shamir: reduced value overflows the field")
	}
	return n
}

// random draws a uniform element by rejection sampling: 257-bit candidates,
// accepted when below p (probability about 1/2 per draw).
func (f field) random(r io.Reader) (*bigmod.Nat, error) {
	var b [ElementSize]byte
	for range 256 {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrRandom, err)
		}
		b[ElementSize-1] &= 1
		if n, err := f.fromLE(&b); err == nil {
			return n, nil
		}
	}
	// 256 rejections in a row happen with probability about 2^-256 for a
	// uniform source: the reader is broken.
	return nil, fmt.Errorf("%w: source is not uniform", ErrRandom)
}

// secretElement maps a 32-byte secret (little-endian) to a field element.
func (f field) secretElement(s *[SecretSize]byte) *bigmod.Nat {
	var b [ElementSize]byte
	copy(b[:], s[:])
	n, err := f.fromLE(&b)
	if err != nil {
		panic("shamir: 256-bit value overflows the field")
	}
	return n
}
