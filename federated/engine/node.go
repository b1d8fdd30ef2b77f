package engine

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/consort-ml/consort/federated/audit"
	"github.com/consort-ml/consort/federated/data"
	"github.com/consort-ml/consort/federated/model"
	"github.com/consort-ml/consort/federated/policy"
	"github.com/consort-ml/consort/federated/privacy"
	"github.com/consort-ml/consort/federated/strategy"
	"github.com/consort-ml/consort/federated/trainer"
	"github.com/consort-ml/consort/federated/trainpb"
	"github.com/consort-ml/consort/kernels"
	"github.com/consort-ml/consort/mpc"
	"github.com/consort-ml/consort/mpc/mhe"
	"github.com/consort-ml/consort/transport"
	"google.golang.org/protobuf/proto"
)

// DefaultHelloInterval is how often a node announces itself.
const DefaultHelloInterval = time.Second

// NodeConfig configures a [Node]. Federation comes from the node's own copy
// of the signed manifest, never from the coordinator.
type NodeConfig struct {
	// Federation is the federation as this node's manifest states it.
	Federation Federation
	// Purpose is the manifest's declared purpose (for the policy).
	Purpose string
	// Self is this node's peer ID and Coordinator the coordinator's;
	// messages from anyone else are ignored.
	Self, Coordinator transport.PeerID
	// Signer is the node's identity key (signs protocol messages and
	// countersignatures; nil only with plain).
	Signer crypto.Signer
	// Train holds the node's training examples (raw features) and Test its
	// held-out examples, used only to report counts of correct predictions.
	Train, Test *data.Dataset
	// Trainer, if set, trains the model instead of the built-in one (an
	// external trainer, package federated/trainer/runner); its output is
	// checked against the model's layout. The node still computes the
	// update, clips it, adds its DP noise share and protects it: nothing
	// the trainer returns can change that. Nil trains the built-in model on
	// Train (standardised like the federation) and evaluates it on Test.
	Trainer trainer.Trainer
	// TrainerInfo describes an external trainer for the audit log (its
	// program digest and whether it runs sandboxed), recorded with every
	// attempt the node starts.
	TrainerInfo map[string]string
	// Seed drives local shuffling.
	Seed uint64
	// Rand supplies the node's private randomness: protocol keys, masks,
	// rounding and DP noise. Required (crypto/rand outside tests).
	Rand io.Reader
	// Policy is the team's own policy (nil: the manifest's budget only).
	Policy *policy.Policy
	// State is what the node persisted (nil: a fresh node).
	State *NodeState
	// MHEKey is the node's persisted mhe key material (nil: none yet).
	MHEKey []byte
	// HelloInterval is how often the node says hello (default
	// DefaultHelloInterval).
	HelloInterval time.Duration
	// Label names the label column (written into the model file).
	Label string
	// Logger receives structured events (nil: discard). Never a data value.
	Logger *slog.Logger
}

// NodeState is what a node keeps across restarts: the releases it made, so a
// coordinator can never obtain two aggregates of the same contribution, and
// its own count of training rounds for its policy.
type NodeState struct {
	// Released lists the contents this node's contribution may have
	// entered an aggregate for (see releaseKeys).
	Released []string `json:"released,omitempty"`
	// Decrypted lists the mhe decryptions the node took part in, by round
	// ("round/ID/N") and by model version ("version/HEX"): it never
	// decrypts twice for either.
	Decrypted []string `json:"decrypted,omitempty"`
	// LastRound is the last training round it revealed a contribution to:
	// training rounds it releases are strictly increasing.
	LastRound  int `json:"last_round,omitempty"`
	PastRounds int `json:"past_rounds"`
}

// NodeEvent tells a driver's display what the node did.
type NodeEvent struct {
	Kind     string // "contributed", "refused", "round-end", "done"
	Attempt  uint64
	Round    int
	Aborted  bool
	Accuracy float64
	Code     RefusalCode
}

