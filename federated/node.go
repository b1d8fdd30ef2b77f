package federated

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/consort-ml/consort/federated/audit"
	"github.com/consort-ml/consort/federated/data"
	"github.com/consort-ml/consort/federated/model"
	"github.com/consort-ml/consort/federated/privacy"
	"github.com/consort-ml/consort/federated/trainpb"
	"github.com/consort-ml/consort/kernels"
	"github.com/consort-ml/consort/transport"
	"github.com/consort-ml/consort/transport/identity"
	"google.golang.org/protobuf/proto"
)

// NodeConfig configures a [Node]. Model and training settings come from the
// signed federation manifest; the data is the team's own.
type NodeConfig struct {
	// FederationID names the federation.
	FederationID string
	// Coordinator is the coordinator's peer ID; messages from anyone else
	// that try to drive rounds are ignored.
	Coordinator transport.PeerID
	// Identity signs the node's protocol messages (nil only with plain).
	Identity Signer
	// Train holds the node's training examples (raw features) and Test its
	// held-out examples, used only to report counts of correct predictions.
	Train, Test *data.Dataset
	// Model, Features and Classes must match the coordinator's.
	Model             model.Spec
	Features, Classes int
	// Train settings and the FedProx coefficient (0 for none).
	Settings TrainSettings
	ProxMu   float32
	// Label names the label column (written into the model file).
	Label string
	// Members lists the federation's nodes in manifest order and Threshold
	// is the manifest's threshold: with them the node takes part in the
	// multiparty-HE key setup (its key material is kept in StateDir/mhe.key,
	// mode 0600) and in mhe rounds. They come from the signed manifest,
	// never from the coordinator.
	Members   []transport.PeerID
	Threshold int
	// Seed drives local shuffling.
	Seed uint64
	// HelloInterval is how often the node announces itself (default 1 s).
	HelloInterval time.Duration
	// JoinTimeout, if > 0, makes Run fail with ErrCoordinatorUnreachable
	// when no hello reached the coordinator within it after the start. Once
	// the coordinator has been reached, the node waits for it indefinitely
	// (a restarted coordinator resumes from its checkpoint).
	JoinTimeout time.Duration
	// StepTimeout bounds each send (default 30 s).
	StepTimeout time.Duration
	// DP, when Clip > 0, makes the node clip its update and add its share
	// of the noise (sized for the round's threshold) before protection.
	DP DPConfig
	// Audit, if not nil, receives the node's audit entries: join, attempts,
	// refusals, the digest of every contribution sent, its countersignature
	// of every aggregate it contributed to, and the final model version.
	Audit *audit.Log
	// StateDir, if set, receives the final model file.
	StateDir string
	// Policy, if not nil, is asked before every attempt; a non-nil error
	// refuses it (the error's text is sent to the coordinator, so it must
	// not contain data values). Code extracts a stable reason code.
	Policy func(*trainpb.RoundStart) error
	// Rand supplies the protocol's private randomness (default crypto/rand).
	Rand io.Reader
	// Logger receives structured events (nil: discard). Never a data value.
	Logger *slog.Logger
	// Metrics, if not nil, is updated.
	Metrics *Metrics
	// Events, if not nil, is told about rounds (for progress displays).
	Events func(NodeEvent)
}

// NodeEvent describes something a node did.
type NodeEvent struct {
	Kind     string // "contributed", "refused", "round-end", "done"
	Attempt  uint64
	Round    int
	Aborted  bool
	Accuracy float64
	BytesUp  int64
}

// ErrCoordinatorUnreachable is returned by [Node.Run] when the coordinator
// could not be reached within NodeConfig.JoinTimeout.
var ErrCoordinatorUnreachable = errors.New("federated: coordinator unreachable")

// RefusalCoder is implemented by policy errors that carry a stable code.
type RefusalCoder interface{ RefusalCode() string }

// Node takes part in the rounds a coordinator starts.
type Node struct {
	cfg NodeConfig
	log *slog.Logger

	stdTrain, stdTest *data.Dataset // standardised copies, once statistics are known
	statsKey          string
	local             model.Model
	global            model.Model
	lastAttempt       uint64
	bytesUp           int64
	mhe               *netMHE
	mheReady          atomic.Bool
	ring              []uint32 // the attempt's ring-encoded DP contribution, if any
	state             nodeState
	evaluated         map[int]bool // training rounds whose model was evaluated
}

