package mhe

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"testing"

	"github.com/tuneinsight/lattigo/v6/core/rlwe"
	"github.com/tuneinsight/lattigo/v6/multiparty"
)

// TestParamSetsMeetSecurityBound checks every set of the table: log QP within
// the 128-bit bound of the HE standard, at least MinStatSecurity bits of
// smudging and a closed noise budget at MaxParties.
func TestParamSetsMeetSecurityBound(t *testing.T) {
	sets := ParamSets()
	if len(sets) == 0 {
		t.Fatal("empty parameter table")
	}
	for _, lit := range sets {
		t.Run(lit.Name, func(t *testing.T) {
			p := mustParams(t, lit)
			bound, ok := HEStandardMaxLogQP(lit.LogN)
			if !ok {
				t.Fatalf("no bound for log N = %d", lit.LogN)
			}
			if p.LogQP() > float64(bound) {
				t.Fatalf("log QP = %.2f above the bound %d", p.LogQP(), bound)
			}
			if lit.InsecureTestOnly || p.Insecure() {
				t.Fatal("secure table holds a test-only set")
			}
			b := p.Budget(lit.MaxParties, lit.MaxParties)
			if b.StatSecurity < MinStatSecurity || p.StatSecurity() < MinStatSecurity {
				t.Fatalf("statistical security %.1f bits", b.StatSecurity)
			}
			if b.MarginBits < 0 {
				t.Fatalf("noise budget short by %.1f bits", -b.MarginBits)
			}
			// A larger federation than the table allows must not close.
			if lit.MaxParties < 4096 {
				over := p.Budget(lit.MaxParties*16, lit.MaxParties*16)
				if over.StatSecurity >= b.StatSecurity {
					t.Fatal("statistical security does not shrink with more parties")
				}
			}
			t.Logf("%s: log QP %.1f <= %d, stat %.1f bits, margin %.1f bits, fresh std %.0f, sum std %.0f", lit.Name, p.LogQP(), bound, b.StatSecurity, b.MarginBits, b.FreshStd, b.SumStd)
		})
	}
}

// TestWireTargets checks the bytes per value a node sends (its ciphertext
// plus its decryption share) against the targets: <= 16 B at 32-bit
// quantisation and <= 8 B at 16-bit for the sets meant for large models.
func TestWireTargets(t *testing.T) {
	for _, lit := range ParamSets() {
		p := mustParams(t, lit)
		for _, bits := range []uint{32, 16} {
			perValue := float64(3*p.PolyBytes()) / float64(p.ValuesPerCiphertext(bits))
			t.Logf("%s b=%d: ciphertext %.2f B/value, with share %.2f B/value", lit.Name, bits, float64(p.CiphertextBytes())/float64(p.ValuesPerCiphertext(bits)), perValue)
			if lit.LogN >= 14 && perValue > float64(bits)/2 {
				t.Errorf("%s at %d bits: %.2f B/value sent, target %d", lit.Name, bits, perValue, bits/2)
			}
		}
	}
}

func TestNewParamsRejects(t *testing.T) {
	ins := InsecureTestParams()
	ins.InsecureTestOnly = false
	mut := func(f func(l *ParamsLiteral)) ParamsLiteral {
		l := ParamSets()[0]
		f(&l)
		return l
	}
	for name, lit := range map[string]ParamsLiteral{
		"insecure-without-flag": ins,
		"no-name":               mut(func(l *ParamsLiteral) { l.Name = "" }),
		"bad-logT":              mut(func(l *ParamsLiteral) { l.LogT = 100 }),
		"too-many-parties":      mut(func(l *ParamsLiteral) { l.MaxParties = 1 << 14 }),
		"weak-smudging":         mut(func(l *ParamsLiteral) { l.LogSmudge = 40 }),
		"budget-overflow":       mut(func(l *ParamsLiteral) { l.LogT = 192 }),
		"non-prime":             mut(func(l *ParamsLiteral) { l.Q = []uint64{0x1fffffff74001 + 2} }),
		"no-Q":                  mut(func(l *ParamsLiteral) { l.Q = nil }),
	} {
		if _, err := NewParams(lit); !errors.Is(err, ErrParams) {
			t.Errorf("%s: got %v, want ErrParams", name, err)
		}
	}
	if _, err := LookupParams("nope"); !errors.Is(err, ErrParams) {
		t.Errorf("unknown set: %v", err)
	}
}

