package privacy

import (
	"fmt"
	"math"
)

// DefaultOrders returns the Renyi orders an [Accountant] tracks unless told
// otherwise: the fractional orders 1.25 to 4.75 (small orders matter for large
// epsilon), every integer from 5 to 128, and a coarser grid of integers up to
// 1024 (large orders matter for small epsilon and many rounds). A fresh slice
// is returned on every call.
func DefaultOrders() []float64 {
	orders := []float64{1.25, 1.5, 1.75, 2, 2.25, 2.5, 2.75, 3, 3.25, 3.5, 3.75, 4, 4.25, 4.5, 4.75}
	for a := 5; a <= 128; a++ {
		orders = append(orders, float64(a))
	}
	for a := 136; a <= 256; a += 8 {
		orders = append(orders, float64(a))
	}
	for a := 288; a <= 1024; a += 32 {
		orders = append(orders, float64(a))
	}
	return orders
}

func checkOrder(alpha float64) error {
	if !(alpha > 1) || math.IsNaN(alpha) {
		return fmt.Errorf("%w: Renyi order %v must exceed 1", ErrInvalid, alpha)
	}
	return nil
}

func isInteger(x float64) bool { return x == math.Trunc(x) && !math.IsInf(x, 0) }

// GaussianRDP is the Renyi divergence of order alpha between N(0, sigma^2)
// and N(1, sigma^2): alpha / (2 sigma^2) (Mironov, "Renyi Differential
// Privacy", CSF 2017, Proposition 7). sigma is the noise multiplier: the noise
// standard deviation divided by the L2 sensitivity. It returns +Inf for
// sigma = 0.
func GaussianRDP(alpha, sigma float64) float64 {
	if sigma == 0 {
		return math.Inf(1)
	}
	return alpha / (2 * sigma * sigma)
}

// SampledGaussianRDP is the RDP at order alpha of the sampled Gaussian
// mechanism: every record (here: every node) is included independently with
// probability q and the sum of the included, L2-clipped contributions gets
// Gaussian noise of standard deviation sigma times the clipping norm
// (add/remove-one adjacency).
//
// It follows Mironov, Talwar and Zhang, "Renyi Differential Privacy of the
// Sampled Gaussian Mechanism" (arXiv:1908.10530, 2019): for integer alpha,
// Section 3.2,
//
//	A_alpha = sum_{k=0}^{alpha} C(alpha,k) (1-q)^(alpha-k) q^k exp((k^2-k)/(2 sigma^2)),
//
// and for fractional alpha the two-sided series of Section 3.3 with
// complementary error functions; both are summed in log-space, and the RDP is
// log(A_alpha)/(alpha-1). For q = 1 it is [GaussianRDP]; for q = 0 it is 0.
func SampledGaussianRDP(q, sigma, alpha float64) (float64, error) {
	if err := checkOrder(alpha); err != nil {
		return 0, err
	}
	if !(q >= 0 && q <= 1) {
		return 0, fmt.Errorf("%w: sampling rate %v outside [0, 1]", ErrInvalid, q)
	}
	if !(sigma >= 0) || math.IsInf(sigma, 0) {
		return 0, fmt.Errorf("%w: noise multiplier %v", ErrInvalid, sigma)
	}
	switch {
	case q == 0:
		return 0, nil
	case sigma == 0 || math.IsInf(alpha, 1):
		return math.Inf(1), nil
	case q == 1:
		return GaussianRDP(alpha, sigma), nil
	}
	if isInteger(alpha) {
		return logAInt(q, sigma, int(alpha)) / (alpha - 1), nil
	}
	la, ok := logAFrac(q, sigma, alpha)
	if !ok {
		// The alternating series lost its precision: RDP is non-decreasing
		// in the order, so the next integer order is a valid upper bound.
		return logAInt(q, sigma, int(math.Ceil(alpha))) / (math.Ceil(alpha) - 1), nil
	}
	return la / (alpha - 1), nil
}

// logAInt is log(A_alpha) for integer alpha >= 2 (Mironov et al. 2019, 3.2).
func logAInt(q, sigma float64, alpha int) float64 {
	lq, l1q := math.Log(q), math.Log1p(-q)
	s2 := 2 * sigma * sigma
	acc := math.Inf(-1)
	for k := 0; k <= alpha; k++ {
		fk := float64(k)
		term := logBinom(float64(alpha), fk) + fk*lq + float64(alpha-k)*l1q + (fk*fk-fk)/s2
		acc = logAdd(acc, term)
	}
	return acc
}

