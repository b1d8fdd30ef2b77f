package federated

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/consort-ml/consort/federated/audit"
	"github.com/consort-ml/consort/federated/model"
	"github.com/consort-ml/consort/federated/trainpb"
	"github.com/consort-ml/consort/transport"
	"github.com/consort-ml/consort/transport/identity"
	"google.golang.org/protobuf/proto"
)

// CoordinatorConfig configures a [Coordinator]. Most fields come from the
// signed federation manifest.
type CoordinatorConfig struct {
	// FederationID and ManifestDigest identify the federation; a checkpoint
	// written under another manifest is refused.
	FederationID   string
	ManifestDigest []byte
	// Nodes are the peers that may be selected as participants.
	Nodes []transport.PeerID
	// MinParticipants is the fewest live nodes an attempt starts with.
	MinParticipants int
	// Threshold is the fewest contributors an aggregate is released for.
	Threshold int
	// Protocol protects the updates: plain, secagg or mhe.
	Protocol string
	// Rounds is the number of training rounds.
	Rounds int
	// Model, Features and Classes describe the model; FeatureNames,
	// ClassNames and Label go into the model file.
	Model                    model.Spec
	Features, Classes        int
	FeatureNames, ClassNames []string
	Label                    string
	// Strategy is the server-side strategy.
	Strategy StrategyConfig
	// Standardize runs the two statistics phases before training, so every
	// node standardises its features with the federation's mean and
	// standard deviation (computed through the same protection protocol).
	Standardize bool
	// Bound clips each coordinate of a weighted update (default 4).
	Bound float32
	// Seed initialises the model.
	Seed uint64
	// StepTimeout is the deadline of each protocol step (default 30 s).
	StepTimeout time.Duration
	// LiveWindow is how recently a node must have said hello to be selected
	// (default 4 s; nodes say hello every second).
	LiveWindow time.Duration
	// DP, when Clip > 0, makes nodes clip and noise their updates; the
	// coordinator accounts epsilon and stops before the budget is exceeded.
	DP DPConfig
	// Audit, if not nil, receives the coordinator's audit entries: joins,
	// attempts, contributions received (digests), refusals, aggregates,
	// the contributors' countersignatures, model versions and epsilon.
	Audit *audit.Log
	// StateDir holds the checkpoint ("" disables checkpoints).
	StateDir string
	// Logger receives structured events (nil: discard). Never a data value.
	Logger *slog.Logger
	// Metrics, if not nil, is updated as rounds progress.
	Metrics *Metrics
	// Progress, if not nil, is called after each training round.
	Progress func(RoundReport)
}

// Coordinator drives the rounds of a federation over a transport.
type Coordinator struct {
	cfg      CoordinatorConfig
	log      *slog.Logger
	proto    netProtocol
	strategy Strategy
	ids      map[transport.PeerID]ed25519.PublicKey

	mu    sync.Mutex
	nodes map[transport.PeerID]*nodeInfo

	ck     checkpoint
	global model.Model
	dp     *simDP
	// Stopped explains an early stop (the privacy budget ran out).
	Stopped string
}

type nodeInfo struct {
	lastSeen time.Time
	examples uint64
	features uint32
	mheReady bool
}

// checkpoint is the coordinator's durable state, written after every
// attempt and round.
type checkpoint struct {
	Federation     string    `json:"federation"`
	ManifestDigest string    `json:"manifest_digest"`
	Round          int       `json:"round"`   // last finished training round
	Attempt        uint64    `json:"attempt"` // last attempt number used
	Mean           []float32 `json:"mean,omitempty"`
	Std            []float32 `json:"std,omitempty"`
	StrategyState  []float32 `json:"strategy_state,omitempty"`
	// MHEReady records that the federation's mhe key setup completed.
	MHEReady bool          `json:"mhe_ready,omitempty"`
	History  []RoundReport `json:"history,omitempty"`
}

// ErrRefused marks attempts that could not proceed because participants
// refused them (their policies or the manifest forbid the round).
var ErrRefused = errors.New("federated: round refused by nodes")

// maxExamples bounds the example count a node may claim (2^40).
const maxExamples = 1 << 40

// maxMetricExamples bounds the held-out examples a node may report per round.
const maxMetricExamples = 1 << 32

// maxRefusedAttempts is how many attempts in a row may fail on refusals
// before the coordinator gives up.
const maxRefusedAttempts = 3

// ErrCheckpoint marks a checkpoint that cannot be resumed.
var ErrCheckpoint = errors.New("federated: checkpoint")

