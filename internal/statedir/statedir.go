package statedir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gofrs/flock"
)

// LockName is the name of the lock file inside a state directory.
const LockName = "consort.lock"

// ErrLocked is returned by [Acquire] when another process holds the lock.
var ErrLocked = errors.New("statedir: directory in use by another process")

// maxPIDFile bounds what is read of a lock file (it holds one decimal pid).
const maxPIDFile = 32

// Lock is an exclusive lock on one state directory, held until
// [Lock.Release] or the end of the process.
type Lock struct {
	dir string
	fl  *flock.Flock
}

// Acquire creates dir (mode 0700) if it does not exist and locks it without
// waiting. When another process holds the lock the error wraps [ErrLocked]
// and names the holder's pid when the lock file records one.
func Acquire(dir string) (*Lock, error) {
	if dir == "" {
		return nil, errors.New("statedir: empty directory name")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("statedir: %w", err)
	}
	path := filepath.Join(dir, LockName)
	fl := flock.New(path, flock.SetFlag(os.O_CREATE|os.O_RDWR), flock.SetPermissions(0o600))
	ok, err := fl.TryLock()
	if err != nil {
		return nil, fmt.Errorf("statedir: locking %s: %w", path, err)
	}
	if !ok {
		if pid := holder(path); pid > 0 {
			return nil, fmt.Errorf("%w: %s (locked by process %d)", ErrLocked, dir, pid)
		}
		return nil, fmt.Errorf("%w: %s", ErrLocked, dir)
	}
	// Informational only: which process holds the lock.
	if err := os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		_ = fl.Unlock()
		return nil, fmt.Errorf("statedir: %w", err)
	}
	return &Lock{dir: dir, fl: fl}, nil
}

// holder reads the pid recorded in a lock file, 0 when there is none.
func holder(path string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	buf := make([]byte, maxPIDFile)
	n, _ := f.Read(buf)
	pid, err := strconv.Atoi(strings.TrimSpace(string(buf[:n])))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

// Dir returns the locked directory.
func (l *Lock) Dir() string { return l.dir }

// Release unlocks the directory; the lock file stays. Releasing a nil or
// already released Lock does nothing.
func (l *Lock) Release() error {
	if l == nil || l.fl == nil {
		return nil
	}
	err := l.fl.Unlock()
	l.fl = nil
	if err != nil {
		return fmt.Errorf("statedir: %w", err)
	}
	return nil
}
