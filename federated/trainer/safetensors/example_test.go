package safetensors_test

import (
	"fmt"

	"github.com/consort-ml/consort/federated/trainer/safetensors"
)

// A model travels as one flat float32 vector plus its layout.
func Example() {
	layout := []safetensors.TensorSpec{
		{Name: "fc.weight", Shape: []int{2, 2}},
		{Name: "fc.bias", Shape: []int{2}},
	}
	b, err := safetensors.Encode(layout, []float32{1, 2, 3, 4, 0.5, -0.5}, map[string]string{"format": "pt"})
	if err != nil {
		panic(err)
	}
	f, err := safetensors.Decode(b, layout, safetensors.Limits{})
	if err != nil {
		panic(err)
	}
	fmt.Println(len(b), f.Data, f.Metadata["format"])

	// The same bytes with a layout that lacks a tensor are refused.
	_, err = safetensors.Decode(b, layout[:1], safetensors.Limits{})
	fmt.Println(err)
	// Output:
	// 192 [1 2 3 4 0.5 -0.5] pt
	// safetensors: malformed: unexpected tensor "fc.bias" (not in the layout)
}
