package privacy

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/consort-ml/consort/kernels"
)

func TestMechanismValidate(t *testing.T) {
	good := Mechanism{Clip: 1, NoiseMultiplier: 1, MinContributors: 3}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*Mechanism){
		"clip=0":        func(m *Mechanism) { m.Clip = 0 },
		"clip=inf":      func(m *Mechanism) { m.Clip = math.Inf(1) },
		"noise<0":       func(m *Mechanism) { m.NoiseMultiplier = -1 },
		"noise=nan":     func(m *Mechanism) { m.NoiseMultiplier = math.NaN() },
		"contributors0": func(m *Mechanism) { m.MinContributors = 0 },
		"kind":          func(m *Mechanism) { m.Noise = 9 },
		"beta=1":        func(m *Mechanism) { m.Beta = 1 },
		"fracbits":      func(m *Mechanism) { m.Noise = Skellam; m.FracBits = 41 },
	} {
		m := good
		mut(&m)
		if err := m.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}

func TestClipUpdate(t *testing.T) {
	m := Mechanism{Clip: 2, NoiseMultiplier: 1, MinContributors: 1}
	x := []float32{3, 4} // norm 5
	f, err := m.ClipUpdate(x)
	if err != nil {
		t.Fatal(err)
	}
	if n := math.Hypot(float64(x[0]), float64(x[1])); n > 2 || n < 2*(1-1e-5) || f > 0.4 {
		t.Errorf("clipped norm %v, factor %v", n, f)
	}
	y := []float32{0.1, 0.2}
	if f, _ := m.ClipUpdate(y); f != 1 || y[0] != 0.1 {
		t.Errorf("short vector changed: factor %v, %v", f, y)
	}
	if _, err := m.ClipUpdate([]float32{float32(math.NaN())}); !errors.Is(err, ErrInvalid) {
		t.Errorf("NaN: %v", err)
	}
}

// sampleVariance returns the mean and variance of xs.
func sampleVariance(xs []float64) (mean, variance float64) {
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	for _, x := range xs {
		variance += (x - mean) * (x - mean)
	}
	return mean, variance / float64(len(xs)-1)
}

// TestAggregateNoiseVarianceFloat: n nodes are asked, t is the threshold,
// m of them contribute; the sum of the m Gaussian shares must have variance
// (m/t) z^2 C^2: exactly the intended z^2 C^2 when only t contribute (the
// worst case after dropouts) and more otherwise. The tolerance is 5 standard
// errors of a sample variance over d coordinates, sqrt(2/d) relative.
func TestAggregateNoiseVarianceFloat(t *testing.T) {
	const n, thr, d = 10, 6, 40000
	m := Mechanism{Clip: 0.5, NoiseMultiplier: 1.3, MinContributors: thr}
	target := 1.3 * 1.3 * 0.5 * 0.5
	for _, contributors := range []int{thr, 8, n} {
		t.Run(fmt.Sprintf("contributors=%d", contributors), func(t *testing.T) {
			sum := make([]float64, d)
			for node := range contributors {
				share := make([]float32, d)
				if err := m.AddNoiseFloat(share, seeded(byte(node))); err != nil {
					t.Fatal(err)
				}
				for i, v := range share {
					sum[i] += float64(v)
				}
			}
			mean, v := sampleVariance(sum)
			want := target * float64(contributors) / thr
			if math.Abs(v-want) > 5*want*math.Sqrt(2.0/d) || math.Abs(mean) > 5*math.Sqrt(want/d) {
				t.Errorf("variance %v, want %v (mean %v)", v, want, mean)
			}
			if v < target*(1-5*math.Sqrt(2.0/d)) {
				t.Errorf("variance %v below the intended %v", v, target)
			}
		})
	}
}

