package statedir

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestAcquireExclusive(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	a, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("state directory: %v, mode %v", err, st.Mode())
	}
	// A second lock in the same process uses another open file: flock
	// treats it like another process.
	_, err = Acquire(dir)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Acquire: %v, want ErrLocked", err)
	}
	want := fmt.Sprintf("statedir: directory in use by another process: %s (locked by process %d)", dir, os.Getpid())
	if err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if err := a.Release(); err != nil {
		t.Fatal(err)
	}
	if err := a.Release(); err != nil {
		t.Errorf("second Release: %v", err)
	}
	b, err := Acquire(dir)
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	defer b.Release()
	if b.Dir() != dir {
		t.Errorf("Dir %q", b.Dir())
	}
	if st, err := os.Stat(filepath.Join(dir, LockName)); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("lock file: %v %v", err, st)
	}
}

// TestHelperHold is run as a subprocess by TestLockAcrossProcesses: it takes
// the lock, says so, and holds it until its stdin closes.
func TestHelperHold(t *testing.T) {
	dir := os.Getenv("STATEDIR_HOLD")
	if dir == "" {
		t.Skip("helper process")
	}
	l, err := Acquire(dir)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(3)
	}
	fmt.Println("locked")
	buf := make([]byte, 1)
	_, _ = os.Stdin.Read(buf)
	_ = l.Release()
	os.Exit(0)
}

func TestLockAcrossProcesses(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHold$")
	cmd.Env = append(os.Environ(), "STATEDIR_HOLD="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, _ := out.Read(buf) // blocks until the helper has the lock
	if !strings.HasPrefix(string(buf[:n]), "locked") {
		t.Fatalf("helper: %q", buf[:n])
	}
	_, err = Acquire(dir)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), fmt.Sprintf("process %d", cmd.Process.Pid)) {
		t.Errorf("Acquire while another process holds the lock: %v", err)
	}
	// When the holder is killed the kernel drops its lock: no stale lock.
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	stdin.Close()
	l, err := Acquire(dir)
	if err != nil {
		t.Fatalf("Acquire after the holder was killed: %v", err)
	}
	l.Release()
}

func TestAcquireErrors(t *testing.T) {
	if _, err := Acquire(""); err == nil {
		t.Error("empty name accepted")
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Acquire(file); err == nil || errors.Is(err, ErrLocked) {
		t.Errorf("a regular file as state directory: %v", err)
	}
}
