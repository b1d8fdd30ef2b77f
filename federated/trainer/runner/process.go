package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/consort-ml/consort/federated/trainer"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Info describes a started external trainer, for the node's log and audit
// log (the node records Digest with every round it contributes to).
type Info struct {
	// Digest is the SHA-256 identity of the program files that run.
	Digest trainer.Digest
	// Sandboxed reports whether the trainer runs in the sandbox. When false
	// the configuration allowed an unsandboxed trainer on a machine without
	// the facilities: the node must say so in its log and audit log.
	Sandboxed bool
	// Isolation describes what applies, e.g. "bwrap: namespaces ...".
	Isolation string
	// Facilities is what [Probe] found on this machine.
	Facilities Facilities
}

// Process is an external trainer: a child process speaking the framed
// protocol on stdin/stdout, sandboxed and under quotas. It implements
// [trainer.Trainer] and checks every reply ([trainer.Check], [trainer.Metrics.Check]) before
// returning it.
//
// A call that fails because the process died, broke the protocol or
// exceeded a quota kills the process; the next call starts a fresh one
// (from freshly staged, re-hashed program files: a digest that changed is
// refused). A trainer-reported failure ([ErrFailed]) and refused values
// (NaN, implausible metrics) leave it running.
type Process struct {
	cfg      Command
	fac      Facilities
	elements int

	mu       sync.Mutex
	digest   trainer.Digest
	run      *run
	closed   bool
	restarts int
}

// run is one trainer process and its files.
type run struct {
	dir      string // run directory: app/ and work/
	app      string
	work     string
	cmd      *exec.Cmd
	stdin    *os.File // node -> trainer
	stdout   *os.File // trainer -> node
	pid      int      // top of the trainer's process tree (CPU accounting, kill)
	exited   chan struct{}
	waitErr  error
	stderr   *tail
	stderrWG sync.WaitGroup
	drained  chan struct{} // closed when the stderr copy ends
	// The watch between calls (see watchIdle).
	idleStop, idleDone chan struct{}
	idleReason         error
	memory             int64 // the RLIMIT_AS quota, for messages
}

// Start validates c, probes the sandbox, verifies the program digest
// against the pin, starts the trainer and waits for its hello. It refuses
// to start ([ErrNotPinned], [ErrNoSandbox], [ErrConfig]) rather than run a
// trainer it cannot account for.
func Start(ctx context.Context, c Command) (*Process, error) {
	return startWith(ctx, c, Probe(ctx))
}

// startWith is Start on a machine with the given facilities.
func startWith(ctx context.Context, c Command, fac Facilities) (*Process, error) {
	c, err := c.validate()
	if err != nil {
		return nil, err
	}
	if fac.Sandboxed() {
		if err := checkDenyMounts(c); err != nil {
			return nil, err
		}
	} else if !c.AllowUnsandboxed {
		return nil, fmt.Errorf("%w: %s; set AllowUnsandboxed in the policy to run the trainer without it", ErrNoSandbox, fac.BwrapError)
	}
	p := &Process{cfg: c, fac: fac}
	p.elements, _ = trainer.Elements(c.Layout)
	if err := p.start(ctx, true); err != nil {
		return nil, err
	}
	return p, nil
}

// Info returns the digest and the isolation of the trainer.
func (p *Process) Info() Info {
	p.mu.Lock()
	defer p.mu.Unlock()
	iso := "bwrap: network, mount, PID, IPC, UTS and cgroup namespaces; read-only system, data and program files; tmpfs working directory; no capabilities; rlimits AS, CPU, FSIZE, CORE"
	if !p.fac.Sandboxed() {
		iso = "none (unsandboxed, allowed by configuration): scrubbed environment, fresh working directory, rlimits AS, CPU, FSIZE, CORE"
	}
	return Info{Digest: p.digest, Sandboxed: p.fac.Sandboxed(), Isolation: iso, Facilities: p.fac}
}

// Restarts returns how many times the trainer process was restarted after
// a failure.
func (p *Process) Restarts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.restarts
}

// Layout implements [trainer.Trainer].
func (p *Process) Layout() []trainer.TensorSpec { return p.cfg.Layout }

