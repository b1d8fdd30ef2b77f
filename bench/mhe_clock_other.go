//go:build !linux

package bench

import "time"

// threadCPU is unavailable outside Linux: the mhe benchmark falls back to
// wall-clock time.
func threadCPU() (time.Duration, bool) { return 0, false }