// nodeState is what a node remembers across restarts (STATE/node-state.json):
// the phases and rounds whose contribution it has released, so a coordinator
// can never obtain two aggregates of the same contribution over different
// participant sets, and its own count of training rounds for its policy.
type nodeState struct {
	Released   []string `json:"released,omitempty"`
	PastRounds int      `json:"past_rounds"`
}

func releaseKey(rs *trainpb.RoundStart) string {
	return fmt.Sprintf("%s/%d", rs.Phase, rs.Round)
}

// PastRounds returns how many training rounds this node has contributed to
// (its own count, kept across restarts in its state directory).
func (n *Node) PastRounds() int { return n.state.PastRounds }

func (n *Node) statePath() string { return filepath.Join(n.cfg.StateDir, "node-state.json") }

func (n *Node) loadState() error {
	if n.cfg.StateDir == "" {
		return nil
	}
	b, err := os.ReadFile(n.statePath())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(b) > 1<<24 {
		return fmt.Errorf("%w: %s is too large", ErrBadFile, n.statePath())
	}
	if err := json.Unmarshal(b, &n.state); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrBadFile, n.statePath(), err)
	}
	return nil
}

// markReleased records that this node's contribution to rs entered a
// releasable aggregate.
func (n *Node) markReleased(rs *trainpb.RoundStart) error {
	key := releaseKey(rs)
	if slices.Contains(n.state.Released, key) {
		return nil
	}
	n.state.Released = append(n.state.Released, key)
	if rs.Phase == trainpb.Phase_PHASE_TRAIN {
		n.state.PastRounds++
	}
	if n.cfg.StateDir == "" {
		return nil
	}
	b, err := json.Marshal(n.state)
	if err != nil {
		return err
	}
	return WriteFileAtomic(n.statePath(), append(b, '\n'), 0o600)
}

// refusal is a typed refusal of the drivers themselves.
type refusal struct{ code, detail string }

func (r *refusal) Error() string       { return r.detail }
func (r *refusal) RefusalCode() string { return r.code }

