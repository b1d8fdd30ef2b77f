package model

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// gemmScratch holds the packing buffers of the blocked GEMM (see
// gemm_amd64.go), reused across calls so training does not allocate.
type gemmScratch struct {
	packB []float32
	packA [][]float32 // one per worker
	tile  [][]float32 // one 6x16 tile per worker
}

// gonumSgemm computes C = alpha*op(A)*op(B) + beta*C with gonum's float32
// GEMM (row-major, C is m x n, inner dimension k). Each block of C is summed
// by one goroutine in a fixed order along k, so the result does not depend
// on scheduling or GOMAXPROCS.
func gonumSgemm(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	ta, tb := blas.NoTrans, blas.NoTrans
	if tA {
		ta = blas.Trans
	}
	if tB {
		tb = blas.Trans
	}
	gonum.Implementation{}.Sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// MatMulKernel names the matrix-multiplication kernel the models use on this
// machine: the blocked AVX2/FMA kernel on amd64 CPUs that have it, gonum's
// Sgemm otherwise. Benchmark reports print it.
func MatMulKernel() string { return gemmKernelName() }
