package runner

import (
	"bytes"
	"context"
	"errors"
	"github.com/consort-ml/consort/federated/trainer"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var testLayout = []trainer.TensorSpec{
	{Name: "fc.weight", Shape: []int{3, 2}},
	{Name: "fc.bias", Shape: []int{2}},
}

func testGlobal() trainer.Tensors {
	return trainer.Tensors{Layout: testLayout, Data: []float32{1, 2, 3, 4, 5, 6, 7, 8}}
}

var testSettings = trainer.Settings{Epochs: 1, BatchSize: 8, LR: 0.1, Momentum: 0.9}

// needSandbox skips when this machine cannot run the sandbox, so that a
// developer laptop without bubblewrap still runs the rest; CI installs it
// (.ci/run) and sets CONSORT_REQUIRE_SANDBOX=1 to make the skip a failure.
func needSandbox(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("no /usr/bin/python3")
	}
	if f := Probe(context.Background()); !f.Sandboxed() {
		if os.Getenv("CONSORT_REQUIRE_SANDBOX") == "1" {
			t.Fatalf("sandbox required but unavailable: %s", f)
		}
		t.Skipf("sandbox unavailable: %s", f)
	}
	if err := exec.Command("/usr/bin/python3", "-c", "import numpy").Run(); err != nil {
		t.Skip("python3-numpy missing (apt-get install python3-numpy)")
	}
}

func hostile(t *testing.T, mode string, args ...string) Command {
	t.Helper()
	return Command{
		Argv:     append([]string{"/usr/bin/python3", "hostile.py", mode}, args...),
		Dir:      "testdata",
		Files:    []string{"hostile.py", "../../../../python/consort.py"},
		WorkRoot: t.TempDir(),
		Layout:   testLayout,
		Limits:   Limits{Start: 30 * time.Second, Wall: 30 * time.Second, Memory: 1 << 30},
	}
}

