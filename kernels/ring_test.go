package kernels

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
)

// ringLengths covers empty input, every length around the unroll factors of
// the portable (4) and AVX2 (16 or 32 elements) loops, and a few large ones.
func ringLengths() []int {
	var ls []int
	for n := 0; n <= 70; n++ {
		ls = append(ls, n)
	}
	return append(ls, 127, 128, 129, 1000, 1023, 1024, 1025, 4097, 65537)
}

func random32(r *rand.Rand, n int) []uint32 {
	v := make([]uint32, n)
	for i := range v {
		switch r.IntN(8) {
		case 0:
			v[i] = math.MaxUint32
		case 1:
			v[i] = 1 << 31
		default:
			v[i] = r.Uint32()
		}
	}
	return v
}

func random16(r *rand.Rand, n int) []uint16 {
	v := make([]uint16, n)
	for i := range v {
		switch r.IntN(8) {
		case 0:
			v[i] = math.MaxUint16
		case 1:
			v[i] = 1 << 15
		default:
			v[i] = uint16(r.Uint32())
		}
	}
	return v
}

func random64(r *rand.Rand, n int) []uint64 {
	v := make([]uint64, n)
	for i := range v {
		switch r.IntN(8) {
		case 0:
			v[i] = math.MaxUint64
		case 1:
			v[i] = 1 << 63
		default:
			v[i] = r.Uint64()
		}
	}
	return v
}

func TestRingMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(10, 10))
	impls32 := map[string][2]func(dst, src []uint32){
		"dispatch": {AddRing32, SubRing32},
		"portable": {addRing32Go, subRing32Go},
	}
	impls64 := map[string][2]func(dst, src []uint64){
		"dispatch": {AddRing64, SubRing64},
		"portable": {addRing64Go, subRing64Go},
	}
	impls16 := map[string][2]func(dst, src []uint16){
		"dispatch": {AddRing16, SubRing16},
		"portable": {addRing16Go, subRing16Go},
	}
	for _, n := range ringLengths() {
		a16, b16 := random16(r, n+1), random16(r, n+1)
		a16, b16 = a16[1:], b16[1:]
		for name, f := range impls16 {
			d := append([]uint16(nil), a16...)
			f[0](d, b16)
			for i := range d {
				if d[i] != a16[i]+b16[i] {
					t.Fatalf("%s add16 n=%d: element %d wrong", name, n, i)
				}
			}
			f[1](d, b16)
			if !equal(d, a16) {
				t.Fatalf("%s sub16 n=%d does not undo add", name, n)
			}
			f[1](d, b16)
			for i := range d {
				if d[i] != a16[i]-b16[i] {
					t.Fatalf("%s sub16 n=%d: element %d wrong", name, n, i)
				}
			}
		}
		a32, b32 := random32(r, n+1), random32(r, n+1)
		a64, b64 := random64(r, n+1), random64(r, n+1)
		// Offset by one element to exercise unaligned vectors.
		a32, b32, a64, b64 = a32[1:], b32[1:], a64[1:], b64[1:]
		for name, f := range impls32 {
			d := append([]uint32(nil), a32...)
			f[0](d, b32)
			for i := range d {
				if d[i] != a32[i]+b32[i] {
					t.Fatalf("%s add32 n=%d: element %d wrong", name, n, i)
				}
			}
			f[1](d, b32)
			if !equal(d, a32) {
				t.Fatalf("%s sub32 n=%d does not undo add", name, n)
			}
			f[1](d, b32)
			for i := range d {
				if d[i] != a32[i]-b32[i] {
					t.Fatalf("%s sub32 n=%d: element %d wrong", name, n, i)
				}
			}
		}
		for name, f := range impls64 {
			d := append([]uint64(nil), a64...)
			f[0](d, b64)
			for i := range d {
				if d[i] != a64[i]+b64[i] {
					t.Fatalf("%s add64 n=%d: element %d wrong", name, n, i)
				}
			}
			f[1](d, b64)
			f[1](d, b64)
			for i := range d {
				if d[i] != a64[i]-b64[i] {
					t.Fatalf("%s sub64 n=%d: element %d wrong", name, n, i)
				}
			}
		}
	}
}

func TestRingAliasedAndBounds(t *testing.T) {
	// dst == src doubles; neighbours outside the slices stay untouched.
	for _, n := range []int{0, 5, 33, 100} {
		buf := make([]uint32, n+2)
		for i := range buf {
			buf[i] = uint32(i + 1)
		}
		v := buf[1 : n+1]
		AddRing32(v, v)
		if buf[0] != 1 || buf[n+1] != uint32(n+2) {
			t.Fatalf("n=%d: AddRing32 wrote outside its slice", n)
		}
		for i := range v {
			if v[i] != 2*uint32(i+2) {
				t.Fatalf("n=%d: aliased add wrong at %d", n, i)
			}
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("AddRing64 with mismatched lengths did not panic")
		}
	}()
	AddRing64(make([]uint64, 3), make([]uint64, 4))
}

