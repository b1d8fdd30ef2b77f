package engine

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"

	"github.com/consort-ml/consort/federated/privacy"
	"github.com/consort-ml/consort/federated/trainpb"
	"github.com/consort-ml/consort/kernels"
	"github.com/consort-ml/consort/mpc/secagg"
	"github.com/consort-ml/consort/transport"
)

// ErrPlan marks an attempt whose parameters do not fit the federation (a
// RoundStart that contradicts the manifest, or sizes no protocol can serve).
var ErrPlan = errors.New("engine: attempt does not fit the federation")

// Standardisation statistics travel through the protection protocol like
// any aggregate. Their range (tiny variances to large raw values) needs more
// than a 32-bit quantisation: secagg sends them in its 64-bit ring with bound
// statsBound; mhe sends each value v (|v| < 2^statsSplitBits) exactly as two
// integers V = round(v 2^F) = H 2^F + L, 0 <= L < 2^F, F = statsSplitBits, in a
// vector [H..., L...] of twice the length with bound 2^F, which every mhe
// quantisation up to 256 parties encodes exactly.
const (
	statsSplitBits = 20
	statsBound     = 1 << 40
)

// secaggCompleteMax is the largest participant count that uses the complete
// graph of the original SecAgg; larger attempts use a SecAgg+ graph.
const secaggCompleteMax = 40

// secaggCorrupt is the corruption bound the SecAgg+ graph is sized for.
const secaggCorrupt = 1.0 / 3

// Plan is the protection plan of one attempt: every parameter of the
// protocol instance, the fixed-point scale and the DP noise, derived in one
// place ([NewPlan]) from the federation and the attempt's RoundStart. The
// coordinator and every node derive it independently; a node whose own plan
// disagrees with what the coordinator asks refuses the attempt.
type Plan struct {
	// Federation is the federation id; Binding the id bound into protocol
	// messages (the federation id, or its hash when a protocol's limit is
	// shorter).
	Federation, Binding string
	// Attempt numbers the protocol instance; it binds every key and mask.
	Attempt uint64
	// Phase and Round say what the attempt releases.
	Phase trainpb.Phase
	Round int
	// Protocol is the protection protocol's name.
	Protocol string
	// Peers are the participants in index order (Peers[i-1] is index i).
	Peers []transport.PeerID
	// Threshold is the fewest contributors the aggregate may have.
	Threshold int
	// Dim is the length of a contribution and Bound the clamp of each of
	// its coordinates.
	Dim   int
	Bound float32
	// Split marks statistics sent as two integer parts (mhe).
	Split bool
	// SecAgg holds the secagg instance (nil for other protocols) and Frac
	// its fixed-point fraction bits.
	SecAgg *secagg.Config
	Frac   uint
	// Version is the digest of the global model a training attempt is
	// computed on (zero for other phases); protocols bind it (mhe's verified
	// decryption signs it).
	Version [32]byte
	// DP is the mechanism nodes apply to their training update (nil without
	// DP or outside training).
	DP *privacy.Mechanism
}

// Parties is the number of participants.
func (p *Plan) Parties() int { return len(p.Peers) }

// Index returns the participant index (1..n) of peer, or 0.
func (p *Plan) Index(peer transport.PeerID) int {
	for i, q := range p.Peers {
		if q == peer {
			return i + 1
		}
	}
	return 0
}

// Wide reports whether the attempt releases statistics (64-bit ring).
func (p *Plan) Wide() bool {
	return p.Phase == trainpb.Phase_PHASE_STATS_MEAN || p.Phase == trainpb.Phase_PHASE_STATS_VAR
}

// Setup reports whether the attempt is a protocol's key setup.
func (p *Plan) Setup() bool { return p.Phase == trainpb.Phase_PHASE_MHE_SETUP }

