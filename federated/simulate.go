package federated

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"time"

	"github.com/consort-ml/consort/federated/data"
	"github.com/consort-ml/consort/federated/model"
)

// ErrBadConfig marks an invalid simulation or strategy configuration.
var ErrBadConfig = errors.New("federated: bad config")

// TrainSettings are the local-training hyper-parameters every node uses.
type TrainSettings struct {
	LocalEpochs int     // epochs of local SGD per round (default 1)
	BatchSize   int     // mini-batch size (default 32)
	LR          float32 // learning rate (default 0.1)
	Momentum    float32 // SGD momentum (default 0.9)
	WeightDecay float32 // L2 weight decay (default 0)
}

func (t *TrainSettings) defaults() {
	if t.LocalEpochs == 0 {
		t.LocalEpochs = 1
	}
	if t.BatchSize == 0 {
		t.BatchSize = 32
	}
	if t.LR == 0 {
		t.LR = 0.1
	}
}

func (t TrainSettings) validate() error {
	if t.LocalEpochs < 1 || t.BatchSize < 1 || !(t.LR > 0) || t.Momentum < 0 || t.Momentum >= 1 || t.WeightDecay < 0 {
		return fmt.Errorf("%w: need local epochs >= 1, batch size >= 1, lr > 0, 0 <= momentum < 1, weight decay >= 0", ErrBadConfig)
	}
	return nil
}

// SimConfig configures an in-process federated simulation. The zero value of
// each optional field selects a documented default.
type SimConfig struct {
	// FederationID binds the protocol keys of the run (default "sim").
	FederationID string
	// Dataset is a bundled name (breast-cancer, digits, wine, mnist) or csv:PATH.
	Dataset string
	// Label names the label column of a csv: dataset.
	Label string
	// TestFraction is the share of a non-MNIST data set held out for
	// evaluation (default 0.25).
	TestFraction float64
	// Parties is the number of simulated teams.
	Parties int
	// Partition is iid (default), dirichlet:A or quantity:A.
	Partition string
	// Rounds is the number of federated rounds.
	Rounds int
	// Fraction of the parties selected per round (default 1: all).
	Fraction float64
	// Model is the model architecture; the zero value picks logistic for two
	// classes and softmax otherwise.
	Model model.Spec
	// Train holds the local training settings.
	Train TrainSettings
	// Strategy is the server-side aggregation strategy (default fedavg).
	Strategy StrategyConfig
	// Dropout is the probability that a selected party drops during a round.
	Dropout float64
	// Threshold is the minimum number of contributors per aggregate (0: the
	// protocol's default for the number of participants).
	Threshold int
	// Bound clips each coordinate of a weighted update to [-Bound, Bound]
	// before protection (default 4), so fixed-point protocols cannot overflow.
	Bound float32
	// Centralized also trains the centralised baseline: the same model on all
	// training data pooled, for the same total number of epochs.
	Centralized bool
	// DP, when Clip > 0, adds distributed differential privacy.
	DP DPConfig
	// Seed makes the whole run repeatable.
	Seed uint64
	// Logger receives structured progress records (nil: discard).
	Logger *slog.Logger
}

// DPConfig configures distributed differential privacy (see the package
// documentation, "Differential privacy").
type DPConfig struct {
	// Clip is the L2 norm bound C of a party's update (0 disables DP).
	Clip float64
	// NoiseMultiplier z: the aggregate carries Gaussian noise of standard
	// deviation z*C.
	NoiseMultiplier float64
	// Delta is the delta at which epsilon is reported (default 1e-5).
	Delta float64
	// EpsilonBudget, when > 0, stops training at the last round that keeps
	// epsilon within it.
	EpsilonBudget float64
}

// Enabled reports whether DP is on.
func (c DPConfig) Enabled() bool { return c.Clip > 0 }

// RoundReport describes one finished round.
type RoundReport struct {
	Round        int  `json:"round"`
	Rounds       int  `json:"rounds"`
	Participants int  `json:"participants"`
	Contributors int  `json:"contributors"`
	Aborted      bool `json:"aborted,omitempty"`
	// Accuracy and Loss of the global model after the round; in networked
	// runs they come from the nodes' held-out rows, and are -1 when no
	// contributor reported any.
	Accuracy float64 `json:"accuracy"`
	Loss     float64 `json:"loss"`
	BytesUp  int64   `json:"bytes_up"`
	Seconds  float64 `json:"seconds"`
	// Epsilon spent so far at the run's delta (DP only).
	Epsilon float64 `json:"epsilon,omitempty"`
}

