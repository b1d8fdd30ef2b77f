package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

var testLayout = []TensorSpec{
	{Name: "fc.weight", Shape: []int{2, 3}},
	{Name: "fc.bias", Shape: []int{3}},
	{Name: "scale", Shape: nil},
}

var testData = []float32{1, 2, 3, 4, 5, 6, -1, 0.5, 1e-3, 42}

// file builds a safetensors file from a literal JSON header and raw values.
func file(header string, values ...float32) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(b, header...)
	for _, v := range values {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	meta := map[string]string{"format": "pt", "consort.round": "3"}
	b, err := Encode(testLayout, testData, meta)
	if err != nil {
		t.Fatal(err)
	}
	if n := binary.LittleEndian.Uint64(b); (8+n)%8 != 0 {
		t.Fatalf("data section not 8-aligned: header %d", n)
	}
	f, err := Decode(b, testLayout, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.Data, testData) || f.Metadata["consort.round"] != "3" || len(f.Metadata) != 2 {
		t.Fatalf("got %v %v", f.Data, f.Metadata)
	}
	var w bytes.Buffer
	if _, err := WriteTo(&w, testLayout, testData, meta); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(w.Bytes(), b) {
		t.Fatal("WriteTo and Encode differ")
	}
	size, _ := Size(testLayout, meta)
	if size != int64(len(b)) {
		t.Fatalf("Size %d, len %d", size, len(b))
	}
	dst := make([]float32, len(testData))
	m, err := ReadFrom(bytes.NewReader(b), int64(len(b)), testLayout, Limits{}, dst)
	if err != nil || !slices.Equal(dst, testData) || m["format"] != "pt" {
		t.Fatalf("ReadFrom: %v %v %v", err, dst, m)
	}
}

// TestKnownAnswer decodes a file written by hand from the specification, with
// the tensors stored in a different order than the layout (as the reference
// implementation does when it sorts by name) and the header padded.
func TestKnownAnswer(t *testing.T) {
	hdr := `{"scale":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"fc.bias":{"shape":[3],"dtype":"F32","data_offsets":[4,16]},` +
		`"fc.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[16,40]},"__metadata__":{"format":"pt"}}   `
	b := file(hdr, 42, -1, 0.5, 1e-3, 1, 2, 3, 4, 5, 6)
	f, err := Decode(b, testLayout, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.Data, testData) {
		t.Fatalf("got %v, want %v", f.Data, testData)
	}
	dst := make([]float32, len(testData))
	if _, err := ReadFrom(bytes.NewReader(b), int64(len(b)), testLayout, Limits{}, dst); err != nil || !slices.Equal(dst, testData) {
		t.Fatalf("ReadFrom non-canonical: %v %v", err, dst)
	}
}

