package kernels

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func packLengths() []int {
	ls := []int{}
	for n := 0; n <= 41; n++ {
		ls = append(ls, n)
	}
	return append(ls, 63, 64, 65, 255, 1000, 1001)
}

func randomBits(r *rand.Rand, n int, k uint) []uint64 {
	v := make([]uint64, n)
	for i := range v {
		switch r.IntN(6) {
		case 0:
			v[i] = lowMask(k) // all ones
		case 1:
			v[i] = 0
		default:
			v[i] = r.Uint64() & lowMask(k)
		}
	}
	return v
}

func TestPackedLen(t *testing.T) {
	for _, c := range []struct {
		n    int
		k    uint
		want int
	}{{0, 7, 0}, {-3, 7, 0}, {1, 1, 1}, {8, 1, 1}, {9, 1, 2}, {3, 7, 3}, {8, 7, 7}, {10, 64, 80}, {5, 0, 0}, {math.MaxInt / 16, 64, math.MaxInt / 16 * 8}, {math.MaxInt, 1, math.MaxInt/8 + 1}, {math.MaxInt / 64, 64, math.MaxInt / 64 * 8}} {
		if got := PackedLen(c.n, c.k); got != c.want {
			t.Errorf("PackedLen(%d, %d) = %d, want %d", c.n, c.k, got, c.want)
		}
	}
}

func TestPackMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(30, 30))
	prefix := []byte("prefix")
	for k := uint(0); k <= 64; k++ {
		for _, n := range packLengths() {
			v := randomBits(r, n, k)
			want := refPack(v, k)
			got := Pack64(append([]byte(nil), prefix...), v, k)
			if !bytes.Equal(got[:len(prefix)], prefix) || !bytes.Equal(got[len(prefix):], want) {
				t.Fatalf("Pack64 k=%d n=%d differs from reference", k, n)
			}
			if len(want) != PackedLen(n, k) {
				t.Fatalf("PackedLen(%d,%d) = %d, reference %d", n, k, PackedLen(n, k), len(want))
			}
			back := make([]uint64, n)
			if err := Unpack64(back, want, k); err != nil {
				t.Fatalf("Unpack64 k=%d n=%d: %v", k, n, err)
			}
			if !equal(back, v) || !equal(back, refUnpack(want, n, k)) {
				t.Fatalf("Unpack64 k=%d n=%d differs from the input", k, n)
			}
			// The portable paths, which the byte-aligned fast paths bypass.
			body := make([]byte, len(want))
			if packBits(body, v, k); !bytes.Equal(body, want) {
				t.Fatalf("packBits k=%d n=%d differs from reference", k, n)
			}
			clear(back)
			if unpackBits(back, want, k); !equal(back, v) {
				t.Fatalf("unpackBits k=%d n=%d differs from the input", k, n)
			}
			if k <= 16 {
				v16 := make([]uint16, n)
				for i := range v {
					v16[i] = uint16(v[i])
				}
				if got := Pack16(nil, v16, k); !bytes.Equal(got, want) {
					t.Fatalf("Pack16 k=%d n=%d differs from reference", k, n)
				}
				back16 := make([]uint16, n)
				if err := Unpack16(back16, want, k); err != nil {
					t.Fatalf("Unpack16 k=%d n=%d: %v", k, n, err)
				}
				if !equal(back16, v16) {
					t.Fatalf("Unpack16 k=%d n=%d differs from the input", k, n)
				}
			}
			if k > 32 {
				continue
			}
			v32 := make([]uint32, n)
			for i := range v {
				v32[i] = uint32(v[i])
			}
			if got := Pack32(nil, v32, k); !bytes.Equal(got, want) {
				t.Fatalf("Pack32 k=%d n=%d differs from reference", k, n)
			}
			back32 := make([]uint32, n)
			if err := Unpack32(back32, want, k); err != nil {
				t.Fatalf("Unpack32 k=%d n=%d: %v", k, n, err)
			}
			if !equal(back32, v32) {
				t.Fatalf("Unpack32 k=%d n=%d differs from the input", k, n)
			}
		}
	}
}

