package engine

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/consort-ml/consort/federated/audit"
	"github.com/consort-ml/consort/federated/model"
	"github.com/consort-ml/consort/federated/privacy"
	"github.com/consort-ml/consort/federated/strategy"
	"github.com/consort-ml/consort/federated/trainpb"
	"github.com/consort-ml/consort/mpc"
	"github.com/consort-ml/consort/transport"
	"google.golang.org/protobuf/proto"
)

// Coordinator defaults.
const (
	DefaultStepTimeout = 30 * time.Second
	DefaultLiveWindow  = 4 * time.Second
	DefaultGrace       = 2 * time.Second
	// DefaultMetricsWait bounds how long the coordinator waits for the
	// contributors' held-out metrics after a round.
	DefaultMetricsWait = 5 * time.Second
)

// maxExamples bounds the example count a node may claim (2^40).
const maxExamples = 1 << 40

// maxMetricExamples bounds the held-out examples a node may report per round.
const maxMetricExamples = 1 << 32

// maxRefusedAttempts is how many attempts in a row may fail on refusals
// before the coordinator gives up.
const maxRefusedAttempts = 3

var (
	// ErrRefused marks attempts that could not proceed because participants
	// refused them (their policies or the manifest forbid the round).
	ErrRefused = errors.New("engine: round refused by nodes")
	// ErrStalled marks a federation that cannot go on: too many nodes have
	// revealed their contribution to the current global model in attempts
	// that aborted, and a node never contributes twice to aggregates on one
	// model version.
	ErrStalled = errors.New("engine: federation stalled")
	// ErrCheckpoint marks a checkpoint that cannot be resumed.
	ErrCheckpoint = errors.New("engine: checkpoint")
)

// CoordinatorConfig configures a [Coordinator].
type CoordinatorConfig struct {
	// Federation is the federation's agreed settings.
	Federation Federation
	// ManifestDigest identifies the signed manifest (hex); a checkpoint
	// written under another manifest is refused.
	ManifestDigest string
	// Seed initialises the model and, with Fraction < 1, the participant
	// selection.
	Seed uint64
	// Fraction is the share of live nodes selected per training attempt
	// (default 1: all), never fewer than MinParticipants.
	Fraction float64
	// StepTimeout is the deadline of each protocol step (default
	// DefaultStepTimeout); LiveWindow how recently a node must have said
	// hello to be selected (default DefaultLiveWindow); Grace how long the
	// coordinator waits for more nodes once MinParticipants are live
	// (default DefaultGrace; it starts at once when every node is live);
	// MetricsWait how long it waits for held-out metrics (default
	// DefaultMetricsWait).
	StepTimeout, LiveWindow, Grace, MetricsWait time.Duration
	// FeatureNames, ClassNames and Label go into the model file.
	FeatureNames, ClassNames []string
	Label                    string
	// Resume is the checkpoint file to resume from (nil: a fresh start).
	Resume *model.File
	// Logger receives structured events (nil: discard). Never a data value.
	Logger *slog.Logger
}

// RoundReport describes one finished training round.
type RoundReport struct {
	Round        int  `json:"round"`
	Rounds       int  `json:"rounds"`
	Participants int  `json:"participants"`
	Contributors int  `json:"contributors"`
	Aborted      bool `json:"aborted,omitempty"`
	// Accuracy and Loss of the global model after the round, on the
	// contributors' held-out rows (counts pooled); -1 when none reported.
	// A simulation replaces them with the pooled test set's.
	Accuracy float64 `json:"accuracy"`
	Loss     float64 `json:"loss"`
	// BytesUp counts the protocol payload bytes the participants sent.
	BytesUp int64   `json:"bytes_up"`
	Seconds float64 `json:"seconds"`
	// Epsilon spent so far at the federation's delta (DP only).
	Epsilon float64 `json:"epsilon,omitempty"`
	// Attempt is the attempt that released the round.
	Attempt uint64 `json:"attempt,omitempty"`
}

// Checkpoint is the coordinator's durable state, written (inside a model
// file, with the global model as its parameters) before every RoundStart and
// after every released round.
type Checkpoint struct {
	Federation     string    `json:"federation"`
	ManifestDigest string    `json:"manifest_digest"`
	Round          int       `json:"round"`   // last finished training round
	Attempt        uint64    `json:"attempt"` // last attempt number used
	Mean           []float32 `json:"mean,omitempty"`
	Std            []float32 `json:"std,omitempty"`
	StrategyState  []float32 `json:"strategy_state,omitempty"`
	// StatsMean holds the released feature means until the variances are
	// released: the nodes never release their means twice, so a restarted
	// coordinator must not ask for them again.
	StatsMean []float32 `json:"stats_mean,omitempty"`
	// MHEReady records that the federation's mhe key setup completed.
	MHEReady bool          `json:"mhe_ready,omitempty"`
	History  []RoundReport `json:"history,omitempty"`
}

// Envelope is a message for a peer.
type Envelope struct {
	To  transport.PeerID
	Msg transport.Message
}