func (p *Process) start(ctx context.Context, first bool) (err error) {
	c := p.cfg
	dir, err := os.MkdirTemp(c.WorkRoot, "consort-trainer-")
	if err != nil {
		return fmt.Errorf("%w: run directory: %w", ErrConfig, err)
	}
	r := &run{dir: dir, app: filepath.Join(dir, "app"), work: filepath.Join(dir, "work"), exited: make(chan struct{})}
	defer func() {
		if err != nil {
			r.stop()
		}
	}()
	for _, d := range []string{r.app, r.work} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return fmt.Errorf("%w: run directory: %w", ErrConfig, err)
		}
	}
	digest, err := stagePrograms(c.Dir, c.Files, r.app)
	if err != nil {
		return err
	}
	if c.Pin != "" {
		want, _ := trainer.ParseDigest(c.Pin)
		if !digest.Equal(want) {
			return fmt.Errorf("%w: the program files hash to %s, the policy pins %s", ErrNotPinned, digest, want)
		}
	}
	if !first && !digest.Equal(p.digest) {
		return fmt.Errorf("%w: the program files changed since the trainer started (now %s, was %s)", ErrNotPinned, digest, p.digest)
	}
	if err := os.Chmod(r.app, 0o500); err != nil {
		return err
	}
	p.digest = digest
	if err := r.launch(ctx, c, p.fac); err != nil {
		return err
	}
	// The hello: the trainer is up (imports done, data loaded).
	err = r.guard(ctx, c.Limits.Start, c.Limits.CPU, func() error {
		m, err := readMessage(r.stdout, nil, nil, c.Limits.MaxHeader)
		if err != nil {
			return err
		}
		if m.kind != kindHello {
			return fmt.Errorf("%w: expected a hello, got %q", ErrProtocol, clip(m.kind))
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrOutputQuota) || errors.Is(err, ErrProtocol) || errors.Is(err, ErrInvalidOutput) {
			return fmt.Errorf("starting trainer (did it write to stdout before its hello? use the helper or write logs to stderr): %w", err)
		}
		return fmt.Errorf("starting trainer: %w", err)
	}
	p.run = r
	return nil
}

// launch starts the process with its quotas set before the trainer runs.
func (r *run) launch(ctx context.Context, c Command, fac Facilities) error {
	ends, err := r.start(c, fac)
	if err != nil {
		return err
	}
	cmd := r.cmd
	r.stdin, r.stdout = ends.stdin, ends.stdout
	r.stderr = newTail(c.Stderr, c.Limits.MaxStderr)
	r.stderrWG.Add(1)
	r.drained = make(chan struct{})
	errR := ends.stderr
	go func() {
		defer r.stderrWG.Done()
		defer close(r.drained)
		io.Copy(r.stderr, errR)
		errR.Close()
	}()
	go func() {
		r.waitErr = cmd.Wait()
		close(r.exited)
	}()
	blockW := ends.block
	defer blockW.Close()
	r.pid = cmd.Process.Pid
	r.memory = c.Limits.Memory
	if ends.info != nil {
		defer ends.info.Close()
		if err := r.awaitSandbox(ctx, c, ends.info); err != nil {
			return err
		}
	}
	if err := setLimits(r.pid, c.Limits, true); err != nil {
		r.kill()
		return fmt.Errorf("%w: setting quotas: %w", ErrConfig, err)
	}
	if _, err := blockW.Write([]byte("go\n")); err != nil {
		r.kill()
		return fmt.Errorf("%w: releasing the trainer: %w", ErrExited, err)
	}
	return nil
}

// launchEnds are the node's ends of the pipes of a started trainer.
type launchEnds struct {
	stdin, stdout, stderr *os.File // the trainer's stdin, stdout and stderr
	block                 *os.File // writing to it releases the trainer
	info                  *os.File // bwrap's info pipe; nil unsandboxed
}

