package secagg

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"math"
	"slices"
)

// Limits of one protocol instance. Decoders check every length against the
// agreed Params, and Params against these limits, before allocating.
const (
	// MaxParties bounds the number of parties (ids are 1..Parties, uint16).
	MaxParties = 1<<16 - 1
	// MaxDim bounds the vector length (2^27 values: 512 MiB at 32 bits).
	MaxDim = 1 << 27
	// MaxFederationID bounds the federation id in bytes.
	MaxFederationID = 64
)

// Security levels used by [Recommend].
const (
	// SecurityBits is sigma: the privacy failure probability of a round is
	// at most 2^-SecurityBits.
	SecurityBits = 40
	// CorrectnessBits is eta: a round within the dropout assumption fails to
	// recover with probability at most 2^-CorrectnessBits.
	CorrectnessBits = 20
)

// ErrParams marks invalid protocol parameters.
var ErrParams = errors.New("secagg: invalid parameters")

// Config is the literal of a round's public parameters; every party of the
// round must use the same values. [NewParams] validates it.
type Config struct {
	// FederationID and Round bind every key, mask and message to this round
	// (1..MaxFederationID bytes; the round must never repeat for a federation).
	FederationID string
	Round        uint64
	// Parties is n; the parties have ids 1..n, the server has id 0.
	Parties int
	// Dim is the length d of every input vector.
	Dim int
	// Bits is the ring width k: inputs and the sum live in Z_{2^k}, 1..64
	// (0 means 32). Widths up to 32 use []uint32 vectors, wider ones []uint64;
	// internally widths up to 16 are masked in 16-bit lanes. [RingBits]
	// gives the narrowest width for which a sum cannot wrap.
	Bits uint
	// Threshold is t: the number of shares that reconstruct a party's
	// secrets, counted among the party and its neighbours. Fewer than t
	// colluding parties (server included) learn nothing about any single input.
	Threshold int
	// Degree is k, the number of neighbours of each party (SecAgg+). 0, or any
	// value >= Parties-1, selects the complete graph of the original SecAgg.
	// Otherwise it must be even: the graph is the Harary graph H(k, m) on a
	// random ordering of the m parties that advertised keys.
	Degree int
	// MinSurvivors is the least number of parties that must be alive at every
	// step, and so the least number of contributors to a released sum
	// (0 means Threshold; otherwise at least Threshold).
	MinSurvivors int
	// Identities holds the parties' Ed25519 identity keys: Identities[i-1] is
	// party i's. Advertised keys must carry a signature under it.
	Identities []ed25519.PublicKey
	// ConsistencyCheck adds the consistency-check round of Bonawitz et al.
	// (the active-adversary variant, package overview): before revealing
	// any unmasking share, a party checks that enough of each secret's share
	// holders confirmed the same survivor set. Without it (the default, for
	// compatibility) a server that lies about who dropped can unmask an
	// input whenever Threshold <= n/2 (see [CheckMaliciousThreshold]).
	ConsistencyCheck bool
}

// Params is a validated, immutable Config.
type Params struct {
	fed          string
	round        uint64
	n, dim       int
	bits         uint
	t, k, minSur int
	ids          []ed25519.PublicKey
	check        bool
}

// NewParams validates c and returns the parameters of one round.
func NewParams(c Config) (*Params, error) {
	if c.Bits == 0 {
		c.Bits = 32
	}
	switch {
	case len(c.FederationID) == 0 || len(c.FederationID) > MaxFederationID:
		return nil, fmt.Errorf("%w: federation id of %d bytes (want 1..%d)", ErrParams, len(c.FederationID), MaxFederationID)
	case c.Parties < 1 || c.Parties > MaxParties:
		return nil, fmt.Errorf("%w: %d parties (want 1..%d)", ErrParams, c.Parties, MaxParties)
	case c.Dim < 1 || c.Dim > MaxDim:
		return nil, fmt.Errorf("%w: dimension %d (want 1..%d)", ErrParams, c.Dim, MaxDim)
	case c.Bits > 64:
		return nil, fmt.Errorf("%w: ring width %d bits (want 1..64)", ErrParams, c.Bits)
	case len(c.Identities) != c.Parties:
		return nil, fmt.Errorf("%w: %d identities for %d parties", ErrParams, len(c.Identities), c.Parties)
	}
	k := c.Degree
	switch {
	case k < 0:
		return nil, fmt.Errorf("%w: degree %d", ErrParams, k)
	case k == 0 || k >= c.Parties-1:
		k = c.Parties - 1
	case k%2 != 0:
		return nil, fmt.Errorf("%w: degree %d of a sparse graph must be even", ErrParams, k)
	}
	if c.Threshold < 1 || c.Threshold > k+1 {
		return nil, fmt.Errorf("%w: threshold %d (want 1..%d: a party and its %d neighbours)", ErrParams, c.Threshold, k+1, k)
	}
	ms := c.MinSurvivors
	if ms == 0 {
		ms = c.Threshold
	}
	if ms < c.Threshold || ms > c.Parties {
		return nil, fmt.Errorf("%w: minimum survivors %d (want %d..%d)", ErrParams, ms, c.Threshold, c.Parties)
	}
	ids := make([]ed25519.PublicKey, len(c.Identities))
	for i, pk := range c.Identities {
		if len(pk) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("%w: identity of party %d has %d bytes", ErrParams, i+1, len(pk))
		}
		ids[i] = slices.Clone(pk)
	}
	return &Params{
		fed: c.FederationID, round: c.Round, n: c.Parties, dim: c.Dim, bits: c.Bits,
		t: c.Threshold, k: k, minSur: ms, ids: ids, check: c.ConsistencyCheck,
	}, nil
}

