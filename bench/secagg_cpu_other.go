//go:build !linux

package bench

import "time"

// threadTime is unavailable outside Linux: the benchmark uses wall time.
func threadTime() (time.Duration, bool) { return 0, false }
