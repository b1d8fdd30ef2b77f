package mem

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/consort-ml/consort/transport"
	"github.com/consort-ml/consort/transport/internal/envelope"
	"github.com/consort-ml/consort/transport/wire"
)

// Schedule chooses how the network orders deliveries.
type Schedule uint8

const (
	// Lockstep (the default) is a discrete-event simulation: a message is
	// delivered, and the virtual clock advances, only while no endpoint is
	// running. Given endpoints that behave deterministically, every run
	// with the same seed delivers the same messages in the same order at
	// the same virtual times.
	Lockstep Schedule = iota
	// FreeRunning delivers messages as soon as they are sent; each
	// receiver takes its queued messages in virtual arrival order. The
	// fate of each message (loss, duplication, delay) is still fixed by
	// the seed, but what is queued when Recv runs depends on goroutine
	// scheduling. Use it when one goroutine drives several endpoints.
	FreeRunning
)

// Link describes one direction of a link between two peers. The zero
// value is a perfect link: no loss, no delay, unlimited bandwidth.
type Link struct {
	// Drop is the probability that a message is lost.
	Drop float64
	// Duplicate is the probability that a message is delivered twice.
	Duplicate float64
	// Reorder is the probability that a message is held back by
	// Latency+Jitter+1ms, so that later messages overtake it.
	Reorder float64
	// Latency is the one-way delay of every message.
	Latency time.Duration
	// Jitter adds a uniform delay in [0, Jitter).
	Jitter time.Duration
	// Bandwidth caps the link in bytes per (virtual) second; 0 means
	// unlimited. Messages queue behind each other on a capped link.
	Bandwidth int64
}

func (l Link) validate() error {
	for _, p := range []float64{l.Drop, l.Duplicate, l.Reorder} {
		if !(p >= 0 && p <= 1) {
			return fmt.Errorf("%w: probability %v out of [0,1]", transport.ErrBadConfig, p)
		}
	}
	if l.Latency < 0 || l.Jitter < 0 || l.Bandwidth < 0 {
		return fmt.Errorf("%w: negative latency, jitter or bandwidth", transport.ErrBadConfig)
	}
	return nil
}

// Config configures a [Network].
type Config struct {
	// FederationID is stamped on every envelope.
	FederationID string
	// Types is the message type registry shared by all endpoints.
	Types *transport.Types
	// Seed fixes every random decision of the network.
	Seed uint64
	// Link is the default for every directed link (see [Network.SetLink]).
	Link Link
	// Schedule is [Lockstep] (default) or [FreeRunning].
	Schedule Schedule
}

// Stats are network-wide counters.
type Stats struct {
	// Sent counts Send calls that reached the network.
	Sent int64
	// Delivered counts messages handed to a receiver (duplicates included).
	Delivered int64
	// Dropped counts messages lost to the drop rate, a partition or a
	// closed receiver.
	Dropped int64
	// Duplicated counts extra copies.
	Duplicated int64
	// Now is the virtual time.
	Now time.Duration
}

// Network is an in-memory network of endpoints. It is safe for concurrent
// use.
type Network struct {
	mu        sync.Mutex
	cfg       Config
	now       time.Duration
	running   int
	endpoints map[transport.PeerID]*Endpoint
	links     map[linkKey]*linkState
	overrides map[linkKey]Link
	groups    map[transport.PeerID]int
	events    eventHeap
	stats     Stats
	codec     *wire.Codec
}

type linkKey struct{ from, to transport.PeerID }

type linkState struct {
	rng       *rand.Rand
	n         uint64
	busyUntil time.Duration
}

// New returns an empty network.
func New(cfg Config) (*Network, error) {
	if !transport.ValidFederationID(cfg.FederationID) {
		return nil, fmt.Errorf("%w: federation id %q", transport.ErrBadConfig, cfg.FederationID)
	}
	if cfg.Types == nil {
		return nil, fmt.Errorf("%w: no message types", transport.ErrBadConfig)
	}
	if err := cfg.Link.validate(); err != nil {
		return nil, err
	}
	if cfg.Schedule > FreeRunning {
		return nil, fmt.Errorf("%w: schedule %d", transport.ErrBadConfig, cfg.Schedule)
	}
	codec, err := wire.NewCodec(cfg.Types.MaxSize())
	if err != nil {
		return nil, err
	}
	return &Network{
		codec:     codec,
		cfg:       cfg,
		endpoints: map[transport.PeerID]*Endpoint{},
		links:     map[linkKey]*linkState{},
		overrides: map[linkKey]Link{},
	}, nil
}