// start opens the pipes and starts the process (blocked until released
// through ends.block), setting r.cmd. The child's ends are closed once it
// started, every end on an error.
func (r *run) start(c Command, fac Facilities) (ends launchEnds, err error) {
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	pipe := func() (*os.File, *os.File, error) {
		rd, wr, err := os.Pipe()
		if err == nil {
			files = append(files, rd, wr)
		}
		return rd, wr, err
	}
	inR, inW, err := pipe()
	if err != nil {
		return ends, err
	}
	outR, outW, err := pipe()
	if err != nil {
		return ends, err
	}
	growPipe(inW)
	growPipe(outR)
	errR, errW, err := pipe()
	if err != nil {
		return ends, err
	}
	blockR, blockW, err := pipe()
	if err != nil {
		return ends, err
	}
	if err := closeOnExecInherited(); err != nil {
		return ends, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	var cmd *exec.Cmd
	var infoR *os.File
	if fac.Sandboxed() {
		var infoW *os.File
		if infoR, infoW, err = pipe(); err != nil {
			return ends, err
		}
		cmd = exec.Command(fac.Bwrap, sandboxArgs(c, r.app, r.work)...)
		cmd.Env = []string{}
		cmd.ExtraFiles = []*os.File{infoW, blockR}
	} else {
		cmd = exec.Command("/bin/sh", unsandboxedArgs(c)[1:]...)
		cmd.Env = c.environ(r.work)
		cmd.ExtraFiles = []*os.File{blockR}
	}
	cmd.Dir = r.app
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, errW
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return ends, fmt.Errorf("%w: starting the trainer: %w", ErrConfig, err)
	}
	r.cmd = cmd
	// Keep our ends; the deferred loop closes the child's ends.
	keep := map[*os.File]bool{inW: true, outR: true, errR: true, blockW: true, infoR: true}
	rest := files[:0]
	for _, f := range files {
		if !keep[f] {
			rest = append(rest, f)
		}
	}
	files = rest
	for _, f := range rest {
		f.Close()
	}
	files = nil
	return launchEnds{stdin: inW, stdout: outR, stderr: errR, block: blockW, info: infoR}, nil
}

// awaitSandbox waits (up to c.Limits.Start) for bwrap to report the
// sandboxed child on infoR and makes that child r.pid; on failure it kills
// the process.
func (r *run) awaitSandbox(ctx context.Context, c Command, infoR *os.File) error {
	// bwrap writes {"child-pid": N, ...} once the namespaces exist.
	type info struct {
		ChildPID int `json:"child-pid"`
	}
	var in info
	got := make(chan error, 1)
	go func() { got <- json.NewDecoder(io.LimitReader(infoR, 4096)).Decode(&in) }()
	timer := time.NewTimer(c.Limits.Start)
	defer timer.Stop()
	select {
	case err := <-got:
		if err != nil || in.ChildPID <= 0 {
			r.kill()
			<-r.exited
			return fmt.Errorf("%w: the sandbox did not start: %s", ErrNoSandbox, clip(r.stderr.String()))
		}
	case <-timer.C:
		r.kill()
		return fmt.Errorf("%w: the sandbox did not start within %v", ErrTimeout, c.Limits.Start)
	case <-ctx.Done():
		r.kill()
		return fmt.Errorf("%w: %w", ErrTimeout, ctx.Err())
	}
	r.pid = in.ChildPID
	return nil
}

// closeOnExecInherited marks every descriptor above 2 close-on-exec. Go
// opens its own files that way, but descriptors the node inherited (from a
// service manager, a shell, a test harness) are passed to every child, and
// neither exec nor bubblewrap closes them: a trainer could use one as a
// channel out of the sandbox. This affects only future execs.
func closeOnExecInherited() error {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("listing descriptors: %w", err)
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return fmt.Errorf("listing descriptors: %w", err)
	}
	for _, n := range names {
		fd, err := strconv.Atoi(n)
		if err != nil || fd <= 2 {
			continue
		}
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil || flags&unix.FD_CLOEXEC != 0 {
			continue // closed meanwhile, or already close-on-exec
		}
		unix.FcntlInt(uintptr(fd), unix.F_SETFD, flags|unix.FD_CLOEXEC)
	}
	return nil
}

// pipeBytes is the pipe capacity asked for the tensor channels: fewer
// context switches per model (the default is 64 KiB; 1 MiB is the default
// unprivileged maximum, /proc/sys/fs/pipe-max-size).
const pipeBytes = 1 << 20

