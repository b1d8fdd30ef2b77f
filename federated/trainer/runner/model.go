package runner

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/consort-ml/consort/federated/trainer"
	"github.com/consort-ml/consort/federated/trainer/safetensors"
)

// MaxModelBytes bounds a model file read by [ReadModel]
// (4 x safetensors.MaxElements plus a header).
const MaxModelBytes = 4*safetensors.MaxElements + safetensors.DefaultMaxHeader + 8

// WriteModel writes t as a safetensors file (canonical, F32, metadata
// "format": "pt" plus meta) with mode 0644, atomically: a temporary file in
// the same directory, fsynced, renamed over path, and the directory
// fsynced. Teams load it with safetensors or python/consort.py.
func WriteModel(path string, t trainer.Tensors, meta map[string]string) (err error) {
	if _, err := trainer.Elements(t.Layout); err != nil {
		return err
	}
	m := map[string]string{"format": "pt"}
	for k, v := range meta {
		m[k] = v
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = f.Chmod(0o644); err != nil {
		return err
	}
	if _, err = safetensors.WriteTo(f, t.Layout, t.Data, m); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// ReadModel reads a model written by [WriteModel] (or any F32 safetensors
// file) of at most [MaxModelBytes].
func ReadModel(path string) (trainer.Tensors, error) {
	f, err := os.Open(path)
	if err != nil {
		return trainer.Tensors{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return trainer.Tensors{}, err
	}
	if st.Size() > MaxModelBytes {
		return trainer.Tensors{}, fmt.Errorf("%w: %s is %d bytes, at most %d", ErrConfig, path, st.Size(), int64(MaxModelBytes))
	}
	b := make([]byte, st.Size())
	if _, err := f.ReadAt(b, 0); err != nil {
		return trainer.Tensors{}, err
	}
	l, sf, err := safetensors.ReadLayout(b, safetensors.Limits{})
	if err != nil {
		return trainer.Tensors{}, err
	}
	return trainer.Tensors{Layout: l, Data: sf.Data}, nil
}
