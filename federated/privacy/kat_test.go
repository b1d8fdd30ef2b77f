package privacy

import (
	"math"
	"testing"
)

// tfOrders is the order list of TensorFlow Privacy's compute_dp_sgd_privacy
// (tensorflow_privacy/privacy/analysis/compute_dp_sgd_privacy_lib.py):
// [1.25, 1.5, 1.75, 2, 2.25, 2.5, 3, 3.5, 4, 4.5] + range(5, 64) + [128, 256, 512].
func tfOrders() []float64 {
	o := []float64{1.25, 1.5, 1.75, 2, 2.25, 2.5, 3, 3.5, 4, 4.5}
	for a := 5; a < 64; a++ {
		o = append(o, float64(a))
	}
	return append(o, 128, 256, 512)
}

// opacusOrders is Opacus' RDPAccountant.DEFAULT_ALPHAS
// (opacus/accountants/rdp.py): [1 + x/10 for x in range(1, 100)] + range(12, 64).
func opacusOrders() []float64 {
	var o []float64
	for x := 1; x < 100; x++ {
		o = append(o, 1+float64(x)/10)
	}
	for a := 12; a < 64; a++ {
		o = append(o, float64(a))
	}
	return o
}

// closeRel reports whether got is within rel (relative) of want.
func closeRel(got, want, rel float64) bool {
	return math.Abs(got-want) <= rel*math.Abs(want)
}

// TestKnownAnswersTensorFlowPrivacy reproduces the DP-SGD accounting values
// pinned by TensorFlow Privacy's own tests. Source:
// tensorflow_privacy/privacy/analysis/compute_dp_sgd_privacy_test.py,
// test_compute_dp_sgd_privacy (cases Test0..Test2): q = batch/n, steps =
// ceil(epochs*n/batch), orders tfOrders(), improved RDP -> (eps, delta)
// conversion of dp_accounting's RdpAccountant. Test2's expected value is
// 5907982.31138195 in the 2019 version of that file and 5907982.3113978775 in
// the current one (a 2.7e-12 relative change between their numerics); we
// check it at 1e-10 relative.
func TestKnownAnswersTensorFlowPrivacy(t *testing.T) {
	cases := []struct {
		name                           string
		n, batch, sigma, epochs, delta float64
		wantEps, wantOrder             float64
		rel                            float64
	}{
		{"Test0", 60000, 150, 1.3, 15, 1e-5, 0.7242234026109595, 19, 1e-11},
		{"Test1", 100000, 100, 1.0, 30, 1e-7, 1.4154988495444842, 13, 1e-11},
		{"Test2", 100000000, 1024, 0.1, 10, 1e-7, 5907982.3113978775, 1.25, 1e-10},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			acc, err := NewAccountant(tfOrders())
			if err != nil {
				t.Fatal(err)
			}
			steps := int(math.Ceil(c.epochs * c.n / c.batch))
			if err := acc.Step(c.batch/c.n, c.sigma, steps); err != nil {
				t.Fatal(err)
			}
			eps, order, err := acc.EpsilonOrder(c.delta)
			if err != nil {
				t.Fatal(err)
			}
			if !closeRel(eps, c.wantEps, c.rel) || order != c.wantOrder {
				t.Errorf("eps = %.16g at order %v, want %.16g at order %v", eps, order, c.wantEps, c.wantOrder)
			}
		})
	}
}

// TestKnownAnswerOpacus reproduces Opacus' accountant test. Source:
// opacus/tests/accountants_test.py, AccountingTest.test_rdp_accountant:
// noise_multiplier 1.5, sample_rate 0.04, steps int(90/0.04) = 2250, delta
// 1e-5, DEFAULT_ALPHAS -> epsilon 7.32911117143 (assertAlmostEqual, 7
// places). The optimum is at the fractional order 3.9, so this also pins the
// fractional-order series of Mironov et al. 2019, Section 3.3.
func TestKnownAnswerOpacus(t *testing.T) {
	acc, err := NewAccountant(opacusOrders())
	if err != nil {
		t.Fatal(err)
	}
	if err := acc.Step(0.04, 1.5, 2250); err != nil {
		t.Fatal(err)
	}
	eps, order, err := acc.EpsilonOrder(1e-5)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(eps-7.32911117143) > 5e-8 || order != 3.9 {
		t.Errorf("eps = %.12f at order %v, want 7.32911117143 at order 3.9", eps, order)
	}
}

