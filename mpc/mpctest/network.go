package mpctest

import (
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/consort-ml/consort/mpc"
)

// Harness errors: Run returns them (wrapped, with the party and message
// kind) when a state machine breaks the contract or the run cannot end.
var (
	// ErrContract marks a party that broke the protocol contract: a message
	// without a Kind, of a kind or size the Config's registry does not
	// allow, with a From other than its sender, to a party that does not
	// exist, messages from a party that had ended, an abort error that
	// changed, or an error from Start or Advance that is not an abort.
	ErrContract = errors.New("mpctest: contract violation")
	// ErrStalled marks a run whose server is neither done nor aborted while
	// nothing is in flight and further deadlines change nothing.
	ErrStalled = errors.New("mpctest: run stalled")
)

// Drop makes a participant stop for good, as a crashed or disconnected
// node would: from then on it receives and sends nothing.
type Drop struct {
	// Party is the participant's id, 1..n.
	Party int
	// Kind is the message kind on whose first arrival the party drops,
	// without handling it; "" drops it before it starts.
	Kind string
}

// Config shapes the network. Every random choice comes from Seed, so a run
// is a pure function of its Config and its parties.
type Config struct {
	// Seed seeds the network's choices (loss, duplication, lateness,
	// delivery order).
	Seed uint64
	// Loss is the probability that a sent message is lost.
	Loss float64
	// Dup is the probability that a sent message is delivered twice.
	Dup float64
	// Late is the probability that a sent message is held back until the
	// server's next deadline has passed (a straggler): it is delivered, but
	// after the server's Advance.
	Late float64
	// Reorder delivers the messages in flight in a random order instead of
	// first-in first-out.
	Reorder bool
	// Drops lists the participants that drop, and when.
	Drops []Drop
	// Kinds, when set, is the protocol's registry: every message must be
	// of one of these kinds and at most its MaxSize, as a transport would
	// enforce.
	Kinds []mpc.Kind
	// Observe, when set, sees every message that arrives, just before its
	// receiver handles it; also one whose receiver has dropped and ignores
	// it (a transcript of what the network carried).
	Observe func(mpc.Message)
	// MaxDeliveries bounds the number of deliveries (default 1 000 000).
	MaxDeliveries int
}

// Report is what the network observed.
type Report struct {
	// Status is every party's final status, by id (0 is the server).
	Status []mpc.Status
	// Sent and Received are bytes of Data by party id. Sent counts every
	// message a party emitted, lost ones included; Received counts the
	// deliveries to the party (twice for a duplicate).
	Sent, Received []int
	// Dropped marks, by party id, the participants that dropped.
	Dropped []bool
	// Delivered counts the messages handed to a live receiver; Lost,
	// Duplicated and Late count what the network did to sent messages.
	Delivered, Lost, Duplicated, Late int
	// Unexpected counts deliveries that the receiver ignored with an
	// error wrapping mpc.ErrUnexpected; Rejected those it refused with any
	// other error that did not end it (mpc.ErrMalformed, mpc.ErrProtocol).
	Unexpected, Rejected int
	// Deadlines counts the server's Advance calls.
	Deadlines int
}

// maxIdle bounds consecutive deadlines that change nothing before Run gives
// up with ErrStalled.
const maxIdle = 3

type network struct {
	cfg     Config
	rng     *rand.Rand
	parties []mpc.Party // by id
	kinds   map[string]int
	drops   map[int]string
	flight  []mpc.Message
	head    int // FIFO: flight[head:] are in flight
	late    []mpc.Message
	rep     Report
}

// Run runs one protocol instance between server (id 0) and clients (ids
// 1..n, in order) until the server is done or aborted and no message is in
// flight. It starts every party (server first), then delivers one message at
// a time; whenever nothing is in flight and the server is still waiting, the
// server's deadline passes (Advance) and the late messages are released. It
// uses no goroutine and no clock.
//
// The returned error is nil or a harness error (ErrContract, ErrStalled):
// the protocol's own outcome, abort included, is in the Report's Status.
func Run(cfg Config, server mpc.Party, clients ...mpc.Party) (Report, error) {
	n := len(clients)
	w := &network{
		cfg:     cfg,
		rng:     rand.New(rand.NewPCG(cfg.Seed, 0x6d7063746573)),
		parties: append([]mpc.Party{server}, clients...),
		drops:   make(map[int]string),
		rep: Report{
			Status: make([]mpc.Status, n+1), Sent: make([]int, n+1), Received: make([]int, n+1),
			Dropped: make([]bool, n+1),
		},
	}
	if w.cfg.MaxDeliveries == 0 {
		w.cfg.MaxDeliveries = 1_000_000
	}
	if cfg.Kinds != nil {
		w.kinds = make(map[string]int, len(cfg.Kinds))
		for _, k := range cfg.Kinds {
			w.kinds[k.Name] = k.MaxSize
		}
	}
	for _, d := range cfg.Drops {
		if d.Party < 1 || d.Party > n {
			return w.report(), fmt.Errorf("%w: drop of party %d, want 1..%d", ErrContract, d.Party, n)
		}
		if d.Kind == "" {
			w.rep.Dropped[d.Party] = true
		} else if _, dup := w.drops[d.Party]; !dup {
			w.drops[d.Party] = d.Kind
		}
	}
	err := w.run()
	return w.report(), err
}

func (w *network) report() Report {
	for i, p := range w.parties {
		w.rep.Status[i] = p.Status()
	}
	return w.rep
}

