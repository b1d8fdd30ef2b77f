package runner

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Facilities reports which isolation facilities this machine offers, as
// probed by [Probe].
type Facilities struct {
	// Bwrap is the path of bubblewrap ("" when not installed).
	Bwrap string
	// BwrapWorks reports that a probe sandbox with every namespace
	// unshared (network, mount, PID, IPC, UTS, cgroup, user when not root)
	// and a size-limited tmpfs started and exited cleanly.
	BwrapWorks bool
	// BwrapError says why the probe sandbox failed (empty when it worked).
	BwrapError string
	// UserNamespaces reports that unprivileged user namespaces are enabled
	// (/proc/sys/user/max_user_namespaces > 0), which bubblewrap needs when
	// the node does not run as root.
	UserNamespaces bool
	// Landlock is the Landlock ABI version of the kernel (0: unavailable).
	// It is reported, not used: bubblewrap's mount namespace already hides
	// every path that is not bound, which Landlock would only restrict.
	Landlock int
}

// Sandboxed reports whether trainers can run sandboxed here.
func (f Facilities) Sandboxed() bool { return f.BwrapWorks }

// String summarises the facilities for a log line.
func (f Facilities) String() string {
	s := "bwrap=" + strconv.FormatBool(f.BwrapWorks)
	if f.BwrapError != "" {
		s += " (" + f.BwrapError + ")"
	}
	return s + fmt.Sprintf(" userns=%t landlock-abi=%d", f.UserNamespaces, f.Landlock)
}

// Probe checks the sandbox facilities of this machine: it looks for bwrap in
// /usr/bin and /bin (never the caller's PATH) and starts a probe sandbox.
func Probe(ctx context.Context) Facilities {
	var f Facilities
	if b, err := os.ReadFile("/proc/sys/user/max_user_namespaces"); err == nil {
		n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		f.UserNamespaces = n > 0
	}
	if v, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION); errno == 0 {
		f.Landlock = int(v)
	}
	for _, p := range []string{"/usr/bin/bwrap", "/bin/bwrap"} {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			f.Bwrap = p
			break
		}
	}
	if f.Bwrap == "" {
		f.BwrapError = "bubblewrap not installed (apt-get install bubblewrap)"
		return f
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	args := append(bwrapBase(1<<20), "--", "/usr/bin/true")
	out, err := exec.CommandContext(ctx, f.Bwrap, args...).CombinedOutput()
	if err != nil {
		f.BwrapError = "probe sandbox failed: " + clip(strings.TrimSpace(string(out))+" "+err.Error())
		return f
	}
	f.BwrapWorks = true
	return f
}

// bwrapBase returns bubblewrap's arguments for the system view: every
// namespace unshared, capabilities dropped, a new session (no terminal
// injection), the system read-only, selected /etc files, fresh /proc, /dev
// and a small /tmp.
func bwrapBase(tmpBytes int64) []string {
	a := []string{
		"--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--clearenv",
		"--ro-bind", "/usr", "/usr",
	}
	for _, d := range []string{"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"} {
		st, err := os.Lstat(d)
		switch {
		case err != nil:
		case st.Mode()&os.ModeSymlink != 0:
			if target, err := os.Readlink(d); err == nil {
				a = append(a, "--symlink", target, d)
			}
		case st.IsDir():
			a = append(a, "--ro-bind", d, d)
		}
	}
	for _, e := range etcFiles() {
		a = append(a, "--ro-bind-try", e, e)
	}
	return append(a, "--proc", "/proc", "--dev", "/dev",
		"--size", strconv.FormatInt(tmpBytes, 10), "--tmpfs", "/tmp")
}

// etcFiles returns the parts of /etc a trainer sees: what the dynamic
// loader, Python and the BLAS alternatives need, and no credentials.
func etcFiles() []string {
	return []string{
		"/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives",
		"/etc/localtime", "/etc/nsswitch.conf", "/etc/passwd", "/etc/group", "/etc/os-release",
		"/etc/python3", "/etc/python3.11", "/etc/mime.types",
	}
}

// systemMounts lists the host paths the sandbox exposes read-only, for the
// Deny check.
func systemMounts() []string {
	m := []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"}
	return append(m, etcFiles()...)
}

// sandboxArgs returns the bwrap argument list for one trainer run.
func sandboxArgs(c Command, app, work string) []string {
	a := bwrapBase(64 << 20)
	for i, d := range c.Data {
		a = append(a, "--ro-bind", c.dataSrc[i], d)
	}
	a = append(a, "--ro-bind", app, app,
		"--size", strconv.FormatInt(c.Limits.WorkBytes, 10), "--tmpfs", work,
		"--chdir", app)
	for _, e := range c.environ(work) {
		k, v, _ := strings.Cut(e, "=")
		a = append(a, "--setenv", k, v)
	}
	// fd 3: bwrap reports the sandbox's PID; fd 4: bwrap waits for a byte
	// before it runs the trainer, so the quotas are set first.
	a = append(a, "--info-fd", "3", "--block-fd", "4", "--")
	return append(a, c.Argv...)
}

