// Package atomicfile writes files so that a crash or kill at any moment
// leaves either the old content or the new one, never a torn mix.
//
// [Write] writes a temporary file in the same directory, fsyncs it, renames
// it over the destination and fsyncs the directory: after it returns, the new
// content survives a power loss; if it fails or the process dies, the old file
// is untouched and no temporary file stays behind (except after a kill, which
// leaves a dot-file named after the destination that the next Write ignores).
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write writes data to path atomically with mode perm (see the package doc).
func Write(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
