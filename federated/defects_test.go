package federated

import (
	"context"
	"strings"
	"testing"
)

// Regression tests for the drift between the first release's two copies of
// the round logic; with one engine each holds for every driver.

// TestSimulateSecAggUsesTheFederationThreshold: `consort simulate --protocol
// secagg` set only a dropout rate, so the SecAgg+ parameters came out as t = 2
// for every n (k = 12 at n = 50). Now the simulation's threshold is a
// majority and secagg never shares below it.
func TestSimulateSecAggUsesTheFederationThreshold(t *testing.T) {
	cfg := SimConfig{Dataset: "breast-cancer", Parties: 50, Rounds: 1, Protocol: "secagg", Seed: 1}
	if got := cfg.resolved().Threshold; got != 17 {
		t.Fatalf("default threshold for 50 parties: %d, want 17", got)
	}
	res, err := Simulate(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Threshold != 17 || len(res.History) != 1 || res.History[0].Contributors != 50 {
		t.Fatalf("threshold %d, history %+v", res.Threshold, res.History)
	}
}

// TestSimulateLongFederationID: a federation id of 65 to 128 bytes (valid in
// a manifest and on the transport) failed every networked secagg attempt.
func TestSimulateLongFederationID(t *testing.T) {
	cfg := SimConfig{FederationID: strings.Repeat("x", 120), Dataset: "breast-cancer", Parties: 3, Rounds: 2, Protocol: "secagg", Seed: 1}
	res, err := Simulate(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.History) != 2 || res.History[1].Contributors != 3 || !(res.FinalAccuracy > 0.9) {
		t.Fatalf("history %+v, accuracy %.4f", res.History, res.FinalAccuracy)
	}
}

// TestSimConfigValidateDoesNotMutate: validating a configuration leaves it
// as it was (the first release filled defaults in place, and the coordinator
// applied DP defaults to a copy it then discarded).
func TestSimConfigValidateDoesNotMutate(t *testing.T) {
	cfg := SimConfig{Dataset: "wine", Parties: 3, Rounds: 1, DP: DPConfig{Clip: 1, NoiseMultiplier: 1}}
	before := cfg
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.DP != before.DP || cfg.Threshold != 0 || cfg.Bound != 0 || cfg.Protocol != "" {
		t.Fatalf("Validate changed the config: %+v", cfg)
	}
	if r := cfg.resolved(); r.DP.Delta != 1e-5 || r.Threshold != 2 || r.Protocol != "plain" {
		t.Fatalf("resolved %+v", r)
	}
}
