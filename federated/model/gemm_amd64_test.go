//go:build amd64

package model

import (
	"math/rand/v2"
	"testing"
)

// TestBlockedWorkersBitIdentical checks that the blocked GEMM gives the same
// bits on 1, 2 and 3 goroutines, the basis of training determinism.
func TestBlockedWorkersBitIdentical(t *testing.T) {
	if !hasFMA {
		t.Skip("CPU lacks AVX2/FMA: gonum's GEMM is used instead")
	}
	rng := rand.New(rand.NewPCG(2, 2))
	m, n, k := 131, 70, 600
	a, b := randSlice(rng, m*k), randSlice(rng, k*n)
	var out [][]float32
	for _, w := range []int{1, 2, 3} {
		var s gemmScratch
		c := make([]float32, m*n)
		s.blocked(w, false, false, m, n, k, 1, a, k, b, n, 0, c, n)
		out = append(out, c)
	}
	for w := 1; w < len(out); w++ {
		if !ParamsEqual(out[0], out[w]) {
			t.Fatalf("%d workers differ from 1 worker", w+1)
		}
	}
}

// BenchmarkSgemm compares the blocked kernel with gonum's Sgemm on the MLP's
// first-layer shapes (batch 128, 784 features, 128 hidden).
func BenchmarkSgemm(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 3))
	for _, tc := range []struct {
		name    string
		tA, tB  bool
		m, n, k int
	}{
		{"forward/NN", false, false, 128, 128, 784},
		{"weightgrad/TN", true, false, 784, 128, 128},
		{"inputgrad/NT", false, true, 128, 784, 128},
	} {
		a, bb, c := randSlice(rng, tc.m*tc.k), randSlice(rng, tc.k*tc.n), make([]float32, tc.m*tc.n)
		lda, ldb := tc.k, tc.n
		if tc.tA {
			lda = tc.m
		}
		if tc.tB {
			ldb = tc.k
		}
		flops := 2 * float64(tc.m*tc.n*tc.k)
		b.Run(tc.name+"/blocked", func(b *testing.B) {
			if !hasFMA {
				b.Skip("no AVX2/FMA")
			}
			var s gemmScratch
			for b.Loop() {
				s.sgemm(tc.tA, tc.tB, tc.m, tc.n, tc.k, 1, a, lda, bb, ldb, 0, c, tc.n)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		b.Run(tc.name+"/gonum", func(b *testing.B) {
			for b.Loop() {
				gonumSgemm(tc.tA, tc.tB, tc.m, tc.n, tc.k, 1, a, lda, bb, ldb, 0, c, tc.n)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// TestTrainingOnGonumFallback trains the same MLP with the AVX2 kernel and
// with gonum's GEMM (what CPUs without AVX2/FMA run): the parameters agree
// to rounding.
func TestTrainingOnGonumFallback(t *testing.T) {
	if !hasFMA {
		t.Skip("CPU lacks AVX2/FMA: only the fallback exists")
	}
	X, Y := blobs(5, 400, 10, 3)
	train := func() []float32 {
		m, err := New(Spec{Kind: KindMLP, Hidden: []int{24, 12}}, 10, 3, 3)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Train(m, X, Y, TrainConfig{Epochs: 2, BatchSize: 20, LR: 0.05, Momentum: 0.9, Seed: 1}); err != nil {
			t.Fatal(err)
		}
		return m.Params()
	}
	fast := train()
	hasFMA = false
	t.Cleanup(func() { hasFMA = true })
	slow := train()
	near(t, "fallback params", slow, fast, 1e-3)
	if ParamsEqual(slow, fast) {
		t.Log("fallback gave bit-identical parameters")
	}
}
