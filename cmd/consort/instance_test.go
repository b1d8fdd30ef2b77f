package main

import (
	"fmt"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// TestOneInstance runs the real binary: while a coordinator runs (waiting
// for its nodes), a second coordinator on the same state directory and a
// third on the same port are each refused at once with one line and exit
// status 7 (busy); a node on a state directory in use is refused the same
// way. After the first is killed (SIGKILL), its state directory is usable
// again: the kernel dropped the lock.
func TestOneInstance(t *testing.T) {
	bin := e2eBuild(t)
	f := e2eNewFed(t, bin, e2eOptions{protocols: "secagg", rounds: 2, model: "logistic"})
	first := f.coordinator()
	e2eWaitLine(t, first, first.stderr, 30*time.Second, regexp.MustCompile(`coordinator listening`))

	oneLine := func(p *e2eProc, re string) {
		t.Helper()
		code := p.wait(t, 30*time.Second)
		stderr := p.stderr.String()
		if code != exitBusy || !regexp.MustCompile(`^`+re+`\n$`).MatchString(stderr) {
			t.Errorf("%s: exit %d, stderr %q; want exit %d and one line matching %q", p.name, code, stderr, exitBusy, re)
		}
	}
	// Same state directory (and port): the lock is checked first.
	second := e2eStart(t, "second coordinator", bin, "coordinator", "--manifest", f.manifest, "--key", f.key("coord"), "--state", f.state("coord"))
	oneLine(second, regexp.QuoteMeta(fmt.Sprintf("consort coordinator: statedir: directory in use by another process: %s (locked by process %d)", f.state("coord"), first.cmd.Process.Pid)))

	// Same port, another state directory.
	third := e2eStart(t, "third coordinator", bin, "coordinator", "--manifest", f.manifest, "--key", f.key("coord"), "--state", filepath.Join(f.dir, "other-state"))
	oneLine(third, regexp.QuoteMeta(fmt.Sprintf("consort coordinator: p2p: listen address already in use: /ip4/127.0.0.1/tcp/%d", f.port)))

	// A node on a state directory another process holds.
	node := e2eStart(t, "node a", bin, "node", "--manifest", f.manifest, "--key", f.key("a"), "--data", f.csv("a"), "--state", f.state("coord"))
	oneLine(node, regexp.QuoteMeta("consort node: statedir: directory in use by another process: "+f.state("coord"))+` \(locked by process \d+\)`)

	if first.exited() {
		t.Fatalf("the first coordinator exited: %s", first.stderr)
	}
	first.kill(t)
	again := f.coordinator()
	e2eWaitLine(t, again, again.stderr, 30*time.Second, regexp.MustCompile(`coordinator listening`))
}