// NewCoordinator validates cfg.
func NewCoordinator(cfg CoordinatorConfig) (*Coordinator, error) {
	if cfg.Bound == 0 {
		cfg.Bound = 4
	}
	if cfg.StepTimeout == 0 {
		cfg.StepTimeout = 30 * time.Second
	}
	if cfg.LiveWindow == 0 {
		cfg.LiveWindow = 4 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case len(cfg.Nodes) == 0:
		return nil, fmt.Errorf("%w: no nodes", ErrBadConfig)
	case cfg.Threshold < 1 || cfg.Threshold > len(cfg.Nodes):
		return nil, fmt.Errorf("%w: threshold %d must be in 1..%d", ErrBadConfig, cfg.Threshold, len(cfg.Nodes))
	case cfg.MinParticipants < cfg.Threshold || cfg.MinParticipants > len(cfg.Nodes):
		return nil, fmt.Errorf("%w: min_participants %d must be in threshold..nodes", ErrBadConfig, cfg.MinParticipants)
	case cfg.Rounds < 1:
		return nil, fmt.Errorf("%w: rounds must be >= 1", ErrBadConfig)
	case cfg.Features < 1 || cfg.Classes < 2:
		return nil, fmt.Errorf("%w: need features >= 1 and classes >= 2", ErrBadConfig)
	}
	p, err := lookupProtocol(cfg.Protocol)
	if err != nil {
		return nil, err
	}
	var mheState *netMHE
	st, err := NewStrategy(cfg.Strategy)
	if err != nil {
		return nil, err
	}
	ids := make(map[transport.PeerID]ed25519.PublicKey, len(cfg.Nodes))
	for _, n := range cfg.Nodes {
		pk, err := identity.PublicKey(n)
		if err != nil {
			// In-memory networks name peers freely; protocols that
			// sign need real peer IDs and fail at NewServer.
			pk = nil
		}
		ids[n] = pk
	}
	g, err := model.New(cfg.Model, cfg.Features, cfg.Classes, cfg.Seed)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	if cfg.Protocol == "mhe" {
		if mheState, err = newNetMHE(cfg.FederationID, cfg.Nodes, cfg.Threshold, g.NumParams()); err != nil {
			return nil, err
		}
		p = mheProtocol{st: mheState}
	}
	c := &Coordinator{
		cfg: cfg, log: cfg.Logger, proto: p, strategy: st, ids: ids,
		nodes: map[transport.PeerID]*nodeInfo{}, global: g,
		ck: checkpoint{Federation: cfg.FederationID, ManifestDigest: hex.EncodeToString(cfg.ManifestDigest)},
	}
	if cfg.DP.Enabled() {
		// Every node takes part in every round it is live for: sampling
		// rate 1 is the conservative account.
		sc := SimConfig{Parties: len(cfg.Nodes), Fraction: 1, Threshold: cfg.Threshold, DP: cfg.DP, Bound: cfg.Bound}
		sc.defaults()
		// With secagg the nodes add Skellam shares in the ring
		// (NodeDPMechanism); the account uses the scale of a round with
		// every node, the coarsest, so it never under-counts.
		var ra Aggregator
		if cfg.Protocol == "secagg" {
			ra = NewSecAgg(SecAggConfig{})
		}
		if c.dp, err = newSimDP(sc, g.NumParams(), ra); err != nil {
			return nil, err
		}
	}
	if err := c.load(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Coordinator) checkpointPath() string { return filepath.Join(c.cfg.StateDir, "checkpoint") }

// load resumes from the checkpoint in StateDir, if any.
func (c *Coordinator) load() error {
	if c.cfg.StateDir == "" {
		return nil
	}
	if err := os.MkdirAll(c.cfg.StateDir, 0o700); err != nil {
		return err
	}
	mf, err := ReadModelFile(c.checkpointPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCheckpoint, err)
	}
	var ck checkpoint
	if err := jsonUnmarshal(mf.Checkpoint, &ck); err != nil {
		return fmt.Errorf("%w: %w", ErrCheckpoint, err)
	}
	if ck.Federation != c.ck.Federation || ck.ManifestDigest != c.ck.ManifestDigest {
		return fmt.Errorf("%w: %s was written for another federation or manifest", ErrCheckpoint, c.checkpointPath())
	}
	if len(mf.Params) != c.global.NumParams() {
		return fmt.Errorf("%w: checkpoint has %d parameters, the model %d", ErrCheckpoint, len(mf.Params), c.global.NumParams())
	}
	copy(c.global.Params(), mf.Params)
	if c.dp != nil {
		for range ck.Round {
			if _, err := c.dp.budget.Spend(); err != nil {
				return fmt.Errorf("%w: %w", ErrCheckpoint, err)
			}
		}
	}
	if s, ok := c.strategy.(statefulStrategy); ok && len(ck.StrategyState) > 0 {
		if err := s.restore(ck.StrategyState); err != nil {
			return fmt.Errorf("%w: %w", ErrCheckpoint, err)
		}
	}
	c.ck = ck
	c.log.Info("resumed from checkpoint", "round", ck.Round, "attempt", ck.Attempt)
	return nil
}

// save writes the checkpoint atomically (write, fsync, rename, fsync dir).
func (c *Coordinator) save() error {
	if c.cfg.StateDir == "" {
		return nil
	}
	if s, ok := c.strategy.(statefulStrategy); ok {
		c.ck.StrategyState = s.state()
	}
	mf := c.modelFile()
	var err error
	mf.Checkpoint, err = jsonMarshal(c.ck)
	if err != nil {
		return err
	}
	b, err := mf.MarshalBinary()
	if err != nil {
		return err
	}
	return WriteFileAtomic(c.checkpointPath(), b, 0o600)
}

