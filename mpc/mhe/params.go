package mhe

import (
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"slices"

	"github.com/tuneinsight/lattigo/v6/core/rlwe"
)

// ParamsLiteral is the exported, serialisable description of a parameter
// set; [NewParams] validates it into an immutable [Params]. The secure sets
// are listed by [ParamSets]; the noise analysis behind every field is in the
// package documentation.
type ParamsLiteral struct {
	// Name identifies the set in configurations and key files.
	Name string `json:"name"`
	// LogN is log2 of the ring degree N.
	LogN int `json:"log_n"`
	// Q is the ciphertext modulus chain (NTT-friendly primes). Every prime is
	// needed by the decryption noise budget, so ciphertexts travel at the
	// full chain, which is the lowest level that decrypts correctly.
	Q []uint64 `json:"q"`
	// P is the auxiliary modulus (at least one prime) used by public-key
	// encryption and key generation: the encryption noise is divided by P.
	// It counts towards the security bound on log(QP).
	P []uint64 `json:"p"`
	// LogT is log2 of the plaintext modulus T = 2^LogT: 32 or a multiple of
	// 64. One coefficient carries LogT/b quantised values of b bits.
	LogT int `json:"log_t"`
	// MaxParties is the largest federation the noise budget is closed for.
	MaxParties int `json:"max_parties"`
	// LogSmudge is log2 of the standard deviation of the smudging noise each
	// decryptor adds to its decryption share.
	LogSmudge float64 `json:"log_smudge"`
	// InsecureTestOnly lifts the lattice security bound on log(QP) so that
	// tests can use small rings. Never set it outside tests.
	InsecureTestOnly bool `json:"insecure_test_only,omitempty"`
}

// Security and noise constants of the analysis (see the package overview).
const (
	// MinStatSecurity is the statistical security, in bits, that the smudging
	// noise must give per decrypted ciphertext at MaxParties.
	MinStatSecurity = 40
	// errSigma is the standard deviation of the RLWE error (lattigo's default).
	errSigma = rlwe.DefaultNoise
	// secretVar is the variance of a uniform ternary secret coefficient.
	secretVar = 2.0 / 3.0
	// tailSigmas bounds the total decryption noise for correctness: a
	// Gaussian exceeds 9 standard deviations with probability below 2^-62.
	tailSigmas = 9.0
	// normSlack bounds ||e||_2 <= normSlack * sqrt(N) * sigma for the N
	// coefficients of the summed ciphertext noise (chi-square concentration;
	// the bound fails with probability below 2^-100 for N >= 2^10).
	normSlack = 1.1
	// smudgeLevels is the number of base Gaussian samples composed into one
	// smudging sample (see smudge.go).
	smudgeLevels = 3
	// maxLogSigma0 caps the width of the base Gaussian: the ziggurat's
	// 31-bit resolution times 2^26 keeps its grid far below one.
	maxLogSigma0 = 26
)

// heStandard is the largest log2(QP) that keeps 128-bit classical security
// for a uniform ternary secret and error sigma 3.2 (HomomorphicEncryption.org
// security standard, Albrecht et al. 2018, table 1).
var heStandard = map[int]int{10: 27, 11: 54, 12: 109, 13: 218, 14: 438, 15: 881}

// HEStandardMaxLogQP returns the largest log2(QP) allowed at 128-bit security
// for ring degree 2^logN, and false when the standard lists no bound.
func HEStandardMaxLogQP(logN int) (int, bool) {
	b, ok := heStandard[logN]
	return b, ok
}

