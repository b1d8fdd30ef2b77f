package secagg

import (
	"errors"
	"math"
	"math/big"
	"testing"
)

// TestRingBitsRule checks RingBits against the rule computed with big
// integers: the narrowest k with n*M <= 2^(k-1) - 1, and that k-1 bits do
// not suffice.
func TestRingBitsRule(t *testing.T) {
	for _, n := range []int{1, 2, 3, 10, 100, 257, 1000, MaxParties} {
		for _, m := range []uint64{0, 1, 2, 3, 255, 256, 1 << 15, 1<<16 - 1, 1 << 20, 1<<40 + 7, 1 << 47} {
			k, err := RingBits(n, m)
			prod := new(big.Int).Mul(big.NewInt(int64(n)), new(big.Int).SetUint64(m))
			if prod.BitLen() > 63 {
				if !errors.Is(err, ErrParams) {
					t.Fatalf("RingBits(%d, %d) = %d, %v; want ErrParams", n, m, k, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("RingBits(%d, %d): %v", n, m, err)
			}
			limit := func(k uint) *big.Int { // 2^(k-1) - 1
				return new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), k-1), big.NewInt(1))
			}
			if prod.Cmp(limit(k)) > 0 {
				t.Fatalf("RingBits(%d, %d) = %d wraps", n, m, k)
			}
			if k > 1 && prod.Cmp(limit(k-1)) <= 0 {
				t.Fatalf("RingBits(%d, %d) = %d is not the narrowest", n, m, k)
			}
		}
	}
	// The case: 100 contributors, 16 bits: |v| * 100 <= 32767.
	if k, _ := RingBits(100, 327); k != 16 {
		t.Errorf("RingBits(100, 327) = %d, want 16", k)
	}
	if k, _ := RingBits(100, 328); k != 17 {
		t.Errorf("RingBits(100, 328) = %d, want 17", k)
	}
	for _, c := range []struct {
		n int
		m uint64
	}{{0, 1}, {-1, 1}, {MaxParties + 1, 1}, {2, math.MaxInt64}, {1, 1 << 63}} {
		if _, err := RingBits(c.n, c.m); !errors.Is(err, ErrParams) {
			t.Errorf("RingBits(%d, %d): err = %v", c.n, c.m, err)
		}
	}
}

func TestRingBitsNoise(t *testing.T) {
	// 100 values of 300 (30000) plus noise up to 2767: 32767 fits 16 bits.
	if k, err := RingBitsNoise(100, 300, 2767); err != nil || k != 16 {
		t.Errorf("RingBitsNoise(100, 300, 2767) = %d, %v; want 16", k, err)
	}
	if k, err := RingBitsNoise(100, 300, 2768); err != nil || k != 17 {
		t.Errorf("RingBitsNoise(100, 300, 2768) = %d, %v; want 17", k, err)
	}
	for _, c := range []struct{ m, tail uint64 }{{1 << 62, 1 << 62}, {0, math.MaxUint64}, {math.MaxInt64 / 2, math.MaxInt64}} {
		if _, err := RingBitsNoise(2, c.m, c.tail); !errors.Is(err, ErrParams) {
			t.Errorf("RingBitsNoise(2, %d, %d): err = %v", c.m, c.tail, err)
		}
	}
	if _, err := RingBitsNoise(0, 1, 1); !errors.Is(err, ErrParams) {
		t.Errorf("RingBitsNoise with no contributors: err = %v", err)
	}
}