func (c *Coordinator) modelFile() *ModelFile {
	return &ModelFile{
		Spec: c.cfg.Model, Features: c.cfg.Features, Classes: c.cfg.Classes,
		FeatureNames: c.cfg.FeatureNames, ClassNames: c.cfg.ClassNames, Label: c.cfg.Label,
		Mean: c.ck.Mean, Std: c.ck.Std, Federation: c.cfg.FederationID, Round: c.ck.Round,
		Params: slices.Clone(c.global.Params()),
	}
}

// Round returns the last finished training round.
func (c *Coordinator) Round() int { return c.ck.Round }

// Run drives the federation until all rounds are done, then sends the final
// model to every node and returns it. It resumes from the checkpoint in
// StateDir if there is one.
func (c *Coordinator) Run(ctx context.Context, tr transport.Transport) (*ModelFile, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	inbox := make(chan transport.Incoming, 256)
	pumpErr := make(chan error, 1)
	go func() {
		for {
			in, err := tr.Recv(ctx)
			if err != nil {
				pumpErr <- err
				return
			}
			select {
			case inbox <- in:
			case <-ctx.Done():
				return
			}
		}
	}()
	r := &coordRun{c: c, tr: tr, inbox: inbox, pumpErr: pumpErr}
	defer r.closeOutboxes(0) // stop the per-peer senders whatever happens
	if _, ok := c.proto.(mheProtocol); ok && !c.ck.MHEReady {
		if err := r.mheSetup(ctx); err != nil {
			return nil, err
		}
	}
	if c.cfg.Standardize && c.ck.Std == nil {
		if c.dp != nil {
			c.log.Warn("the standardisation statistics are released without DP noise and are not in the epsilon account (see package federated, Differential privacy)")
		}
		if err := r.statistics(ctx); err != nil {
			return nil, err
		}
	}
	for c.ck.Round < c.cfg.Rounds {
		if c.dp != nil {
			if n, err := c.dp.budget.Affordable(1); err != nil {
				return nil, err
			} else if n == 0 {
				next, _ := c.dp.budget.Next()
				c.Stopped = fmt.Sprintf("privacy budget: round %d would bring epsilon to %.4g, over the budget %g at delta %g; stopped after round %d (epsilon %.4g)",
					c.ck.Round+1, next, c.cfg.DP.EpsilonBudget, c.cfg.DP.Delta, c.ck.Round, c.dp.budget.Epsilon())
				c.log.Warn("privacy budget exhausted; training stops", "round", c.ck.Round)
				break
			}
		}
		rep, err := r.trainRound(ctx, c.ck.Round+1)
		if err != nil {
			return nil, err
		}
		if rep.Aborted {
			continue
		}
		c.ck.Round = rep.Round
		if c.dp != nil {
			if rep.Epsilon, err = c.dp.budget.Spend(); err != nil {
				return nil, err
			}
			if err := c.record(audit.Entry{Kind: audit.KindEpsilon, Round: c.ck.Attempt, Epsilon: rep.Epsilon, Delta: c.cfg.DP.Delta}); err != nil {
				return nil, err
			}
		}
		c.ck.History = append(c.ck.History, rep)
		if err := c.save(); err != nil {
			return nil, fmt.Errorf("checkpoint: %w", err)
		}
		if c.cfg.Metrics != nil {
			c.cfg.Metrics.roundDone(rep)
		}
		if c.cfg.Progress != nil {
			c.cfg.Progress(rep)
		}
	}
	mf := c.modelFile()
	r.finish(ctx, mf)
	if c.cfg.StateDir != "" {
		if err := WriteModelFile(filepath.Join(c.cfg.StateDir, "model.consort"), mf); err != nil {
			return nil, err
		}
	}
	return mf, nil
}

// History returns the reports of the finished training rounds.
func (c *Coordinator) History() []RoundReport { return slices.Clone(c.ck.History) }

// coordRun is the state of one Run: the inbox and the current attempt.
type coordRun struct {
	c       *Coordinator
	tr      transport.Transport
	inbox   chan transport.Incoming
	pumpErr chan error
	// auditFail holds the first audit write error seen in a handler that
	// cannot return one; the run stops at its next check.
	auditFail error

	// Outgoing messages go through one FIFO queue per peer, drained by its
	// own goroutine, so a slow or dead peer never stalls the event loop and
	// each peer still sees its messages in order.
	outMu   sync.Mutex
	outbox  map[transport.PeerID]chan transport.Message
	down    map[transport.PeerID]bool // last send failed; cleared by a hello
	senders sync.WaitGroup
	// refused collects the refusals of the current attempt, from its
	// participants.
	refused       map[transport.PeerID]string
	participant   map[transport.PeerID]bool
	refusedInARow int
}

