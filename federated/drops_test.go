package federated

import (
	"math"
	"slices"
	"testing"
)

// contributors lists each round's contributor count.
func contributors(h []RoundReport) []int {
	out := make([]int, len(h))
	for i, r := range h {
		out[i] = r.Contributors
	}
	return out
}

// TestSimulateProtocolsMatchPlain: the drops are drawn from the seed, the
// training round and the node, so every protocol sees the same drops (mhe's
// key setup attempt must not shift them); with a threshold low enough that
// no attempt aborts, secagg and mhe then end within a rounding error of
// plain, round by round.
func TestSimulateProtocolsMatchPlain(t *testing.T) {
	cfg := SimConfig{Dataset: "digits", Parties: 10, Threshold: 3, Rounds: 10, Dropout: 0.2, Seed: 1, MHEInsecureTestParams: true}
	plain := simulate(t, cfg)
	want := contributors(plain.History)
	if slices.Min(want) == 10 {
		t.Fatalf("dropout 0.2 dropped nobody: %v", want)
	}
	for _, protocol := range []string{"secagg", "mhe"} {
		cfg.Protocol = protocol
		res := simulate(t, cfg)
		if got := contributors(res.History); !slices.Equal(got, want) || res.AbortedRounds != 0 {
			t.Errorf("%s: contributors per round %v (%d aborted), plain %v", protocol, got, res.AbortedRounds, want)
			continue
		}
		if d := math.Abs(res.FinalAccuracy - plain.FinalAccuracy); d > 0.005 {
			t.Errorf("%s: final accuracy %.4f, plain %.4f", protocol, res.FinalAccuracy, plain.FinalAccuracy)
		}
		if res.BytesUpPerNode <= plain.BytesUpPerNode {
			t.Errorf("%s: %.0f bytes up per node, plain %.0f", protocol, res.BytesUpPerNode, plain.BytesUpPerNode)
		}
		for j := range plain.Global {
			if d := math.Abs(float64(res.Global[j] - plain.Global[j])); d > 1e-3 {
				t.Fatalf("%s: parameter %d is %v, plain %v", protocol, j, res.Global[j], plain.Global[j])
			}
		}
		t.Logf("%s: accuracy %.4f, plain %.4f; contributors %v", protocol, res.FinalAccuracy, plain.FinalAccuracy, want)
	}
}
