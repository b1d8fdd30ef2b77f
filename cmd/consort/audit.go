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

const auditSynopsis = "audit verify [--manifest M] [--pubkey NAME=HEX]... [--json] LOG..."

var auditExamples = []string{
	"consort audit verify --manifest manifest.toml state/audit.log",
	"consort audit verify --manifest manifest.toml coord/audit.log team-a/audit.log team-b/audit.log",
	"consort audit verify --pubkey 12D3KooW...=HEX team-a/audit.log",
	"consort audit verify --json --manifest manifest.toml */audit.log",
}

// runAudit implements 'consort audit'. Its one subcommand, verify, checks
// each log's chain, signatures and signed head, reporting the first bad entry
// of each, then cross-checks node logs against the coordinator's log when
// several logs are given.
func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("missing subcommand: %s (run 'consort audit --help')", auditSynopsis)
	}
	switch args[0] {
	case "verify":
		return runAuditVerify(ctx, args[1:], stdout)
	case "-h", "--help", "help":
		printGroupHelp(stdout, "audit <subcommand> [flags]", []subcommand{
			{"verify", "check audit logs' hash chains, signatures and signed heads, and cross-check node logs against the coordinator's"},
		}, auditExamples)
		fmt.Fprintln(stdout, "\nExit status 5 when a log fails verification or the cross-check finds an inconsistency.")
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
			return nil, usageError(flagError(err))
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

// auditLogResult is one log in audit verify's JSON output.
type auditLogResult struct {
	Path        string `json:"path"`
	OK          bool   `json:"ok"`
	Error       string `json:"error,omitempty"`
	Actor       string `json:"actor,omitempty"`
	Role        string `json:"role,omitempty"`
	Entries     int    `json:"entries"`
	Pinned      bool   `json:"key_pinned"`
	HeadChecked bool   `json:"head_checked"`
	HeadLag     int    `json:"head_lag"`
	Closed      bool   `json:"closed"`
}

// auditResult is audit verify's JSON output.
type auditResult struct {
	OK          bool             `json:"ok"`
	Logs        []auditLogResult `json:"logs"`
	CrossCheck  string           `json:"cross_check"` // "consistent", "inconsistent", "skipped" or "not run"
	Coordinator string           `json:"coordinator_log,omitempty"`
	Findings    []string         `json:"findings,omitempty"`
}

func runAuditVerify(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("audit verify", auditSynopsis, auditExamples...)
	keys := pubkeyFlag{}
	fs.Var(keys, "pubkey", "pin the Ed25519 key of writer NAME (hex); repeatable. Without any, each log's own genesis key is used (integrity only)")
	manifestPath := fs.String("manifest", "", "pin every member's key from this signed manifest (writers are named by peer ID)")
	jsonOut := fs.Bool("json", false, "print one JSON object (ok, logs, cross_check, findings) instead of text")
	allowOpen := fs.Bool("allow-open", false, "accept a log that is neither closed nor checked against its signed head (its last entries could have been removed)")
	logs, err := parseInterleaved(fs, args, stdout)
	if err != nil {
		return err
	}
	if *manifestPath != "" {
		m, err := manifest.Load(*manifestPath)
		if err != nil {
			return err
		}
		if err := m.Verify(time.Now()); err != nil {
			return err
		}
		for _, mb := range m.Members {
			pub, err := identity.PublicKey(transport.PeerID(mb.PeerID))
			if err != nil {
				return err
			}
			keys[mb.PeerID] = pub
		}
	}
	if len(logs) == 0 {
		return usagef("no log given: %s", auditSynopsis)
	}
	res := auditResult{CrossCheck: "not run"}
	text := stdout
	if *jsonOut {
		text = io.Discard
	}
	verr := verifyLogs(ctx, logs, keys, *allowOpen, text, &res)
	res.OK = verr == nil
	if *jsonOut {
		if err := writeJSON(stdout, res); err != nil {
			return err
		}
	}
	return verr
}

// verifyLogs verifies every log, then cross-checks the node logs against
// the coordinator's, printing text lines on w and filling res.
func verifyLogs(ctx context.Context, logs []string, keys pubkeyFlag, allowOpen bool, w io.Writer, res *auditResult) error {
	var (
		reports      []audit.Report
		paths        []string
		failures     []string
		verifyFailed bool // a log failed a check (not only unreadable)
	)
	for _, path := range logs {
		if err := ctx.Err(); err != nil {
			return err
		}
		rep, err := verifyOne(path, keys)
		if err == nil && !rep.Closed && !rep.HeadChecked && !allowOpen {
			// Without a close entry or a signed head, deleting the last
			// entries leaves a valid chain: refuse unless asked not to.
			err = errors.New("neither closed nor checked against a signed head (its last entries may have been removed; --allow-open accepts it)")
		}
		lr := auditLogResult{Path: path, OK: err == nil, Actor: rep.Actor, Role: rep.Role, Entries: len(rep.Entries),
			Pinned: rep.Pinned, HeadChecked: rep.HeadChecked, HeadLag: rep.HeadLag, Closed: rep.Closed}
		if err != nil {
			if exitCode(err) != exitInput {
				verifyFailed = true
			}
			lr.Error = err.Error()
			res.Logs = append(res.Logs, lr)
			fmt.Fprintf(w, "%s: FAIL: %s\n", path, err)
			failures = append(failures, fmt.Sprintf("%s: %s", path, err))
			continue
		}
		res.Logs = append(res.Logs, lr)
		fmt.Fprintf(w, "%s: ok: %s\n", path, describe(rep))
		reports = append(reports, rep)
		paths = append(paths, path)
	}
	if len(failures) > 0 {
		code := exitInput // every failed log was unreadable
		if verifyFailed {
			code = exitVerify
		}
		return withCode(fmt.Errorf("%d of %d logs failed verification; first: %s", len(failures), len(logs), failures[0]), code)
	}
	if len(reports) < 2 {
		return nil
	}
	coord := -1
	for i, r := range reports {
		if r.Role == "coordinator" {
			if coord >= 0 {
				return usagef("cannot cross-check: %s and %s are both coordinator logs", paths[coord], paths[i])
			}
			coord = i
		}
	}
	if coord < 0 {
		res.CrossCheck = "skipped"
		fmt.Fprintln(w, "cross-check: skipped (no coordinator log given)")
		return nil
	}
	res.Coordinator = paths[coord]
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
		fmt.Fprintf(w, "cross-check: %s\n", f)
		res.Findings = append(res.Findings, fmt.Sprint(f))
		if !f.Interrupted {
			findings = append(findings, f)
		}
	}
	if len(findings) > 0 {
		res.CrossCheck = "inconsistent"
		return withCode(fmt.Errorf("cross-check of %d node logs against %s found %d inconsistencies; first: %s", len(nodes), paths[coord], len(findings), findings[0]), exitVerify)
	}
	res.CrossCheck = "consistent"
	fmt.Fprintf(w, "cross-check: %d node logs consistent with %s\n", len(nodes), paths[coord])
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
