package bench

import (
	"time"

	"golang.org/x/sys/unix"
)

// threadTime returns the CPU time the calling OS thread has used
// (clock_gettime CLOCK_THREAD_CPUTIME_ID, nanosecond resolution). The secure
// aggregation benchmark locks its goroutine to one thread and times the
// state machines with it, so that other processes on a shared machine do
// not inflate the times. ok is false when the call fails; the caller then
// uses wall time.
func threadTime() (time.Duration, bool) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0, false
	}
	return time.Duration(ts.Nano()), true
}
