package kernels

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

func randomFloats(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(math.Ldexp(r.Float64()*2-1, r.IntN(20)-10))
	}
	return v
}

func TestAxpyScaleMatchReference(t *testing.T) {
	r := rand.New(rand.NewPCG(20, 20))
	for _, n := range ringLengths() {
		x, y := randomFloats(r, n), randomFloats(r, n)
		alpha := float32(r.NormFloat64())
		got := append([]float32(nil), y...)
		Axpy(alpha, x, got)
		for i := range got {
			// Two roundings, never fused: deterministic on every platform.
			if want := y[i] + float32(alpha*x[i]); got[i] != want {
				t.Fatalf("Axpy n=%d: element %d = %g, want %g", n, i, got[i], want)
			}
		}
		Scale(alpha, got)
		for i := range got {
			if want := float32((y[i] + float32(alpha*x[i])) * alpha); got[i] != want {
				t.Fatalf("Scale n=%d: element %d = %g, want %g", n, i, got[i], want)
			}
		}
	}
}

func TestDotNorm2MatchReference(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 21))
	for _, n := range ringLengths() {
		x, y := randomFloats(r, n), randomFloats(r, n)
		checkClose(t, fmt.Sprintf("Dot n=%d", n), Dot(x, y), refDotExact(x, y), absSum(x, y), n)
		exact := refDotExact(x, x)
		exact.Sqrt(exact)
		checkClose(t, fmt.Sprintf("Norm2 n=%d", n), Norm2(x), exact, absSum(x, x), n)
	}
}

// checkClose accepts got when it is within one float32 rounding of the exact
// value plus the float64 accumulation error n * 2^-52 * sum|x_i y_i|.
func checkClose(t *testing.T, name string, got float32, exact *big.Float, mag float64, n int) {
	t.Helper()
	e, _ := exact.Float64()
	tol := math.Abs(e)*0x1p-23 + float64(n)*0x1p-52*mag
	if math.Abs(float64(got)-e) > tol {
		t.Fatalf("%s = %g, want %g (tolerance %g)", name, got, e, tol)
	}
}

func absSum(x, y []float32) float64 {
	s := 0.0
	for i := range x {
		s += math.Abs(float64(x[i]) * float64(y[i]))
	}
	return s
}

func TestNorm2Extremes(t *testing.T) {
	if got := Norm2(nil); got != 0 {
		t.Errorf("Norm2(nil) = %g", got)
	}
	if got := Norm2([]float32{3, 4}); got != 5 {
		t.Errorf("Norm2(3,4) = %g", got)
	}
	// Squares of large float32 values overflow float32 but not the float64
	// accumulator.
	if got := Norm2([]float32{3e30, 4e30}); math.Abs(float64(got)/5e30-1) > 1e-6 {
		t.Errorf("Norm2(3e30,4e30) = %g", got)
	}
	if got := Norm2([]float32{3e-30, 4e-30}); math.Abs(float64(got)/5e-30-1) > 1e-6 {
		t.Errorf("Norm2(3e-30,4e-30) = %g", got)
	}
	if got := Norm2([]float32{math.MaxFloat32, math.MaxFloat32}); !math.IsInf(float64(got), 1) {
		t.Errorf("Norm2 beyond float32 range = %g, want +Inf", got)
	}
}

func TestClipToNorm(t *testing.T) {
	r := rand.New(rand.NewPCG(22, 22))
	for _, n := range ringLengths() {
		for _, c := range []float32{0, 1e-3, 0.5, 1, 10, 1e6} {
			x := randomFloats(r, n)
			orig := append([]float32(nil), x...)
			before := math.Sqrt(sumSquaresExact(orig))
			f := ClipToNorm(x, c)
			after := math.Sqrt(sumSquaresExact(x))
			if before <= float64(c) {
				if f != 1 || !equal(x, orig) {
					t.Fatalf("n=%d c=%g: norm %g within bound but x changed (factor %g)", n, c, before, f)
				}
				continue
			}
			if after > float64(c) {
				t.Fatalf("n=%d c=%g: clipped norm %g above c", n, c, after)
			}
			if after < float64(c)*(1-0x1p-19) {
				t.Fatalf("n=%d c=%g: clipped norm %g needlessly far below c", n, c, after)
			}
			for i := range x {
				if x[i] != orig[i]*f {
					t.Fatalf("n=%d c=%g: element %d is not orig*factor", n, c, i)
				}
			}
		}
	}
	x := []float32{3, 4}
	if f := ClipToNorm(x, -1); f != 0 || x[0] != 0 || x[1] != 0 {
		t.Errorf("negative c: factor %g, x %v", f, x)
	}
	nan := []float32{1, float32(math.NaN())}
	if f := ClipToNorm(nan, 1); f != 1 || nan[0] != 1 {
		t.Errorf("NaN input: factor %g, x %v", f, nan)
	}
	if f := ClipToNorm(nil, 1); f != 1 {
		t.Errorf("empty: factor %g", f)
	}
}

// sumSquaresExact returns sum x_i^2 rounded once to float64.
func sumSquaresExact(x []float32) float64 {
	f, _ := refDotExact(x, x).Float64()
	return f
}

func TestFloatLengthMismatchPanics(t *testing.T) {
	for name, f := range map[string]func(){
		"Axpy": func() { Axpy(1, make([]float32, 2), make([]float32, 3)) },
		"Dot":  func() { Dot(make([]float32, 2), make([]float32, 1)) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s with mismatched lengths did not panic", name)
				}
			}()
			f()
		}()
	}
}

func ExampleClipToNorm() {
	update := []float32{3, 4} // norm 5
	f := ClipToNorm(update, 1)
	fmt.Printf("factor %.4f, norm %.4f\n", f, Norm2(update))
	// Output: factor 0.2000, norm 1.0000
}