// Ready is what a state machine asks its driver to do, in order: persist
// Checkpoint (or State), append Audit, then send Messages. Nothing in it may
// be sent before what precedes it is durable.
type Ready struct {
	// Checkpoint is the coordinator's checkpoint file to write atomically.
	Checkpoint []byte
	// Audit entries to append.
	Audit []audit.Entry
	// Messages to send, in order per peer.
	Messages []Envelope
	// Reports of training rounds finished since the last Ready.
	Reports []RoundReport
	// Final is set once, when training is over: the final model file.
	Final *model.File
	// Stopped explains an early end (the privacy budget ran out).
	Stopped string
	// Err is set once the coordinator gave up (it is then final).
	Err error
}

type cState uint8

const (
	cIdle    cState = iota // deciding what to run next; waits for nodes
	cRunning               // an attempt is running
	cMetrics               // collecting held-out metrics of a released round
	cPause                 // backing off after an aborted attempt
	cDone                  // finished or failed
)

type nodeInfo struct {
	lastSeen time.Time
	examples uint64
	features uint32
	mheReady bool
	// misses counts the attempts in a row the node was selected for and
	// neither contributed to nor refused; from backoffAfter misses on it is
	// left out of selection until backoffUntil.
	misses       int
	backoffUntil time.Time
}

// Back-off of members that keep failing to contribute: after backoffAfter
// silent attempts in a row a node sits out for backoffBase, doubling with
// every further miss up to backoffMax, so one member that says hello and never
// sends keys cannot make every round wait for its step deadline.
const (
	backoffAfter = 2
	backoffBase  = 30 * time.Second
	backoffMax   = 30 * time.Minute
)

// Coordinator is the coordinator's pure state machine: participant
// selection, attempts and retries, the protection plan, DP accounting and the
// budget stop, the strategy step, checkpoint content and audit entries. It
// owns no goroutine, socket, file or clock: a driver feeds it messages
// ([Coordinator.Step]) and the time ([Coordinator.Tick]), and carries out its
// [Ready].
type Coordinator struct {
	cfg      CoordinatorConfig
	fed      Federation
	log      *slog.Logger
	proto    Protocol
	strategy strategy.Strategy
	global   model.Model
	ids      map[transport.PeerID]ed25519.PublicKey
	mhe      *mheFed
	budget   *privacy.Budget
	rng      *rand.Rand
	ck       Checkpoint

	nodes      map[transport.PeerID]*nodeInfo
	state      cState
	graceFrom  time.Time
	until      time.Time // cPause and cMetrics deadline
	att        *attempt
	mean       []float32 // released feature means, before the variances
	refusedRow int
	metrics    *metricsWait
	lastWait   time.Time
	aborts     int // training attempts aborted
	// exhausted holds the nodes that refused the current global model
	// because their contribution to it may already have entered an
	// aggregate (an attempt that aborted after they revealed); they are
	// left out until the model changes.
	exhausted map[transport.PeerID]bool
	stopped   string // why training ended early
	rd        Ready
}

// attempt is one protocol instance.
type attempt struct {
	start       *trainpb.RoundStart
	plan        *Plan
	srv         mpc.Server
	ex          map[transport.PeerID]uint64
	total       uint64
	deadline    time.Time
	began       time.Time
	refused     map[transport.PeerID]string
	contributed map[int]bool
	msgs        map[int]int // protocol messages received per participant
	bytesUp     int64
}

type metricsWait struct {
	rep       RoundReport
	want      map[transport.PeerID]bool
	digest    string
	n, right  uint64
	lossSum   float64
	lossCount uint64
}