// ParamSets returns the secure parameter sets, smallest ring first. The
// returned literals are fresh copies; [ChooseParams] picks one for a job.
//
//	name       N     log Q        log P  log QP  bound  T      max parties  log2 sigma_smudge
//	N12-T32    2^12  93.7 (2x47)  15.3   109.0   109    2^32   16           53.5
//	N13-T128   2^13  196 (4x49)   22     218     218    2^128  64           56.5
//	N14-T256   2^14  330 (6x55)   50     380     438    2^256  128          58.5
//	N15-T512   2^15  590 (10x59)  60     650     881    2^512  256          60.5
func ParamSets() []ParamsLiteral {
	return []ParamsLiteral{
		{
			Name: "N12-T32", LogN: 12,
			Q:    []uint64{0x722ab6b5c001, 0x722ab6b4e001},
			P:    []uint64{0xa001},
			LogT: 32, MaxParties: 16, LogSmudge: 53.5,
		},
		{
			Name: "N13-T128", LogN: 13,
			Q:    []uint64{0x1fffffff74001, 0x1fffffff68001, 0x1fffffff50001, 0x1ffffffee8001},
			P:    []uint64{0x3e4001},
			LogT: 128, MaxParties: 64, LogSmudge: 56.5,
		},
		{
			Name: "N14-T256", LogN: 14,
			Q:    []uint64{0x7fffffffe90001, 0x7fffffffd58001, 0x7fffffffbf0001, 0x7fffffffbd0001, 0x7fffffffba0001, 0x7fffffffb58001},
			P:    []uint64{0x3ffffffdf0001},
			LogT: 256, MaxParties: 128, LogSmudge: 58.5,
		},
		{
			Name: "N15-T512", LogN: 15,
			Q: []uint64{0x7ffffffffe70001, 0x7ffffffffe10001, 0x7ffffffffcc0001, 0x7ffffffffba0001, 0x7ffffffffb00001,
				0x7ffffffff630001, 0x7ffffffff510001, 0x7ffffffff3f0001, 0x7ffffffff350001, 0x7ffffffff320001},
			P:    []uint64{0xffffffffffc0001},
			LogT: 512, MaxParties: 256, LogSmudge: 60.5,
		},
	}
}

// InsecureTestParams returns a small-ring set (N = 2^10) for fast tests. Its
// log(QP) is far above the 128-bit bound for that ring, so it offers no
// security: the literal carries InsecureTestOnly and must never be used
// outside tests.
func InsecureTestParams() ParamsLiteral {
	return ParamsLiteral{
		Name: "INSECURE-test-N10-T128", LogN: 10,
		Q:                []uint64{0x3ffffffffc001, 0x3ffffffffa801, 0x3fffffffe6801, 0x3fffffffe5001},
		P:                []uint64{0xffffff7801},
		LogT:             128,
		MaxParties:       64,
		LogSmudge:        53.5,
		InsecureTestOnly: true,
	}
}

// LookupParams returns the literal of the secure set called name, or of the
// insecure test set when name is its name.
func LookupParams(name string) (ParamsLiteral, error) {
	for _, l := range ParamSets() {
		if l.Name == name {
			return l, nil
		}
	}
	if t := InsecureTestParams(); t.Name == name {
		return t, nil
	}
	return ParamsLiteral{}, fmt.Errorf("%w: unknown parameter set %q", ErrParams, name)
}

// Params is a validated, immutable parameter set. The zero value is not
// usable; build one with [NewParams]. Params values are cheap to copy and
// safe for concurrent use.
type Params struct {
	p *params
}

// shoup is a constant w < q with its Shoup companion floor(w * 2^64 / q), for
// fast multiplication modulo q by a fixed constant.
type shoup struct{ w, wp uint64 }

func newShoup(w, q uint64) shoup {
	quo, _ := bits.Div64(w, 0, q)
	return shoup{w, quo}
}

// mul returns x*w mod q in [0, 2q) for any x < 2^64 (Shoup's algorithm).
func (s shoup) mul(x, q uint64) uint64 {
	hi, _ := bits.Mul64(x, s.wp)
	return x*s.w - hi*q
}

// mulReduced returns x*w mod q in [0, q).
func (s shoup) mulReduced(x, q uint64) uint64 {
	r := s.mul(x, q)
	return min(r, r-q) // branch-free: r-q wraps around when r < q
}

type params struct {
	lit    ParamsLiteral
	rlwe   rlwe.Parameters
	n      int
	level  int    // ciphertext level on the wire (len(Q)-1)
	words  int    // 64-bit words per plaintext coefficient (ceil(LogT/64))
	qBits  []uint // bit width of each Q prime on the wire
	pBits  []uint // bit width of each P prime on the wire
	qBytes int    // packed bytes of one polynomial mod Q
	pBytes int    // packed bytes of one polynomial mod P

	// enc[i][j] = 2^(64j) * T^-1 mod q_i: embeds word j of a packed
	// coefficient into the BGV plaintext m * T^-1.
	enc [][]shoup
	// dec[i] = T * (Q/q_i)^-1 mod q_i: first CRT step of decoding.
	dec []shoup
	// qHatModT[i] = (Q/q_i) mod 2^LogT, qNegModT = -Q mod 2^LogT, as words.
	qHatModT [][]uint64
	qNegModT []uint64
	invQ     []float64

	// Smudging sampler: a sample is y0 + 2^k y1 + 2^(2k) y2 with y_l drawn
	// from a rounded Gaussian of width sigma0.
	smudgeShift uint
	sigma0      float64
	smudgePow   [][]shoup // smudgePow[i][l] = 2^(k l) mod q_i

	budget Budget
}

