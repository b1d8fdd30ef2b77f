package trainer

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/consort-ml/consort/federated/trainer/safetensors"
)

func TestInitialWeightsAndModelFile(t *testing.T) {
	g := testGlobal()
	b, err := safetensors.Encode(g.Layout, g.Data, map[string]string{"format": "pt"})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	got, err := ReadInitial(b, hex.EncodeToString(sum[:]), testLayout)
	if err != nil || !SameLayout(got.Layout, testLayout) || !slices.Equal(got.Data, g.Data) {
		t.Fatalf("%+v %v", got, err)
	}
	if _, err := ReadInitial(b, hex.EncodeToString(make([]byte, 32)), nil); !errors.Is(err, ErrWeights) {
		t.Fatalf("wrong digest: %v", err)
	}
	if _, err := ReadInitial(b, hex.EncodeToString(sum[:]), testLayout[:1]); !errors.Is(err, ErrWeights) {
		t.Fatalf("wrong layout: %v", err)
	}
	nan := slices.Clone(g.Data)
	nan[2] = float32(math.NaN())
	nb, _ := safetensors.Encode(g.Layout, nan, nil)
	nsum := sha256.Sum256(nb)
	if _, err := ReadInitial(nb, hex.EncodeToString(nsum[:]), nil); !errors.Is(err, ErrWeights) || !errors.Is(err, ErrInvalidOutput) {
		t.Fatalf("NaN weights: %v", err)
	}

}
