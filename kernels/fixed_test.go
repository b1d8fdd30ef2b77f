package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

// testValues returns edge cases followed by n random float32 values of widely
// spread magnitude, fixed by seed.
func testValues(n int, seed uint64) []float32 {
	vals := []float32{
		0, float32(math.Copysign(0, -1)), 1, -1, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5,
		math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32,
		math.MaxFloat32, -math.MaxFloat32,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()),
		1 << 15, -(1 << 15), 32767.99, -32767.99, 32768, -32768, 65535.5, -65536,
		1 << 31, -(1 << 31), 1 << 47, 1 << 48, -(1 << 48), 1 << 63, -(1 << 63),
		0x1p-17, -0x1p-17, 0x1p-16, 3 * 0x1p-17, -3 * 0x1p-17, 1e-30, -1e-30,
	}
	r := rand.New(rand.NewPCG(seed, 7))
	for range n {
		e := r.IntN(80) - 50
		v := float32(math.Ldexp(r.Float64()*2-1, e))
		vals = append(vals, v)
	}
	return vals
}

var fracs = []uint{0, 1, 8, 16, 20, 24, 31, 32, 40, 60, 63, 64, 100, 126, 127, 200, 1000}

func TestEncodeNearestMatchesReference(t *testing.T) {
	vals := testValues(3000, 1)
	for _, frac := range fracs {
		t.Run(fmt.Sprintf("frac=%d", frac), func(t *testing.T) {
			e32 := make([]uint32, len(vals))
			e64 := make([]uint64, len(vals))
			EncodeNearest32(e32, vals, frac)
			EncodeNearest64(e64, vals, frac)
			for i, v := range vals {
				if want := uint32(refEncodeNearest(v, frac, 32)); e32[i] != want {
					t.Fatalf("EncodeNearest32(%g, %d) = %#x, want %#x", v, frac, e32[i], want)
				}
				if want := refEncodeNearest(v, frac, 64); e64[i] != want {
					t.Fatalf("EncodeNearest64(%g, %d) = %#x, want %#x", v, frac, e64[i], want)
				}
			}
		})
	}
}

func TestEncodeNearestErrorBound(t *testing.T) {
	vals := testValues(5000, 2)
	for _, frac := range []uint{0, 8, 16, 24} {
		e := make([]uint32, len(vals))
		EncodeNearest32(e, vals, frac)
		bound := math.Ldexp(1, -int(frac)-1)
		limit := math.Ldexp(1, 31-int(frac)) // saturation threshold
		for i, v := range vals {
			x := float64(v)
			if x != x || math.Abs(x) >= limit-1 {
				continue
			}
			got := float64(int32(e[i])) * math.Ldexp(1, -int(frac))
			if err := math.Abs(got - x); err > bound {
				t.Fatalf("frac=%d v=%g: error %g above 2^-(frac+1) = %g", frac, x, err, bound)
			}
		}
	}
}

func TestSaturation(t *testing.T) {
	inf := float32(math.Inf(1))
	src := []float32{inf, -inf, 1e30, -1e30, float32(math.NaN()), 1 << 20, -(1 << 20)}
	const frac = 16
	want32 := []uint32{math.MaxInt32, 1 << 31, math.MaxInt32, 1 << 31, 0, math.MaxInt32, 1 << 31}
	e32 := make([]uint32, len(src))
	EncodeNearest32(e32, src, frac)
	if fmt.Sprint(e32) != fmt.Sprint(want32) {
		t.Errorf("EncodeNearest32 = %#x, want %#x", e32, want32)
	}
	EncodeStochastic32(e32, src, frac, [32]byte{1})
	if fmt.Sprint(e32) != fmt.Sprint(want32) {
		t.Errorf("EncodeStochastic32 = %#x, want %#x", e32, want32)
	}
	want64 := []uint64{math.MaxInt64, 1 << 63, math.MaxInt64, 1 << 63, 0, 1 << 36, -(1 << 36) & math.MaxUint64}
	e64 := make([]uint64, len(src))
	EncodeNearest64(e64, src, frac)
	if fmt.Sprint(e64) != fmt.Sprint(want64) {
		t.Errorf("EncodeNearest64 = %#x, want %#x", e64, want64)
	}
	EncodeStochastic64(e64, src, frac, [32]byte{1})
	if fmt.Sprint(e64) != fmt.Sprint(want64) {
		t.Errorf("EncodeStochastic64 = %#x, want %#x", e64, want64)
	}
}

func TestDecodeMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	words := []uint64{0, 1, math.MaxUint64, 1 << 63, 1<<63 - 1, 1 << 31, 1<<31 - 1, 1<<32 - 1, 1<<24 + 1, 1<<53 + 1,
		// Float32 ties and near-ties above 2^53, where rounding through
		// float64 alone would round twice.
		1<<60 + 1<<36, 1<<60 + 1<<36 + 1, 1<<60 + 1<<36 - 1, 1<<60 + 3<<36, -(1<<60 + 1<<36 + 1) & math.MaxUint64}
	for range 2000 {
		words = append(words, r.Uint64()>>r.UintN(64))
	}
	for _, frac := range fracs {
		t.Run(fmt.Sprintf("frac=%d", frac), func(t *testing.T) {
			src32 := make([]uint32, len(words))
			for i, w := range words {
				src32[i] = uint32(w)
			}
			d := make([]float32, len(words))
			Decode32(d, src32, frac)
			for i, u := range src32 {
				if want := refDecode(uint64(u), frac, 32); d[i] != want {
					t.Fatalf("Decode32(%#x, %d) = %g, want %g", u, frac, d[i], want)
				}
			}
			Decode64(d, words, frac)
			for i, u := range words {
				if want := refDecode(u, frac, 64); d[i] != want {
					t.Fatalf("Decode64(%#x, %d) = %g, want %g", u, frac, d[i], want)
				}
			}
		})
	}
}

func TestRoundTripExactForRepresentable(t *testing.T) {
	// Multiples of 2^-frac within range survive encode/decode exactly.
	const frac = 12
	src := []float32{0, 1, -1, 0.25, -1000.5, 0x1p-12, -0x1p-12, 524287.75}
	e := make([]uint32, len(src))
	d := make([]float32, len(src))
	EncodeNearest32(e, src, frac)
	Decode32(d, e, frac)
	for i := range src {
		if d[i] != src[i] {
			t.Errorf("round trip of %g gave %g", src[i], d[i])
		}
	}
	var seed [32]byte
	EncodeStochastic32(e, src, frac, seed)
	Decode32(d, e, frac)
	for i := range src {
		if d[i] != src[i] {
			t.Errorf("stochastic round trip of %g gave %g", src[i], d[i])
		}
	}
}

func TestEncodeStochasticMatchesReference(t *testing.T) {
	vals := testValues(3000, 4)
	seed := [32]byte{9, 8, 7}
	words := refRandomWords(seed, len(vals))
	for _, frac := range fracs {
		t.Run(fmt.Sprintf("frac=%d", frac), func(t *testing.T) {
			e32 := make([]uint32, len(vals))
			e64 := make([]uint64, len(vals))
			EncodeStochastic32(e32, vals, frac, seed)
			EncodeStochastic64(e64, vals, frac, seed)
			for i, v := range vals {
				if want := uint32(refEncodeStochastic(v, frac, 32, words[i])); e32[i] != want {
					t.Fatalf("EncodeStochastic32(%g, %d) = %#x, want %#x", v, frac, e32[i], want)
				}
				if want := refEncodeStochastic(v, frac, 64, words[i]); e64[i] != want {
					t.Fatalf("EncodeStochastic64(%g, %d) = %#x, want %#x", v, frac, e64[i], want)
				}
			}
		})
	}
}

func TestEncodeStochasticDeterministicAndPrefixStable(t *testing.T) {
	vals := testValues(5000, 5)
	seed := [32]byte{1, 2, 3}
	a := make([]uint32, len(vals))
	b := make([]uint32, len(vals))
	EncodeStochastic32(a, vals, 10, seed)
	EncodeStochastic32(b, vals, 10, seed)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatal("same seed gave different encodings")
	}
	// Element i depends only on word i: a prefix encodes identically.
	p := make([]uint32, 1500)
	EncodeStochastic32(p, vals[:1500], 10, seed)
	if fmt.Sprint(p) != fmt.Sprint(a[:1500]) {
		t.Fatal("prefix encoding differs")
	}
	seed[31] ^= 1
	EncodeStochastic32(b, vals, 10, seed)
	if fmt.Sprint(a) == fmt.Sprint(b) {
		t.Fatal("different seeds gave the same encoding")
	}
}

