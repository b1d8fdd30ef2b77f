package mhe

import (
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestEmbedMatchesBig compares the plaintext embedding with a naive
// math/big computation of M * T^-1 mod q for every coefficient.
func TestEmbedMatchesBig(t *testing.T) {
	// Every set: one word per coefficient (N12-T32) up to eight (N15-T512).
	for _, lit := range append([]ParamsLiteral{InsecureTestParams()}, ParamSets()...) {
		p := mustParams(t, lit)
		pp := p.p
		for _, b := range []uint{32, 16} {
			r := rand.New(rand.NewPCG(uint64(b), 1))
			clamp := int32((int64(1)<<(b-1) - 1) / 7)
			v := p.ValuesPerCiphertext(b)
			vals := make([]int32, v-13) // a short chunk is padded
			for i := range vals {
				vals[i] = int32(r.Int64N(2*int64(clamp)+1)) - clamp
			}
			poly := pp.rlwe.RingQ().AtLevel(pp.level).NewPoly()
			var scratch []uint64
			pp.embed(poly, toU32(vals), clamp, b, &scratch)
			T := new(big.Int).Lsh(big.NewInt(1), uint(lit.LogT))
			f := lit.LogT / int(b)
			for i := 0; i < pp.n; i += 97 {
				m := new(big.Int)
				for fi := f - 1; fi >= 0; fi-- {
					x := int64(clamp)
					if idx := fi*pp.n + i; idx < len(vals) {
						x += int64(vals[idx])
					}
					m.Lsh(m, b)
					m.Add(m, big.NewInt(x))
				}
				for k, q := range lit.Q {
					bq := new(big.Int).SetUint64(q)
					want := new(big.Int).ModInverse(new(big.Int).Mod(T, bq), bq)
					want.Mul(want, m).Mod(want, bq)
					if poly.Coeffs[k][i] != want.Uint64() {
						t.Fatalf("%s b=%d: coefficient %d modulo prime %d differs from math/big", lit.Name, b, i, k)
					}
				}
			}
		}
	}
}

// TestExtractRoundTrip embeds values, adds a noise T*E of either sign (as
// decryption leaves it) and checks that extract returns the field values.
func TestExtractRoundTrip(t *testing.T) {
	for _, lit := range []ParamsLiteral{InsecureTestParams(), ParamSets()[1]} {
		p := mustParams(t, lit)
		pp := p.p
		const b = 32
		clamp := int32(1<<30 - 1)
		r := rand.New(rand.NewPCG(3, 4))
		v := p.ValuesPerCiphertext(b)
		vals := make([]int32, v)
		for i := range vals {
			vals[i] = int32(r.Int64N(2*int64(clamp)+1)) - clamp
		}
		rq := pp.rlwe.RingQ().AtLevel(pp.level)
		poly := rq.NewPoly()
		var scratch []uint64
		pp.embed(poly, toU32(vals), clamp, b, &scratch)
		// Add noise E with |E| up to 2^(log Q - log T - 3) (inside the
		// budget), as small integers in every residue.
		sm := newSmudger(pp, [32]byte{9})
		e := rq.NewPoly()
		sm.sample(e)
		rq.Add(poly, e, poly)
		out := make([]uint64, v)
		pp.extract(out, poly, b)
		for i, x := range vals {
			if out[i] != uint64(int64(x)+int64(clamp)) {
				t.Fatalf("%s: value %d decoded as %d, want %d", lit.Name, i, out[i], int64(x)+int64(clamp))
			}
		}
	}
}

func TestQuantization(t *testing.T) {
	rc := RoundConfig{Participants: ids(10), Bound: 4}
	frac, clamp, err := rc.Quantization()
	if err != nil {
		t.Fatal(err)
	}
	if clamp != (1<<31-1)/10 || float64(4)*float64(uint64(1)<<frac) > float64(clamp) || float64(4)*float64(uint64(1)<<(frac+1)) <= float64(clamp) {
		t.Fatalf("frac %d clamp %d", frac, clamp)
	}
	q := make([]int32, 4)
	rc.Rounding = RoundNearest
	if err := rc.Quantize(q, []float32{0.5, -0.25, 100, -100}, [32]byte{}); err != nil {
		t.Fatal(err)
	}
	want := []int32{int32(1) << (frac - 1), -(int32(1) << (frac - 2)), 4 << frac, -4 << frac} // beyond the bound: clamped to it
	if !slices.Equal(q, want) {
		t.Fatalf("quantised %v, want %v", q, want)
	}
	for _, bad := range []RoundConfig{
		{Participants: ids(3), Bound: 0},
		{Participants: ids(3), Bound: 1e12},
		{Participants: nil, Bound: 1},
		{Participants: ids(3), Bound: 1, QuantBits: 8},
	} {
		if _, _, err := bad.Quantization(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}
