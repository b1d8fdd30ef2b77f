package audit

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func key(b byte) ed25519.PrivateKey {
	seed := make([]byte, ed25519.SeedSize)
	seed[0] = b
	return ed25519.NewKeyFromSeed(seed)
}

// clock returns a deterministic clock ticking one second per call.
func clock() func() time.Time {
	t := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return func() time.Time { t = t.Add(time.Second); return t }
}

func openLog(t *testing.T, path string, k ed25519.PrivateKey, actor, role string) *Log {
	t.Helper()
	l, err := Open(path, k, Options{Actor: actor, Role: role, Federation: "fed-1", Now: clock()})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func mustAppend(t *testing.T, l *Log, e Entry) Entry {
	t.Helper()
	w, err := l.Append(e)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// writeSample writes a node log with one entry of every kind and closes it.
// Lines: 1 genesis, 2 join, 3 round-start, 4 contribution-sent, 5 countersign,
// 6 model-version, 7 epsilon, 8 refusal, 9 close.
func writeSample(t *testing.T, path string, k ed25519.PrivateKey) {
	t.Helper()
	writeSampleFed(t, path, k, "fed-1")
}

func writeSampleFed(t *testing.T, path string, k ed25519.PrivateKey, fed string) {
	t.Helper()
	l, err := Open(path, k, Options{Actor: "node-a", Role: "node", Federation: fed, Now: clock()})
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, Entry{Kind: KindJoin, Peer: "coordinator"})
	mustAppend(t, l, Entry{Kind: KindRoundStart, Round: 1, Contributors: []string{"node-a", "node-b"}})
	mustAppend(t, l, Entry{Kind: KindContributionSent, Round: 1, Peer: "coordinator", Digest: Digest([]byte("masked update"))})
	mustAppend(t, l, Entry{Kind: KindCountersign, Round: 1, Digest: Digest([]byte("aggregate"))})
	mustAppend(t, l, Entry{Kind: KindModelVersion, Round: 1, Digest: Digest([]byte("model")), Fields: map[string]string{"version": "2"}})
	mustAppend(t, l, Entry{Kind: KindEpsilon, Round: 1, Epsilon: 0.731, Delta: 1e-5})
	mustAppend(t, l, Entry{Kind: KindRefusal, Round: 2, Reason: "epsilon", Fields: map[string]string{"detail": "after 2 rounds epsilon would be 9.1"}})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestAppendAndVerify(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "node.audit")
	k := key(1)
	writeSample(t, path, k)
	rep, err := VerifyFile(path, k.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Entries) != 9 || !rep.Pinned || !rep.HeadChecked || rep.HeadLag != 0 || !rep.Closed ||
		rep.Actor != "node-a" || rep.Role != "node" || rep.Federation != "fed-1" {
		t.Errorf("report %+v", rep)
	}
	for i, e := range rep.Entries {
		if e.Seq != uint64(i) || e.Actor != "node-a" {
			t.Errorf("entry %d: seq %d actor %q", i, e.Seq, e.Actor)
		}
	}
	if rep.Entries[6].Epsilon != 0.731 || rep.Entries[6].Delta != 1e-5 || rep.Entries[2].Contributors[1] != "node-b" {
		t.Errorf("fields lost: %+v %+v", rep.Entries[6], rep.Entries[2])
	}
	if got := rep.Entries[1].Time; got != "2026-01-02T03:04:07Z" {
		t.Errorf("time %q", got)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	// unpinned verification takes the key from genesis
	rep, err = VerifyFile(path, nil)
	if err != nil || rep.Pinned || !rep.PublicKey.Equal(k.Public()) {
		t.Errorf("unpinned: %v pinned=%v", err, rep.Pinned)
	}
}

func TestAppendRejects(t *testing.T) {
	l := openLog(t, filepath.Join(t.TempDir(), "a"), key(1), "n", "node")
	for _, e := range []Entry{{Kind: KindGenesis}, {Kind: KindClose}, {Kind: "gossip"}, {Kind: KindEpsilon, Epsilon: 1e400 * 0}} {
		if e.Kind == KindEpsilon {
			e.Epsilon = inf()
		}
		if _, err := l.Append(e); !errors.Is(err, ErrEntry) {
			t.Errorf("kind %q: %v, want ErrEntry", e.Kind, err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(Entry{Kind: KindJoin}); !errors.Is(err, ErrClosed) {
		t.Errorf("append after close: %v", err)
	}
	if _, err := Open(filepath.Join(t.TempDir(), "b"), key(1), Options{}); !errors.Is(err, ErrEntry) {
		t.Errorf("new log without actor: %v", err)
	}
}

func inf() float64 { x := 0.0; return 1 / x }

func TestResume(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.audit")
	k := key(2)
	l := openLog(t, path, k, "coordinator", "coordinator")
	mustAppend(t, l, Entry{Kind: KindRoundStart, Round: 1})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, err := Open(path, k, Options{Now: clock()})
	if err != nil {
		t.Fatal(err)
	}
	if l.Actor() != "coordinator" {
		t.Errorf("actor %q", l.Actor())
	}
	w := mustAppend(t, l, Entry{Kind: KindRoundStart, Round: 2})
	if w.Seq != 3 {
		t.Errorf("resumed at seq %d, want 3", w.Seq)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err := VerifyFile(path, k.Public().(ed25519.PublicKey))
	if err != nil || len(rep.Entries) != 5 {
		t.Fatalf("%v, %d entries", err, len(rep.Entries))
	}
	// another key or another actor cannot extend it
	if _, err := Open(path, key(3), Options{}); !errors.Is(err, ErrTampered) {
		t.Errorf("other key: %v", err)
	}
	if _, err := Open(path, k, Options{Actor: "mallory"}); !errors.Is(err, ErrKey) {
		t.Errorf("other actor: %v", err)
	}
	// a truncated log is not extended
	data, _ := os.ReadFile(path)
	if err := os.WriteFile(path, data[:len(data)-10], 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, k, Options{}); !errors.Is(err, ErrTampered) {
		t.Errorf("torn log reopened: %v", err)
	}
	// an emptied log whose head remains is not restarted
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, k, Options{Actor: "coordinator"}); !errors.Is(err, ErrTampered) {
		t.Errorf("emptied log restarted: %v", err)
	}
}

// TestCrashBetweenAppendAndHead: the head lags the log by one entry when a
// writer dies after fsyncing an entry but before replacing the head. That
// verifies (HeadLag 1) and reopening repairs the head.
func TestCrashBetweenAppendAndHead(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "n.audit")
	k := key(4)
	l := openLog(t, path, k, "node-b", "node")
	mustAppend(t, l, Entry{Kind: KindJoin})
	old, err := os.ReadFile(path + headSuffix)
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, Entry{Kind: KindRoundStart, Round: 1})
	if err := os.WriteFile(path+headSuffix, old, 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err := VerifyFile(path, nil)
	if err != nil || rep.HeadLag != 1 {
		t.Fatalf("lagging head: %v, lag %d", err, rep.HeadLag)
	}
	l2, err := Open(path, k, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rep, err = VerifyFile(path, nil)
	if err != nil || rep.HeadLag != 0 {
		t.Errorf("after reopen: %v, lag %d", err, rep.HeadLag)
	}
	_ = l2.Close()
}

// lines splits a log into its lines (without newlines).
func lines(data []byte) [][]byte {
	return bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
}

func join(ls [][]byte) []byte {
	return append(bytes.Join(ls, []byte("\n")), '\n')
}

// TestTamper applies each kind of tampering to a clean log and checks that
// verification reports the first bad line with the right reason.
func TestTamper(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "node.audit")
	k := key(1)
	writeSample(t, path, k)
	clean, _ := os.ReadFile(path)
	headBytes, _ := os.ReadFile(path + headSuffix)
	other := filepath.Join(dir, "other.audit")
	writeSampleFed(t, other, k, "fed-2") // same writer, another chain
	otherLines := lines(mustRead(t, other))
	pub := k.Public().(ed25519.PublicKey)

	resign := func(line []byte, signer ed25519.PrivateKey, edit func(*Entry)) []byte {
		e, err := ParseEntry(line)
		if err != nil {
			t.Fatal(err)
		}
		edit(&e)
		msg, _ := signedBytes(e)
		e.Sig, _ = sign(signer, msg)
		out, _ := encode(&e)
		return out
	}
	cases := []struct {
		name   string
		tamper func(ls [][]byte) [][]byte
		head   []byte // nil: keep the clean head
		noHead bool
		line   int
		reason Reason
	}{
		{"edit-digest", func(ls [][]byte) [][]byte {
			ls[3] = bytes.Replace(ls[3], []byte(`"digest":"`), []byte(`"digest":"0`), 1)
			ls[3] = bytes.Replace(ls[3], []byte(`","prev"`), []byte(`","prev"`), 1)
			return ls
		}, nil, false, 4, ReasonSignature},
		{"edit-epsilon", func(ls [][]byte) [][]byte {
			ls[6] = bytes.Replace(ls[6], []byte(`"epsilon":0.731`), []byte(`"epsilon":0.1`), 1)
			return ls
		}, nil, false, 7, ReasonSignature},
		{"edit-noncanonical", func(ls [][]byte) [][]byte {
			ls[2] = bytes.Replace(ls[2], []byte(`"round":1`), []byte(`"round": 1`), 1)
			return ls
		}, nil, false, 3, ReasonSyntax},
		{"edit-resigned-by-other-key", func(ls [][]byte) [][]byte {
			ls[4] = resign(ls[4], key(9), func(e *Entry) { e.Digest = Digest([]byte("other aggregate")) })
			return ls
		}, nil, false, 5, ReasonSignature},
		{"forged-signature", func(ls [][]byte) [][]byte {
			ls[5] = resign(ls[5], key(9), func(*Entry) {})
			return ls
		}, nil, false, 6, ReasonSignature},
		{"delete-middle", func(ls [][]byte) [][]byte {
			return append(ls[:2:2], ls[3:]...)
		}, nil, false, 3, ReasonSequence},
		{"reorder", func(ls [][]byte) [][]byte {
			ls[3], ls[4] = ls[4], ls[3]
			return ls
		}, nil, false, 4, ReasonSequence},
		{"insert-duplicate", func(ls [][]byte) [][]byte {
			return append(ls[:4:4], append([][]byte{ls[3]}, ls[4:]...)...)
		}, nil, false, 5, ReasonSequence},
		{"splice-from-other-log", func(ls [][]byte) [][]byte {
			ls[3] = otherLines[3]
			return ls
		}, nil, false, 4, ReasonChain},
		{"replace-genesis", func(ls [][]byte) [][]byte {
			ls[0] = otherLines[0]
			return ls
		}, nil, false, 2, ReasonChain},
		{"second-genesis", func(ls [][]byte) [][]byte {
			ls[1] = ls[0]
			return ls
		}, nil, false, 2, ReasonGenesis},
		{"truncate-last-entries", func(ls [][]byte) [][]byte {
			return ls[:7]
		}, nil, false, 8, ReasonTruncated},
		{"truncate-inside-entry", func(ls [][]byte) [][]byte {
			ls[8] = ls[8][:20]
			return ls
		}, nil, false, 9, ReasonTornLine},
		{"forged-head", func(ls [][]byte) [][]byte { return ls },
			bytes.Replace(headBytes, []byte(`"seq":8`), []byte(`"seq":7`), 1), false, 0, ReasonHead},
		{"head-of-rewritten-log", func(ls [][]byte) [][]byte {
			ls[8] = otherLines[8] // valid-looking last line from the other log
			return ls
		}, nil, false, 9, ReasonChain},
		{"empty", func([][]byte) [][]byte { return nil }, nil, true, 1, ReasonGenesis},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ls := c.tamper(lines(clean))
			var data []byte
			if ls != nil {
				data = join(ls)
			}
			if c.reason == ReasonTornLine {
				data = bytes.TrimSuffix(data, []byte("\n"))
			}
			var head []byte = headBytes
			if c.head != nil {
				head = c.head
			}
			var hr *bytes.Reader
			if !c.noHead {
				hr = bytes.NewReader(head)
			}
			var rep Report
			var err error
			if hr != nil {
				rep, err = Verify(bytes.NewReader(data), hr, pub)
			} else {
				rep, err = Verify(bytes.NewReader(data), nil, pub)
			}
			var ve *VerifyError
			if !errors.As(err, &ve) || !errors.Is(err, ErrTampered) {
				t.Fatalf("err = %v, want a VerifyError", err)
			}
			if ve.Line != c.line || ve.Reason != c.reason {
				t.Errorf("line %d %s (%v), want line %d %s", ve.Line, ve.Reason, err, c.line, c.reason)
			}
			if rep.Bad != ve {
				t.Errorf("report does not carry the error")
			}
			if c.line > 0 && len(rep.Entries) > c.line-1 {
				t.Errorf("%d entries reported verified before bad line %d", len(rep.Entries), c.line)
			}
		})
	}
	t.Run("wrong-pinned-key", func(t *testing.T) {
		_, err := Verify(bytes.NewReader(clean), nil, key(9).Public().(ed25519.PublicKey))
		var ve *VerifyError
		if !errors.As(err, &ve) || ve.Reason != ReasonKey || ve.Line != 1 {
			t.Errorf("err = %v, want line 1 key", err)
		}
	})
	// Documented limit: without the head, removing the last entries leaves
	// a valid chain; CrossCheck against the coordinator's log is needed
	// (TestCrossCheck covers it).
	t.Run("truncate-without-head-undetected", func(t *testing.T) {
		rep, err := Verify(bytes.NewReader(join(lines(clean)[:5])), nil, pub)
		if err != nil || rep.HeadChecked || rep.Closed {
			t.Errorf("err %v, headChecked %v, closed %v", err, rep.HeadChecked, rep.Closed)
		}
	})
	t.Run("head-rollback-undetected-locally", func(t *testing.T) {
		rep, err := Verify(bytes.NewReader(clean), bytes.NewReader(headBytes), pub)
		if err != nil || rep.HeadLag != 0 {
			t.Fatal(err)
		}
	})
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestNoContentInErrors: verification errors never quote entry content.
func TestNoContentInErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "n.audit")
	k := key(1)
	l := openLog(t, path, k, "node-a", "node")
	mustAppend(t, l, Entry{Kind: KindJoin, Fields: map[string]string{"note": "DISTINCTIVE-VALUE-31337"}})
	_ = l.Close()
	data := mustRead(t, path)
	for _, bad := range [][]byte{
		bytes.Replace(data, []byte("31337"), []byte("31338"), 1),
		bytes.Replace(data, []byte(`"note":`), []byte(`"note" :`), 1),
		bytes.Replace(data, []byte(`"DISTINCTIVE`), []byte(`DISTINCTIVE`), 1),
	} {
		_, err := Verify(bytes.NewReader(bad), nil, nil)
		if err == nil || strings.Contains(err.Error(), "DISTINCTIVE") || strings.Contains(err.Error(), "3133") {
			t.Errorf("err %v", err)
		}
	}
}
