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

// FuzzParseData: a [data] section (from a manifest or a data-only file)
// becomes a schema applied to a team's rows. No panic, every error is
// ErrMalformed, and an accepted section yields a schema that validates.
func FuzzParseData(f *testing.F) {
	ext, err := os.ReadFile("testdata/signed-ext.toml")
	if err != nil {
		f.Fatal(err)
	}
	only := []byte("[data]\nfeatures = [\"a\", \"c\"]\nlabel = \"y\"\nclasses = [\"0\", \"1\"]\nmissing_values = [\"\", \"?\"]\n" +
		"[[data.categorical]]\ncolumn = \"c\"\nvalues = [\"x\", \"z\"]\nunknown = \"zero\"\n" +
		"[[data.missing]]\naction = \"impute\"\nvalue = \"0\"\n[[data.missing]]\ncolumn = \"c\"\naction = \"drop\"\n")
	seeds := [][]byte{ext, only}
	for i := 0; i < len(only); i += 7 {
		m := bytes.Clone(only)
		m[i] ^= 0x01
		seeds = append(seeds, m, only[:i])
	}
	if len(seeds) == 0 {
		f.Fatal("empty seed corpus")
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseData(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		s := d.Schema()
		if err := s.Validate(); err != nil {
			t.Fatalf("accepted section gives an invalid schema: %v", err)
		}
		if len(d.Features) > 0 && s.Width() != len(s.InputNames()) {
			t.Fatalf("width %d, %d input names", s.Width(), len(s.InputNames()))
		}
	})
}
