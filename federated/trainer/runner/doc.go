// Package runner runs a team's own training program (PyTorch or anything
// else) as an external [trainer.Trainer]: a long-lived child process,
// sandboxed and under quotas, speaking a small framed protocol on its stdin
// and stdout. [Start] refuses to start a trainer whose program files do not
// hash to the pinned digest, or, unless allowed, on a machine without the
// sandbox; [Process] checks every reply before returning it.
//
// # The external trainer protocol (version 1)
//
// The child reads requests on stdin and writes replies on stdout. Each
// message is a frame: an 8-byte little-endian length L, then L bytes that
// are one safetensors document (package safetensors: 8-byte header length,
// JSON header, raw little-endian F32 data). The header's "__metadata__"
// carries "consort.protocol" = "1" and "consort.kind":
//
//	trainer -> node  hello      once, when ready (imports done, data loaded)
//	node -> trainer  train      global tensors; consort.settings (JSON
//	                            Settings), consort.round, consort.seed
//	trainer -> node  trained    trained tensors; consort.metrics (JSON Metrics)
//	node -> trainer  evaluate   global tensors
//	trainer -> node  evaluated  no tensors; consort.metrics (held-out split)
//	trainer -> node  error      no tensors; consort.error (the call failed)
//	node -> trainer  shutdown   no tensors; exit now
//
// Replies are read with every size bounded before allocation (frame at most
// header cap + layout bytes, header at most [Limits.MaxHeader]), decoded
// strictly against the layout (exact names, shapes, F32, offsets tiling the
// data, see package safetensors), and checked: every value finite, metrics
// plausible ([trainer.Metrics.Check]). The full specification, with a worked
// example, is docs/trainer.md; python/consort.py implements the trainer's
// side (numpy core, PyTorch convenience).
//
// # Threat model
//
// The trainer is the team's own code but is treated as untrusted input: it
// may be buggy, compromised by a dependency, or replaced. It must not
// (a) exfiltrate data or the model over the network, (b) read the node's
// key, state or anything but its declared data, (c) leave files behind or
// alter its own program between rounds, (d) exhaust the node's machine, or
// (e) influence what the node sends beyond the values of the declared
// tensors and the counts it reports. Mitigations:
//
//   - Sandbox (bubblewrap, `bwrap --unshare-all`): its own network namespace
//     (loopback only, down), mount namespace with a read-only view of /usr,
//     selected /etc files (loader, Python, BLAS alternatives; no
//     credentials) and the declared [Command.Data] paths; the program files
//     read-only; a fresh size-limited tmpfs as working directory (gone with
//     the process); PID, IPC, UTS and cgroup namespaces; all capabilities
//     dropped; a new session (no terminal); killed with the node. Nothing
//     else of the host is visible, so the node's key file is not merely
//     unreadable but absent. [Command.Deny] names paths (key, state
//     directory) that [Start] refuses to expose whatever the configuration.
//   - Quotas ([Limits]): memory (RLIMIT_AS per process, and a watchdog
//     summing the resident memory of the whole process tree, so forked
//     workers share one budget), per-call CPU time (the same watchdog sums
//     the tree's CPU, 50 ms resolution) and wall time, and between calls
//     the same memory quota and one call's CPU budget for an idle trainer
//     (reported by the next call), a lifetime RLIMIT_CPU backstop, file size (RLIMIT_FSIZE), no
//     core dumps, bounded reply frames and stderr. Limits are set (soft =
//     hard, so they cannot be raised) through bwrap's --info-fd/--block-fd
//     before the trainer's first instruction runs. A quota breach kills the
//     whole tree and returns [ErrCPUQuota], [ErrMemoryQuota], [ErrTimeout]
//     or [ErrOutputQuota]; the next call starts a fresh process.
//   - Approved code: [Command.Files] are hashed ([trainer.Digest], reproducible
//     with sha256sum) and copied into the read-only application directory
//     in one pass, so what runs is what was hashed; a [Command.Pin]
//     mismatch, or a missing pin when [Command.RequirePin] is set, refuses
//     to start ([ErrNotPinned]). [Process.Info] returns the digest for the
//     node's audit log every round.
//   - No inherited descriptors: before each start every descriptor above 2
//     the node inherited is marked close-on-exec (neither exec nor bwrap
//     closes them, and one could be a channel out of the sandbox).
//   - Scrubbed environment: only PATH, HOME, TMPDIR, LANG, PWD, CONSORT_WORKDIR,
//     CONSORT_PROTOCOL and the [Command.Env] allow-list.
//
// Where the facilities are missing (no bwrap, or namespaces forbidden)
// [Start] returns [ErrNoSandbox] unless [Command.AllowUnsandboxed] is set;
// then [Info.Sandboxed] is false and the node must log and audit that.
// [Probe] reports what this machine has (bwrap, user namespaces, Landlock
// ABI).
//
// # Decisions
//
//   - bubblewrap rather than SysProcAttr namespaces plus Landlock: a mount
//     namespace hides every unlisted path (Landlock only denies access to
//     paths that still exist), bwrap is a small, audited, widely packaged
//     tool, and doing the same in Go would need a re-exec helper inside
//     every binary that links this package. Landlock's ABI is probed and
//     reported only.
//   - RLIMIT_AS rather than a memory cgroup: it works unprivileged and in
//     containers without cgroup delegation. It limits virtual memory (leave
//     headroom: importing PyTorch maps about 1 GiB), and a process that hits
//     it fails an allocation rather than being killed; [ErrMemoryQuota] is
//     recognised from the runtime's allocation-failure message on stderr
//     (Python MemoryError, C++ std::bad_alloc, PyTorch's allocator).
//   - Per-call CPU is measured, not only limited: RLIMIT_CPU is per
//     process and cumulative, so a watchdog sums /proc CPU times over the
//     sandbox's process tree (children included) and kills at the budget.
//   - stdin/stdout rather than a Unix socket: nothing to name, bind or
//     clean up, and pipes need no file system access. The Python helper
//     moves the protocol off fd 1 on first use, so print() cannot corrupt
//     frames.
//   - A failed call kills the process when the stream may be out of step
//     (crash, quota, malformed frame) and keeps it when the reply was read
//     whole (trainer-reported error, NaN, implausible metrics).
//
// # Usage
//
//	p, err := runner.Start(ctx, runner.Command{
//		Argv:   []string{"/usr/bin/python3", "train.py", "--data", "/srv/mnist"},
//		Dir:    "examples/pytorch-mnist",
//		Files:  []string{"train.py", "../../python/consort.py"},
//		Data:   []string{"/srv/mnist"},
//		Deny:   []string{keyFile, stateDir},
//		Layout: layout,                         // from the manifest
//		Pin:    policy.TrainerDigest,           // optional
//		Limits: runner.Limits{CPU: 10 * time.Minute, Memory: 8 << 30},
//	})
//	info := p.Info()                            // audit info.Digest, info.Sandboxed
//	local, m, err := p.Train(ctx, trainer.Round{Round: r, Global: global, Settings: s, Seed: seed})
//	update := local.Data - global.Data          // the node's job, then clip, noise, protect
package runner
