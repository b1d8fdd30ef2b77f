package trainer

import (
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/consort-ml/consort/federated/trainer/safetensors"
)

// ErrWeights marks initial weights whose SHA-256 differs from the one the
// manifest declares, or that are not a valid F32 safetensors file.
var ErrWeights = errors.New("trainer: initial weights refused")

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
