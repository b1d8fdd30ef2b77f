package trainer

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"os"

	"github.com/consort-ml/consort/federated/trainer/safetensors"
)

// ErrWeights marks initial weights whose SHA-256 differs from the one the
// manifest declares, or that are not a valid F32 safetensors file.
var ErrWeights = errors.New("trainer: initial weights refused")

// MaxModelBytes bounds a model file read by [ReadInitial]'s callers
// (4 x safetensors.MaxElements plus a header).
const MaxModelBytes = 4*safetensors.MaxElements + safetensors.DefaultMaxHeader + 8

// ReadInitial checks that b, the initial weights the coordinator sent (a
// safetensors file), has the SHA-256 want (hex, from the manifest; compared
// in constant time) and decodes it strictly. The file's tensors, in data
// order, are the model layout. With layout not nil the file must have
// exactly that layout.
func ReadInitial(b []byte, want string, layout []TensorSpec) (Tensors, error) {
	w, err := ParseDigest(want)
	if err != nil {
		return Tensors{}, fmt.Errorf("%w: the manifest's weights digest: %w", ErrWeights, err)
	}
	if got := Digest(sha256.Sum256(b)); !got.Equal(w) {
		return Tensors{}, fmt.Errorf("%w: SHA-256 %s, the manifest declares %s", ErrWeights, got, w)
	}
	l, f, err := safetensors.ReadLayout(b, safetensors.Limits{})
	if err != nil {
		return Tensors{}, fmt.Errorf("%w: %w", ErrWeights, err)
	}
	if layout != nil && !SameLayout(l, layout) {
		return Tensors{}, fmt.Errorf("%w: %s", ErrWeights, layoutDiff(l, layout))
	}
	t := Tensors{Layout: l, Data: f.Data}
	if err := Check(t, l); err != nil {
		return Tensors{}, fmt.Errorf("%w: %w", ErrWeights, err)
	}
	return t, nil
}

// WriteModel writes t as a safetensors file (canonical, F32, metadata
// "format": "pt" plus meta) atomically with mode 0644, so teams load the
// federated model with safetensors or python/consort.py.
func WriteModel(path string, t Tensors, meta map[string]string) error {
	if _, err := Elements(t.Layout); err != nil {
		return err
	}
	m := map[string]string{"format": "pt"}
	for k, v := range meta {
		m[k] = v
	}
	return safetensors.WriteFile(path, t.Layout, t.Data, m, 0o644)
}

// ReadModel reads a model written by [WriteModel] (or any F32 safetensors
// file) of at most [MaxModelBytes].
func ReadModel(path string) (Tensors, error) {
	f, err := os.Open(path)
	if err != nil {
		return Tensors{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Tensors{}, err
	}
	if st.Size() > MaxModelBytes {
		return Tensors{}, fmt.Errorf("%w: %s is %d bytes, at most %d", ErrConfig, path, st.Size(), int64(MaxModelBytes))
	}
	b := make([]byte, st.Size())
	if _, err := f.ReadAt(b, 0); err != nil {
		return Tensors{}, err
	}
	l, sf, err := safetensors.ReadLayout(b, safetensors.Limits{})
	if err != nil {
		return Tensors{}, err
	}
	return Tensors{Layout: l, Data: sf.Data}, nil
}