// TestKnownAnswerAbadiMNIST reproduces the DP-SGD MNIST figure of Abadi et
// al. (CCS 2016) as computed by TensorFlow Privacy's RDP accountant with the
// classic conversion. Source: the docstring of
// tensorflow_privacy/privacy/analysis/compute_dp_sgd_privacy.py ("N=60000,
// batch_size=256, noise_multiplier=1.12, epochs=60, delta=1e-5 ... satisfies
// (2.92, 1e-5)-DP"), from the version that used Mironov 2017 Proposition 3.
// The improved conversion gives a smaller epsilon for the same RDP curve.
func TestKnownAnswerAbadiMNIST(t *testing.T) {
	acc, err := NewAccountant(tfOrders())
	if err != nil {
		t.Fatal(err)
	}
	steps := int(math.Ceil(60 * 60000 / 256.0))
	if err := acc.Step(256.0/60000, 1.12, steps); err != nil {
		t.Fatal(err)
	}
	classic, _, err := acc.EpsilonClassic(1e-5)
	if err != nil {
		t.Fatal(err)
	}
	if math.Round(classic*100)/100 != 2.92 {
		t.Errorf("classic eps = %v, want 2.92 (two decimals)", classic)
	}
	improved, err := acc.Epsilon(1e-5)
	if err != nil {
		t.Fatal(err)
	}
	if !(improved < classic) || improved < 2.4 {
		t.Errorf("improved eps = %v, want a little below classic %v", improved, classic)
	}
}

// TestGaussianRDPAnalytic checks the closed form alpha/(2 sigma^2) of the
// Gaussian mechanism (Mironov 2017, Proposition 7) and that the sampled
// Gaussian at q = 1 reduces to it, at integer and fractional orders.
func TestGaussianRDPAnalytic(t *testing.T) {
	for _, c := range []struct{ alpha, sigma, want float64 }{
		{2, 1, 1}, {32, 4, 1}, {1.5, 0.5, 3}, {1024, 8, 8},
	} {
		if got := GaussianRDP(c.alpha, c.sigma); got != c.want {
			t.Errorf("GaussianRDP(%v, %v) = %v, want %v", c.alpha, c.sigma, got, c.want)
		}
		got, err := SampledGaussianRDP(1, c.sigma, c.alpha)
		if err != nil || got != c.want {
			t.Errorf("SampledGaussianRDP(1, %v, %v) = %v, %v; want %v", c.sigma, c.alpha, got, err, c.want)
		}
	}
	// One Gaussian release with sigma = 1 at delta = 1e-5 under the classic
	// conversion: min over alpha of alpha/2 + log(1e5)/(alpha-1); with
	// alpha-1 = sqrt(2 log(1e5)) the minimum is 1/2 + sqrt(2 log 1e5).
	orders := make([]float64, 0, 4000)
	for a := 1.001; a < 40; a += 0.001 {
		orders = append(orders, a)
	}
	acc, _ := NewAccountant(orders)
	if err := acc.Step(1, 1, 1); err != nil {
		t.Fatal(err)
	}
	eps, _, err := acc.EpsilonClassic(1e-5)
	want := 0.5 + math.Sqrt(2*math.Log(1e5))
	if err != nil || math.Abs(eps-want) > 1e-5 {
		t.Errorf("classic eps = %v, want %v", eps, want)
	}
}

