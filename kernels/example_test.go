package kernels_test

import (
	"fmt"

	"github.com/consort-ml/consort/kernels"
)

// Three parties' updates, clipped to |v| <= 1, are encoded with enough
// headroom that their ring sum cannot wrap, summed, and decoded.
func ExampleEncodeNearest32() {
	updates := [][]float32{{0.5, -0.25, 1}, {0.125, 0.75, -1}, {-0.375, 0.5, 1}}
	const bound = 1
	h := kernels.HeadroomBits(len(updates)) // 2 bits for 3 summands
	frac := 31 - h - 1                      // bound * 2^frac <= 2^(31-h) - 1
	sum := make([]uint32, 3)
	enc := make([]uint32, 3)
	for _, u := range updates {
		kernels.EncodeNearest32(enc, u, frac)
		kernels.AddRing32(sum, enc)
	}
	out := make([]float32, 3)
	kernels.Decode32(out, sum, frac)
	fmt.Println(h, frac, bound*(1<<frac) <= 1<<(31-h)-1, out)
	// Output: 2 28 true [0.25 1 1]
}

func ExampleEncodeStochastic32() {
	var seed [32]byte // in practice fresh randomness for every vector
	src := make([]float32, 100000)
	for i := range src {
		src[i] = 0.3 // with frac = 0, rounds to 1 with probability 0.3, else 0
	}
	enc := make([]uint32, len(src))
	kernels.EncodeStochastic32(enc, src, 0, seed)
	ones := 0
	for _, e := range enc {
		ones += int(e)
	}
	fmt.Printf("mean %.2f\n", float64(ones)/float64(len(enc)))
	// Output: mean 0.30
}
