package privacy

import (
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"testing"
)

func seeded(b byte) io.Reader {
	var seed [32]byte
	seed[0] = b
	return rand.NewChaCha8(seed)
}

func TestPoissonMoments(t *testing.T) {
	for i, mean := range []float64{0.3, 3, 9.9, 10, 37.5, 1000, 1e6, 1e10, 1e14} {
		src := newSource(seeded(byte(i)))
		const n = 100000
		var s, s2 float64
		for range n {
			k, err := src.poisson(mean)
			if err != nil {
				t.Fatal(err)
			}
			x := float64(k) - mean
			s += x
			s2 += x * x
		}
		m := s / n
		v := s2/n - m*m
		if math.Abs(m) > 5*math.Sqrt(mean/n) {
			t.Errorf("mean %v: sample mean off by %v (sd %v)", mean, m, math.Sqrt(mean/n))
		}
		if sd := math.Sqrt((mean + 2*mean*mean) / n); math.Abs(v-mean) > 5*sd {
			t.Errorf("mean %v: sample variance %v (sd %v)", mean, v, sd)
		}
	}
}

// TestPoissonChiSquare compares histograms with the Poisson pmf, in the
// inversion regime and the PTRS regime.
func TestPoissonChiSquare(t *testing.T) {
	for i, mean := range []float64{4, 12, 60, 400} {
		src := newSource(seeded(100 + byte(i)))
		const n = 200000
		counts := map[int64]int{}
		for range n {
			k, err := src.poisson(mean)
			if err != nil {
				t.Fatal(err)
			}
			counts[k]++
		}
		// bins with expected count >= 20; the tails are lumped into two bins
		chi, df := 0.0, -1
		var lowExp, lowObs float64
		k := int64(0)
		for ; ; k++ {
			e := n * math.Exp(logPoissonPMF(float64(k), mean))
			if e >= 20 {
				break
			}
			lowExp += e
			lowObs += float64(counts[k])
		}
		if lowExp > 0 {
			chi += (lowObs - lowExp) * (lowObs - lowExp) / lowExp
			df++
		}
		cum := lowExp
		for ; ; k++ {
			e := n * math.Exp(logPoissonPMF(float64(k), mean))
			if e < 20 {
				break
			}
			o := float64(counts[k])
			chi += (o - e) * (o - e) / e
			cum += e
			df++
		}
		hiExp, hiObs := n-cum, 0.0
		for kk, c := range counts {
			if kk >= k {
				hiObs += float64(c)
			}
		}
		chi += (hiObs - hiExp) * (hiObs - hiExp) / hiExp
		df++
		if limit := float64(df) + 5*math.Sqrt(2*float64(df)); chi > limit {
			t.Errorf("mean %v: chi-square %.1f with %d dof (limit %.1f)", mean, chi, df, limit)
		}
	}
}

func TestLogPoissonPMF(t *testing.T) {
	for _, c := range []struct{ k, mean float64 }{{0, 3}, {1, 0.5}, {7, 10}, {30, 12.5}, {1000, 990}, {5e5, 5.001e5}} {
		lg, _ := math.Lgamma(c.k + 1)
		naive := -c.mean + c.k*math.Log(c.mean) - lg
		if got := logPoissonPMF(c.k, c.mean); math.Abs(got-naive) > 1e-9*math.Max(1, math.Abs(naive)) {
			t.Errorf("logPoissonPMF(%v, %v) = %v, naive %v", c.k, c.mean, got, naive)
		}
	}
}

func TestPoissonInvalid(t *testing.T) {
	src := newSource(seeded(1))
	for _, mean := range []float64{-1, math.NaN(), math.Inf(1), 1 << 53} {
		if _, err := src.poisson(mean); !errors.Is(err, ErrInvalid) {
			t.Errorf("mean %v: err %v, want ErrInvalid", mean, err)
		}
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("entropy exhausted") }

func TestRandomFailure(t *testing.T) {
	m := Mechanism{Clip: 1, NoiseMultiplier: 1, MinContributors: 2}
	if err := m.AddNoiseFloat(make([]float32, 4), failingReader{}); !errors.Is(err, ErrRandom) {
		t.Errorf("float: %v, want ErrRandom", err)
	}
	m.Noise = Skellam
	if err := m.AddNoiseRing32(make([]uint32, 4), failingReader{}); !errors.Is(err, ErrRandom) {
		t.Errorf("ring: %v, want ErrRandom", err)
	}
	if err := m.QuantizeRing32(make([]uint32, 4), make([]float32, 4), failingReader{}); !errors.Is(err, ErrRandom) {
		t.Errorf("quantize: %v, want ErrRandom", err)
	}
}

// TestNormal checks mean, variance, kurtosis and the lag-1 correlation of
// the polar sampler (its two outputs per pair must be independent).
func TestNormal(t *testing.T) {
	src := newSource(seeded(33))
	const n = 200000
	xs := make([]float64, n)
	for i := range xs {
		x, err := src.normal()
		if err != nil {
			t.Fatal(err)
		}
		xs[i] = x
	}
	var m, m2, m4, lag float64
	for i, x := range xs {
		m += x
		m2 += x * x
		m4 += x * x * x * x
		if i > 0 {
			lag += x * xs[i-1]
		}
	}
	m, m2, m4, lag = m/n, m2/n, m4/n, lag/(n-1)
	if math.Abs(m) > 5/math.Sqrt(n) || math.Abs(m2-1) > 5*math.Sqrt(2.0/n) ||
		math.Abs(m4-3) > 5*math.Sqrt(96.0/n) || math.Abs(lag) > 5/math.Sqrt(n) {
		t.Errorf("mean %v, var %v, fourth moment %v, lag-1 %v", m, m2, m4, lag)
	}
}
