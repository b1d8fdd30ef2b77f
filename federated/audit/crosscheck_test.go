package audit

import (
	"crypto/ed25519"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// federation writes a coordinator log and node logs for two rounds of three
// nodes (node-a, node-b, node-c) and one extra contributor node-d whose log
// is not given, only its detached countersignature. mutate may change what
// each party logs. It returns the verified reports.
type fedScript struct {
	recvDigest   func(round int, node string) string // coordinator's view
	sentDigest   func(round int, node string) string // node's view
	nodeCS       func(round int, node string) (string, bool)
	refuse       map[string]int // node -> round it refuses (still listed)
	dSig         func(round int, digest string) string
	skipNodeSend map[string]int // node -> round whose send it does not log
}

func contributionDigest(round int, node string) string {
	return Digest(fmt.Appendf(nil, "masked update of %s in round %d", node, round))
}

func aggDigest(round int) string { return Digest(fmt.Appendf(nil, "aggregate %d", round)) }

func runFederation(t *testing.T, s fedScript) (Report, []Report, map[string]ed25519.PublicKey) {
	t.Helper()
	dir := t.TempDir()
	nodes := []string{"node-a", "node-b", "node-c"}
	keys := map[string]ed25519.PublicKey{}
	coordKey := key(50)
	cl := openLog(t, filepath.Join(dir, "coord.audit"), coordKey, "coordinator", "coordinator")
	nl := map[string]*Log{}
	for i, n := range nodes {
		nl[n] = openLog(t, filepath.Join(dir, n+".audit"), key(byte(60+i)), n, "node")
		keys[n] = key(byte(60 + i)).Public().(ed25519.PublicKey)
	}
	dKey := key(70)
	keys["node-d"] = dKey.Public().(ed25519.PublicKey)
	if s.recvDigest == nil {
		s.recvDigest = contributionDigest
	}
	if s.sentDigest == nil {
		s.sentDigest = contributionDigest
	}
	for r := 1; r <= 2; r++ {
		all := append(append([]string(nil), nodes...), "node-d")
		mustAppend(t, cl, Entry{Kind: KindRoundStart, Round: uint64(r), Contributors: all})
		for _, n := range nodes {
			if s.refuse[n] == r {
				// a lying coordinator logs a contribution anyway
				mustAppend(t, nl[n], Entry{Kind: KindRefusal, Round: uint64(r), Reason: "epsilon"})
				mustAppend(t, cl, Entry{Kind: KindContributionReceived, Round: uint64(r), Peer: n, Digest: s.recvDigest(r, n)})
				continue
			}
			if s.skipNodeSend[n] != r {
				mustAppend(t, nl[n], Entry{Kind: KindContributionSent, Round: uint64(r), Peer: "coordinator", Digest: s.sentDigest(r, n)})
			}
			mustAppend(t, cl, Entry{Kind: KindContributionReceived, Round: uint64(r), Peer: n, Digest: s.recvDigest(r, n)})
		}
		mustAppend(t, cl, Entry{Kind: KindContributionReceived, Round: uint64(r), Peer: "node-d", Digest: contributionDigest(r, "node-d")})
		agg := aggDigest(r)
		mustAppend(t, cl, Entry{Kind: KindAggregate, Round: uint64(r), Digest: agg, Contributors: all})
		for _, n := range nodes {
			d, ok := agg, true
			if s.nodeCS != nil {
				d, ok = s.nodeCS(r, n)
			}
			if ok && s.refuse[n] != r {
				mustAppend(t, nl[n], Entry{Kind: KindCountersign, Round: uint64(r), Peer: "coordinator", Digest: d})
			}
		}
		sig, err := Countersign(dKey, "fed-1", uint64(r), agg)
		if err != nil {
			t.Fatal(err)
		}
		if s.dSig != nil {
			sig = s.dSig(r, agg)
		}
		mustAppend(t, cl, Entry{Kind: KindCountersign, Round: uint64(r), Peer: "node-d", Digest: agg, Fields: map[string]string{"countersig": sig}})
	}
	_ = cl.Close()
	coord, err := VerifyFile(filepath.Join(dir, "coord.audit"), coordKey.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	var reps []Report
	for _, n := range nodes {
		_ = nl[n].Close()
		rep, err := VerifyFile(filepath.Join(dir, n+".audit"), keys[n])
		if err != nil {
			t.Fatal(err)
		}
		reps = append(reps, rep)
	}
	return coord, reps, keys
}

func TestCrossCheck(t *testing.T) {
	coord, nodes, keys := runFederation(t, fedScript{})
	if f := CrossCheck(coord, nodes, keys); len(f) != 0 {
		t.Fatalf("clean federation: %v", f)
	}
	cases := []struct {
		name   string
		script fedScript
		want   []string // substrings, one per expected finding
	}{
		{"coordinator-logs-other-digest", fedScript{recvDigest: func(r int, n string) string {
			if r == 2 && n == "node-b" {
				return Digest([]byte("substituted"))
			}
			return contributionDigest(r, n)
		}}, []string{"node-b round 2 (seq", "did not log as received", "coordinator round 2: logged contribution"}},
		{"node-countersigns-other-digest", fedScript{nodeCS: func(r int, n string) (string, bool) {
			if r == 1 && n == "node-c" {
				return Digest([]byte("what node-c saw")), true
			}
			return aggDigest(r), true
		}}, []string{"node-c round 1 (seq", "countersigned aggregate"}},
		{"node-did-not-countersign", fedScript{nodeCS: func(r int, n string) (string, bool) {
			return aggDigest(r), !(r == 2 && n == "node-a")
		}}, []string{"node-a round 2: no countersignature"}},
		{"refused-but-listed", fedScript{refuse: map[string]int{"node-b": 1}}, []string{"node-b round 1 (seq", "refused round 1", "coordinator round 1: logged contribution"}},
		{"bad-detached-countersignature", fedScript{dSig: func(r int, agg string) string {
			if r == 1 {
				s, _ := Countersign(key(99), "fed-1", 1, agg)
				return s
			}
			s, _ := Countersign(key(70), "fed-1", uint64(r), agg)
			return s
		}}, []string{"countersignature of node-d does not verify"}},
		{"truncated-node-log", fedScript{skipNodeSend: map[string]int{"node-c": 2}}, []string{"coordinator round 2: logged contribution", "node-c"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			coord, nodes, keys := runFederation(t, c.script)
			f := CrossCheck(coord, nodes, keys)
			if len(f) == 0 {
				t.Fatal("no findings")
			}
			var all []string
			for _, x := range f {
				all = append(all, x.String())
			}
			text := strings.Join(all, "\n")
			for _, w := range c.want {
				if !strings.Contains(text, w) {
					t.Errorf("findings lack %q:\n%s", w, text)
				}
			}
		})
	}
	t.Run("unknown-key", func(t *testing.T) {
		delete(keys, "node-d")
		f := CrossCheck(coord, nodes, keys)
		if len(f) != 2 || !strings.Contains(f[0].Problem, "no key") {
			t.Errorf("findings %v", f)
		}
	})
	t.Run("missing-node-log-without-countersig", func(t *testing.T) {
		// node-c's log is not given and the coordinator has no detached
		// countersignature from it
		f := CrossCheck(coord, nodes[:2], keys)
		found := 0
		for _, x := range f {
			if strings.Contains(x.Problem, "no countersignature from contributor node-c") {
				found++
			}
		}
		if found != 2 {
			t.Errorf("findings %v", f)
		}
	})
}

// TestCrossCheckCoordinatorLogCutShort: the coordinator's log loses its last
// aggregate (its last entries and head deleted): the nodes' last
// countersignatures betray it.
func TestCrossCheckCoordinatorLogCutShort(t *testing.T) {
	coord, nodes, keys := runFederation(t, fedScript{})
	if f := CrossCheck(coord, nodes, keys); len(f) != 0 {
		t.Fatalf("intact logs: %v", f)
	}
	last := -1
	for i, e := range coord.Entries {
		if e.Kind == KindAggregate {
			last = i
		}
	}
	coord.Entries = coord.Entries[:last]
	found := 0
	for _, f := range CrossCheck(coord, nodes, keys) {
		if strings.Contains(f.String(), "cut short or substituted") {
			found++
		}
	}
	if found != 3 {
		t.Fatalf("%d of 3 nodes flagged the missing aggregate", found)
	}
	// A final model version that differs from the coordinator's.
	coord.Entries = append(coord.Entries, Entry{Kind: KindModelVersion, Digest: Digest([]byte("model A"))})
	nodes[0].Entries = append(nodes[0].Entries, Entry{Kind: KindModelVersion, Digest: Digest([]byte("model B"))})
	ok := false
	for _, f := range CrossCheck(coord, nodes, keys) {
		ok = ok || strings.Contains(f.String(), "final model")
	}
	if !ok {
		t.Fatal("a differing final model version was not reported")
	}
}

// TestCrossCheckInterrupted: a contribution that never reached the
// coordinator and entered no aggregate (a crash between the node's log
// append and its send, or a lost message) is an interruption; the same
// contribution counted in the aggregate, or replaced, is a finding; so is a
// missing countersignature, unless the node restarted before it could sign.
func TestCrossCheckInterrupted(t *testing.T) {
	coord, nodes, keys := runFederation(t, fedScript{})
	drop := func(r Report, keep func(Entry) bool) Report {
		var out []Entry
		for _, e := range r.Entries {
			if keep(e) {
				out = append(out, e)
			}
		}
		r.Entries = out
		return r
	}
	lost := drop(coord, func(e Entry) bool {
		return !(e.Kind == KindContributionReceived && e.Round == 2 && e.Peer == "node-a")
	})
	// Counted although never received: a finding.
	for _, f := range CrossCheck(lost, nodes, keys) {
		if strings.Contains(f.Problem, "did not log as received") && f.Interrupted {
			t.Fatalf("a contribution in the aggregate but not received was called an interruption: %v", f)
		}
	}
	// Not in the aggregate either: an interruption.
	for i := range lost.Entries {
		if e := &lost.Entries[i]; e.Kind == KindAggregate && e.Round == 2 {
			e.Contributors = []string{"node-b", "node-c", "node-d"}
		}
	}
	nodeA := drop(nodes[0], func(e Entry) bool { return !(e.Kind == KindCountersign && e.Round == 2) })
	var interrupted, failures int
	for _, f := range CrossCheck(lost, []Report{nodeA, nodes[1], nodes[2]}, keys) {
		if f.Interrupted {
			interrupted++
		} else {
			failures++
			t.Errorf("unexpected finding %v", f)
		}
	}
	if interrupted != 1 || failures != 0 {
		t.Fatalf("%d interruptions, %d findings; want 1 and 0", interrupted, failures)
	}
	// A node that restarted before countersigning: the missing
	// countersignature is an interruption; without the restart, a finding.
	noCS := drop(nodes[1], func(e Entry) bool { return !(e.Kind == KindCountersign && e.Round == 2) })
	check := func(n Report) Finding {
		for _, f := range CrossCheck(coord, []Report{nodes[0], n, nodes[2]}, keys) {
			if strings.Contains(f.Problem, "no countersignature") {
				return f
			}
		}
		t.Fatal("missing countersignature not reported")
		return Finding{}
	}
	if f := check(noCS); f.Interrupted {
		t.Fatalf("a missing countersignature without a restart called an interruption: %v", f)
	}
	restarted := drop(noCS, func(e Entry) bool { return e.Kind != KindClose }) // a crash writes no close
	restarted.Entries = append(restarted.Entries, Entry{Seq: uint64(len(restarted.Entries)), Kind: KindJoin, Peer: "coordinator"})
	if f := check(restarted); !f.Interrupted {
		t.Fatalf("a node that restarted before countersigning: %v", f)
	}
}