// NewParams validates a literal: the ring and moduli (through lattigo), the
// 128-bit security bound on log(QP) (unless InsecureTestOnly), the plaintext
// modulus, and the noise budget at MaxParties (decryption correctness and
// at least [MinStatSecurity] bits of smudging). Errors wrap [ErrParams].
func NewParams(lit ParamsLiteral) (Params, error) {
	lit.Q = slices.Clone(lit.Q)
	lit.P = slices.Clone(lit.P)
	switch {
	case lit.Name == "" || len(lit.Name) > 64:
		return Params{}, fmt.Errorf("%w: name must have 1..64 bytes", ErrParams)
	case lit.LogN < 10 || lit.LogN > 16:
		return Params{}, fmt.Errorf("%w: %s: log N = %d outside 10..16", ErrParams, lit.Name, lit.LogN)
	case lit.LogT != 32 && (lit.LogT < 64 || lit.LogT%64 != 0 || lit.LogT > 1024):
		return Params{}, fmt.Errorf("%w: %s: log T = %d is neither 32 nor a multiple of 64 in 64..1024", ErrParams, lit.Name, lit.LogT)
	case len(lit.Q) == 0 || len(lit.Q) > 32 || len(lit.P) == 0 || len(lit.P) > 4:
		return Params{}, fmt.Errorf("%w: %s: need 1..32 Q primes and 1..4 P primes", ErrParams, lit.Name)
	case lit.MaxParties < 1 || lit.MaxParties > maxParties:
		return Params{}, fmt.Errorf("%w: %s: max parties %d outside 1..%d", ErrParams, lit.Name, lit.MaxParties, maxParties)
	case !(lit.LogSmudge > 0 && lit.LogSmudge < 62):
		return Params{}, fmt.Errorf("%w: %s: log2 smudging width %v outside (0, 62)", ErrParams, lit.Name, lit.LogSmudge)
	}
	rp, err := rlwe.NewParametersFromLiteral(rlwe.ParametersLiteral{
		LogN:    lit.LogN,
		Q:       lit.Q,
		P:       lit.P,
		Xs:      rlwe.DefaultXs,
		Xe:      rlwe.DefaultXe,
		NTTFlag: true,
	})
	if err != nil {
		return Params{}, fmt.Errorf("%w: %s: %w", ErrParams, lit.Name, err)
	}
	if !lit.InsecureTestOnly {
		bound, ok := HEStandardMaxLogQP(lit.LogN)
		if !ok {
			return Params{}, fmt.Errorf("%w: %s: no 128-bit bound known for N = 2^%d", ErrParams, lit.Name, lit.LogN)
		}
		if rp.LogQP() > float64(bound) {
			return Params{}, fmt.Errorf("%w: %s: log QP = %.2f exceeds the 128-bit bound %d for N = 2^%d", ErrParams, lit.Name, rp.LogQP(), bound, lit.LogN)
		}
	}
	p := &params{lit: lit, rlwe: rp, n: rp.N(), level: len(lit.Q) - 1, words: (lit.LogT + 63) / 64}
	for _, q := range lit.Q {
		w := uint(bits.Len64(q - 1))
		p.qBits = append(p.qBits, w)
		p.qBytes += packedLen(p.n, w)
	}
	for _, q := range lit.P {
		w := uint(bits.Len64(q - 1))
		p.pBits = append(p.pBits, w)
		p.pBytes += packedLen(p.n, w)
	}
	if err := p.initCodec(); err != nil {
		return Params{}, fmt.Errorf("%w: %s: %w", ErrParams, lit.Name, err)
	}
	if err := p.initSmudge(); err != nil {
		return Params{}, fmt.Errorf("%w: %s: %w", ErrParams, lit.Name, err)
	}
	p.budget = p.computeBudget(lit.MaxParties, lit.MaxParties)
	if p.budget.MarginBits < 0 {
		return Params{}, fmt.Errorf("%w: %s: noise budget short by %.1f bits at %d parties", ErrParams, lit.Name, -p.budget.MarginBits, lit.MaxParties)
	}
	if p.budget.StatSecurity < MinStatSecurity {
		return Params{}, fmt.Errorf("%w: %s: smudging gives %.1f bits of statistical security, want %d", ErrParams, lit.Name, p.budget.StatSecurity, MinStatSecurity)
	}
	return Params{p}, nil
}