// logAFrac is log(A_alpha) for fractional alpha (Mironov et al. 2019, 3.3):
// A_alpha = A_0 + A_1 with
//
//	A_0 = sum_i C(alpha,i) q^i (1-q)^(alpha-i) exp((i^2-i)/(2s^2)) erfc((i-z0)/(sqrt2 s))/2
//	A_1 = sum_i C(alpha,i) q^(alpha-i) (1-q)^i exp(((alpha-i)^2-(alpha-i))/(2s^2)) erfc((z0-(alpha-i))/(sqrt2 s))/2
//
// where z0 = s^2 log(1/q - 1) + 1/2 and the generalised binomial coefficient
// changes sign; the series is summed until its terms fall below e^-30 of
// unity. ok is false when cancellation made a partial sum negative.
func logAFrac(q, sigma, alpha float64) (float64, bool) {
	a0, a1 := math.Inf(-1), math.Inf(-1)
	z0 := sigma*sigma*math.Log(1/q-1) + 0.5
	lq, l1q := math.Log(q), math.Log1p(-q)
	s2 := 2 * sigma * sigma
	for i := 0; i < 100000; i++ {
		fi := float64(i)
		j := alpha - fi
		lc, sign := logAbsBinom(alpha, fi)
		lt0 := lc + fi*lq + j*l1q
		lt1 := lc + j*lq + fi*l1q
		le0 := math.Log(0.5) + logErfc((fi-z0)/(math.Sqrt2*sigma))
		le1 := math.Log(0.5) + logErfc((z0-j)/(math.Sqrt2*sigma))
		ls0 := lt0 + (fi*fi-fi)/s2 + le0
		ls1 := lt1 + (j*j-j)/s2 + le1
		if sign > 0 {
			a0, a1 = logAdd(a0, ls0), logAdd(a1, ls1)
		} else {
			if ls0 > a0 || ls1 > a1 {
				return 0, false
			}
			a0, a1 = logSub(a0, ls0), logSub(a1, ls1)
		}
		if math.Max(ls0, ls1) < -30 && i > int(alpha) {
			return logAdd(a0, a1), true
		}
	}
	return 0, false
}

// SkellamRDP bounds the RDP at integer order alpha of the Skellam mechanism:
// integer data with L1 sensitivity l1 and L2 sensitivity l2 plus symmetric
// Skellam noise of variance mu (Poisson(mu/2) - Poisson(mu/2) per
// coordinate). From Agarwal, Kairouz and Liu, "The Skellam Mechanism for
// Differentially Private Federated Learning" (NeurIPS 2021), Theorem 3.5
// written with mu the variance:
//
//	eps(alpha) <= alpha l2^2/(2 mu) + min(((2 alpha - 1) l2^2 + 6 l1)/(4 mu^2), 3 l1/(2 mu)).
//
// The first term is the Gaussian mechanism's; the second is the price of
// discreteness and vanishes as mu grows. The theorem is stated for integer
// orders; for a fractional alpha the bound at ceil(alpha) is returned, which
// is valid because RDP does not decrease with the order.
func SkellamRDP(alpha, l1, l2, mu float64) (float64, error) {
	if err := checkOrder(alpha); err != nil {
		return 0, err
	}
	if !(l1 >= 0 && l2 >= 0 && mu >= 0) || math.IsInf(l1, 0) || math.IsInf(l2, 0) {
		return 0, fmt.Errorf("%w: Skellam sensitivities and variance must be finite and non-negative", ErrInvalid)
	}
	if mu == 0 || math.IsInf(alpha, 1) {
		if l2 == 0 {
			return 0, nil
		}
		return math.Inf(1), nil
	}
	a := math.Ceil(alpha)
	rdp := a * l2 * l2 / (2 * mu)
	rdp += math.Min(((2*a-1)*l2*l2+6*l1)/(4*mu*mu), 3*l1/(2*mu))
	return rdp, nil
}

// PoissonSubsampledRDP bounds the RDP at integer order alpha >= 2 of a
// mechanism with RDP curve rdp(.) run on a Poisson subsample (every record
// kept independently with probability q), by the general upper bound of Zhu
// and Wang, "Poisson Subsampled Renyi Differential Privacy" (ICML 2019),
// Theorem 6:
//
//	(alpha-1) eps'(alpha) <= log( (1-q)^(alpha-1) (alpha q - q + 1)
//	    + C(alpha,2) q^2 (1-q)^(alpha-2) e^{eps(2)}
//	    + 3 sum_{l=3}^{alpha} C(alpha,l) q^l (1-q)^(alpha-l) e^{(l-1) eps(l)} ),
//
// and never more than rdp(alpha) itself (subsampling cannot hurt).
func PoissonSubsampledRDP(q float64, alpha int, rdp func(order int) float64) (float64, error) {
	if alpha < 2 {
		return 0, fmt.Errorf("%w: subsampled RDP needs an integer order >= 2, got %d", ErrInvalid, alpha)
	}
	if !(q >= 0 && q <= 1) {
		return 0, fmt.Errorf("%w: sampling rate %v outside [0, 1]", ErrInvalid, q)
	}
	full := rdp(alpha)
	if q == 0 {
		return 0, nil
	}
	if q == 1 {
		return full, nil
	}
	fa := float64(alpha)
	lq, l1q := math.Log(q), math.Log1p(-q)
	acc := (fa-1)*l1q + math.Log1p((fa-1)*q)
	acc = logAdd(acc, logBinom(fa, 2)+2*lq+(fa-2)*l1q+rdp(2))
	for l := 3; l <= alpha; l++ {
		fl := float64(l)
		acc = logAdd(acc, math.Log(3)+logBinom(fa, fl)+fl*lq+(fa-fl)*l1q+(fl-1)*rdp(l))
	}
	return math.Min(acc/(fa-1), full), nil
}

