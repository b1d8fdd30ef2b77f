package model

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"testing"
)

// sealed returns a model file made of magic, a header and parameter bytes,
// with a valid checksum, so the fuzzer starts past the checksum.
func sealed(hdr []byte, hlen uint32, params []byte) []byte {
	b := append([]byte(modelMagic), binary.LittleEndian.AppendUint32(nil, hlen)...)
	b = append(append(b, hdr...), params...)
	sum := sha256.Sum256(b)
	return append(b, sum[:]...)
}

// modelFileSeeds are the seed corpus of FuzzModelFile: a valid model file
// and a valid checkpoint file, truncations, length fields off by one, bit
// flips, and re-sealed files with inconsistent headers.
func modelFileSeeds(tb testing.TB) (seeds [][]byte, valid int) {
	tb.Helper()
	files := []*File{
		{Spec: Spec{Kind: "logistic"}, Features: 2, Classes: 2, Mean: []float32{1, 2}, Std: []float32{3, 4},
			FeatureNames: []string{"a", "b"}, Label: "y", Round: 3, Params: []float32{0.5, -1, 2}},
		{Spec: Spec{Kind: "mlp", Hidden: []int{2}}, Features: 1, Classes: 3, Federation: "f", Round: 1,
			Checkpoint: json.RawMessage(`{"round":1,"attempt":7}`), Params: []float32{float32(math.Inf(1)), -0, 1e-40}},
	}
	for _, mf := range files {
		good, err := mf.MarshalBinary()
		if err != nil {
			tb.Fatal(err)
		}
		seeds = append(seeds, good, good[:len(good)-1], append(bytes.Clone(good), 0), good[:len(modelMagic)+4])
		for i := 0; i < len(good); i += 7 {
			b := bytes.Clone(good)
			b[i] ^= 0x10
			seeds = append(seeds, b)
		}
		valid++
		hdr, err := json.Marshal(mf)
		if err != nil {
			tb.Fatal(err)
		}
		params := good[len(modelMagic)+4+len(hdr) : len(good)-sha256.Size]
		h := uint32(len(hdr))
		seeds = append(seeds,
			sealed(hdr, h, params), // the same file, re-sealed: valid
			sealed(hdr, h+1, params), sealed(hdr, h-1, params), sealed(hdr, 1<<31, params),
			sealed(hdr, h, params[:len(params)-4]), sealed(hdr, h, append(bytes.Clone(params), 0, 0, 0, 0)),
			sealed(bytes.Replace(hdr, []byte(`"params":3`), []byte(`"params":-3`), 1), h+1, params),
			sealed(bytes.Replace(hdr, []byte(`"features":`), []byte(`"features":1`), 1), h+1, params),
			sealed([]byte(`{"params":0}`), 12, nil), // valid, empty
			sealed([]byte(`{"params":0,"mean":[1]}`), 23, nil),
			sealed([]byte(`[]`), 2, nil), sealed([]byte(`{`), 1, nil), sealed(nil, 0, nil),
		)
		valid += 2 // re-sealed and empty
		if len(mf.Mean) == 0 {
			valid++ // more features is fine without standardisation
		}
	}
	return seeds, valid
}

// FuzzModelFile checks the model-file decoder (files may come from
// another team or a damaged disk): no panic, every error is ErrBadFile, and
// an accepted file re-encodes to a file that decodes to the same value and
// re-encodes to the same bytes.
func FuzzModelFile(f *testing.F) {
	seeds, valid := modelFileSeeds(f)
	accepted := 0
	for _, s := range seeds {
		var m File
		if m.UnmarshalBinary(s) == nil {
			accepted++
		}
		f.Add(s)
	}
	if len(seeds) < 40 || accepted != valid {
		f.Fatalf("seed corpus: %d seeds, %d accepted, want >= 40 and %d", len(seeds), accepted, valid)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m File
		if err := m.UnmarshalBinary(b); err != nil {
			if !errors.Is(err, ErrBadFile) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if m.NumParams != len(m.Params) {
			t.Fatalf("%d parameters, header says %d", len(m.Params), m.NumParams)
		}
		again, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var m2 File
		if err := m2.UnmarshalBinary(again); err != nil {
			t.Fatalf("re-encoded file does not decode: %v", err)
		}
		p1, p2 := m.Params, m2.Params
		m.Params, m2.Params = nil, nil
		if !ParamsEqual(p1, p2) || !reflect.DeepEqual(m, m2) {
			t.Fatalf("accepted file does not round-trip:\n%+v\n%+v", m, m2)
		}
		m2.Params = p2
		third, err := m2.MarshalBinary()
		if err != nil || !bytes.Equal(third, again) {
			t.Fatalf("re-encoding is not stable (%v)", err)
		}
	})
}