func TestPackReducesModulo(t *testing.T) {
	// Bits at k and above are discarded, so the output stays canonical.
	got := Pack64(nil, []uint64{0xff, 0x1ff}, 4)
	if want := []byte{0xff}; !bytes.Equal(got, want) {
		t.Errorf("Pack64 of out-of-range elements = %x, want %x", got, want)
	}
	got = Pack32(nil, []uint32{0xffffffff}, 3)
	if want := []byte{0x07}; !bytes.Equal(got, want) {
		t.Errorf("Pack32 = %x, want %x", got, want)
	}
}

func TestUnpackRejectsNonCanonical(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 31))
	for k := uint(1); k <= 64; k++ {
		for _, n := range []int{1, 3, 7, 8, 13, 100} {
			v := randomBits(r, n, k)
			p := Pack64(nil, v, k)
			dst := make([]uint64, n)
			for _, bad := range [][]byte{p[:len(p)-1], append(append([]byte(nil), p...), 0), nil} {
				if err := Unpack64(dst, bad, k); !errors.Is(err, ErrMalformed) {
					t.Fatalf("k=%d n=%d: %d bytes accepted (err %v)", k, n, len(bad), err)
				}
			}
			if pad := uint(len(p))*8 - uint(n)*k; pad > 0 {
				q := append([]byte(nil), p...)
				q[len(q)-1] |= 0x80 // the top bit is padding
				if err := Unpack64(dst, q, k); !errors.Is(err, ErrMalformed) {
					t.Fatalf("k=%d n=%d: set padding bit accepted (err %v)", k, n, err)
				}
				if k <= 32 {
					if err := Unpack32(make([]uint32, n), q, k); !errors.Is(err, ErrMalformed) {
						t.Fatalf("Unpack32 k=%d n=%d: set padding bit accepted", k, n)
					}
				}
				if k <= 16 {
					if err := Unpack16(make([]uint16, n), q, k); !errors.Is(err, ErrMalformed) {
						t.Fatalf("Unpack16 k=%d n=%d: set padding bit accepted", k, n)
					}
				}
			}
		}
	}
	if err := Unpack64(make([]uint64, 1), make([]byte, 9), 65); !errors.Is(err, ErrMalformed) {
		t.Errorf("Unpack64 k=65: err = %v", err)
	}
	if err := Unpack32(make([]uint32, 1), make([]byte, 5), 33); !errors.Is(err, ErrMalformed) {
		t.Errorf("Unpack32 k=33: err = %v", err)
	}
	if err := Unpack16(make([]uint16, 1), make([]byte, 3), 17); !errors.Is(err, ErrMalformed) {
		t.Errorf("Unpack16 k=17: err = %v", err)
	}
	if err := Unpack64(make([]uint64, 3), nil, 0); err != nil {
		t.Errorf("Unpack64 k=0: err = %v", err)
	}
}

func TestPackInvalidWidthPanics(t *testing.T) {
	for name, f := range map[string]func(){
		"Pack64": func() { Pack64(nil, []uint64{1}, 65) },
		"Pack32": func() { Pack32(nil, []uint32{1}, 33) },
		"Pack16": func() { Pack16(nil, []uint16{1}, 17) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s with an invalid width did not panic", name)
				}
			}()
			f()
		}()
	}
}