// NodeReady is what a node asks its driver to do, in order: persist State
// and MHEKey, append Audit, then send Messages to the coordinator.
type NodeReady struct {
	// State is the node state to write atomically (nil: unchanged).
	State []byte
	// MHEKey is key material to write atomically with mode 0600.
	MHEKey   []byte
	Audit    []audit.Entry
	Messages []transport.Message
	Events   []NodeEvent
	// Final is set once, when the federation sent its final model.
	Final *model.File
	// Err is set when the node cannot go on.
	Err error
}

// Node is a node's pure state machine: RoundStart checks against the node's
// manifest and policy, release bookkeeping, local update, clipping, DP noise,
// encoding and the protocol client. A driver feeds it messages and the time
// and carries out its [NodeReady].
type Node struct {
	cfg     NodeConfig
	fed     Federation
	log     *slog.Logger
	prox    float32
	pol     *policy.Policy
	global  model.Model
	local   model.Model
	mhe     *mheFed
	state   NodeState
	started bool

	stdTrain, stdTest *data.Dataset
	statsKey          string
	builtin           trainer.Trainer // the built-in model on the standardised data
	layout            []trainer.TensorSpec
	ctx               context.Context

	attempt   uint64
	cur       *trainpb.RoundStart
	plan      *Plan
	sess      mpc.Client
	bytesUp   int64
	lastHello time.Time
	evaluated map[int]bool
	// early holds protocol messages of a later attempt that overtook its
	// RoundStart (they travel on other streams, or the network reorders);
	// they are replayed once that RoundStart is accepted. Bounded by
	// maxEarly messages and maxEarlyBytes.
	early      []transport.Incoming
	earlyBytes int
	rd         NodeReady
}

// Bounds of the messages a node holds for an attempt it has not started.
const (
	maxEarly      = 1024
	maxEarlyBytes = 64 << 20
)

