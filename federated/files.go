package federated

import (
	"os"

	"github.com/consort-ml/consort/federated/model"
	"github.com/consort-ml/consort/internal/atomicfile"
)

// ErrBadFile marks a model or checkpoint file that does not decode.
var ErrBadFile = model.ErrBadFile

// WriteFileAtomic writes data to path atomically (see package internal/atomicfile).
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	return atomicfile.Write(path, data, perm)
}

// ModelFile is the model file format of package model.
type ModelFile = model.File

// WriteModelFile writes m to path atomically.
func WriteModelFile(path string, m *ModelFile) error { return model.WriteFile(path, m) }

// ReadModelFile reads and checks a model file.
func ReadModelFile(path string) (*ModelFile, error) { return model.ReadFile(path) }
