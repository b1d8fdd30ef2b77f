//go:build amd64 && !purego && !goexperiment.simd

package kernels

import "golang.org/x/sys/cpu"

// useAVX2 reports whether the assembly loops of ring_amd64.s can run: they
// need AVX2 (and the operating system's support for the YMM registers, which
// x/sys/cpu includes in the check).
func useAVX2() bool { return cpu.X86.HasAVX2 }

// The assembly routines take n bytes, a multiple of 128.
//
//go:noescape
func addW(dst, src *uint16, n int)

//go:noescape
func subW(dst, src *uint16, n int)

//go:noescape
func addD(dst, src *uint32, n int)

//go:noescape
func subD(dst, src *uint32, n int)

//go:noescape
func addQ(dst, src *uint64, n int)

//go:noescape
func subQ(dst, src *uint64, n int)

func addRing16(dst, src []uint16) {
	if useAVX2() && len(dst) >= 64 {
		src = src[:len(dst)]
		m := len(dst) &^ 63
		addW(&dst[0], &src[0], m*2)
		dst, src = dst[m:], src[m:]
	}
	addRing16Go(dst, src)
}

func subRing16(dst, src []uint16) {
	if useAVX2() && len(dst) >= 64 {
		src = src[:len(dst)]
		m := len(dst) &^ 63
		subW(&dst[0], &src[0], m*2)
		dst, src = dst[m:], src[m:]
	}
	subRing16Go(dst, src)
}

func addRing32(dst, src []uint32) {
	if useAVX2() && len(dst) >= 32 {
		src = src[:len(dst)]
		m := len(dst) &^ 31
		addD(&dst[0], &src[0], m*4)
		dst, src = dst[m:], src[m:]
	}
	addRing32Go(dst, src)
}

func subRing32(dst, src []uint32) {
	if useAVX2() && len(dst) >= 32 {
		src = src[:len(dst)]
		m := len(dst) &^ 31
		subD(&dst[0], &src[0], m*4)
		dst, src = dst[m:], src[m:]
	}
	subRing32Go(dst, src)
}

func addRing64(dst, src []uint64) {
	if useAVX2() && len(dst) >= 16 {
		src = src[:len(dst)]
		m := len(dst) &^ 15
		addQ(&dst[0], &src[0], m*8)
		dst, src = dst[m:], src[m:]
	}
	addRing64Go(dst, src)
}

func subRing64(dst, src []uint64) {
	if useAVX2() && len(dst) >= 16 {
		src = src[:len(dst)]
		m := len(dst) &^ 15
		subQ(&dst[0], &src[0], m*8)
		dst, src = dst[m:], src[m:]
	}
	subRing64Go(dst, src)
}