// maxParties bounds federations: party ids are uint16 and 0 is the aggregator.
const maxParties = 1<<16 - 2

// initCodec precomputes the plaintext embedding and CRT decoding constants.
func (p *params) initCodec() error {
	T := new(big.Int).Lsh(big.NewInt(1), uint(p.lit.LogT))
	Q := p.rlwe.RingQ().AtLevel(p.level).Modulus()
	mask := new(big.Int).Sub(T, big.NewInt(1))
	toWords := func(x *big.Int) []uint64 {
		x = new(big.Int).And(x, mask)
		w := make([]uint64, p.words)
		for j := range w {
			w[j] = new(big.Int).Rsh(x, uint(64*j)).Uint64()
		}
		return w
	}
	p.qNegModT = toWords(new(big.Int).Sub(T, new(big.Int).Mod(Q, T)))
	for _, q := range p.lit.Q {
		bq := new(big.Int).SetUint64(q)
		tInv := new(big.Int).ModInverse(new(big.Int).Mod(T, bq), bq)
		if tInv == nil {
			return fmt.Errorf("the plaintext modulus is not invertible modulo %d", q)
		}
		row := make([]shoup, p.words)
		for j := range row {
			c := new(big.Int).Lsh(big.NewInt(1), uint(64*j))
			c.Mul(c, tInv).Mod(c, bq)
			row[j] = newShoup(c.Uint64(), q)
		}
		p.enc = append(p.enc, row)
		qHat := new(big.Int).Quo(Q, bq)
		qHatInv := new(big.Int).ModInverse(new(big.Int).Mod(qHat, bq), bq)
		d := new(big.Int).Mul(qHatInv, T)
		d.Mod(d, bq)
		p.dec = append(p.dec, newShoup(d.Uint64(), q))
		p.qHatModT = append(p.qHatModT, toWords(qHat))
		p.invQ = append(p.invQ, 1/float64(q))
	}
	return nil
}

// initSmudge derives the composed sampler for the smudging width.
func (p *params) initSmudge() error {
	k := math.Floor((p.lit.LogSmudge - 1) / smudgeLevels)
	logSigma0 := p.lit.LogSmudge - float64(smudgeLevels-1)*k
	// Composition y0 + 2^k y1 is statistically close to a discrete Gaussian
	// only if sigma0 is above the smoothing parameter of 2^k Z: sigma0 >=
	// 1.69 * 2^k covers epsilon = 2^-80; we require 2 * 2^k.
	if k < 1 || logSigma0 < k+1 || logSigma0 > maxLogSigma0 {
		return fmt.Errorf("smudging width 2^%.2f cannot be composed from base samples", p.lit.LogSmudge)
	}
	p.smudgeShift = uint(k)
	p.sigma0 = math.Exp2(logSigma0)
	// smudger.sample reduces y0 and y1 + 2^k y2 with signedMod, which needs
	// them below every prime; 2^6 sigma0 covers any sample the ziggurat can
	// realistically return (beyond 64 sigma has probability e^-2048).
	for _, q := range p.lit.Q {
		if logSigma0+6+k >= float64(bits.Len64(q)-1) {
			return fmt.Errorf("smudging width 2^%.2f too large for %d-bit primes", p.lit.LogSmudge, bits.Len64(q))
		}
	}
	for _, q := range p.lit.Q {
		row := make([]shoup, smudgeLevels)
		for l := range row {
			c := new(big.Int).Lsh(big.NewInt(1), uint(l)*p.smudgeShift)
			c.Mod(c, new(big.Int).SetUint64(q))
			row[l] = newShoup(c.Uint64(), q)
		}
		p.smudgePow = append(p.smudgePow, row)
	}
	return nil
}

