package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// refGemm is the naive float64 reference: C = alpha*op(A)*op(B) + beta*C.
func refGemm(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) []float64 {
	out := make([]float64, m*n)
	for i := range m {
		for j := range n {
			var s float64
			for p := range k {
				var av, bv float32
				if tA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if tB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += float64(av) * float64(bv)
			}
			out[i*n+j] = float64(alpha)*s + float64(beta)*float64(c[i*ldc+j])
		}
	}
	return out
}

func randSlice(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.Float64()*2 - 1)
	}
	return s
}

// TestSgemm is a differential test of the GEMM in use (blocked AVX2/FMA on
// amd64 CPUs that have it) against a float64 reference, for every transpose
// combination, sizes around the tile and block edges, leading dimensions
// larger than the rows, and beta in {0, 1, 0.5}.
func TestSgemm(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	sizes := [][3]int{{1, 1, 1}, {5, 15, 3}, {6, 16, 256}, {7, 17, 257}, {13, 33, 300}, {72, 16, 10}, {73, 50, 520}, {128, 10, 128}, {3, 200, 0}}
	for _, sz := range sizes {
		for _, tA := range []bool{false, true} {
			for _, tB := range []bool{false, true} {
				for _, beta := range []float32{0, 1, 0.5} {
					m, n, k := sz[0], sz[1], sz[2]
					name := fmt.Sprintf("m=%d/n=%d/k=%d/tA=%v/tB=%v/beta=%v", m, n, k, tA, tB, beta)
					t.Run(name, func(t *testing.T) {
						lda, ldb, ldc := k+3, n+2, n+1
						aRows, bRows := m, k
						if tA {
							lda, aRows = m+2, k
						}
						if tB {
							ldb, bRows = k+1, n
						}
						a := randSlice(rng, aRows*lda)
						b := randSlice(rng, bRows*ldb)
						c := randSlice(rng, m*ldc)
						alpha := float32(1)
						if k%2 == 1 {
							alpha = -0.75
						}
						want := refGemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
						c0 := append([]float32(nil), c...)
						var s gemmScratch
						impls := map[string]func(){
							"in-use": func() { s.sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) },
							"gonum":  func() { gonumSgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) },
						}
						for _, impl := range []string{"in-use", "gonum"} {
							copy(c, c0)
							impls[impl]()
							tol := 1e-5 * float64(k+1)
							for i := range m {
								for j := range n {
									if d := math.Abs(float64(c[i*ldc+j]) - want[i*n+j]); d > tol {
										t.Fatalf("%s: C[%d,%d] = %v, want %v", impl, i, j, c[i*ldc+j], want[i*n+j])
									}
								}
								// Columns past n (the ldc padding) are untouched.
								if pad := i*ldc + n; pad < len(c) && c[pad] != c0[pad] {
									t.Fatalf("%s: padding of row %d overwritten", impl, i)
								}
							}
						}
					})
				}
			}
		}
	}
}