// NewCoordinator validates cfg and resumes from cfg.Resume.
func NewCoordinator(cfg CoordinatorConfig) (*Coordinator, error) {
	if err := cfg.Federation.Validate(); err != nil {
		return nil, err
	}
	fed := cfg.Federation.Resolved()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.StepTimeout = orDefault(cfg.StepTimeout, DefaultStepTimeout)
	cfg.LiveWindow = orDefault(cfg.LiveWindow, DefaultLiveWindow)
	cfg.Grace = orDefault(cfg.Grace, DefaultGrace)
	cfg.MetricsWait = orDefault(cfg.MetricsWait, DefaultMetricsWait)
	if cfg.Fraction == 0 {
		cfg.Fraction = 1
	}
	if !(cfg.Fraction > 0 && cfg.Fraction <= 1) {
		return nil, fmt.Errorf("%w: fraction must be in (0, 1]", ErrConfig)
	}
	p, err := lookup(fed.Protocol)
	if err != nil {
		return nil, err
	}
	st, err := strategy.New(fed.Strategy)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	g, err := model.New(fed.Model, fed.Features, fed.Classes, cfg.Seed)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	c := &Coordinator{
		cfg: cfg, fed: fed, log: cfg.Logger, proto: p, strategy: st, global: g,
		ids: map[transport.PeerID]ed25519.PublicKey{}, nodes: map[transport.PeerID]*nodeInfo{},
		rng: rand.New(rand.NewPCG(cfg.Seed, 0x73656c656374)), // "select"
		ck:  Checkpoint{Federation: fed.ID, ManifestDigest: cfg.ManifestDigest},
	}
	for _, n := range fed.Nodes {
		// In-memory networks name peers freely; protocols that sign need
		// real peer IDs and fail when the plan is made.
		c.ids[n], _ = identityKey(n)
	}
	if fed.Protocol == "mhe" {
		if c.mhe, err = newMHEFed(fed, g.NumParams()); err != nil {
			return nil, err
		}
	}
	if fed.DP.Enabled() {
		if c.budget, err = fed.Budget(fed.Protocol, g.NumParams()); err != nil {
			return nil, err
		}
	}
	if cfg.Resume != nil {
		if err := c.resume(cfg.Resume); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Budget returns the federation's privacy account for protocol: every node
// takes part in every round it is live for (sampling rate 1, the
// conservative account), and with secagg the account uses the fixed-point
// scale of a round with every node, the coarsest, so it never under-counts.
func (f Federation) Budget(protocol string, params int) (*privacy.Budget, error) {
	f = f.Resolved()
	m, err := f.Mechanism(protocol, len(f.Nodes))
	if err != nil {
		return nil, err
	}
	limit := math.Inf(1)
	if f.DP.EpsilonBudget > 0 {
		limit = f.DP.EpsilonBudget
	}
	b, err := privacy.NewBudget(m, 1, params, f.DP.Delta, limit)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return b, nil
}

func (c *Coordinator) resume(mf *model.File) error {
	var ck Checkpoint
	if len(mf.Checkpoint) == 0 {
		return fmt.Errorf("%w: the file holds no checkpoint", ErrCheckpoint)
	}
	if err := json.Unmarshal(mf.Checkpoint, &ck); err != nil {
		return fmt.Errorf("%w: %w", ErrCheckpoint, err)
	}
	if ck.Federation != c.ck.Federation || ck.ManifestDigest != c.ck.ManifestDigest {
		return fmt.Errorf("%w: it was written for another federation or manifest", ErrCheckpoint)
	}
	if len(mf.Params) != c.global.NumParams() || ck.Round < 0 || ck.Round > c.fed.Rounds {
		return fmt.Errorf("%w: %d parameters at round %d, the model has %d and %d rounds", ErrCheckpoint, len(mf.Params), ck.Round, c.global.NumParams(), c.fed.Rounds)
	}
	if len(ck.StatsMean) != 0 && (len(ck.StatsMean) != c.fed.Features || ck.Std != nil) {
		return fmt.Errorf("%w: %d released means for %d features", ErrCheckpoint, len(ck.StatsMean), c.fed.Features)
	}
	copy(c.global.Params(), mf.Params)
	if c.budget != nil {
		for range ck.Round {
			if _, err := c.budget.Spend(); err != nil {
				return fmt.Errorf("%w: %w", ErrCheckpoint, err)
			}
		}
	}
	if s, ok := c.strategy.(strategy.Stateful); ok && len(ck.StrategyState) > 0 {
		if err := s.Restore(ck.StrategyState); err != nil {
			return fmt.Errorf("%w: %w", ErrCheckpoint, err)
		}
	}
	c.ck = ck
	c.mean = ck.StatsMean
	c.log.Info("resumed from checkpoint", "round", ck.Round, "attempt", ck.Attempt)
	return nil
}

// AbortedAttempts returns how many training attempts aborted without
// releasing an aggregate.
func (c *Coordinator) AbortedAttempts() int { return c.aborts }

// Stopped explains an early end of training ("" otherwise).
func (c *Coordinator) Stopped() string { return c.stopped }

// Round returns the last finished training round.
func (c *Coordinator) Round() int { return c.ck.Round }

// History returns the reports of the finished training rounds.
func (c *Coordinator) History() []RoundReport { return slices.Clone(c.ck.History) }

// Params returns the current global model's parameters (read-only).
func (c *Coordinator) Params() []float32 { return c.global.Params() }

// ModelFile returns the current global model as a model file.
func (c *Coordinator) ModelFile() *model.File {
	return &model.File{
		Spec: c.fed.Model, Features: c.fed.Features, Classes: c.fed.Classes,
		FeatureNames: c.cfg.FeatureNames, ClassNames: c.cfg.ClassNames, Label: c.cfg.Label,
		Mean: c.ck.Mean, Std: c.ck.Std, Federation: c.fed.ID, Round: c.ck.Round,
		Params: slices.Clone(c.global.Params()),
	}
}

// Ready returns what the driver must do now, and forgets it.
func (c *Coordinator) Ready() Ready {
	rd := c.rd
	c.rd = Ready{}
	return rd
}

// Done reports whether the coordinator has finished (or failed).
func (c *Coordinator) Done() bool { return c.state == cDone }

// Deadline returns when the driver must call Tick next (zero: only on
// messages).
func (c *Coordinator) Deadline() time.Time {
	switch c.state {
	case cRunning:
		return c.att.deadline
	case cMetrics, cPause:
		return c.until
	case cIdle:
		if !c.graceFrom.IsZero() {
			return c.graceFrom.Add(c.cfg.Grace)
		}
	}
	return time.Time{}
}

// Start begins the federation at time now.
func (c *Coordinator) Start(now time.Time) { c.progress(now) }

// Tick tells the coordinator the time; deadlines that passed fire.
func (c *Coordinator) Tick(now time.Time) {
	switch c.state {
	case cRunning:
		if !now.Before(c.att.deadline) {
			c.log.Info("step deadline passed", "attempt", c.ck.Attempt)
			outs, err := c.att.srv.Advance()
			if err != nil {
				c.log.Warn("protocol", "attempt", c.ck.Attempt, "err", err)
			}
			c.sendProtocol(outs)
			c.att.deadline = now.Add(c.cfg.StepTimeout)
		}
	case cMetrics:
		if !now.Before(c.until) {
			c.endMetrics()
		}
	case cPause:
		if !now.Before(c.until) {
			c.state = cIdle
		}
	}
	c.progress(now)
}

// Step processes one message from a peer at time now.
func (c *Coordinator) Step(now time.Time, in transport.Incoming) {
	if c.state == cDone {
		return
	}
	switch in.Type {
	case typeHello:
		c.onHello(now, in)
	case typeRefusal:
		c.onRefusal(in)
	case typeMetrics:
		c.onMetrics(in)
	default:
		c.onProtocol(now, in)
	}
	c.progress(now)
}

func (c *Coordinator) record(e audit.Entry) { c.rd.Audit = append(c.rd.Audit, e) }

func (c *Coordinator) send(to transport.PeerID, msg transport.Message) {
	c.rd.Messages = append(c.rd.Messages, Envelope{To: to, Msg: msg})
}

func (c *Coordinator) fail(err error) {
	if c.rd.Err == nil {
		c.rd.Err = err
	}
	c.state = cDone
}

// checkpoint queues the checkpoint for writing.
func (c *Coordinator) checkpoint() {
	if s, ok := c.strategy.(strategy.Stateful); ok {
		c.ck.StrategyState = s.State()
	}
	mf := c.ModelFile()
	b, err := json.Marshal(c.ck)
	if err != nil {
		c.fail(err)
		return
	}
	mf.Checkpoint = b
	if c.rd.Checkpoint, err = mf.MarshalBinary(); err != nil {
		c.fail(err)
	}
}

func (c *Coordinator) onHello(now time.Time, in transport.Incoming) {
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
		// FedAvg weights come from these counts: an absurd claim could
		// overflow the total or swamp every other team.
		c.log.Warn("hello claims an implausible number of examples; ignored", "peer", in.From)
		return
	}
	n := c.nodes[in.From]
	if n == nil {
		n = &nodeInfo{}
		c.nodes[in.From] = n
		c.log.Info("node joined", "peer", in.From, "examples", h.Examples)
		c.record(audit.Entry{Kind: audit.KindJoin, Peer: string(in.From)})
	}
	n.lastSeen = now
	n.examples, n.features, n.mheReady = h.Examples, h.Features, h.MheReady
}

func (c *Coordinator) onRefusal(in transport.Incoming) {
	var rf trainpb.Refusal
	a := c.att
	if c.state != cRunning || proto.Unmarshal(in.Payload, &rf) != nil || rf.Attempt != c.ck.Attempt ||
		a.plan.Index(in.From) == 0 || a.refused[in.From] != "" {
		// Only a participant of the running attempt may refuse it, once:
		// anything else would let a member flood the audit log.
		c.log.Debug("refusal ignored", "peer", in.From)
		return
	}
	code := string(RefusalCodeOf(rf.Code))
	c.log.Warn("node refused", "peer", in.From, "attempt", rf.Attempt, "code", code)
	c.record(audit.Entry{Kind: audit.KindRefusal, Round: rf.Attempt, Peer: string(in.From), Reason: code})
	a.refused[in.From] = code
	if RefusalCode(code) == RefuseRepeat && a.start.Phase == trainpb.Phase_PHASE_TRAIN {
		if c.exhausted == nil {
			c.exhausted = map[transport.PeerID]bool{}
		}
		c.exhausted[in.From] = true
	}
}

func (c *Coordinator) onMetrics(in transport.Incoming) {
	w := c.metrics
	if c.state != cMetrics || !w.want[in.From] {
		return
	}
	var m trainpb.Metrics
	if proto.Unmarshal(in.Payload, &m) != nil || int(m.Round) != w.rep.Round || m.Correct > m.Examples ||
		m.Examples > maxMetricExamples || !(m.LossSum >= 0) || math.IsInf(m.LossSum, 0) {
		c.log.Warn("implausible metrics ignored", "peer", in.From)
		return
	}
	delete(w.want, in.From)
	if m.Countersig != "" {
		c.record(audit.Entry{Kind: audit.KindCountersign, Round: c.ck.Attempt, Peer: string(in.From), Digest: w.digest,
			Fields: map[string]string{"countersig": m.Countersig}})
	}
	w.n += m.Examples
	w.right += m.Correct
	if m.LossSum > 0 {
		w.lossSum += m.LossSum
		w.lossCount += m.Examples
	}
	if len(w.want) == 0 {
		c.endMetrics()
	}
}

func (c *Coordinator) onProtocol(now time.Time, in transport.Incoming) {
	a := c.att
	if c.state != cRunning || in.Round != c.ck.Attempt {
		c.log.Debug("late message dropped", "peer", in.From, "type", in.Type, "round", in.Round)
		return
	}
	idx := a.plan.Index(in.From)
	kind, ok := strings.CutPrefix(in.Type, c.proto.Name+"/")
	if idx == 0 || !ok {
		c.log.Debug("message outside the attempt dropped", "peer", in.From, "type", in.Type)
		return
	}
	a.bytesUp += int64(len(in.Payload))
	a.msgs[idx]++
	if kind == c.proto.Contribution && !a.contributed[idx] {
		a.contributed[idx] = true
		c.record(audit.Entry{Kind: audit.KindContributionReceived, Round: c.ck.Attempt, Peer: string(in.From), Digest: audit.Digest(in.Payload)})
	}
	outs, err := a.srv.Step(mpc.Message{From: idx, To: int(in.Step), Kind: kind, Data: in.Payload})
	if err != nil {
		if !errors.Is(err, mpc.ErrUnexpected) {
			c.log.Warn("protocol message rejected", "peer", in.From, "type", in.Type, "err", err)
		}
	}
	if len(outs) > 0 {
		a.deadline = now.Add(c.cfg.StepTimeout)
	}
	c.sendProtocol(outs)
}

// sendProtocol sends the aggregator's messages of the running attempt; Step
// carries the source index of a relayed node-to-node message.
func (c *Coordinator) sendProtocol(outs []mpc.Message) {
	a := c.att
	for _, o := range outs {
		if o.To < 1 || o.To > a.plan.Parties() {
			continue
		}
		c.send(a.plan.Peers[o.To-1], transport.Message{Type: c.proto.Name + "/" + o.Kind, Round: c.ck.Attempt, Step: uint32(max(o.From, 0)), Payload: o.Data})
	}
}

// live returns the nodes that can be selected now, sorted.
func (c *Coordinator) live(now time.Time) []transport.PeerID {
	needKeys := c.mhe != nil && c.ck.MHEReady
	var out []transport.PeerID
	for id, n := range c.nodes {
		if (needKeys && !n.mheReady) || now.Before(n.backoffUntil) {
			continue
		}
		if now.Sub(n.lastSeen) <= c.cfg.LiveWindow && n.examples > 0 && int(n.features) == c.fed.Features {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// progress moves the state machine as far as it can go at time now.
func (c *Coordinator) progress(now time.Time) {
	for i := 0; i < 8 && c.rd.Err == nil; i++ {
		switch c.state {
		case cRunning:
			if !c.checkAttempt(now) {
				return
			}
		case cIdle:
			if !c.next(now) {
				return
			}
		default:
			return
		}
	}
}

// next starts what comes next; it reports whether it changed state.
func (c *Coordinator) next(now time.Time) bool {
	var rs *trainpb.RoundStart
	need := c.fed.MinParticipants
	switch {
	case c.mhe != nil && !c.ck.MHEReady:
		rs = &trainpb.RoundStart{Phase: trainpb.Phase_PHASE_MHE_SETUP}
		need = len(c.fed.Nodes)
	case c.fed.Standardize && c.ck.Std == nil && c.mean == nil:
		rs = &trainpb.RoundStart{Phase: trainpb.Phase_PHASE_STATS_MEAN}
	case c.fed.Standardize && c.ck.Std == nil:
		rs = &trainpb.RoundStart{Phase: trainpb.Phase_PHASE_STATS_VAR, Mean: f32bytes(c.mean)}
	case c.ck.Round >= c.fed.Rounds:
		return c.finishWhenLive(now, "")
	default:
		if c.budget != nil {
			if n, err := c.budget.Affordable(1); err != nil {
				c.fail(err)
				return true
			} else if n == 0 {
				next, _ := c.budget.Next()
				return c.finishWhenLive(now, fmt.Sprintf("privacy budget: round %d would bring epsilon to %.4g, over the budget %g at delta %g; stopped after round %d (epsilon %.4g)",
					c.ck.Round+1, next, c.fed.DP.EpsilonBudget, c.fed.DP.Delta, c.ck.Round, c.budget.Epsilon()))
			}
		}
		rs = &trainpb.RoundStart{Phase: trainpb.Phase_PHASE_TRAIN, Round: uint32(c.ck.Round + 1), Params: f32bytes(c.global.Params())}
		if c.budget != nil {
			rs.Epsilon, _ = c.budget.Next()
		}
		if c.ck.Std != nil {
			rs.Mean, rs.Std = f32bytes(c.ck.Mean), f32bytes(c.ck.Std)
		}
	}
	live := c.live(now)
	if rs.Phase == trainpb.Phase_PHASE_TRAIN && len(c.exhausted) > 0 {
		live = slices.DeleteFunc(live, func(p transport.PeerID) bool { return c.exhausted[p] })
		if len(live) < need && len(c.fed.Nodes)-len(c.exhausted) < need {
			c.fail(fmt.Errorf("%w: %d nodes already revealed their contribution to the model of round %d in attempts that aborted; fewer than min_participants (%d) remain",
				ErrStalled, len(c.exhausted), c.ck.Round+1, need))
			return true
		}
	}
	if len(live) < need {
		c.graceFrom = time.Time{}
		if now.Sub(c.lastWait) >= 5*time.Second {
			c.log.Info("waiting for nodes", "live", len(live), "need", need)
			c.lastWait = now
		}
		return false
	}
	if len(live) < len(c.fed.Nodes) {
		if c.graceFrom.IsZero() {
			c.graceFrom = now
		}
		if now.Before(c.graceFrom.Add(c.cfg.Grace)) {
			return false
		}
	}
	c.graceFrom = time.Time{}
	c.startAttempt(now, rs, c.selectParticipants(live, need, rs.Phase))
	return true
}

// finishWhenLive ends the federation once the nodes can be told: at once
// when every node is live (or none is left of those seen), after the grace
// period when only some are; a coordinator restarted after the last round
// has seen no node yet and waits for them to reconnect, so that they get the
// final model. It reports whether it finished.
func (c *Coordinator) finishWhenLive(now time.Time, stopped string) bool {
	if len(c.nodes) == 0 {
		return false
	}
	if live := c.live(now); len(live) > 0 && len(live) < len(c.fed.Nodes) {
		if c.graceFrom.IsZero() {
			c.graceFrom = now
		}
		if now.Before(c.graceFrom.Add(c.cfg.Grace)) {
			return false
		}
	}
	c.graceFrom = time.Time{}
	c.finish(stopped)
	return true
}

// selectParticipants samples ceil(Fraction * live) of the live nodes for a
// training attempt (at least need), all of them otherwise, sorted.
func (c *Coordinator) selectParticipants(live []transport.PeerID, need int, phase trainpb.Phase) []transport.PeerID {
	if phase != trainpb.Phase_PHASE_TRAIN || c.cfg.Fraction >= 1 {
		return live
	}
	k := min(max(int(math.Ceil(c.cfg.Fraction*float64(len(live)))), need, 1), len(live))
	perm := c.rng.Perm(len(live))[:k]
	out := make([]transport.PeerID, 0, k)
	for _, i := range perm {
		out = append(out, live[i])
	}
	slices.Sort(out)
	return out
}

func (c *Coordinator) startAttempt(now time.Time, rs *trainpb.RoundStart, parts []transport.PeerID) {
	ex := map[transport.PeerID]uint64{}
	// FedAvg weights come from the counts the nodes claim: cap each at a
	// thousand times the median claim, so one node cannot swamp the others
	// arbitrarily while real quantity skew passes (a node whose claim is
	// capped sees a total below its own count and refuses).
	counts := make([]uint64, 0, len(parts))
	for _, p := range parts {
		counts = append(counts, c.nodes[p].examples)
	}
	slices.Sort(counts)
	capEx := max(1000*counts[len(counts)/2], 1)
	var total uint64
	ids := make([]ed25519.PublicKey, len(parts))
	names := make([]string, len(parts))
	for i, p := range parts {
		ex[p] = min(c.nodes[p].examples, capEx)
		total += ex[p]
		ids[i] = c.ids[p]
		names[i] = string(p)
	}
	c.ck.Attempt++
	rs.Attempt = c.ck.Attempt
	rs.Protocol = c.proto.Name
	rs.Participants = names
	rs.Threshold = uint32(c.fed.Threshold)
	rs.TotalExamples = total
	rs.Rounds = uint32(c.fed.Rounds)
	rs.Dim = uint32(c.fed.PhaseDim(rs.Phase, rs.Protocol, c.global.NumParams()))
	rs.Bound = c.fed.phaseBound(rs.Phase, rs.Protocol)
	plan, err := NewPlan(c.fed, c.global.NumParams(), rs, ids)
	if err != nil {
		c.fail(err)
		return
	}
	srv, err := newServer(plan, secrets{mhe: c.mhe})
	if err != nil {
		c.fail(err)
		return
	}
	payload, err := proto.Marshal(rs)
	if err != nil {
		c.fail(err)
		return
	}
	// Never reuse an attempt number after a crash: the checkpoint with the
	// new counter is durable before the RoundStart leaves.
	c.checkpoint()
	c.log.Info("attempt start", "attempt", rs.Attempt, "round", rs.Round, "phase", rs.Phase.String(), "participants", len(parts))
	c.record(audit.Entry{Kind: audit.KindRoundStart, Round: rs.Attempt, Contributors: names,
		Fields: map[string]string{"round": fmt.Sprint(rs.Round), "phase": rs.Phase.String(), "protocol": rs.Protocol}})
	for _, p := range parts {
		c.send(p, transport.Message{Type: typeRoundStart, Round: rs.Attempt, Payload: payload})
	}
	c.att = &attempt{start: rs, plan: plan, srv: srv, ex: ex, total: total, began: now,
		deadline: now.Add(c.cfg.StepTimeout), refused: map[transport.PeerID]string{}, contributed: map[int]bool{}, msgs: map[int]int{}}
	c.state = cRunning
}

// checkAttempt ends the running attempt if it released or aborted; it
// reports whether it changed state.
func (c *Coordinator) checkAttempt(now time.Time) bool {
	a := c.att
	st := a.srv.Status()
	var abort error
	allRefused := false
	switch {
	case st.Done:
	case st.Err != nil:
		abort = st.Err
	case a.plan.Parties()-len(a.refused) < a.plan.Threshold:
		// Too many refusals for an aggregate: stop now, not at the deadline.
		codes := slices.Sorted(maps.Keys(invert(a.refused)))
		abort = fmt.Errorf("%w: %d of %d participants refused (%s)", ErrRefused, len(a.refused), a.plan.Parties(), strings.Join(codes, ", "))
		allRefused = true
	default:
		return false
	}
	if allRefused {
		c.refusedRow++
		if c.refusedRow >= maxRefusedAttempts {
			c.fail(fmt.Errorf("%w: %d attempts in a row; last: %w", ErrRefused, c.refusedRow, abort))
			return true
		}
	} else {
		c.refusedRow = 0
	}
	c.att = nil
	c.noteMisses(now, a, abort != nil)
	if abort != nil {
		c.aborted(now, a, abort)
		return true
	}
	agg, _ := a.srv.Result()
	c.released(now, a, agg)
	return true
}

// noteMisses updates the back-off of the attempt's participants: a miss is
// an attempt a node was selected for and did not contribute to, or, when
// the attempt aborted, one in which it fell silent before the others (it
// sent fewer protocol messages than the most talkative participant).
func (c *Coordinator) noteMisses(now time.Time, a *attempt, aborted bool) {
	most := 0
	for _, k := range a.msgs {
		most = max(most, k)
	}
	for i, p := range a.plan.Peers {
		n := c.nodes[p]
		if n == nil {
			continue
		}
		silent := !a.contributed[i+1] || (aborted && a.msgs[i+1] < most)
		if !silent || a.refused[p] != "" || a.plan.Setup() {
			n.misses = 0
			continue
		}
		n.misses++
		if n.misses >= backoffAfter {
			d := min(backoffBase<<(n.misses-backoffAfter), backoffMax)
			n.backoffUntil = now.Add(d)
			c.log.Warn("node backed off: selected and silent", "peer", p, "attempts", n.misses, "seconds", d.Seconds())
		}
	}
}

// BackedOff returns how many nodes sit out selection at time now.
func (c *Coordinator) BackedOff(now time.Time) int {
	k := 0
	for _, n := range c.nodes {
		if now.Before(n.backoffUntil) {
			k++
		}
	}
	return k
}

// Live returns how many nodes could be selected at time now.
func (c *Coordinator) Live(now time.Time) int { return len(c.live(now)) }

func invert(m map[transport.PeerID]string) map[string]bool {
	out := map[string]bool{}
	for _, v := range m {
		out[v] = true
	}
	return out
}

func (c *Coordinator) aborted(now time.Time, a *attempt, err error) {
	rs := a.start
	if rs.Phase == trainpb.Phase_PHASE_TRAIN {
		c.log.Warn("round aborted; no aggregate released; retrying with the live nodes", "round", rs.Round, "attempt", rs.Attempt, "err", err)
		c.aborts++
		end, _ := proto.Marshal(&trainpb.RoundEnd{Attempt: rs.Attempt, Round: rs.Round, Aborted: true})
		for _, p := range a.plan.Peers {
			c.send(p, transport.Message{Type: typeRoundEnd, Round: rs.Attempt, Payload: end})
		}
	} else {
		c.log.Warn("attempt aborted; no aggregate released; retrying", "phase", rs.Phase.String(), "attempt", rs.Attempt, "err", err)
	}
	// Back off briefly before the retry, still serving hellos.
	c.state, c.until = cPause, now.Add(min(c.cfg.StepTimeout, time.Second))
}

func (c *Coordinator) released(now time.Time, a *attempt, agg mpc.Aggregate) {
	rs := a.start
	sum, err := decodeAggregate(agg, a.plan.Dim)
	if err != nil {
		c.fail(err)
		return
	}
	contributors := make([]transport.PeerID, 0, len(agg.Contributors))
	var weight float64
	for _, i := range agg.Contributors {
		if i < 1 || i > a.plan.Parties() {
			c.fail(fmt.Errorf("%w: contributor %d out of range", ErrSession, i))
			return
		}
		p := a.plan.Peers[i-1]
		contributors = append(contributors, p)
		weight += float64(a.ex[p]) / float64(a.total)
	}
	switch rs.Phase {
	case trainpb.Phase_PHASE_MHE_SETUP:
		c.ck.MHEReady = true
		c.log.Info("mhe key setup done")
		c.checkpoint()
		c.state = cIdle
	case trainpb.Phase_PHASE_STATS_MEAN:
		c.mean = make([]float32, c.fed.Features)
		for j, v := range decodeStats(sum, a.plan.Split) {
			c.mean[j] = float32(v / weight)
		}
		c.ck.StatsMean = c.mean
		c.checkpoint()
		c.state = cIdle
	case trainpb.Phase_PHASE_STATS_VAR:
		std := make([]float32, c.fed.Features)
		for j, v := range decodeStats(sum, a.plan.Split) {
			s := math.Sqrt(math.Max(v/weight, 0))
			if s < 1e-6 {
				s = 1 // a constant feature maps to 0, as in data.Scaler
			}
			std[j] = float32(s)
		}
		c.ck.Mean, c.ck.Std, c.mean, c.ck.StatsMean = c.mean, std, nil, nil
		c.log.Info("standardisation statistics released", "features", c.fed.Features)
		c.checkpoint()
		c.state = cIdle
	case trainpb.Phase_PHASE_TRAIN:
		c.trained(now, a, sum, contributors, weight)
	}
}

// trained applies a released training aggregate: the strategy step, the
// privacy account, the audit entries and the checkpoint, then the RoundEnd
// and the wait for held-out metrics.
func (c *Coordinator) trained(now time.Time, a *attempt, sum []float32, contributors []transport.PeerID, weight float64) {
	rs := a.start
	k := int(rs.Round)
	digest := sha256.Sum256(f32bytes(sum))
	aggDigest := hex.EncodeToString(digest[:])
	c.record(audit.Entry{Kind: audit.KindAggregate, Round: rs.Attempt, Digest: aggDigest, Contributors: peerStrings(contributors),
		Fields: map[string]string{"round": fmt.Sprint(k)}})
	if c.fed.DP.Enabled() {
		// DP updates are unweighted: every contributor is one privacy unit.
		weight = float64(len(contributors))
	}
	inv := 1 / weight
	for i := range sum {
		sum[i] = float32(float64(sum[i]) * inv)
	}
	c.strategy.Apply(c.global.Params(), sum)
	params := f32bytes(c.global.Params())
	c.record(audit.Entry{Kind: audit.KindModelVersion, Round: rs.Attempt, Digest: audit.Digest(params),
		Fields: map[string]string{"round": fmt.Sprint(k)}})
	rep := RoundReport{Round: k, Rounds: c.fed.Rounds, Participants: a.plan.Parties(), Contributors: len(contributors),
		BytesUp: a.bytesUp, Accuracy: -1, Loss: -1, Attempt: rs.Attempt}
	if c.budget != nil {
		eps, err := c.budget.Spend()
		if err != nil {
			c.fail(err)
			return
		}
		rep.Epsilon = eps
		c.record(audit.Entry{Kind: audit.KindEpsilon, Round: rs.Attempt, Epsilon: eps, Delta: c.fed.DP.Delta})
	}
	c.ck.Round = k
	c.ck.History = append(c.ck.History, rep)
	c.exhausted = nil
	c.checkpoint()
	end, err := proto.Marshal(&trainpb.RoundEnd{Attempt: rs.Attempt, Round: uint32(k), AggregateDigest: digest[:],
		Contributors: uint32(len(contributors)), Params: params})
	if err != nil {
		c.fail(err)
		return
	}
	for _, p := range a.plan.Peers {
		c.send(p, transport.Message{Type: typeRoundEnd, Round: rs.Attempt, Payload: end})
	}
	rep.Seconds = now.Sub(a.began).Seconds()
	w := &metricsWait{rep: rep, want: map[transport.PeerID]bool{}, digest: aggDigest}
	for _, p := range contributors {
		w.want[p] = true
	}
	c.metrics, c.state, c.until = w, cMetrics, now.Add(min(c.cfg.StepTimeout, c.cfg.MetricsWait))
	c.log.Info("round released", "round", k, "contributors", len(contributors))
}

// endMetrics closes the metrics window of the last round.
func (c *Coordinator) endMetrics() {
	w := c.metrics
	rep := w.rep
	if w.n > 0 {
		rep.Accuracy = float64(w.right) / float64(w.n)
	}
	if w.lossCount > 0 {
		rep.Loss = w.lossSum / float64(w.lossCount)
	}
	c.ck.History[len(c.ck.History)-1] = rep
	c.checkpoint()
	c.rd.Reports = append(c.rd.Reports, rep)
	c.metrics, c.state = nil, cIdle
	c.log.Info("round done", "round", rep.Round, "contributors", rep.Contributors, "accuracy", rep.Accuracy)
}

// finish ends the federation: the final model goes to every node seen.
func (c *Coordinator) finish(stopped string) {
	if stopped != "" {
		c.log.Warn("training stops early", "reason", stopped)
	}
	mf := c.ModelFile()
	done, err := proto.Marshal(&trainpb.Done{Rounds: uint32(mf.Round), Params: f32bytes(mf.Params), Mean: f32bytes(mf.Mean), Std: f32bytes(mf.Std)})
	if err != nil {
		c.fail(err)
		return
	}
	for _, p := range slices.Sorted(maps.Keys(c.nodes)) {
		c.send(p, transport.Message{Type: typeDone, Round: c.ck.Attempt, Payload: done})
	}
	c.rd.Final, c.rd.Stopped, c.stopped = mf, stopped, stopped
	c.state = cDone
}

// decodeStats returns the statistics an aggregate carries.
func decodeStats(sum []float32, split bool) []float64 {
	if !split {
		out := make([]float64, len(sum))
		for i, v := range sum {
			out[i] = float64(v)
		}
		return out
	}
	return joinStats(sum)
}

// splitStats encodes values as [H..., L...] (see statsSplitBits), clamping
// them to the range.
func splitStats(v []float32) []float32 {
	d := len(v)
	out := make([]float32, 2*d)
	lim := math.Ldexp(1, statsSplitBits) - math.Ldexp(1, -statsSplitBits)
	for j, x := range v {
		y := min(max(float64(x), -lim), lim)
		V := int64(math.Round(math.Ldexp(y, statsSplitBits)))
		H := V >> statsSplitBits
		L := V - H<<statsSplitBits
		out[j], out[d+j] = float32(H), float32(L)
	}
	return out
}

// joinStats decodes the sum of split vectors.
func joinStats(s []float32) []float64 {
	d := len(s) / 2
	out := make([]float64, d)
	for j := range out {
		out[j] = float64(s[j]) + math.Ldexp(float64(s[d+j]), -statsSplitBits)
	}
	return out
}

func peerStrings(ps []transport.PeerID) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = string(p)
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

// bytesF32 decodes want float32 values; the length is checked first and
// non-finite values are refused.
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