// NewNode validates cfg.
func NewNode(cfg NodeConfig) (*Node, error) {
	if cfg.HelloInterval == 0 {
		cfg.HelloInterval = time.Second
	}
	if cfg.StepTimeout == 0 {
		cfg.StepTimeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	cfg.Settings.defaults()
	if err := cfg.Settings.validate(); err != nil {
		return nil, err
	}
	if cfg.Train == nil || cfg.Train.Len() == 0 {
		return nil, fmt.Errorf("%w: the node has no training data", ErrBadConfig)
	}
	if cfg.Train.Features != cfg.Features {
		return nil, fmt.Errorf("%w: data has %d features, the federation's model %d", ErrBadConfig, cfg.Train.Features, cfg.Features)
	}
	g, err := model.New(cfg.Model, cfg.Features, cfg.Classes, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	n := &Node{cfg: cfg, log: cfg.Logger, global: g, local: g.Clone(), evaluated: map[int]bool{}}
	if err := n.loadState(); err != nil {
		return nil, err
	}
	if len(cfg.Members) > 0 {
		st, err := newNetMHE(cfg.FederationID, cfg.Members, cfg.Threshold, g.NumParams())
		if err != nil {
			return nil, err
		}
		if cfg.StateDir != "" {
			if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
				return nil, err
			}
			st.keyPath = filepath.Join(cfg.StateDir, "mhe.key")
		}
		if err := st.loadKey(); err != nil {
			return nil, err
		}
		n.mhe = st
		n.mheReady.Store(st.ready())
	}
	return n, nil
}

// protocol returns the protocol called name, with this node's mhe state.
func (n *Node) protocol(name string) (netProtocol, error) {
	if name == "mhe" {
		if n.mhe == nil {
			return nil, fmt.Errorf("%w: mhe needs the federation's members and threshold", ErrBadConfig)
		}
		return mheProtocol{st: n.mhe}, nil
	}
	return lookupProtocol(name)
}

// Run takes part in rounds until the coordinator sends the final model, which
// it returns (and writes to StateDir/model.consort).
func (n *Node) Run(ctx context.Context, tr transport.Transport) (*ModelFile, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	var reached atomic.Bool
	wg.Go(func() { n.hello(ctx, tr, &reached) })
	if n.cfg.JoinTimeout > 0 {
		jctx, jcancel := context.WithCancelCause(ctx)
		defer jcancel(nil)
		t := time.AfterFunc(n.cfg.JoinTimeout, func() {
			if !reached.Load() {
				jcancel(fmt.Errorf("%w: no hello reached %s within %v (is it running, and is its address right?)",
					ErrCoordinatorUnreachable, n.cfg.Coordinator, n.cfg.JoinTimeout))
			}
		})
		defer t.Stop()
		ctx = jctx
	}

	var (
		sess     clientSession
		cur      *trainpb.RoundStart // the running attempt's RoundStart
		attempt  uint64
		contrib  string // the protocol's contribution message type
		auditErr error
	)
	record := func(e audit.Entry) {
		if n.cfg.Audit == nil || auditErr != nil {
			return
		}
		if _, err := n.cfg.Audit.Append(e); err != nil {
			auditErr = fmt.Errorf("audit log: %w", err)
		}
	}
	record(audit.Entry{Kind: audit.KindJoin, Peer: string(n.cfg.Coordinator)})
	send := func(outs []netMsg) {
		for _, o := range outs {
			if o.Type == contrib {
				record(audit.Entry{Kind: audit.KindContributionSent, Round: attempt, Peer: string(n.cfg.Coordinator), Digest: audit.Digest(o.Payload)})
			}
			sctx, c := context.WithTimeout(ctx, n.cfg.StepTimeout)
			err := tr.Send(sctx, n.cfg.Coordinator, transport.Message{Type: o.Type, Round: attempt, Step: o.Step, Payload: o.Payload})
			c()
			if err != nil {
				n.log.Warn("send failed", "type", o.Type, "err", err)
				continue
			}
			n.bytesUp += int64(len(o.Payload))
			if n.cfg.Metrics != nil {
				n.cfg.Metrics.BytesUp.Add(float64(len(o.Payload)))
			}
		}
	}
	for {
		if auditErr != nil {
			return nil, auditErr
		}
		in, err := tr.Recv(ctx)
		if err != nil {
			if cause := context.Cause(ctx); errors.Is(cause, ErrCoordinatorUnreachable) {
				return nil, cause
			}
			return nil, err
		}
		if in.From != n.cfg.Coordinator {
			n.log.Warn("message from a peer that is not the coordinator ignored", "peer", in.From, "type", in.Type)
			continue
		}
		switch in.Type {
		case typeRoundStart:
			var rs trainpb.RoundStart
			if err := proto.Unmarshal(in.Payload, &rs); err != nil || rs.Attempt != in.Round {
				n.log.Warn("malformed round start")
				continue
			}
			if rs.Attempt <= attempt {
				continue // duplicate or stale
			}
			attempt = rs.Attempt
			n.lastAttempt = attempt
			tr.SetRound(attempt)
			sess = nil
			n.bytesUp = 0
			contrib = ""
			if p, err := n.protocol(rs.Protocol); err == nil {
				contrib = p.ContributionType()
			}
			record(audit.Entry{Kind: audit.KindRoundStart, Round: attempt, Contributors: rs.Participants,
				Fields: map[string]string{"round": fmt.Sprint(rs.Round), "phase": rs.Phase.String(), "protocol": rs.Protocol}})
			s, outs, err := n.begin(&rs, tr.Self())
			if err != nil {
				code := "error"
				var rc RefusalCoder
				if errors.As(err, &rc) {
					code = rc.RefusalCode()
				}
				n.log.Warn("refusing attempt", "attempt", attempt, "code", code, "err", err)
				record(audit.Entry{Kind: audit.KindRefusal, Round: attempt, Peer: string(n.cfg.Coordinator), Reason: code})
				if n.cfg.Metrics != nil {
					n.cfg.Metrics.Refusals.WithLabelValues(code).Inc()
				}
				p, _ := proto.Marshal(&trainpb.Refusal{Attempt: attempt, Code: code, Detail: err.Error()})
				send([]netMsg{{Type: typeRefusal, Payload: p}})
				if n.cfg.Events != nil {
					n.cfg.Events(NodeEvent{Kind: "refused", Attempt: attempt, Round: int(rs.Round)})
				}
				continue
			}
			sess, cur = s, &rs
			send(outs)
			if err := n.noteReveal(sess, cur); err != nil {
				return nil, err
			}
		case typeRoundEnd:
			var re trainpb.RoundEnd
			if err := proto.Unmarshal(in.Payload, &re); err != nil || re.Attempt != attempt {
				continue
			}
			ev := NodeEvent{Kind: "round-end", Attempt: attempt, Round: int(re.Round), Aborted: re.Aborted, BytesUp: n.bytesUp}
			// Evaluate only a round this node contributed to, once: the
			// counts it reports are about its own held-out rows.
			if !re.Aborted && sess != nil {
				// The coordinator released an aggregate this node
				// contributed to: never contribute to this round again.
				if err := n.markReleased(cur); err != nil {
					return nil, err
				}
			}
			if !re.Aborted && len(re.Params) > 0 && sess != nil && !n.evaluated[int(re.Round)] {
				n.evaluated[int(re.Round)] = true
				p, err := bytesF32(re.Params, n.global.NumParams())
				if err != nil {
					n.log.Warn("malformed round end", "err", err)
					continue
				}
				copy(n.global.Params(), p)
				m := n.evaluate(int(re.Round))
				if len(re.AggregateDigest) == sha256.Size && n.cfg.Audit != nil {
					d := hex.EncodeToString(re.AggregateDigest)
					record(audit.Entry{Kind: audit.KindCountersign, Round: attempt, Digest: d})
					if n.cfg.Identity != nil {
						if sig, err := audit.Countersign(cryptoSigner{n.cfg.Identity}, n.cfg.FederationID, attempt, d); err == nil {
							m.Countersig = sig
						}
					}
				}
				ev.Accuracy = float64(m.Correct) / math.Max(1, float64(m.Examples))
				mp, _ := proto.Marshal(m)
				send([]netMsg{{Type: typeMetrics, Payload: mp}})
				if n.cfg.Metrics != nil {
					n.cfg.Metrics.RoundsCompleted.Inc()
					n.cfg.Metrics.Accuracy.Set(ev.Accuracy)
				}
			} else if re.Aborted && n.cfg.Metrics != nil {
				n.cfg.Metrics.RoundsAborted.Inc()
			}
			sess = nil
			if n.cfg.Events != nil {
				n.cfg.Events(ev)
			}
		case typeDone:
			var d trainpb.Done
			if err := proto.Unmarshal(in.Payload, &d); err != nil {
				n.log.Warn("malformed done")
				continue
			}
			mf, err := n.finish(&d)
			if err != nil {
				n.log.Warn("bad final model", "err", err)
				continue
			}
			record(audit.Entry{Kind: audit.KindModelVersion, Round: attempt, Digest: audit.Digest(d.Params), Fields: map[string]string{"round": fmt.Sprint(d.Rounds)}})
			if auditErr != nil {
				return nil, auditErr
			}
			if n.cfg.Events != nil {
				n.cfg.Events(NodeEvent{Kind: "done", Round: int(d.Rounds)})
			}
			return mf, nil
		case typeHello, typeRefusal, typeMetrics:
			// Coordinator-bound types; ignore.
		default:
			if sess == nil || in.Round != attempt {
				if n.cfg.Metrics != nil {
					n.cfg.Metrics.LateMessages.Inc()
				}
				continue
			}
			outs, err := sess.Handle(netMsg{Peer: 0, Type: in.Type, Step: in.Step, Payload: in.Payload})
			if err != nil {
				n.log.Warn("protocol", "attempt", attempt, "err", err)
				continue
			}
			if err := n.noteReveal(sess, cur); err != nil {
				return nil, err
			}
			if n.mhe != nil && n.mhe.ready() && !n.mheReady.Load() {
				n.mheReady.Store(true)
				n.log.Info("mhe key material stored")
			}
			send(outs)
		}
	}
}

// hello announces the node to the coordinator every HelloInterval.
func (n *Node) hello(ctx context.Context, tr transport.Transport, reached *atomic.Bool) {
	t := time.NewTicker(n.cfg.HelloInterval)
	defer t.Stop()
	failures := 0
	for {
		p, _ := proto.Marshal(&trainpb.Hello{Examples: uint64(n.cfg.Train.Len()), Features: uint32(n.cfg.Features), MheReady: n.mheReady.Load()})
		sctx, c := context.WithTimeout(ctx, min(n.cfg.StepTimeout, 3*n.cfg.HelloInterval))
		if err := tr.Send(sctx, n.cfg.Coordinator, transport.Message{Type: typeHello, Payload: p}); err != nil && ctx.Err() == nil {
			failures++
			if failures == 5 {
				n.log.Warn("the coordinator does not answer; still trying", "err", err)
			} else {
				n.log.Debug("hello not delivered", "err", err)
			}
		} else if err == nil {
			if failures >= 5 {
				n.log.Info("coordinator reachable again")
			}
			failures = 0
			reached.Store(true)
		}
		c()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// begin checks an attempt against the node's policy, computes the node's
// contribution and starts the protocol session.
func (n *Node) begin(rs *trainpb.RoundStart, self transport.PeerID) (clientSession, []netMsg, error) {
	if n.cfg.Policy != nil {
		if err := n.cfg.Policy(rs); err != nil {
			return nil, nil, err
		}
	}
	id := 0
	seen := make(map[string]bool, len(rs.Participants))
	for i, p := range rs.Participants {
		if seen[p] {
			return nil, nil, fmt.Errorf("%w: participant listed twice", ErrSession)
		}
		seen[p] = true
		if len(n.cfg.Members) > 0 && !slices.Contains(n.cfg.Members, transport.PeerID(p)) {
			return nil, nil, fmt.Errorf("%w: a participant is not a node of the manifest", ErrSession)
		}
		if transport.PeerID(p) == self {
			id = i + 1
		}
	}
	if id == 0 {
		return nil, nil, fmt.Errorf("%w: not a participant", ErrSession)
	}
	proto, err := n.protocol(rs.Protocol)
	if err != nil {
		return nil, nil, err
	}
	if rs.TotalExamples == 0 || int(rs.Threshold) < 1 || int(rs.Threshold) > len(rs.Participants) {
		return nil, nil, fmt.Errorf("%w: bad round parameters", ErrSession)
	}
	if !(rs.Bound > 0) || math.IsInf(float64(rs.Bound), 0) {
		return nil, nil, fmt.Errorf("%w: bad bound", ErrSession)
	}
	if rs.Protocol != "plain" && rs.Phase != trainpb.Phase_PHASE_MHE_SETUP && slices.Contains(n.state.Released, releaseKey(rs)) {
		return nil, nil, &refusal{"repeat", fmt.Sprintf("this node's contribution to %s round %d was already released", rs.Phase, rs.Round)}
	}
	if n.cfg.Threshold > 0 && int(rs.Threshold) < n.cfg.Threshold {
		// Never contribute to an aggregate smaller than the manifest allows,
		// whatever the coordinator says (DP shares are sized for it too).
		return nil, nil, fmt.Errorf("%w: threshold %d is below the manifest's %d", ErrSession, rs.Threshold, n.cfg.Threshold)
	}
	setup := rs.Phase == trainpb.Phase_PHASE_MHE_SETUP
	if setup && int(rs.Threshold) != n.cfg.Threshold {
		return nil, nil, fmt.Errorf("%w: key setup with threshold %d, the manifest says %d", ErrSession, rs.Threshold, n.cfg.Threshold)
	}
	var input []float32
	n.ring = nil
	if !setup {
		if input, err = n.contribution(rs); err != nil {
			return nil, nil, err
		}
	}
	ids := make([]ed25519.PublicKey, len(rs.Participants)+1)
	for i, p := range rs.Participants {
		pk, err := identity.PublicKey(transport.PeerID(p))
		if err == nil {
			ids[i+1] = pk
		}
	}
	sp := sessionParams{
		FederationID: n.cfg.FederationID, Attempt: rs.Attempt, Parties: len(rs.Participants),
		Threshold: int(rs.Threshold), Dim: int(rs.Dim), Bound: rs.Bound,
		Wide: rs.Phase != trainpb.Phase_PHASE_TRAIN, Self: self, Setup: setup, Ring32: n.ring,
	}
	for _, p := range rs.Participants {
		sp.Peers = append(sp.Peers, transport.PeerID(p))
	}
	s, err := proto.NewClient(sp, ids, id, input, n.cfg.Identity, n.cfg.Rand)
	if err != nil {
		return nil, nil, err
	}
	outs, err := s.Start()
	if err != nil {
		return nil, nil, err
	}
	if n.cfg.Events != nil {
		n.cfg.Events(NodeEvent{Kind: "contributed", Attempt: rs.Attempt, Round: int(rs.Round)})
	}
	return s, outs, nil
}

// contribution computes the node's weighted input for an attempt.
func (n *Node) contribution(rs *trainpb.RoundStart) ([]float32, error) {
	w := float64(n.cfg.Train.Len()) / float64(rs.TotalExamples)
	if w > 1 {
		return nil, fmt.Errorf("%w: total examples smaller than the node's", ErrSession)
	}
	d := n.cfg.Features
	X := n.cfg.Train.X
	rows := n.cfg.Train.Len()
	// The dimension comes from a peer: check it against what this node
	// computes before allocating anything of that size.
	want := d
	split := rs.Protocol == "mhe" && rs.Phase != trainpb.Phase_PHASE_TRAIN
	switch {
	case rs.Phase == trainpb.Phase_PHASE_TRAIN:
		want = n.global.NumParams()
	case split:
		want = 2 * d // see stats.go
	}
	if int(rs.Dim) != want {
		return nil, fmt.Errorf("%w: round of dimension %d, this node's is %d", ErrSession, rs.Dim, want)
	}
	out := make([]float32, d)
	if rs.Phase == trainpb.Phase_PHASE_TRAIN {
		out = make([]float32, want)
	}
	switch rs.Phase {
	case trainpb.Phase_PHASE_STATS_MEAN:
		acc := make([]float64, d)
		for i := range rows {
			for j, v := range X[i*d : (i+1)*d] {
				acc[j] += float64(v)
			}
		}
		for j := range out {
			out[j] = float32(w * acc[j] / float64(rows))
		}
	case trainpb.Phase_PHASE_STATS_VAR:
		mean, err := bytesF32(rs.Mean, d)
		if err != nil {
			return nil, fmt.Errorf("%w: bad statistics request", ErrSession)
		}
		acc := make([]float64, d)
		for i := range rows {
			for j, v := range X[i*d : (i+1)*d] {
				dv := float64(v) - float64(mean[j])
				acc[j] += dv * dv
			}
		}
		for j := range out {
			out[j] = float32(w * acc[j] / float64(rows))
		}
	case trainpb.Phase_PHASE_TRAIN:
		gp, err := bytesF32(rs.Params, n.global.NumParams())
		if err != nil {
			return nil, err
		}
		if err := n.standardise(rs.Mean, rs.Std); err != nil {
			return nil, err
		}
		copy(n.global.Params(), gp)
		copy(n.local.Params(), gp)
		_, err = model.Train(n.local, n.stdTrain.X, n.stdTrain.Y, model.TrainConfig{
			Epochs: n.cfg.Settings.LocalEpochs, BatchSize: n.cfg.Settings.BatchSize, LR: n.cfg.Settings.LR,
			Momentum: n.cfg.Settings.Momentum, WeightDecay: n.cfg.Settings.WeightDecay,
			Prox: n.cfg.ProxMu, ProxCenter: gp, Seed: n.cfg.Seed ^ uint64(rs.Round)<<32,
		})
		if err != nil {
			return nil, err
		}
		lp := n.local.Params()
		if n.cfg.DP.Enabled() {
			for j := range out {
				out[j] = lp[j] - gp[j]
			}
			if err := n.protect(out, rs); err != nil {
				return nil, err
			}
			break
		}
		for j := range out {
			v := float32(float64(lp[j]-gp[j]) * w)
			out[j] = min(max(v, -rs.Bound), rs.Bound)
		}
	default:
		return nil, fmt.Errorf("%w: unknown phase %v", ErrSession, rs.Phase)
	}
	if rs.Phase != trainpb.Phase_PHASE_TRAIN {
		if split {
			return splitStats(out), nil
		}
		for j, v := range out {
			out[j] = min(max(v, -rs.Bound), rs.Bound)
		}
	}
	return out, nil
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
		mean, err := bytesF32(meanB, n.cfg.Features)
		if err != nil {
			return err
		}
		std, err := bytesF32(stdB, n.cfg.Features)
		if err != nil {
			return err
		}
		for _, s := range std {
			if !(s > 0) {
				return fmt.Errorf("%w: non-positive standard deviation", ErrSession)
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
	n.stdTrain, n.stdTest, n.statsKey = train, test, key
	return nil
}

// evaluate scores the global model on the node's held-out examples.
func (n *Node) evaluate(round int) *trainpb.Metrics {
	m := &trainpb.Metrics{Attempt: n.lastAttempt, Round: uint32(round)}
	if n.stdTest == nil || n.stdTest.Len() == 0 {
		return m
	}
	loss, acc := model.Evaluate(n.global, n.stdTest.X, n.stdTest.Y)
	if math.IsNaN(acc) {
		return m
	}
	// Only counts leave the node: the loss would be a finer oracle on its
	// held-out rows.
	_ = loss
	m.Examples = uint64(n.stdTest.Len())
	m.Correct = uint64(math.Round(acc * float64(m.Examples)))
	return m
}

// finish builds (and writes) the final model file.
func (n *Node) finish(d *trainpb.Done) (*ModelFile, error) {
	p, err := bytesF32(d.Params, n.global.NumParams())
	if err != nil {
		return nil, err
	}
	mf := &ModelFile{
		Spec: n.cfg.Model, Features: n.cfg.Features, Classes: n.cfg.Classes,
		FeatureNames: n.cfg.Train.FeatureNames, ClassNames: n.cfg.Train.ClassNames,
		Label: n.cfg.Label, Federation: n.cfg.FederationID, Round: int(d.Rounds), Params: p,
	}
	if len(d.Mean) > 0 {
		if mf.Mean, err = bytesF32(d.Mean, n.cfg.Features); err != nil {
			return nil, err
		}
		if mf.Std, err = bytesF32(d.Std, n.cfg.Features); err != nil {
			return nil, err
		}
	}
	if n.cfg.StateDir != "" {
		if err := os.MkdirAll(n.cfg.StateDir, 0o700); err != nil {
			return nil, err
		}
		if err := WriteModelFile(filepath.Join(n.cfg.StateDir, "model.consort"), mf); err != nil {
			return nil, err
		}
	}
	return mf, nil
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// NodeDPMechanism returns the DP mechanism a node applies in a round: with
// secagg, Skellam noise in Z_2^32 at the protocol's fixed-point scale for the
// round's participants and bound; otherwise Gaussian noise on the float
// update. Shares are sized for the round's threshold.
func NodeDPMechanism(dp DPConfig, rs *trainpb.RoundStart) (privacy.Mechanism, error) {
	m := privacy.Mechanism{Clip: dp.Clip, NoiseMultiplier: dp.NoiseMultiplier, MinContributors: int(rs.Threshold), Noise: privacy.Gaussian}
	if rs.Protocol == "secagg" {
		f, err := SecAggFracBits(32, len(rs.Participants), rs.Bound)
		if err != nil {
			return m, err
		}
		m.Noise, m.FracBits = privacy.Skellam, f
	}
	return m, m.Validate()
}

// protect clips u and adds the node's share of the noise, sized for the
// round's threshold, with randomness from the node's private generator. With
// secagg the update is encoded and noised in the ring (the encoded vector is
// kept for the protocol, and u receives its decoded value).
func (n *Node) protect(u []float32, rs *trainpb.RoundStart) error {
	m, err := NodeDPMechanism(n.cfg.DP, rs)
	if err != nil {
		return err
	}
	if m.Noise == privacy.Skellam {
		q := make([]uint32, len(u))
		if err := m.QuantizeRing32(q, u, n.cfg.Rand); err != nil {
			return err
		}
		if err := m.AddNoiseRing32(q, n.cfg.Rand); err != nil {
			return err
		}
		kernels.Decode32(u, q, m.FracBits)
		n.ring = q
		return nil
	}
	if _, err := m.ClipUpdate(u); err != nil {
		return err
	}
	if err := m.AddNoiseFloat(u, n.cfg.Rand); err != nil {
		return err
	}
	for j, v := range u {
		u[j] = min(max(v, -rs.Bound), rs.Bound)
	}
	return nil
}

// noteReveal persists that the session's contribution can enter a released
// aggregate (see [nodeState]).
func (n *Node) noteReveal(s clientSession, rs *trainpb.RoundStart) error {
	if s == nil || rs == nil || !s.Revealed() || rs.Phase == trainpb.Phase_PHASE_MHE_SETUP {
		return nil
	}
	return n.markReleased(rs)
}