// outboxSize bounds the messages queued for one peer.
const outboxSize = 1024

// enqueue queues msg for peer p.
func (r *coordRun) enqueue(ctx context.Context, p transport.PeerID, msg transport.Message) {
	r.outMu.Lock()
	defer r.outMu.Unlock()
	if r.outbox == nil {
		r.outbox = map[transport.PeerID]chan transport.Message{}
		r.down = map[transport.PeerID]bool{}
	}
	q := r.outbox[p]
	if q == nil {
		q = make(chan transport.Message, outboxSize)
		r.outbox[p] = q
		r.senders.Go(func() { r.drainPeer(ctx, p, q) })
	}
	select {
	case q <- msg:
	default:
		r.c.log.Warn("outbox full; message dropped", "peer", p, "type", msg.Type)
	}
}

// drainPeer sends p's queued messages in order. After a failed send the peer
// counts as down and its queued messages are dropped until it says hello
// again (the protocols treat it as dropped).
func (r *coordRun) drainPeer(ctx context.Context, p transport.PeerID, q chan transport.Message) {
	for msg := range q {
		r.outMu.Lock()
		down := r.down[p]
		r.outMu.Unlock()
		if down && msg.Type != typeDone {
			r.c.log.Debug("peer down; message dropped", "peer", p, "type", msg.Type)
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, r.c.cfg.StepTimeout)
		err := r.tr.Send(sctx, p, msg)
		cancel()
		if err != nil {
			r.c.log.Warn("send failed", "peer", p, "type", msg.Type, "err", err)
			r.outMu.Lock()
			r.down[p] = true
			r.outMu.Unlock()
		}
	}
}

// peerAlive clears p's down mark (it said hello).
func (r *coordRun) peerAlive(p transport.PeerID) {
	r.outMu.Lock()
	if r.down != nil {
		delete(r.down, p)
	}
	r.outMu.Unlock()
}

// closeOutboxes stops accepting messages and waits up to timeout for the
// queues to drain.
func (r *coordRun) closeOutboxes(timeout time.Duration) {
	r.outMu.Lock()
	for p, q := range r.outbox {
		close(q)
		delete(r.outbox, p)
	}
	r.outMu.Unlock()
	if timeout <= 0 {
		return
	}
	done := make(chan struct{})
	go func() { r.senders.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
		r.c.log.Warn("some final messages were not delivered in time")
	}
}

func (r *coordRun) auditErr(err error) {
	if err != nil && r.auditFail == nil {
		r.auditFail = err
	}
}

// handleIdle processes a message that belongs to no running attempt.
func (r *coordRun) handleIdle(in transport.Incoming, attempt uint64) {
	c := r.c
	switch in.Type {
	case typeHello:
		var h trainpb.Hello
		if err := proto.Unmarshal(in.Payload, &h); err != nil {
			c.log.Warn("malformed hello", "peer", in.From)
			return
		}
		if _, ok := c.ids[in.From]; !ok {
			c.log.Warn("hello from a peer that is not a node", "peer", in.From)
			return
		}
		if h.Examples > maxExamples {
			// FedAvg weights come from these counts: an absurd claim
			// could overflow the total or swamp every other team.
			c.log.Warn("hello claims an implausible number of examples; ignored", "peer", in.From)
			return
		}
		c.mu.Lock()
		n := c.nodes[in.From]
		if n == nil {
			n = &nodeInfo{}
			c.nodes[in.From] = n
			c.log.Info("node joined", "peer", in.From, "examples", h.Examples)
			r.auditErr(c.record(audit.Entry{Kind: audit.KindJoin, Peer: string(in.From)}))
		}
		n.lastSeen = time.Now()
		r.peerAlive(in.From)
		n.examples = h.Examples
		n.features = h.Features
		n.mheReady = h.MheReady
		c.mu.Unlock()
	case typeRefusal:
		var rf trainpb.Refusal
		if proto.Unmarshal(in.Payload, &rf) != nil || rf.Attempt != attempt || r.refused == nil || r.refused[in.From] != "" || !r.participant[in.From] {
			// Only a participant of the running attempt may refuse it,
			// once: anything else would let a member flood the audit log.
			c.log.Debug("refusal ignored", "peer", in.From)
			return
		}
		rf.Code = refusalCode(rf.Code)
		{
			c.log.Warn("node refused", "peer", in.From, "attempt", rf.Attempt, "code", rf.Code, "detail", rf.Detail)
			r.auditErr(c.record(audit.Entry{Kind: audit.KindRefusal, Round: rf.Attempt, Peer: string(in.From), Reason: rf.Code}))
			if rf.Attempt == attempt && r.refused != nil {
				r.refused[in.From] = rf.Code
			}
			if c.cfg.Metrics != nil {
				c.cfg.Metrics.Refusals.WithLabelValues(rf.Code).Inc()
			}
		}
	default:
		if in.Round < attempt {
			c.log.Debug("late message dropped", "peer", in.From, "type", in.Type, "round", in.Round)
			if c.cfg.Metrics != nil {
				c.cfg.Metrics.LateMessages.Inc()
			}
		}
	}
}

