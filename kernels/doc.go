// Package kernels holds the numeric inner loops of consort: fixed-point
// encoding of float32 model updates into the rings Z_2^32 and Z_2^64, wrapping
// ring addition, float32 vector kernels (axpy, scale, dot, L2 norm,
// clip-to-norm), AES-128-CTR mask expansion fused with ring addition over
// 16-, 32- and 64-bit lanes, and bit packing of k-bit ring elements for the
// wire.
//
// The package is the bottom layer of the module: it imports only the standard
// library (no networking, no os, no time), keeps no package-level state, does
// not log, and never panics on bytes from a peer. Lengths of vectors passed
// together must agree (a mismatch is a programming error and panics, as in
// gonum's BLAS); bytes from a peer go through [Unpack64] and [Unpack32], which
// validate before they write.
//
// # Fixed point
//
// A float32 v is encoded with f fractional bits as round(v * 2^f), stored as
// a two's complement integer in the ring: Z_2^32 for [EncodeNearest32] and
// [EncodeStochastic32], Z_2^64 for the 64-bit variants. [Decode32] and
// [Decode64] read ring elements as signed and divide by 2^f. Values whose
// scaled magnitude leaves the signed range saturate (±Inf included), and NaN
// encodes to 0.
//
// Error bounds, for values within range, measured on the decoded value before
// its final rounding to float32:
//
//   - nearest rounding (ties to even): |decode(encode(v)) - v| <= 2^-(f+1);
//   - stochastic rounding: |error| < 2^-f and E[decode(encode(v))] = v. The
//     value is rounded up with probability equal to the fractional part of
//     v * 2^f, to within 2^-32 (32 random bits per element), so any bias is
//     below 2^-(32+f), far below the rounding error itself. The randomness is an AES-128-CTR keystream derived from
//     the 32-byte seed with SHA-256 under a fixed label: deterministic for the
//     seed, identical across platforms, and independent of mask streams even
//     if a caller reuses a seed.
//
// Decoding rounds once more, to the nearest float32 (relative error 2^-24).
//
// # Headroom for sums
//
// Ring addition of n encodings equals the encoding of the sum as long as the
// integer sum stays inside the signed range. With a ring of k bits (32 or 64),
// f fractional bits and every input bounded by |v| <= B, reserve
// h = [HeadroomBits](n) = ceil(log2 n) bits: the sum cannot wrap when
//
//	B * 2^f <= 2^(k-1-h) - 1,
//
// because every encoding (nearest or stochastic) then has magnitude at most
// 2^(k-1-h) - 1, and n <= 2^h of them sum to at most 2^(k-1) - n in
// magnitude. A bound B usually comes from clipping ([ClipToNorm] with norm C
// bounds every coordinate by C). Within that rule, decoding the ring sum of
// n encodings gives the float sum to within n times the per-value bound
// above (n * 2^-(f+1) for nearest rounding, below n * 2^-f for stochastic),
// plus the final float32 rounding. For example, k = 32, n = 1000 (h = 10)
// and B = 1 allow f up to 20, a resolution of about 1e-6 per value.
//
// # Masks
//
// [MaskAdd16], [MaskSub16], [MaskAdd32], [MaskSub32], [MaskAdd64] and
// [MaskSub64] add (or subtract) the
// AES-128-CTR keystream of a seed, read as little-endian ring elements, to a
// ring vector. A 16-byte seed is the AES key with an all-zero IV; a 32-byte
// seed is key (first 16 bytes) followed by the IV, the initial 128-bit
// big-endian counter block of NIST SP 800-38A CTR mode. The keystream is
// generated into a 4 KiB chunk that stays in L1 cache and is added to the
// vector as it is produced, so mask expansion costs one pass over the vector
// and no memory of the vector's size. This is the pseudorandom generator of
// pairwise-masking secure aggregation (Bonawitz et al., "Practical Secure
// Aggregation for Privacy-Preserving Machine Learning", CCS 2017). A ring
// Z_{2^k} uses the narrowest lane that holds it (16 bits for k <= 16, 32 for
// k <= 32, 64 otherwise) and reduces modulo 2^k when packing, which is
// exact because 2^k divides the lane modulus; a mask so costs 2, 4 or 8
// keystream bytes per element, and at k = 16 exactly the wire size. A seed
// must be used for one vector only, and secrecy of the masked vector rests on
// the secrecy of the seed and on AES-128 being a pseudorandom permutation (one
// keystream should stay well below 2^64 blocks; a vector of 2^32 elements uses
// at most 2^31 blocks).
//
// # Bit packing
//
// [Pack64], [Pack32] and [Pack16] write k-bit ring elements (k = 1..64,
// 1..32 or 1..16)
// back to back in little-endian bit order: bit j of element i is bit
// i*k + j of the output, bit 0 being the least significant bit of byte 0.
// The output is [PackedLen](n, k) = ceil(n*k/8) bytes with zero padding
// bits. [Unpack64], [Unpack32] and [Unpack16] accept exactly the canonical
// encodings:
// wrong length, a set padding bit or a bad width yields [ErrMalformed], so
// anything accepted re-packs to the same bytes. Widths equal to the lane
// (16, 32, 64) are a copy on little-endian targets; other widths go through
// a 64-bit accumulator (packing) or one unaligned word load per element
// (unpacking, k <= 56). The tests compare every width 0..64 with a
// bit-by-bit reference, and the fuzz targets check the unpackers.
//
// A k-bit sum is decoded by sign-extending it from bit k-1
// ([SignExtend32], [SignExtend64]) and then decoding as usual.
//
// # Performance
//
// Mask expansion is bound by AES-128-CTR (crypto/aes, AES-NI): the keystream
// of each 4 KiB chunk is added while still in L1, so MaskAdd runs at about
// 0.85x the raw XORKeyStream rate. [MaskSet] applies many masks to one
// vector (a secure-aggregation input and its k+1 masks) tile by tile: each
// 4 KiB tile of the vector stays in L1 while every keystream is added to it,
// so the vector is read and written once for the whole set instead of once
// per mask, which matters once the vector no longer fits in cache. The ring
// additions (16-, 32- and 64-bit lanes, and so the add half of mask
// expansion) use AVX2 assembly on amd64 (ring_amd64.s, selected at run
// time when the CPU has AVX2); they run at memory speed, about 1.2x the copy
// bandwidth counted STREAM-style (an add moves 3 bytes per vector byte, a copy
// 2). Stochastic rounding is branch-free apart from rare out-of-range values.
// On little-endian targets (checked at compile time) the ring, mask and
// packing kernels reinterpret []uint32 and []uint64 as bytes with
// unsafe.Slice rather than converting element by element; both views have
// the little-endian layout the definitions above require.
//
// Builds:
//
//   - default: AVX2 assembly for the ring additions on amd64, portable Go
//     elsewhere and for the other kernels;
//   - -tags purego: portable Go only;
//   - GOEXPERIMENT=simd (Go 1.26, amd64): simd/archsimd versions of the ring,
//     axpy, scale, dot, norm, nearest-encode and decode kernels, 2x to 20x
//     faster than the portable loops for data in cache and at memory speed
//     for large vectors (make test-simd runs the tests in this build).
//
// All builds give identical results, bit for bit, except Dot and Norm2,
// whose float64 accumulation order differs. The benchmarks in package bench
// report each kernel's rate as a ratio to the limit measured in the same
// process: AES-CTR XORKeyStream for mask expansion, memory copy for the
// memory-bound kernels.
//
// # Usage
//
//	const frac = 16
//	enc := make([]uint32, len(update))
//	kernels.ClipToNorm(update, 1)
//	kernels.EncodeStochastic32(enc, update, frac, roundingSeed)
//	if err := kernels.MaskAdd32(enc, pairSeed); err != nil { ... }
//	wire := kernels.Pack32(nil, enc, 32)
//
//	// aggregator
//	sum := make([]uint32, d)
//	got := make([]uint32, d)
//	if err := kernels.Unpack32(got, wire, 32); err != nil { ... }
//	kernels.AddRing32(sum, got)
//	// ... after the masks have cancelled or been removed:
//	out := make([]float32, d)
//	kernels.Decode32(out, sum, frac)
package kernels