// bindingID returns the id protocols bind: the federation id, hashed to 32
// hex digits when it is longer than limit bytes.
func bindingID(fed string, limit int) string {
	if len(fed) <= limit {
		return fed
	}
	h := sha256.Sum256([]byte(fed))
	return hex.EncodeToString(h[:16])
}

// PhaseDim returns the contribution length of a phase under protocol for a
// model of params parameters.
func (f Federation) PhaseDim(phase trainpb.Phase, protocol string, params int) int {
	switch phase {
	case trainpb.Phase_PHASE_TRAIN:
		return params
	case trainpb.Phase_PHASE_STATS_MEAN, trainpb.Phase_PHASE_STATS_VAR:
		if protocol == "mhe" {
			return 2 * f.Features // two integer parts per value
		}
		return f.Features
	}
	return 0
}

// phaseBound returns the clamp of a phase's contribution coordinates.
func (f Federation) phaseBound(phase trainpb.Phase, protocol string) float32 {
	switch phase {
	case trainpb.Phase_PHASE_TRAIN:
		if f.DP.Enabled() {
			// Coordinates of a clipped update are at most C; the noise share
			// adds tails: 12 standard deviations make clamping at the bound
			// (which protects fixed-point protocols) practically never
			// trigger.
			m := f.gaussian()
			return max(float32(f.DP.Clip+12*m.ShareStddev()), f.Bound)
		}
		return f.Bound
	case trainpb.Phase_PHASE_STATS_MEAN, trainpb.Phase_PHASE_STATS_VAR:
		if protocol == "mhe" {
			return 1 << statsSplitBits
		}
		return statsBound
	}
	return 1
}

// gaussian is the federation's DP mechanism before the protocol is known.
func (f Federation) gaussian() privacy.Mechanism {
	return privacy.Mechanism{Clip: f.DP.Clip, NoiseMultiplier: f.DP.NoiseMultiplier, MinContributors: f.Threshold, Noise: privacy.Gaussian}
}

// Mechanism returns the DP mechanism nodes apply in a training attempt of
// protocol over n participants: with secagg, Skellam noise in Z_2^32 at the
// attempt's fixed-point scale; otherwise Gaussian noise on the float update.
// Shares are sized for the federation's threshold, so every released
// aggregate carries at least the intended noise whoever drops out.
func (f Federation) Mechanism(protocol string, n int) (privacy.Mechanism, error) {
	f = f.Resolved()
	m := f.gaussian()
	if protocol == "secagg" {
		frac, err := SecAggFracBits(32, n, f.phaseBound(trainpb.Phase_PHASE_TRAIN, protocol))
		if err != nil {
			return m, err
		}
		m.Noise, m.FracBits = privacy.Skellam, frac
	}
	if err := m.Validate(); err != nil {
		return m, fmt.Errorf("%w: %w", ErrPlan, err)
	}
	return m, nil
}

// SecAggFracBits returns the fixed-point fraction bits f for n summands of
// magnitude at most bound in a ring of ringBits bits: the largest f with
// bound * 2^f <= 2^(ringBits - 2 - ceil(log2 n)). One sign bit, the headroom
// of kernels.HeadroomBits and one bit of margin (for the rounding step of
// stochastic rounding) keep the sum of n encodings inside the signed range,
// so the ring sum never wraps. f is capped at 48 (float32 carries 24
// significant bits).
func SecAggFracBits(ringBits uint, n int, bound float32) (uint, error) {
	if !(bound > 0) || math.IsInf(float64(bound), 0) {
		return 0, fmt.Errorf("%w: bound %g must be positive and finite", ErrPlan, bound)
	}
	room := int(ringBits) - 2 - int(kernels.HeadroomBits(n))
	f := int(math.Floor(float64(room) - math.Log2(float64(bound))))
	for f >= 0 && math.Ldexp(float64(bound), f) > math.Ldexp(1, room) {
		f-- // guard against rounding in Log2
	}
	if f < 1 {
		return 0, fmt.Errorf("%w: bound %g with %d participants leaves no fraction bits in a %d-bit ring", ErrPlan, bound, n, ringBits)
	}
	return uint(min(f, 48)), nil
}

