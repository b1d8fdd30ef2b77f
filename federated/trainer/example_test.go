package trainer_test

import (
	"fmt"
	"math"

	"github.com/consort-ml/consort/federated/trainer"
)

// Check is what stands between a trainer's output and the node's update
// pipeline.
func ExampleCheck() {
	layout := []trainer.TensorSpec{{Name: "w", Shape: []int{3}}, {Name: "b", Shape: []int{1}}}
	ok := trainer.Tensors{Layout: layout, Data: []float32{0.1, 0.2, 0.3, 0}}
	fmt.Println(trainer.Check(ok, layout))

	bad := trainer.Tensors{Layout: layout, Data: []float32{0.1, 0.2, 0.3, float32(math.NaN())}}
	fmt.Println(trainer.Check(bad, layout))

	extra := trainer.Tensors{Layout: append(layout, trainer.TensorSpec{Name: "leak", Shape: []int{1}}), Data: []float32{0, 0, 0, 0, 42}}
	fmt.Println(trainer.Check(extra, layout))
	// Output:
	// <nil>
	// trainer: invalid output: tensor "b" has a non-finite value at index 0
	// trainer: invalid output: extra tensor "leak"
}