// packedLen is kernels.PackedLen, restated so that sizes can be computed
// before the kernels are called.
func packedLen(n int, k uint) int {
	return (n/8)*int(k) + int((uint(n%8)*k+7)/8)
}

// Budget is the noise analysis of a parameter set for a federation size and
// threshold; all standard deviations are per coefficient.
type Budget struct {
	// Parties is the number of key holders and the largest number of
	// contributors; Threshold is the number of decryptors.
	Parties, Threshold int
	// FreshStd is the noise of one fresh public-key encryption.
	FreshStd float64
	// SumStd is the noise of the sum of Parties fresh ciphertexts.
	SumStd float64
	// SmudgeSigma is the width of one decryptor's smudging noise.
	SmudgeSigma float64
	// StatSecurity is -log2 of the statistical distance between the
	// decrypted noise with and without the ciphertext noise, given one
	// honest decryptor's smudging, per decrypted ciphertext.
	StatSecurity float64
	// LogQ is log2 of the ciphertext modulus; RequiredLogQ is the least
	// value that decrypts T * (total noise tail bound) correctly.
	LogQ, RequiredLogQ float64
	// MarginBits is LogQ - RequiredLogQ (negative: decryption may fail).
	MarginBits float64
}

// Budget returns the noise analysis for a federation of parties key holders
// whose ciphertexts are summed and decrypted by threshold parties.
func (p Params) Budget(parties, threshold int) Budget {
	return p.p.computeBudget(parties, threshold)
}

func (p *params) computeBudget(parties, threshold int) Budget {
	N := float64(p.n)
	n := float64(parties)
	varS := n * secretVar // collective secret s = sum of the parties' ternary secrets
	// Public-key encryption in QP then division by P: the terms e_pk*u + e0
	// + e1*s are divided by P, the rounding adds tau0 + tau1*s with tau
	// uniform in [-1/2, 1/2].
	pkTerm := errSigma * errSigma * (N*n*secretVar + 1 + N*varS)
	P := 1.0
	for _, q := range p.lit.P {
		P *= float64(q)
	}
	fresh := pkTerm/(P*P) + 1.0/12 + N*varS/12
	b := Budget{
		Parties:     parties,
		Threshold:   threshold,
		FreshStd:    math.Sqrt(fresh),
		SumStd:      math.Sqrt(n * fresh),
		SmudgeSigma: p.smudgeSigma(),
		LogQ:        p.rlwe.RingQ().AtLevel(p.level).LogModuli(),
	}
	// KL divergence between N-dimensional Gaussians of width sigma whose
	// means differ by e is ||e||^2 / (2 sigma^2); Pinsker turns it into a
	// statistical distance of at most ||e|| / (2 sigma).
	b.StatSecurity = math.Log2(2 * b.SmudgeSigma / (normSlack * math.Sqrt(N) * b.SumStd))
	total := tailSigmas * math.Sqrt(b.SumStd*b.SumStd+float64(threshold)*(b.SmudgeSigma*b.SmudgeSigma+errSigma*errSigma))
	b.RequiredLogQ = float64(p.lit.LogT) + math.Log2(total+1) + 1
	b.MarginBits = b.LogQ - b.RequiredLogQ
	return b
}

// smudgeSigma is the width of the composed sampler.
func (p *params) smudgeSigma() float64 {
	var v float64
	for l := 0; l < smudgeLevels; l++ {
		v += math.Exp2(2 * float64(uint(l)*p.smudgeShift))
	}
	return p.sigma0 * math.Sqrt(v)
}

// Literal returns a copy of the literal the parameters were built from.
func (p Params) Literal() ParamsLiteral {
	l := p.p.lit
	l.Q = slices.Clone(l.Q)
	l.P = slices.Clone(l.P)
	return l
}

// Name returns the parameter set's name.
func (p Params) Name() string { return p.p.lit.Name }

// N returns the ring degree.
func (p Params) N() int { return p.p.n }

// LogQP returns log2 of the full modulus QP (the quantity the security bound
// limits).
func (p Params) LogQP() float64 { return p.p.rlwe.LogQP() }

// MaxParties returns the largest federation the noise budget covers.
func (p Params) MaxParties() int { return p.p.lit.MaxParties }

// Insecure reports whether the set is a test-only set without lattice security.
func (p Params) Insecure() bool { return p.p.lit.InsecureTestOnly }