// live returns the nodes seen within the live window that can contribute
// (they hold data with the agreed number of features), sorted.
func (r *coordRun) live() ([]transport.PeerID, map[transport.PeerID]uint64) {
	c := r.c
	c.mu.Lock()
	defer c.mu.Unlock()
	_, isMHE := c.proto.(mheProtocol)
	needKeys := isMHE && c.ck.MHEReady
	var out []transport.PeerID
	ex := map[transport.PeerID]uint64{}
	for id, n := range c.nodes {
		if needKeys && !n.mheReady {
			continue
		}
		if time.Since(n.lastSeen) <= c.cfg.LiveWindow && n.examples > 0 && int(n.features) == c.cfg.Features {
			out = append(out, id)
			ex[id] = n.examples
		}
	}
	slices.Sort(out)
	return out, ex
}

// waitParticipants processes hellos until at least MinParticipants nodes are live.
func (r *coordRun) waitParticipants(ctx context.Context, need int) ([]transport.PeerID, map[transport.PeerID]uint64, error) {
	c := r.c
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	lastLog := time.Time{}
	for {
		live, ex := r.live()
		if len(live) >= need {
			return live, ex, nil
		}
		if time.Since(lastLog) > 5*time.Second {
			c.log.Info("waiting for nodes", "live", len(live), "need", need)
			lastLog = time.Now()
		}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case err := <-r.pumpErr:
			return nil, nil, err
		case in := <-r.inbox:
			r.handleIdle(in, c.ck.Attempt)
		case <-tick.C:
		}
	}
}

// attemptResult is what one attempt of the protocol released.
type attemptResult struct {
	sum          []float32
	contributors []transport.PeerID
	weight       float64 // sum of the contributors' FedAvg weights
	bytesUp      int64
	aborted      error
	allRefused   bool // aborted because too many participants refused
	participants []transport.PeerID
	examples     map[transport.PeerID]uint64
}

