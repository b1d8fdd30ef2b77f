package privacy_test

import (
	"fmt"
	"math"

	"github.com/consort-ml/consort/federated/privacy"
)

// DP-SGD on MNIST (Abadi et al. 2016): 60 epochs of batches of 256 out of
// 60000 with noise multiplier 1.12.
func ExampleAccountant() {
	acc, err := privacy.NewAccountant(nil)
	if err != nil {
		panic(err)
	}
	steps := int(math.Ceil(60 * 60000 / 256.0))
	if err := acc.Step(256.0/60000, 1.12, steps); err != nil {
		panic(err)
	}
	eps, err := acc.Epsilon(1e-5)
	if err != nil {
		panic(err)
	}
	fmt.Printf("epsilon %.2f at delta 1e-5\n", eps)
	// Output: epsilon 2.52 at delta 1e-5
}

// A federation of nodes that all take part in every round, noise multiplier
// 1.0, budget epsilon 8 at delta 1e-5.
func ExampleAccountant_RoundsAffordable() {
	m := privacy.Mechanism{Clip: 1, NoiseMultiplier: 1, MinContributors: 3}
	acc, _ := privacy.NewAccountant(nil)
	curve, _ := m.Curve(acc.Orders(), 1, 0)
	rounds, _ := acc.RoundsAffordable(8, 1e-5, curve, 1000)
	fmt.Println("rounds affordable:", rounds)
	// Output: rounds affordable: 2
}