// StatSecurity returns the smudging's statistical security in bits per
// decrypted ciphertext at MaxParties.
func (p Params) StatSecurity() float64 { return p.p.budget.StatSecurity }

// ValuesPerCiphertext returns how many quantised values of quantBits (16 or
// 32) bits one ciphertext carries: N coefficients of LogT/quantBits values.
func (p Params) ValuesPerCiphertext(quantBits uint) int {
	if quantBits != 16 && quantBits != 32 {
		return 0
	}
	return p.p.n * p.p.lit.LogT / int(quantBits)
}

// Ciphertexts returns the number of ciphertexts that carry dim values.
func (p Params) Ciphertexts(dim int, quantBits uint) int {
	v := p.ValuesPerCiphertext(quantBits)
	if v == 0 || dim <= 0 {
		return 0
	}
	return (dim + v - 1) / v
}

// PolyBytes returns the size of one bit-packed polynomial modulo Q: each
// coefficient takes, per prime q_i, bitlen(q_i - 1) bits.
func (p Params) PolyBytes() int { return p.p.qBytes }

// CiphertextBytes returns the packed size of one ciphertext (two polynomials).
func (p Params) CiphertextBytes() int { return 2 * p.p.qBytes }

// KeyShareBytes returns the packed size of one public-key share (a
// polynomial modulo QP). The setup's public-key message carries one per
// party.
func (p Params) KeyShareBytes() int { return p.p.qpBytes() }

// The sizes below are computed from a literal alone (no ring is built), so
// a caller can size messages or choose a set for free; they equal the
// corresponding methods of the Params that NewParams builds from it.

func (lit ParamsLiteral) polyBytes(primes []uint64) int {
	n, b := 1<<lit.LogN, 0
	for _, q := range primes {
		b += packedLen(n, uint(bits.Len64(q-1)))
	}
	return b
}

// PolyBytes is [Params.PolyBytes] for the set lit describes.
func (lit ParamsLiteral) PolyBytes() int { return lit.polyBytes(lit.Q) }

// CiphertextBytes is [Params.CiphertextBytes] for the set lit describes.
func (lit ParamsLiteral) CiphertextBytes() int { return 2 * lit.PolyBytes() }

// KeyShareBytes is [Params.KeyShareBytes] for the set lit describes.
func (lit ParamsLiteral) KeyShareBytes() int { return lit.PolyBytes() + lit.polyBytes(lit.P) }

// Ciphertexts is [Params.Ciphertexts] for the set lit describes.
func (lit ParamsLiteral) Ciphertexts(dim int, quantBits uint) int {
	if (quantBits != 16 && quantBits != 32) || dim <= 0 {
		return 0
	}
	v := (1 << lit.LogN) * lit.LogT / int(quantBits)
	if v == 0 {
		return 0
	}
	return (dim + v - 1) / v
}

// ChooseParams returns the literal of the secure set sized to a job: among
// the sets of [ParamSets] whose noise budget covers parties key holders, the
// one whose ciphertexts for dim values of quantBits (16 or 32) bits take the
// fewest bytes (ties go to the smaller ring, which is faster). It works from
// the literals alone, so a caller builds only the chosen set with
// [NewParams] (building one costs tens of milliseconds). Errors wrap
// [ErrParams].
func ChooseParams(parties, dim int, quantBits uint) (ParamsLiteral, error) {
	if quantBits != 16 && quantBits != 32 {
		return ParamsLiteral{}, fmt.Errorf("%w: quantisation width %d (want 16 or 32)", ErrParams, quantBits)
	}
	if dim < 1 || dim > maxDim || parties < 1 {
		return ParamsLiteral{}, fmt.Errorf("%w: %d values for %d parties", ErrParams, dim, parties)
	}
	var best ParamsLiteral
	bestBytes := -1
	for _, lit := range ParamSets() {
		if lit.MaxParties < parties {
			continue
		}
		k := lit.Ciphertexts(dim, quantBits)
		if k == 0 {
			continue
		}
		if b := k * lit.CiphertextBytes(); bestBytes < 0 || b < bestBytes {
			best, bestBytes = lit, b
		}
	}
	if bestBytes < 0 {
		return ParamsLiteral{}, fmt.Errorf("%w: no secure parameter set supports %d parties", ErrParams, parties)
	}
	return best, nil
}
