package federated

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/consort-ml/consort/federated/data"
	"github.com/consort-ml/consort/federated/engine"
	"github.com/consort-ml/consort/federated/model"
	"github.com/consort-ml/consort/federated/strategy"
	"github.com/consort-ml/consort/federated/trainpb"
	"github.com/consort-ml/consort/transport"
	"github.com/consort-ml/consort/transport/identity"
	"github.com/consort-ml/consort/transport/mem"
	"google.golang.org/protobuf/proto"
)

// ErrBadConfig marks an invalid simulation configuration.
var ErrBadConfig = errors.New("federated: bad config")

// TrainSettings are the local-training hyper-parameters (see engine.TrainSettings).
type TrainSettings = engine.TrainSettings

// DPConfig configures distributed differential privacy (see engine.DPConfig).
type DPConfig = engine.DPConfig

// RoundReport describes one finished training round (see engine.RoundReport).
type RoundReport = engine.RoundReport

// StrategyConfig selects the server strategy (see package strategy).
type StrategyConfig = strategy.Config

// ProtocolNames lists the protection protocols.
func ProtocolNames() []string { return engine.ProtocolNames() }

// SimConfig configures a simulation: a coordinator and Parties nodes, each
// the engine's state machine, over an in-memory network in virtual time. The
// zero value of each optional field selects the default its comment names;
// [SimConfig.Validate] does not change the value.
type SimConfig struct {
	// FederationID binds the protocol keys of the run (default "sim").
	FederationID string
	// Dataset is a bundled name (breast-cancer, digits, wine, mnist) or csv:PATH.
	Dataset string
	// Label names the label column of a csv: dataset.
	Label string
	// Schema, if set, declares how a csv: data set is read (one-hot
	// columns, missing values, no header: see data.Schema).
	Schema *data.Schema
	// TestFraction is the share of a non-MNIST data set held out for
	// evaluation (default 0.25).
	TestFraction float64
	// Parties is the number of simulated teams.
	Parties int
	// Partition is iid (default), dirichlet:A or quantity:A.
	Partition string
	// Rounds is the number of federated rounds.
	Rounds int
	// Protocol protects the updates: plain (default), secagg or mhe.
	Protocol string
	// MHEParamSet pins the mhe parameter set; MHEInsecureTestParams uses the
	// insecure test ring (tests only).
	MHEParamSet           string
	MHEInsecureTestParams bool
	// Fraction of the parties selected per round (default 1: all), never
	// fewer than the threshold.
	Fraction float64
	// Model is the model architecture; the zero value picks logistic for two
	// classes and softmax otherwise.
	Model model.Spec
	// Train holds the local training settings.
	Train TrainSettings
	// Strategy is the server-side aggregation strategy (default fedavg).
	Strategy StrategyConfig
	// Dropout is the probability that a selected party drops during a
	// round: half of the drops stop before their protected update is sent,
	// half after it (during unmasking or decryption).
	Dropout float64
	// Threshold is the fewest contributors an aggregate is released for
	// (default DefaultThreshold(Parties)).
	Threshold int
	// Bound clips each coordinate of a weighted update to [-Bound, Bound]
	// before protection (default engine.DefaultBound).
	Bound float32
	// Standardize standardises features as a networked federation does:
	// two statistics attempts release the federation's means and variances
	// through the protocol, and every node standardises with them. Without
	// it the data set is standardised centrally (fitted on the training set)
	// before it is split.
	Standardize bool
	// Centralized also trains the centralised baseline: the same model on all
	// training data pooled, for the same total number of epochs.
	Centralized bool
	// DP, when Clip > 0, adds distributed differential privacy.
	DP DPConfig
	// Seed makes the whole run repeatable: data split, model, every node's
	// private randomness and the network.
	Seed uint64
	// Logger receives structured progress records (nil: discard).
	Logger *slog.Logger
}