// EpsilonFromRDP converts an RDP curve (rdp[i] at orders[i]) to the smallest
// epsilon such that the mechanism is (epsilon, delta)-DP, with the conversion
// of Balle et al., "Hypothesis Testing Interpretations and Renyi Differential
// Privacy" (AISTATS 2020, Theorem 21) and Canonne, Kamath and Steinke, "The
// Discrete Gaussian for Differential Privacy" (NeurIPS 2020, Proposition 12):
//
//	eps = rdp + log((alpha-1)/alpha) - (log delta + log alpha)/(alpha-1).
//
// Where delta^2 >= 1 - exp(-rdp) the curve already implies (0, delta)-DP
// through the KL divergence (Pinsker-type bound delta <= sqrt(1 - e^-KL), KL
// being at most the RDP of any order). Orders at or below 1.01 are skipped as
// numerically unstable. It returns the epsilon and the order that attains it.
func EpsilonFromRDP(orders, rdp []float64, delta float64) (eps, order float64, err error) {
	return convert(orders, rdp, delta, func(a, r float64) float64 {
		if delta*delta+math.Expm1(-r) >= 0 {
			return 0
		}
		if a <= 1.01 {
			return math.Inf(1)
		}
		return r + math.Log1p(-1/a) - math.Log(delta*a)/(a-1)
	})
}

// EpsilonFromRDPClassic is the classic conversion of Mironov, "Renyi
// Differential Privacy" (CSF 2017, Proposition 3):
// eps = rdp + log(1/delta)/(alpha-1). It is looser than [EpsilonFromRDP]
// and is provided to compare with older reports (TensorFlow Privacy before
// 2020, Abadi et al.'s moments accountant numbers).
func EpsilonFromRDPClassic(orders, rdp []float64, delta float64) (eps, order float64, err error) {
	return convert(orders, rdp, delta, func(a, r float64) float64 {
		return r + math.Log(1/delta)/(a-1)
	})
}

func convert(orders, rdp []float64, delta float64, f func(a, r float64) float64) (float64, float64, error) {
	if len(orders) != len(rdp) || len(orders) == 0 {
		return 0, 0, fmt.Errorf("%w: %d orders for %d RDP values", ErrInvalid, len(orders), len(rdp))
	}
	if !(delta > 0 && delta < 1) {
		return 0, 0, fmt.Errorf("%w: delta %v outside (0, 1)", ErrInvalid, delta)
	}
	best, bestOrder := math.Inf(1), math.NaN()
	for i, a := range orders {
		if err := checkOrder(a); err != nil {
			return 0, 0, err
		}
		r := rdp[i]
		if !(r >= 0) {
			return 0, 0, fmt.Errorf("%w: RDP %v at order %v", ErrInvalid, r, a)
		}
		if e := f(a, r); e < best {
			best, bestOrder = e, a
		}
	}
	return math.Max(best, 0), bestOrder, nil
}

// logAdd returns log(e^x + e^y).
func logAdd(x, y float64) float64 {
	if math.IsInf(x, -1) {
		return y
	}
	if math.IsInf(y, -1) {
		return x
	}
	if x < y {
		x, y = y, x
	}
	return x + math.Log1p(math.Exp(y-x))
}

// logSub returns log(e^x - e^y) for x >= y.
func logSub(x, y float64) float64 {
	if math.IsInf(y, -1) {
		return x
	}
	if x == y {
		return math.Inf(-1)
	}
	return x + math.Log(-math.Expm1(y-x))
}

// logBinom is log C(n, k) for 0 <= k <= n.
func logBinom(n, k float64) float64 {
	a, _ := math.Lgamma(n + 1)
	b, _ := math.Lgamma(k + 1)
	c, _ := math.Lgamma(n - k + 1)
	return a - b - c
}

// logAbsBinom is log|C(alpha, i)| and the sign of the generalised binomial
// coefficient Gamma(alpha+1) / (Gamma(i+1) Gamma(alpha-i+1)).
func logAbsBinom(alpha, i float64) (float64, int) {
	a, sa := math.Lgamma(alpha + 1)
	b, sb := math.Lgamma(i + 1)
	c, sc := math.Lgamma(alpha - i + 1)
	return a - b - c, sa * sb * sc
}

// logErfc is log(erfc(x)), accurate where erfc underflows: beyond x = 20 it
// uses the asymptotic series erfc(x) = e^{-x^2}/(x sqrt(pi)) (1 - 1/(2x^2) +
// 3/(4x^4) - 15/(8x^6) + 105/(16x^8) - ...), whose truncation error there is
// below 1e-13 relative.
func logErfc(x float64) float64 {
	if x < 20 {
		return math.Log(math.Erfc(x))
	}
	u := 1 / (x * x)
	series := 1 - u/2 + 3*u*u/4 - 15*u*u*u/8 + 105*u*u*u*u/16
	return -x*x - math.Log(x) - 0.5*math.Log(math.Pi) + math.Log(series)
}