// growPipe enlarges a pipe's buffer, best effort (a smaller pipe is only slower).
func growPipe(f *os.File) {
	if rc, err := f.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) { unix.FcntlInt(fd, unix.F_SETPIPE_SZ, pipeBytes) })
	}
}

// kill stops the whole process tree: the sandbox's init (taking its PID
// namespace with it) and the process group.
func (r *run) kill() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	if r.pid > 0 && r.pid != r.cmd.Process.Pid {
		syscall.Kill(r.pid, syscall.SIGKILL)
	}
	syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
}

// stop kills the process, waits for it and removes the run directory.
func (r *run) stop() {
	r.kill()
	r.stopIdle()
	if r.cmd != nil {
		<-r.exited
		r.stderrWG.Wait()
	}
	for _, f := range []*os.File{r.stdin, r.stdout} {
		if f != nil {
			f.Close()
		}
	}
	os.Chmod(r.app, 0o700)
	os.RemoveAll(r.dir)
}

// guard runs fn (one exchange with the trainer) under the wall and CPU
// quotas: a watchdog kills the process when the context ends, the wall
// time passes or the tree's CPU time exceeds cpu, and the error says which.
// An I/O failure without a watchdog reason is classified from the exit.
func (r *run) guard(ctx context.Context, wall, cpu time.Duration, fn func() error) (err error) {
	if err := r.stopIdle(); err != nil {
		return err
	}
	defer func() {
		if err == nil {
			r.watchIdle(cpu)
		}
	}()
	start, _ := treeUsage(r.pid)
	budget := int64(cpu / (time.Second / userHZ))
	done := make(chan struct{})
	var reason error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		timer := time.NewTimer(wall)
		defer timer.Stop()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-r.exited:
				return
			case <-ctx.Done():
				reason = fmt.Errorf("%w: %w", ErrTimeout, ctx.Err())
			case <-timer.C:
				reason = fmt.Errorf("%w: the call took longer than %v", ErrTimeout, wall)
			case <-tick.C:
				u, err := treeUsage(r.pid)
				switch {
				case err != nil:
					continue
				case u.ticks-start.ticks > budget:
					reason = fmt.Errorf("%w: the call used more than %v of CPU", ErrCPUQuota, cpu)
				case u.rss > r.memory:
					reason = fmt.Errorf("%w: the trainer's processes held more than %d bytes of memory", ErrMemoryQuota, r.memory)
				default:
					continue
				}
			}
			r.kill()
			return
		}
	}()
	err = fn()
	close(done)
	wg.Wait()
	if reason != nil {
		return reason
	}
	if err == nil {
		return nil
	}
	if isIOError(err) {
		// The process probably exited: give it a moment and say why.
		timer := time.NewTimer(2 * time.Second)
		defer timer.Stop()
		select {
		case <-r.exited:
			return r.exitError(err)
		case <-timer.C:
			r.kill()
			return fmt.Errorf("%w: the trainer closed its output: %w", ErrProtocol, err)
		}
	}
	return err
}

// watchIdle watches the trainer between calls: it is killed when its
// process tree holds more than the memory quota or burns more than one
// call's CPU budget while it has nothing to do. The reason is returned by
// the next call (through stopIdle).
func (r *run) watchIdle(cpu time.Duration) {
	r.idleStop, r.idleDone, r.idleReason = make(chan struct{}), make(chan struct{}), nil
	stop, done := r.idleStop, r.idleDone
	go func() {
		defer close(done)
		start, _ := treeUsage(r.pid)
		budget := int64(cpu / (time.Second / userHZ))
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-r.exited:
				return
			case <-tick.C:
			}
			u, err := treeUsage(r.pid)
			switch {
			case err != nil:
				continue
			case u.rss > r.memory:
				r.idleReason = fmt.Errorf("%w: between calls the trainer's processes held more than %d bytes of memory", ErrMemoryQuota, r.memory)
			case u.ticks-start.ticks > budget:
				r.idleReason = fmt.Errorf("%w: the trainer used more than %v of CPU between calls", ErrCPUQuota, cpu)
			default:
				continue
			}
			r.kill()
			return
		}
	}()
}

