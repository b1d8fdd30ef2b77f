package runner

import (
	"fmt"
	"github.com/consort-ml/consort/federated/trainer"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Command configures an external trainer: a long-lived child process that
// speaks the framed protocol of this package on its stdin and stdout (see
// docs/trainer.md). The node fills it from its flags (--trainer), its config
// file and its policy, and passes it to [Start].
type Command struct {
	// Argv is the program and its arguments, e.g. ["python3", "train.py",
	// "--data", "/srv/team/mnist"]. Argv[0] is looked up in the sandbox's
	// PATH (/usr/local/bin:/usr/bin:/bin); program files are referred to by
	// base name (they run from the application directory, the working
	// directory of the process).
	Argv []string
	// Dir is where relative Files are read from.
	Dir string
	// Files lists the trainer's program files (scripts, modules, config),
	// relative to Dir or absolute. They are hashed into the [trainer.Digest] and
	// copied, in the same pass, into a fresh read-only application
	// directory, which is what runs: a file changed after the check cannot
	// run. Base names must be unique.
	Files []string
	// Data lists files and directories the trainer may read (read-only).
	Data []string
	// Env lists environment variables passed to the trainer: "NAME" copies
	// the node's value (if set), "NAME=VALUE" sets one. Nothing else of the
	// node's environment is passed; the runner sets PATH, HOME, TMPDIR,
	// LANG, CONSORT_WORKDIR and CONSORT_PROTOCOL.
	Env []string
	// WorkRoot is the directory under which the run directory (application
	// directory and working directory) is created; default os.TempDir().
	WorkRoot string
	// Deny lists paths the trainer must never see, typically the node's key
	// file and state directory: [Start] refuses a configuration whose data
	// paths, work root or system mounts contain or lie inside one.
	Deny []string
	// Layout is the model layout (from the manifest); every tensor sent and
	// received has exactly this layout.
	Layout []trainer.TensorSpec
	// Limits are the quotas, from the node's policy.
	Limits Limits
	// Pin is the approved [trainer.Digest] of Files, in hex. When set, a trainer
	// whose files hash differently is not started ([ErrNotPinned]).
	Pin string
	// RequirePin makes an empty Pin an error: the policy demands approved
	// code.
	RequirePin bool
	// AllowUnsandboxed lets the trainer run without the sandbox when this
	// machine lacks it (then [Info.Sandboxed] is false and the node must log
	// and audit that). Quotas, the scrubbed environment and the fresh
	// working directory still apply.
	AllowUnsandboxed bool
	// dataSrc holds the resolved Data paths (set by validate).
	dataSrc []string

	// Stderr receives the trainer's standard error, at most
	// Limits.MaxStderr bytes in total (the rest is dropped). Nil discards
	// it; the last few KiB are kept either way for error messages.
	Stderr io.Writer
}

// Limits are an external trainer's quotas. Zero fields take the defaults.
type Limits struct {
	// CPU bounds the CPU time (all threads and child processes) of one
	// Train or Evaluate call; default 10 minutes.
	CPU time.Duration
	// Wall bounds the wall time of one call; default 30 minutes.
	Wall time.Duration
	// Start bounds the time from start to the trainer's hello (imports and
	// data loading); default 2 minutes.
	Start time.Duration
	// CPUTotal bounds the CPU seconds of each trainer process over its whole
	// life (RLIMIT_CPU, a backstop the trainer cannot raise); default 24 hours.
	CPUTotal time.Duration
	// Memory bounds each process's address space in bytes (RLIMIT_AS:
	// virtual memory, so leave headroom; PyTorch maps about 1 GiB when
	// imported); default 8 GiB.
	Memory int64
	// WorkBytes bounds the working directory (a size-limited tmpfs in the
	// sandbox; RLIMIT_FSIZE per file without it); default 1 GiB.
	WorkBytes int64
	// MaxStderr bounds the standard error passed to Command.Stderr; default 1 MiB.
	MaxStderr int64
	// MaxHeader bounds the safetensors JSON header of a reply; default
	// 64 KiB plus 512 bytes per tensor.
	MaxHeader int
	// MaxExamples bounds the example count a trainer may claim; default
	// [trainer.DefaultMaxExamples].
	MaxExamples uint64
}

func (l Limits) withDefaults(tensors int) Limits {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&l.CPU, 10*time.Minute)
	def(&l.Wall, 30*time.Minute)
	def(&l.Start, 2*time.Minute)
	def(&l.CPUTotal, 24*time.Hour)
	if l.Memory <= 0 {
		l.Memory = 8 << 30
	}
	if l.WorkBytes <= 0 {
		l.WorkBytes = 1 << 30
	}
	if l.MaxStderr <= 0 {
		l.MaxStderr = 1 << 20
	}
	if l.MaxHeader <= 0 {
		l.MaxHeader = 64<<10 + 512*tensors
	}
	if l.MaxExamples == 0 {
		l.MaxExamples = trainer.DefaultMaxExamples
	}
	return l
}

