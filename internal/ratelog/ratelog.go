// Package ratelog bounds what peers can make a process log.
//
// A member that sends malformed messages, or a stranger whose handshakes are
// refused, could otherwise fill the disk with one warning per message. The
// [Handler] wraps a slog.Handler: records at Warn and above are grouped by
// their message and their "peer" attribute; in each window (default one
// minute, measured on the records' own timestamps) the first Burst records of
// a group pass and the rest are counted, and the next record of the group
// after the window reports how many were suppressed ("suppressed" attribute).
// Records below Warn pass unchanged (they are usually disabled in
// production). The number of groups is bounded too: beyond MaxGroups, records
// share one overflow group.
package ratelog

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Defaults.
const (
	DefaultBurst     = 5
	DefaultWindow    = time.Minute
	DefaultMaxGroups = 4096
)

// Options configure a [Handler]; zero fields take the defaults.
type Options struct {
	Burst     int
	Window    time.Duration
	MaxGroups int
}

type group struct {
	start      time.Time
	passed     int
	suppressed int
}

type state struct {
	mu     sync.Mutex
	opts   Options
	groups map[string]*group
}

// Handler is a rate-limiting slog.Handler (see the package doc).
type Handler struct {
	next slog.Handler
	st   *state
	peer string // the "peer" attribute bound with WithAttrs, if any
}

// New wraps next.
func New(next slog.Handler, o Options) *Handler {
	if o.Burst <= 0 {
		o.Burst = DefaultBurst
	}
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.MaxGroups <= 0 {
		o.MaxGroups = DefaultMaxGroups
	}
	return &Handler{next: next, st: &state{opts: o, groups: map[string]*group{}}}
}

// Enabled implements slog.Handler.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

// Handle implements slog.Handler.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn {
		return h.next.Handle(ctx, r)
	}
	peer := h.peer
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "peer" {
			peer = a.Value.String()
			return false
		}
		return true
	})
	key := r.Message + "\x00" + peer
	st := h.st
	st.mu.Lock()
	g := st.groups[key]
	if g == nil {
		if len(st.groups) >= st.opts.MaxGroups {
			key = "\x00overflow"
			g = st.groups[key]
		}
		if g == nil {
			g = &group{start: r.Time}
			st.groups[key] = g
		}
	}
	if r.Time.Sub(g.start) >= st.opts.Window {
		g.start, g.passed = r.Time, 0
	}
	if g.passed >= st.opts.Burst {
		g.suppressed++
		st.mu.Unlock()
		return nil
	}
	g.passed++
	suppressed := g.suppressed
	g.suppressed = 0
	st.mu.Unlock()
	if suppressed > 0 {
		r = r.Clone()
		r.AddAttrs(slog.Int("suppressed", suppressed))
	}
	return h.next.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.next = h.next.WithAttrs(as)
	for _, a := range as {
		if a.Key == "peer" {
			c.peer = a.Value.String()
		}
	}
	return &c
}

// WithGroup implements slog.Handler.
func (h *Handler) WithGroup(name string) slog.Handler {
	c := *h
	c.next = h.next.WithGroup(name)
	return &c
}