// stopIdle ends the watch between calls and returns why it killed the
// trainer, if it did.
func (r *run) stopIdle() error {
	if r.idleStop == nil {
		return nil
	}
	close(r.idleStop)
	<-r.idleDone
	r.idleStop = nil
	return r.idleReason
}

func isIOError(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.EPIPE) || errors.Is(err, os.ErrClosed)
}

// exitError classifies the exit of a process that ended during a call.
func (r *run) exitError(ioErr error) error {
	// The last stderr bytes may still be in the pipe: wait for the copy
	// (the write ends close when the sandbox's last process exits).
	timer := time.NewTimer(time.Second)
	select {
	case <-r.drained:
	case <-timer.C:
	}
	timer.Stop()
	tail := r.stderr.String()
	var ee *exec.ExitError
	sig := syscall.Signal(0)
	code := 0
	if errors.As(r.waitErr, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok {
			switch {
			case ws.Signaled():
				sig = ws.Signal()
			case ws.ExitStatus() > 128 && ws.ExitStatus() < 128+65:
				// bwrap reports a trainer killed by signal N as 128+N.
				sig = syscall.Signal(ws.ExitStatus() - 128)
			default:
				code = ws.ExitStatus()
			}
		}
	}
	switch {
	case sig == syscall.SIGXCPU:
		return fmt.Errorf("%w: killed by SIGXCPU (lifetime CPU limit)", ErrCPUQuota)
	case sig == syscall.SIGXFSZ:
		return fmt.Errorf("%w: killed by SIGXFSZ (file size limit)", ErrOutputQuota)
	case memoryFailure(tail):
		return fmt.Errorf("%w: the trainer failed to allocate memory within its %d-byte quota", ErrMemoryQuota, r.memory)
	case sig != 0:
		return fmt.Errorf("%w: killed by signal %v", ErrExited, sig)
	case r.waitErr == nil:
		return fmt.Errorf("%w: exit status 0 during a call: %w", ErrExited, ioErr)
	default:
		return fmt.Errorf("%w: exit status %d; stderr ends %q", ErrExited, code, lastLine(tail))
	}
}

// memoryFailure recognises the allocation failures of common runtimes in a
// trainer's last stderr: Python's MemoryError, C++'s std::bad_alloc,
// PyTorch's allocator and glibc's ENOMEM text.
func memoryFailure(tail string) bool {
	for _, m := range []string{"MemoryError", "std::bad_alloc", "can't allocate memory", "Cannot allocate memory", "out of memory"} {
		if strings.Contains(tail, m) {
			return true
		}
	}
	return false
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return clip(s)
}

// ensure returns the running process, starting a new one after a failure.
func (p *Process) ensure(ctx context.Context) (*run, error) {
	if p.closed {
		return nil, ErrClosed
	}
	if p.run != nil {
		select {
		case <-p.run.exited:
			// Died between calls: report a quota kill once, then restart.
			reason := p.run.stopIdle()
			p.run.stop()
			p.run = nil
			if reason != nil {
				return nil, reason
			}
		default:
			return p.run, nil
		}
	}
	if err := p.start(ctx, false); err != nil {
		return nil, err
	}
	p.restarts++
	return p.run, nil
}

// fail stops the current process (after an error that desynchronised the
// protocol or killed it); the next call starts a new one.
func (p *Process) fail() {
	if p.run != nil {
		p.run.stop()
		p.run = nil
	}
}

// Train implements [trainer.Trainer]: it sends the global tensors and settings and
// returns the checked, trained tensors.
func (p *Process) Train(ctx context.Context, rd trainer.Round) (trainer.Tensors, trainer.Metrics, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := rd.Settings.Validate(); err != nil {
		return trainer.Tensors{}, trainer.Metrics{}, err
	}
	if err := trainer.Check(rd.Global, p.cfg.Layout); err != nil {
		return trainer.Tensors{}, trainer.Metrics{}, fmt.Errorf("%w: global model: %w", ErrConfig, err)
	}
	settings, _ := json.Marshal(rd.Settings)
	meta := map[string]string{
		keyKind: kindTrain, keyProtocol: strconv.Itoa(ProtocolVersion),
		keyRound: strconv.Itoa(rd.Round), keySeed: strconv.FormatUint(rd.Seed, 10), keySettings: string(settings),
	}
	out := make([]float32, p.elements)
	m, err := p.call(ctx, meta, rd.Global.Data, out, kindTrained)
	if err != nil {
		return trainer.Tensors{}, trainer.Metrics{}, err
	}
	t := trainer.Tensors{Layout: p.cfg.Layout, Data: out}
	if err := trainer.Check(t, p.cfg.Layout); err != nil {
		return trainer.Tensors{}, trainer.Metrics{}, err
	}
	return t, m, nil
}