// validate checks the command and returns it with defaults filled and every
// path made absolute and symlink-free.
func (c Command) validate() (Command, error) {
	if len(c.Argv) == 0 || c.Argv[0] == "" {
		return c, fmt.Errorf("%w: empty trainer command", ErrConfig)
	}
	for _, a := range c.Argv {
		if strings.ContainsRune(a, 0) {
			return c, fmt.Errorf("%w: NUL byte in the trainer command", ErrConfig)
		}
	}
	if _, err := trainer.Elements(c.Layout); err != nil {
		return c, err
	}
	if len(c.Layout) == 0 {
		return c, fmt.Errorf("%w: empty model layout", ErrConfig)
	}
	if err := checkPrograms(c.Files); err != nil {
		return c, err
	}
	c.Limits = c.Limits.withDefaults(len(c.Layout))
	if c.Pin != "" {
		if _, err := trainer.ParseDigest(c.Pin); err != nil {
			return c, err
		}
	}
	if c.RequirePin && c.Pin == "" {
		return c, fmt.Errorf("%w: the policy requires a pinned trainer digest", ErrNotPinned)
	}
	for _, e := range c.Env {
		name, _, _ := strings.Cut(e, "=")
		if name == "" || strings.ContainsAny(name, "\x00") || reservedEnv(name) {
			return c, fmt.Errorf("%w: environment entry %q is empty or reserved", ErrConfig, name)
		}
	}
	var err error
	if c.Dir == "" {
		c.Dir = "."
	}
	if c.Dir, err = realPath(c.Dir); err != nil {
		return c, err
	}
	if c.WorkRoot == "" {
		c.WorkRoot = os.TempDir()
	}
	if c.WorkRoot, err = realPath(c.WorkRoot); err != nil {
		return c, err
	}
	// Data paths are bound at the path the trainer was given (its argv
	// names them) from their resolved location; both are checked.
	c.Data = slices.Clone(c.Data)
	c.dataSrc = make([]string, len(c.Data))
	for i, d := range c.Data {
		if c.dataSrc[i], err = realPath(d); err != nil {
			return c, err
		}
		if c.Data[i], err = filepath.Abs(d); err != nil {
			return c, fmt.Errorf("%w: %w", ErrConfig, err)
		}
		if c.Data[i] == "/" || c.dataSrc[i] == "/" {
			return c, fmt.Errorf("%w: the root directory cannot be a data path", ErrConfig)
		}
	}
	deny := make([]string, 0, 2*len(c.Deny))
	for _, d := range c.Deny {
		abs, err := filepath.Abs(d)
		if err != nil {
			return c, fmt.Errorf("%w: %w", ErrConfig, err)
		}
		deny = append(deny, abs)
		// A denied path that does not exist yet is denied by its name.
		if p, err := realPath(d); err == nil && p != abs {
			deny = append(deny, p)
		}
	}
	c.Deny = deny
	exposed := append(append([]string{c.WorkRoot}, c.dataSrc...), c.Data...)
	for _, e := range exposed {
		for _, d := range c.Deny {
			if overlaps(e, d) {
				return c, fmt.Errorf("%w: %q would expose the denied path %q", ErrConfig, e, d)
			}
		}
	}
	return c, nil
}

// reservedEnv reports the variables the runner sets itself.
func reservedEnv(name string) bool {
	switch name {
	case "PATH", "HOME", "TMPDIR", "LANG", "CONSORT_WORKDIR", "CONSORT_PROTOCOL":
		return true
	}
	return false
}

func realPath(p string) (string, error) {
	a, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrConfig, err)
	}
	r, err := filepath.EvalSymlinks(a)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return r, nil
}

// overlaps reports whether one of two clean absolute paths contains the other.
func overlaps(a, b string) bool {
	return within(a, b) || within(b, a)
}

func within(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// environ builds the trainer's environment.
func (c Command) environ(work string) []string {
	env := []string{
		"PATH=" + sandboxPath,
		"HOME=" + work,
		"TMPDIR=" + work,
		"LANG=C.UTF-8",
		"CONSORT_WORKDIR=" + work,
		fmt.Sprintf("CONSORT_PROTOCOL=%d", ProtocolVersion),
	}
	for _, e := range c.Env {
		if strings.Contains(e, "=") {
			env = append(env, e)
		} else if v, ok := os.LookupEnv(e); ok {
			env = append(env, e+"="+v)
		}
	}
	return env
}

// sandboxPath is the trainer's PATH.
const sandboxPath = "/usr/local/bin:/usr/bin:/bin"