// TestAggregateNoiseVarianceRing is the ring version: Skellam shares added
// in Z_2^32 (wrapping) and Z_2^64 sum to Skellam noise of variance
// (m/t) mu, mu = RingVariance(d).
func TestAggregateNoiseVarianceRing(t *testing.T) {
	const n, thr, d = 10, 4, 40000
	m := Mechanism{Clip: 1, NoiseMultiplier: 0.8, MinContributors: thr, Noise: Skellam, FracBits: 9}
	mu := m.RingVariance(d)
	if mu < 1e5 {
		t.Fatalf("mu = %v: test wants a large variance", mu)
	}
	for _, contributors := range []int{thr, n} {
		t.Run(fmt.Sprintf("ring=32/contributors=%d", contributors), func(t *testing.T) {
			sum := make([]uint32, d)
			for node := range contributors {
				share := make([]uint32, d)
				if err := m.AddNoiseRing32(share, seeded(byte(50+node))); err != nil {
					t.Fatal(err)
				}
				kernels.AddRing32(sum, share)
			}
			xs := make([]float64, d)
			for i, v := range sum {
				xs[i] = float64(int32(v))
			}
			mean, v := sampleVariance(xs)
			want := mu * float64(contributors) / thr
			if math.Abs(v-want) > 5*want*math.Sqrt(2.0/d) || math.Abs(mean) > 5*math.Sqrt(want/d) {
				t.Errorf("variance %v, want %v (mean %v)", v, want, mean)
			}
		})
		t.Run(fmt.Sprintf("ring=64/contributors=%d", contributors), func(t *testing.T) {
			sum := make([]uint64, d)
			for node := range contributors {
				share := make([]uint64, d)
				if err := m.AddNoiseRing64(share, seeded(byte(80+node))); err != nil {
					t.Fatal(err)
				}
				kernels.AddRing64(sum, share)
			}
			xs := make([]float64, d)
			for i, v := range sum {
				xs[i] = float64(int64(v))
			}
			_, v := sampleVariance(xs)
			want := mu * float64(contributors) / thr
			if math.Abs(v-want) > 5*want*math.Sqrt(2.0/d) {
				t.Errorf("variance %v, want %v", v, want)
			}
		})
	}
}

// TestRingPipeline runs the node side end to end: clip, conditional
// rounding, Skellam share; sums in the ring as secure aggregation would and
// decodes. The decoded sum minus the clipped plaintext sum must be noise of
// variance mu/2^(2f) per coordinate (plus rounding variance below 1/4 per
// node in ring units).
func TestRingPipeline(t *testing.T) {
	const nodes, d = 5, 20000
	m := Mechanism{Clip: 1, NoiseMultiplier: 1, MinContributors: nodes, Noise: Skellam, FracBits: 10}
	_, l2 := m.RingSensitivity(d)
	sum := make([]uint32, d)
	plain := make([]float64, d)
	for node := range nodes {
		u := make([]float32, d)
		for i := range u {
			u[i] = float32(math.Sin(float64(i*(node+1)))) * 0.05 // norm ~ 5, clipped to 1
		}
		q := make([]uint32, d)
		if err := m.QuantizeRing32(q, u, seeded(byte(120+node))); err != nil {
			t.Fatal(err)
		}
		if n2 := sumSquaresRing(q); n2 > l2*l2 {
			t.Fatalf("node %d: rounded norm^2 %v above bound %v", node, n2, l2*l2)
		}
		if n := kernels.Norm2(u); n > 1 {
			t.Fatalf("node %d: clipped norm %v", node, n)
		}
		for i, v := range u {
			plain[i] += float64(v)
		}
		if err := m.AddNoiseRing32(q, seeded(byte(140+node))); err != nil {
			t.Fatal(err)
		}
		kernels.AddRing32(sum, q)
	}
	got := make([]float32, d)
	kernels.Decode32(got, sum, m.FracBits)
	diff := make([]float64, d)
	for i := range got {
		diff[i] = (float64(got[i]) - plain[i]) * 1024
	}
	mean, v := sampleVariance(diff)
	mu := m.RingVariance(d)
	if math.Abs(v-mu) > 5*mu*math.Sqrt(2.0/d)+nodes*0.25 || math.Abs(mean) > 5*math.Sqrt(mu/d) {
		t.Errorf("noise variance %v (ring units), want %v; mean %v", v, mu, mean)
	}
}

func sumSquaresRing(q []uint32) float64 {
	s := 0.0
	for _, v := range q {
		x := float64(int32(v))
		s += x * x
	}
	return s
}