func start(t *testing.T, c Command) *Process {
	t.Helper()
	p, err := Start(context.Background(), c)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func TestProcessGood(t *testing.T) {
	needSandbox(t)
	t.Parallel()
	c := hostile(t, "good")
	var stderr bytes.Buffer
	c.Stderr = &stderr
	p := start(t, c)
	info := p.Info()
	if !info.Sandboxed {
		t.Fatal("not sandboxed")
	}
	want, err := DigestFiles("testdata", c.Files)
	if err != nil || !info.Digest.Equal(want) {
		t.Fatalf("digest %s, want %s (%v)", info.Digest, want, err)
	}
	for round := range 2 {
		out, m, err := p.Train(context.Background(), trainer.Round{Round: round, Global: testGlobal(), Settings: testSettings, Seed: 7})
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		for i, v := range out.Data {
			if v != testGlobal().Data[i]+0.5 {
				t.Fatalf("value %d: %v", i, v)
			}
		}
		if m != (trainer.Metrics{Examples: 10, Correct: 7, LossSum: 3.25}) {
			t.Fatalf("metrics %+v", m)
		}
	}
	m, err := p.Evaluate(context.Background(), testGlobal())
	if err != nil || m != (trainer.Metrics{Examples: 4, Correct: 3, LossSum: 1.5}) {
		t.Fatalf("evaluate: %+v %v", m, err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(c.WorkRoot); len(entries) != 0 {
		t.Fatalf("run directory left behind: %v", entries)
	}
	if _, _, err := p.Train(context.Background(), trainer.Round{Global: testGlobal(), Settings: testSettings}); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

// TestProcessRefusesOutput covers trainers whose replies must not reach the
// node: each error names the problem, and the trainer's next round works.
func TestProcessRefusesOutput(t *testing.T) {
	needSandbox(t)
	t.Parallel()
	cases := []struct {
		mode string
		want error
		text string
	}{
		{"nan", ErrInvalidOutput, `tensor "fc.weight" has a non-finite value`},
		{"shape", ErrInvalidOutput, `tensor "fc.weight" has shape [6], want [3 2]`},
		{"extra", ErrInvalidOutput, `unexpected tensor "evil"`},
		{"header", ErrProtocol, "header length 1073741824 exceeds the cap"},
		{"crash", ErrExited, "exit status 3"},
		{"fail", ErrFailed, "no data this round"},
	}
	for _, c := range cases {
		t.Run(c.mode, func(t *testing.T) {
			p := start(t, hostile(t, c.mode))
			_, _, err := p.Train(context.Background(), trainer.Round{Global: testGlobal(), Settings: testSettings})
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.text) {
				t.Fatalf("got %v, want %v mentioning %q", err, c.want, c.text)
			}
			// Evaluate is honest in every mode: the trainer (restarted
			// when the failure killed it) serves the next call.
			if m, err := p.Evaluate(context.Background(), testGlobal()); err != nil || m.Examples != 4 {
				t.Fatalf("next call: %+v %v", m, err)
			}
		})
	}
}

func TestProcessStdoutNoise(t *testing.T) {
	needSandbox(t)
	t.Parallel()
	p := start(t, hostile(t, "stdout"))
	if _, _, err := p.Train(context.Background(), trainer.Round{Global: testGlobal(), Settings: testSettings}); err != nil {
		t.Fatal(err)
	}
}

// TestSandboxNetwork: a trainer that connects to a listener on the node's
// loopback fails inside the sandbox; the same trainer unsandboxed reaches it
// (so the test can fail).
func TestSandboxNetwork(t *testing.T) {
	needSandbox(t)
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{}, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- struct{}{}
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).AddrPort().Port()
	p := start(t, hostile(t, "net", strconv.Itoa(int(port))))
	_, _, err = p.Train(context.Background(), trainer.Round{Global: testGlobal(), Settings: testSettings})
	if !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), "network denied") {
		t.Fatalf("sandboxed: %v", err)
	}
	select {
	case <-accepted:
		t.Fatal("the sandboxed trainer reached the node's loopback")
	default:
	}
	u := unsandboxed(t, hostile(t, "net", strconv.Itoa(int(port))))
	_, _, err = u.Train(context.Background(), trainer.Round{Global: testGlobal(), Settings: testSettings})
	if !strings.Contains(err.Error(), "network reachable") {
		t.Fatalf("unsandboxed control: %v", err)
	}
	<-accepted
}

// TestSandboxFiles: the node's key file is invisible to the trainer; the
// working directory is writable and the program directory is not.
func TestSandboxFiles(t *testing.T) {
	needSandbox(t)
	t.Parallel()
	state := t.TempDir()
	key := filepath.Join(state, "node.key")
	if err := os.WriteFile(key, []byte("secret key material"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := hostile(t, "read", key)
	c.Deny = []string{state}
	p := start(t, c)
	_, _, err := p.Train(context.Background(), trainer.Round{Global: testGlobal(), Settings: testSettings})
	if !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), "read denied") {
		t.Fatalf("sandboxed: %v", err)
	}
	u := unsandboxed(t, hostile(t, "read", key))
	if _, _, err = u.Train(context.Background(), trainer.Round{Global: testGlobal(), Settings: testSettings}); !strings.Contains(err.Error(), "read allowed") {
		t.Fatalf("unsandboxed control: %v", err)
	}
	// Exposing the denied directory as data is refused before anything runs.
	c.Data = []string{state}
	if _, err := Start(context.Background(), c); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "denied path") {
		t.Fatalf("data exposing the key: %v", err)
	}
	// A data path given through a symlink is readable at the name the trainer was given.
	real := t.TempDir()
	if err := os.WriteFile(filepath.Join(real, "x.idx"), []byte("data"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), "data")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	d := hostile(t, "read", filepath.Join(link, "x.idx"))
	d.Data = []string{link}
	dp := start(t, d)
	if _, _, err := dp.Train(context.Background(), trainer.Round{Global: testGlobal(), Settings: testSettings}); !strings.Contains(err.Error(), "read allowed") {
		t.Fatalf("declared data through a symlink: %v", err)
	}
	w := start(t, hostile(t, "workdir"))
	if _, _, err := w.Train(context.Background(), trainer.Round{Global: testGlobal(), Settings: testSettings}); err != nil {
		t.Fatalf("workdir: %v", err)
	}
}

