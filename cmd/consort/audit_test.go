package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/consort-ml/consort/federated/audit"
)

func auditKey(b byte) ed25519.PrivateKey {
	seed := make([]byte, ed25519.SeedSize)
	seed[0] = b
	return ed25519.NewKeyFromSeed(seed)
}

// writeFederationLogs writes a coordinator log and two node logs of one
// consistent round and returns their paths and --pubkey flags.
func writeFederationLogs(t *testing.T, dir string) (paths []string, pubkeys []string) {
	t.Helper()
	open := func(name, role string, k byte) *audit.Log {
		l, err := audit.Open(filepath.Join(dir, name+".audit"), auditKey(k), audit.Options{Actor: name, Role: role, Federation: "fed-1"})
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, filepath.Join(dir, name+".audit"))
		pubkeys = append(pubkeys, "--pubkey", name+"="+hex.EncodeToString(auditKey(k).Public().(ed25519.PublicKey)))
		return l
	}
	c := open("coordinator", "coordinator", 1)
	a := open("node-a", "node", 2)
	b := open("node-b", "node", 3)
	app := func(l *audit.Log, e audit.Entry) {
		if _, err := l.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	agg := audit.Digest([]byte("aggregate 1"))
	app(c, audit.Entry{Kind: audit.KindRoundStart, Round: 1, Contributors: []string{"node-a", "node-b"}})
	for _, n := range []struct {
		l    *audit.Log
		name string
	}{{a, "node-a"}, {b, "node-b"}} {
		d := audit.Digest([]byte("masked update of " + n.name))
		app(n.l, audit.Entry{Kind: audit.KindContributionSent, Round: 1, Peer: "coordinator", Digest: d})
		app(c, audit.Entry{Kind: audit.KindContributionReceived, Round: 1, Peer: n.name, Digest: d})
	}
	app(c, audit.Entry{Kind: audit.KindAggregate, Round: 1, Digest: agg, Contributors: []string{"node-a", "node-b"}})
	app(a, audit.Entry{Kind: audit.KindCountersign, Round: 1, Digest: agg})
	app(b, audit.Entry{Kind: audit.KindCountersign, Round: 1, Digest: agg})
	for _, l := range []*audit.Log{c, a, b} {
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return paths, pubkeys
}

func runAuditArgs(args ...string) (string, error) {
	var out, errOut bytes.Buffer
	err := runAudit(context.Background(), args, &out, &errOut)
	return out.String(), err
}

func TestAuditVerifyClean(t *testing.T) {
	paths, pubkeys := writeFederationLogs(t, t.TempDir())
	out, err := runAuditArgs(append(append([]string{"verify"}, pubkeys...), paths...)...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"coordinator.audit: ok: 6 entries by coordinator (coordinator), key pinned, head checked, closed",
		"node-a.audit: ok: 4 entries by node-a (node), key pinned", "cross-check: 2 node logs consistent"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// flags after the logs, and no pinning
	out, err = runAuditArgs("verify", paths[1], "--pubkey", pubkeys[3])
	if err != nil || !strings.Contains(out, "key pinned") {
		t.Errorf("interleaved flags: %v\n%s", err, out)
	}
	out, err = runAuditArgs("verify", paths[1])
	if err != nil || !strings.Contains(out, "NOT pinned") {
		t.Errorf("unpinned: %v\n%s", err, out)
	}
}

func TestAuditVerifyTampered(t *testing.T) {
	dir := t.TempDir()
	paths, pubkeys := writeFederationLogs(t, dir)
	data, err := os.ReadFile(paths[1])
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(data, []byte("\n"))
	lines[1] = bytes.Replace(lines[1], []byte(`"round":1`), []byte(`"round":2`), 1)
	if err := os.WriteFile(paths[1], bytes.Join(lines, []byte("\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runAuditArgs(append(append([]string{"verify"}, pubkeys...), paths...)...)
	if err == nil || !strings.Contains(err.Error(), "node-a.audit: audit: line 2: signature") {
		t.Errorf("err = %v\n%s", err, out)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("multi-line error %q", err)
	}
}

func TestAuditVerifyWrongKey(t *testing.T) {
	paths, pubkeys := writeFederationLogs(t, t.TempDir())
	pubkeys[1] = "coordinator=" + hex.EncodeToString(auditKey(9).Public().(ed25519.PublicKey))
	_, err := runAuditArgs(append(append([]string{"verify"}, pubkeys...), paths...)...)
	if err == nil || !strings.Contains(err.Error(), "line 1: key") {
		t.Errorf("err = %v", err)
	}
	_, err = runAuditArgs("verify", "--pubkey", pubkeys[3], paths[0])
	if err == nil || !strings.Contains(err.Error(), `no --pubkey for writer "coordinator"`) {
		t.Errorf("err = %v", err)
	}
}

func TestAuditCrossCheckFails(t *testing.T) {
	dir := t.TempDir()
	paths, pubkeys := writeFederationLogs(t, dir)
	// node-b's log is replaced by a fresh, validly signed log that lacks the
	// round: truncation no local check can see
	if err := os.Remove(paths[2]); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(paths[2] + ".head"); err != nil {
		t.Fatal(err)
	}
	l, err := audit.Open(paths[2], auditKey(3), audit.Options{Actor: "node-b", Role: "node", Federation: "fed-1"})
	if err != nil {
		t.Fatal(err)
	}
	_ = l.Close()
	out, err := runAuditArgs(append(append([]string{"verify"}, pubkeys...), paths...)...)
	if err == nil || !strings.Contains(err.Error(), "inconsistencies") || !strings.Contains(out, "cross-check: coordinator round 1: logged contribution") {
		t.Errorf("err = %v\n%s", err, out)
	}
}

func TestAuditUsage(t *testing.T) {
	for _, args := range [][]string{
		nil, {"frobnicate"}, {"verify"}, {"verify", "--pubkey", "x"}, {"verify", "--pubkey", "a=zz", "log"},
		{"verify", "--bogus", "log"},
	} {
		if _, err := runAuditArgs(args...); !errors.Is(err, errUsage) {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
	if _, err := runAuditArgs("verify", "-h"); !errors.Is(err, errHelp) {
		t.Errorf("-h: %v", err)
	}
	if _, err := runAuditArgs("verify", filepath.Join(t.TempDir(), "missing")); err == nil || errors.Is(err, errUsage) {
		t.Errorf("missing file: %v", err)
	}
}
