package federated

import (
	"context"
	"errors"
	"math"
	"testing"
)

func TestSimulateBreastCancerMatchesCentralised(t *testing.T) {
	res, err := Simulate(context.Background(), SimConfig{
		Dataset: "breast-cancer", Parties: 3, Rounds: 20, Centralized: true, Seed: 1,
	}, Plain{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.FinalAccuracy < 0.95 {
		t.Errorf("final accuracy %.4f < 0.95", res.FinalAccuracy)
	}
	if d := math.Abs(res.FinalAccuracy - res.CentralizedAccuracy); d > 0.02 {
		t.Errorf("federated %.4f vs centralised %.4f: gap %.4f > 0.02", res.FinalAccuracy, res.CentralizedAccuracy, d)
	}
	if res.Params != 31 || res.BytesUpPerNode != 4*31 {
		t.Errorf("params %d, bytes up %.0f; want 31 and 124", res.Params, res.BytesUpPerNode)
	}
}

func TestSimulateDigitsDirichletNearCentralised(t *testing.T) {
	for _, seed := range []uint64{1, 2} {
		res, err := Simulate(context.Background(), SimConfig{
			Dataset: "digits", Parties: 5, Partition: "dirichlet:0.5", Rounds: 30, Centralized: true, Seed: seed,
		}, Plain{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if d := res.CentralizedAccuracy - res.FinalAccuracy; d > 0.03 {
			t.Errorf("seed %d: federated %.4f vs centralised %.4f: gap %.4f > 0.03", seed, res.FinalAccuracy, res.CentralizedAccuracy, d)
		}
	}
}

func TestSimulateDeterministic(t *testing.T) {
	cfg := SimConfig{Dataset: "wine", Parties: 4, Rounds: 5, Dropout: 0.3, Seed: 7, Strategy: StrategyConfig{Name: "fedprox"}}
	a, err := Simulate(context.Background(), cfg, Plain{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Simulate(context.Background(), cfg, Plain{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a.Global {
		if math.Float32bits(a.Global[i]) != math.Float32bits(b.Global[i]) {
			t.Fatalf("parameter %d differs between identical runs", i)
		}
	}
	cfg.Seed = 8
	c, err := Simulate(context.Background(), cfg, Plain{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	same := true
	for i := range a.Global {
		same = same && a.Global[i] == c.Global[i]
	}
	if same {
		t.Error("a different seed gave identical parameters")
	}
}

func TestSimulateStrategiesLearn(t *testing.T) {
	for _, s := range []string{"fedavg", "fedprox", "fedadam"} {
		t.Run(s, func(t *testing.T) {
			sc := StrategyConfig{Name: s}
			if s == "fedadam" {
				sc.ServerLR = 0.05
			}
			res, err := Simulate(context.Background(), SimConfig{Dataset: "wine", Parties: 3, Rounds: 15, Seed: 3, Strategy: sc}, Plain{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Strategy != s || res.FinalAccuracy < 0.9 {
				t.Errorf("strategy %s: accuracy %.4f < 0.9", res.Strategy, res.FinalAccuracy)
			}
		})
	}
}

// abortingAggregator returns ErrTooFewContributors every other round.
type abortingAggregator struct{ calls int }

func (*abortingAggregator) Name() string { return "flaky" }
func (*abortingAggregator) Secure() bool { return false }
func (a *abortingAggregator) Aggregate(ctx context.Context, s RoundSpec) (RoundResult, error) {
	a.calls++
	if a.calls%2 == 1 {
		return RoundResult{}, ErrTooFewContributors
	}
	return Plain{}.Aggregate(ctx, s)
}

func TestSimulateAbortedRoundKeepsModel(t *testing.T) {
	var reps []RoundReport
	res, err := Simulate(context.Background(), SimConfig{Dataset: "wine", Parties: 3, Rounds: 4, Seed: 1},
		&abortingAggregator{}, func(r RoundReport) { reps = append(reps, r) })
	if err != nil {
		t.Fatal(err)
	}
	if res.AbortedRounds != 2 || len(reps) != 4 || !reps[0].Aborted || reps[1].Aborted {
		t.Fatalf("aborted %d, reports %+v", res.AbortedRounds, reps)
	}
	// Round 1 aborted, so its loss is the initial model's; round 2 trained.
	if !(reps[1].Loss < reps[0].Loss) || reps[2].Loss != reps[1].Loss {
		t.Errorf("aborted rounds must leave the model unchanged and others improve it: %+v", reps)
	}
}

func TestPlainDropsAndThreshold(t *testing.T) {
	in := [][]float32{{1, 2}, {10, 20}, {100, 200}}
	res, err := Plain{}.Aggregate(context.Background(), RoundSpec{
		Inputs: in, Drops: []DropStage{DropNone, DropBeforeUpload, DropAfterUpload}, Threshold: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Sum[0] != 101 || res.Sum[1] != 202 || len(res.Contributors) != 2 || res.BytesUp[1] != 0 || res.BytesUp[0] != 8 {
		t.Fatalf("got %+v", res)
	}
	_, err = Plain{}.Aggregate(context.Background(), RoundSpec{
		Inputs: in, Drops: []DropStage{DropBeforeUpload, DropBeforeUpload, DropNone}, Threshold: 2,
	})
	if !errors.Is(err, ErrTooFewContributors) {
		t.Fatalf("want ErrTooFewContributors, got %v", err)
	}
	if _, err := (Plain{}).Aggregate(context.Background(), RoundSpec{Inputs: [][]float32{{1}, {1, 2}}}); !errors.Is(err, ErrBadRound) {
		t.Fatalf("ragged inputs: want ErrBadRound, got %v", err)
	}
}

func TestSimConfigValidate(t *testing.T) {
	bad := []SimConfig{
		{Parties: 3, Rounds: 1},
		{Dataset: "wine", Parties: 0, Rounds: 1},
		{Dataset: "wine", Parties: 3, Rounds: 0},
		{Dataset: "wine", Parties: 3, Rounds: 1, Dropout: 1},
		{Dataset: "wine", Parties: 3, Rounds: 1, Threshold: 4},
		{Dataset: "wine", Parties: 3, Rounds: 1, Fraction: 1.5},
	}
	for i, c := range bad {
		if err := c.Validate(); !errors.Is(err, ErrBadConfig) {
			t.Errorf("case %d: want ErrBadConfig, got %v", i, err)
		}
	}
}

func TestFedAdamStep(t *testing.T) {
	s, err := NewStrategy(StrategyConfig{Name: "fedadam", ServerLR: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	g := []float32{0, 0}
	s.Apply(g, []float32{1, -2})
	// First step: m = 0.1*d, v = 0.01*d^2, step = lr * m / (sqrt(v)+tau) = 0.1 * 0.1d / (0.1|d| + 1e-3).
	want0 := 0.1 * 0.1 / (0.1 + 1e-3)
	if math.Abs(float64(g[0])-want0) > 1e-5 || math.Abs(float64(g[1])+0.1*0.2/(0.2+1e-3)) > 1e-5 {
		t.Fatalf("got %v", g)
	}
	if _, err := NewStrategy(StrategyConfig{Name: "sgd"}); !errors.Is(err, ErrBadConfig) {
		t.Fatal("unknown strategy accepted")
	}
}

func TestSimulateDPReportsEpsilonAndStopsAtBudget(t *testing.T) {
	cfg := SimConfig{Dataset: "digits", Parties: 10, Rounds: 20, Seed: 1, DP: DPConfig{Clip: 1, NoiseMultiplier: 1}}
	res, err := Simulate(context.Background(), cfg, Plain{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Delta != 1e-5 || !(res.Epsilon > 0) || res.Stopped != "" || len(res.History) != 20 {
		t.Fatalf("epsilon %v delta %v stopped %q rounds %d", res.Epsilon, res.Delta, res.Stopped, len(res.History))
	}
	for i := 1; i < len(res.History); i++ {
		if !(res.History[i].Epsilon > res.History[i-1].Epsilon) {
			t.Fatalf("epsilon must grow every round: %v then %v", res.History[i-1].Epsilon, res.History[i].Epsilon)
		}
	}
	// A budget between rounds 3 and 4 stops training after round 3.
	budget := (res.History[2].Epsilon + res.History[3].Epsilon) / 2
	cfg.DP.EpsilonBudget = budget
	res2, err := Simulate(context.Background(), cfg, Plain{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res2.History) != 3 || res2.Stopped == "" || res2.Epsilon > budget {
		t.Fatalf("budget %v: %d rounds, epsilon %v, stopped %q", budget, len(res2.History), res2.Epsilon, res2.Stopped)
	}
	// Noise costs accuracy at this tiny scale, but the model still learns.
	if res.FinalAccuracy < 0.5 {
		t.Errorf("DP accuracy %.3f", res.FinalAccuracy)
	}
	if err := (&SimConfig{Dataset: "wine", Parties: 3, Rounds: 1, DP: DPConfig{Clip: 1}}).Validate(); !errors.Is(err, ErrBadConfig) {
		t.Errorf("clip without noise accepted: %v", err)
	}
}
