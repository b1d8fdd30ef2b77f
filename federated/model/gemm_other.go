//go:build !amd64

package model

// sgemm computes C = alpha*op(A)*op(B) + beta*C (row-major, C is m x n,
// inner dimension k). Without the amd64 AVX2 kernel it is gonum's GEMM.
func (s *gemmScratch) sgemm(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	gonumSgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// gemmKernelName names the GEMM in use, for benchmark reports.
func gemmKernelName() string { return "gonum Sgemm" }
