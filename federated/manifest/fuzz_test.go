package manifest

import (
	"bytes"
	"errors"
	"os"
	"testing"
	"time"
)

// FuzzParse: a manifest arrives from the coordinator, so Parse sees
// untrusted bytes. No panic, every error is ErrMalformed, and an accepted
// manifest re-encodes (Marshal, Parse) to the same canonical bytes.
func FuzzParse(f *testing.F) {
	good, err := os.ReadFile("testdata/signed.toml")
	if err != nil {
		f.Fatal(err)
	}
	ext, err := os.ReadFile("testdata/signed-ext.toml")
	if err != nil {
		f.Fatal(err)
	}
	seeds := [][]byte{good, ext}
	for i := 0; i < len(ext); i += 131 {
		m := bytes.Clone(ext)
		m[i] ^= 0x20
		seeds = append(seeds, m, ext[:i])
	}
	for _, cut := range []int{1, 50, 200, 400, len(good) / 2, len(good) - 1} {
		seeds = append(seeds, good[:cut])
	}
	for _, r := range [][2]string{{"= 2", "= 3"}, {"= 3", "= 2"}, {"2099", "1999"}, {`"node"`, `"nodes"`}, {"1e-05", "1e-5"}, {"\n", "\r\n"}} {
		seeds = append(seeds, bytes.Replace(good, []byte(r[0]), []byte(r[1]), 1))
	}
	for i := 0; i < len(good); i += 97 {
		m := bytes.Clone(good)
		m[i] ^= 0x20
		seeds = append(seeds, m)
	}
	if len(seeds) == 0 {
		f.Fatal("empty seed corpus")
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		enc, err := m.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		m2, err := Parse(enc)
		if err != nil {
			t.Fatalf("re-encoded manifest does not parse: %v\n%s", err, enc)
		}
		if !bytes.Equal(m.Canonical(), m2.Canonical()) {
			t.Fatal("canonical bytes changed in a round trip")
		}
		// Verification must not panic either.
		_ = m.Verify(time.Now())
	})
}
