package shamir

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
	"slices"

	"filippo.io/bigmod"
)

// SecretSize is the size of a secret in bytes.
const SecretSize = 32

// ShareSize is the size of an encoded [Share]: a 2-byte index and an element.
const ShareSize = 2 + ElementSize

// MaxHolders bounds the number of holders of a Scheme (every non-zero uint16).
const MaxHolders = 1<<16 - 1

// Errors returned by this package (wrapped with context; match with errors.Is).
var (
	// ErrThreshold: the threshold is outside 1..number of holders.
	ErrThreshold = errors.New("shamir: invalid threshold")
	// ErrDuplicateIndex: two holders, or two shares, have the same index.
	ErrDuplicateIndex = errors.New("shamir: duplicate share index")
	// ErrUnknownIndex: an index is 0 or is not one of the scheme's holders.
	ErrUnknownIndex = errors.New("shamir: unknown share index")
	// ErrTooFewShares: fewer shares than the threshold.
	ErrTooFewShares = errors.New("shamir: too few shares")
	// ErrMalformed: share bytes do not decode (wrong length, element >= p).
	ErrMalformed = errors.New("shamir: malformed share")
	// ErrInconsistent: the shares interpolate to a value that is not a
	// 32-byte secret, so at least one of them is wrong.
	ErrInconsistent = errors.New("shamir: inconsistent shares")
	// ErrRandom: the randomness source failed.
	ErrRandom = errors.New("shamir: randomness source failed")
)

// Share is one holder's share: the index x and the value f(x). Shares are
// secret; the type has no String method and is not comparable.
type Share struct {
	_ [0]func() // not comparable with ==
	x uint16
	y [ElementSize]byte // little-endian, canonical
}

// Index returns the share's index (its holder's x-coordinate).
func (s *Share) Index() uint16 { return s.x }

// AppendValue appends the share's value f(x), ElementSize bytes, to dst.
func (s *Share) AppendValue(dst []byte) []byte { return append(dst, s.y[:]...) }

// AppendBinary appends the ShareSize-byte encoding of the share to dst.
func (s *Share) AppendBinary(dst []byte) ([]byte, error) {
	dst = binary.LittleEndian.AppendUint16(dst, s.x)
	return append(dst, s.y[:]...), nil
}

// MarshalBinary returns the ShareSize-byte encoding of the share.
func (s *Share) MarshalBinary() ([]byte, error) {
	return s.AppendBinary(make([]byte, 0, ShareSize))
}

// UnmarshalBinary decodes exactly ShareSize bytes. It rejects the index 0
// and values not less than p, so an accepted encoding re-encodes identically.
func (s *Share) UnmarshalBinary(b []byte) error {
	if len(b) != ShareSize {
		return fmt.Errorf("%w: %d bytes, want %d", ErrMalformed, len(b), ShareSize)
	}
	sh, err := ParseShare(binary.LittleEndian.Uint16(b), b[2:])
	if err != nil {
		return err
	}
	*s = sh
	return nil
}

// ParseShare builds a share from its index and its ElementSize-byte value
// (as written by [Share.AppendValue]).
func ParseShare(x uint16, value []byte) (Share, error) {
	if x == 0 {
		return Share{}, fmt.Errorf("%w: index 0", ErrUnknownIndex)
	}
	if len(value) != ElementSize {
		return Share{}, fmt.Errorf("%w: value of %d bytes, want %d", ErrMalformed, len(value), ElementSize)
	}
	var s Share
	s.x = x
	copy(s.y[:], value)
	if !canonical(&s.y) {
		return Share{}, fmt.Errorf("%w: value of share %d not less than p", ErrMalformed, x)
	}
	return s, nil
}

// canonical reports whether the little-endian value b is less than p,
// comparing in constant time with respect to b's contents.
func canonical(b *[ElementSize]byte) bool {
	// b < p  <=>  p - 1 - b does not borrow.
	var borrow uint16
	for i := range ElementSize {
		pm1 := pBytes[ElementSize-1-i]
		if i == 0 {
			pm1-- // p's low byte is 0x29, no borrow from p - 1
		}
		d := uint16(pm1) - uint16(b[i]) - borrow
		borrow = (d >> 8) & 1
	}
	return borrow == 0
}

// Scheme is a t-of-n sharing among fixed holders. It is immutable and safe
// for concurrent use.
type Scheme struct {
	t       int
	holders []uint16 // in the order given to New
	pos     map[uint16]int
}

