package model_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/consort-ml/consort/federated/model"
)

// Train softmax regression on three well separated clusters and load a model
// into another through the flat parameter vector.
func Example() {
	rng := rand.New(rand.NewPCG(1, 2))
	const n, d, k = 300, 2, 3
	X := make([]float32, n*d)
	Y := make([]int, n)
	for i := range n {
		Y[i] = i % k
		X[2*i] = float32(4*Y[i]) + float32(rng.NormFloat64()*0.3)
		X[2*i+1] = float32(rng.NormFloat64() * 0.3)
	}
	spec, err := model.ParseSpec("softmax")
	if err != nil {
		panic(err)
	}
	m, err := model.New(spec, d, k, 1)
	if err != nil {
		panic(err)
	}
	st, err := model.Train(m, X, Y, model.TrainConfig{Epochs: 5, BatchSize: 32, LR: 0.1, Momentum: 0.9, Seed: 7})
	if err != nil {
		panic(err)
	}
	_, acc := model.Evaluate(m, X, Y)
	fmt.Printf("%s: %d parameters, %d steps, accuracy %.2f\n", spec, m.NumParams(), st.Steps, acc)

	other, _ := model.New(spec, d, k, 99)
	copy(other.Params(), m.Params())
	pred, _ := model.Predict(other, []float32{0, 0, 4, 0, 8, 0})
	fmt.Println("predictions:", pred)
	// Output:
	// softmax: 9 parameters, 50 steps, accuracy 1.00
	// predictions: [0 1 2]
}
