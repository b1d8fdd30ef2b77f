package federated

import (
	"context"
	"math"
	"testing"

	"github.com/consort-ml/consort/federated/privacy"
	"github.com/consort-ml/consort/kernels"
)

func TestSimDPNoiseFollowsTheProtocol(t *testing.T) {
	cfg := SimConfig{Dataset: "digits", Parties: 10, Rounds: 1, DP: DPConfig{Clip: 1, NoiseMultiplier: 1}}
	cfg.defaults()
	ring, err := newSimDP(cfg, 650, NewSecAgg(SecAggConfig{}))
	if err != nil {
		t.Fatal(err)
	}
	if !ring.ring || ring.mech.Noise != privacy.Skellam || ring.mech.FracBits == 0 {
		t.Fatalf("secagg: want Skellam noise in the ring, got %+v", ring.mech)
	}
	float, err := newSimDP(cfg, 650, Plain{})
	if err != nil {
		t.Fatal(err)
	}
	if float.ring || float.mech.Noise != privacy.Gaussian {
		t.Fatalf("plain: want Gaussian noise, got %+v", float.mech)
	}
	// A ring contribution decodes to the clipped update plus noise of the
	// share's size: its norm is near sqrt(C^2 + d * (zC)^2 / t).
	u := make([]float32, 650)
	for i := range u {
		u[i] = 0.5
	}
	q, err := ring.protect(u, 1, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	dec := make([]float32, len(q))
	kernels.Decode32(dec, q, ring.mech.FracBits)
	for i := range dec {
		if dec[i] != u[i] {
			t.Fatalf("decoded ring value %d differs from the returned float", i)
		}
	}
	want := math.Sqrt(1 + 650.0/float64(ring.threshold))
	if got := float64(kernels.Norm2(u)); math.Abs(got-want)/want > 0.15 {
		t.Errorf("noised norm %.3f, want about %.3f", got, want)
	}
}

func TestSimulateSecAggSkellamDP(t *testing.T) {
	res, err := Simulate(context.Background(), SimConfig{Dataset: "digits", Parties: 10, Rounds: 10, Seed: 1,
		DP: DPConfig{Clip: 1, NoiseMultiplier: 1}}, NewSecAgg(SecAggConfig{}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !(res.Epsilon > 0) || res.FinalAccuracy < 0.5 {
		t.Fatalf("epsilon %v accuracy %v", res.Epsilon, res.FinalAccuracy)
	}
}
