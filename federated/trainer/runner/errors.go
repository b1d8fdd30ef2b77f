package runner

import (
	"errors"

	"github.com/consort-ml/consort/federated/trainer"
)

// Errors returned (wrapped) by this package. Each marks one failure class
// so the node can log, audit and decide (skip the round, restart the
// trainer, refuse to start) without parsing text.
var (
	// ErrConfig is [trainer.ErrConfig]: an invalid [Command], settings or layout.
	ErrConfig = trainer.ErrConfig
	// ErrNotPinned marks program files whose digest differs from the pinned
	// one (or a policy that requires a pin and has none): the trainer is not
	// started.
	ErrNotPinned = errors.New("runner: program digest not approved")
	// ErrNoSandbox marks a machine without the sandbox facilities, when the
	// configuration does not allow an unsandboxed trainer: it is not started.
	ErrNoSandbox = errors.New("runner: sandbox unavailable")
	// ErrInvalidOutput is [trainer.ErrInvalidOutput]: tensors or metrics
	// that do not match what was asked (wrong, missing or extra tensor,
	// shape or dtype, NaN or infinity, implausible metrics).
	ErrInvalidOutput = trainer.ErrInvalidOutput
	// ErrProtocol marks bytes from an external trainer that break the
	// framed protocol (bad frame, oversized header, unexpected message).
	ErrProtocol = errors.New("runner: protocol violation")
	// ErrTimeout marks a call that exceeded its wall-time quota (or the
	// caller's context): the trainer was killed.
	ErrTimeout = errors.New("runner: wall-time quota exceeded")
	// ErrCPUQuota marks a trainer killed for exceeding its CPU seconds.
	ErrCPUQuota = errors.New("runner: CPU quota exceeded")
	// ErrMemoryQuota marks a trainer that ran out of its memory quota.
	ErrMemoryQuota = errors.New("runner: memory quota exceeded")
	// ErrOutputQuota marks a trainer that wrote more than its output quota.
	ErrOutputQuota = errors.New("runner: output quota exceeded")
	// ErrExited marks a trainer process that exited or crashed.
	ErrExited = errors.New("runner: process exited")
	// ErrFailed marks a trainer that reported an error for the call (it
	// keeps running and may serve the next round).
	ErrFailed = errors.New("runner: training failed")
	// ErrClosed marks a call after [Process.Close].
	ErrClosed = errors.New("runner: closed")
)