// Evaluate implements [trainer.Trainer].
func (p *Process) Evaluate(ctx context.Context, global trainer.Tensors) (trainer.Metrics, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := trainer.Check(global, p.cfg.Layout); err != nil {
		return trainer.Metrics{}, fmt.Errorf("%w: global model: %w", ErrConfig, err)
	}
	meta := map[string]string{keyKind: kindEvaluate, keyProtocol: strconv.Itoa(ProtocolVersion)}
	return p.call(ctx, meta, global.Data, nil, kindEvaluated)
}

// call sends one request and reads its reply of kind want (with tensors
// into out when out is not nil) or a trainer-reported error.
func (p *Process) call(ctx context.Context, meta map[string]string, data, out []float32, want string) (trainer.Metrics, error) {
	r, err := p.ensure(ctx)
	if err != nil {
		return trainer.Metrics{}, err
	}
	l := p.cfg.Limits
	var msg message
	dst := out
	if dst == nil {
		dst = []float32{}
	}
	err = r.guard(ctx, l.Wall, l.CPU, func() error {
		if err := writeMessage(r.stdin, p.cfg.Layout, data, meta); err != nil {
			return fmt.Errorf("%w: sending to the trainer: %w", ErrExited, err)
		}
		var err error
		if out == nil {
			msg, err = readMessage(r.stdout, nil, nil, l.MaxHeader)
		} else {
			msg, err = readMessage(r.stdout, p.cfg.Layout, dst, l.MaxHeader)
		}
		return err
	})
	if err != nil {
		p.fail()
		return trainer.Metrics{}, err
	}
	switch {
	case msg.kind == kindError && !msg.tensors:
		return trainer.Metrics{}, fmt.Errorf("%w: the trainer reports: %s", ErrFailed, clip(msg.meta[keyError]))
	case msg.kind != want || msg.tensors != (out != nil):
		p.fail()
		return trainer.Metrics{}, fmt.Errorf("%w: expected a %s message, got %q (with tensors: %t)", ErrProtocol, want, clip(msg.kind), msg.tensors)
	}
	m, err := msg.metrics()
	if err != nil {
		return trainer.Metrics{}, err
	}
	if err := m.Check(l.MaxExamples); err != nil {
		return trainer.Metrics{}, err
	}
	return m, nil
}

// Close implements [trainer.Trainer]: it asks the trainer to exit, kills it after
// two seconds, and removes the run directory.
func (p *Process) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	r := p.run
	p.run = nil
	if r == nil {
		return nil
	}
	meta := map[string]string{keyKind: kindShutdown, keyProtocol: strconv.Itoa(ProtocolVersion)}
	if writeMessage(r.stdin, nil, nil, meta) == nil {
		r.stdin.Close()
		timer := time.NewTimer(2 * time.Second)
		select {
		case <-r.exited:
		case <-timer.C:
		}
		timer.Stop()
	}
	r.stop()
	return nil
}

// tail keeps the last tailSize bytes written and forwards at most max bytes
// to w.
type tail struct {
	mu      sync.Mutex
	w       io.Writer
	left    int64
	buf     []byte
	dropped int64
}

const tailSize = 4096

func newTail(w io.Writer, max int64) *tail { return &tail{w: w, left: max} }

func (t *tail) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if len(t.buf) > tailSize {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailSize:]...)
	}
	if t.w != nil {
		n := int64(len(b))
		if n > t.left {
			t.dropped += n - t.left
			n = t.left
		}
		if n > 0 {
			t.w.Write(b[:n])
			t.left -= n
		}
	}
	return len(b), nil
}

func (t *tail) String() string {
	if t == nil {
		return ""
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.ToValidUTF8(t.buf, []byte("?")))
}