// DefaultThreshold is a simulation's default threshold for n parties,
// floor(n/3) + 1 and at least 2 (at most n), for every protocol so that their
// results compare: coalitions of up to a third learn nothing from an
// honest-but-curious aggregator, and a round that aborts after some parties
// revealed their contribution leaves enough others to retry on the same
// model (n - t + 1 >= t). Federations facing a malicious coordinator need a
// majority with secagg's complete graph (see package mpc/secagg).
func DefaultThreshold(n int) int { return min(n, max(2, n/3+1)) }

func (c SimConfig) resolved() SimConfig {
	if c.FederationID == "" {
		c.FederationID = "sim"
	}
	if c.TestFraction == 0 {
		c.TestFraction = 0.25
	}
	if c.Partition == "" {
		c.Partition = "iid"
	}
	if c.Protocol == "" {
		c.Protocol = "plain"
	}
	if c.Fraction == 0 {
		c.Fraction = 1
	}
	if c.Threshold == 0 {
		c.Threshold = DefaultThreshold(c.Parties)
	}
	if c.Bound == 0 {
		c.Bound = engine.DefaultBound
	}
	c.Train = c.Train.Resolved()
	c.DP = c.DP.Resolved()
	return c
}

// Validate checks the configuration (with its defaults) without changing it.
func (c SimConfig) Validate() error {
	r := c.resolved()
	switch {
	case r.Dataset == "":
		return fmt.Errorf("%w: no dataset", ErrBadConfig)
	case r.Parties < 1:
		return fmt.Errorf("%w: parties must be >= 1", ErrBadConfig)
	case r.Rounds < 1:
		return fmt.Errorf("%w: rounds must be >= 1", ErrBadConfig)
	case !(r.Fraction > 0 && r.Fraction <= 1):
		return fmt.Errorf("%w: fraction must be in (0, 1]", ErrBadConfig)
	case !(r.Dropout >= 0 && r.Dropout < 1):
		return fmt.Errorf("%w: dropout must be in [0, 1)", ErrBadConfig)
	case r.Threshold < 1 || r.Threshold > r.Parties:
		return fmt.Errorf("%w: threshold must be in 1..parties", ErrBadConfig)
	case !(r.TestFraction > 0 && r.TestFraction < 1):
		return fmt.Errorf("%w: test fraction must be in (0, 1)", ErrBadConfig)
	case !(r.Bound > 0) || math.IsInf(float64(r.Bound), 0):
		return fmt.Errorf("%w: bound must be positive and finite", ErrBadConfig)
	}
	if err := r.DP.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	if err := r.Train.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	if _, err := strategy.New(r.Strategy); err != nil {
		return fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	for _, p := range engine.ProtocolNames() {
		if p == r.Protocol {
			return nil
		}
	}
	return fmt.Errorf("%w: unknown protocol %q (want one of %v)", ErrBadConfig, r.Protocol, engine.ProtocolNames())
}

// SimResult summarises a simulation.
type SimResult struct {
	Protocol            string  `json:"protocol"`
	Secure              bool    `json:"secure"`
	Dataset             string  `json:"dataset"`
	Model               string  `json:"model"`
	Strategy            string  `json:"strategy"`
	Parties             int     `json:"parties"`
	Threshold           int     `json:"threshold"`
	Rounds              int     `json:"rounds"`
	Params              int     `json:"params"`
	TrainExamples       int     `json:"train_examples"`
	TestExamples        int     `json:"test_examples"`
	FinalAccuracy       float64 `json:"final_accuracy"`
	FinalLoss           float64 `json:"final_loss"`
	CentralizedAccuracy float64 `json:"centralized_accuracy"`
	AbortedRounds       int     `json:"aborted_rounds"`
	// Epsilon and Delta: the privacy spent by the released aggregates (DP only).
	Epsilon float64 `json:"epsilon,omitempty"`
	Delta   float64 `json:"delta,omitempty"`
	// Stopped explains an early stop (the privacy budget ran out).
	Stopped string `json:"stopped,omitempty"`
	// BytesUpPerNode is the mean protocol payload a selected node sent per
	// round.
	BytesUpPerNode float64 `json:"bytes_up_per_node"`
	// ModelDigest is the SHA-256 of the final parameters (hex): equal
	// digests mean bit-identical models.
	ModelDigest string        `json:"model_digest"`
	Seconds     float64       `json:"seconds"`
	History     []RoundReport `json:"history"`
	// Global holds the final global parameters (not serialised in summaries).
	Global []float32 `json:"-"`
}

// Prepared is a data set loaded, split, standardised and partitioned among parties.
type Prepared struct {
	Train, Test *data.Dataset
	// Parts holds, per party, indices into Train.
	Parts [][]int
}

// Prepare loads the configured data set, splits it into train and test,
// standardises features (fitted on train only) and partitions the training
// examples among the parties.
func Prepare(c SimConfig) (*Prepared, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c = c.resolved()
	var train, test *data.Dataset
	if c.Dataset == "mnist" {
		var err error
		train, test, err = data.LoadMNIST(data.LoadOptions{})
		if err != nil {
			return nil, err
		}
	} else {
		ds, err := data.Load(c.Dataset, data.LoadOptions{Label: c.Label, Schema: c.Schema})
		if err != nil {
			return nil, err
		}
		train, test, err = data.Split(ds, c.TestFraction, c.Seed)
		if err != nil {
			return nil, err
		}
		if !c.Standardize {
			if _, err := data.Standardize(train, test); err != nil {
				return nil, err
			}
		}
	}
	part, err := data.ParsePartition(c.Partition)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	parts, err := part.Split(train.Y, train.Classes, c.Parties, c.Seed)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	return &Prepared{Train: train, Test: test, Parts: parts}, nil
}

// ModelSpec resolves the configured model for a data set with the given
// number of classes.
func (c SimConfig) ModelSpec(classes int) model.Spec {
	s := c.Model
	if s.Kind == "" {
		if classes == 2 {
			s.Kind = "logistic"
		} else {
			s.Kind = "softmax"
		}
	}
	return s
}

// SimIdentities returns the simulated parties' identities, derived from the
// seed (a simulation is not secure against anyone who knows its seed).
func SimIdentities(seed uint64, n int) ([]*identity.Identity, error) {
	out := make([]*identity.Identity, n)
	for i := range out {
		id, err := identity.Generate(simRand(seed, "identity", i))
		if err != nil {
			return nil, err
		}
		out[i] = id
	}
	return out, nil
}

// simRand is party i's deterministic random stream for a purpose.
func simRand(seed uint64, label string, i int) *rand.ChaCha8 {
	h := sha256.New()
	h.Write([]byte("consort/federated/simulation " + label))
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:], seed)
	binary.LittleEndian.PutUint64(b[8:], uint64(i))
	h.Write(b[:])
	return rand.NewChaCha8([32]byte(h.Sum(nil)))
}

