//go:build amd64

package model

import (
	"runtime"
	"sync"

	"golang.org/x/sys/cpu"
)

// kernel6x16 writes into c (6 x 16, row-major) the product of a packed
// 6-row tile of A (k x 6: element (i, p) at a[p*6+i]) and a packed 16-column
// panel of B (k x 16: element (p, j) at b[p*16+j]). AVX2 + FMA assembly.
//
//go:noescape
func kernel6x16(k int, a, b, c *float32)

// hasFMA reports whether the CPU and OS support the AVX2/FMA kernel. It is
// set once at start-up and only read afterwards.
var hasFMA = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// Blocking of the GEMM (Goto and van de Geijn, "Anatomy of high-performance
// matrix multiplication", ACM TOMS 2008): a 6 x 16 register tile, kc-deep
// slices of the inner dimension (a packed B panel of kc x 16 floats, 16 KiB,
// stays in L1), mc-row blocks of packed A (72 KiB, in L2).
const (
	gemmMR = 6
	gemmNR = 16
	gemmKC = 256
	gemmMC = 72 // a multiple of gemmMR
	// gemmMinFLOPs is the work below which a GEMM stays on one goroutine.
	gemmMinFLOPs = 1 << 22
)

// sgemm computes C = alpha*op(A)*op(B) + beta*C (row-major, C is m x n,
// inner dimension k) with the blocked AVX2/FMA GEMM, or gonum's when the CPU
// lacks AVX2 or FMA.
func (s *gemmScratch) sgemm(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if !hasFMA {
		gonumSgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	workers := runtime.GOMAXPROCS(0)
	if f := 2 * float64(m) * float64(n) * float64(k) / gemmMinFLOPs; f < float64(workers) {
		workers = max(1, int(f))
	}
	s.blocked(workers, tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// gemmKernelName names the GEMM in use, for benchmark reports.
func gemmKernelName() string {
	if hasFMA {
		return "blocked AVX2/FMA 6x16"
	}
	return "gonum Sgemm"
}

// blocked is the packed GEMM on up to workers goroutines. Workers own
// disjoint row ranges of C and every element is summed in the same order
// (kc blocks in sequence, p in sequence within a block) whatever the number
// of workers, so the result is bit-identical for any worker count.
func (s *gemmScratch) blocked(workers int, tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if beta != 1 {
		for i := range m {
			row := c[i*ldc : i*ldc+n]
			if beta == 0 {
				clear(row)
				continue
			}
			for j := range row {
				row[j] *= beta
			}
		}
	}
	if k == 0 || alpha == 0 {
		return
	}
	panels := (n + gemmNR - 1) / gemmNR
	npad := panels * gemmNR
	if need := k * npad; cap(s.packB) < need {
		s.packB = make([]float32, need)
	}
	pb := s.packB[:k*npad]
	for pc := 0; pc < k; pc += gemmKC {
		kcb := min(gemmKC, k-pc)
		region := pb[pc*npad : (pc+kcb)*npad]
		for jp := range panels {
			j0 := jp * gemmNR
			packB(region[jp*kcb*gemmNR:(jp+1)*kcb*gemmNR], tB, b, ldb, pc, kcb, j0, min(gemmNR, n-j0))
		}
	}
	tiles := (m + gemmMR - 1) / gemmMR
	workers = max(1, min(workers, tiles))
	for len(s.packA) < workers {
		s.packA = append(s.packA, make([]float32, gemmMC*gemmKC))
		s.tile = append(s.tile, make([]float32, gemmMR*gemmNR))
	}
	if workers == 1 {
		s.rows(0, 0, m, tA, n, k, alpha, a, lda, pb, c, ldc)
		return
	}
	per := (tiles + workers - 1) / workers
	var wg sync.WaitGroup
	for w := range workers {
		r0, r1 := w*per*gemmMR, min(m, (w+1)*per*gemmMR)
		if r0 >= r1 {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.rows(w, r0, r1, tA, n, k, alpha, a, lda, pb, c, ldc)
		}()
	}
	wg.Wait()
}

// rows computes rows r0..r1 of C += alpha*op(A)*B from the packed B, using
// worker w's buffers.
func (s *gemmScratch) rows(w, r0, r1 int, tA bool, n, k int, alpha float32, a []float32, lda int, pb, c []float32, ldc int) {
	pa, tile := s.packA[w], s.tile[w]
	panels := (n + gemmNR - 1) / gemmNR
	npad := panels * gemmNR
	for pc := 0; pc < k; pc += gemmKC {
		kcb := min(gemmKC, k-pc)
		region := pb[pc*npad : (pc+kcb)*npad]
		for ic := r0; ic < r1; ic += gemmMC {
			mcb := min(gemmMC, r1-ic)
			packA(pa, tA, a, lda, ic, mcb, pc, kcb)
			for jp := range panels {
				bp := region[jp*kcb*gemmNR : (jp+1)*kcb*gemmNR]
				j0 := jp * gemmNR
				jn := min(gemmNR, n-j0)
				for i0 := 0; i0 < mcb; i0 += gemmMR {
					ap := pa[i0*kcb : (i0+gemmMR)*kcb]
					kernel6x16(kcb, &ap[0], &bp[0], &tile[0])
					for i := range min(gemmMR, mcb-i0) {
						off := (ic+i0+i)*ldc + j0
						crow := c[off : off+jn]
						trow := tile[i*gemmNR : i*gemmNR+jn]
						if alpha == 1 {
							for j, v := range trow {
								crow[j] += v
							}
						} else {
							for j, v := range trow {
								crow[j] += alpha * v
							}
						}
					}
				}
			}
		}
	}
}

// packA packs rows i0..i0+mcb and columns p0..p0+kcb of op(A) into tiles of
// gemmMR rows: tile t holds element (t*gemmMR+i, p) at dst[t*gemmMR*kcb +
// p*gemmMR + i]; rows past mcb are zero.
func packA(dst []float32, tA bool, a []float32, lda, i0, mcb, p0, kcb int) {
	for t := 0; t*gemmMR < mcb; t++ {
		tileDst := dst[t*gemmMR*kcb : (t+1)*gemmMR*kcb]
		rowsIn := min(gemmMR, mcb-t*gemmMR)
		r := i0 + t*gemmMR
		if tA {
			// op(A)(i, p) = a[p*lda+i]: each p gives rowsIn contiguous values.
			for p := range kcb {
				src := a[(p0+p)*lda+r : (p0+p)*lda+r+rowsIn]
				d := tileDst[p*gemmMR : (p+1)*gemmMR]
				copy(d, src)
				clear(d[rowsIn:])
			}
			continue
		}
		if rowsIn == gemmMR {
			// Six row streams read in step, the tile written in order.
			a0 := a[r*lda+p0 : r*lda+p0+kcb]
			a1 := a[(r+1)*lda+p0 : (r+1)*lda+p0+kcb]
			a2 := a[(r+2)*lda+p0 : (r+2)*lda+p0+kcb]
			a3 := a[(r+3)*lda+p0 : (r+3)*lda+p0+kcb]
			a4 := a[(r+4)*lda+p0 : (r+4)*lda+p0+kcb]
			a5 := a[(r+5)*lda+p0 : (r+5)*lda+p0+kcb]
			for p := range kcb {
				d := tileDst[p*gemmMR : p*gemmMR+gemmMR : p*gemmMR+gemmMR]
				d[0], d[1], d[2], d[3], d[4], d[5] = a0[p], a1[p], a2[p], a3[p], a4[p], a5[p]
			}
			continue
		}
		for i := range rowsIn {
			src := a[(r+i)*lda+p0 : (r+i)*lda+p0+kcb]
			for p, v := range src {
				tileDst[p*gemmMR+i] = v
			}
		}
		for i := rowsIn; i < gemmMR; i++ {
			for p := range kcb {
				tileDst[p*gemmMR+i] = 0
			}
		}
	}
}

// packB packs rows p0..p0+kcb and columns j0..j0+jn of op(B) into one panel:
// element (p, j) at dst[p*gemmNR + j]; columns past jn are zero.
func packB(dst []float32, tB bool, b []float32, ldb, p0, kcb, j0, jn int) {
	if !tB {
		for p := range kcb {
			d := dst[p*gemmNR : (p+1)*gemmNR]
			copy(d, b[(p0+p)*ldb+j0:(p0+p)*ldb+j0+jn])
			clear(d[jn:])
		}
		return
	}
	// op(B)(p, j) = b[j*ldb+p].
	for j := range jn {
		src := b[(j0+j)*ldb+p0 : (j0+j)*ldb+p0+kcb]
		for p, v := range src {
			dst[p*gemmNR+j] = v
		}
	}
	if jn < gemmNR {
		for p := range kcb {
			clear(dst[p*gemmNR+jn : (p+1)*gemmNR])
		}
	}
}