// attempt runs one attempt of the protocol: RoundStart to the live nodes,
// then the session until it releases an aggregate or aborts.
func (r *coordRun) attempt(ctx context.Context, start *trainpb.RoundStart) (*attemptResult, error) {
	c := r.c
	need := c.cfg.MinParticipants
	if start.Phase == trainpb.Phase_PHASE_MHE_SETUP {
		need = len(c.cfg.Nodes)
	}
	parts, ex, err := r.waitParticipants(ctx, need)
	if err != nil {
		return nil, err
	}
	c.ck.Attempt++
	if err := c.save(); err != nil { // never reuse an attempt number after a crash
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	attempt := c.ck.Attempt
	// The coordinator does not call tr.SetRound: hellos are round-less, and
	// messages of finished attempts are dropped and counted below.
	// FedAvg weights come from the counts the nodes claim: cap each at a
	// thousand times the median claim, so one node cannot swamp the others
	// arbitrarily while real quantity skew passes (a node whose claim is
	// capped sees a total below its own count and refuses). Robustness to
	// poisoned updates is outside the threat model (DESIGN.md).
	counts := make([]uint64, 0, len(parts))
	for _, p := range parts {
		counts = append(counts, ex[p])
	}
	slices.Sort(counts)
	capEx := max(1000*counts[len(counts)/2], 1)
	for _, p := range parts {
		ex[p] = min(ex[p], capEx)
	}
	var total uint64
	ids := make([]ed25519.PublicKey, len(parts)+1)
	names := make([]string, len(parts))
	index := map[transport.PeerID]int{}
	for i, p := range parts {
		total += ex[p]
		ids[i+1] = c.ids[p]
		names[i] = string(p)
		index[p] = i + 1
	}
	start.Attempt = attempt
	start.Protocol = c.proto.Name()
	start.Participants = names
	start.Threshold = uint32(c.cfg.Threshold)
	start.TotalExamples = total
	start.Rounds = uint32(c.cfg.Rounds)
	sp := sessionParams{
		FederationID: c.cfg.FederationID, Attempt: attempt, Parties: len(parts),
		Threshold: c.cfg.Threshold, Dim: int(start.Dim), Bound: start.Bound,
		Wide: start.Phase != trainpb.Phase_PHASE_TRAIN, Peers: parts,
		Setup: start.Phase == trainpb.Phase_PHASE_MHE_SETUP,
	}
	srv, err := c.proto.NewServer(sp, ids)
	if err != nil {
		return nil, err
	}
	payload, err := proto.Marshal(start)
	if err != nil {
		return nil, err
	}
	c.log.Info("attempt start", "attempt", attempt, "round", start.Round, "phase", start.Phase.String(), "participants", len(parts))
	if err := c.record(audit.Entry{Kind: audit.KindRoundStart, Round: attempt, Contributors: peerStrings(parts),
		Fields: map[string]string{"round": fmt.Sprint(start.Round), "phase": start.Phase.String(), "protocol": start.Protocol}}); err != nil {
		return nil, err
	}
	stepStart := time.Now()
	r.broadcast(ctx, parts, transport.Message{Type: typeRoundStart, Round: attempt, Payload: payload})

	res := &attemptResult{participants: parts, examples: ex}
	contributed := map[int]bool{}
	r.refused = map[transport.PeerID]string{}
	r.participant = map[transport.PeerID]bool{}
	for _, p := range parts {
		r.participant[p] = true
	}
	defer func() { r.refused, r.participant = nil, nil }()
	deadline := time.NewTimer(c.cfg.StepTimeout)
	defer deadline.Stop()
	send := func(outs []netMsg) {
		if len(outs) == 0 {
			return
		}
		if c.cfg.Metrics != nil {
			c.cfg.Metrics.StepSeconds.WithLabelValues(c.proto.Name()).Observe(time.Since(stepStart).Seconds())
		}
		stepStart = time.Now()
		deadline.Reset(c.cfg.StepTimeout)
		for _, o := range outs {
			if o.Peer < 1 || o.Peer > len(parts) {
				continue
			}
			r.enqueue(ctx, parts[o.Peer-1], transport.Message{Type: o.Type, Round: attempt, Step: o.Step, Payload: o.Payload})
		}
	}
	for {
		if sum, contrib, ok := srv.Result(); ok {
			res.sum = sum
			for _, i := range contrib {
				res.contributors = append(res.contributors, parts[i-1])
				res.weight += float64(ex[parts[i-1]]) / float64(total)
			}
			break
		}
		if err := srv.Failed(); err != nil {
			res.aborted = err
			break
		}
		if r.auditFail != nil {
			return nil, r.auditFail
		}
		if len(parts)-len(r.refused) < max(c.cfg.Threshold, 1) {
			// Too many refusals for an aggregate: stop now, not at the deadline.
			codes := map[string]bool{}
			for _, code := range r.refused {
				codes[code] = true
			}
			res.aborted = fmt.Errorf("%w: %d of %d participants refused (%s)", ErrRefused, len(r.refused), len(parts), strings.Join(slices.Sorted(maps.Keys(codes)), ", "))
			res.allRefused = true
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case err := <-r.pumpErr:
			return nil, err
		case <-deadline.C:
			c.log.Info("step deadline passed", "attempt", attempt)
			outs, err := srv.Advance()
			if err != nil {
				c.log.Warn("protocol", "attempt", attempt, "err", err)
			}
			send(outs)
			if len(outs) == 0 {
				deadline.Reset(c.cfg.StepTimeout)
			}
		case in := <-r.inbox:
			idx, isPart := index[in.From]
			if in.Round != attempt || !isPart || in.Type == typeHello || in.Type == typeRefusal || in.Type == typeMetrics {
				r.handleIdle(in, attempt)
				continue
			}
			res.bytesUp += int64(len(in.Payload))
			if in.Type == c.proto.ContributionType() && !contributed[idx] {
				contributed[idx] = true
				if err := c.record(audit.Entry{Kind: audit.KindContributionReceived, Round: attempt, Peer: string(in.From), Digest: audit.Digest(in.Payload)}); err != nil {
					return nil, err
				}
			}
			outs, err := srv.Handle(idx, netMsg{Peer: idx, Type: in.Type, Step: in.Step, Payload: in.Payload})
			if err != nil {
				c.log.Warn("protocol message rejected", "peer", in.From, "type", in.Type, "err", err)
				continue
			}
			send(outs)
		}
	}
	if res.allRefused {
		r.refusedInARow++
		if r.refusedInARow >= maxRefusedAttempts {
			return nil, fmt.Errorf("%w: %d attempts in a row; last: %w", ErrRefused, r.refusedInARow, res.aborted)
		}
	} else {
		r.refusedInARow = 0
	}
	if res.aborted != nil {
		// Back off briefly before the retry, still serving hellos.
		r.pause(ctx, min(c.cfg.StepTimeout, time.Second))
	}
	return res, nil
}

// pause handles idle messages for d.
func (r *coordRun) pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			return
		case in := <-r.inbox:
			r.handleIdle(in, r.c.ck.Attempt)
		}
	}
}

// broadcast queues msg for every peer; failures are logged (the protocol
// treats an unreachable peer as dropped).
func (r *coordRun) broadcast(ctx context.Context, peers []transport.PeerID, msg transport.Message) {
	for _, p := range peers {
		r.enqueue(ctx, p, msg)
	}
}