// SimResult summarises a simulation.
type SimResult struct {
	Protocol            string  `json:"protocol"`
	Secure              bool    `json:"secure"`
	Dataset             string  `json:"dataset"`
	Model               string  `json:"model"`
	Strategy            string  `json:"strategy"`
	Parties             int     `json:"parties"`
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
	Stopped        string        `json:"stopped,omitempty"`
	BytesUpPerNode float64       `json:"bytes_up_per_node"`
	Seconds        float64       `json:"seconds"`
	History        []RoundReport `json:"history"`
	// Global holds the final global parameters (not serialised in summaries).
	Global []float32 `json:"-"`
}

// Prepared is a data set loaded, split, standardised and partitioned among parties.
type Prepared struct {
	Train, Test *data.Dataset
	// Parts holds, per party, indices into Train.
	Parts [][]int
}

func (c *SimConfig) defaults() {
	if c.FederationID == "" {
		c.FederationID = "sim"
	}
	if c.TestFraction == 0 {
		c.TestFraction = 0.25
	}
	if c.Partition == "" {
		c.Partition = "iid"
	}
	if c.Fraction == 0 {
		c.Fraction = 1
	}
	if c.Bound == 0 {
		c.Bound = 4
	}
	if c.DP.Enabled() && c.DP.Delta == 0 {
		c.DP.Delta = 1e-5
	}
	c.Train.defaults()
}

// Validate checks the configuration after defaults are applied.
func (c *SimConfig) Validate() error {
	c.defaults()
	switch {
	case c.Dataset == "":
		return fmt.Errorf("%w: no dataset", ErrBadConfig)
	case c.Parties < 1:
		return fmt.Errorf("%w: parties must be >= 1", ErrBadConfig)
	case c.Rounds < 1:
		return fmt.Errorf("%w: rounds must be >= 1", ErrBadConfig)
	case !(c.Fraction > 0 && c.Fraction <= 1):
		return fmt.Errorf("%w: fraction must be in (0, 1]", ErrBadConfig)
	case !(c.Dropout >= 0 && c.Dropout < 1):
		return fmt.Errorf("%w: dropout must be in [0, 1)", ErrBadConfig)
	case c.Threshold < 0 || c.Threshold > c.Parties:
		return fmt.Errorf("%w: threshold must be in 0..parties", ErrBadConfig)
	case !(c.TestFraction > 0 && c.TestFraction < 1):
		return fmt.Errorf("%w: test fraction must be in (0, 1)", ErrBadConfig)
	case !(c.Bound > 0) || math.IsInf(float64(c.Bound), 0):
		return fmt.Errorf("%w: bound must be positive and finite", ErrBadConfig)
	case c.DP.Clip < 0 || math.IsNaN(c.DP.Clip) || math.IsInf(c.DP.Clip, 0):
		return fmt.Errorf("%w: dp clip must be >= 0 and finite", ErrBadConfig)
	case c.DP.Enabled() && !(c.DP.NoiseMultiplier > 0):
		return fmt.Errorf("%w: dp noise multiplier must be > 0 with a clip", ErrBadConfig)
	case !c.DP.Enabled() && (c.DP.NoiseMultiplier != 0 || c.DP.EpsilonBudget != 0):
		return fmt.Errorf("%w: dp noise and budget need --dp-clip", ErrBadConfig)
	case c.DP.Delta < 0 || c.DP.Delta >= 1 || c.DP.EpsilonBudget < 0:
		return fmt.Errorf("%w: dp delta must be in (0, 1) and the budget >= 0", ErrBadConfig)
	}
	return c.Train.validate()
}