// TestEnvironmentScrubbed: the trainer sees the runner's variables and the
// allow-list, nothing else of the node's environment.
func TestEnvironmentScrubbed(t *testing.T) {
	needSandbox(t)
	t.Setenv("CONSORT_TEST_SECRET", "do-not-pass")
	t.Setenv("ALLOWED_VAR", "1")
	c := hostile(t, "env")
	c.Env = []string{"ALLOWED_VAR", "FIXED=2", "UNSET_VAR"}
	p := start(t, c)
	_, _, err := p.Train(context.Background(), trainer.Round{Global: testGlobal(), Settings: testSettings})
	const want = "env ALLOWED_VAR CONSORT_PROTOCOL CONSORT_WORKDIR FIXED HOME LANG PATH PWD TMPDIR" // bwrap sets PWD
	if err == nil || !strings.HasSuffix(err.Error(), want) {
		t.Fatalf("got %v, want %q", err, want)
	}
}

// TestNoLeakedDescriptors: descriptors the node inherited do not reach the
// trainer (this test's own harness typically passes some).
func TestNoLeakedDescriptors(t *testing.T) {
	needSandbox(t)
	t.Parallel()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	// Simulate an inherited descriptor: clear close-on-exec on one of ours.
	if _, err := unix.FcntlInt(w.Fd(), unix.F_SETFD, 0); err != nil {
		t.Fatal(err)
	}
	p := start(t, hostile(t, "fds"))
	_, _, err = p.Train(context.Background(), trainer.Round{Global: testGlobal(), Settings: testSettings})
	if !strings.Contains(err.Error(), "extra fds: 0") {
		t.Fatalf("got %v", err)
	}
}

func TestQuotas(t *testing.T) {
	needSandbox(t)
	t.Parallel()
	cases := []struct {
		mode   string
		limits Limits
		want   error
	}{
		{"mem", Limits{Memory: 1 << 30}, ErrMemoryQuota},
		{"forkmem", Limits{Memory: 256 << 20}, ErrMemoryQuota},
		{"cpu", Limits{CPU: 300 * time.Millisecond}, ErrCPUQuota},
		{"sleep", Limits{Wall: 500 * time.Millisecond}, ErrTimeout},
	}
	for _, c := range cases {
		t.Run(c.mode, func(t *testing.T) {
			cmd := hostile(t, c.mode)
			cmd.Limits = c.limits
			cmd.Limits.Start = 30 * time.Second
			p := start(t, cmd)
			began := time.Now()
			_, _, err := p.Train(context.Background(), trainer.Round{Global: testGlobal(), Settings: testSettings})
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			if c.mode == "forkmem" && !strings.Contains(err.Error(), "processes held more than") {
				t.Fatalf("the tree's memory was not what stopped it: %v", err)
			}
			if d := time.Since(began); d > 20*time.Second {
				t.Fatalf("quota enforced only after %v", d)
			}
			if m, err := p.Evaluate(context.Background(), testGlobal()); err != nil || m.Examples != 4 {
				t.Fatalf("after the kill the trainer should restart: %+v %v", m, err)
			}
			if p.Restarts() != 1 {
				t.Fatalf("restarts %d", p.Restarts())
			}
			if entries, _ := os.ReadDir(cmd.WorkRoot); len(entries) != 1 {
				t.Fatalf("the killed run's directory was not removed: %v", entries)
			}
		})
	}
	t.Run("idle", func(t *testing.T) {
		cmd := hostile(t, "idlecpu")
		cmd.Limits.CPU = 300 * time.Millisecond
		p := start(t, cmd)
		if _, _, err := p.Train(context.Background(), trainer.Round{Global: testGlobal(), Settings: testSettings}); err != nil {
			t.Fatal(err)
		}
		select { // the watch between calls kills the spinning trainer
		case <-p.run.exited:
		case <-time.After(20 * time.Second):
			t.Fatal("a trainer burning CPU between calls was not stopped")
		}
		_, err := p.Evaluate(context.Background(), testGlobal())
		if !errors.Is(err, ErrCPUQuota) || !strings.Contains(err.Error(), "between calls") {
			t.Fatalf("got %v", err)
		}
		if m, err := p.Evaluate(context.Background(), testGlobal()); err != nil || m.Examples != 4 {
			t.Fatalf("restart: %+v %v", m, err)
		}
	})
	t.Run("context", func(t *testing.T) {
		p := start(t, hostile(t, "sleep"))
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		if _, _, err := p.Train(ctx, trainer.Round{Global: testGlobal(), Settings: testSettings}); !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v", err)
		}
	})
}