// sgmIntegral computes A_alpha of the sampled Gaussian mechanism by direct
// numerical integration (Mironov et al. 2019, eq. (3)):
// A_alpha = E_{z ~ N(0, s^2)} [((1-q) + q exp((2z-1)/(2 s^2)))^alpha],
// with the trapezoid rule on a fine grid over +-40 s (the integrand is smooth
// and decays like a Gaussian).
func sgmIntegral(q, s, alpha float64) float64 {
	const n = 400000
	lo, hi := -40*s, 40*s+alpha
	h := (hi - lo) / n
	sum := 0.0
	for i := 0; i <= n; i++ {
		z := lo + float64(i)*h
		w := 1.0
		if i == 0 || i == n {
			w = 0.5
		}
		pdf := math.Exp(-z*z/(2*s*s)) / (s * math.Sqrt(2*math.Pi))
		sum += w * pdf * math.Pow((1-q)+q*math.Exp((2*z-1)/(2*s*s)), alpha)
	}
	return math.Log(sum*h) / (alpha - 1)
}

// TestSampledGaussianAgainstIntegral is a differential test: the closed-form
// series (integer and fractional orders) against numerical integration.
func TestSampledGaussianAgainstIntegral(t *testing.T) {
	for _, c := range []struct{ q, sigma, alpha float64 }{
		{0.01, 1, 2}, {0.01, 1, 2.5}, {0.1, 2, 7.3}, {0.5, 3, 12}, {0.2, 0.8, 3.75}, {0.04, 1.5, 3.9}, {0.3, 5, 33.5},
	} {
		got, err := SampledGaussianRDP(c.q, c.sigma, c.alpha)
		if err != nil {
			t.Fatal(err)
		}
		want := sgmIntegral(c.q, c.sigma, c.alpha)
		if !closeRel(got, want, 1e-6) {
			t.Errorf("q=%v sigma=%v alpha=%v: series %.12g, integral %.12g", c.q, c.sigma, c.alpha, got, want)
		}
	}
}

// TestSkellamRDP checks the Agarwal et al. (2021) bound by hand-computed
// values and its limit: as mu grows the discreteness term vanishes and the
// bound approaches the Gaussian mechanism's alpha l2^2/(2 mu).
func TestSkellamRDP(t *testing.T) {
	// alpha=2, l1=l2=1, mu=1: 2/2 + min((3+6)/4, 3/2) = 2.5.
	if got, _ := SkellamRDP(2, 1, 1, 1); got != 2.5 {
		t.Errorf("SkellamRDP(2,1,1,1) = %v, want 2.5", got)
	}
	// alpha=10, l1=100, l2=10, mu=1e4: 10*100/2e4 + min((19*100+600)/4e8, 300/2e4) = 0.05 + 6.25e-6.
	if got, _ := SkellamRDP(10, 100, 10, 1e4); !closeRel(got, 0.05+6.25e-6, 1e-12) {
		t.Errorf("SkellamRDP(10,100,10,1e4) = %v, want %v", got, 0.05+6.25e-6)
	}
	// fractional order rounds up
	a, _ := SkellamRDP(2.5, 1, 1, 1)
	b, _ := SkellamRDP(3, 1, 1, 1)
	if a != b {
		t.Errorf("fractional order: %v, want the bound at order 3: %v", a, b)
	}
	l2 := 1000.0
	mu := l2 * l2 * 1e6 // noise multiplier 1000
	got, _ := SkellamRDP(8, l2*l2, l2, mu)
	if g := GaussianRDP(8, math.Sqrt(mu)/l2); !closeRel(got, g, 1e-5) {
		t.Errorf("large-mu Skellam %v, Gaussian %v", got, g)
	}
}

// TestPoissonSubsampledBound checks the Zhu-Wang general upper bound against
// the exact sampled-Gaussian RDP: it must never be below the exact value and
// never above the unsampled mechanism.
func TestPoissonSubsampledBound(t *testing.T) {
	for _, sigma := range []float64{0.8, 1, 2, 5} {
		for _, q := range []float64{0.001, 0.01, 0.1, 0.5, 0.9} {
			for _, alpha := range []int{2, 3, 8, 32, 128} {
				exact, err := SampledGaussianRDP(q, sigma, float64(alpha))
				if err != nil {
					t.Fatal(err)
				}
				bound, err := PoissonSubsampledRDP(q, alpha, func(o int) float64 { return GaussianRDP(float64(o), sigma) })
				if err != nil {
					t.Fatal(err)
				}
				full := GaussianRDP(float64(alpha), sigma)
				if bound < exact*(1-1e-9) || bound > full*(1+1e-12) {
					t.Errorf("sigma=%v q=%v alpha=%d: bound %v, exact %v, unsampled %v", sigma, q, alpha, bound, exact, full)
				}
			}
		}
	}
}

