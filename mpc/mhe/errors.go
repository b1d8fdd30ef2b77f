package mhe

import (
	"errors"
	"fmt"

	"github.com/consort-ml/consort/mpc"
)

var (
	// ErrParams marks a parameter literal that is invalid, insecure without
	// the explicit test-only flag, or whose noise budget does not close.
	ErrParams = errors.New("mhe: invalid parameters")
	// ErrConfig marks an invalid setup or round configuration.
	ErrConfig = errors.New("mhe: invalid configuration")
	// ErrState marks a call that the state machine's current phase does not
	// allow (for example an upload after the uploads were closed).
	ErrState = errors.New("mhe: call out of order")
)

// malformed wraps mpc.ErrMalformed with context; the context names sizes and
// party ids, never data.
func malformed(format string, args ...any) error {
	return fmt.Errorf("mhe: %s: %w", fmt.Sprintf(format, args...), mpc.ErrMalformed)
}

// violation wraps mpc.ErrProtocol with context.
func violation(format string, args ...any) error {
	return fmt.Errorf("mhe: %s: %w", fmt.Sprintf(format, args...), mpc.ErrProtocol)
}
