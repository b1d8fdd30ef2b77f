package privacy

import (
	"math/rand/v2"
	"testing"
)

// The noise benchmarks report MB/s of float32 (or uint32) coordinates
// processed; the limit to compare with is the ChaCha8 stream they read.

func BenchmarkAddNoiseFloat(b *testing.B) {
	m := Mechanism{Clip: 1, NoiseMultiplier: 1, MinContributors: 10}
	x := make([]float32, 1<<16)
	rng := rand.NewChaCha8([32]byte{1})
	b.SetBytes(int64(4 * len(x)))
	b.ReportAllocs()
	for b.Loop() {
		if err := m.AddNoiseFloat(x, rng); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAddNoiseRing32(b *testing.B) {
	m := Mechanism{Clip: 1, NoiseMultiplier: 1, MinContributors: 10, Noise: Skellam, FracBits: 16}
	q := make([]uint32, 1<<16)
	rng := rand.NewChaCha8([32]byte{1})
	b.SetBytes(int64(4 * len(q)))
	b.ReportAllocs()
	for b.Loop() {
		if err := m.AddNoiseRing32(q, rng); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkQuantizeRing32(b *testing.B) {
	m := Mechanism{Clip: 1, NoiseMultiplier: 1, MinContributors: 10, Noise: Skellam, FracBits: 16}
	u := make([]float32, 1<<16)
	for i := range u {
		u[i] = 0.001 * float32(i%7)
	}
	q := make([]uint32, len(u))
	rng := rand.NewChaCha8([32]byte{1})
	b.SetBytes(int64(4 * len(q)))
	b.ReportAllocs()
	for b.Loop() {
		if err := m.QuantizeRing32(q, u, rng); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkChaCha8Stream(b *testing.B) {
	buf := make([]byte, 1<<18)
	rng := rand.NewChaCha8([32]byte{1})
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		_, _ = rng.Read(buf)
	}
}

func BenchmarkEpsilonDefaultOrders(b *testing.B) {
	for b.Loop() {
		acc, _ := NewAccountant(nil)
		if err := acc.Step(0.01, 1.1, 1000); err != nil {
			b.Fatal(err)
		}
		if _, err := acc.Epsilon(1e-5); err != nil {
			b.Fatal(err)
		}
	}
}
