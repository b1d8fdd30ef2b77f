package runner

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/consort-ml/consort/federated/trainer"
)

// MaxProgramBytes bounds the total size of a trainer's program files.
const MaxProgramBytes = 256 << 20

// programName returns the name a program file gets in the trainer's
// application directory: its base name.
func programName(f string) string { return filepath.Base(filepath.Clean(f)) }

// checkPrograms validates the file list: at least one file, unique base
// names that are not "." or "..".
func checkPrograms(files []string) error {
	if len(files) == 0 {
		return fmt.Errorf("%w: no program files (list the trainer's scripts in Command.Files)", ErrConfig)
	}
	seen := map[string]bool{}
	for _, f := range files {
		n := programName(f)
		if n == "." || n == ".." || n == "/" || n == "" {
			return fmt.Errorf("%w: program file %q has no name", ErrConfig, f)
		}
		if seen[n] {
			return fmt.Errorf("%w: two program files named %q", ErrConfig, n)
		}
		seen[n] = true
	}
	return nil
}

// DigestFiles returns the [trainer.Digest] of the program files (paths relative to
// dir unless absolute), as [Start] computes it.
func DigestFiles(dir string, files []string) (trainer.Digest, error) {
	return stagePrograms(dir, files, "")
}

// stagePrograms hashes the program files and, when dst is not empty, copies
// them into dst (mode 0500 directory, 0400 files) in the same pass, so the
// bytes that run are exactly the bytes hashed (no time-of-check to
// time-of-use window on the originals).
func stagePrograms(dir string, files []string, dst string) (trainer.Digest, error) {
	if err := checkPrograms(files); err != nil {
		return trainer.Digest{}, err
	}
	type line struct{ name, sum string }
	var lines []line
	var total int64
	for _, f := range files {
		p := f
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, f)
		}
		sum, n, err := hashCopy(p, dst, MaxProgramBytes-total)
		if err != nil {
			return trainer.Digest{}, err
		}
		total += n
		lines = append(lines, line{programName(f), sum})
	}
	slices.SortFunc(lines, func(a, b line) int { return strings.Compare(a.name, b.name) })
	h := sha256.New()
	for _, l := range lines {
		fmt.Fprintf(h, "%s  %s\n", l.sum, l.name)
	}
	var d trainer.Digest
	h.Sum(d[:0])
	return d, nil
}

func hashCopy(src, dstDir string, budget int64) (string, int64, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", 0, fmt.Errorf("%w: program file: %w", ErrConfig, err)
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return "", 0, fmt.Errorf("%w: program file: %w", ErrConfig, err)
	}
	if !st.Mode().IsRegular() {
		return "", 0, fmt.Errorf("%w: program file %q is not a regular file", ErrConfig, src)
	}
	h := sha256.New()
	w := io.Writer(h)
	var out *os.File
	if dstDir != "" {
		out, err = os.OpenFile(filepath.Join(dstDir, programName(src)), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return "", 0, err
		}
		defer out.Close()
		w = io.MultiWriter(h, out)
	}
	n, err := io.Copy(w, io.LimitReader(in, budget+1))
	if err != nil {
		return "", 0, fmt.Errorf("%w: program file: %w", ErrConfig, err)
	}
	if n > budget {
		return "", 0, fmt.Errorf("%w: program files larger than %d bytes", ErrConfig, MaxProgramBytes)
	}
	if out != nil {
		if err := out.Chmod(0o400); err != nil {
			return "", 0, err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