// fuzzSeeds returns packed vectors for several widths, their truncations,
// extensions by one byte and single-bit flips, with the element count and
// width to unpack them with.
func fuzzSeeds(maxK uint) []fuzzSeed {
	r := rand.New(rand.NewPCG(32, 32))
	var seeds []fuzzSeed
	for _, k := range []uint{1, 3, 7, 8, 12, 16, 17, 31, 32, 33, 57, 63, 64} {
		if k > maxK {
			continue
		}
		for _, n := range []int{0, 1, 5, 8, 9, 40} {
			p := Pack64(nil, randomBits(r, n, k), k)
			seeds = append(seeds, fuzzSeed{p, n, k})
			if len(p) > 0 {
				seeds = append(seeds, fuzzSeed{p[:len(p)-1], n, k}, fuzzSeed{p[:len(p)/2], n, k})
				flip := append([]byte(nil), p...)
				flip[len(flip)-1] ^= 0x80
				seeds = append(seeds, fuzzSeed{flip, n, k})
				flip = append([]byte(nil), p...)
				flip[0] ^= 1
				seeds = append(seeds, fuzzSeed{flip, n, k})
			}
			seeds = append(seeds, fuzzSeed{append(append([]byte(nil), p...), 0), n, k}, fuzzSeed{p, n + 1, k}, fuzzSeed{p, n, k + 1})
		}
	}
	return seeds
}

type fuzzSeed struct {
	data []byte
	n    int
	k    uint
}

// maxFuzzElems bounds the element count the fuzzers allocate.
const maxFuzzElems = 1 << 16

func FuzzUnpack64(f *testing.F) {
	seeds := fuzzSeeds(64)
	if len(seeds) == 0 {
		f.Fatal("empty seed corpus")
	}
	for _, s := range seeds {
		f.Add(s.data, uint32(s.n), uint8(s.k))
	}
	f.Fuzz(func(t *testing.T, data []byte, n uint32, k uint8) {
		if n > maxFuzzElems {
			n %= maxFuzzElems
		}
		dst := make([]uint64, n)
		err := Unpack64(dst, data, uint(k))
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		if again := Pack64(nil, dst, uint(k)); !bytes.Equal(again, data) {
			t.Fatalf("accepted input does not re-pack to the same bytes (n=%d k=%d)", n, k)
		}
		if !equal(dst, refUnpack(data, int(n), uint(k))) {
			t.Fatalf("Unpack64 differs from the reference (n=%d k=%d)", n, k)
		}
	})
}

func FuzzUnpack32(f *testing.F) {
	seeds := fuzzSeeds(32)
	if len(seeds) == 0 {
		f.Fatal("empty seed corpus")
	}
	for _, s := range seeds {
		f.Add(s.data, uint32(s.n), uint8(s.k))
	}
	f.Fuzz(func(t *testing.T, data []byte, n uint32, k uint8) {
		if n > maxFuzzElems {
			n %= maxFuzzElems
		}
		dst := make([]uint32, n)
		err := Unpack32(dst, data, uint(k))
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		if again := Pack32(nil, dst, uint(k)); !bytes.Equal(again, data) {
			t.Fatalf("accepted input does not re-pack to the same bytes (n=%d k=%d)", n, k)
		}
	})
}

func FuzzUnpack16(f *testing.F) {
	seeds := fuzzSeeds(16)
	if len(seeds) == 0 {
		f.Fatal("empty seed corpus")
	}
	for _, s := range seeds {
		f.Add(s.data, uint32(s.n), uint8(s.k))
	}
	f.Fuzz(func(t *testing.T, data []byte, n uint32, k uint8) {
		if n > maxFuzzElems {
			n %= maxFuzzElems
		}
		dst := make([]uint16, n)
		err := Unpack16(dst, data, uint(k))
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		if again := Pack16(nil, dst, uint(k)); !bytes.Equal(again, data) {
			t.Fatalf("accepted input does not re-pack to the same bytes (n=%d k=%d)", n, k)
		}
		ref := refUnpack(data, int(n), uint(k))
		for i := range dst {
			if uint64(dst[i]) != ref[i] {
				t.Fatalf("Unpack16 differs from the reference (n=%d k=%d)", n, k)
			}
		}
	})
}

func ExamplePack64() {
	wire := Pack64(nil, []uint64{1, 2, 3, 4}, 3) // 12 bits -> 2 bytes
	got := make([]uint64, 4)
	err := Unpack64(got, wire, 3)
	fmt.Printf("% x %v %v\n", wire, got, err)
	// Output: d1 08 [1 2 3 4] <nil>
}