// NewNode validates cfg.
func NewNode(cfg NodeConfig) (*Node, error) {
	if err := cfg.Federation.Validate(); err != nil {
		return nil, err
	}
	fed := cfg.Federation.Resolved()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.HelloInterval = orDefault(cfg.HelloInterval, DefaultHelloInterval)
	switch {
	case cfg.Rand == nil:
		return nil, fmt.Errorf("%w: a node needs a source of private randomness", ErrConfig)
	case cfg.Train == nil || cfg.Train.Len() == 0:
		return nil, fmt.Errorf("%w: the node has no training data", ErrConfig)
	case cfg.Train.Features != fed.Features:
		return nil, fmt.Errorf("%w: data has %d features, the federation's model %d", ErrConfig, cfg.Train.Features, fed.Features)
	case !slices.Contains(fed.Nodes, cfg.Self):
		return nil, fmt.Errorf("%w: this node is not a member of the federation", ErrConfig)
	}
	st, err := strategy.New(fed.Strategy)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	g, err := model.New(fed.Model, fed.Features, fed.Classes, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	n := &Node{cfg: cfg, fed: fed, log: cfg.Logger, prox: st.ProxMu(), global: g, local: g.Clone(), evaluated: map[int]bool{},
		layout: model.Layout(g), ctx: context.Background()}
	if cfg.Trainer != nil {
		if !trainer.SameLayout(cfg.Trainer.Layout(), n.layout) {
			return nil, fmt.Errorf("%w: the trainer's layout differs from the federation's model", ErrConfig)
		}
		n.cfg.Trainer = trainer.Checked(cfg.Trainer, uint64(cfg.Train.Len()))
	}
	if cfg.State != nil {
		n.state = *cfg.State
	}
	n.pol = cfg.Policy
	if n.pol == nil && fed.DP.EpsilonBudget > 0 {
		// Without a policy the node still enforces the manifest's privacy
		// budget itself, with its own arithmetic.
		n.pol = &policy.Policy{Protocols: fed.Protocols, MaxEpsilon: fed.DP.EpsilonBudget, Delta: fed.DP.Delta}
	}
	if n.pol != nil {
		if err := n.pol.Validate(); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
	}
	if fed.Allows("mhe") {
		if n.mhe, err = newMHEFed(fed, g.NumParams()); err != nil {
			return nil, err
		}
		if cfg.MHEKey != nil {
			km, err := mhe.UnmarshalKeyMaterial(n.mhe.setup.Params, cfg.MHEKey)
			if err != nil {
				return nil, fmt.Errorf("%w: mhe key material: %w", ErrConfig, err)
			}
			if km.FederationID() != n.mhe.setup.FederationID || km.Parties() != n.mhe.setup.Parties || km.Threshold() != n.mhe.setup.Threshold {
				return nil, fmt.Errorf("%w: the mhe key material belongs to another federation setup", ErrConfig)
			}
			n.mhe.km = km
		}
	}
	return n, nil
}

// SetContext bounds the trainer's calls (a driver passes its own context;
// the default never ends).
func (n *Node) SetContext(ctx context.Context) { n.ctx = ctx }

// trainer returns the trainer of the round: the configured one, or the
// built-in model on the standardised data.
func (n *Node) trainer() trainer.Trainer {
	if n.cfg.Trainer != nil {
		return n.cfg.Trainer
	}
	return n.builtin
}

// PastRounds returns how many training rounds this node has contributed to.
func (n *Node) PastRounds() int { return n.state.PastRounds }

// MHEReady reports whether the node holds mhe key material.
func (n *Node) MHEReady() bool { return n.mhe != nil && n.mhe.km != nil }

// Ready returns what the driver must do now, and forgets it.
func (n *Node) Ready() NodeReady {
	rd := n.rd
	n.rd = NodeReady{}
	return rd
}

// Deadline returns when the driver must call Tick next.
func (n *Node) Deadline() time.Time { return n.lastHello.Add(n.cfg.HelloInterval) }

// Tick tells the node the time: it says hello when one is due.
func (n *Node) Tick(now time.Time) {
	if !n.started {
		n.started = true
		n.record(audit.Entry{Kind: audit.KindJoin, Peer: string(n.cfg.Coordinator)})
	}
	if now.Before(n.lastHello.Add(n.cfg.HelloInterval)) && !n.lastHello.IsZero() {
		return
	}
	n.lastHello = now
	n.send(transport.Message{Type: typeHello, Payload: n.Hello()})
}

// Hello returns the payload of a hello; it may be called from another
// goroutine only when the driver serialises it with Step.
func (n *Node) Hello() []byte {
	p, _ := proto.Marshal(&trainpb.Hello{Examples: uint64(n.cfg.Train.Len()), Features: uint32(n.fed.Features), MheReady: n.MHEReady()})
	return p
}

func (n *Node) record(e audit.Entry) { n.rd.Audit = append(n.rd.Audit, e) }

func (n *Node) send(m transport.Message) { n.rd.Messages = append(n.rd.Messages, m) }

func (n *Node) event(e NodeEvent) { n.rd.Events = append(n.rd.Events, e) }

// Step processes one message at time now.
func (n *Node) Step(now time.Time, in transport.Incoming) {
	if in.From != n.cfg.Coordinator {
		n.log.Debug("message from a peer that is not the coordinator ignored", "peer", in.From, "type", in.Type)
		return
	}
	switch in.Type {
	case typeRoundStart:
		n.onRoundStart(in)
	case typeRoundEnd:
		n.onRoundEnd(in)
	case typeDone:
		n.onDone(in)
	case typeHello, typeRefusal, typeMetrics:
		// Coordinator-bound types.
	default:
		n.onProtocol(in)
	}
}

func (n *Node) onRoundStart(in transport.Incoming) {
	var rs trainpb.RoundStart
	if err := proto.Unmarshal(in.Payload, &rs); err != nil || rs.Attempt != in.Round {
		n.log.Warn("malformed round start")
		return
	}
	if rs.Attempt <= n.attempt {
		return // duplicate or stale
	}
	n.attempt, n.sess, n.cur, n.plan, n.bytesUp = rs.Attempt, nil, nil, nil, 0
	held := n.early
	n.early, n.earlyBytes = nil, 0
	fields := map[string]string{"round": fmt.Sprint(rs.Round), "phase": rs.Phase.String(), "protocol": rs.Protocol}
	for k, v := range n.cfg.TrainerInfo {
		fields["trainer-"+k] = v
	}
	n.record(audit.Entry{Kind: audit.KindRoundStart, Round: rs.Attempt, Contributors: rs.Participants, Fields: fields})
	outs, err := n.begin(&rs)
	if err != nil {
		r := refusalOf(err)
		n.log.Warn("refusing attempt", "attempt", rs.Attempt, "code", r.Code, "detail", r.Detail)
		n.record(audit.Entry{Kind: audit.KindRefusal, Round: rs.Attempt, Peer: string(n.cfg.Coordinator), Reason: string(r.Code)})
		p, _ := proto.Marshal(&trainpb.Refusal{Attempt: rs.Attempt, Code: string(r.Code), Detail: r.Detail})
		n.send(transport.Message{Type: typeRefusal, Round: rs.Attempt, Payload: p})
		n.event(NodeEvent{Kind: "refused", Attempt: rs.Attempt, Round: int(rs.Round), Code: r.Code})
		return
	}
	n.event(NodeEvent{Kind: "contributed", Attempt: rs.Attempt, Round: int(rs.Round)})
	n.sendProtocol(outs)
	for _, m := range held {
		n.onProtocol(m)
	}
}

// holdEarly keeps a protocol message of a later attempt than the node's
// until its RoundStart arrives; only the latest such attempt is kept.
func (n *Node) holdEarly(in transport.Incoming) {
	if len(n.early) > 0 && n.early[0].Round != in.Round {
		if in.Round < n.early[0].Round {
			return
		}
		n.early, n.earlyBytes = nil, 0
	}
	if len(n.early) >= maxEarly || n.earlyBytes+len(in.Payload) > maxEarlyBytes {
		n.log.Debug("early message dropped", "type", in.Type, "round", in.Round)
		return
	}
	n.early = append(n.early, in)
	n.earlyBytes += len(in.Payload)
}

// releaseKeys name what a release is about, by content rather than by the
// coordinator's labels: a training release by the global model version it is
// computed on (its digest) and by its round, a statistics release by its
// phase alone (one per phase per federation). A node never releases twice for
// any of its keys, so a coordinator that relabels cannot obtain two
// aggregates of the same contribution over different participant sets.
func releaseKeys(rs *trainpb.RoundStart) []string {
	if rs.Phase == trainpb.Phase_PHASE_TRAIN {
		return []string{"model/" + audit.Digest(rs.Params), fmt.Sprintf("round/%d", rs.Round)}
	}
	return []string{"phase/" + rs.Phase.String()}
}

// released reports why the node must not release for rs ("" when it may).
func (n *Node) released(rs *trainpb.RoundStart) string {
	for _, k := range releaseKeys(rs) {
		if slices.Contains(n.state.Released, k) {
			if strings.HasPrefix(k, "model/") {
				return "this node already released a contribution computed on this global model version"
			}
			return fmt.Sprintf("this node's contribution to %s round %d was already released", rs.Phase, rs.Round)
		}
	}
	if rs.Phase == trainpb.Phase_PHASE_TRAIN && int(rs.Round) <= n.state.LastRound {
		return fmt.Sprintf("round %d is not after round %d, the last this node released", rs.Round, n.state.LastRound)
	}
	return ""
}

// begin checks an attempt against the node's manifest and policy, computes
// the node's contribution and starts the protocol client.
func (n *Node) begin(rs *trainpb.RoundStart) ([]mpc.Message, error) {
	ids := make([]ed25519.PublicKey, len(rs.Participants))
	for i, p := range rs.Participants {
		ids[i], _ = identityKey(transport.PeerID(p))
	}
	pl, err := NewPlan(n.fed, n.global.NumParams(), rs, ids)
	if err != nil {
		return nil, err
	}
	self := pl.Index(n.cfg.Self)
	if self == 0 {
		return nil, &Refusal{Code: RefuseInvalid, Detail: "this node is not a participant"}
	}
	if err := n.checkPolicy(pl, rs); err != nil {
		return nil, err
	}
	if rs.Protocol != "plain" && !pl.Setup() {
		if why := n.released(rs); why != "" {
			return nil, &Refusal{Code: RefuseRepeat, Detail: why}
		}
	}
	sec := secrets{self: self, signer: n.cfg.Signer, rand: n.cfg.Rand, mhe: n.mhe, ledger: nodeLedger{n}}
	if !pl.Setup() {
		if sec.floats, sec.ring, err = n.contribution(pl, rs); err != nil {
			return nil, err
		}
	}
	s, err := newClient(pl, sec)
	if err != nil {
		return nil, err
	}
	outs, err := s.Start()
	if err != nil {
		return nil, err
	}
	n.sess, n.cur, n.plan = s, rs, pl
	return outs, nil
}

// checkPolicy applies the node's policy to an attempt: every release is
// checked for its protocol and minimum contributors; a training round also
// for the node's own account of its privacy.
func (n *Node) checkPolicy(pl *Plan, rs *trainpb.RoundStart) error {
	p := n.pol
	if p == nil {
		return nil
	}
	if rs.Phase != trainpb.Phase_PHASE_TRAIN {
		protocols := p.Protocols
		if len(protocols) == 0 {
			protocols = policy.DefaultProtocols()
		}
		if !slices.Contains(protocols, rs.Protocol) {
			return &Refusal{Code: RefuseProtocol, Detail: fmt.Sprintf("this node's policy does not accept protocol %q", rs.Protocol)}
		}
		if pl.Threshold < p.MinContributors {
			return &Refusal{Code: RefuseMinContributors, Detail: fmt.Sprintf("threshold %d is below this node's minimum of %d contributors", pl.Threshold, p.MinContributors)}
		}
		return nil
	}
	// The node's own account of the round's privacy: the mechanism it will
	// apply itself, not the coordinator's figures.
	noise, frac, z, clip := privacy.Gaussian, uint(0), 0.0, 0.0
	if pl.DP != nil {
		noise, frac, z, clip = pl.DP.Noise, pl.DP.FracBits, pl.DP.NoiseMultiplier, pl.DP.Clip
	}
	return p.Check(policy.RoundProposal{
		Coordinator: string(n.cfg.Coordinator), Purpose: n.cfg.Purpose, Protocol: rs.Protocol,
		Round: uint64(rs.Round), PastRounds: n.state.PastRounds, MinContributors: pl.Threshold,
		Noise: noise, NoiseMultiplier: z, Clip: clip, FracBits: frac,
		SamplingRate: 1, Dim: pl.Dim, ClaimedEpsilon: rs.Epsilon,
	})
}

// contribution computes the node's input to an attempt: its weighted
// statistics or its clipped (and, with DP, noised) training update. With
// secagg and DP the update is encoded and noised in the ring; ring holds it
// and floats its decoded value.
func (n *Node) contribution(pl *Plan, rs *trainpb.RoundStart) (floats []float32, ring []uint32, err error) {
	if rs.TotalExamples == 0 || rs.TotalExamples < uint64(n.cfg.Train.Len()) {
		return nil, nil, &Refusal{Code: RefuseInvalid, Detail: "total examples smaller than the node's"}
	}
	w := float64(n.cfg.Train.Len()) / float64(rs.TotalExamples)
	switch rs.Phase {
	case trainpb.Phase_PHASE_STATS_MEAN, trainpb.Phase_PHASE_STATS_VAR:
		var mean []float32
		if rs.Phase == trainpb.Phase_PHASE_STATS_VAR {
			if mean, err = bytesF32(rs.Mean, n.fed.Features); err != nil {
				return nil, nil, &Refusal{Code: RefuseInvalid, Detail: "bad statistics request"}
			}
		}
		out := weightedMoments(n.cfg.Train, mean, w)
		if pl.Split {
			return splitStats(out), nil, nil
		}
		for j, v := range out {
			out[j] = min(max(v, -pl.Bound), pl.Bound)
		}
		return out, nil, nil
	case trainpb.Phase_PHASE_TRAIN:
		gp, err := bytesF32(rs.Params, n.global.NumParams())
		if err != nil {
			return nil, nil, &Refusal{Code: RefuseInvalid, Detail: "bad global model"}
		}
		if err := n.standardise(rs.Mean, rs.Std); err != nil {
			return nil, nil, err
		}
		copy(n.global.Params(), gp)
		ts := n.fed.Train
		local, _, err := n.trainer().Train(n.ctx, trainer.Round{
			Round: int(rs.Round), Global: trainer.Tensors{Layout: n.layout, Data: gp},
			Settings: trainer.Settings{Epochs: ts.LocalEpochs, BatchSize: ts.BatchSize, LR: float64(ts.LR),
				Momentum: float64(ts.Momentum), WeightDecay: float64(ts.WeightDecay), ProxMu: float64(n.prox)},
			Seed: TrainSeed(n.cfg.Seed, int(rs.Round)),
		})
		if err != nil {
			return nil, nil, err
		}
		lp := local.Data
		u := make([]float32, len(lp))
		if pl.DP != nil {
			for j := range u {
				u[j] = lp[j] - gp[j]
			}
			ring, err := protect(*pl.DP, u, pl.Bound, n.cfg.Rand)
			return u, ring, err
		}
		for j := range u {
			v := float32(float64(lp[j]-gp[j]) * w)
			u[j] = min(max(v, -pl.Bound), pl.Bound)
		}
		return u, nil, nil
	}
	return nil, nil, &Refusal{Code: RefuseInvalid, Detail: "unknown phase"}
}

// TrainSeed is the local-shuffling seed of a node with seed s in round r.
func TrainSeed(s uint64, r int) uint64 { return s ^ uint64(r)<<32 }

// weightedMoments returns w times the node's per-feature mean (mean nil) or
// mean squared deviation from mean.
func weightedMoments(ds *data.Dataset, mean []float32, w float64) []float32 {
	d, rows := ds.Features, ds.Len()
	acc := make([]float64, d)
	for i := range rows {
		for j, v := range ds.X[i*d : (i+1)*d] {
			if mean == nil {
				acc[j] += float64(v)
			} else {
				dv := float64(v) - float64(mean[j])
				acc[j] += dv * dv
			}
		}
	}
	out := make([]float32, d)
	for j := range out {
		out[j] = float32(w * acc[j] / float64(rows))
	}
	return out
}

// protect clips u and adds the node's share of the noise with randomness
// from rand. With a ring mechanism (secagg) the update is encoded and
// noised in Z_2^32: the encoded vector is returned and u receives its
// decoded value.
func protect(m privacy.Mechanism, u []float32, bound float32, rand io.Reader) ([]uint32, error) {
	if m.Noise == privacy.Skellam {
		q := make([]uint32, len(u))
		if err := m.QuantizeRing32(q, u, rand); err != nil {
			return nil, err
		}
		if err := m.AddNoiseRing32(q, rand); err != nil {
			return nil, err
		}
		kernels.Decode32(u, q, m.FracBits)
		return q, nil
	}
	if _, err := m.ClipUpdate(u); err != nil {
		return nil, err
	}
	if err := m.AddNoiseFloat(u, rand); err != nil {
		return nil, err
	}
	for j, v := range u {
		u[j] = min(max(v, -bound), bound)
	}
	return nil, nil
}

// standardise prepares the standardised copies of the node's data for the
// federation's statistics (raw data when there are none).
func (n *Node) standardise(meanB, stdB []byte) error {
	key := string(meanB) + "|" + string(stdB)
	if n.stdTrain != nil && key == n.statsKey {
		return nil
	}
	train := n.cfg.Train.Subset(seq(n.cfg.Train.Len()))
	var test *data.Dataset
	if n.cfg.Test != nil {
		test = n.cfg.Test.Subset(seq(n.cfg.Test.Len()))
	}
	if len(meanB) > 0 || len(stdB) > 0 {
		mean, err1 := bytesF32(meanB, n.fed.Features)
		std, err2 := bytesF32(stdB, n.fed.Features)
		if err1 != nil || err2 != nil {
			return &Refusal{Code: RefuseInvalid, Detail: "bad standardisation statistics"}
		}
		for _, s := range std {
			if !(s > 0) {
				return &Refusal{Code: RefuseInvalid, Detail: "non-positive standard deviation"}
			}
		}
		sc := &data.Scaler{Mean: mean, Std: std}
		if err := sc.Transform(train); err != nil {
			return err
		}
		if test != nil {
			if err := sc.Transform(test); err != nil {
				return err
			}
		}
	}
	td := model.TrainerData{X: train.X, Y: train.Y}
	if test != nil {
		td.TestX, td.TestY = test.X, test.Y
	}
	bt, err := model.NewTrainer(n.local, td)
	if err != nil {
		return err
	}
	n.stdTrain, n.stdTest, n.statsKey, n.builtin = train, test, key, bt
	return nil
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func (n *Node) onProtocol(in transport.Incoming) {
	if in.Round > n.attempt {
		n.holdEarly(in)
		return
	}
	if n.sess == nil || in.Round != n.attempt {
		return // late message of a finished attempt
	}
	kind, ok := strings.CutPrefix(in.Type, n.plan.Protocol+"/")
	if !ok {
		return
	}
	outs, err := n.sess.Step(mpc.Message{From: int(in.Step), To: n.plan.Index(n.cfg.Self), Kind: kind, Data: in.Payload})
	if err != nil && !errors.Is(err, mpc.ErrUnexpected) {
		n.log.Warn("protocol", "attempt", n.attempt, "err", err)
	}
	n.sendProtocol(outs)
}

// sendProtocol sends the client's messages; Step carries the destination
// index of a node-to-node message the coordinator relays. A contribution
// that could enter a released aggregate is recorded as released first.
func (n *Node) sendProtocol(outs []mpc.Message) {
	if n.sess != nil && n.sess.Revealed() && !n.plan.Setup() {
		n.markReleased(n.cur)
	}

	if s, ok := n.sess.(*mheSetupClient); ok && n.mhe.km == nil {
		if km, done := s.keyMaterial(); done {
			b, err := km.MarshalBinary()
			if err != nil {
				n.rd.Err = err
				return
			}
			n.mhe.km, n.rd.MHEKey = km, b
			n.log.Info("mhe key material stored")
		}
	}
	contrib := ""
	if p, err := lookup(n.plan.Protocol); err == nil {
		contrib = p.Contribution
	}
	for _, o := range outs {
		if o.Kind == contrib {
			n.record(audit.Entry{Kind: audit.KindContributionSent, Round: n.attempt, Peer: string(n.cfg.Coordinator), Digest: audit.Digest(o.Data)})
		}
		n.bytesUp += int64(len(o.Data))
		n.send(transport.Message{Type: n.plan.Protocol + "/" + o.Kind, Round: n.attempt, Step: uint32(max(o.To, 0)), Payload: o.Data})
	}
}

// nodeLedger is a node's mhe Ledger: claims live in the node's state,
// which the driver makes durable before the decryption share leaves (the
// share is in the same Ready as the state change).
type nodeLedger struct{ n *Node }

// Claim implements mhe.Ledger.
func (l nodeLedger) Claim(d mhe.Decryption) error {
	st := &l.n.state
	keys := []string{fmt.Sprintf("round/%s/%d", d.FederationID, d.Round), "version/" + hex.EncodeToString(d.ModelVersion[:])}
	for _, k := range keys {
		if slices.Contains(st.Decrypted, k) {
			return fmt.Errorf("%w: this node already decrypted for this round or model version", mhe.ErrAlreadyDecrypted)
		}
	}
	st.Decrypted = append(st.Decrypted, keys...)
	// The share about to leave can release the aggregate: the node never
	// contributes to this content again.
	if l.n.cur != nil {
		l.n.markReleased(l.n.cur)
	}
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	l.n.rd.State = append(b, '\n')
	return nil
}

// markReleased records that this node's contribution to rs can enter a
// released aggregate; the state is persisted before anything else is sent.
func (n *Node) markReleased(rs *trainpb.RoundStart) {
	keys := releaseKeys(rs)
	if slices.Contains(n.state.Released, keys[0]) {
		return
	}
	n.state.Released = append(n.state.Released, keys...)
	if rs.Phase == trainpb.Phase_PHASE_TRAIN {
		n.state.PastRounds++
		n.state.LastRound = max(n.state.LastRound, int(rs.Round))
	}
	b, err := json.Marshal(n.state)
	if err != nil {
		n.rd.Err = err
		return
	}
	n.rd.State = append(b, '\n')
}

func (n *Node) onRoundEnd(in transport.Incoming) {
	var re trainpb.RoundEnd
	if err := proto.Unmarshal(in.Payload, &re); err != nil || re.Attempt != n.attempt {
		return
	}
	ev := NodeEvent{Kind: "round-end", Attempt: n.attempt, Round: int(re.Round), Aborted: re.Aborted, Accuracy: -1}
	took := n.sess != nil && n.cur != nil
	if !re.Aborted && took {
		// The coordinator released an aggregate this node contributed to:
		// never contribute to this round again.
		n.markReleased(n.cur)
	}
	// Evaluate only a round this node contributed to, once: the counts it
	// reports are about its own held-out rows.
	if !re.Aborted && took && len(re.Params) > 0 && !n.evaluated[int(re.Round)] {
		n.evaluated[int(re.Round)] = true
		p, err := bytesF32(re.Params, n.global.NumParams())
		if err != nil {
			n.log.Warn("malformed round end")
			return
		}
		copy(n.global.Params(), p)
		m := n.evaluate(int(re.Round))
		if len(re.AggregateDigest) == sha256.Size {
			d := hex.EncodeToString(re.AggregateDigest)
			n.record(audit.Entry{Kind: audit.KindCountersign, Round: n.attempt, Digest: d})
			if n.cfg.Signer != nil {
				if sig, err := audit.Countersign(n.cfg.Signer, n.fed.ID, n.attempt, d); err == nil {
					m.Countersig = sig
				}
			}
		}
		if m.Examples > 0 {
			ev.Accuracy = float64(m.Correct) / float64(m.Examples)
		}
		mp, _ := proto.Marshal(m)
		n.send(transport.Message{Type: typeMetrics, Round: n.attempt, Payload: mp})
	}
	n.sess = nil
	n.event(ev)
}

// evaluate scores the global model on the node's held-out examples. Only
// counts (and the summed loss) leave the node.
func (n *Node) evaluate(round int) *trainpb.Metrics {
	m := &trainpb.Metrics{Attempt: n.attempt, Round: uint32(round)}
	tr := n.trainer()
	if tr == nil {
		return m
	}
	got, err := tr.Evaluate(n.ctx, trainer.Tensors{Layout: n.layout, Data: n.global.Params()})
	if err != nil || got.Examples == 0 || math.IsNaN(got.LossSum) || math.IsInf(got.LossSum, 0) {
		return m
	}
	m.Examples, m.Correct, m.LossSum = got.Examples, got.Correct, got.LossSum
	return m
}

func (n *Node) onDone(in transport.Incoming) {
	var d trainpb.Done
	if err := proto.Unmarshal(in.Payload, &d); err != nil {
		n.log.Warn("malformed done")
		return
	}
	p, err := bytesF32(d.Params, n.global.NumParams())
	if err != nil {
		n.log.Warn("bad final model")
		return
	}
	mf := &model.File{
		Spec: n.fed.Model, Features: n.fed.Features, Classes: n.fed.Classes,
		FeatureNames: n.cfg.Train.FeatureNames, ClassNames: n.cfg.Train.ClassNames,
		Label: n.cfg.Label, Federation: n.fed.ID, Round: int(d.Rounds), Params: p,
	}
	if len(d.Mean) > 0 || len(d.Std) > 0 {
		mean, err1 := bytesF32(d.Mean, n.fed.Features)
		std, err2 := bytesF32(d.Std, n.fed.Features)
		if err1 != nil || err2 != nil {
			n.log.Warn("bad final standardisation")
			return
		}
		mf.Mean, mf.Std = mean, std
	}
	n.record(audit.Entry{Kind: audit.KindModelVersion, Round: n.attempt, Digest: audit.Digest(d.Params), Fields: map[string]string{"round": fmt.Sprint(d.Rounds)}})
	n.event(NodeEvent{Kind: "done", Round: int(d.Rounds)})
	n.rd.Final = mf
}
