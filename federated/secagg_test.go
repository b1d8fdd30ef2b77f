package federated

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/consort-ml/consort/mpc"
)

func secAggSpec(n, d int, seed uint64, dropRate float64) RoundSpec {
	r := rand.New(rand.NewPCG(seed, 1))
	spec := RoundSpec{FederationID: "fed-secagg", Round: seed, Bound: 2, Seed: seed, Drops: make([]DropStage, n)}
	for i := range n {
		in := make([]float32, d)
		for j := range in {
			in[j] = float32(r.NormFloat64())
		}
		in[0] = 2.5 // beyond Bound: clamped by both protocols below
		spec.Inputs = append(spec.Inputs, in)
		if r.Float64() < dropRate {
			spec.Drops[i] = DropStage(1 + r.IntN(2))
		}
	}
	return spec
}

// clampedPlain is Plain on inputs clamped to the bound, the reference for
// secagg (which clamps before encoding).
func clampedPlain(t *testing.T, spec RoundSpec) RoundResult {
	c := spec
	c.Inputs = make([][]float32, len(spec.Inputs))
	for i, in := range spec.Inputs {
		c.Inputs[i] = make([]float32, len(in))
		for j, v := range in {
			c.Inputs[i][j] = min(max(v, -spec.Bound), spec.Bound)
		}
	}
	res, err := Plain{}.Aggregate(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestSecAggMatchesPlain(t *testing.T) {
	for _, c := range []struct {
		n, d     int
		bits     uint
		dropRate float64
	}{
		{3, 50, 32, 0}, {10, 200, 32, 0.2}, {10, 200, 64, 0.3}, {25, 64, 32, 0.2}, {60, 32, 32, 0.1},
	} {
		for seed := uint64(1); seed <= 2; seed++ {
			t.Run(fmt.Sprintf("parties=%d/bits=%d/drop=%g/seed=%d", c.n, c.bits, c.dropRate, seed), func(t *testing.T) {
				spec := secAggSpec(c.n, c.d, seed, c.dropRate)
				agg := NewSecAgg(SecAggConfig{Bits: c.bits})
				got, err := agg.Aggregate(context.Background(), spec)
				if err != nil {
					t.Fatal(err)
				}
				want := clampedPlain(t, spec)
				if !slices.Equal(got.Contributors, want.Contributors) {
					t.Fatalf("contributors %v, want %v", got.Contributors, want.Contributors)
				}
				frac, _ := SecAggFracBits(c.bits, c.n, spec.Bound)
				tol := float64(len(want.Contributors))*math.Ldexp(1, -int(frac)) + 1e-5
				for j := range want.Sum {
					if e := math.Abs(float64(got.Sum[j] - want.Sum[j])); e > tol {
						t.Fatalf("coordinate %d: %g vs %g (tolerance %g)", j, got.Sum[j], want.Sum[j], tol)
					}
				}
				if got.Sum[0] != float32(2*len(want.Contributors)) {
					t.Fatalf("clamped coordinate sums to %g", got.Sum[0])
				}
				// Real encoded sizes: every uploader sent at least its packed vector.
				for _, i := range got.Contributors {
					if got.BytesUp[i] < int64(c.d)*int64(c.bits)/8 || got.BytesDown[i] == 0 {
						t.Fatalf("participant %d: up %d down %d", i, got.BytesUp[i], got.BytesDown[i])
					}
				}
				// A participant that dropped before upload sent no masked input:
				// less than any contributor.
				minContrib := int64(math.MaxInt64)
				for _, i := range got.Contributors {
					minContrib = min(minContrib, got.BytesUp[i])
				}
				for i := range spec.Inputs {
					if spec.Drops[i] == DropBeforeUpload && got.BytesUp[i] >= minContrib-int64(c.d)*int64(c.bits)/8 {
						t.Fatalf("participant %d dropped before upload but sent %d bytes", i, got.BytesUp[i])
					}
				}
				// Deterministic for the seed.
				again, err := agg.Aggregate(context.Background(), spec)
				if err != nil || !slices.Equal(again.Sum, got.Sum) || !slices.Equal(again.BytesUp, got.BytesUp) {
					t.Fatalf("not repeatable: %v", err)
				}
			})
		}
	}
}

func TestSecAggWireOverhead(t *testing.T) {
	const n, d = 10, 1 << 14
	spec := secAggSpec(n, d, 3, 0)
	got, err := NewSecAgg(SecAggConfig{}).Aggregate(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range got.BytesUp {
		if per := float64(b) / d; per < 4 || per > 4.1 {
			t.Fatalf("participant %d uploads %.3f bytes per value", i, per)
		}
	}
}

func TestSecAggAbortsBelowThreshold(t *testing.T) {
	spec := secAggSpec(10, 20, 4, 0)
	spec.Threshold = 7
	for i := range 4 {
		spec.Drops[i] = DropBeforeUpload
	}
	_, err := NewSecAgg(SecAggConfig{}).Aggregate(context.Background(), spec)
	var ae *mpc.AbortError
	if !errors.Is(err, ErrTooFewContributors) || !errors.As(err, &ae) || !errors.Is(err, mpc.ErrTooFewParties) {
		t.Fatalf("err = %v", err)
	}
	// Dropping after upload: 4 of 10 leave only 6 helpers for threshold 7.
	for i := range 4 {
		spec.Drops[i] = DropAfterUpload
	}
	if _, err := NewSecAgg(SecAggConfig{}).Aggregate(context.Background(), spec); !errors.Is(err, ErrTooFewContributors) {
		t.Fatalf("after upload: err = %v", err)
	}
	// With threshold 6 the same drops finish, the droppers counted.
	spec.Threshold = 6
	got, err := NewSecAgg(SecAggConfig{}).Aggregate(context.Background(), spec)
	if err != nil || len(got.Contributors) != 10 {
		t.Fatalf("threshold 6: %v, %d contributors", err, len(got.Contributors))
	}
}

func TestSecAggBadSpec(t *testing.T) {
	agg := NewSecAgg(SecAggConfig{})
	if agg.Name() != "secagg" || !agg.Secure() {
		t.Fatal("name or security flag")
	}
	spec := secAggSpec(4, 3, 1, 0)
	spec.Bound = 0
	if _, err := agg.Aggregate(context.Background(), spec); !errors.Is(err, ErrBadRound) {
		t.Fatalf("bound 0: %v", err)
	}
	spec.Bound = 1e9
	if _, err := agg.Aggregate(context.Background(), spec); !errors.Is(err, ErrBadRound) {
		t.Fatalf("huge bound: %v", err)
	}
	if _, err := NewSecAgg(SecAggConfig{Bits: 16}).Aggregate(context.Background(), secAggSpec(4, 3, 1, 0)); !errors.Is(err, ErrBadRound) {
		t.Fatalf("16-bit ring: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := agg.Aggregate(ctx, secAggSpec(4, 3, 1, 0)); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

func TestSecAggFracBits(t *testing.T) {
	for _, c := range []struct {
		bits  uint
		n     int
		bound float32
		want  uint
	}{
		{32, 10, 4, 24}, // 32 - 2 - 4 - 2
		{32, 16, 4, 24}, // n = 2^4 exactly
		{32, 17, 4, 23}, // one more headroom bit
		{32, 10, 3, 24}, // 3 * 2^24 <= 2^26
		{32, 10, 0.5, 27},
		{64, 100, 4, 48}, // capped
	} {
		f, err := SecAggFracBits(c.bits, c.n, c.bound)
		if err != nil || f != c.want {
			t.Errorf("SecAggFracBits(%d, %d, %g) = %d, %v, want %d", c.bits, c.n, c.bound, f, err, c.want)
		}
		// The worst case, all n at +bound rounded up, stays below 2^(bits-1).
		if worst := float64(c.n) * (float64(c.bound)*math.Ldexp(1, int(f)) + 1); worst >= math.Ldexp(1, int(c.bits)-1) {
			t.Errorf("bits=%d n=%d bound=%g: worst sum %g wraps", c.bits, c.n, c.bound, worst)
		}
	}
}

// TestSecAggSimulateMatchesPlain is the acceptance check of the simulate
// command: digits, 10 parties, 20% dropout, the same final accuracy as the
// plaintext baseline within 0.005.
func TestSecAggSimulateMatchesPlain(t *testing.T) {
	if testing.Short() {
		t.Skip("trains twice")
	}
	for seed := uint64(1); seed <= 3; seed++ {
		cfg := SimConfig{Dataset: "digits", Parties: 10, Rounds: 20, Dropout: 0.2, Seed: seed}
		plain, err := Simulate(context.Background(), cfg, Plain{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		sec, err := Simulate(context.Background(), cfg, NewSecAgg(SecAggConfig{Dropout: cfg.Dropout}), nil)
		if err != nil {
			t.Fatal(err)
		}
		if d := math.Abs(plain.FinalAccuracy - sec.FinalAccuracy); d > 0.005 {
			t.Fatalf("seed %d: final accuracy: plain %.4f, secagg %.4f", seed, plain.FinalAccuracy, sec.FinalAccuracy)
		}
		if sec.AbortedRounds != plain.AbortedRounds {
			t.Fatalf("seed %d: aborted rounds: plain %d, secagg %d", seed, plain.AbortedRounds, sec.AbortedRounds)
		}
		if sec.BytesUpPerNode < plain.BytesUpPerNode {
			t.Fatalf("seed %d: bytes up per node %g < plain %g", seed, sec.BytesUpPerNode, plain.BytesUpPerNode)
		}
		t.Logf("seed %d: accuracy plain %.4f secagg %.4f, bytes up per node plain %.0f secagg %.0f", seed,
			plain.FinalAccuracy, sec.FinalAccuracy, plain.BytesUpPerNode, sec.BytesUpPerNode)
	}
}