// statistics runs the two standardisation phases: the weighted mean of the
// nodes' feature means, then the weighted mean of their variances about the
// global mean. Each is an ordinary protected aggregate, so the coordinator
// learns only federation-wide statistics.
func (r *coordRun) statistics(ctx context.Context) error {
	c := r.c
	d := c.cfg.Features
	_, split := c.proto.(mheProtocol)
	dim, bound := d, float32(statsBound)
	if split {
		dim, bound = 2*d, 1<<statsSplitBits
	}
	decode := func(sum []float32, weight float64) []float64 {
		v := make([]float64, d)
		if split {
			v = joinStats(sum)
		} else {
			for j := range v {
				v[j] = float64(sum[j])
			}
		}
		for j := range v {
			v[j] /= weight
		}
		return v
	}
	var mean []float32
	for mean == nil {
		res, err := r.attempt(ctx, &trainpb.RoundStart{Phase: trainpb.Phase_PHASE_STATS_MEAN, Dim: uint32(dim), Bound: bound})
		if err != nil {
			return err
		}
		if res.aborted != nil {
			c.log.Warn("statistics attempt aborted; retrying", "err", res.aborted)
			continue
		}
		mean = make([]float32, d)
		for j, m := range decode(res.sum, res.weight) {
			mean[j] = float32(m)
		}
	}
	for c.ck.Std == nil {
		res, err := r.attempt(ctx, &trainpb.RoundStart{Phase: trainpb.Phase_PHASE_STATS_VAR, Dim: uint32(dim), Bound: bound, Mean: f32bytes(mean)})
		if err != nil {
			return err
		}
		if res.aborted != nil {
			c.log.Warn("statistics attempt aborted; retrying", "err", res.aborted)
			continue
		}
		v := decode(res.sum, res.weight)
		std := make([]float32, d)
		for i, x := range v {
			s := math.Sqrt(math.Max(x, 0))
			if s < 1e-6 {
				s = 1 // a constant feature maps to 0, as in data.Scaler
			}
			std[i] = float32(s)
		}
		c.ck.Mean, c.ck.Std = mean, std
	}
	c.log.Info("standardisation statistics released", "features", d)
	return c.save()
}

// mheSetup runs the federation's multiparty-HE key setup with every node.
func (r *coordRun) mheSetup(ctx context.Context) error {
	c := r.c
	for {
		res, err := r.attempt(ctx, &trainpb.RoundStart{Phase: trainpb.Phase_PHASE_MHE_SETUP, Bound: 1})
		if err != nil {
			return err
		}
		if res.aborted == nil {
			break
		}
		c.log.Warn("mhe key setup attempt failed; retrying when every node is live", "err", res.aborted)
	}
	c.ck.MHEReady = true
	c.log.Info("mhe key setup done")
	// Give the nodes a moment to store their key material and say so.
	if err := r.waitReady(ctx); err != nil {
		return err
	}
	return c.save()
}

// waitReady waits until MinParticipants nodes report their mhe keys.
func (r *coordRun) waitReady(ctx context.Context) error {
	_, _, err := r.waitParticipants(ctx, r.c.cfg.MinParticipants)
	return err
}

// trainRound runs attempts of training round k until one releases an aggregate.
func (r *coordRun) trainRound(ctx context.Context, k int) (RoundReport, error) {
	c := r.c
	t0 := time.Now()
	start := &trainpb.RoundStart{
		Round: uint32(k), Phase: trainpb.Phase_PHASE_TRAIN, Dim: uint32(c.global.NumParams()),
		Bound: c.cfg.Bound, Params: f32bytes(c.global.Params()),
	}
	if c.dp != nil {
		start.Bound = c.dp.bound
		start.Epsilon, _ = c.dp.budget.Next()
	}
	if c.ck.Std != nil {
		start.Mean, start.Std = f32bytes(c.ck.Mean), f32bytes(c.ck.Std)
	}
	res, err := r.attempt(ctx, start)
	if err != nil {
		return RoundReport{}, err
	}
	rep := RoundReport{Round: k, Rounds: c.cfg.Rounds, Participants: len(res.participants), Contributors: len(res.contributors), BytesUp: res.bytesUp}
	end := &trainpb.RoundEnd{Attempt: c.ck.Attempt, Round: uint32(k)}
	if res.aborted != nil {
		rep.Aborted = true
		end.Aborted = true
		c.log.Warn("round aborted; no aggregate released; retrying with the live nodes", "round", k, "attempt", c.ck.Attempt, "err", res.aborted)
		if c.cfg.Metrics != nil {
			c.cfg.Metrics.RoundsAborted.Inc()
		}
		if err := c.save(); err != nil {
			return rep, err
		}
		payload, _ := proto.Marshal(end)
		r.broadcast(ctx, res.participants, transport.Message{Type: typeRoundEnd, Round: c.ck.Attempt, Payload: payload})
		return rep, nil
	}
	digest := sha256.Sum256(f32bytes(res.sum))
	end.AggregateDigest = digest[:]
	end.Contributors = uint32(len(res.contributors))
	aggDigest := hex.EncodeToString(digest[:])
	if err := c.record(audit.Entry{Kind: audit.KindAggregate, Round: c.ck.Attempt, Digest: aggDigest, Contributors: peerStrings(res.contributors),
		Fields: map[string]string{"round": fmt.Sprint(k)}}); err != nil {
		return rep, err
	}
	if c.dp != nil {
		// DP updates are unweighted: every contributor is one privacy unit.
		res.weight = float64(len(res.contributors))
	}
	c.strategy.Apply(c.global.Params(), scaleBy(res.sum, 1/res.weight))
	end.Params = f32bytes(c.global.Params())
	if err := c.record(audit.Entry{Kind: audit.KindModelVersion, Round: c.ck.Attempt, Digest: audit.Digest(end.Params),
		Fields: map[string]string{"round": fmt.Sprint(k)}}); err != nil {
		return rep, err
	}
	payload, err := proto.Marshal(end)
	if err != nil {
		return rep, err
	}
	r.broadcast(ctx, res.participants, transport.Message{Type: typeRoundEnd, Round: c.ck.Attempt, Payload: payload})
	rep.Loss, rep.Accuracy = r.collectMetrics(ctx, k, res.contributors, aggDigest)
	if r.auditFail != nil {
		return rep, r.auditFail
	}
	rep.Seconds = time.Since(t0).Seconds()
	c.log.Info("round done", "round", k, "contributors", rep.Contributors, "accuracy", rep.Accuracy, "seconds", rep.Seconds)
	return rep, nil
}