// SimNodeRand is party i's private randomness in a simulation with seed s
// (deterministic: insecure outside simulations and tests).
func SimNodeRand(s uint64, i int) io.Reader { return simRand(s, "node", i) }

// NodeSeed is party p's local-shuffling seed in a simulation with seed s.
func NodeSeed(s uint64, p int) uint64 { return s ^ uint64(p)*0x9e3779b97f4a7c15 }

// Simulate runs cfg: the coordinator and every party as the engine's state
// machines over a transport/mem network in virtual time, each with its own
// partition of the training data; the global model is evaluated on the test
// set after each round, and observe (if not nil) sees each report.
func Simulate(ctx context.Context, cfg SimConfig, observe func(RoundReport)) (*SimResult, error) {
	start := time.Now()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.resolved()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	prep, err := Prepare(cfg)
	if err != nil {
		return nil, err
	}
	sim, err := newSimulation(cfg, prep)
	if err != nil {
		return nil, err
	}
	res := sim.result()
	cfg.Logger.Info("simulation start", "protocol", cfg.Protocol, "dataset", cfg.Dataset, "parties", cfg.Parties, "rounds", cfg.Rounds, "params", res.Params)
	final, err := sim.run(ctx, observe)
	if err != nil {
		return nil, err
	}
	sim.summarise(res, final)
	if cfg.Centralized {
		if res.CentralizedAccuracy, err = centralised(cfg, sim.fed.Model, prep); err != nil {
			return nil, err
		}
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// simulation is one run of Simulate: the federation, its parties and the
// coordinator, before and after the rounds.
type simulation struct {
	cfg     SimConfig
	prep    *Prepared
	fed     engine.Federation
	ids     []*identity.Identity
	coord   *engine.Coordinator
	history []RoundReport
	uploads int64 // participants summed over the released rounds
	bytesUp int64
	stdTest *data.Dataset // the test set standardised like the nodes' data
}

func newSimulation(cfg SimConfig, prep *Prepared) (*simulation, error) {
	ids, err := SimIdentities(cfg.Seed, cfg.Parties)
	if err != nil {
		return nil, err
	}
	nodes := make([]transport.PeerID, cfg.Parties)
	for i, id := range ids {
		nodes[i] = id.PeerID()
	}
	fed := engine.Federation{
		ID: cfg.FederationID, Nodes: nodes, Threshold: cfg.Threshold, Protocol: cfg.Protocol,
		Rounds: cfg.Rounds, Model: cfg.ModelSpec(prep.Train.Classes), Features: prep.Train.Features, Classes: prep.Train.Classes,
		Train: cfg.Train, Strategy: cfg.Strategy, Bound: cfg.Bound, DP: cfg.DP, Standardize: cfg.Standardize,
		MHEParamSet: cfg.MHEParamSet, MHEInsecureTestParams: cfg.MHEInsecureTestParams,
	}
	if err := fed.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	coord, err := engine.NewCoordinator(engine.CoordinatorConfig{Federation: fed, Seed: cfg.Seed, Fraction: cfg.Fraction, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	return &simulation{cfg: cfg, prep: prep, fed: fed, ids: ids, coord: coord}, nil
}

// protocol returns the simulated protocol's description.
func (s *simulation) protocol() engine.Protocol {
	for _, p := range engine.Protocols() {
		if p.Name == s.cfg.Protocol {
			return p
		}
	}
	return engine.Protocol{}
}

func (s *simulation) result() *SimResult {
	res := &SimResult{
		Protocol: s.cfg.Protocol, Secure: s.protocol().Secure, Dataset: s.cfg.Dataset, Model: s.fed.Model.String(),
		Strategy: s.cfg.Strategy.Name, Parties: s.cfg.Parties, Threshold: s.cfg.Threshold, Rounds: s.cfg.Rounds,
		Params: len(s.coord.Params()), TrainExamples: s.prep.Train.Len(), TestExamples: s.prep.Test.Len(),
	}
	if res.Strategy == "" {
		res.Strategy = "fedavg"
	}
	if s.cfg.DP.Enabled() {
		res.Delta = s.cfg.DP.Delta
	}
	return res
}

// run starts every party's driver on its own endpoint and drives the
// coordinator until the federation is done.
func (s *simulation) run(ctx context.Context, observe func(RoundReport)) (*model.File, error) {
	cfg, log := s.cfg, s.cfg.Logger
	types, err := engine.MessageTypes(len(s.coord.Params()), cfg.Parties)
	if err != nil {
		return nil, err
	}
	net, err := mem.New(mem.Config{FederationID: cfg.FederationID, Types: types, Seed: cfg.Seed})
	if err != nil {
		return nil, err
	}
	const coordID = transport.PeerID("coordinator")
	cep, err := net.Join(coordID)
	if err != nil {
		return nil, err
	}
	epoch := time.Unix(0, 0).UTC()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p := s.protocol()
	drops := newDropper(cfg.Seed, cfg.Dropout, p.Name+"/"+p.Contribution)
	var wg sync.WaitGroup
	nodeErr := make([]error, cfg.Parties)
	for i := range cfg.Parties {
		ep, err := net.Join(s.fed.Nodes[i])
		if err != nil {
			return nil, err
		}
		nd, err := engine.NewNode(engine.NodeConfig{
			Federation: s.fed, Self: s.fed.Nodes[i], Coordinator: coordID, Signer: s.ids[i].Signer(),
			Train: s.prep.Train.Subset(s.prep.Parts[i]), Seed: NodeSeed(cfg.Seed, i), Rand: SimNodeRand(cfg.Seed, i), Logger: log,
		})
		if err != nil {
			return nil, fmt.Errorf("%w: party %d: %w", ErrBadConfig, i, err)
		}
		wg.Go(func() {
			defer ep.Close()
			_, nodeErr[i] = RunNode(ctx, nd, ep, coordID, NodeIO{
				Clock: VirtualClock{Net: net, Endpoint: ep, Epoch: epoch}, Logger: log, Filter: drops.filter(i),
			})
		})
	}
	final, err := RunCoordinator(ctx, s.coord, cep, CoordinatorIO{
		Clock: VirtualClock{Net: net, Endpoint: cep, Epoch: epoch}, Logger: log,
		Progress: func(r *RoundReport) { s.report(r, observe) },
	})
	// The simulation needs nothing more from the nodes: stop them (a node
	// still waiting in virtual time would otherwise wait for ever).
	cancel()
	cep.Close()
	wg.Wait()
	if err != nil {
		if errors.Is(err, engine.ErrConfig) || errors.Is(err, engine.ErrPlan) {
			return nil, fmt.Errorf("%w: %w", ErrBadConfig, err)
		}
		return nil, err
	}
	for i, e := range nodeErr {
		if e != nil && !errors.Is(e, context.Canceled) {
			return nil, fmt.Errorf("party %d: %w", i, e)
		}
	}
	return final, nil
}

// report evaluates the global model after a round on the pooled test set.
func (s *simulation) report(r *RoundReport, observe func(RoundReport)) {
	if g, err := s.coord.ModelFile().Model(); err == nil {
		r.Loss, r.Accuracy = model.Evaluate(g, s.testSet().X, s.testSet().Y)
	}
	if !r.Aborted {
		s.uploads += int64(r.Participants)
		s.bytesUp += r.BytesUp
	}
	s.history = append(s.history, *r)
	s.cfg.Logger.Info("round done", "round", r.Round, "participants", r.Participants, "contributors", r.Contributors, "accuracy", r.Accuracy)
	if observe != nil {
		observe(*r)
	}
}

// testSet returns the test set as the model sees it: standardised with the
// federation's released statistics when the nodes standardise.
func (s *simulation) testSet() *data.Dataset {
	mf := s.coord.ModelFile()
	if !s.cfg.Standardize || mf.Std == nil {
		return s.prep.Test
	}
	if s.stdTest == nil {
		t := s.prep.Test.Subset(seqInts(s.prep.Test.Len()))
		if err := (&data.Scaler{Mean: mf.Mean, Std: mf.Std}).Transform(t); err != nil {
			return s.prep.Test
		}
		s.stdTest = t
	}
	return s.stdTest
}

func seqInts(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func (s *simulation) summarise(res *SimResult, final *model.File) {
	res.History = s.history
	res.AbortedRounds = s.coord.AbortedAttempts()
	res.Stopped = s.coord.Stopped()
	if n := len(s.history); n > 0 {
		res.FinalAccuracy, res.FinalLoss = s.history[n-1].Accuracy, s.history[n-1].Loss
		res.Epsilon = s.history[n-1].Epsilon
	} else if g, err := final.Model(); err == nil {
		res.FinalLoss, res.FinalAccuracy = model.Evaluate(g, s.testSet().X, s.testSet().Y)
	}
	if s.uploads > 0 {
		res.BytesUpPerNode = float64(s.bytesUp) / float64(s.uploads)
	}
	res.Global = final.Params
	res.ModelDigest = ParamsDigest(final.Params)
}

// ParamsDigest is the SHA-256 (hex) of parameters encoded as float32
// little-endian: equal digests mean bit-identical models.
func ParamsDigest(p []float32) string {
	h := sha256.New()
	var b [4]byte
	for _, v := range p {
		binary.LittleEndian.PutUint32(b[:], math.Float32bits(v))
		h.Write(b[:])
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// centralised trains the same model, from the same initial weights, on all
// training data pooled, for Rounds*LocalEpochs epochs, and returns its test
// accuracy.
func centralised(cfg SimConfig, spec model.Spec, prep *Prepared) (float64, error) {
	c, err := model.New(spec, prep.Train.Features, prep.Train.Classes, cfg.Seed)
	if err != nil {
		return 0, err
	}
	_, err = model.Train(c, prep.Train.X, prep.Train.Y, model.TrainConfig{
		Epochs: cfg.Rounds * cfg.Train.LocalEpochs, BatchSize: cfg.Train.BatchSize, LR: cfg.Train.LR,
		Momentum: cfg.Train.Momentum, WeightDecay: cfg.Train.WeightDecay, Seed: cfg.Seed,
	})
	if err != nil {
		return 0, err
	}
	_, acc := model.Evaluate(c, prep.Test.X, prep.Test.Y)
	return acc, nil
}

// dropper injects a simulation's dropouts into the nodes' drivers: in each
// training attempt a selected node drops with probability rate, at a stage
// drawn from the seed, attempt and node (so every protocol sees the same
// drops): it ignores the RoundStart, or goes silent instead of sending its
// protected update, or goes silent right after sending it (during
// unmasking or decryption).
type dropper struct {
	seed         uint64
	rate         float64
	contribution string // the message type of a protected update
}

func newDropper(seed uint64, rate float64, contribution string) *dropper {
	return &dropper{seed: seed, rate: rate, contribution: contribution}
}

type dropStage uint8

const (
	dropNone dropStage = iota
	dropIgnore
	dropBefore
	dropAfter
)

// filter returns node i's NodeIO.Filter.
func (d *dropper) filter(i int) func(*transport.Incoming, *transport.Message) bool {
	if d.rate == 0 {
		return nil
	}
	var attempt uint64
	stage := dropNone
	silent := false
	tries := map[uint32]uint64{} // training attempts seen per round
	return func(in *transport.Incoming, out *transport.Message) bool {
		if in != nil {
			if in.Type == "train/round-start" && in.Round > attempt {
				attempt, stage, silent = in.Round, d.draw(in, i, tries), false
				if stage == dropIgnore {
					silent = true
				}
			}
			return !(silent && in.Round == attempt && in.Type != "train/done")
		}
		if out.Round != attempt || out.Round == 0 {
			return true
		}
		if silent {
			return false
		}
		if out.Type == d.contribution {
			switch stage {
			case dropBefore:
				silent = true
				return false
			case dropAfter:
				silent = true
			}
		}
		return true
	}
}

// draw decides node i's fate in the attempt that in starts, from the seed,
// the training round and how many attempts of that round node i saw before
// (not the attempt number, which setup and statistics attempts shift), so
// every protocol sees the same drops.
func (d *dropper) draw(in *transport.Incoming, i int, tries map[uint32]uint64) dropStage {
	var rs trainpb.RoundStart
	if proto.Unmarshal(in.Payload, &rs) != nil || rs.Phase != trainpb.Phase_PHASE_TRAIN {
		return dropNone
	}
	k := tries[rs.Round]
	tries[rs.Round] = k + 1
	r := rand.New(rand.NewPCG(d.seed^uint64(rs.Round)*0xbf58476d1ce4e5b9, uint64(i)|k<<32))
	if r.Float64() >= d.rate {
		return dropNone
	}
	return dropStage(1 + r.IntN(3))
}