// TestFreshNoiseMatchesModel encrypts zero under a real collective key and
// measures the decryption noise, to check the encryption and the analysis
// the budget rests on.
func TestFreshNoiseMatchesModel(t *testing.T) {
	for _, thr := range []int{4, 3} {
		t.Run(fmt.Sprintf("t=%d", thr), func(t *testing.T) { freshNoise(t, thr) })
	}
}

// collectiveSecret reconstructs s from the first t key shares: additive
// shares when t = n, Shamir shares combined with Lagrange coefficients
// otherwise.
func collectiveSecret(t *testing.T, f *federation) *rlwe.SecretKey {
	t.Helper()
	pp := f.cfg.Params.p
	thr := f.cfg.Threshold
	points := make([]multiparty.ShamirPublicPoint, thr)
	for i := range points {
		points[i] = multiparty.ShamirPublicPoint(i + 1)
	}
	s := rlwe.NewSecretKey(pp.rlwe)
	for i, km := range f.keys[:thr] {
		if km.additive != (thr == f.cfg.Parties) {
			t.Fatalf("threshold %d of %d: additive share %v", thr, f.cfg.Parties, km.additive)
		}
		add := rlwe.NewSecretKey(pp.rlwe)
		if km.additive {
			add.Value.Copy(km.share.Poly)
		} else if err := multiparty.NewCombiner(pp.rlwe, points[i], points, thr).GenAdditiveShare(points, points[i], km.share, add); err != nil {
			t.Fatal(err)
		}
		pp.rlwe.RingQP().Add(s.Value, add.Value, s.Value)
	}
	return s
}

func freshNoise(t *testing.T, thr int) {
	p := mustParams(t, ParamSets()[0])
	const n = 4
	f := runSetup(t, SetupConfig{Params: p, FederationID: "fed-noise", Parties: n, Threshold: thr, CRS: [32]byte{5}})
	pp := p.p
	s := collectiveSecret(t, f)
	// Encrypt zero with the nodes' encryptor and decrypt with s.
	enc := newPKEncryptor(pp, f.keys[0].pk, [32]byte{6})
	rq := pp.rlwe.RingQ().AtLevel(pp.level)
	c0, c1p := enc.encrypt(rq.NewPoly())
	c1 := &c1p
	rq.NTT(*c1, *c1)
	rq.MulCoeffsMontgomery(*c1, s.Value.Q, *c1)
	rq.INTT(*c1, *c1)
	rq.Add(c0, *c1, *c1)
	// Centre the residues modulo q_0 (the noise is far below q_0/2).
	q0 := pp.lit.Q[0]
	var sum2 float64
	for _, c := range c1.Coeffs[0] {
		v := float64(c)
		if c > q0/2 {
			v = -float64(q0 - c)
		}
		sum2 += v * v
	}
	got := math.Sqrt(sum2 / float64(pp.n))
	want := p.Budget(n, n).FreshStd
	t.Logf("fresh noise std: measured %.1f, model %.1f", got, want)
	if got > 1.3*want || got < want/1.3 {
		t.Fatalf("measured fresh noise %.1f, model %.1f", got, want)
	}
}

