package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/consort-ml/consort/federated"
	"github.com/consort-ml/consort/federated/audit"
	"github.com/consort-ml/consort/federated/data"
	"github.com/consort-ml/consort/federated/engine"
	"github.com/consort-ml/consort/federated/manifest"
	"github.com/consort-ml/consort/federated/model"
	"github.com/consort-ml/consort/federated/policy"
	"github.com/consort-ml/consort/internal/statedir"
	"github.com/consort-ml/consort/transport/identity"
	"github.com/consort-ml/consort/transport/p2p"
)

// TestExitCode: an error's class decides its status, whatever wraps it
// (a usage mark included), and an explicit mark wins.
func TestExitCode(t *testing.T) {
	_, notExist := os.Open("/nonexistent/consort-test")
	for _, c := range []struct {
		err  error
		want int
	}{
		{nil, exitOK},
		{errors.New("boom"), exitFailure},
		{usagef("--x is required"), exitUsage},
		{notExist, exitInput},
		{usageError(fmt.Errorf("identity: %w", notExist)), exitInput},
		{usageError(fmt.Errorf("%w: x", identity.ErrPermissions)), exitInput},
		{fmt.Errorf("%w: x", data.ErrBadData), exitInput},
		{fmt.Errorf("%w: x", policy.ErrInvalid), exitInput},
		{usageError(fmt.Errorf("%w: x", manifest.ErrExpired)), exitRefused},
		{usageError(fmt.Errorf("%w: x", manifest.ErrUnknownMember)), exitRefused},
		{&policy.RefusalError{Reason: policy.ReasonRounds, Detail: "x"}, exitRefused},
		{fmt.Errorf("%w: x", engine.ErrRefused), exitRefused},
		{fmt.Errorf("%w: x", model.ErrBadFile), exitInput},
		{fmt.Errorf("%w: x", engine.ErrCheckpoint), exitInput},
		{usageError(fmt.Errorf("%w: x", manifest.ErrBadSignature)), exitVerify},
		{fmt.Errorf("%w: x", manifest.ErrUnsigned), exitVerify},
		{fmt.Errorf("%w: x", audit.ErrTampered), exitVerify},
		{fmt.Errorf("%w: x", federated.ErrCoordinatorUnreachable), exitNetwork},
		{fmt.Errorf("%w: x", statedir.ErrLocked), exitBusy},
		{fmt.Errorf("%w: x", p2p.ErrAddrInUse), exitBusy},
		{withCode(fmt.Errorf("%w: x", data.ErrBadData), exitVerify), exitVerify},
		{withCode(nil, exitVerify), exitOK},
	} {
		if got := exitCode(c.err); got != c.want {
			t.Errorf("exitCode(%v) = %d, want %d", c.err, got, c.want)
		}
	}
	// Marks never change the message.
	if err := withCode(usagef("one line"), exitRefused); err.Error() != "one line" {
		t.Errorf("message %q", err)
	}
	// Every status of the table is documented once, in order.
	seen := map[int]bool{}
	for i, c := range exitCodes {
		if seen[c.code] || c.name == "" || c.meaning == "" || (i > 0 && c.code <= exitCodes[i-1].code) {
			t.Errorf("exit code table entry %d: %+v", i, c)
		}
		seen[c.code] = true
	}
	// Interrupted: a command stopped by its context (Ctrl-C) exits 130
	// with one line.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stderr, stdout fmtBuffer
	if code := run(ctx, []string{"simulate", "--dataset", "wine", "--rounds", "50", "--json"}, &stdout, &stderr); code != exitInterrupted || string(stderr) != "consort simulate: interrupted\n" {
		t.Errorf("interrupted simulate: exit %d, stderr %q", code, stderr)
	}
}

type fmtBuffer []byte

func (b *fmtBuffer) Write(p []byte) (int, error) { *b = append(*b, p...); return len(p), nil }
