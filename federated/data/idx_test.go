package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// idxBytes builds an IDX file with the given type byte, dims and payload.
func idxBytes(typ byte, dims []uint32, payload []byte) []byte {
	b := []byte{0, 0, typ, byte(len(dims))}
	for _, d := range dims {
		b = binary.BigEndian.AppendUint32(b, d)
	}
	return append(b, payload...)
}

func TestParseIDX(t *testing.T) {
	in := idxBytes(0x08, []uint32{2, 3}, []byte{1, 2, 3, 4, 5, 6})
	x, err := ParseIDX(in)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(x.Dims, []int{2, 3}) || !slices.Equal(x.Data, []byte{1, 2, 3, 4, 5, 6}) {
		t.Fatalf("got dims %v data %v", x.Dims, x.Data)
	}
	out, err := x.MarshalBinary()
	if err != nil || !bytes.Equal(out, in) {
		t.Fatalf("re-encoding = %x, %v; want %x", out, err, in)
	}
}

func TestParseIDXMalformed(t *testing.T) {
	good := idxBytes(0x08, []uint32{2, 3}, []byte{1, 2, 3, 4, 5, 6})
	tests := []struct {
		name string
		in   []byte
		msg  string
	}{
		{"empty", nil, "header"},
		{"short-magic", []byte{0, 0, 8}, "header"},
		{"bad-magic", append([]byte{1}, good[1:]...), "bad magic"},
		{"float-type", idxBytes(0x0D, []uint32{1}, []byte{0, 0, 0, 0}), "unsupported element type 0x0d"},
		{"int-type", idxBytes(0x0C, []uint32{1}, []byte{0, 0, 0, 0}), "unsupported element type 0x0c"},
		{"no-dims", []byte{0, 0, 8, 0}, "no dimensions"},
		{"truncated-dims", good[:9], "dimension sizes"},
		{"zero-dim", idxBytes(0x08, []uint32{0, 3}, nil), "dimension 0 has size 0"},
		{"truncated-payload", good[:len(good)-1], "truncated: 5 of 6"},
		{"trailing-byte", append(slices.Clone(good), 7), "trailing bytes"},
		{"huge-dim", idxBytes(0x08, []uint32{0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF}, []byte{1}), "limit"},
		{"just-over-limit", idxBytes(0x08, []uint32{MaxIDXBytes/2 + 1, 2}, nil), "limit"},
		{"many-dims-overflow", idxBytes(0x08, slices.Repeat([]uint32{0x10000}, 255), nil), "limit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseIDX(tc.in)
			if !errors.Is(err, ErrBadData) {
				t.Fatalf("err = %v, want ErrBadData", err)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("err = %q, want it to mention %q", err, tc.msg)
			}
		})
	}
}

// TestReadIDXHugeHeaderNoAllocation checks that a header claiming the
// maximum payload, followed by a few bytes, costs memory in proportion to
// the bytes present, not to the claim.
func TestReadIDXHugeHeaderNoAllocation(t *testing.T) {
	in := idxBytes(0x08, []uint32{1 << 14, 1 << 16}, make([]byte, 100)) // claims 1 GiB
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := ParseIDX(in)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrBadData) || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("err = %v, want truncated", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Errorf("parsing a 1 GiB claim backed by 100 bytes allocated %d bytes", grew)
	}
}

func TestReadIDXFile(t *testing.T) {
	dir := t.TempDir()
	raw := idxBytes(0x08, []uint32{3}, []byte{7, 8, 9})
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw)
	zw.Close()
	corrupt := slices.Clone(gz.Bytes())
	corrupt[len(corrupt)-5] ^= 0xFF // damage the CRC-32 trailer
	files := map[string][]byte{"raw": raw, "gz": gz.Bytes(), "corrupt.gz": corrupt, "badgz": {0x1f, 0x8b, 0, 0}}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"raw", "gz"} {
		x, err := ReadIDXFile(filepath.Join(dir, name))
		if err != nil || !slices.Equal(x.Data, []byte{7, 8, 9}) {
			t.Errorf("%s: %v, %v", name, x, err)
		}
	}
	for _, name := range []string{"corrupt.gz", "badgz"} {
		_, err := ReadIDXFile(filepath.Join(dir, name))
		if !errors.Is(err, ErrBadData) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: err = %v, want ErrBadData naming the file", name, err)
		}
	}
	if _, err := ReadIDXFile(filepath.Join(dir, "absent")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("absent: err = %v", err)
	}
}

func TestIDXMarshalRejects(t *testing.T) {
	for _, x := range []*IDX{
		{},
		{Dims: []int{2}, Data: []byte{1}},
		{Dims: []int{0}, Data: nil},
		{Dims: []int{-1}, Data: nil},
		{Dims: make([]int, 256)},
	} {
		if _, err := x.MarshalBinary(); !errors.Is(err, ErrBadData) {
			t.Errorf("MarshalBinary(%v) err = %v", x.Dims, err)
		}
	}
}

// idxSeeds returns the fuzz seed corpus: valid files, their truncations,
// length fields off by one and single bit flips.
func idxSeeds() [][]byte {
	valid := [][]byte{
		idxBytes(0x08, []uint32{4}, []byte{0, 1, 2, 9}),
		idxBytes(0x08, []uint32{2, 2, 2}, []byte{1, 2, 3, 4, 5, 6, 7, 8}),
		idxBytes(0x08, []uint32{1, 28, 28}, make([]byte, 784)),
	}
	var seeds [][]byte
	for _, v := range valid {
		seeds = append(seeds, v)
		for i := range len(v) {
			seeds = append(seeds, v[:i])
		}
		for _, delta := range []int{-1, 1} {
			b := slices.Clone(v)
			b[7] = byte(int(b[7]) + delta) // first dimension's low byte
			seeds = append(seeds, b)
			b = slices.Clone(v)
			b[3] = byte(int(b[3]) + delta) // dimension count
			seeds = append(seeds, b)
		}
		for i := range min(len(v), 16) {
			for bit := range 8 {
				b := slices.Clone(v)
				b[i] ^= 1 << bit
				seeds = append(seeds, b)
			}
		}
	}
	return seeds
}

func FuzzParseIDX(f *testing.F) {
	seeds := idxSeeds()
	if len(seeds) == 0 {
		f.Fatal("empty seed corpus")
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		x, err := ParseIDX(in)
		if err != nil {
			if !errors.Is(err, ErrBadData) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		out, err := x.MarshalBinary()
		if err != nil {
			t.Fatalf("accepted input does not re-encode: %v", err)
		}
		if !bytes.Equal(out, in) {
			t.Fatalf("re-encoding differs:\n in  %x\n out %x", in, out)
		}
	})
}