func TestEncodeStochasticUnbiased(t *testing.T) {
	// For a value with fractional part p (in units of 2^-frac), the rate of
	// rounding up over many elements must be p within 6 standard deviations,
	// and every element must be one of the two neighbours.
	const frac = 8
	const n = 1 << 16
	for _, v := range []float32{0.3 / 256, 1 + 0.1/256, -5 - 0.75/256, 0x1p-40, 0.5/256 + 7} {
		src := make([]float32, n)
		for i := range src {
			src[i] = v
		}
		dst := make([]uint64, n)
		EncodeStochastic64(dst, src, frac, [32]byte{byte(v * 100), 42})
		x := float64(v) * 256
		lo := math.Floor(x)
		p := x - lo
		up := 0
		for _, u := range dst {
			switch float64(int64(u)) {
			case lo + 1:
				up++
			case lo:
			default:
				t.Fatalf("v=%g: got %d, want %g or %g", v, int64(u), lo, lo+1)
			}
		}
		sd := math.Sqrt(n * p * (1 - p))
		if d := math.Abs(float64(up) - n*p); d > 6*sd+1 {
			t.Errorf("v=%g: rounded up %d of %d times, want %.1f (sd %.1f)", v, up, n, n*p, sd)
		}
	}
}

func TestHeadroomBits(t *testing.T) {
	cases := map[int]uint{-1: 0, 0: 0, 1: 0, 2: 1, 3: 2, 4: 2, 5: 3, 8: 3, 9: 4, 1000: 10, 1024: 10, 1025: 11, 1 << 20: 20, 1<<20 + 1: 21, math.MaxInt: strconv.IntSize - 1}
	for n, want := range cases {
		if got := HeadroomBits(n); got != want {
			t.Errorf("HeadroomBits(%d) = %d, want %d", n, got, want)
		}
	}
}

// TestSumWithinBound checks the headroom rule of the package documentation:
// with |v| <= B and B*2^f < 2^(k-1-HeadroomBits(n)), the ring sum of n
// encodings decodes to the float sum within n times the per-value bound.
func TestSumWithinBound(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 6))
	for _, n := range []int{1, 2, 3, 10, 100, 1000} {
		for _, ring := range []uint{32, 64} {
			const d = 257
			const bound = 1.0 // every |v| <= 1 = 2^0
			h := HeadroomBits(n)
			f := ring - 1 - h - 1 // B*2^f = 2^f < 2^(k-1-h)
			t.Run(fmt.Sprintf("n=%d/ring=%d/frac=%d", n, ring, f), func(t *testing.T) {
				exact := make([]float64, d)
				sumN32 := make([]uint32, d)
				sumS32 := make([]uint32, d)
				sumN64 := make([]uint64, d)
				sumS64 := make([]uint64, d)
				v := make([]float32, d)
				e32 := make([]uint32, d)
				e64 := make([]uint64, d)
				for p := range n {
					for i := range v {
						v[i] = float32(r.Float64()*2 - 1)
						if i == 0 {
							v[i] = bound // the extreme value, to exercise the rule
						}
						exact[i] += float64(v[i])
					}
					seed := [32]byte{byte(p), byte(p >> 8), byte(ring)}
					if ring == 32 {
						EncodeNearest32(e32, v, f)
						AddRing32(sumN32, e32)
						EncodeStochastic32(e32, v, f, seed)
						AddRing32(sumS32, e32)
					} else {
						EncodeNearest64(e64, v, f)
						AddRing64(sumN64, e64)
						EncodeStochastic64(e64, v, f, seed)
						AddRing64(sumS64, e64)
					}
				}
				q := math.Ldexp(1, -int(f))
				for i := range d {
					var gotN, gotS float64
					if ring == 32 {
						gotN, gotS = float64(int32(sumN32[i]))*q, float64(int32(sumS32[i]))*q
					} else {
						gotN, gotS = float64(int64(sumN64[i]))*q, float64(int64(sumS64[i]))*q
					}
					// float64 holds these sums exactly only up to 53 bits; allow
					// its rounding for the 64-bit ring.
					slack := 4 * math.Abs(exact[i]) * 0x1p-53
					if e := math.Abs(gotN - exact[i]); e > float64(n)*q/2+slack {
						t.Fatalf("nearest: element %d error %g above n*2^-(f+1) = %g", i, e, float64(n)*q/2)
					}
					if e := math.Abs(gotS - exact[i]); e >= float64(n)*q+slack {
						t.Fatalf("stochastic: element %d error %g not below n*2^-f = %g", i, e, float64(n)*q)
					}
				}
			})
		}
	}
}