// Join adds an endpoint. An ID may join again after its endpoint was
// closed (a restarted peer); messages still in flight to it are then
// delivered to the new endpoint. In [Lockstep] the endpoint counts as
// running from now until it blocks in Recv.
func (n *Network) Join(id transport.PeerID) (*Endpoint, error) {
	sealer, err := envelope.New(n.cfg.FederationID, id, n.cfg.Types, n.codec)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if old, ok := n.endpoints[id]; ok && !old.closed {
		return nil, fmt.Errorf("%w: peer %q already joined", transport.ErrBadConfig, id)
	}
	ep := &Endpoint{net: n, id: id, sealer: sealer, wake: make(chan struct{}, 1), done: make(chan struct{})}
	n.endpoints[id] = ep
	n.running++
	return ep, nil
}

// SetLink overrides the link from one peer to another (one direction).
func (n *Network) SetLink(from, to transport.PeerID, l Link) error {
	if err := l.validate(); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.overrides[linkKey{from, to}] = l
	return nil
}

// Partition splits the network: peers in different groups cannot reach
// each other, and peers not listed form one more group. Messages in
// flight across the cut are lost. It replaces any previous partition.
func (n *Network) Partition(groups ...[]transport.PeerID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.groups = map[transport.PeerID]int{}
	for i, g := range groups {
		for _, id := range g {
			n.groups[id] = i + 1
		}
	}
}

// Heal removes the partition.
func (n *Network) Heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.groups = nil
}

// Now returns the virtual time since the network was created.
func (n *Network) Now() time.Duration {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.now
}

// Stats returns the network-wide counters.
func (n *Network) Stats() Stats {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := n.stats
	s.Now = n.now
	return s
}

func (n *Network) reachable(a, b transport.PeerID) bool {
	return n.groups == nil || n.groups[a] == n.groups[b]
}

func (n *Network) link(from, to transport.PeerID) (Link, *linkState) {
	k := linkKey{from, to}
	l, ok := n.overrides[k]
	if !ok {
		l = n.cfg.Link
	}
	ls := n.links[k]
	if ls == nil {
		h := fnv.New64a()
		h.Write([]byte(from))
		h.Write([]byte{0})
		h.Write([]byte(to))
		ls = &linkState{rng: rand.New(rand.NewPCG(n.cfg.Seed, h.Sum64()))}
		n.links[k] = ls
	}
	return l, ls
}

// event is a message in flight or a virtual timer.
type event struct {
	at    time.Duration
	timer *timer
	from  transport.PeerID
	to    transport.PeerID
	seq   uint64 // per link (messages) or per owner (timers)
	dup   uint8
	frame []byte
	typ   string
}

func (a *event) less(b *event) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	if (a.timer != nil) != (b.timer != nil) {
		return a.timer == nil // messages before timers at the same instant
	}
	if a.from != b.from {
		return a.from < b.from
	}
	if a.to != b.to {
		return a.to < b.to
	}
	if a.seq != b.seq {
		return a.seq < b.seq
	}
	return a.dup < b.dup
}

type eventHeap []*event

func (h eventHeap) Len() int           { return len(h) }
func (h eventHeap) Less(i, j int) bool { return h[i].less(h[j]) }
func (h eventHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)        { *h = append(*h, x.(*event)) }
func (h *eventHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}

type timer struct {
	cancel context.CancelCauseFunc
	fired  bool
}