func TestRejects(t *testing.T) {
	const w = `"fc.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}`
	const bias = `"fc.bias":{"dtype":"F32","shape":[3],"data_offsets":[24,36]}`
	const sc = `"scale":{"dtype":"F32","shape":[],"data_offsets":[36,40]}`
	good := "{" + w + "," + bias + "," + sc + "}"
	if _, err := Decode(file(good, testData...), testLayout, Limits{}); err != nil {
		t.Fatalf("baseline rejected: %v", err)
	}
	cases := []struct {
		name, hdr string
		values    int
		want      string
	}{
		{"dtype-f16", "{" + strings.Replace(w, "F32", "F16", 1) + "," + bias + "," + sc + "}", 10, "dtype"},
		{"wrong-shape", "{" + strings.Replace(w, "[2,3]", "[3,2]", 1) + "," + bias + "," + sc + "}", 10, "shape"},
		{"extra-tensor", "{" + w + "," + bias + "," + sc + `,"evil":{"dtype":"F32","shape":[1],"data_offsets":[40,44]}}`, 11, "unexpected tensor"},
		{"missing-tensor", "{" + w + "," + bias + "}", 9, "missing tensor"},
		{"duplicate-tensor", "{" + w + "," + w + "," + bias + "," + sc + "}", 10, "duplicate"},
		{"duplicate-field", "{" + strings.Replace(w, `"dtype":"F32"`, `"dtype":"F32","dtype":"F32"`, 1) + "," + bias + "," + sc + "}", 10, "duplicate field"},
		{"unknown-field", "{" + strings.Replace(w, `"dtype":"F32"`, `"dtype":"F32","x":1`, 1) + "," + bias + "," + sc + "}", 10, "unknown field"},
		{"overlap", "{" + w + "," + strings.Replace(bias, "[24,36]", "[20,32]", 1) + "," + sc + "}", 10, "gap or overlap"},
		{"gap", "{" + w + "," + strings.Replace(bias, "[24,36]", "[28,40]", 1) + "," + strings.Replace(sc, "[36,40]", "[40,44]", 1) + "}", 11, "gap or overlap"},
		{"span-not-shape", "{" + w + "," + strings.Replace(bias, "[24,36]", "[24,40]", 1) + "," + strings.Replace(sc, "[36,40]", "[40,44]", 1) + "}", 11, "spans"},
		{"trailing-bytes", good, 11, "data section"},
		{"short-data", good, 9, "data section"},
		{"negative-dim", "{" + strings.Replace(w, "[2,3]", "[-2,3]", 1) + "," + bias + "," + sc + "}", 10, "integer"},
		{"float-offset", "{" + strings.Replace(w, "[0,24]", "[0.0,24]", 1) + "," + bias + "," + sc + "}", 10, "integer"},
		{"end-before-begin", "{" + strings.Replace(w, "[0,24]", "[24,0]", 1) + "," + bias + "," + sc + "}", 10, "end before begin"},
		{"three-offsets", "{" + strings.Replace(w, "[0,24]", "[0,24,3]", 1) + "," + bias + "," + sc + "}", 10, "exactly two"},
		{"not-object", "[" + w + "]", 10, "'{'"},
		{"padding-not-space", good + "\n", 10, "after the header"},
		{"metadata-not-string", `{"__metadata__":{"a":1},` + w + "," + bias + "," + sc + "}", 10, "metadata"},
		{"bad-json", "{" + w + "," + bias + "," + sc, 10, "header JSON"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			vals := make([]float32, c.values)
			_, err := Decode(file(c.hdr, vals...), testLayout, Limits{})
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want ErrMalformed mentioning %q", err, c.want)
			}
		})
	}
	t.Run("header-too-large", func(t *testing.T) {
		b := file(good+strings.Repeat(" ", 100), testData...)
		_, err := Decode(b, testLayout, Limits{MaxHeader: len(good) + 50})
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "cap") {
			t.Fatalf("got %v", err)
		}
		// ReadFrom must refuse before allocating the claimed header.
		huge := binary.LittleEndian.AppendUint64(nil, 1<<62)
		_, err = ReadFrom(bytes.NewReader(huge), 1<<62+8, testLayout, Limits{}, make([]float32, 10))
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("header-past-input", func(t *testing.T) {
		b := binary.LittleEndian.AppendUint64(nil, 1000)
		if _, err := Decode(append(b, '{', '}'), testLayout, Limits{}); !errors.Is(err, ErrMalformed) {
			t.Fatalf("got %v", err)
		}
	})
}

func TestLayoutChecks(t *testing.T) {
	for _, l := range [][]TensorSpec{
		{{Name: "", Shape: []int{1}}},
		{{Name: "a", Shape: []int{1}}, {Name: "a", Shape: []int{2}}},
		{{Name: "__metadata__", Shape: []int{1}}},
		{{Name: "a", Shape: []int{-1}}},
		{{Name: "a", Shape: []int{1 << 20, 1 << 20}}},
	} {
		if _, err := CheckLayout(l); !errors.Is(err, ErrLayout) {
			t.Errorf("layout %v: got %v, want ErrLayout", l, err)
		}
	}
	if _, err := Encode(testLayout, testData[:3], nil); !errors.Is(err, ErrLayout) {
		t.Errorf("short data: %v", err)
	}
}

func TestReadLayout(t *testing.T) {
	hdr := `{"scale":{"dtype":"F32","shape":[],"data_offsets":[36,40]},"fc.bias":{"shape":[3],"dtype":"F32","data_offsets":[24,36]},` +
		`"fc.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}`
	layout, f, err := ReadLayout(file(hdr, testData...), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if len(layout) != 3 || layout[0].Name != "fc.weight" || layout[2].Name != "scale" || !slices.Equal(f.Data, testData) {
		t.Fatalf("%v %v", layout, f.Data)
	}
	if _, _, err := ReadLayout(file(strings.Replace(hdr, "F32", "I64", 1), testData...), Limits{}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("I64: %v", err)
	}
}