// TestSmudgeWidth checks the composed smudging sampler: every residue holds
// the same integer y0 + 2^k y1 + 2^(2k) y2, and its standard deviation and
// mean match the analysis.
func TestSmudgeWidth(t *testing.T) {
	p := mustParams(t, InsecureTestParams())
	pp := p.p
	sm := newSmudger(pp, [32]byte{1})
	ref := newSmudger(pp, [32]byte{1}) // replays the same draws
	e := pp.rlwe.RingQ().AtLevel(pp.level).NewPoly()
	var sum, sum2 float64
	const rounds = 8
	for range rounds {
		sm.sample(e)
		for i := range pp.n {
			x := new(big.Int)
			for l := range smudgeLevels {
				y := int64(math.Round(pp.sigma0 * ref.rng.NormFloat64()))
				x.Add(x, new(big.Int).Lsh(big.NewInt(y), uint(l)*pp.smudgeShift))
			}
			for k, q := range pp.lit.Q {
				want := new(big.Int).Mod(x, new(big.Int).SetUint64(q)).Uint64()
				if e.Coeffs[k][i] != want {
					t.Fatalf("coefficient %d modulo prime %d: residue does not match the integer sample", i, k)
				}
			}
			v, _ := new(big.Float).SetInt(x).Float64()
			sum += v
			sum2 += v * v
		}
	}
	cnt := float64(rounds * pp.n)
	mean := sum / cnt
	std := math.Sqrt(sum2/cnt - mean*mean)
	want := p.Budget(1, 1).SmudgeSigma
	if math.Abs(std/want-1) > 0.05 || math.Abs(mean) > 4*want/math.Sqrt(cnt) {
		t.Fatalf("smudging std %.4g mean %.4g, want std %.4g mean 0", std, mean, want)
	}
}

// TestChooseParams checks the choice for typical jobs against the sizes
// computed by built parameter sets.
func TestChooseParams(t *testing.T) {
	for _, c := range []struct {
		parties, dim int
		bits         uint
		want         string
	}{
		{10, 4096, 32, "N12-T32"},
		{10, 650, 32, "N12-T32"},
		{16, 8192, 16, "N12-T32"},
		{17, 4096, 32, "N13-T128"},
		{10, 1 << 20, 32, "N15-T512"},
		{100, 4096, 32, "N14-T256"},
		{200, 1000, 16, "N15-T512"},
	} {
		lit, err := ChooseParams(c.parties, c.dim, c.bits)
		if err != nil || lit.Name != c.want {
			t.Errorf("parties=%d dim=%d bits=%d: %s, %v; want %s", c.parties, c.dim, c.bits, lit.Name, err, c.want)
			continue
		}
		// The choice is the minimum of what the built sets report.
		p := mustParams(t, lit)
		got := p.Ciphertexts(c.dim, c.bits) * p.CiphertextBytes()
		for _, other := range ParamSets() {
			if other.MaxParties < c.parties {
				continue
			}
			o := mustParams(t, other)
			if b := o.Ciphertexts(c.dim, c.bits) * o.CiphertextBytes(); b < got {
				t.Errorf("parties=%d dim=%d: %s takes %d bytes, %s only %d", c.parties, c.dim, lit.Name, got, other.Name, b)
			}
		}
	}
	if _, err := ChooseParams(300, 10, 32); !errors.Is(err, ErrParams) {
		t.Fatalf("300 parties: %v", err)
	}
	if _, err := ChooseParams(3, 10, 8); !errors.Is(err, ErrParams) {
		t.Fatalf("8 bits: %v", err)
	}
}

// TestLiteralSizesMatchParams: the sizes computed from a literal alone equal
// those of the Params built from it, for every set.
func TestLiteralSizesMatchParams(t *testing.T) {
	for _, lit := range append(ParamSets(), InsecureTestParams()) {
		p, err := NewParams(lit)
		if err != nil {
			t.Fatalf("%s: %v", lit.Name, err)
		}
		if lit.PolyBytes() != p.PolyBytes() || lit.CiphertextBytes() != p.CiphertextBytes() || lit.KeyShareBytes() != p.KeyShareBytes() {
			t.Errorf("%s: literal sizes %d/%d/%d, params %d/%d/%d", lit.Name, lit.PolyBytes(), lit.CiphertextBytes(), lit.KeyShareBytes(),
				p.PolyBytes(), p.CiphertextBytes(), p.KeyShareBytes())
		}
		for _, bits := range []uint{16, 32} {
			for _, d := range []int{1, 4096, 1 << 20, 1<<20 + 1} {
				if a, b := lit.Ciphertexts(d, bits), p.Ciphertexts(d, bits); a != b {
					t.Errorf("%s: %d values at %d bits: literal %d ciphertexts, params %d", lit.Name, d, bits, a, b)
				}
			}
		}
	}
}