// send schedules a sealed frame from one endpoint to another.
func (n *Network) send(from, to transport.PeerID, frame []byte, typ string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	dst, ok := n.endpoints[to]
	if !ok {
		return fmt.Errorf("%w: %q", transport.ErrUnknownPeer, to)
	}
	n.stats.Sent++
	l, ls := n.link(from, to)
	seq := ls.n
	ls.n++
	// Always four draws per message, so that the fate of message k on a
	// link does not depend on the configuration of earlier messages.
	uDrop, uDup, uReorder, uJitter := ls.rng.Float64(), ls.rng.Float64(), ls.rng.Float64(), ls.rng.Float64()
	if !n.reachable(from, to) || uDrop < l.Drop {
		n.stats.Dropped++
		return nil
	}
	start := max(n.now, ls.busyUntil)
	var tx time.Duration
	if l.Bandwidth > 0 {
		tx = time.Duration(math.Ceil(float64(len(frame)) * float64(time.Second) / float64(l.Bandwidth)))
	}
	ls.busyUntil = start + tx
	at := start + tx + l.Latency + time.Duration(uJitter*float64(l.Jitter))
	if uReorder < l.Reorder {
		at += l.Latency + l.Jitter + time.Millisecond
	}
	copies := 1
	if uDup < l.Duplicate {
		copies = 2
		n.stats.Duplicated++
	}
	for c := range copies {
		ev := &event{at: at, from: from, to: to, seq: seq, dup: uint8(c), frame: frame, typ: typ}
		if n.cfg.Schedule == FreeRunning {
			n.deliverLocked(dst, ev)
		} else {
			heap.Push(&n.events, ev)
		}
	}
	return nil
}

// deliverLocked hands an event to its receiver.
func (n *Network) deliverLocked(dst *Endpoint, ev *event) {
	if dst == nil || dst.closed || !n.reachable(ev.from, ev.to) {
		n.stats.Dropped++
		return
	}
	n.stats.Delivered++
	heap.Push(&dst.queue, ev)
	if dst.blocked {
		dst.blocked = false
		n.running++
	}
	select {
	case dst.wake <- struct{}{}:
	default:
	}
}

// advanceLocked runs the discrete-event loop while no endpoint runs.
func (n *Network) advanceLocked() {
	if n.cfg.Schedule != Lockstep {
		return
	}
	for n.running == 0 && len(n.events) > 0 {
		ev := heap.Pop(&n.events).(*event)
		n.now = max(n.now, ev.at)
		if ev.timer == nil {
			n.deliverLocked(n.endpoints[ev.to], ev)
			// Every other message due at the same instant is delivered
			// before anyone runs, so endpoints woken together compute in
			// parallel (a RoundStart broadcast trains every node at once).
			// Each endpoint's queue is fixed before it runs, so the run
			// stays a function of the seed.
			for len(n.events) > 0 && n.events[0].timer == nil && n.events[0].at <= n.now {
				next := heap.Pop(&n.events).(*event)
				n.deliverLocked(n.endpoints[next.to], next)
			}
			continue
		}
		if ev.timer.fired {
			continue
		}
		ev.timer.fired = true
		ev.timer.cancel(context.DeadlineExceeded)
		// Cancellation propagates synchronously to contexts derived with
		// the context package; wake the receivers it ended.
		for _, ep := range n.endpoints {
			if ep.blocked && ep.recvCtx.Err() != nil {
				ep.blocked = false
				n.running++
				select {
				case ep.wake <- struct{}{}:
				default:
				}
			}
		}
	}
}

// Endpoint is one peer's [transport.Transport] on a [Network].
type Endpoint struct {
	net    *Network
	id     transport.PeerID
	sealer *envelope.Sealer
	meter  transport.Meter
	floor  transport.RoundFloor
	wake   chan struct{}
	done   chan struct{}

	// Guarded by net.mu.
	queue    eventHeap
	blocked  bool
	recvCtx  context.Context
	closed   bool
	timerSeq uint64
}

var _ transport.Transport = (*Endpoint)(nil)

// Self implements [transport.Transport].
func (e *Endpoint) Self() transport.PeerID { return e.id }

// Send implements [transport.Transport]. The message's fate (loss,
// duplication, delay) is drawn from the link's seeded generator; a nil
// error does not mean it will arrive.
func (e *Endpoint) Send(ctx context.Context, to transport.PeerID, msg transport.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	head, payload, _, err := e.sealer.Seal(msg)
	if err != nil {
		return err
	}
	frame := make([]byte, 0, len(head)+len(payload))
	frame = append(append(frame, head...), payload...)
	e.net.mu.Lock()
	closed := e.closed
	e.net.mu.Unlock()
	if closed {
		return transport.ErrClosed
	}
	if err := e.net.send(e.id, to, frame, msg.Type); err != nil {
		return err
	}
	e.meter.CountSent(to, msg.Type, len(frame))
	return nil
}