// secaggConfig derives the secagg instance of an attempt. The federation's
// threshold T is the fewest contributors (MinSurvivors). Up to
// secaggCompleteMax participants the graph is complete and a party's secrets
// are shared T-of-n, so fewer than T colluding parties (aggregator included)
// learn nothing; beyond, the degree and share threshold come from
// secagg.Recommend with the dropout fraction (n-T)/n (at most one half) and a
// corruption bound of one third, and the share threshold is never below T.
func secaggConfig(binding string, attempt uint64, n, threshold, dim int, bits uint, ids []ed25519.PublicKey) (secagg.Config, error) {
	if n < 2 {
		return secagg.Config{}, fmt.Errorf("%w: secure aggregation needs at least 2 participants", ErrPlan)
	}
	k, st := SecAggGraph(n, threshold)
	cfg := secagg.Config{
		FederationID: binding, Round: attempt, Parties: n, Dim: dim, Bits: bits,
		Degree: k, Threshold: st, MinSurvivors: max(min(max(threshold, 2), n), st), Identities: ids,
		// The consistency check of Bonawitz et al.: parties reveal
		// unmasking shares only once enough of them confirmed the same
		// survivor set, so a server cannot show split views.
		ConsistencyCheck: true,
	}
	for i, id := range ids {
		if len(id) != ed25519.PublicKeySize {
			return secagg.Config{}, fmt.Errorf("%w: participant %d has no Ed25519 identity (secagg needs real peer IDs)", ErrPlan, i+1)
		}
	}
	if _, err := secagg.NewParams(cfg); err != nil {
		return secagg.Config{}, fmt.Errorf("%w: %w", ErrPlan, err)
	}
	return cfg, nil
}

// SecAggGraph returns the neighbour degree (0: the complete graph) and the
// share threshold of a secagg instance of n participants for a federation
// threshold T: the complete graph with T-of-n sharing up to
// secaggCompleteMax participants; beyond, secagg.Recommend's SecAgg+ degree
// for the dropout fraction (n-T)/n (at most one half) and a corruption bound
// of one third, its share threshold never below T (fewer than T colluding
// parties must learn nothing), and the degree raised so that a party and its
// k neighbours can hold that many shares.
func SecAggGraph(n, threshold int) (degree, shareThreshold int) {
	t := min(max(threshold, 2), n)
	if n <= secaggCompleteMax {
		return 0, t
	}
	dropout := min(float64(n-threshold)/float64(n), 0.5)
	k, st, err := secagg.Recommend(n, dropout, secaggCorrupt)
	if err != nil {
		k, st = 0, t // the complete graph of the original SecAgg
	}
	st = max(st, t)
	if k+1 < st {
		k = st - 1 + (st-1)%2
	}
	if k >= n-1 {
		k = 0 // complete graph
	}
	return k, st
}

