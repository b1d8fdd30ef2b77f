package privacy

import (
	"errors"
	"math"
	"testing"
)

func TestBudget(t *testing.T) {
	m := Mechanism{Clip: 1, NoiseMultiplier: 2, MinContributors: 3}
	b, err := NewBudget(m, 1, 100, 1e-5, 6)
	if err != nil {
		t.Fatal(err)
	}
	want, err := b.Affordable(1000)
	if err != nil || want < 2 {
		t.Fatalf("affordable %d, %v", want, err)
	}
	prev := 0.0
	for i := 0; ; i++ {
		eps, err := b.Spend()
		if errors.Is(err, ErrBudgetExhausted) {
			if i != want || b.Rounds() != want || eps != prev {
				t.Errorf("stopped after %d rounds (affordable %d), eps %v, prev %v", i, want, eps, prev)
			}
			break
		}
		if err != nil || eps <= prev || eps > 6 {
			t.Fatalf("round %d: eps %v, err %v", i+1, eps, err)
		}
		prev = eps
	}
	if b.Epsilon() != prev {
		t.Errorf("epsilon %v after refusal, want %v", b.Epsilon(), prev)
	}
	// the figure matches a fresh accountant
	acc, _ := NewAccountant(nil)
	_ = acc.Step(1, 2, want)
	if e, _ := acc.Epsilon(1e-5); e != prev {
		t.Errorf("budget %v, accountant %v", prev, e)
	}
	u, _ := NewBudget(m, 1, 100, 1e-5, math.Inf(1))
	if n, _ := u.Affordable(77); n != 77 {
		t.Errorf("unlimited budget affords %d", n)
	}
	if _, err := NewBudget(m, 1, 100, 0, 1); !errors.Is(err, ErrInvalid) {
		t.Errorf("delta 0: %v", err)
	}
}