// Recv implements [transport.Transport]. In [Lockstep] it is where
// virtual time passes: while every endpoint waits here (or is closed), the
// network delivers the next message or fires the next virtual timer (see
// [Endpoint.WithTimeout]). It returns the context's cause, so a virtual
// timeout reads as context.DeadlineExceeded.
func (e *Endpoint) Recv(ctx context.Context) (transport.Incoming, error) {
	n := e.net
	n.mu.Lock()
	defer n.mu.Unlock()
	for {
		if e.closed {
			return transport.Incoming{}, transport.ErrClosed
		}
		if len(e.queue) > 0 {
			ev := heap.Pop(&e.queue).(*event)
			n.now = max(n.now, ev.at)
			in, err := e.open(ev)
			if err != nil {
				continue
			}
			return in, nil
		}
		if err := ctx.Err(); err != nil {
			return transport.Incoming{}, context.Cause(ctx)
		}
		e.blocked = true
		e.recvCtx = ctx
		n.running--
		n.advanceLocked()
		if !e.blocked {
			continue
		}
		n.mu.Unlock()
		select {
		case <-e.wake:
		case <-ctx.Done():
		case <-e.done:
		}
		n.mu.Lock()
		if e.blocked {
			// Woken by a real-time cancellation or by Close.
			e.blocked = false
			if !e.closed {
				n.running++
			}
		}
	}
}

// open decodes a delivered frame; called with net.mu held.
func (e *Endpoint) open(ev *event) (transport.Incoming, error) {
	f, err := wire.ReadFrame(bufioReader(ev.frame), e.sealer.Limit)
	if err != nil {
		e.meter.CountRejected(envelope.Classify(err).Reason)
		return transport.Incoming{}, err
	}
	in, err := e.sealer.Open(ev.from, f, &e.floor, "")
	if err != nil {
		var rej *envelope.Rejection
		if errors.As(err, &rej) {
			e.meter.CountRejected(rej.Reason)
		}
		return transport.Incoming{}, err
	}
	e.meter.CountReceived(ev.from, ev.typ, len(ev.frame))
	return in, nil
}

// WithTimeout returns a context that a [Lockstep] network cancels with
// cause context.DeadlineExceeded once its virtual clock has advanced by d;
// pass it to Recv to wait in virtual time. In [FreeRunning] it is
// context.WithTimeout (wall clock).
func (e *Endpoint) WithTimeout(parent context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	n := e.net
	if n.cfg.Schedule != Lockstep {
		return context.WithTimeout(parent, d)
	}
	ctx, cancel := context.WithCancelCause(parent)
	t := &timer{cancel: cancel}
	n.mu.Lock()
	e.timerSeq++
	heap.Push(&n.events, &event{at: n.now + max(d, 0), timer: t, from: e.id, seq: e.timerSeq})
	n.mu.Unlock()
	return ctx, func() {
		n.mu.Lock()
		t.fired = true
		n.mu.Unlock()
		cancel(context.Canceled)
	}
}

// Peers implements [transport.Transport]: the other open endpoints on
// this side of any partition.
func (e *Endpoint) Peers() []transport.PeerID {
	n := e.net
	n.mu.Lock()
	defer n.mu.Unlock()
	var ids []transport.PeerID
	for id, ep := range n.endpoints {
		if id != e.id && !ep.closed && n.reachable(e.id, id) {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// SetRound implements [transport.Transport].
func (e *Endpoint) SetRound(round uint64) { e.floor.Set(round) }

// Stats implements [transport.Transport]. Bytes are the frame sizes
// transport/p2p would put on a stream for the same messages.
func (e *Endpoint) Stats() transport.Stats { return e.meter.Snapshot() }

// Close implements [transport.Transport]. Queued messages are discarded.
func (e *Endpoint) Close() error {
	n := e.net
	n.mu.Lock()
	defer n.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	if !e.blocked {
		n.running--
	}
	e.blocked = false
	n.stats.Dropped += int64(len(e.queue))
	e.queue = nil
	close(e.done)
	n.advanceLocked()
	return nil
}