func equal[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestMaskMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 11))
	seeds := [][]byte{make([]byte, 16), make([]byte, 32)}
	for range 3 {
		s16, s32 := make([]byte, 16), make([]byte, 32)
		for i := range s32 {
			s32[i] = byte(r.Uint32())
		}
		copy(s16, s32)
		seeds = append(seeds, s16, s32)
	}
	// A counter that wraps its low 64 bits (and all 128) within the vector.
	wrap := make([]byte, 32)
	copy(wrap[24:], bytes.Repeat([]byte{0xff}, 8))
	wrapAll := append(make([]byte, 16), bytes.Repeat([]byte{0xff}, 16)...)
	seeds = append(seeds, wrap, wrapAll)
	lengths := append(ringLengths(), maskChunk/4-1, maskChunk/4, maskChunk/4+1, 3*maskChunk/4+5, maskChunk/2-1, maskChunk/2+1, 3*maskChunk/2+7)
	for si, seed := range seeds {
		for _, n := range lengths {
			ks := refMaskKeystream(seed, n*8)
			a32 := random32(r, n)
			d32 := append([]uint32(nil), a32...)
			if err := MaskAdd32(d32, seed); err != nil {
				t.Fatal(err)
			}
			for i := range d32 {
				if d32[i] != a32[i]+binary.LittleEndian.Uint32(ks[4*i:]) {
					t.Fatalf("seed %d (len %d) n=%d: MaskAdd32 element %d wrong", si, len(seed), n, i)
				}
			}
			if err := MaskSub32(d32, seed); err != nil {
				t.Fatal(err)
			}
			if !equal(d32, a32) {
				t.Fatalf("seed %d n=%d: MaskSub32 does not undo MaskAdd32", si, n)
			}
			a16 := random16(r, n)
			d16 := append([]uint16(nil), a16...)
			if err := MaskAdd16(d16, seed); err != nil {
				t.Fatal(err)
			}
			for i := range d16 {
				if d16[i] != a16[i]+binary.LittleEndian.Uint16(ks[2*i:]) {
					t.Fatalf("seed %d (len %d) n=%d: MaskAdd16 element %d wrong", si, len(seed), n, i)
				}
			}
			if err := MaskSub16(d16, seed); err != nil {
				t.Fatal(err)
			}
			if !equal(d16, a16) {
				t.Fatalf("seed %d n=%d: MaskSub16 does not undo MaskAdd16", si, n)
			}
			a64 := random64(r, n)
			d64 := append([]uint64(nil), a64...)
			if err := MaskSub64(d64, seed); err != nil {
				t.Fatal(err)
			}
			for i := range d64 {
				if d64[i] != a64[i]-binary.LittleEndian.Uint64(ks[8*i:]) {
					t.Fatalf("seed %d (len %d) n=%d: MaskSub64 element %d wrong", si, len(seed), n, i)
				}
			}
			if err := MaskAdd64(d64, seed); err != nil {
				t.Fatal(err)
			}
			if !equal(d64, a64) {
				t.Fatalf("seed %d n=%d: MaskAdd64 does not undo MaskSub64", si, n)
			}
		}
	}
}

// TestMaskKnownAnswer pins the keystream layout to NIST SP 800-38A, F.5.1
// (CTR-AES128): key 2b7e1516..., initial counter f0f1...feff. The expected
// words are the spec's output blocks read as little-endian integers.
func TestMaskKnownAnswer(t *testing.T) {
	seed, _ := hex.DecodeString("2b7e151628aed2a6abf7158809cf4f3c" + "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff")
	out, _ := hex.DecodeString("ec8cdf7398607cb0f2d21675ea9ea1e4" + "362b7c3c6773516318a077d7fc5073ae")
	v := make([]uint32, 8)
	if err := MaskAdd32(v, seed); err != nil {
		t.Fatal(err)
	}
	for i := range v {
		if want := binary.LittleEndian.Uint32(out[4*i:]); v[i] != want {
			t.Fatalf("word %d = %#08x, want %#08x", i, v[i], want)
		}
	}
	w := make([]uint64, 4)
	if err := MaskAdd64(w, seed); err != nil {
		t.Fatal(err)
	}
	if w[0] != 0xb07c609873df8cec || w[3] != 0xae7350fcd777a018 {
		t.Fatalf("64-bit words = %#x", w)
	}
}

