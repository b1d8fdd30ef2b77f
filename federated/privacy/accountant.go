package privacy

import (
	"fmt"
	"math"
	"slices"
)

// Accountant composes the Renyi differential privacy of a sequence of
// mechanisms (rounds) and converts the total to (epsilon, delta). RDP
// composes additively at every order (Mironov 2017, Proposition 1), so the
// accountant keeps one running sum per order. The zero value is not usable:
// create one with [NewAccountant]. An Accountant is not safe for concurrent
// use; [Accountant.Clone] it to ask "what if" questions.
type Accountant struct {
	orders []float64
	rdp    []float64
}

// NewAccountant returns an accountant tracking the given Renyi orders (each
// above 1), or [DefaultOrders] when orders is empty.
func NewAccountant(orders []float64) (*Accountant, error) {
	if len(orders) == 0 {
		orders = DefaultOrders()
	}
	for _, a := range orders {
		if err := checkOrder(a); err != nil {
			return nil, err
		}
	}
	return &Accountant{orders: slices.Clone(orders), rdp: make([]float64, len(orders))}, nil
}

// Orders returns a copy of the tracked orders.
func (a *Accountant) Orders() []float64 { return slices.Clone(a.orders) }

// RDP returns a copy of the accumulated RDP, aligned with [Accountant.Orders].
func (a *Accountant) RDP() []float64 { return slices.Clone(a.rdp) }

// Clone returns an independent copy.
func (a *Accountant) Clone() *Accountant {
	return &Accountant{orders: slices.Clone(a.orders), rdp: slices.Clone(a.rdp)}
}

// Compose adds steps repetitions of a per-step RDP curve (aligned with
// [Accountant.Orders], as returned by [SampledGaussianCurve],
// [SkellamCurve] or [Mechanism.Curve]).
func (a *Accountant) Compose(curve []float64, steps int) error {
	if len(curve) != len(a.orders) {
		return fmt.Errorf("%w: curve has %d values for %d orders", ErrInvalid, len(curve), len(a.orders))
	}
	if steps < 0 {
		return fmt.Errorf("%w: %d steps", ErrInvalid, steps)
	}
	for i, r := range curve {
		if !(r >= 0) {
			return fmt.Errorf("%w: RDP %v at order %v", ErrInvalid, r, a.orders[i])
		}
	}
	for i, r := range curve {
		if steps > 0 {
			a.rdp[i] += float64(steps) * r
		}
	}
	return nil
}

// Step accounts steps rounds of the sampled Gaussian mechanism with sampling
// rate q and noise multiplier sigma (see [SampledGaussianRDP]).
func (a *Accountant) Step(q, sigma float64, steps int) error {
	curve, err := SampledGaussianCurve(a.orders, q, sigma)
	if err != nil {
		return err
	}
	return a.Compose(curve, steps)
}

// Epsilon returns the epsilon spent so far at delta, with the improved
// conversion [EpsilonFromRDP].
func (a *Accountant) Epsilon(delta float64) (float64, error) {
	eps, _, err := EpsilonFromRDP(a.orders, a.rdp, delta)
	return eps, err
}

// EpsilonOrder is [Accountant.Epsilon] that also returns the optimal order
// (an optimum at the smallest or largest tracked order suggests widening the
// order grid).
func (a *Accountant) EpsilonOrder(delta float64) (eps, order float64, err error) {
	return EpsilonFromRDP(a.orders, a.rdp, delta)
}

// EpsilonClassic is [Accountant.Epsilon] with the classic conversion
// [EpsilonFromRDPClassic], for comparison with older published numbers.
func (a *Accountant) EpsilonClassic(delta float64) (eps, order float64, err error) {
	return EpsilonFromRDPClassic(a.orders, a.rdp, delta)
}

// RoundsAffordable returns how many more rounds, each costing perRound (an
// RDP curve aligned with [Accountant.Orders]), fit in an epsilon budget at
// delta on top of what the accountant has already spent, capped at maxRounds.
// It returns 0 when even the next round would exceed the budget. Epsilon does
// not decrease with the number of rounds, so the answer is found by bisection.
func (a *Accountant) RoundsAffordable(budget, delta float64, perRound []float64, maxRounds int) (int, error) {
	if len(perRound) != len(a.orders) {
		return 0, fmt.Errorf("%w: curve has %d values for %d orders", ErrInvalid, len(perRound), len(a.orders))
	}
	if !(budget >= 0) || maxRounds < 0 {
		return 0, fmt.Errorf("%w: budget %v, max rounds %d", ErrInvalid, budget, maxRounds)
	}
	fits := func(r int) (bool, error) {
		c := a.Clone()
		if err := c.Compose(perRound, r); err != nil {
			return false, err
		}
		eps, err := c.Epsilon(delta)
		return eps <= budget, err
	}
	ok, err := fits(0)
	if err != nil || !ok {
		return 0, err
	}
	lo, hi := 0, maxRounds // fits(lo) holds
	if ok, err := fits(hi); err != nil || ok {
		return hi, err
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		ok, err := fits(mid)
		if err != nil {
			return 0, err
		}
		if ok {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo, nil
}

// SampledGaussianCurve returns [SampledGaussianRDP] at every order.
func SampledGaussianCurve(orders []float64, q, sigma float64) ([]float64, error) {
	curve := make([]float64, len(orders))
	for i, a := range orders {
		r, err := SampledGaussianRDP(q, sigma, a)
		if err != nil {
			return nil, err
		}
		curve[i] = r
	}
	return curve, nil
}

// SkellamCurve returns the per-round RDP at every order of the Skellam
// mechanism with integer sensitivities l1, l2 and aggregate noise variance
// mu (see [SkellamRDP]), Poisson-subsampled at rate q. For q < 1 the
// amplification of [PoissonSubsampledRDP] is applied at integer orders; at
// fractional orders no amplification is claimed (the unsampled bound holds).
func SkellamCurve(orders []float64, q, l1, l2, mu float64) ([]float64, error) {
	if !(q >= 0 && q <= 1) {
		return nil, fmt.Errorf("%w: sampling rate %v outside [0, 1]", ErrInvalid, q)
	}
	var innerErr error
	inner := func(order int) float64 {
		r, err := SkellamRDP(float64(order), l1, l2, mu)
		if err != nil {
			innerErr = err
		}
		return r
	}
	curve := make([]float64, len(orders))
	for i, a := range orders {
		r, err := SkellamRDP(a, l1, l2, mu)
		if err != nil {
			return nil, err
		}
		if q < 1 && isInteger(a) && a <= 4096 && !math.IsInf(r, 1) {
			if r, err = PoissonSubsampledRDP(q, int(a), inner); err != nil {
				return nil, err
			}
			if innerErr != nil {
				return nil, innerErr
			}
		}
		curve[i] = r
	}
	return curve, nil
}
