package federated

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/consort-ml/consort/federated/audit"
	"github.com/consort-ml/consort/federated/engine"
	"github.com/consort-ml/consort/federated/model"
	"github.com/consort-ml/consort/internal/atomicfile"
	"github.com/consort-ml/consort/transport"
	"github.com/consort-ml/consort/transport/mem"
)

// The drivers: one goroutine per state machine that moves its messages over
// a transport.Transport and does its I/O (checkpoint and state files with
// fsync, the audit log, metrics, logs), in the order its Ready demands:
// persist, append to the audit log, then send.

// Clock is the time source of a driver: the wall clock over a real network,
// the network's virtual clock over transport/mem.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// Until returns a context that ends when the clock reaches t.
	Until(ctx context.Context, t time.Time) (context.Context, context.CancelFunc)
}

// WallClock is the real clock.
type WallClock struct{}

// Now implements [Clock].
func (WallClock) Now() time.Time { return time.Now() }

// Until implements [Clock].
func (WallClock) Until(ctx context.Context, t time.Time) (context.Context, context.CancelFunc) {
	return context.WithDeadline(ctx, t)
}

// VirtualClock is the virtual clock of one endpoint of a transport/mem
// network: time passes only while every endpoint waits.
type VirtualClock struct {
	Net      *mem.Network
	Endpoint *mem.Endpoint
	// Epoch is the wall time virtual time 0 stands for.
	Epoch time.Time
}

// Now implements [Clock].
func (v VirtualClock) Now() time.Time { return v.Epoch.Add(v.Net.Now()) }

// Until implements [Clock].
func (v VirtualClock) Until(ctx context.Context, t time.Time) (context.Context, context.CancelFunc) {
	return v.Endpoint.WithTimeout(ctx, t.Sub(v.Now()))
}

// ErrCoordinatorUnreachable is returned by [RunNode] when the coordinator
// could not be reached within NodeIO.JoinTimeout.
var ErrCoordinatorUnreachable = errors.New("federated: coordinator unreachable")

// CoordinatorIO is what a coordinator driver needs beyond the state machine.
type CoordinatorIO struct {
	// Clock is the time source (nil: the wall clock).
	Clock Clock
	// StateDir holds the checkpoint and, at the end, model.consort ("":
	// neither is written).
	StateDir string
	// Audit, if not nil, receives the coordinator's audit entries.
	Audit *audit.Log
	// Metrics, if not nil, is updated as rounds progress.
	Metrics *Metrics
	// Logger receives driver events (nil: discard).
	Logger *slog.Logger
	// Progress, if not nil, is called after each training round; it may
	// replace the report's accuracy and loss (a simulation measures them on
	// its test set) before the report is kept.
	Progress func(*engine.RoundReport)
	// Queued sends through one FIFO queue per peer, drained by its own
	// goroutine, so a slow or dead peer never stalls the coordinator (real
	// networks). Unqueued sends keep a virtual-time network deterministic.
	Queued bool
	// SendTimeout bounds one send (default 30 s).
	SendTimeout time.Duration
	// Linger, if > 0, keeps the coordinator answering after the final
	// model for that long: a node whose final message was lost says hello
	// again and gets it again.
	Linger time.Duration
}

// CheckpointPath returns where the coordinator keeps its checkpoint.
func CheckpointPath(stateDir string) string { return filepath.Join(stateDir, "checkpoint") }