func (w *network) run() error {
	for id, p := range w.parties {
		if w.rep.Dropped[id] {
			continue
		}
		out, err := p.Start()
		if err := w.check(id, "start", err); err != nil {
			return err
		}
		if err := w.send(id, out); err != nil {
			return err
		}
	}
	idle := 0
	for {
		if w.rep.Delivered >= w.cfg.MaxDeliveries {
			return fmt.Errorf("%w: %d deliveries and the run goes on", ErrStalled, w.rep.Delivered)
		}
		if w.inFlight() > 0 {
			if err := w.deliver(w.next()); err != nil {
				return err
			}
			continue
		}
		st := w.parties[mpc.ServerID].Status()
		if st.Done || st.Err != nil {
			if len(w.late) == 0 {
				return nil
			}
			w.release()
			continue
		}
		// Nothing in flight and the server still waits: its deadline.
		// (A final server is never advanced; see checkFinal for Step.)
		w.rep.Deadlines++
		out, err := w.parties[mpc.ServerID].Advance()
		if err := w.check(mpc.ServerID, "advance", err); err != nil {
			return err
		}
		if err := w.send(mpc.ServerID, out); err != nil {
			return err
		}
		after := w.parties[mpc.ServerID].Status()
		if len(out) == 0 && len(w.late) == 0 && after == st {
			if idle++; idle >= maxIdle {
				return fmt.Errorf("%w: the server waits after %d deadlines with nothing in flight", ErrStalled, idle)
			}
		} else {
			idle = 0
		}
		w.release()
	}
}

// checkFinal enforces the contract for a party whose status was final
// before a call: it returns no messages, and once aborted it returns the
// same error.
func (w *network) checkFinal(id int, call string, before mpc.Status, out []mpc.Message, err error) error {
	switch {
	case !before.Done && before.Err == nil:
		return nil
	case len(out) > 0:
		return fmt.Errorf("%w: party %d returned %d messages from %s after it ended", ErrContract, id, len(out), call)
	case before.Err != nil && err != before.Err:
		return fmt.Errorf("%w: party %d aborted with %v but %s returned %v", ErrContract, id, before.Err, call, err)
	}
	return nil
}

// check classifies an error from Start or Advance: an abort is the
// protocol's outcome, anything else a broken contract.
func (w *network) check(id int, call string, err error) error {
	var ae *mpc.AbortError
	if err == nil || errors.As(err, &ae) {
		return nil
	}
	return fmt.Errorf("%w: party %d: %s: %w", ErrContract, id, call, err)
}

func (w *network) inFlight() int { return len(w.flight) - w.head }

// next removes a message from flight: the oldest, or a random one.
func (w *network) next() mpc.Message {
	if !w.cfg.Reorder {
		m := w.flight[w.head]
		w.flight[w.head] = mpc.Message{}
		w.head++
		if w.head == len(w.flight) {
			w.flight, w.head = w.flight[:0], 0
		}
		return m
	}
	i := w.head + w.rng.IntN(w.inFlight())
	m := w.flight[i]
	last := len(w.flight) - 1
	w.flight[i] = w.flight[last]
	w.flight[last] = mpc.Message{}
	w.flight = w.flight[:last]
	return m
}

// release puts the late messages in flight.
func (w *network) release() {
	w.flight = append(w.flight, w.late...)
	clear(w.late)
	w.late = w.late[:0]
}

// send checks and queues the messages party from emitted.
func (w *network) send(from int, out []mpc.Message) error {
	for _, m := range out {
		switch {
		case m.From != from:
			return fmt.Errorf("%w: party %d sent a %q message as party %d", ErrContract, from, m.Kind, m.From)
		case m.To < 0 || m.To >= len(w.parties) || m.To == from:
			return fmt.Errorf("%w: party %d sent a %q message to party %d", ErrContract, from, m.Kind, m.To)
		case m.Kind == "":
			return fmt.Errorf("%w: party %d sent a message without a kind", ErrContract, from)
		}
		if w.kinds != nil {
			max, ok := w.kinds[m.Kind]
			if !ok {
				return fmt.Errorf("%w: party %d sent a %q message, not in the registry", ErrContract, from, m.Kind)
			}
			if len(m.Data) > max {
				return fmt.Errorf("%w: party %d sent a %q message of %d bytes, limit %d", ErrContract, from, m.Kind, len(m.Data), max)
			}
		}
		w.rep.Sent[from] += len(m.Data)
		if w.cfg.Loss > 0 && w.rng.Float64() < w.cfg.Loss {
			w.rep.Lost++
			continue
		}
		copies := 1
		if w.cfg.Dup > 0 && w.rng.Float64() < w.cfg.Dup {
			w.rep.Duplicated++
			copies = 2
		}
		for range copies {
			if w.cfg.Late > 0 && w.rng.Float64() < w.cfg.Late {
				w.rep.Late++
				w.late = append(w.late, m)
			} else {
				w.flight = append(w.flight, m)
			}
		}
	}
	return nil
}

// deliver hands one message to its receiver, unless the receiver dropped.
func (w *network) deliver(m mpc.Message) error {
	to := m.To
	if w.cfg.Observe != nil {
		w.cfg.Observe(m)
	}
	if w.rep.Dropped[to] {
		return nil
	}
	if k, ok := w.drops[to]; ok && k == m.Kind {
		w.rep.Dropped[to] = true
		return nil
	}
	w.rep.Delivered++
	w.rep.Received[to] += len(m.Data)
	before := w.parties[to].Status()
	out, err := w.parties[to].Step(m)
	if err := w.checkFinal(to, "step", before, out, err); err != nil {
		return err
	}
	var ae *mpc.AbortError
	switch {
	case err == nil, errors.As(err, &ae):
	case errors.Is(err, mpc.ErrUnexpected):
		w.rep.Unexpected++
	default:
		w.rep.Rejected++
	}
	return w.send(to, out)
}