func TestEncodeEmptyAndLengthMismatch(t *testing.T) {
	EncodeNearest32(nil, nil, 8)
	EncodeStochastic64(nil, nil, 8, [32]byte{})
	Decode32(nil, nil, 8)
	Decode64(nil, nil, 8)
	defer func() {
		if recover() == nil {
			t.Error("EncodeNearest32 with mismatched lengths did not panic")
		}
	}()
	EncodeNearest32(make([]uint32, 2), make([]float32, 3), 8)
}

// TestHeadroomEdge puts every input at the largest bound the headroom rule
// allows, B * 2^f <= 2^(k-1-h) - 1, with n = 2^h inputs of the same sign: the
// ring sum must equal the integer sum of the encodings (no wrap).
func TestHeadroomEdge(t *testing.T) {
	const f = 8
	for _, h := range []uint{0, 1, 4, 10} {
		n := 1 << h
		if HeadroomBits(n) != h {
			t.Fatalf("HeadroomBits(%d) = %d", n, HeadroomBits(n))
		}
		for _, k := range []uint{32, 64} {
			m := math.Ldexp(1, int(k-1-h)) - 1 // as float64: exact for k = 32
			if k == 64 {
				m = math.Nextafter(math.Ldexp(1, int(k-1-h)), 0) // largest float64 below 2^(k-1-h)
			}
			b := float32(m / (1 << f))
			if float64(b) > m/(1<<f) {
				b = math.Nextafter32(b, 0)
			}
			for _, sign := range []float32{1, -1} {
				v := make([]float32, 5)
				for i := range v {
					v[i] = sign * b
				}
				for _, stochastic := range []bool{false, true} {
					var want [5]int64
					var got32 [5]uint32
					var got64 [5]uint64
					for p := range n {
						seed := [32]byte{byte(p), byte(p >> 8)}
						if k == 32 {
							e := make([]uint32, len(v))
							if stochastic {
								EncodeStochastic32(e, v, f, seed)
							} else {
								EncodeNearest32(e, v, f)
							}
							AddRing32(got32[:], e)
							for i := range e {
								want[i] += int64(int32(e[i]))
							}
						} else {
							e := make([]uint64, len(v))
							if stochastic {
								EncodeStochastic64(e, v, f, seed)
							} else {
								EncodeNearest64(e, v, f)
							}
							AddRing64(got64[:], e)
							for i := range e {
								want[i] += int64(e[i]) // no overflow: the rule bounds the sum
							}
						}
					}
					for i := range want {
						got := int64(int32(got32[i]))
						if k == 64 {
							got = int64(got64[i])
						}
						if got != want[i] || (want[i] < 0) != (sign < 0) {
							t.Fatalf("k=%d h=%d sign=%g stochastic=%v: ring sum %d, integer sum %d", k, h, sign, stochastic, got, want[i])
						}
					}
				}
			}
		}
	}
}

func TestSignExtend(t *testing.T) {
	for k := uint(1); k <= 64; k++ {
		for _, x := range []int64{0, 1, -1, 5, -5, 1<<(k-1) - 1, -(1 << (k - 1))} {
			if k < 64 && (x >= 1<<(k-1) || x < -(1<<(k-1))) {
				continue
			}
			u := uint64(x) & lowMask(k)
			v := []uint64{u} // stored reduced, in [0, 2^k)
			SignExtend64(v, k)
			if int64(v[0]) != x {
				t.Fatalf("SignExtend64 k=%d of %d gives %d", k, x, int64(v[0]))
			}
			if k <= 32 {
				w := []uint32{uint32(u)}
				SignExtend32(w, k)
				if int32(w[0]) != int32(x) {
					t.Fatalf("SignExtend32 k=%d of %d gives %d", k, x, int32(w[0]))
				}
			}
		}
	}
	for name, f := range map[string]func(){
		"32/0": func() { SignExtend32(nil, 0) }, "32/33": func() { SignExtend32(nil, 33) },
		"64/0": func() { SignExtend64(nil, 0) }, "64/65": func() { SignExtend64(nil, 65) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("SignExtend%s did not panic", name)
				}
			}()
			f()
		}()
	}
}