// LoadCheckpoint reads the coordinator's checkpoint in stateDir (nil, nil
// when there is none).
func LoadCheckpoint(stateDir string) (*model.File, error) {
	if stateDir == "" {
		return nil, nil
	}
	mf, err := model.ReadFile(CheckpointPath(stateDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", engine.ErrCheckpoint, err)
	}
	return mf, nil
}

// RunCoordinator drives c over tr until the federation is done, and returns
// the final model (also written to StateDir/model.consort).
func RunCoordinator(ctx context.Context, c *engine.Coordinator, tr transport.Transport, io CoordinatorIO) (*model.File, error) {
	clock := io.Clock
	if clock == nil {
		clock = WallClock{}
	}
	log := io.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if io.SendTimeout == 0 {
		io.SendTimeout = 30 * time.Second
	}
	if io.StateDir != "" {
		if err := os.MkdirAll(io.StateDir, 0o700); err != nil {
			return nil, err
		}
	}
	out := newSender(ctx, tr, io.Queued, io.SendTimeout, log)
	defer out.close(0)
	c.Start(clock.Now())
	for {
		rd := c.Ready()
		if len(rd.Checkpoint) > 0 && io.StateDir != "" {
			if err := atomicfile.Write(CheckpointPath(io.StateDir), rd.Checkpoint, 0o600); err != nil {
				return nil, fmt.Errorf("checkpoint: %w", err)
			}
		}
		if err := appendAudit(io.Audit, rd.Audit); err != nil {
			return nil, err
		}
		for _, e := range rd.Messages {
			out.send(e.To, e.Msg)
		}
		if io.Metrics != nil {
			now := clock.Now()
			io.Metrics.LiveNodes.Set(float64(c.Live(now)))
			io.Metrics.BackedOff.Set(float64(c.BackedOff(now)))
		}
		for i := range rd.Reports {
			if io.Progress != nil {
				io.Progress(&rd.Reports[i])
			}
			if io.Metrics != nil {
				io.Metrics.roundDone(rd.Reports[i])
			}
		}
		if rd.Err != nil {
			return nil, rd.Err
		}
		if rd.Final != nil {
			if rd.Stopped != "" {
				log.Warn("training stopped early", "reason", rd.Stopped)
			}
			if io.StateDir != "" {
				if err := model.WriteFile(filepath.Join(io.StateDir, "model.consort"), rd.Final); err != nil {
					return nil, err
				}
			}
			linger(ctx, tr, clock, io.Linger, rd.Messages, out)
			out.close(io.SendTimeout)
			return rd.Final, nil
		}
		in, timedOut, err := recvUntil(ctx, tr, clock, c.Deadline())
		if err != nil {
			return nil, err
		}
		now := clock.Now()
		if !timedOut {
			c.Step(now, in)
		}
		c.Tick(now)
	}
}

// linger answers, for d after the federation ended, every hello with the
// final message sent to that peer (a lost final model is sent again).
func linger(ctx context.Context, tr transport.Transport, clock Clock, d time.Duration, final []engine.Envelope, out *sender) {
	if d <= 0 {
		return
	}
	done := map[transport.PeerID]transport.Message{}
	for _, e := range final {
		done[e.To] = e.Msg
	}
	end := clock.Now().Add(d)
	for clock.Now().Before(end) {
		in, timedOut, err := recvUntil(ctx, tr, clock, end)
		if err != nil || timedOut {
			return
		}
		if m, ok := done[in.From]; ok && in.Type == "train/hello" {
			out.send(in.From, m)
		}
	}
}

// recvUntil waits for a message or the deadline (zero: none).
func recvUntil(ctx context.Context, tr transport.Transport, clock Clock, deadline time.Time) (transport.Incoming, bool, error) {
	rctx, cancel := ctx, context.CancelFunc(func() {})
	if !deadline.IsZero() {
		rctx, cancel = clock.Until(ctx, deadline)
	}
	in, err := tr.Recv(rctx)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return in, false, context.Cause(ctx)
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return in, true, nil
		}
		return in, false, err
	}
	return in, false, nil
}

func appendAudit(l *audit.Log, es []audit.Entry) error {
	if l == nil {
		return nil
	}
	for _, e := range es {
		if _, err := l.Append(e); err != nil {
			return fmt.Errorf("audit log: %w", err)
		}
	}
	return nil
}

// sender sends a state machine's messages, directly or through one FIFO
// queue per peer.
type sender struct {
	ctx     context.Context
	tr      transport.Transport
	queued  bool
	timeout time.Duration
	log     *slog.Logger

	mu      sync.Mutex
	outbox  map[transport.PeerID]chan transport.Message
	down    map[transport.PeerID]bool
	senders sync.WaitGroup
}

// outboxSize bounds the messages queued for one peer.
const outboxSize = 1024

func newSender(ctx context.Context, tr transport.Transport, queued bool, timeout time.Duration, log *slog.Logger) *sender {
	return &sender{ctx: ctx, tr: tr, queued: queued, timeout: timeout, log: log,
		outbox: map[transport.PeerID]chan transport.Message{}, down: map[transport.PeerID]bool{}}
}

