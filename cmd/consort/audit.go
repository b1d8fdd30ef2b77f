package main

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/consort-ml/consort/federated/audit"
	"github.com/consort-ml/consort/federated/manifest"
	"github.com/consort-ml/consort/transport"
	"github.com/consort-ml/consort/transport/identity"
)

const auditSynopsis = "audit verify [--manifest M] [--pubkey NAME=HEX]... LOG..."

// runAudit implements 'consort audit'. Its one subcommand, verify, checks
// each log's chain, signatures and signed head, reporting the first bad entry
// of each, then cross-checks node logs against the coordinator's log when
// several logs are given.
func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("missing subcommand: %s", auditSynopsis)
	}
	switch args[0] {
	case "verify":
		return runAuditVerify(ctx, args[1:], stdout)
	case "-h", "--help", "help":
		fmt.Fprintf(stdout, "usage: consort %s\n", auditSynopsis)
		return errHelp
	}
	return usagef("unknown audit subcommand %q (want verify)", args[0])
}

// pubkeyFlag collects repeated --pubkey NAME=HEX values.
type pubkeyFlag map[string]ed25519.PublicKey

func (p pubkeyFlag) String() string {
	names := make([]string, 0, len(p))
	for n := range p {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

func (p pubkeyFlag) Set(v string) error {
	name, hx, ok := strings.Cut(v, "=")
	if !ok || name == "" {
		return errors.New("want NAME=HEX")
	}
	raw, err := hex.DecodeString(hx)
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return fmt.Errorf("key of %q is not %d hex-encoded bytes", name, ed25519.PublicKeySize)
	}
	if _, dup := p[name]; dup {
		return fmt.Errorf("two keys for %q", name)
	}
	p[name] = ed25519.PublicKey(raw)
	return nil
}

// parseInterleaved parses flags that may appear before, between or after the
// positional arguments.
func parseInterleaved(fs *flag.FlagSet, args []string, stdout io.Writer) ([]string, error) {
	var pos []string
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fs.Usage()
			return nil, errHelp
		}
		if err != nil {
			return nil, usageError(err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func runAuditVerify(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("audit verify", auditSynopsis)
	keys := pubkeyFlag{}
	fs.Var(keys, "pubkey", "pin the Ed25519 key of writer NAME (hex); repeatable. Without any, each log's own genesis key is used (integrity only)")
	manifestPath := fs.String("manifest", "", "pin every member's key from this signed manifest (writers are named by peer ID)")
	allowOpen := fs.Bool("allow-open", false, "accept a log that is neither closed nor checked against its signed head (its last entries could have been removed)")
	logs, err := parseInterleaved(fs, args, stdout)
	if err != nil {
		return err
	}
	if *manifestPath != "" {
		m, err := manifest.Load(*manifestPath)
		if err != nil {
			return usageError(err)
		}
		if err := m.Verify(time.Now()); err != nil {
			return usageError(err)
		}
		for _, mb := range m.Members {
			pub, err := identity.PublicKey(transport.PeerID(mb.PeerID))
			if err != nil {
				return usageError(err)
			}
			keys[mb.PeerID] = pub
		}
	}
	if len(logs) == 0 {
		return usagef("no log given: %s", auditSynopsis)
	}
	var (
		reports  []audit.Report
		paths    []string
		failures []string
	)
	for _, path := range logs {
		if err := ctx.Err(); err != nil {
			return err
		}
		rep, err := verifyOne(path, keys)
		if err == nil && !rep.Closed && !rep.HeadChecked && !*allowOpen {
			// Without a close entry or a signed head, deleting the last
			// entries leaves a valid chain: refuse unless asked not to.
			err = errors.New("neither closed nor checked against a signed head (its last entries may have been removed; --allow-open accepts it)")
		}
		if err != nil {
			fmt.Fprintf(stdout, "%s: FAIL: %s\n", path, err)
			failures = append(failures, fmt.Sprintf("%s: %s", path, err))
			continue
		}
		fmt.Fprintf(stdout, "%s: ok: %s\n", path, describe(rep))
		reports = append(reports, rep)
		paths = append(paths, path)
	}
	if len(failures) > 0 {
		return fmt.Errorf("%d of %d logs failed verification; first: %s", len(failures), len(logs), failures[0])
	}
	if len(reports) < 2 {
		return nil
	}
	coord := -1
	for i, r := range reports {
		if r.Role == "coordinator" {
			if coord >= 0 {
				return fmt.Errorf("cannot cross-check: %s and %s are both coordinator logs", paths[coord], paths[i])
			}
			coord = i
		}
	}
	if coord < 0 {
		fmt.Fprintln(stdout, "cross-check: skipped (no coordinator log given)")
		return nil
	}
	var nodes []audit.Report
	known := map[string]ed25519.PublicKey{}
	for n, k := range keys {
		known[n] = k
	}
	for i, r := range reports {
		known[r.Actor] = r.PublicKey
		if i != coord {
			nodes = append(nodes, r)
		}
	}
	var findings []audit.Finding
	for _, f := range audit.CrossCheck(reports[coord], nodes, known) {
		fmt.Fprintf(stdout, "cross-check: %s\n", f)
		if !f.Interrupted {
			findings = append(findings, f)
		}
	}
	if len(findings) > 0 {
		return fmt.Errorf("cross-check of %d node logs against %s found %d inconsistencies; first: %s", len(nodes), paths[coord], len(findings), findings[0])
	}
	fmt.Fprintf(stdout, "cross-check: %d node logs consistent with %s\n", len(nodes), paths[coord])
	return nil
}

// verifyOne verifies a log, pinning its writer's key when --pubkey gave one.
// When keys were given, a writer without one is an error.
func verifyOne(path string, keys pubkeyFlag) (audit.Report, error) {
	rep, err := audit.VerifyFile(path, nil)
	if err != nil {
		return rep, err
	}
	if len(keys) == 0 {
		return rep, nil
	}
	pub, ok := keys[rep.Actor]
	if !ok {
		return rep, fmt.Errorf("no --pubkey for writer %q", rep.Actor)
	}
	return audit.VerifyFile(path, pub)
}

func describe(r audit.Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d entries by %s", len(r.Entries), r.Actor)
	if r.Role != "" {
		fmt.Fprintf(&b, " (%s)", r.Role)
	}
	if r.Pinned {
		b.WriteString(", key pinned")
	} else {
		fmt.Fprintf(&b, ", key %s NOT pinned (integrity only)", audit.Fingerprint(r.PublicKey))
	}
	switch {
	case !r.HeadChecked:
		b.WriteString(", no signed head (removal of the last entries is detectable only by cross-check)")
	case r.HeadLag > 0:
		fmt.Fprintf(&b, ", head %d entries behind", r.HeadLag)
	default:
		b.WriteString(", head checked")
	}
	if r.Closed {
		b.WriteString(", closed")
	} else {
		b.WriteString(", not closed")
	}
	return b.String()
}
