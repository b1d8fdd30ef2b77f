//go:build amd64 && !purego && !goexperiment.simd

#include "textflag.h"

// Each routine updates n bytes (n a multiple of 128, possibly 0) of dst with
// the corresponding bytes of src, 128 bytes per iteration in four AVX2
// registers. Unaligned loads and stores; the caller checks AVX2 support and
// handles the tail.

#define RING_LOOP(OP) \
	MOVQ dst+0(FP), DI \
	MOVQ src+8(FP), SI \
	MOVQ n+16(FP), CX \
	TESTQ CX, CX \
	JZ done \
loop: \
	VMOVDQU (DI), Y0 \
	VMOVDQU 32(DI), Y1 \
	VMOVDQU 64(DI), Y2 \
	VMOVDQU 96(DI), Y3 \
	OP (SI), Y0, Y0 \
	OP 32(SI), Y1, Y1 \
	OP 64(SI), Y2, Y2 \
	OP 96(SI), Y3, Y3 \
	VMOVDQU Y0, (DI) \
	VMOVDQU Y1, 32(DI) \
	VMOVDQU Y2, 64(DI) \
	VMOVDQU Y3, 96(DI) \
	ADDQ $128, DI \
	ADDQ $128, SI \
	SUBQ $128, CX \
	JNZ loop \
	VZEROUPPER \
done: \
	RET

// func addD(dst, src *uint32, n int)
TEXT ·addD(SB), NOSPLIT, $0-24
	RING_LOOP(VPADDD)

// func subD(dst, src *uint32, n int)
TEXT ·subD(SB), NOSPLIT, $0-24
	RING_LOOP(VPSUBD)

// func addQ(dst, src *uint64, n int)
TEXT ·addQ(SB), NOSPLIT, $0-24
	RING_LOOP(VPADDQ)

// func subQ(dst, src *uint64, n int)
TEXT ·subQ(SB), NOSPLIT, $0-24
	RING_LOOP(VPSUBQ)

// func addW(dst, src *uint16, n int)
TEXT ·addW(SB), NOSPLIT, $0-24
	RING_LOOP(VPADDW)

// func subW(dst, src *uint16, n int)
TEXT ·subW(SB), NOSPLIT, $0-24
	RING_LOOP(VPSUBW)