func (s *sender) send(p transport.PeerID, msg transport.Message) {
	if !s.queued {
		s.sendNow(p, msg)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.outbox == nil {
		return
	}
	q := s.outbox[p]
	if q == nil {
		q = make(chan transport.Message, outboxSize)
		s.outbox[p] = q
		s.senders.Go(func() { s.drain(p, q) })
	}
	select {
	case q <- msg:
	default:
		s.log.Warn("outbox full; message dropped", "peer", p, "type", msg.Type)
	}
}

func (s *sender) sendNow(p transport.PeerID, msg transport.Message) bool {
	sctx, cancel := context.WithTimeout(s.ctx, s.timeout)
	err := s.tr.Send(sctx, p, msg)
	cancel()
	if err != nil && s.ctx.Err() == nil {
		s.log.Debug("send failed", "peer", p, "type", msg.Type, "err", err)
		return false
	}
	return err == nil
}

// drain sends p's queued messages in order. After a failed send the peer
// counts as down and its queued messages are dropped until a send succeeds
// again (the protocols treat it as dropped); the final model is always tried.
func (s *sender) drain(p transport.PeerID, q chan transport.Message) {
	for msg := range q {
		s.mu.Lock()
		down := s.down[p]
		s.mu.Unlock()
		if down && msg.Type != "train/done" && msg.Type != "train/round-start" {
			continue
		}
		ok := s.sendNow(p, msg)
		s.mu.Lock()
		s.down[p] = !ok
		s.mu.Unlock()
	}
}

// close stops the queues and waits up to timeout for them to drain.
func (s *sender) close(timeout time.Duration) {
	s.mu.Lock()
	for p, q := range s.outbox {
		close(q)
		delete(s.outbox, p)
	}
	s.outbox = nil
	s.mu.Unlock()
	if timeout <= 0 {
		return
	}
	done := make(chan struct{})
	go func() { s.senders.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
		s.log.Warn("some final messages were not delivered in time")
	}
}

// NodeIO is what a node driver needs beyond the state machine.
type NodeIO struct {
	// Clock is the time source (nil: the wall clock).
	Clock Clock
	// StateDir holds node-state.json, mhe.key (0600) and, at the end,
	// model.consort ("": nothing is written).
	StateDir string
	// Audit, if not nil, receives the node's audit entries.
	Audit *audit.Log
	// Metrics, if not nil, is updated.
	Metrics *Metrics
	// Logger receives driver events (nil: discard).
	Logger *slog.Logger
	// Events, if not nil, is told about rounds (for progress displays).
	Events func(engine.NodeEvent)
	// JoinTimeout, if > 0, makes RunNode fail with ErrCoordinatorUnreachable
	// when no message reached the coordinator within it after the start.
	// Once the coordinator has been reached, the node waits for it
	// indefinitely (a restarted coordinator resumes from its checkpoint).
	JoinTimeout time.Duration
	// SendTimeout bounds one send (default 30 s).
	SendTimeout time.Duration
	// Filter, if not nil, sees every message before the node does and may
	// drop it (false), and every message the node sends (true to send).
	// Simulations inject dropouts with it.
	Filter func(in *transport.Incoming, out *transport.Message) bool
}

// NodeStatePath, MHEKeyPath and ModelPath name a node's files in its state
// directory.
func NodeStatePath(dir string) string { return filepath.Join(dir, "node-state.json") }

// MHEKeyPath names the node's mhe key material (mode 0600).
func MHEKeyPath(dir string) string { return filepath.Join(dir, "mhe.key") }

// RunNode drives n over tr until the coordinator sends the final model, which
// it returns (and writes to StateDir/model.consort).
func RunNode(ctx context.Context, n *engine.Node, tr transport.Transport, coordinator transport.PeerID, io NodeIO) (*model.File, error) {
	d := &nodeDriver{io: io, coordinator: coordinator}
	if d.io.Clock == nil {
		d.io.Clock = WallClock{}
	}
	if d.io.Logger == nil {
		d.io.Logger = slog.New(slog.DiscardHandler)
	}
	if d.io.SendTimeout == 0 {
		d.io.SendTimeout = 30 * time.Second
	}
	if io.StateDir != "" {
		if err := os.MkdirAll(io.StateDir, 0o700); err != nil {
			return nil, err
		}
	}
	d.out = newSender(ctx, tr, false, d.io.SendTimeout, d.io.Logger)
	n.SetContext(ctx)
	clock := d.io.Clock
	start := clock.Now()
	n.Tick(start)
	for {
		final, err := d.apply(n.Ready())
		if final != nil || err != nil {
			return final, err
		}
		now := clock.Now()
		if io.JoinTimeout > 0 && !d.reached && now.Sub(start) >= io.JoinTimeout {
			return nil, fmt.Errorf("%w: no message reached %s within %v (is it running, and is its address right?)",
				ErrCoordinatorUnreachable, coordinator, io.JoinTimeout)
		}
		in, timedOut, err := recvUntil(ctx, tr, clock, n.Deadline())
		if err != nil {
			return nil, err
		}
		now = clock.Now()
		if !timedOut && (io.Filter == nil || io.Filter(&in, nil)) {
			n.Step(now, in)
		}
		n.Tick(now)
	}
}

// nodeDriver carries out a node's Ready.
type nodeDriver struct {
	io          NodeIO
	coordinator transport.PeerID
	out         *sender
	reached     bool // a message reached the coordinator
	failures    int  // hellos in a row that did not
}

// apply persists, audits and sends what rd asks, in that order; it returns
// the final model once the federation is done.
func (d *nodeDriver) apply(rd engine.NodeReady) (*model.File, error) {
	io := d.io
	if rd.State != nil && io.StateDir != "" {
		if err := atomicfile.Write(NodeStatePath(io.StateDir), rd.State, 0o600); err != nil {
			return nil, err
		}
	}
	if rd.MHEKey != nil && io.StateDir != "" {
		if err := atomicfile.Write(MHEKeyPath(io.StateDir), rd.MHEKey, 0o600); err != nil {
			return nil, err
		}
	}
	if err := appendAudit(io.Audit, rd.Audit); err != nil {
		return nil, err
	}
	for _, m := range rd.Messages {
		if io.Filter == nil || io.Filter(nil, &m) {
			d.send(m)
		}
	}
	for _, e := range rd.Events {
		d.event(e)
	}
	if rd.Err != nil {
		return nil, rd.Err
	}
	if rd.Final != nil && io.StateDir != "" {
		if err := model.WriteFile(filepath.Join(io.StateDir, "model.consort"), rd.Final); err != nil {
			return nil, err
		}
	}
	return rd.Final, nil
}

func (d *nodeDriver) send(m transport.Message) {
	if d.out.sendNow(d.coordinator, m) {
		d.reached = true
		if d.failures >= 5 {
			d.io.Logger.Info("coordinator reachable again")
		}
		d.failures = 0
		if d.io.Metrics != nil && m.Type != "train/hello" {
			d.io.Metrics.BytesUp.Add(float64(len(m.Payload)))
		}
	} else if m.Type == "train/hello" {
		if d.failures++; d.failures == 5 {
			d.io.Logger.Warn("the coordinator does not answer; still trying")
		}
	}
}

func (d *nodeDriver) event(e engine.NodeEvent) {
	if m := d.io.Metrics; m != nil {
		switch {
		case e.Kind == "round-end" && e.Aborted:
			m.RoundsAborted.Inc()
		case e.Kind == "round-end" && e.Accuracy >= 0:
			m.RoundsCompleted.Inc()
			m.Accuracy.Set(e.Accuracy)
		case e.Kind == "refused":
			m.Refusals.WithLabelValues(string(e.Code)).Inc()
		}
	}
	if d.io.Events != nil {
		d.io.Events(e)
	}
}

// ErrKeyFile marks a key file that cannot be used: unreadable, readable by
// group or others, or too large.
var ErrKeyFile = errors.New("federated: bad key file")

// maxStateFile bounds a node's state file and key material.
const maxStateFile = 1 << 28

// LoadNodeFiles reads what a node persisted in dir: its state (nil when
// fresh) and its mhe key material (nil when none). Like ssh, it refuses key
// material that group or others may read.
func LoadNodeFiles(dir string) (*engine.NodeState, []byte, error) {
	if dir == "" {
		return nil, nil, nil
	}
	var st *engine.NodeState
	b, err := readBounded(NodeStatePath(dir), false)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, nil, err
	default:
		st = &engine.NodeState{}
		if err := json.Unmarshal(b, st); err != nil {
			return nil, nil, fmt.Errorf("%w: %s: %w", model.ErrBadFile, NodeStatePath(dir), err)
		}
	}
	key, err := readBounded(MHEKeyPath(dir), true)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil, nil
	}
	return st, key, err
}

func readBounded(path string, secret bool) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if secret && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o, want 0600", ErrKeyFile, path, fi.Mode().Perm())
	}
	if fi.Size() > maxStateFile {
		return nil, fmt.Errorf("%w: %s has %d bytes", model.ErrBadFile, path, fi.Size())
	}
	return io.ReadAll(io.LimitReader(f, maxStateFile))
}
