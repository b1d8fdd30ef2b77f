package secagg

import (
	"fmt"
	"slices"

	"github.com/consort-ml/consort/mpc"
)

// The protocol contract of package mpc: *Client is an mpc.Client and
// *ServerParty (a *Server with the contract's Result) an mpc.Server. Every
// message a party returns carries Kind = its Step's name; Step refuses a
// message whose Kind names another step than its Data.

var (
	_ mpc.Client = (*Client)(nil)
	_ mpc.Server = (*ServerParty)(nil)
)

// Kinds lists the round's message kinds (the Step names) with their size
// limits, for the transport registry.
func (p *Params) Kinds() []mpc.Kind {
	out := make([]mpc.Kind, 0, len(stepNames)-1)
	for s := StepAdvertiseKeys; int(s) < len(stepNames); s++ {
		count := p.k + 1 // share lists: at most the neighbours and the party itself
		if s == StepKeyList {
			count = p.n
		}
		out = append(out, mpc.Kind{Name: s.String(), MaxSize: p.MessageSize(s, count)})
	}
	return out
}

// withKinds sets each message's Kind from the step byte of its Data.
func withKinds(out []Message) []Message {
	for i := range out {
		if len(out[i].Data) > 1 {
			out[i].Kind = Step(out[i].Data[1]).String()
		}
	}
	return out
}

// checkKind refuses a message whose Kind, when set, names another step than
// its Data. An empty Kind (a driver that predates the contract) is not
// checked; the header decoder still checks the step itself.
func checkKind(m Message) error {
	if m.Kind == "" || len(m.Data) < 2 {
		return nil
	}
	if s := Step(m.Data[1]); m.Kind != s.String() {
		return fmt.Errorf("%w: secagg: a %q message carries %v", mpc.ErrProtocol, m.Kind, s)
	}
	return nil
}

// Start draws the party's keys and returns its advertise-keys message.
func (c *Client) Start() ([]Message, error) {
	out, err := c.start()
	return withKinds(out), err
}

// Step processes one message from the server and returns the messages to
// send. Errors wrapping ErrUnexpected, or a message not addressed to this
// party, leave the state unchanged; any other error is the *mpc.AbortError
// the client ended with, or (for a message whose Kind contradicts its Data)
// a rejection wrapping mpc.ErrProtocol that leaves the state unchanged.
func (c *Client) Step(m Message) ([]Message, error) {
	if c.state == cAborted {
		return nil, c.err
	}
	if err := checkKind(m); err != nil {
		return nil, err
	}
	out, err := c.step(m)
	return withKinds(out), err
}

// Advance does nothing: a client never decides that the round is over (the
// server, or the driver's round end, does).
func (c *Client) Advance() ([]Message, error) {
	if c.state == cAborted {
		return nil, c.err
	}
	return nil, nil
}

// Status reports Done once the server announced the release (StepDone), Err
// once the client aborted.
func (c *Client) Status() mpc.Status {
	return mpc.Status{Done: c.state == cDone, Err: c.err}
}

// Revealed reports whether the party sent its unmasking shares, or learnt
// that the server released a sum with its input in it (a server may finish
// before it needs this party's answer). Either way its input may be part of
// a released aggregate.
func (c *Client) Revealed() bool {
	return c.state == cResponded || c.state == cDone && slices.Contains(c.survivors, int(c.id))
}

// Step processes one message from a party. An error wrapping ErrUnexpected,
// mpc.ErrMalformed or mpc.ErrProtocol that is not an *mpc.AbortError means
// the message was rejected and ignored (its sender is then treated as having
// dropped at this step); an *mpc.AbortError means the round is over, and
// the returned messages tell the live parties.
func (s *Server) Step(m Message) ([]Message, error) {
	if s.phase == sAborted {
		return nil, s.err
	}
	if err := checkKind(m); err != nil {
		return nil, err
	}
	out, err := s.step(m)
	return withKinds(out), err
}

// Advance closes the current collection step with the parties heard from so
// far (the driver's deadline expired) and returns the next step's messages,
// or the abort messages when too few are left.
func (s *Server) Advance() ([]Message, error) {
	out, err := s.advance()
	return withKinds(out), err
}

// ServerParty is a [Server] seen through the mpc.Server contract: the same
// state machine, whose Result is an [mpc.Aggregate]. Server's own Result
// (the sum as Sum32 or Sum64) stays reachable as p.Server.Result.
type ServerParty struct {
	*Server
	frac uint
	agg  *mpc.Aggregate
}

// NewServerParty returns the server of one round as an mpc.Server;
// cfg.Frac is reported in the aggregate.
func NewServerParty(cfg ServerConfig) (*ServerParty, error) {
	s, err := NewServer(cfg)
	if err != nil {
		return nil, err
	}
	return &ServerParty{Server: s, frac: cfg.Frac}, nil
}

// Start returns no message: the server waits for the advertised keys.
func (p *ServerParty) Start() ([]Message, error) { return nil, p.err }

// Status reports Done once the sum is released, Err once the server
// aborted.
func (p *ServerParty) Status() mpc.Status {
	return mpc.Status{Done: p.phase == sDone, Err: p.err}
}

// Result returns the released sum in Z_{2^Bits} (Ring, each element below
// 2^Bits), its contributors, and the Frac of the ServerConfig. Ring is
// shared between calls: treat it as read-only.
func (p *ServerParty) Result() (mpc.Aggregate, bool) {
	r, ok := p.Server.Result()
	if !ok {
		return mpc.Aggregate{}, false
	}
	if p.agg == nil {
		ring := r.Sum64
		if ring == nil {
			ring = make([]uint64, len(r.Sum32))
			for i, v := range r.Sum32 {
				ring[i] = uint64(v)
			}
		}
		p.agg = &mpc.Aggregate{Ring: ring, Bits: p.p.bits, Frac: p.frac}
	}
	a := *p.agg
	a.Contributors = r.Contributors
	return a, true
}