// New returns a scheme with threshold t (1 <= t <= len(holders)) over the
// given holder indices, which must be distinct and non-zero.
func New(t int, holders []uint16) (*Scheme, error) {
	if len(holders) == 0 || len(holders) > MaxHolders {
		return nil, fmt.Errorf("%w: %d holders", ErrThreshold, len(holders))
	}
	if t < 1 || t > len(holders) {
		return nil, fmt.Errorf("%w: t = %d with %d holders", ErrThreshold, t, len(holders))
	}
	pos := make(map[uint16]int, len(holders))
	for i, x := range holders {
		if x == 0 {
			return nil, fmt.Errorf("%w: index 0", ErrUnknownIndex)
		}
		if _, dup := pos[x]; dup {
			return nil, fmt.Errorf("%w: holder %d", ErrDuplicateIndex, x)
		}
		pos[x] = i
	}
	return &Scheme{t: t, holders: slices.Clone(holders), pos: pos}, nil
}

// Threshold returns t, the number of shares that reconstruct the secret.
func (s *Scheme) Threshold() int { return s.t }

// Holders returns a copy of the holders' indices, in the order of the shares
// returned by Split.
func (s *Scheme) Holders() []uint16 { return slices.Clone(s.holders) }

// Split shares secret: it returns one share per holder, in holder order.
// The t-1 random coefficients are drawn from rand, which must be a secure
// generator.
func (s *Scheme) Split(secret *[SecretSize]byte, rand io.Reader) ([]Share, error) {
	f := newField()
	coef := make([]*bigmod.Nat, s.t)
	coef[0] = f.secretElement(secret)
	for i := 1; i < s.t; i++ {
		c, err := f.random(rand)
		if err != nil {
			return nil, err
		}
		coef[i] = c
	}
	out := make([]Share, len(s.holders))
	acc := bigmod.NewNat()
	for i, x := range s.holders {
		xn := f.fromUint(uint64(x))
		// Horner: acc = ((c_{t-1} x + c_{t-2}) x + ...) x + c_0.
		copyNat(acc, coef[s.t-1], f)
		for j := s.t - 2; j >= 0; j-- {
			acc.Mul(xn, f.m)
			acc.Add(coef[j], f.m)
		}
		out[i].x = x
		out[i].y = f.toLE(acc)
	}
	return out, nil
}

// copyNat sets dst = src for two reduced elements.
func copyNat(dst, src *bigmod.Nat, f field) {
	b := src.Bytes(f.m)
	if _, err := dst.SetBytes(b, f.m); err != nil {
		panic("shamir: reduced element overflows the field")
	}
}

// Combine reconstructs the secret from shares. Every share must belong to a
// distinct holder of the scheme; at least t are needed and exactly the first
// t are used. A result that is not a 32-byte value (the shares are not all
// from one polynomial with a 32-byte secret) returns ErrInconsistent.
func (s *Scheme) Combine(shares []Share) ([SecretSize]byte, error) {
	var zero [SecretSize]byte
	seen := make(map[uint16]bool, len(shares))
	for i := range shares {
		x := shares[i].x
		if _, ok := s.pos[x]; !ok {
			return zero, fmt.Errorf("%w: %d", ErrUnknownIndex, x)
		}
		if seen[x] {
			return zero, fmt.Errorf("%w: %d", ErrDuplicateIndex, x)
		}
		seen[x] = true
	}
	if len(shares) < s.t {
		return zero, fmt.Errorf("%w: %d of %d", ErrTooFewShares, len(shares), s.t)
	}
	use := shares[:s.t]
	f := newField()
	lambda := lagrangeAtZero(use, f)
	acc := bigmod.NewNat().ExpandFor(f.m)
	for i := range use {
		y, err := f.fromLE(&use[i].y)
		if err != nil {
			return zero, fmt.Errorf("%w: value of share %d", ErrMalformed, use[i].x)
		}
		acc.Add(y.Mul(lambda[i], f.m), f.m)
	}
	le := f.toLE(acc)
	if le[SecretSize] != 0 {
		return zero, ErrInconsistent
	}
	var out [SecretSize]byte
	copy(out[:], le[:SecretSize])
	return out, nil
}

// lagrangeAtZero returns the public coefficients lambda_i = prod_{j != i}
// x_j / (x_j - x_i) mod p.
func lagrangeAtZero(shares []Share, f field) []*bigmod.Nat {
	out := make([]*bigmod.Nat, len(shares))
	num, den, tmp := new(big.Int), new(big.Int), new(big.Int)
	for i := range shares {
		num.SetInt64(1)
		den.SetInt64(1)
		xi := int64(shares[i].x)
		for j := range shares {
			if j == i {
				continue
			}
			xj := int64(shares[j].x)
			num.Mul(num, tmp.SetInt64(xj))
			num.Mod(num, f.p)
			den.Mul(den, tmp.SetInt64(xj-xi))
			den.Mod(den, f.p)
		}
		den.ModInverse(den, f.p) // non-zero: indices are distinct and < p
		num.Mul(num, den)
		num.Mod(num, f.p)
		out[i] = f.fromBig(num)
	}
	return out
}