func TestConversionEdges(t *testing.T) {
	orders := []float64{2, 4}
	if _, _, err := EpsilonFromRDP(orders, []float64{1}, 1e-5); err == nil {
		t.Error("length mismatch accepted")
	}
	if _, _, err := EpsilonFromRDP(orders, []float64{1, -1}, 1e-5); err == nil {
		t.Error("negative RDP accepted")
	}
	if _, _, err := EpsilonFromRDP(orders, []float64{1, 1}, 0); err == nil {
		t.Error("delta 0 accepted")
	}
	if _, _, err := EpsilonFromRDP([]float64{1, 2}, []float64{1, 1}, 1e-5); err == nil {
		t.Error("order 1 accepted")
	}
	// tiny RDP: delta^2 >= 1 - exp(-rdp) gives epsilon 0
	if eps, _, _ := EpsilonFromRDP(orders, []float64{1e-12, 1e-12}, 1e-5); eps != 0 {
		t.Errorf("negligible RDP gives eps %v, want 0", eps)
	}
	// no privacy
	if eps, _, _ := EpsilonFromRDP(orders, []float64{math.Inf(1), math.Inf(1)}, 1e-5); !math.IsInf(eps, 1) {
		t.Errorf("infinite RDP gives eps %v", eps)
	}
	// improved <= classic always
	r := []float64{0.5, 1.3}
	e1, _, _ := EpsilonFromRDP(orders, r, 1e-6)
	e2, _, _ := EpsilonFromRDPClassic(orders, r, 1e-6)
	if !(e1 < e2) {
		t.Errorf("improved %v not below classic %v", e1, e2)
	}
	if _, err := SampledGaussianRDP(1.5, 1, 2); err == nil {
		t.Error("q > 1 accepted")
	}
	if v, _ := SampledGaussianRDP(0.5, 0, 2); !math.IsInf(v, 1) {
		t.Errorf("sigma 0: %v, want +Inf", v)
	}
	if v, _ := SampledGaussianRDP(0, 1, 2); v != 0 {
		t.Errorf("q 0: %v, want 0", v)
	}
}

func TestRoundsAffordable(t *testing.T) {
	acc, err := NewAccountant(nil)
	if err != nil {
		t.Fatal(err)
	}
	curve, err := SampledGaussianCurve(acc.Orders(), 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	const budget, delta = 8.0, 1e-5
	r, err := acc.RoundsAffordable(budget, delta, curve, 10000)
	if err != nil {
		t.Fatal(err)
	}
	if r < 1 {
		t.Fatalf("affordable rounds = %d", r)
	}
	// r rounds fit, r+1 do not
	for _, c := range []struct {
		rounds int
		fits   bool
	}{{r, true}, {r + 1, false}} {
		a := acc.Clone()
		if err := a.Compose(curve, c.rounds); err != nil {
			t.Fatal(err)
		}
		eps, _ := a.Epsilon(delta)
		if (eps <= budget) != c.fits {
			t.Errorf("%d rounds: eps %v vs budget %v", c.rounds, eps, budget)
		}
	}
	// spending reduces what is left; clone leaves the original untouched
	spent := acc.Clone()
	if err := spent.Compose(curve, r/2); err != nil {
		t.Fatal(err)
	}
	left, _ := spent.RoundsAffordable(budget, delta, curve, 10000)
	if left < r-r/2-1 || left > r-r/2 {
		t.Errorf("after %d rounds, %d left of %d", r/2, left, r)
	}
	if e, _ := acc.Epsilon(delta); e != 0 {
		t.Errorf("original accountant changed: eps %v", e)
	}
	if n, _ := acc.RoundsAffordable(budget, delta, curve, 3); n != 3 {
		t.Errorf("cap: %d, want 3", n)
	}
	if n, _ := acc.RoundsAffordable(0.01, delta, curve, 10); n != 0 {
		t.Errorf("tiny budget: %d rounds, want 0", n)
	}
}
