package mpc

import (
	"errors"
	"fmt"
)

// Failure classes shared by the protocols. Protocol packages wrap them with
// %w and context; match them with [errors.Is].
var (
	// ErrTooFewParties marks a round that has fewer live parties than its
	// threshold: no aggregate may be released.
	ErrTooFewParties = errors.New("mpc: too few parties")
	// ErrMalformed marks bytes from a peer that do not decode under the
	// agreed parameters.
	ErrMalformed = errors.New("mpc: malformed message")
	// ErrProtocol marks a decodable message that violates the protocol.
	ErrProtocol = errors.New("mpc: protocol violation")
	// ErrUnrecoverable marks a round whose survivors cannot reconstruct what
	// the dropped parties left behind.
	ErrUnrecoverable = errors.New("mpc: round cannot be recovered")
	// ErrUnexpected marks a message that does not fit the receiving party's
	// current step (late, duplicate or out of order). Drivers count and drop
	// such messages; they do not end the instance.
	ErrUnexpected = errors.New("mpc: unexpected message")
)

// AbortError reports that a party aborted a protocol round. Once a state
// machine has aborted, every later call returns the same error.
type AbortError struct {
	// Party is the id of the party that aborted (0 is the server or
	// aggregator).
	Party int
	// Round is the federation round the protocol instance belongs to.
	Round uint64
	// Err is the cause; it wraps one of the package's sentinels.
	Err error
}

// Error implements error.
func (e *AbortError) Error() string {
	return fmt.Sprintf("mpc: party %d aborted round %d: %v", e.Party, e.Round, e.Err)
}

// Unwrap returns the cause, so errors.Is sees the sentinel it wraps.
func (e *AbortError) Unwrap() error { return e.Err }
