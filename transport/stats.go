package transport

import (
	"maps"
	"sync"
	"sync/atomic"
)

// Reason classifies a refused or dropped message.
type Reason string

// Reasons counted in [Stats.Rejected].
const (
	// RejectPeer: a connection from a peer that is not in the allow list,
	// refused at the secured-connection step.
	RejectPeer Reason = "peer"
	// RejectProtocol: a stream on a protocol the peer's role may not use.
	RejectProtocol Reason = "protocol"
	// RejectFederation: an envelope or stream for another federation.
	RejectFederation Reason = "federation"
	// RejectManifest: a stream from a peer holding another manifest.
	RejectManifest Reason = "manifest"
	// RejectStale: an envelope for a round before the current one.
	RejectStale Reason = "stale-round"
	// RejectUnknownType: a message type that is not registered.
	RejectUnknownType Reason = "unknown-type"
	// RejectTooLarge: a frame or payload above its limit.
	RejectTooLarge Reason = "too-large"
	// RejectMalformed: bytes that do not decode.
	RejectMalformed Reason = "malformed"
	// RejectSender: an envelope whose sender is not the authenticated peer.
	RejectSender Reason = "sender"
	// RejectOverflow: the inbox stayed full for the stream deadline.
	RejectOverflow Reason = "overflow"
	// RejectTimeout: a stream that missed its deadline.
	RejectTimeout Reason = "timeout"
	// DropSimulated: a message transport/mem lost on purpose (drop rate,
	// partition, closed receiver).
	DropSimulated Reason = "simulated-drop"
)

// Counter counts messages and their bytes on the wire (frame header,
// envelope and payload after compression).
type Counter struct {
	Messages int64
	Bytes    int64
}

func (c *Counter) add(n int) {
	c.Messages++
	c.Bytes += int64(n)
}

// Stats is a snapshot of a transport's counters. Maps are never nil.
type Stats struct {
	// Sent and Received are totals over all peers and types.
	Sent, Received Counter
	// SentTo and ReceivedFrom are per peer.
	SentTo, ReceivedFrom map[PeerID]Counter
	// SentByType and ReceivedByType are per message type.
	SentByType, ReceivedByType map[string]Counter
	// Rejected counts refused or dropped messages, streams and
	// connections by reason.
	Rejected map[Reason]int64
}

// Meter is the concurrency-safe counter set behind [Transport.Stats]; the
// transports embed one. The zero value is ready to use.
type Meter struct {
	mu sync.Mutex
	s  Stats
}

func (m *Meter) init() {
	if m.s.SentTo == nil {
		m.s.SentTo = map[PeerID]Counter{}
		m.s.ReceivedFrom = map[PeerID]Counter{}
		m.s.SentByType = map[string]Counter{}
		m.s.ReceivedByType = map[string]Counter{}
		m.s.Rejected = map[Reason]int64{}
	}
}

// CountSent records one message of wireBytes bytes sent to a peer.
func (m *Meter) CountSent(to PeerID, typ string, wireBytes int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	m.s.Sent.add(wireBytes)
	c := m.s.SentTo[to]
	c.add(wireBytes)
	m.s.SentTo[to] = c
	c = m.s.SentByType[typ]
	c.add(wireBytes)
	m.s.SentByType[typ] = c
}

// CountReceived records one message of wireBytes bytes accepted from a peer.
func (m *Meter) CountReceived(from PeerID, typ string, wireBytes int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	m.s.Received.add(wireBytes)
	c := m.s.ReceivedFrom[from]
	c.add(wireBytes)
	m.s.ReceivedFrom[from] = c
	c = m.s.ReceivedByType[typ]
	c.add(wireBytes)
	m.s.ReceivedByType[typ] = c
}

// CountRejected records one refusal.
func (m *Meter) CountRejected(r Reason) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	m.s.Rejected[r]++
}

// Snapshot returns a deep copy of the counters.
func (m *Meter) Snapshot() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	s := m.s
	s.SentTo = maps.Clone(m.s.SentTo)
	s.ReceivedFrom = maps.Clone(m.s.ReceivedFrom)
	s.SentByType = maps.Clone(m.s.SentByType)
	s.ReceivedByType = maps.Clone(m.s.ReceivedByType)
	s.Rejected = maps.Clone(m.s.Rejected)
	return s
}

// RoundFloor holds the current round of [Transport.SetRound]. The zero
// value accepts every round.
type RoundFloor struct{ v atomic.Uint64 }

// Set raises the floor to round; lower values are ignored.
func (f *RoundFloor) Set(round uint64) {
	for {
		cur := f.v.Load()
		if round <= cur || f.v.CompareAndSwap(cur, round) {
			return
		}
	}
}

// Get returns the current floor.
func (f *RoundFloor) Get() uint64 { return f.v.Load() }

// Stale reports whether an envelope for round must be dropped.
func (f *RoundFloor) Stale(round uint64) bool { return round < f.v.Load() }
