package federated

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/consort-ml/consort/transport"
)

// netMsg is one protocol message of a networked round. Peer is the
// destination of an outgoing message and the source of an incoming one: 0 is
// the aggregator (the coordinator process), 1..n the participants in the order
// of RoundStart.participants.
type netMsg struct {
	Peer    int
	Type    string
	Step    uint32
	Payload []byte
}

// serverSession is the aggregator side of one attempt of a protocol: a pure
// state machine fed by the coordinator's driver.
type serverSession interface {
	// Handle processes one message from participant from (1..n).
	Handle(from int, m netMsg) ([]netMsg, error)
	// Advance is called when the current step's deadline passed: missing
	// participants are treated as dropped.
	Advance() ([]netMsg, error)
	// Result returns the quantised-and-decoded sum and the contributors
	// (participant indices 1..n) once the aggregate is released.
	Result() (sum []float32, contributors []int, ok bool)
	// Failed returns the abort error once the attempt failed (no aggregate
	// is released), nil otherwise.
	Failed() error
}

// clientSession is a participant's side of one attempt.
type clientSession interface {
	// Start returns the participant's first messages.
	Start() ([]netMsg, error)
	// Handle processes one message from the aggregator.
	Handle(m netMsg) ([]netMsg, error)
	// Revealed reports whether the participant has sent what lets its
	// input enter a released aggregate (plain: the update itself; secagg:
	// its unmasking shares; mhe: a decryption share). Nodes never take part
	// in another attempt of the same phase and round after that: a
	// coordinator could otherwise difference aggregates over different
	// participant sets.
	Revealed() bool
}

// sessionParams are what both sides of an attempt agree on, from RoundStart.
type sessionParams struct {
	FederationID string
	Attempt      uint64
	Parties      int // n
	Threshold    int
	Dim          int
	Bound        float32
	// Wide asks for a 64-bit ring where the protocol quantises (the
	// statistics phases, whose values span a large range).
	Wide bool
	// Peers are the participants in index order (Peers[i-1] is index i), and
	// Self is this party's peer ID (empty at the aggregator).
	Peers []transport.PeerID
	Self  transport.PeerID
	// Setup marks the once-per-federation key setup of protocols that have
	// one (mhe).
	Setup bool
	// Ring32 (participant side only) is the contribution already encoded in
	// Z_2^32 at the protocol's scale, with DP noise added in the ring; a
	// protocol that quantises uses it instead of the float input.
	Ring32 []uint32
}

// ErrSession marks a protocol message that does not fit the session.
var ErrSession = errors.New("federated: protocol session error")

// plain message type: the update in the clear.
const typePlainUpdate = "plain/update"

func plainTypes(maxDim int) []transport.MessageType {
	return []transport.MessageType{{
		Name: typePlainUpdate, Protocol: transport.Protocol{Name: "plain", Major: 1}, MaxSize: 4*maxDim + 16,
	}}
}

// plainServer sums float32 updates in the clear (insecure baseline).
type plainServer struct {
	p       sessionParams
	acc     []float64
	got     []bool
	count   int
	done    bool
	failed  error
	contrib []int
	sum     []float32
}

func newPlainServer(p sessionParams) *plainServer {
	return &plainServer{p: p, acc: make([]float64, p.Dim), got: make([]bool, p.Parties+1)}
}

func (s *plainServer) Handle(from int, m netMsg) ([]netMsg, error) {
	if s.done || s.failed != nil {
		return nil, nil
	}
	if from < 1 || from > s.p.Parties || m.Type != typePlainUpdate {
		return nil, fmt.Errorf("%w: unexpected %s from %d", ErrSession, m.Type, from)
	}
	if s.got[from] {
		return nil, nil // duplicate delivery
	}
	if len(m.Payload) != 4*s.p.Dim {
		return nil, fmt.Errorf("%w: update of %d bytes, want %d", ErrSession, len(m.Payload), 4*s.p.Dim)
	}
	for i := range s.acc {
		v := math.Float32frombits(binary.LittleEndian.Uint32(m.Payload[4*i:]))
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("%w: non-finite update value", ErrSession)
		}
		s.acc[i] += float64(min(max(v, -s.p.Bound), s.p.Bound))
	}
	s.got[from] = true
	s.count++
	if s.count == s.p.Parties {
		return s.Advance()
	}
	return nil, nil
}

func (s *plainServer) Advance() ([]netMsg, error) {
	if s.done || s.failed != nil {
		return nil, s.failed
	}
	if s.count < max(s.p.Threshold, 1) {
		s.failed = fmt.Errorf("%w: %d of %d updates, threshold %d", ErrTooFewContributors, s.count, s.p.Parties, s.p.Threshold)
		s.acc = nil
		return nil, s.failed
	}
	s.sum = make([]float32, s.p.Dim)
	for i, v := range s.acc {
		s.sum[i] = float32(v)
	}
	for i := 1; i <= s.p.Parties; i++ {
		if s.got[i] {
			s.contrib = append(s.contrib, i)
		}
	}
	s.done = true
	return nil, nil
}

func (s *plainServer) Result() ([]float32, []int, bool) { return s.sum, s.contrib, s.done }
func (s *plainServer) Failed() error                    { return s.failed }

type plainClient struct {
	input []float32
	sent  bool
}

func (c *plainClient) Start() ([]netMsg, error) {
	b := make([]byte, 0, 4*len(c.input))
	for _, v := range c.input {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	c.sent = true
	return []netMsg{{Peer: 0, Type: typePlainUpdate, Payload: b}}, nil
}

func (c *plainClient) Handle(netMsg) ([]netMsg, error) { return nil, nil }
func (c *plainClient) Revealed() bool                  { return c.sent }