// collectMetrics gathers the nodes' evaluations of the new global model on
// their held-out examples (counts only) for a short while.
func (r *coordRun) collectMetrics(ctx context.Context, k int, from []transport.PeerID, aggDigest string) (loss, acc float64) {
	c := r.c
	want := map[transport.PeerID]bool{}
	for _, p := range from {
		want[p] = true
	}
	var n, correct uint64
	var lossSum float64
	timer := time.NewTimer(min(c.cfg.StepTimeout, 5*time.Second))
	defer timer.Stop()
	for len(want) > 0 {
		select {
		case <-ctx.Done():
			return -1, -1
		case <-timer.C:
			want = nil
		case in := <-r.inbox:
			if in.Type != typeMetrics || !want[in.From] {
				r.handleIdle(in, c.ck.Attempt)
				continue
			}
			var m trainpb.Metrics
			if proto.Unmarshal(in.Payload, &m) != nil || int(m.Round) != k || m.Correct > m.Examples ||
				m.Examples > maxMetricExamples || !(m.LossSum >= 0) || math.IsInf(m.LossSum, 0) {
				c.log.Warn("implausible metrics ignored", "peer", in.From)
				continue
			}
			delete(want, in.From)
			if m.Countersig != "" {
				r.auditErr(c.record(audit.Entry{Kind: audit.KindCountersign, Round: c.ck.Attempt, Peer: string(in.From), Digest: aggDigest,
					Fields: map[string]string{"countersig": m.Countersig}}))
			}
			n += m.Examples
			correct += m.Correct
			lossSum += m.LossSum
		}
	}
	if n == 0 {
		return -1, -1 // no contributor reported held-out metrics
	}
	if lossSum == 0 {
		// Nodes report counts of correct predictions only (a loss would be a
		// finer oracle on their rows).
		return -1, float64(correct) / float64(n)
	}
	return lossSum / float64(n), float64(correct) / float64(n)
}

// finish sends the final model to every node that is live.
func (r *coordRun) finish(ctx context.Context, mf *ModelFile) {
	done := &trainpb.Done{Rounds: uint32(mf.Round), Params: f32bytes(mf.Params), Mean: f32bytes(mf.Mean), Std: f32bytes(mf.Std)}
	payload, err := proto.Marshal(done)
	if err != nil {
		return
	}
	live, _ := r.live()
	r.broadcast(ctx, live, transport.Message{Type: typeDone, Round: r.c.ck.Attempt, Payload: payload})
	r.closeOutboxes(r.c.cfg.StepTimeout)
}

func scaleBy(v []float32, s float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(float64(x) * s)
	}
	return out
}

// f32bytes encodes float32 values little-endian.
func f32bytes(v []float32) []byte {
	if len(v) == 0 {
		return nil
	}
	b := make([]byte, 0, 4*len(v))
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

// bytesF32 decodes want float32 values; the length is checked first.
func bytesF32(b []byte, want int) ([]float32, error) {
	if len(b) != 4*want {
		return nil, fmt.Errorf("%w: %d bytes for %d float32 values", ErrSession, len(b), want)
	}
	out := make([]float32, want)
	for i := range out {
		v := math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("%w: non-finite value", ErrSession)
		}
		out[i] = v
	}
	return out, nil
}

// record appends an audit entry; an audit log that cannot be written stops
// the coordinator (governance is not optional once configured).
func (c *Coordinator) record(e audit.Entry) error {
	if c.cfg.Audit == nil {
		return nil
	}
	if _, err := c.cfg.Audit.Append(e); err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	return nil
}

func peerStrings(ps []transport.PeerID) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = string(p)
	}
	return out
}

// refusalCode maps a refusal's code to the known reason codes (package
// policy's and the drivers'); anything else is recorded as "other", so a
// member cannot invent unbounded metric labels.
func refusalCode(c string) string {
	switch c {
	case "coordinator", "purpose", "protocol", "min-contributors", "rounds", "epsilon", "invalid-proposal", "repeat", "error":
		return c
	}
	return "other"
}