// Prepare loads the configured data set, splits it into train and test,
// standardises features (fitted on train only) and partitions the training
// examples among the parties.
func Prepare(c SimConfig) (*Prepared, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	var train, test *data.Dataset
	if c.Dataset == "mnist" {
		var err error
		train, test, err = data.LoadMNIST(data.LoadOptions{})
		if err != nil {
			return nil, err
		}
	} else {
		ds, err := data.Load(c.Dataset, data.LoadOptions{Label: c.Label})
		if err != nil {
			return nil, err
		}
		train, test, err = data.Split(ds, c.TestFraction, c.Seed)
		if err != nil {
			return nil, err
		}
		if _, err := data.Standardize(train, test); err != nil {
			return nil, err
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

// Simulate runs the federated rounds of cfg in process, aggregating every
// round through agg, and calls observe (if not nil) after each round.
func Simulate(ctx context.Context, cfg SimConfig, agg Aggregator, observe func(RoundReport)) (*SimResult, error) {
	start := time.Now()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	prep, err := Prepare(cfg)
	if err != nil {
		return nil, err
	}
	strategy, err := NewStrategy(cfg.Strategy)
	if err != nil {
		return nil, err
	}
	spec := cfg.ModelSpec(prep.Train.Classes)
	global, err := model.New(spec, prep.Train.Features, prep.Train.Classes, cfg.Seed)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	res := &SimResult{
		Protocol:      agg.Name(),
		Secure:        agg.Secure(),
		Dataset:       cfg.Dataset,
		Model:         spec.String(),
		Strategy:      strategy.Name(),
		Parties:       cfg.Parties,
		Rounds:        cfg.Rounds,
		Params:        global.NumParams(),
		TrainExamples: prep.Train.Len(),
		TestExamples:  prep.Test.Len(),
	}
	log.Info("simulation start", "protocol", agg.Name(), "dataset", cfg.Dataset, "parties", cfg.Parties, "rounds", cfg.Rounds, "params", res.Params)

	locals := make([]model.Model, cfg.Parties)
	for i := range locals {
		locals[i] = global.Clone()
	}
	partX := make([][]float32, cfg.Parties)
	partY := make([][]int, cfg.Parties)
	for i, idx := range prep.Parts {
		sub := prep.Train.Subset(idx)
		partX[i], partY[i] = sub.X, sub.Y
	}

	dp, err := newSimDP(cfg, global.NumParams(), agg)
	if err != nil {
		return nil, err
	}
	if dp != nil {
		res.Delta = cfg.DP.Delta
	}

	rng := rand.New(rand.NewPCG(cfg.Seed, 0x636f6e736f7274)) // "consort"
	var bytesUp int64
	var uploads int64
	d := global.NumParams()
	for r := 1; r <= cfg.Rounds; r++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		t0 := time.Now()
		if dp != nil {
			if n, err := dp.budget.Affordable(1); err != nil {
				return nil, err
			} else if n == 0 {
				next, _ := dp.budget.Next()
				res.Stopped = fmt.Sprintf("privacy budget: round %d would bring epsilon to %.4g, over the budget %g at delta %g; stopped after round %d (epsilon %.4g)",
					r, next, cfg.DP.EpsilonBudget, cfg.DP.Delta, r-1, dp.budget.Epsilon())
				log.Warn("privacy budget exhausted", "round", r)
				break
			}
		}
		selected := selectParties(rng, cfg.Parties, cfg.Fraction, cfg.Threshold)
		drops := make([]DropStage, len(selected))
		for i := range drops {
			if cfg.Dropout > 0 && rng.Float64() < cfg.Dropout {
				if rng.IntN(2) == 0 {
					drops[i] = DropBeforeUpload
				} else {
					drops[i] = DropAfterUpload
				}
			}
		}
		var total int
		for _, p := range selected {
			total += len(partY[p])
		}
		// Local training, in parallel across parties; each party's result
		// depends only on its own data and seed, so the run is deterministic.
		inputs := make([][]float32, len(selected))
		var ring [][]uint32
		if dp != nil && dp.ring {
			ring = make([][]uint32, len(selected))
		}
		weights := make([]float64, len(selected))
		gparams := global.Params()
		err := parallel(ctx, len(selected), func(i int) error {
			p := selected[i]
			m := locals[p]
			copy(m.Params(), gparams)
			tc := model.TrainConfig{
				Epochs:      cfg.Train.LocalEpochs,
				BatchSize:   cfg.Train.BatchSize,
				LR:          cfg.Train.LR,
				Momentum:    cfg.Train.Momentum,
				WeightDecay: cfg.Train.WeightDecay,
				Prox:        strategy.ProxMu(),
				ProxCenter:  gparams,
				Seed:        cfg.Seed ^ uint64(r)<<32 ^ uint64(p)*0x9e3779b97f4a7c15,
			}
			if drops[i] == DropBeforeUpload {
				// The party leaves before uploading: its update is never
				// used, so it is not computed.
				inputs[i] = make([]float32, d)
				if ring != nil {
					ring[i] = make([]uint32, d)
				}
				return nil
			}
			if len(partY[p]) > 0 {
				if _, err := model.Train(m, partX[p], partY[p], tc); err != nil {
					return err
				}
			}
			u := make([]float32, d)
			lp := m.Params()
			if dp != nil {
				// DP: every party is one privacy unit with equal
				// weight; clip, then add this party's noise share.
				for j := range u {
					u[j] = lp[j] - gparams[j]
				}
				q, err := dp.protect(u, cfg.Seed, r, p)
				if err != nil {
					return err
				}
				if ring != nil {
					ring[i] = q
				}
				weights[i] = 1
				inputs[i] = u
				return nil
			}
			w := float32(len(partY[p])) / float32(total)
			weights[i] = float64(w)
			for j := range u {
				v := (lp[j] - gparams[j]) * w
				u[j] = min(max(v, -cfg.Bound), cfg.Bound)
			}
			inputs[i] = u
			return nil
		})
		if err != nil {
			return nil, err
		}
		rep := RoundReport{Round: r, Rounds: cfg.Rounds, Participants: len(selected)}
		bound, threshold := cfg.Bound, min(cfg.Threshold, len(selected))
		if dp != nil {
			bound, threshold = dp.bound, min(dp.threshold, len(selected))
		}
		out, err := agg.Aggregate(ctx, RoundSpec{
			FederationID: cfg.FederationID,
			Round:        uint64(r),
			Inputs:       inputs,
			Bound:        bound,
			Drops:        drops,
			Threshold:    threshold,
			Ring32:       ring,
			RingFrac:     ringFrac(dp),
			Seed:         cfg.Seed ^ uint64(r)*0xbf58476d1ce4e5b9,
		})
		switch {
		case errors.Is(err, ErrTooFewContributors):
			rep.Aborted = true
			res.AbortedRounds++
			log.Warn("round aborted", "round", r, "err", err)
		case err != nil:
			return nil, fmt.Errorf("round %d: %w", r, err)
		default:
			var wsum float64
			for _, c := range out.Contributors {
				wsum += weights[c]
			}
			if wsum > 0 {
				inv := float32(1 / wsum)
				delta := out.Sum
				for j := range delta {
					delta[j] *= inv
				}
				strategy.Apply(gparams, delta)
			}
			rep.Contributors = len(out.Contributors)
			if dp != nil {
				if rep.Epsilon, err = dp.budget.Spend(); err != nil {
					return nil, err
				}
				res.Epsilon = rep.Epsilon
			}
			for _, b := range out.BytesUp {
				rep.BytesUp += b
			}
			bytesUp += rep.BytesUp
			uploads += int64(len(selected))
		}
		rep.Loss, rep.Accuracy = model.Evaluate(global, prep.Test.X, prep.Test.Y)
		rep.Seconds = time.Since(t0).Seconds()
		res.History = append(res.History, rep)
		log.Info("round done", "round", r, "participants", rep.Participants, "contributors", rep.Contributors, "accuracy", rep.Accuracy, "seconds", rep.Seconds)
		if observe != nil {
			observe(rep)
		}
	}
	if len(res.History) == 0 {
		res.FinalLoss, res.FinalAccuracy = model.Evaluate(global, prep.Test.X, prep.Test.Y)
	} else {
		last := res.History[len(res.History)-1]
		res.FinalAccuracy, res.FinalLoss = last.Accuracy, last.Loss
	}
	if uploads > 0 {
		res.BytesUpPerNode = float64(bytesUp) / float64(uploads)
	}
	res.Global = append([]float32(nil), global.Params()...)
	if cfg.Centralized {
		c := global.Clone()
		init, err := model.New(spec, prep.Train.Features, prep.Train.Classes, cfg.Seed)
		if err != nil {
			return nil, err
		}
		copy(c.Params(), init.Params())
		_, err = model.Train(c, prep.Train.X, prep.Train.Y, model.TrainConfig{
			Epochs:      cfg.Rounds * cfg.Train.LocalEpochs,
			BatchSize:   cfg.Train.BatchSize,
			LR:          cfg.Train.LR,
			Momentum:    cfg.Train.Momentum,
			WeightDecay: cfg.Train.WeightDecay,
			Seed:        cfg.Seed,
		})
		if err != nil {
			return nil, err
		}
		_, res.CentralizedAccuracy = model.Evaluate(c, prep.Test.X, prep.Test.Y)
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// selectParties samples ceil(fraction*n) parties (at least threshold and one),
// returned in increasing order.
func selectParties(rng *rand.Rand, n int, fraction float64, threshold int) []int {
	k := int(math.Ceil(fraction * float64(n)))
	k = max(k, threshold, 1)
	k = min(k, n)
	perm := rng.Perm(n)[:k]
	sel := make([]int, n)
	for _, p := range perm {
		sel[p] = 1
	}
	out := make([]int, 0, k)
	for p, s := range sel {
		if s == 1 {
			out = append(out, p)
		}
	}
	return out
}

// parallel runs f(0..n-1) on up to GOMAXPROCS goroutines and returns the
// first error.
func parallel(ctx context.Context, n int, f func(i int) error) error {
	workers := min(runtime.GOMAXPROCS(0), n)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  int
	)
	for range workers {
		wg.Go(func() {
			for {
				mu.Lock()
				if first != nil || next >= n {
					mu.Unlock()
					return
				}
				i := next
				next++
				mu.Unlock()
				err := ctx.Err()
				if err == nil {
					err = f(i)
				}
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return first
}

func ringFrac(dp *simDP) uint {
	if dp == nil || !dp.ring {
		return 0
	}
	return dp.mech.FracBits
}
