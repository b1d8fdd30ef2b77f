package runner

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/consort-ml/consort/federated/trainer"
)

func TestModelFile(t *testing.T) {
	g := testGlobal()
	path := filepath.Join(t.TempDir(), "model.safetensors")
	if err := WriteModel(path, g, map[string]string{"consort.round": "20"}); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v", st.Mode())
	}
	back, err := ReadModel(path)
	if err != nil || !trainer.SameLayout(back.Layout, testLayout) || !slices.Equal(back.Data, g.Data) {
		t.Fatalf("%+v %v", back, err)
	}
}