func TestQuantizeDeterministicAndBounded(t *testing.T) {
	m := Mechanism{Clip: 1, NoiseMultiplier: 1, MinContributors: 1, Noise: Skellam, FracBits: 4}
	u := make([]float32, 1000)
	for i := range u {
		u[i] = 0.0317 // norm 1.002 -> clipped; 0.0317*16 = 0.507 rounds either way
	}
	a, b := make([]uint64, len(u)), make([]uint64, len(u))
	v := append([]float32(nil), u...)
	if err := m.QuantizeRing64(a, u, seeded(7)); err != nil {
		t.Fatal(err)
	}
	if err := m.QuantizeRing64(b, v, seeded(7)); err != nil {
		t.Fatal(err)
	}
	_, l2 := m.RingSensitivity(len(u))
	n2 := 0.0
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("element %d differs for the same seed", i)
		}
		x := float64(int64(a[i]))
		if x != 0 && x != 1 {
			t.Fatalf("element %d = %v, want 0 or 1", i, x)
		}
		n2 += x * x
	}
	if n2 > l2*l2 {
		t.Errorf("norm^2 %v above bound %v", n2, l2*l2)
	}
	if err := m.QuantizeRing64(a[:3], u, seeded(7)); !errors.Is(err, ErrInvalid) {
		t.Errorf("length mismatch: %v", err)
	}
	g := Mechanism{Clip: 1, NoiseMultiplier: 1, MinContributors: 1}
	if err := g.QuantizeRing32(make([]uint32, 3), make([]float32, 3), seeded(1)); !errors.Is(err, ErrMode) {
		t.Errorf("gaussian quantize: %v, want ErrMode", err)
	}
	if err := g.AddNoiseRing64(make([]uint64, 3), seeded(1)); !errors.Is(err, ErrMode) {
		t.Errorf("gaussian ring noise: %v, want ErrMode", err)
	}
	if err := m.AddNoiseFloat(make([]float32, 3), seeded(1)); !errors.Is(err, ErrMode) {
		t.Errorf("skellam float noise: %v, want ErrMode", err)
	}
}

// TestRingSensitivity pins the bound against hand-computed values.
func TestRingSensitivity(t *testing.T) {
	m := Mechanism{Clip: 1, NoiseMultiplier: 1, MinContributors: 1, Noise: Skellam, FracBits: 10, Beta: math.Exp(-2)}
	// c = 1024, d = 10000: sqrt(1024^2 + 2500 + 2*(1024 + 50)) = sqrt(1052724+...) ...
	c, d := 1024.0, 10000.0
	want := math.Sqrt(c*c + d/4 + 2*(c+50))
	l1, l2 := m.RingSensitivity(int(d))
	if !closeRel(l2, want, 1e-12) || !closeRel(l1, want*100, 1e-12) {
		t.Errorf("l1, l2 = %v, %v; want %v, %v", l1, l2, want*100, want)
	}
	// tiny scale, huge dimension: the first branch c + sqrt(d) wins
	m.FracBits = 0
	m.Beta = 1e-300
	_, l2 = m.RingSensitivity(1)
	if l2 != 2 {
		t.Errorf("l2 = %v, want c + sqrt(d) = 2", l2)
	}
}

// TestCurveQuantisationCost: at the same noise multiplier the Skellam
// mechanism costs a little more epsilon than the continuous Gaussian
// (rounding inflates the sensitivity, discreteness adds a term), and the gap
// closes as the scale grows. With q < 1 the Skellam curve uses the general
// subsampling bound of Zhu and Wang, looser than the exact sampled-Gaussian
// analysis, but still below the unsampled cost.
func TestCurveQuantisationCost(t *testing.T) {
	const d, rounds, delta = 10000, 10, 1e-5
	orders := DefaultOrders()
	eps := func(m Mechanism, q float64) float64 {
		curve, err := m.Curve(orders, q, d)
		if err != nil {
			t.Fatal(err)
		}
		acc, _ := NewAccountant(orders)
		if err := acc.Compose(curve, rounds); err != nil {
			t.Fatal(err)
		}
		e, err := acc.Epsilon(delta)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	g := Mechanism{Clip: 1, NoiseMultiplier: 3, MinContributors: 5}
	unsampled := math.Inf(1)
	for _, q := range []float64{1, 0.3} {
		eg := eps(g, q)
		prev := math.Inf(1)
		for _, f := range []uint{4, 8, 12, 16} {
			s := g
			s.Noise, s.FracBits = Skellam, f
			es := eps(s, q)
			if es < eg || es > prev {
				t.Errorf("q=%v f=%d: skellam eps %v, gaussian %v, previous %v", q, f, es, eg, prev)
			}
			prev = es
		}
		if q == 1 && !closeRel(prev, eg, 0.002) {
			t.Errorf("q=%v: skellam at 2^16 eps %v, gaussian %v", q, prev, eg)
		}
		if q < 1 && prev >= unsampled {
			t.Errorf("q=%v: subsampled skellam eps %v not below unsampled %v", q, prev, unsampled)
		}
		unsampled = prev
	}
}
