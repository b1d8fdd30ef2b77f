package kernels

import "fmt"

// malformed wraps [ErrMalformed] with a description of sizes only.
func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}
