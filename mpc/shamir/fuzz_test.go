package shamir

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzShare: UnmarshalBinary never panics, every error is classified, and an
// accepted encoding re-encodes to the same bytes.
func FuzzShare(f *testing.F) {
	s, _ := New(2, holders(3))
	var secret [SecretSize]byte
	secret[5] = 7
	shares, err := s.Split(&secret, testRand(7))
	if err != nil {
		f.Fatal(err)
	}
	seeds := 0
	for i := range shares {
		enc, _ := shares[i].MarshalBinary()
		for _, b := range mutations(enc) {
			f.Add(b)
			seeds++
		}
	}
	if seeds == 0 {
		f.Fatal("empty seed corpus")
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var sh Share
		err := sh.UnmarshalBinary(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownIndex) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		enc, _ := sh.MarshalBinary()
		if !bytes.Equal(enc, b) {
			t.Fatalf("re-encoding differs:\n%x\n%x", enc, b)
		}
	})
}

// mutations returns b, its truncations, b with one byte more or less, and
// single bit flips.
func mutations(b []byte) [][]byte {
	out := [][]byte{b}
	for n := 0; n < len(b); n += 1 + len(b)/8 {
		out = append(out, b[:n])
	}
	out = append(out, append(append([]byte{}, b...), 0))
	if len(b) > 0 {
		out = append(out, b[:len(b)-1])
	}
	for i := 0; i < 8*len(b); i += 1 + 8*len(b)/16 {
		c := append([]byte{}, b...)
		c[i/8] ^= 1 << (i % 8)
		out = append(out, c)
	}
	// The top byte set high: non-canonical element.
	c := append([]byte{}, b...)
	c[len(c)-1] = 0xff
	return append(out, c)
}