func TestRingBitsFixed(t *testing.T) {
	// bound 1 at 8 fractional bits: |enc| <= 256; 10 parties: 2560 -> 13 bits.
	if k, err := RingBitsFixed(10, 1, 8); err != nil || k != 13 {
		t.Errorf("RingBitsFixed(10, 1, 8) = %d, %v; want 13", k, err)
	}
	// A bound that is not a multiple of 2^-frac rounds up: 0.3*2^4 = 4.8 -> 5.
	if k, err := RingBitsFixed(3, 0.3, 4); err != nil || k != 5 {
		t.Errorf("RingBitsFixed(3, 0.3, 4) = %d, %v; want 5 (15 <= 2^4 - 1)", k, err)
	}
	for _, c := range []struct {
		b float64
		f uint
	}{{-1, 4}, {math.NaN(), 4}, {math.Inf(1), 4}, {1, 63}, {0x1p62, 2}} {
		if _, err := RingBitsFixed(2, c.b, c.f); !errors.Is(err, ErrParams) {
			t.Errorf("RingBitsFixed(2, %g, %d): err = %v", c.b, c.f, err)
		}
	}
}

// TestRingBitsSumExact runs rounds at the width RingBits picks with every
// input at the extreme of its bound, and checks that the signed sum is
// exact (the rule is tight, so one more unit would wrap).
func TestRingBitsSumExact(t *testing.T) {
	for _, c := range []struct {
		n   int
		max uint64
	}{{5, 6553}, {10, 3276}, {6, 1}, {4, 1 << 30}} {
		k, err := RingBits(c.n, c.max)
		if err != nil {
			t.Fatal(err)
		}
		p, sk := testParams(t, c.n, 70, k, 3, 0, 0)
		var in32 [][]uint32
		var in64 [][]uint64
		if p.Wide() {
			in64 = make([][]uint64, c.n)
		} else {
			in32 = make([][]uint32, c.n)
		}
		for i := range c.n {
			if p.Wide() {
				in64[i] = make([]uint64, 70)
			} else {
				in32[i] = make([]uint32, 70)
			}
			for j := range 70 {
				v := int64(c.max)
				if j%2 == 1 {
					v = -v // the most negative sum in odd positions
				}
				u := uint64(v) & (1<<k - 1)
				if p.Wide() {
					in64[i][j] = u
				} else {
					in32[i][j] = uint32(u)
				}
			}
		}
		s := newSim(t, p, sk, in32, in64, make([]dropPoint, c.n), netConfig{Seed: 1})
		s.run()
		res, ok := s.srv.Result()
		if !ok {
			t.Fatalf("n=%d k=%d: no result: %v", c.n, k, s.srv.Err())
		}
		for j := range 70 {
			var got int64
			if p.Wide() {
				got = int64(res.Sum64[j]<<(64-k)) >> (64 - k)
			} else {
				got = int64(int32(res.Sum32[j]<<(32-k)) >> (32 - k))
			}
			want := int64(c.n) * int64(c.max)
			if j%2 == 1 {
				want = -want
			}
			if got != want {
				t.Fatalf("n=%d max=%d k=%d: element %d sums to %d, want %d", c.n, c.max, k, j, got, want)
			}
		}
	}
}

func TestCheckMaliciousThreshold(t *testing.T) {
	for _, c := range []struct {
		n, t, k int
		ok      bool
		coll    int
	}{
		{4, 2, 0, false, -1}, {4, 3, 0, true, 1}, {5, 3, 0, true, 0}, {7, 5, 6, true, 2},
		{10, 5, 0, false, -1}, {10, 6, 9, true, 1}, {100, 67, 0, true, 33},
		{100, 15, 28, true, 0}, {100, 14, 28, false, -1}, {100, 17, 28, true, 4},
		{3, 4, 0, false, -1}, {0, 1, 0, false, -1},
	} {
		err := CheckMaliciousThreshold(c.n, c.t, c.k)
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrParams)) {
			t.Errorf("CheckMaliciousThreshold(%d, %d, %d) = %v, want ok=%v", c.n, c.t, c.k, err, c.ok)
		}
		if got := MaliciousColluders(c.n, c.t, c.k); got != c.coll {
			t.Errorf("MaliciousColluders(%d, %d, %d) = %d, want %d", c.n, c.t, c.k, got, c.coll)
		}
	}
}
