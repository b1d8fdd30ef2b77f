// Package statedir gives a process exclusive use of a state directory: an
// advisory lock (flock(2) on Unix, LockFileEx on Windows, through
// github.com/gofrs/flock) on a file named [LockName] inside it.
//
// A coordinator's or a node's state directory holds an append-only audit
// log, checkpoints and key material. Two processes writing it at once
// interleave audit entries and corrupt the hash chain for good, or resume
// from each other's checkpoints; so every consort command that writes a
// state directory takes this lock first and refuses to start when another
// process holds it ([ErrLocked]).
//
// # Decisions
//
//   - The lock is advisory and tied to the open file: the kernel drops it
//     when the holder exits, however it exits (kill -9 included), so a crash
//     never leaves a stale lock behind and there is nothing to clean up.
//   - The lock file is never removed (removing it would let a third process
//     lock a new file of the same name while the second still holds the old
//     one). It holds the holder's process ID, for the error message only:
//     the ID is never trusted to decide anything.
//   - The directory is created with mode 0700 if missing: it will hold
//     secrets.
//   - Not protected against: a process that ignores the lock, and network
//     file systems whose flock is not shared between hosts (NFS before v4
//     may lock per host only); keep state directories on local disks.
//
// # Usage
//
//	lk, err := statedir.Acquire(dir)
//	if errors.Is(err, statedir.ErrLocked) {
//		// another process is using dir; err names its pid when known
//	}
//	defer lk.Release()
package statedir
