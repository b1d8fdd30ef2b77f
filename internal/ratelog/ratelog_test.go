package ratelog

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestManyBadMessagesFewLines: 10^5 warnings about one member's malformed
// messages over ten minutes produce a bounded number of lines, and the
// suppressed count is reported, not lost; other peers and other messages
// keep their own budget.
func TestManyBadMessagesFewLines(t *testing.T) {
	var buf bytes.Buffer
	h := New(slog.NewTextHandler(&buf, nil), Options{})
	start := time.Unix(1000, 0)
	const n = 100000
	for i := range n {
		r := slog.NewRecord(start.Add(time.Duration(i)*6*time.Millisecond), slog.LevelWarn, "protocol message rejected", 0)
		r.AddAttrs(slog.String("peer", "12D3KooWbad"))
		if err := h.Handle(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	lines := strings.Count(buf.String(), "\n")
	// 600 s of records, a window of 60 s, 5 per window: 50 lines.
	if lines != 50 {
		t.Fatalf("%d lines for %d warnings, want 50", lines, n)
	}
	if !strings.Contains(buf.String(), "suppressed=") {
		t.Fatal("the suppressed count is not reported")
	}
	buf.Reset()
	log := slog.New(h)
	log.Warn("protocol message rejected", "peer", "12D3KooWother")
	log.Warn("node refused", "peer", "12D3KooWbad")
	log.Info("round done")
	if got := strings.Count(buf.String(), "\n"); got != 3 {
		t.Fatalf("other peers and messages: %d lines, want 3:\n%s", got, buf.String())
	}
}

// TestGroupsBounded: a stranger changing peer IDs cannot grow the table
// without bound.
func TestGroupsBounded(t *testing.T) {
	var buf bytes.Buffer
	h := New(slog.NewTextHandler(&buf, nil), Options{MaxGroups: 10})
	now := time.Unix(0, 0)
	for i := range 10000 {
		r := slog.NewRecord(now, slog.LevelWarn, "handshake refused", 0)
		r.AddAttrs(slog.Int("peer", i))
		_ = h.Handle(context.Background(), r)
	}
	if len(h.st.groups) > 11 {
		t.Fatalf("%d groups, want at most 11", len(h.st.groups))
	}
	if got := strings.Count(buf.String(), "\n"); got > 10*DefaultBurst+DefaultBurst {
		t.Fatalf("%d lines", got)
	}
}