// FederationID returns the federation id the round is bound to.
func (p *Params) FederationID() string { return p.fed }

// Round returns the round id.
func (p *Params) Round() uint64 { return p.round }

// Parties returns n.
func (p *Params) Parties() int { return p.n }

// Dim returns the vector length.
func (p *Params) Dim() int { return p.dim }

// Bits returns the ring width k of Z_{2^k}.
func (p *Params) Bits() uint { return p.bits }

// Threshold returns t.
func (p *Params) Threshold() int { return p.t }

// Degree returns the number of neighbours of a party (Parties-1 for the
// complete graph).
func (p *Params) Degree() int { return p.k }

// Complete reports whether the neighbour graph is complete.
func (p *Params) Complete() bool { return p.k >= p.n-1 }

// MinSurvivors returns the least number of live parties at every step.
func (p *Params) MinSurvivors() int { return p.minSur }

// Identity returns party id's Ed25519 public key (nil for an unknown id).
func (p *Params) Identity(id int) ed25519.PublicKey {
	if id < 1 || id > p.n {
		return nil
	}
	return slices.Clone(p.ids[id-1])
}

// ConsistencyCheck reports whether the round runs the consistency check.
func (p *Params) ConsistencyCheck() bool { return p.check }

// Wide reports whether vectors are []uint64 (Bits > 32).
func (p *Params) Wide() bool { return p.bits > 32 }

// Recommend derives the neighbour degree k and the threshold t for n
// parties of which a fraction dropout may drop during a round and a fraction
// corrupt may collude with the server. It returns the sparse SecAgg+ graph
// when one meets the bounds documented in the package overview (section
// "Choosing k and t"), and the complete graph otherwise; degree is then n-1.
func Recommend(n int, dropout, corrupt float64) (degree, threshold int, err error) {
	switch {
	case n < 1 || n > MaxParties:
		return 0, 0, fmt.Errorf("%w: %d parties", ErrParams, n)
	case !(dropout >= 0 && dropout < 1) || !(corrupt >= 0 && corrupt < 1) || !(dropout+corrupt < 1):
		return 0, 0, fmt.Errorf("%w: dropout %g and corruption %g must be fractions summing below 1", ErrParams, dropout, corrupt)
	}
	sigma := math.Ldexp(1, -SecurityBits)
	eta := math.Ldexp(1, -CorrectnessBits)
	rho := dropout + corrupt
	for k := 2; k < n-1; k += 2 {
		// Connectivity of the survivors' graph: (n rho^(k/2))^2 <= 2^-sigma.
		if x := float64(n) * math.Pow(rho, float64(k/2)); x*x > sigma {
			continue
		}
		// Privacy: n P[Bin(k, corrupt) >= t] <= 2^-sigma, smallest such t.
		t := 0
		for c := 1; c <= k+1; c++ {
			if float64(n)*binomTailGE(k, corrupt, c) <= sigma {
				t = c
				break
			}
		}
		if t == 0 {
			continue
		}
		t = max(t, 2)
		// Recovery: n P[Bin(k, 1-dropout) < t] <= 2^-eta.
		if float64(n)*(1-binomTailGE(k, 1-dropout, t)) > eta {
			continue
		}
		return k, t, nil
	}
	// Complete graph: t = max(2, floor(corrupt*n)+1), at most n.
	t := min(max(2, int(math.Floor(corrupt*float64(n)))+1), n)
	if drops := int(math.Floor(dropout * float64(n))); t > n-drops {
		return 0, 0, fmt.Errorf("%w: %d parties cannot tolerate %d dropouts with threshold %d", ErrParams, n, drops, t)
	}
	return max(n-1, 0), t, nil
}

// binomTailGE returns P[X >= c] for X ~ Binomial(k, q).
func binomTailGE(k int, q float64, c int) float64 {
	if c <= 0 {
		return 1
	}
	if c > k {
		return 0
	}
	if q <= 0 {
		return 0
	}
	if q >= 1 {
		return 1
	}
	lq, lr := math.Log(q), math.Log1p(-q)
	lk, _ := math.Lgamma(float64(k + 1))
	var sum float64
	for i := c; i <= k; i++ {
		li, _ := math.Lgamma(float64(i + 1))
		lki, _ := math.Lgamma(float64(k - i + 1))
		sum += math.Exp(lk - li - lki + float64(i)*lq + float64(k-i)*lr)
	}
	return min(sum, 1)
}
