package audit

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func sampleLog(f *testing.F) []byte {
	dir := f.TempDir()
	path := filepath.Join(dir, "f.audit")
	l, err := Open(path, key(1), Options{Actor: "node-a", Role: "node", Now: clock()})
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range []Entry{
		{Kind: KindJoin, Peer: "coordinator"},
		{Kind: KindContributionSent, Round: 1, Digest: Digest([]byte("x")), Contributors: []string{"a"}},
		{Kind: KindEpsilon, Round: 1, Epsilon: 1.5, Delta: 1e-5, Fields: map[string]string{"k": "v<&>"}},
	} {
		if _, err := l.Append(e); err != nil {
			f.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		f.Fatal(err)
	}
	var buf bytes.Buffer
	for _, p := range []string{path} {
		b, err := readAll(p)
		if err != nil {
			f.Fatal(err)
		}
		buf.Write(b)
	}
	return buf.Bytes()
}

// seeds returns s with its truncations, length +-1 and single bit flips.
func seeds(s []byte) [][]byte {
	out := [][]byte{s, s[:len(s)-1], append(append([]byte(nil), s...), '}')}
	for _, n := range []int{0, 1, len(s) / 3, len(s) / 2} {
		out = append(out, s[:n])
	}
	for _, i := range []int{0, 5, len(s) / 2, len(s) - 2} {
		b := append([]byte(nil), s...)
		b[i] ^= 0x04
		out = append(out, b)
	}
	return out
}

// FuzzParseEntry: no panic, every error is ErrMalformed, and any accepted
// line re-encodes to exactly the same bytes.
func FuzzParseEntry(f *testing.F) {
	n := 0
	for _, line := range lines(sampleLog(f)) {
		for _, s := range seeds(line) {
			f.Add(s)
			n++
		}
	}
	if n == 0 {
		f.Fatal("empty seed corpus")
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		e, err := ParseEntry(line)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		again, err := encode(&e)
		if err != nil || !bytes.Equal(again, line) {
			t.Fatalf("accepted line re-encodes differently")
		}
	})
}

// FuzzVerify: arbitrary logs never panic, and every failure is a
// VerifyError with a position inside the input.
func FuzzVerify(f *testing.F) {
	corpus := seeds(sampleLog(f))
	if len(corpus) == 0 {
		f.Fatal("empty seed corpus")
	}
	for _, s := range corpus {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := Verify(bytes.NewReader(data), nil, nil)
		if err == nil {
			if len(rep.Entries) == 0 {
				t.Fatal("accepted a log without entries")
			}
			return
		}
		var ve *VerifyError
		if !errors.As(err, &ve) {
			t.Fatalf("unclassified error %v", err)
		}
		if ve.Line < 1 || ve.Line > bytes.Count(data, []byte("\n"))+1 {
			t.Fatalf("line %d outside input", ve.Line)
		}
	})
}

func readAll(path string) ([]byte, error) { return os.ReadFile(path) }