// NewPlan derives the protection plan of the attempt rs for the federation
// fed with params model parameters; ids are the participants' identity keys
// (nil entries for peers without one). Every field of rs that the plan
// determines is checked against what the federation implies, so a node
// calling NewPlan on a coordinator's RoundStart refuses anything the
// manifest does not allow.
func NewPlan(fed Federation, params int, rs *trainpb.RoundStart, ids []ed25519.PublicKey) (*Plan, error) {
	fed = fed.Resolved()
	n := len(rs.Participants)
	switch {
	case !fed.Allows(rs.Protocol):
		return nil, fmt.Errorf("%w: protocol %q is not allowed by the federation", ErrPlan, rs.Protocol)
	case n < 1 || n > len(fed.Nodes):
		return nil, fmt.Errorf("%w: %d participants for a federation of %d nodes", ErrPlan, n, len(fed.Nodes))
	case int(rs.Threshold) != fed.Threshold:
		return nil, fmt.Errorf("%w: threshold %d, the federation's is %d", ErrPlan, rs.Threshold, fed.Threshold)
	case n < fed.MinParticipants:
		return nil, fmt.Errorf("%w: %d participants, fewer than the federation's min_participants %d", ErrPlan, n, fed.MinParticipants)
	case len(ids) != n:
		return nil, fmt.Errorf("%w: %d identities for %d participants", ErrPlan, len(ids), n)
	}
	p := &Plan{
		Federation: fed.ID, Binding: fed.ID, Attempt: rs.Attempt, Phase: rs.Phase, Round: int(rs.Round),
		Protocol: rs.Protocol, Threshold: fed.Threshold,
	}
	members := map[transport.PeerID]bool{}
	for _, m := range fed.Nodes {
		members[m] = true
	}
	seen := map[transport.PeerID]bool{}
	for _, s := range rs.Participants {
		peer := transport.PeerID(s)
		if seen[peer] || !members[peer] {
			return nil, fmt.Errorf("%w: a participant is listed twice or is not a node of the federation", ErrPlan)
		}
		seen[peer] = true
		p.Peers = append(p.Peers, peer)
	}
	switch rs.Phase {
	case trainpb.Phase_PHASE_MHE_SETUP:
		if rs.Protocol != "mhe" || n != len(fed.Nodes) {
			return nil, fmt.Errorf("%w: the mhe key setup runs with every node", ErrPlan)
		}
		p.Dim, p.Bound = 0, 1
	case trainpb.Phase_PHASE_TRAIN, trainpb.Phase_PHASE_STATS_MEAN, trainpb.Phase_PHASE_STATS_VAR:
		if rs.Phase != trainpb.Phase_PHASE_TRAIN && !fed.Standardize {
			return nil, fmt.Errorf("%w: the federation does not standardise features", ErrPlan)
		}
		if rs.Phase == trainpb.Phase_PHASE_TRAIN && (rs.Round < 1 || int(rs.Round) > fed.Rounds) {
			return nil, fmt.Errorf("%w: round %d is outside the federation's 1..%d", ErrPlan, rs.Round, fed.Rounds)
		}
		p.Dim = fed.PhaseDim(rs.Phase, rs.Protocol, params)
		p.Split = rs.Protocol == "mhe" && rs.Phase != trainpb.Phase_PHASE_TRAIN
		p.Bound = fed.phaseBound(rs.Phase, rs.Protocol)
	default:
		return nil, fmt.Errorf("%w: unknown phase %v", ErrPlan, rs.Phase)
	}
	if rs.Phase == trainpb.Phase_PHASE_TRAIN {
		p.Version = sha256.Sum256(rs.Params)
	} else {
		p.Version = sha256.Sum256([]byte("consort statistics " + rs.Phase.String()))
	}
	if int(rs.Dim) != p.Dim || rs.Bound != p.Bound {
		return nil, fmt.Errorf("%w: dimension %d and bound %g, the federation implies %d and %g", ErrPlan, rs.Dim, rs.Bound, p.Dim, p.Bound)
	}
	if rs.Protocol == "secagg" {
		bits := uint(32)
		if p.Wide() {
			bits = 64
		}
		p.Binding = bindingID(fed.ID, secagg.MaxFederationID)
		cfg, err := secaggConfig(p.Binding, rs.Attempt, n, fed.Threshold, p.Dim, bits, ids)
		if err != nil {
			return nil, err
		}
		if p.Frac, err = SecAggFracBits(bits, n, p.Bound); err != nil {
			return nil, err
		}
		p.SecAgg = &cfg
	}
	if fed.DP.Enabled() && rs.Phase == trainpb.Phase_PHASE_TRAIN {
		m, err := fed.Mechanism(rs.Protocol, n)
		if err != nil {
			return nil, err
		}
		p.DP = &m
	}
	return p, nil
}
