package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/consort-ml/consort/federated"
	"github.com/consort-ml/consort/federated/audit"
	"github.com/consort-ml/consort/federated/data"
	"github.com/consort-ml/consort/federated/engine"
	"github.com/consort-ml/consort/federated/manifest"
	"github.com/consort-ml/consort/federated/model"
	"github.com/consort-ml/consort/federated/policy"
	"github.com/consort-ml/consort/federated/privacy"
	"github.com/consort-ml/consort/internal/statedir"
	"github.com/consort-ml/consort/transport"
	"github.com/consort-ml/consort/transport/identity"
	"github.com/consort-ml/consort/transport/p2p"
)

// The exit statuses of every consort command: one table, documented in
// docs/cli.md and printed by 'consort help exit-codes'. The same failure
// gives the same status whichever command meets it.
const (
	exitOK          = 0   // success
	exitFailure     = 1   // the command ran and failed (training, a round, a benchmark)
	exitUsage       = 2   // bad flags or arguments
	exitInput       = 3   // a file cannot be read, written or parsed (key, manifest, data, policy, model, state)
	exitRefused     = 4   // refused by the manifest or a policy (not a member, wrong role, protocol, rounds, expiry, budget)
	exitVerify      = 5   // a signature, digest or audit-log check failed
	exitNetwork     = 6   // a peer cannot be reached
	exitBusy        = 7   // another process holds the state directory or the listen port
	exitInternal    = 70  // a bug: please report it
	exitInterrupted = 130 // interrupted (Ctrl-C, SIGTERM)
)

// exitCodes documents the table; the help text and docs/cli.md list it.
var exitCodes = []struct {
	code          int
	name, meaning string
}{
	{exitOK, "ok", "success"},
	{exitFailure, "failed", "the command ran and failed (e.g. training stopped by an error, too few contributors)"},
	{exitUsage, "usage", "bad flags or arguments"},
	{exitInput, "input", "a file cannot be read, written or parsed: key, manifest, data, policy, model, metrics, state"},
	{exitRefused, "refused", "refused by the manifest or a policy: not a member, wrong role, protocol, rounds, expiry, privacy budget"},
	{exitVerify, "verify", "verification failed: manifest signature, audit-log chain, signature or cross-check"},
	{exitNetwork, "network", "a peer cannot be reached (e.g. the coordinator)"},
	{exitBusy, "busy", "another process holds the state directory or the listen address"},
	{exitInternal, "internal", "internal error (a bug); the message is one line, never a stack trace"},
	{exitInterrupted, "interrupted", "interrupted by Ctrl-C or SIGTERM; state is left resumable"},
}

// printExitCodes writes the table for 'consort help exit-codes'.
func printExitCodes(w io.Writer) {
	fmt.Fprintln(w, "consort exit statuses (the same for every command):")
	for _, c := range exitCodes {
		fmt.Fprintf(w, "  %3d  %-11s  %s\n", c.code, c.name, c.meaning)
	}
	fmt.Fprintln(w, "\nErrors are one line on stderr: 'consort COMMAND: message'.")
}

// exitMark attaches an exit status to an error without changing its text.
type exitMark struct{ code int }

func (exitMark) Error() string { return "" }

// withCode marks err to exit with code (nil stays nil).
func withCode(err error, code int) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w%w", err, exitMark{code})
}

// sentinelCodes maps the packages' error classes to exit statuses. Checked in
// order: the first match wins.
var sentinelCodes = []struct {
	err  error
	code int
}{
	{statedir.ErrLocked, exitBusy},
	{p2p.ErrAddrInUse, exitBusy},
	{federated.ErrCoordinatorUnreachable, exitNetwork},
	{manifest.ErrBadSignature, exitVerify},
	{manifest.ErrUnsigned, exitVerify},
	{identity.ErrBadSignature, exitVerify},
	{audit.ErrTampered, exitVerify},
	{audit.ErrKey, exitVerify},
	{audit.ErrMalformed, exitVerify},
	{audit.ErrEntry, exitVerify},
	{manifest.ErrExpired, exitRefused},
	{manifest.ErrUnknownMember, exitRefused},
	{policy.ErrRefused, exitRefused},
	{engine.ErrRefused, exitRefused},
	{privacy.ErrBudgetExhausted, exitRefused},
	{identity.ErrPeerID, exitUsage},
	{data.ErrUnknownDataset, exitUsage},
	{data.ErrInvalidArgument, exitUsage},
	{federated.ErrBadConfig, exitUsage},
	{engine.ErrConfig, exitUsage},
	{engine.ErrPlan, exitUsage},
	{transport.ErrBadConfig, exitUsage},
	{model.ErrSpec, exitUsage},
	{model.ErrConfig, exitUsage},
	{manifest.ErrMalformed, exitInput},
	{identity.ErrMalformedKey, exitInput},
	{identity.ErrPermissions, exitInput},
	{identity.ErrExists, exitInput},
	{policy.ErrInvalid, exitInput},
	{data.ErrBadData, exitInput},
	{data.ErrMNISTNotFound, exitInput},
	{model.ErrBadFile, exitInput},
	{federated.ErrKeyFile, exitInput},
	{engine.ErrCheckpoint, exitInput},
	{model.ErrBadFile, exitInput},
	{model.ErrShape, exitInput},
	{model.ErrLabel, exitInput},
}

// exitCode returns the exit status of a command's error: an explicit mark
// first, then the error's class, then a file error, then a usage mark;
// anything else failed.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var m exitMark
	if errors.As(err, &m) {
		return m.code
	}
	for _, s := range sentinelCodes {
		if errors.Is(err, s.err) {
			return s.code
		}
	}
	var pe *fs.PathError
	if errors.As(err, &pe) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
		return exitInput
	}
	if errors.Is(err, errUsage) {
		return exitUsage
	}
	return exitFailure
}