// unsandboxedArgs returns the argv of an unsandboxed run: a shell that waits
// for a line on fd 3 (sent once the quotas are set) and then becomes the
// trainer.
func unsandboxedArgs(c Command) []string {
	return append([]string{"/bin/sh", "-c", `read -r _ <&3 && exec "$@"`, "consort-trainer"}, c.Argv...)
}

// checkDenyMounts refuses a Deny path under a system mount of the sandbox.
func checkDenyMounts(c Command) error {
	for _, d := range c.Deny {
		for _, m := range systemMounts() {
			if overlaps(d, m) {
				return fmt.Errorf("%w: the denied path %q is inside the system view %q", ErrConfig, d, m)
			}
		}
	}
	return nil
}

// usage is what a process tree uses, read from /proc.
type usage struct {
	ticks int64 // CPU time in clock ticks (USER_HZ = 100 on Linux), reaped children included
	rss   int64 // resident memory in bytes, summed over the live processes
}

// treeUsage returns the CPU time and resident memory of pid and all its
// live descendants (at most 65536 processes are visited). Children are
// found through /proc/PID/task/TID/children, or, on kernels built without
// it, by a scan of every process's parent.
func treeUsage(pid int) (usage, error) {
	var u usage
	page := int64(os.Getpagesize())
	var byParent map[int][]int // the fallback, built on first need
	stack := []int{pid}
	for visited := 0; len(stack) > 0 && visited < 1<<16; visited++ {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		dir := filepath.Join("/proc", strconv.Itoa(p))
		f, err := statFields(dir)
		if err != nil {
			if p == pid {
				return u, err
			}
			continue
		}
		for _, k := range []int{11, 12, 13, 14} { // utime stime cutime cstime
			v, _ := strconv.ParseInt(f[k], 10, 64)
			u.ticks += v
		}
		rss, _ := strconv.ParseInt(f[21], 10, 64) // pages
		u.rss += rss * page
		kids, ok := childrenOf(dir)
		if !ok {
			if byParent == nil {
				byParent = parentMap()
			}
			kids = byParent[p]
		}
		stack = append(stack, kids...)
	}
	return u, nil
}

// statFields returns the fields of /proc/PID/stat after the command name
// (which is in parentheses and may hold spaces); index 0 is the state.
func statFields(dir string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return nil, err
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return nil, fmt.Errorf("malformed %s/stat", dir)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 22 {
		return nil, fmt.Errorf("short %s/stat", dir)
	}
	return f, nil
}

// childrenOf lists the children of every thread of a process; ok is false
// when the kernel lacks /proc/PID/task/TID/children.
func childrenOf(dir string) (kids []int, ok bool) {
	tasks, err := os.ReadDir(filepath.Join(dir, "task"))
	if err != nil {
		return nil, true // the process is gone
	}
	for _, t := range tasks {
		b, err := os.ReadFile(filepath.Join(dir, "task", t.Name(), "children"))
		if errors.Is(err, fs.ErrNotExist) {
			if _, serr := os.Stat(filepath.Join(dir, "task", t.Name())); serr == nil {
				return nil, false // the thread exists but the file does not
			}
			continue
		}
		for _, k := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(k); err == nil {
				kids = append(kids, n)
			}
		}
	}
	return kids, true
}

// parentMap maps every process to its children, from /proc/*/stat.
func parentMap() map[int][]int {
	m := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		f, err := statFields(filepath.Join("/proc", e.Name()))
		if err != nil {
			continue
		}
		if ppid, err := strconv.Atoi(f[1]); err == nil {
			m[ppid] = append(m[ppid], pid)
		}
	}
	return m
}

// userHZ is the unit of /proc/PID/stat CPU times on Linux.
const userHZ = 100

// setLimits applies the quotas to pid before it runs the trainer. Soft and
// hard limits are equal, so the trainer cannot raise them.
func setLimits(pid int, l Limits, fsize bool) error {
	set := func(res int, v uint64) error {
		return unix.Prlimit(pid, res, &unix.Rlimit{Cur: v, Max: v}, nil)
	}
	if err := set(unix.RLIMIT_AS, uint64(l.Memory)); err != nil {
		return fmt.Errorf("RLIMIT_AS: %w", err)
	}
	if err := set(unix.RLIMIT_CPU, uint64((l.CPUTotal+time.Second-1)/time.Second)); err != nil {
		return fmt.Errorf("RLIMIT_CPU: %w", err)
	}
	if err := set(unix.RLIMIT_CORE, 0); err != nil {
		return fmt.Errorf("RLIMIT_CORE: %w", err)
	}
	if fsize {
		if err := set(unix.RLIMIT_FSIZE, uint64(l.WorkBytes)); err != nil {
			return fmt.Errorf("RLIMIT_FSIZE: %w", err)
		}
	}
	return nil
}