func TestPinning(t *testing.T) {
	needSandbox(t)
	t.Parallel()
	c := hostile(t, "good")
	d, err := DigestFiles(c.Dir, c.Files)
	if err != nil {
		t.Fatal(err)
	}
	c.Pin = d.String()
	p := start(t, c)
	if !p.Info().Digest.Equal(d) {
		t.Fatal("digest differs from the pin")
	}
	bad := hostile(t, "good")
	bad.Pin = strings.Repeat("0", 64)
	if _, err := Start(context.Background(), bad); !errors.Is(err, ErrNotPinned) || !strings.Contains(err.Error(), d.String()) {
		t.Fatalf("wrong pin: %v", err)
	}
	if entries, _ := os.ReadDir(bad.WorkRoot); len(entries) != 0 {
		t.Fatalf("an unpinned trainer left files: %v", entries)
	}
	req := hostile(t, "good")
	req.RequirePin = true
	if _, err := Start(context.Background(), req); !errors.Is(err, ErrNotPinned) {
		t.Fatalf("required pin missing: %v", err)
	}
}

// TestDigestMatchesCoreutils checks the documented reproduction of a digest
// with sha256sum.
func TestDigestMatchesCoreutils(t *testing.T) {
	if _, err := exec.LookPath("sha256sum"); err != nil {
		t.Skip("no sha256sum")
	}
	files := []string{"hostile.py", "../../../../python/consort.py"}
	d, err := DigestFiles("testdata", files)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, f := range files {
		b, _ := os.ReadFile(filepath.Join("testdata", f))
		os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o600)
	}
	cmd := exec.Command("sh", "-c", "sha256sum hostile.py consort.py | LC_ALL=C sort -k2 | sha256sum")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Fields(string(out))[0]; got != d.String() {
		t.Fatalf("coreutils %s, DigestFiles %s", got, d)
	}
}

func unsandboxed(t *testing.T, c Command) *Process {
	t.Helper()
	c.AllowUnsandboxed = true
	p, err := startWith(context.Background(), c, Facilities{BwrapError: "test: no sandbox"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if info := p.Info(); info.Sandboxed || !strings.HasPrefix(info.Isolation, "none") {
		t.Fatalf("expected an unsandboxed process: %+v", info)
	}
	return p
}

// TestNoSandboxRefused: without the facilities a trainer starts only when
// the configuration allows it, and then says so.
func TestNoSandboxRefused(t *testing.T) {
	needSandbox(t)
	t.Parallel()
	c := hostile(t, "good")
	if _, err := startWith(context.Background(), c, Facilities{BwrapError: "bubblewrap not installed"}); !errors.Is(err, ErrNoSandbox) || !strings.Contains(err.Error(), "bubblewrap not installed") {
		t.Fatalf("got %v", err)
	}
	if entries, _ := os.ReadDir(c.WorkRoot); len(entries) != 0 {
		t.Fatalf("a refused trainer left files: %v", entries)
	}
	p := unsandboxed(t, c)
	if _, _, err := p.Train(context.Background(), trainer.Round{Global: testGlobal(), Settings: testSettings}); err != nil {
		t.Fatal(err)
	}
}
