package federated

import (
	"math"
	"testing"
)

func TestSplitStatsSumsExactly(t *testing.T) {
	parties := [][]float32{
		{0.0001234, -3.5, 123456.78, 1e-7, 0},
		{0.0002, 2.25, 654321.5, -1e-7, 1048575},
		{1e-5, -0.125, 0.5, 3e-7, -1048575},
	}
	sum := make([]float32, 10)
	want := make([]float64, 5)
	for _, p := range parties {
		for j, v := range splitStats(p) {
			sum[j] += v
		}
		for j, v := range p {
			want[j] += float64(v)
		}
	}
	for j, got := range joinStats(sum) {
		if math.Abs(got-want[j]) > 3*math.Ldexp(1, -statsSplitBits) {
			t.Errorf("feature %d: %v, want %v", j, got, want[j])
		}
	}
	// The parts are integers within the bound every mhe quantisation up
	// to 256 parties encodes exactly.
	for _, v := range splitStats([]float32{-2e6, 2e6, -0.3}) {
		if v != float32(math.Trunc(float64(v))) || math.Abs(float64(v)) > 1<<statsSplitBits {
			t.Errorf("part %v is not an integer within the bound", v)
		}
	}
}
