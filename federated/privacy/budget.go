package privacy

import (
	"errors"
	"fmt"
	"math"
)

// ErrBudgetExhausted is returned by [Budget.Spend] when one more round
// would exceed the epsilon budget; nothing is spent then.
var ErrBudgetExhausted = errors.New("privacy: epsilon budget exhausted")

// Budget is the coordinator's (or a node's) running account of one
// federation: a fixed per-round mechanism, an epsilon limit at delta, and the
// rounds spent so far. It refuses to spend a round that would exceed the
// limit, so training stops at the last affordable round.
type Budget struct {
	acc    *Accountant
	curve  []float64
	delta  float64
	limit  float64
	rounds int
}

// NewBudget prepares the account of rounds of mechanism m on d-dimensional
// updates, each node taking part with probability q, with limit epsilon at
// delta (limit +Inf: track without a limit).
func NewBudget(m Mechanism, q float64, d int, delta, limit float64) (*Budget, error) {
	if !(delta > 0 && delta < 1) {
		return nil, fmt.Errorf("%w: delta %v outside (0, 1)", ErrInvalid, delta)
	}
	if !(limit >= 0) {
		return nil, fmt.Errorf("%w: epsilon budget %v", ErrInvalid, limit)
	}
	acc, err := NewAccountant(nil)
	if err != nil {
		return nil, err
	}
	curve, err := m.Curve(acc.Orders(), q, d)
	if err != nil {
		return nil, err
	}
	return &Budget{acc: acc, curve: curve, delta: delta, limit: limit}, nil
}

// Rounds is the number of rounds spent.
func (b *Budget) Rounds() int { return b.rounds }

// Delta is the delta at which epsilon is reported.
func (b *Budget) Delta() float64 { return b.delta }

// Epsilon is the epsilon spent so far at [Budget.Delta].
func (b *Budget) Epsilon() float64 {
	eps, err := b.acc.Epsilon(b.delta)
	if err != nil {
		return math.Inf(1)
	}
	return eps
}

// Next returns the epsilon the budget would reach after one more round.
func (b *Budget) Next() (float64, error) {
	c := b.acc.Clone()
	if err := c.Compose(b.curve, 1); err != nil {
		return 0, err
	}
	return c.Epsilon(b.delta)
}

// Spend accounts one round and returns the new epsilon, or returns
// [ErrBudgetExhausted] (wrapped, with the figures) without spending when the
// round would exceed the limit.
func (b *Budget) Spend() (float64, error) {
	next, err := b.Next()
	if err != nil {
		return 0, err
	}
	if next > b.limit {
		return b.Epsilon(), fmt.Errorf("%w: round %d would bring epsilon to %.4g at delta %g, budget %g",
			ErrBudgetExhausted, b.rounds+1, next, b.delta, b.limit)
	}
	if err := b.acc.Compose(b.curve, 1); err != nil {
		return 0, err
	}
	b.rounds++
	return next, nil
}

// Affordable returns how many more rounds fit in the budget, at most max.
func (b *Budget) Affordable(max int) (int, error) {
	if math.IsInf(b.limit, 1) {
		return max, nil
	}
	return b.acc.RoundsAffordable(b.limit, b.delta, b.curve, max)
}
