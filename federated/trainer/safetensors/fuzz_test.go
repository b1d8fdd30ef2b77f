package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"testing"
)

// fuzzSeeds returns valid files and mutations of them: truncations, header
// length +/-1 and bit flips.
func fuzzSeeds() [][]byte {
	good, _ := Encode(testLayout, testData, map[string]string{"format": "pt"})
	seeds := [][]byte{good}
	for _, cut := range []int{0, 7, 8, 20, len(good) - 4, len(good) - 1} {
		seeds = append(seeds, good[:cut])
	}
	for _, d := range []int64{-1, 1} {
		b := slices.Clone(good)
		binary.LittleEndian.PutUint64(b, uint64(int64(binary.LittleEndian.Uint64(b))+d))
		seeds = append(seeds, b)
	}
	for _, i := range []int{8, 30, 60, 100, len(good) - 2} {
		b := slices.Clone(good)
		b[i] ^= 0x10
		seeds = append(seeds, b)
	}
	return append(seeds, file(`{"scale":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"fc.bias":{"shape":[3],"dtype":"F32","data_offsets":[4,16]},`+
		`"fc.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[16,40]}}`, testData...))
}

func TestFuzzSeedsNotEmpty(t *testing.T) {
	if len(fuzzSeeds()) < 10 {
		t.Fatal("fuzz corpus too small")
	}
}

// FuzzDecode checks that Decode never panics, classifies every error, and
// that anything accepted re-encodes to a file that decodes to the same
// values and agrees with ReadFrom.
func FuzzDecode(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, _, err := ReadLayout(b, Limits{MaxHeader: 4096}); err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("ReadLayout: unclassified error: %v", err)
		}
		got, err := Decode(b, testLayout, Limits{MaxHeader: 4096})
		dst := make([]float32, len(testData))
		_, rerr := ReadFrom(bytes.NewReader(b), int64(len(b)), testLayout, Limits{MaxHeader: 4096}, dst)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("unclassified error: %v", err)
			}
			if rerr == nil {
				t.Fatalf("ReadFrom accepted what Decode refused: %v", err)
			}
			return
		}
		if rerr != nil {
			t.Fatalf("ReadFrom refused what Decode accepted: %v", rerr)
		}
		if !bitsEqual(dst, got.Data) {
			t.Fatal("ReadFrom and Decode disagree")
		}
		again, err := Encode(testLayout, got.Data, got.Metadata)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Decode(again, testLayout, Limits{})
		if err != nil || !bitsEqual(back.Data, got.Data) {
			t.Fatalf("re-encoding changed the file: %v", err)
		}
	})
}

func bitsEqual(a, b []float32) bool {
	return bytes.Equal(float32Bytes(a), float32Bytes(b))
}