func TestMaskSeedLength(t *testing.T) {
	for _, n := range []int{0, 1, 15, 17, 24, 31, 33, 64} {
		v := []uint32{1, 2, 3}
		if err := MaskAdd32(v, make([]byte, n)); !errors.Is(err, ErrSeedLength) {
			t.Errorf("MaskAdd32 with %d-byte seed: err = %v, want ErrSeedLength", n, err)
		}
		if v[0] != 1 || v[1] != 2 || v[2] != 3 {
			t.Errorf("MaskAdd32 with %d-byte seed changed dst", n)
		}
		for _, f := range []func([]uint64, []byte) error{MaskAdd64, MaskSub64} {
			if err := f([]uint64{1}, make([]byte, n)); !errors.Is(err, ErrSeedLength) {
				t.Errorf("64-bit mask with %d-byte seed: err = %v", n, err)
			}
		}
		for _, f := range []func([]uint16, []byte) error{MaskAdd16, MaskSub16} {
			if err := f([]uint16{1}, make([]byte, n)); !errors.Is(err, ErrSeedLength) {
				t.Errorf("16-bit mask with %d-byte seed: err = %v", n, err)
			}
		}
		if err := MaskSub32(v, make([]byte, n)); !errors.Is(err, ErrSeedLength) {
			t.Errorf("MaskSub32 with %d-byte seed: err = %v", n, err)
		}
	}
}

// TestMaskMemoryIndependentOfLength checks the fused design: expanding a
// mask over a large vector allocates a fixed few KiB, not a buffer of the
// vector's size.
func TestMaskMemoryIndependentOfLength(t *testing.T) {
	v := make([]uint64, 1<<20) // 8 MiB
	seed := make([]byte, 32)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if err := MaskAdd64(v, seed); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 64<<10 {
		t.Fatalf("MaskAdd64 over 8 MiB allocated %d bytes", got)
	}
}

func ExampleMaskAdd32() {
	seed := make([]byte, 32) // in secagg: a key agreed with a neighbour
	update := []uint32{1, 2, 3}
	_ = MaskAdd32(update, seed) // what one party sends
	_ = MaskSub32(update, seed) // the neighbour's opposite mask
	fmt.Println(update)
	// Output: [1 2 3]
}

// TestMaskSetMatchesSequential checks the tiled multi-mask pass against the
// same masks applied one by one, for every lane, lengths around the tile,
// and a bad seed that must leave the vector unchanged.
func TestMaskSetMatchesSequential(t *testing.T) {
	r := rand.New(rand.NewPCG(12, 12))
	seed := func(n int) []byte {
		s := make([]byte, n)
		for i := range s {
			s[i] = byte(r.Uint32())
		}
		return s
	}
	for _, n := range []int{0, 1, 63, 64, 65, maskTile/8 - 1, maskTile / 2, maskTile/2 + 1, 3*maskTile + 17} {
		for _, counts := range [][2]int{{0, 0}, {1, 0}, {0, 1}, {3, 2}, {7, 9}} {
			var set MaskSet
			for range counts[0] {
				set.Add = append(set.Add, seed(32))
			}
			for range counts[1] {
				set.Sub = append(set.Sub, seed(16))
			}
			a16, a32, a64 := random16(r, n), random32(r, n), random64(r, n)
			w16, w32, w64 := slices.Clone(a16), slices.Clone(a32), slices.Clone(a64)
			for _, s := range set.Add {
				_, _, _ = MaskAdd16(w16, s), MaskAdd32(w32, s), MaskAdd64(w64, s)
			}
			for _, s := range set.Sub {
				_, _, _ = MaskSub16(w16, s), MaskSub32(w32, s), MaskSub64(w64, s)
			}
			if err := set.Apply16(a16); err != nil || !equal(a16, w16) {
				t.Fatalf("Apply16 n=%d %v: differs from sequential masks (%v)", n, counts, err)
			}
			if err := set.Apply32(a32); err != nil || !equal(a32, w32) {
				t.Fatalf("Apply32 n=%d %v: differs from sequential masks (%v)", n, counts, err)
			}
			if err := set.Apply64(a64); err != nil || !equal(a64, w64) {
				t.Fatalf("Apply64 n=%d %v: differs from sequential masks (%v)", n, counts, err)
			}
		}
	}
	bad := MaskSet{Add: [][]byte{make([]byte, 32)}, Sub: [][]byte{make([]byte, 5)}}
	v := []uint32{1, 2, 3}
	if err := bad.Apply32(v); !errors.Is(err, ErrSeedLength) || v[0] != 1 || v[1] != 2 || v[2] != 3 {
		t.Fatalf("bad seed: err %v, vector %v", err, v)
	}
	if err := bad.Apply16(make([]uint16, 3)); !errors.Is(err, ErrSeedLength) {
		t.Fatalf("Apply16 bad seed: %v", err)
	}
	if err := bad.Apply64(make([]uint64, 3)); !errors.Is(err, ErrSeedLength) {
		t.Fatalf("Apply64 bad seed: %v", err)
	}
}
