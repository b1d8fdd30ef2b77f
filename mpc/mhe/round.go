package mhe

import (
	"crypto"
	"crypto/ed25519"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/tuneinsight/lattigo/v6/core/rlwe"
	"github.com/tuneinsight/lattigo/v6/multiparty"
	"github.com/tuneinsight/lattigo/v6/ring"

	"github.com/consort-ml/consort/kernels"
	"github.com/consort-ml/consort/mpc"
)

// Rounding selects the fixed-point rounding of updates.
type Rounding uint8

const (
	// RoundStochastic rounds up or down with probabilities that make the
	// quantised value unbiased (kernels.EncodeStochastic32). The default.
	RoundStochastic Rounding = iota
	// RoundNearest rounds to nearest (kernels.EncodeNearest32).
	RoundNearest
)

// maxDim bounds the update length of a round.
const maxDim = 1 << 30

// RoundConfig describes one aggregation round; the aggregator and every node
// use the same values (from the coordinator's RoundStart).
type RoundConfig struct {
	// FederationID and Round bind every message (Round >= 1; round 0 is the
	// setup).
	FederationID string
	Round        uint64
	// Dim is the update length.
	Dim int
	// Participants lists the node ids selected for the round, strictly
	// increasing. Only they may upload.
	Participants []int
	// Bound is the largest magnitude of an update coordinate. It fixes the
	// fixed-point scale; larger coordinates are clamped.
	Bound float32
	// QuantBits is the quantisation width b, 32 (default when 0) or 16.
	QuantBits uint
	// Rounding is the fixed-point rounding (default stochastic).
	Rounding Rounding
	// MinContributors is the least number of uploads an aggregate may be
	// released for. The effective minimum is max(MinContributors, threshold):
	// the aggregator aborts below it and a node refuses to decrypt below it.
	MinContributors int

	// ModelVersion is the digest of the global model version the updates
	// were computed on. A verified round binds it into every signature and
	// into the node's [Ledger] claim.
	ModelVersion [32]byte
	// Identities, when set, makes the round verified (see "Verified
	// decryption" in the package documentation): Identities[i-1] is node i's
	// Ed25519 identity key, every upload is signed, and a node decrypts only
	// an aggregate it has checked to be the sum of at least the minimum
	// number of signed contributions, once per round and model version. The
	// aggregator and every node of a round must agree on it. When nil the
	// round is unverified and the aggregator must be trusted to follow the
	// protocol.
	Identities []ed25519.PublicKey
	// Signer is the node's identity key (an ed25519.PrivateKey or a
	// crypto.Signer holding one), required at a node of a verified round.
	Signer crypto.Signer
	// Ledger records the node's decryptions durably (node side of a verified
	// round). When nil, the node only remembers its own decryption, so a
	// driver that may restart within a round or reuse a model version must
	// supply a persistent one.
	Ledger Ledger
}

// quant holds the derived quantisation of a round.
type quant struct {
	bits  uint
	frac  uint
	clamp int32
}

// Quantization returns the fixed-point scale exponent frac and the clamp C
// of the round: with n participants and b-bit quantisation, C =
// floor((2^(b-1) - 1) / n) so that the sum of n clamped values fits a signed
// b-bit field, and frac is the largest exponent with Bound * 2^frac <= C.
func (rc RoundConfig) Quantization() (frac uint, clamp int32, err error) {
	q, err := rc.quant()
	return q.frac, q.clamp, err
}

func (rc RoundConfig) quant() (quant, error) {
	b := rc.QuantBits
	if b == 0 {
		b = 32
	}
	if b != 16 && b != 32 {
		return quant{}, fmt.Errorf("%w: quantisation width %d (want 16 or 32)", ErrConfig, rc.QuantBits)
	}
	n := len(rc.Participants)
	if n < 1 {
		return quant{}, fmt.Errorf("%w: no participants", ErrConfig)
	}
	c := (int64(1)<<(b-1) - 1) / int64(n)
	if c < 1 {
		return quant{}, fmt.Errorf("%w: %d participants leave no room in %d-bit quantisation", ErrConfig, n, b)
	}
	bound := float64(rc.Bound)
	if !(bound > 0) || math.IsInf(bound, 0) {
		return quant{}, fmt.Errorf("%w: bound %v must be positive and finite", ErrConfig, rc.Bound)
	}
	ratio := float64(c) / bound
	if ratio < 1 {
		return quant{}, fmt.Errorf("%w: bound %v exceeds the %d-bit range for %d participants", ErrConfig, rc.Bound, b, n)
	}
	frac := uint(math.Floor(math.Log2(ratio)))
	for frac > 0 && math.Ldexp(bound, int(frac)) > float64(c) {
		frac--
	}
	return quant{bits: b, frac: min(frac, 62), clamp: int32(c)}, nil
}

// Quantize writes the fixed-point values a node encrypts for update: scaled
// by 2^frac, rounded (stochastically with the given seed, or to nearest) and
// clamped to +-ceil(Bound * 2^frac), which never exceeds the clamp C of
// [RoundConfig.Quantization]. len(dst) must equal
// len(update).
func (rc RoundConfig) Quantize(dst []int32, update []float32, seed [32]byte) error {
	q, err := rc.quant()
	if err != nil {
		return err
	}
	if len(dst) != len(update) {
		return fmt.Errorf("%w: %d values for an update of %d", ErrConfig, len(dst), len(update))
	}
	u := make([]uint32, len(update))
	rc.quantize(u, update, seed, q)
	for i, v := range u {
		dst[i] = int32(v)
	}
	return nil
}

// quantize is Quantize into two's complement uint32 values. Instead of
// clamping a copy of the input to [-Bound, Bound] first, it clamps the
// encoded integers to +-ceil(Bound * 2^frac) (and C): the same result for
// every input within the bound, and the bound for every input beyond it.
func (rc RoundConfig) quantize(dst []uint32, update []float32, seed [32]byte, q quant) {
	if rc.Rounding == RoundNearest {
		kernels.EncodeNearest32(dst, update, q.frac)
	} else {
		kernels.EncodeStochastic32(dst, update, q.frac, seed)
	}
	lim := min(int32(math.Ceil(math.Ldexp(float64(rc.Bound), int(q.frac)))), q.clamp)
	for i, v := range dst {
		dst[i] = uint32(min(max(int32(v), -lim), lim))
	}
}

// check validates the round against the federation: n parties, threshold t.
func (rc RoundConfig) check(fed string, n, t int) (quant, int, error) {
	switch {
	case rc.FederationID != fed:
		return quant{}, 0, fmt.Errorf("%w: round is for another federation", ErrConfig)
	case rc.Round == 0:
		return quant{}, 0, fmt.Errorf("%w: round 0 is the setup", ErrConfig)
	case rc.Dim < 1 || rc.Dim > maxDim:
		return quant{}, 0, fmt.Errorf("%w: dimension %d outside 1..%d", ErrConfig, rc.Dim, maxDim)
	case rc.MinContributors < 0 || rc.MinContributors > n:
		return quant{}, 0, fmt.Errorf("%w: minimum of %d contributors for %d parties", ErrConfig, rc.MinContributors, n)
	case rc.Rounding > RoundNearest:
		return quant{}, 0, fmt.Errorf("%w: unknown rounding %d", ErrConfig, rc.Rounding)
	}
	for i, id := range rc.Participants {
		if id < 1 || id > n || (i > 0 && id <= rc.Participants[i-1]) {
			return quant{}, 0, fmt.Errorf("%w: participants must be strictly increasing ids in 1..%d", ErrConfig, n)
		}
	}
	if rc.Identities != nil {
		if len(rc.Identities) != n {
			return quant{}, 0, fmt.Errorf("%w: %d identities for %d parties", ErrConfig, len(rc.Identities), n)
		}
		for i, k := range rc.Identities {
			if len(k) != ed25519.PublicKeySize {
				return quant{}, 0, fmt.Errorf("%w: identity of party %d has %d bytes", ErrConfig, i+1, len(k))
			}
		}
	}
	q, err := rc.quant()
	return q, max(rc.MinContributors, t), err
}

// Result is the outcome of a round.
type Result struct {
	// Sum is the decoded sum of the contributors' updates (nil at the
	// aggregator when the nodes are the recipients).
	Sum []float32
	// Quantized is the exact sum of the contributors' quantised values: the
	// decrypted plaintext, equal to the plaintext sum of what the nodes
	// encrypted (nil when Sum is nil).
	Quantized []int64
	// Contributors lists the ids of the nodes whose updates are in the sum.
	Contributors []int
	// Frac is the fixed-point scale exponent (Sum = Quantized / 2^Frac).
	Frac uint
	// Contributions lists, in a verified round, every contributor's signed
	// ciphertext digest (in the order of Contributors), for the audit log.
	Contributions []Contribution
	// Aggregate is, in a verified round, the digest of the contributor set
	// and their contribution digests: what every decryptor verified and
	// recorded in its [Ledger].
	Aggregate [32]byte
}

// decodeSum turns the field sums of one decrypted chunk into quantised sums:
// field value minus contributors * C.
func decodeSum(dst []int64, fields []uint64, contributors int, clamp int32) {
	off := int64(contributors) * int64(clamp)
	for i, f := range fields {
		dst[i] = int64(f) - off
	}
}

// finishResult fills Sum from Quantized.
func finishResult(r *Result) {
	u := make([]uint64, len(r.Quantized))
	for i, v := range r.Quantized {
		u[i] = uint64(v)
	}
	r.Sum = make([]float32, len(u))
	kernels.Decode64(r.Sum, u, r.Frac)
}

// decryptChunks decodes chunk after chunk of an aggregate whose plaintexts
// (coefficient domain, x = M*T^-1 + E) plain(c) yields.
func (p *params) decryptChunks(dim int, q quant, contributors int, plain func(c int) ring.Poly) []int64 {
	v := p.n * p.fields(q.bits)
	out := make([]int64, dim)
	fields := make([]uint64, v)
	for c := 0; c*v < dim; c++ {
		hi := min(dim, (c+1)*v)
		f := fields[:hi-c*v]
		p.extract(f, plain(c), q.bits)
		decodeSum(out[c*v:hi], f, contributors, q.clamp)
	}
	return out
}

// Node is one node's side of a round, a pure state machine:
//
//	out, err := nd.Upload(update)  // the encrypted update, for the aggregator
//	out, err = nd.Step(msg)        // decryption requests -> decryption shares
//	res, ok := nd.Result()         // only when the nodes are the recipients
//
// A Node is not safe for concurrent use.
type Node struct {
	km     *KeyMaterial
	p      *params
	rc     RoundConfig
	q      quant
	minC   int
	chunks int
	qseed  [32]byte
	sm     *smudger
	enc    *pkEncryptor
	comb   multiparty.Combiner
	points []multiparty.ShamirPublicPoint

	uploaded bool
	input    []float32 // the update Start uploads (NewNodeClient)
	answered map[uint32]bool
	v        *verifier // nil in an unverified round
	rsk      *rlwe.SecretKey
	rpk      *rlwe.PublicKey
	pcks     multiparty.PublicKeySwitchProtocol
	result   *Result
	err      error
}

// NewNode prepares a node's round. It reads 96 bytes from rand: the seeds of
// the stochastic rounding, of the smudging noise and of the encryption
// randomness, in that order; in a verified round 32 more, the seed of its
// challenges.
func NewNode(km *KeyMaterial, rc RoundConfig, rand io.Reader) (*Node, error) {
	if km == nil || km.pk == nil {
		return nil, fmt.Errorf("%w: no key material", ErrConfig)
	}
	q, minC, err := rc.check(km.fed, km.n, km.t)
	if err != nil {
		return nil, err
	}
	p := km.p.p
	nd := &Node{
		km: km, p: p, rc: rc, q: q, minC: minC,
		chunks:   km.p.Ciphertexts(rc.Dim, q.bits),
		answered: make(map[uint32]bool),
	}
	nd.rc.Participants = slices.Clone(rc.Participants)
	var sseed, eseed [32]byte
	for _, s := range [][]byte{nd.qseed[:], sseed[:], eseed[:]} {
		if _, err := io.ReadFull(rand, s); err != nil {
			return nil, fmt.Errorf("mhe: reading randomness: %w", err)
		}
	}
	nd.sm = newSmudger(p, sseed)
	nd.enc = newPKEncryptor(p, km.pk, eseed)
	if rc.Identities != nil {
		if rc.Signer == nil {
			return nil, fmt.Errorf("%w: a verified round needs the node's signing key", ErrConfig)
		}
		pub, ok := rc.Signer.Public().(ed25519.PublicKey)
		if !ok || !rc.Identities[km.id-1].Equal(pub) {
			return nil, fmt.Errorf("%w: signing key does not match identity of party %d", ErrConfig, km.id)
		}
		var vseed [32]byte
		if _, err := io.ReadFull(rand, vseed[:]); err != nil {
			return nil, fmt.Errorf("mhe: reading randomness: %w", err)
		}
		nd.v = &verifier{ids: rc.Identities, signer: rc.Signer, ledger: rc.Ledger, seeds: newCTRPRNG(vseed)}
		clear(vseed[:])
	}
	nd.points = make([]multiparty.ShamirPublicPoint, km.n)
	for i := range nd.points {
		nd.points[i] = multiparty.ShamirPublicPoint(i + 1)
	}
	nd.comb = multiparty.NewCombiner(p.rlwe, multiparty.ShamirPublicPoint(km.id), nd.points, km.t)
	if km.recipient == RecipientNodes {
		nd.rsk, nd.rpk = km.resultKeys()
		if nd.pcks, err = multiparty.NewPublicKeySwitchProtocol(p.rlwe, ring.DiscreteGaussian{Sigma: errSigma, Bound: 6 * errSigma}); err != nil {
			return nil, fmt.Errorf("mhe: public key switch: %w", err)
		}
	}
	return nd, nil
}

func (nd *Node) abort(err error) error {
	if nd.err == nil {
		nd.err = &mpc.AbortError{Party: int(nd.km.id), Round: nd.rc.Round, Err: err}
	}
	return nd.err
}

func (nd *Node) header(kind Kind, attempt uint32) header {
	return header{kind: kind, from: nd.km.id, to: 0, round: nd.rc.Round, attempt: attempt, fed: nd.rc.FederationID}
}

// upload quantises and encrypts the update under the collective public key
// and returns the ciphertext message for the aggregator. It can be called
// once.
func (nd *Node) upload(update []float32) ([]Message, error) {
	if nd.err != nil {
		return nil, nd.err
	}
	if nd.uploaded {
		return nil, fmt.Errorf("%w: update already uploaded", ErrState)
	}
	if !slices.Contains(nd.rc.Participants, int(nd.km.id)) {
		return nil, fmt.Errorf("%w: party %d is not a participant of round %d", ErrState, nd.km.id, nd.rc.Round)
	}
	if len(update) != nd.rc.Dim {
		return nil, fmt.Errorf("%w: update of %d values, round dimension %d", ErrConfig, len(update), nd.rc.Dim)
	}
	vals := make([]uint32, len(update))
	nd.rc.quantize(vals, update, nd.qseed, nd.q)
	nd.uploaded = true
	p := nd.p
	v := p.n * p.fields(nd.q.bits)
	pt := p.rlwe.RingQ().AtLevel(p.level).NewPoly()
	data := appendHeader(make([]byte, 0, headerFixed+len(nd.rc.FederationID)+nd.chunks*2*p.qBytes), nd.header(KindCiphertext, 0))
	var scratch []uint64
	for c := range nd.chunks {
		p.embed(pt, vals[c*v:min(len(vals), (c+1)*v)], nd.q.clamp, nd.q.bits, &scratch)
		c0, c1 := nd.enc.encrypt(pt)
		data = p.appendPolyQ(data, c0)
		data = p.appendPolyQ(data, c1)
		if nd.v != nil {
			nd.v.c1 = append(nd.v.c1, *c1.CopyNew())
		}
	}
	clear(vals)
	if nd.v != nil {
		hl := headerFixed + len(nd.rc.FederationID)
		nd.v.digest = [32]byte(derive(labelCiphertext, data[hl:]))
		sig, err := nd.v.sign(ContributionMessage(nd.rc.FederationID, nd.rc.Round, nd.rc.ModelVersion, nd.v.digest))
		if err != nil {
			return nil, err
		}
		data = append(data, sig...)
	}
	return []Message{{From: int(nd.km.id), To: 0, Data: data}}, nil
}

// step handles a message from the aggregator: a decryption request (answered
// with the node's decryption share, once per attempt) or, when the nodes are
// the recipients, the re-encrypted result. A request for an aggregate of
// fewer than the minimum number of contributors, or with a malformed
// decryption set, aborts the node's round: it would reveal too much.
func (nd *Node) step(m Message) ([]Message, error) {
	if nd.err != nil {
		return nil, nd.err
	}
	h, body, err := parseHeader(m.Data)
	if err != nil {
		return nil, err
	}
	switch {
	case h.fed != nd.rc.FederationID:
		return nil, violation("message for another federation")
	case h.round != nd.rc.Round:
		return nil, violation("message for round %d in round %d", h.round, nd.rc.Round)
	case h.from != 0 || m.From != 0:
		return nil, violation("round message from party %d", m.From)
	case h.to != nd.km.id && h.to != broadcast:
		return nil, violation("message for party %d delivered to %d", h.to, nd.km.id)
	}
	switch h.kind {
	case KindDecryptRequest:
		if nd.v != nil {
			return nd.onVerifiedRequest(h.attempt, body)
		}
		return nd.onRequest(h.attempt, body)
	case KindResult:
		return nil, nd.onResult(body)
	case KindAggregate:
		if nd.v != nil {
			return nd.onAggregate(body)
		}
	case KindChallengeSet:
		if nd.v != nil {
			return nd.onChallengeSet(body)
		}
	}
	return nil, violation("node got a %s message", h.kind)
}

// decodeRequest splits a decryption request body into its id lists and the
// packed c1 polynomials, checking every size against the parameters.
func (p *params) decodeRequest(body []byte, n, chunks int) (contributors, decryptors []uint16, polys []byte, err error) {
	contributors, rest, err := readIDs(body, n)
	if err != nil {
		return nil, nil, nil, err
	}
	decryptors, rest, err = readIDs(rest, n)
	if err != nil {
		return nil, nil, nil, err
	}
	if len(rest) != chunks*p.qBytes {
		return nil, nil, nil, malformed("decryption request with %d bytes of ciphertext, want %d", len(rest), chunks*p.qBytes)
	}
	return contributors, decryptors, rest, nil
}

func (nd *Node) onRequest(attempt uint32, body []byte) ([]Message, error) {
	p := nd.p
	contributors, decryptors, polys, err := p.decodeRequest(body, nd.km.n, nd.chunks)
	if err != nil {
		return nil, err
	}
	if attempt == 0 {
		return nil, violation("decryption attempt 0")
	}
	if nd.answered[attempt] {
		return nil, unexpected("decryption attempt %d requested twice", attempt)
	}
	for _, c := range contributors {
		if !slices.Contains(nd.rc.Participants, int(c)) {
			return nil, nd.abort(violation("contributor %d is not a participant", c))
		}
	}
	if len(contributors) < nd.minC {
		return nil, nd.abort(fmt.Errorf("mhe: decryption requested for %d contributors, minimum %d: %w", len(contributors), nd.minC, mpc.ErrProtocol))
	}
	if len(decryptors) != nd.km.t || !slices.Contains(decryptors, nd.km.id) {
		return nil, nd.abort(violation("decryption set of %d without this party (threshold %d)", len(decryptors), nd.km.t))
	}
	nd.answered[attempt] = true
	c1s := make([]ring.Poly, nd.chunks)
	ringQ := p.rlwe.RingQ().AtLevel(p.level)
	for c := range c1s {
		c1s[c] = ringQ.NewPoly()
		if err := p.readPolyQ(c1s[c], polys[c*p.qBytes:(c+1)*p.qBytes]); err != nil {
			return nil, err
		}
	}
	return nd.share(attempt, decryptors, c1s)
}

// share computes the node's decryption share of the aggregate whose c1
// polynomials (NTT domain) are c1s, for the decryption set decryptors.
func (nd *Node) share(attempt uint32, decryptors []uint16, c1s []ring.Poly) ([]Message, error) {
	p := nd.p
	active := make([]multiparty.ShamirPublicPoint, len(decryptors))
	for i, d := range decryptors {
		active[i] = multiparty.ShamirPublicPoint(d)
	}
	skAdd := rlwe.NewSecretKey(p.rlwe)
	defer zeroQP(skAdd.Value)
	if nd.km.additive {
		// t = n: the key share is already additive (the decryption set is
		// every node, checked by the callers).
		skAdd.Value.Copy(nd.km.share.Poly)
	} else if err := nd.comb.GenAdditiveShare(active, multiparty.ShamirPublicPoint(nd.km.id), nd.km.share, skAdd); err != nil {
		return nil, nd.abort(fmt.Errorf("mhe: additive share: %w", err))
	}
	ringQ := p.rlwe.RingQ().AtLevel(p.level)
	e := ringQ.NewPoly()
	per := 1
	if nd.km.recipient == RecipientNodes {
		per = 2
	}
	data := appendHeader(make([]byte, 0, headerFixed+len(nd.rc.FederationID)+nd.chunks*per*p.qBytes), nd.header(KindDecryptShare, attempt))
	var sh multiparty.KeySwitchShare
	var psh multiparty.PublicKeySwitchShare
	if per == 1 {
		sh = multiparty.KeySwitchShare{Value: ringQ.NewPoly()}
	} else {
		psh = nd.pcks.AllocateShare(p.level)
	}
	for _, c1 := range c1s {
		nd.sm.sample(e)
		ringQ.NTT(e, e)
		if per == 1 {
			// Key-switch share to the zero key (multiparty.KeySwitchProtocol
			// with s_out = 0): c1 * s_i' + e_smudge, NTT domain.
			ringQ.MulCoeffsMontgomery(c1, skAdd.Value.Q, sh.Value)
			ringQ.Add(sh.Value, e, sh.Value)
			data = p.appendPolyQ(data, sh.Value)
		} else {
			ct := &rlwe.Ciphertext{Element: rlwe.Element[ring.Poly]{
				Value:    []ring.Poly{c1, c1},
				MetaData: &rlwe.MetaData{CiphertextMetaData: rlwe.CiphertextMetaData{IsNTT: true}},
			}}
			nd.pcks.GenShare(skAdd, nd.rpk, ct, &psh)
			ringQ.Add(psh.Value[0], e, psh.Value[0])
			data = p.appendPolyQ(data, psh.Value[0])
			data = p.appendPolyQ(data, psh.Value[1])
		}
	}
	return []Message{{From: int(nd.km.id), To: 0, Data: data}}, nil
}

func (nd *Node) onResult(body []byte) error {
	if nd.km.recipient != RecipientNodes {
		return violation("result message but the aggregator is the recipient")
	}
	if nd.result != nil {
		return unexpected("second result")
	}
	p := nd.p
	contributors, rest, err := readIDs(body, nd.km.n)
	if err != nil {
		return err
	}
	if len(rest) != nd.chunks*2*p.qBytes {
		return malformed("result with %d bytes of ciphertext, want %d", len(rest), nd.chunks*2*p.qBytes)
	}
	if len(contributors) < nd.minC {
		return violation("result of %d contributors, minimum %d", len(contributors), nd.minC)
	}
	ringQ := p.rlwe.RingQ().AtLevel(p.level)
	c0, c1 := ringQ.NewPoly(), ringQ.NewPoly()
	for c := range nd.chunks {
		off := c * 2 * p.qBytes
		if err := p.readPolyQ(c0, rest[off:off+p.qBytes]); err != nil {
			return err
		}
		if err := p.readPolyQ(c1, rest[off+p.qBytes:off+2*p.qBytes]); err != nil {
			return err
		}
	}
	r := &Result{Frac: nd.q.frac, Contributors: idsToInts(contributors)}
	r.Quantized = p.decryptChunks(nd.rc.Dim, nd.q, len(contributors), func(c int) ring.Poly {
		off := c * 2 * p.qBytes
		// Sizes and ranges were checked above.
		_ = p.readPolyQ(c0, rest[off:off+p.qBytes])
		_ = p.readPolyQ(c1, rest[off+p.qBytes:off+2*p.qBytes])
		ringQ.MulCoeffsMontgomeryThenAdd(c1, nd.rsk.Value.Q, c0)
		ringQ.INTT(c0, c0)
		return c0
	})
	finishResult(r)
	nd.result = r
	return nil
}

// Result returns the round's result at a node when the nodes are the
// recipients, once it has arrived and been decrypted.
func (nd *Node) Result() (Result, bool) {
	if nd.result == nil {
		return Result{}, false
	}
	return *nd.result, true
}

func idsToInts(ids []uint16) []int {
	out := make([]int, len(ids))
	for i, id := range ids {
		out[i] = int(id)
	}
	return out
}

// Aggregator phases.
const (
	phaseUpload      = iota
	phaseChallenge   // verified: waiting for the contributors' challenge seeds
	phaseFingerprint // verified: waiting for their fingerprints
	phaseDecrypt
	phaseDone
)

// Aggregator is the aggregator's side of a round, a pure state machine:
//
//	out, err := a.Step(msg)        // ciphertexts, then decryption shares
//	out, err = a.CloseUploads()    // the upload deadline passed
//	out, err = a.Dropped(id)       // a decryptor did not answer in time
//	res, ok := a.Result()
//
// It keeps one running sum per ciphertext of the update (O(dim) memory,
// whatever the number of nodes) and never sees an individual plaintext. Once
// it has aborted (*mpc.AbortError wrapping mpc.ErrTooFewParties) every call
// returns the same error. An Aggregator is not safe for concurrent use.
type Aggregator struct {
	cfg    SetupConfig
	rc     RoundConfig
	p      *params
	q      quant
	minC   int
	chunks int
	ringQ  *ring.Ring

	phase        int
	participant  []bool
	uploaded     []bool
	contributors []uint16
	sums         []*rlwe.Ciphertext
	tmp          ring.Poly

	failed     []bool
	attempt    uint32
	decryptors []uint16
	answered   []bool
	nAnswered  int
	ks         multiparty.KeySwitchProtocol
	ksAcc      []multiparty.KeySwitchShare
	pcks       multiparty.PublicKeySwitchProtocol
	pcksAcc    []multiparty.PublicKeySwitchShare

	// Verified rounds (nil digests otherwise): by party id-1, the upload's
	// digest and signature; by contributor index, the seeds and signed
	// fingerprints; spent marks nodes that already gave their one share.
	digests  [][32]byte
	sigs     [][]byte
	c1Bytes  []byte
	claimed  [32]byte
	aggr     [32]byte
	seeds    []byte
	gotSeed  []bool
	nSeeds   int
	rho      [32]byte
	fps      [][]byte
	nFps     int
	spent    []bool
	verified bool

	result *Result
	err    error
}

// NewAggregator prepares the aggregator's side of a round of the federation
// set up with cfg.
func NewAggregator(cfg SetupConfig, rc RoundConfig) (*Aggregator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	q, minC, err := rc.check(cfg.FederationID, cfg.Parties, cfg.Threshold)
	if err != nil {
		return nil, err
	}
	p := cfg.Params.p
	a := &Aggregator{
		cfg: cfg, rc: rc, p: p, q: q, minC: minC,
		chunks:      cfg.Params.Ciphertexts(rc.Dim, q.bits),
		ringQ:       p.rlwe.RingQ().AtLevel(p.level),
		participant: make([]bool, cfg.Parties),
		uploaded:    make([]bool, cfg.Parties),
		failed:      make([]bool, cfg.Parties),
	}
	a.rc.Participants = slices.Clone(rc.Participants)
	for _, id := range rc.Participants {
		a.participant[id-1] = true
	}
	if rc.Identities != nil {
		a.verified = true
		a.digests = make([][32]byte, cfg.Parties)
		a.sigs = make([][]byte, cfg.Parties)
		a.spent = make([]bool, cfg.Parties)
	}
	a.tmp = a.ringQ.NewPoly()
	a.sums = make([]*rlwe.Ciphertext, a.chunks)
	for c := range a.sums {
		ct := rlwe.NewCiphertext(p.rlwe, 1, p.level)
		ct.IsNTT = false
		a.sums[c] = ct
	}
	noise := ring.DiscreteGaussian{Sigma: errSigma, Bound: 6 * errSigma}
	if a.ks, err = multiparty.NewKeySwitchProtocol(p.rlwe, noise); err != nil {
		return nil, fmt.Errorf("mhe: key switch: %w", err)
	}
	if cfg.Recipient == RecipientNodes {
		if a.pcks, err = multiparty.NewPublicKeySwitchProtocol(p.rlwe, noise); err != nil {
			return nil, fmt.Errorf("mhe: public key switch: %w", err)
		}
	}
	return a, nil
}

func (a *Aggregator) abort(err error) error {
	if a.err == nil {
		a.err = &mpc.AbortError{Party: 0, Round: a.rc.Round, Err: err}
		a.sums, a.ksAcc, a.pcksAcc = nil, nil, nil
	}
	return a.err
}

// step handles a message from a node: an encrypted update during the upload
// phase (summed at once into the running aggregate; when every participant
// has uploaded, the uploads close by themselves) or a decryption share of
// the current attempt (shares of an abandoned attempt are ignored). A malformed or out-of-protocol message is rejected
// with an error wrapping mpc.ErrMalformed or mpc.ErrProtocol and leaves the
// state unchanged.
func (a *Aggregator) step(m Message) ([]Message, error) {
	if a.err != nil {
		return nil, a.err
	}
	h, body, err := parseHeader(m.Data)
	if err != nil {
		return nil, err
	}
	switch {
	case h.fed != a.rc.FederationID:
		return nil, violation("message for another federation")
	case h.round != a.rc.Round:
		return nil, violation("message for round %d in round %d", h.round, a.rc.Round)
	case int(h.from) != m.From || h.from == 0 || int(h.from) > a.cfg.Parties:
		return nil, violation("sender %d claims to be %d", m.From, h.from)
	case h.to != 0:
		return nil, violation("message for party %d delivered to the aggregator", h.to)
	}
	switch h.kind {
	case KindCiphertext:
		return a.onCiphertext(h.from, body)
	case KindDecryptShare:
		return a.onShare(h.from, h.attempt, body)
	case KindChallenge:
		if a.verified {
			return a.onChallenge(h.from, body)
		}
	case KindFingerprint:
		if a.verified {
			return a.onFingerprint(h.from, body)
		}
	}
	return nil, violation("aggregator got a %s message", h.kind)
}

// polysAt checks that body holds exactly count*per canonical polynomials.
func (a *Aggregator) validate(body []byte, count int) error {
	p := a.p
	if len(body) != count*p.qBytes {
		return malformed("%d bytes, want %d polynomials of %d", len(body), count, p.qBytes)
	}
	for i := range count {
		if err := p.readPolyQ(a.tmp, body[i*p.qBytes:(i+1)*p.qBytes]); err != nil {
			return err
		}
	}
	return nil
}

func (a *Aggregator) onCiphertext(from uint16, body []byte) ([]Message, error) {
	switch {
	case a.phase != phaseUpload:
		return nil, unexpected("ciphertext from party %d after the uploads closed", from)
	case !a.participant[from-1]:
		return nil, violation("ciphertext from non-participant %d", from)
	case a.uploaded[from-1]:
		return nil, unexpected("second ciphertext from party %d", from)
	}
	if a.verified {
		if len(body) != 2*a.chunks*a.p.qBytes+sigSize {
			return nil, malformed("signed ciphertext of %d bytes, want %d", len(body), 2*a.chunks*a.p.qBytes+sigSize)
		}
		polys, sig := body[:len(body)-sigSize], body[len(body)-sigSize:]
		d := [32]byte(derive(labelCiphertext, polys))
		if !ed25519.Verify(a.rc.Identities[from-1], ContributionMessage(a.rc.FederationID, a.rc.Round, a.rc.ModelVersion, d), sig) {
			return nil, refuse(ErrBadSignature, "ciphertext of party %d", from)
		}
		body = polys
		a.digests[from-1] = d
		a.sigs[from-1] = slices.Clone(sig)
	}
	if err := a.validate(body, 2*a.chunks); err != nil {
		return nil, err
	}
	p := a.p
	for c, ct := range a.sums {
		for j := range 2 {
			off := (2*c + j) * p.qBytes
			_ = p.readPolyQ(a.tmp, body[off:off+p.qBytes])
			a.ringQ.Add(ct.Value[j], a.tmp, ct.Value[j])
		}
	}
	a.uploaded[from-1] = true
	a.failed[from-1] = false
	a.contributors = append(a.contributors, from)
	if len(a.contributors) == len(a.rc.Participants) {
		return a.close()
	}
	return nil, nil
}

// closeUploads ends the upload phase (the driver calls it when the upload
// deadline passes) and returns the first decryption requests. It aborts with
// mpc.ErrTooFewParties when fewer than the minimum number of nodes uploaded.
func (a *Aggregator) closeUploads() ([]Message, error) {
	if a.err != nil {
		return nil, a.err
	}
	if a.phase != phaseUpload {
		return nil, fmt.Errorf("%w: uploads already closed", ErrState)
	}
	return a.close()
}

func (a *Aggregator) close() ([]Message, error) {
	a.phase = phaseDecrypt
	slices.Sort(a.contributors)
	if len(a.contributors) < a.minC {
		return nil, a.abort(fmt.Errorf("mhe: %d of %d participants uploaded, minimum %d: %w", len(a.contributors), len(a.rc.Participants), a.minC, mpc.ErrTooFewParties))
	}
	for _, ct := range a.sums {
		a.ringQ.NTT(ct.Value[0], ct.Value[0])
		a.ringQ.NTT(ct.Value[1], ct.Value[1])
		ct.IsNTT = true
	}
	if a.cfg.Recipient == RecipientNodes {
		a.pcksAcc = make([]multiparty.PublicKeySwitchShare, a.chunks)
		for c := range a.pcksAcc {
			a.pcksAcc[c] = a.pcks.AllocateShare(a.p.level)
		}
	} else {
		a.ksAcc = make([]multiparty.KeySwitchShare, a.chunks)
		for c := range a.ksAcc {
			a.ksAcc[c] = a.ks.AllocateShare(a.p.level)
		}
	}
	if a.verified {
		return a.announce()
	}
	return a.startAttempt()
}

// startAttempt picks the first t live contributors as the decryption set and
// sends them the aggregate's c1.
func (a *Aggregator) startAttempt() ([]Message, error) {
	t := a.cfg.Threshold
	if a.verified {
		// A node gives one share per round: whoever was asked in an
		// abandoned attempt may have answered already (its share, computed
		// for that decryption set, is useless now), so it is not asked again.
		for _, d := range a.decryptors {
			a.spent[d-1] = true
		}
	}
	live := make([]uint16, 0, len(a.contributors))
	for _, id := range a.contributors {
		if !a.failed[id-1] && (!a.verified || !a.spent[id-1]) {
			live = append(live, id)
		}
	}
	if len(live) < t {
		return nil, a.abort(fmt.Errorf("mhe: %d live decryptors, threshold %d: %w", len(live), t, mpc.ErrTooFewParties))
	}
	a.attempt++
	a.decryptors = live[:t]
	a.answered = make([]bool, t)
	a.nAnswered = 0
	for c := range a.chunks {
		if a.ksAcc != nil {
			a.ksAcc[c].Value.Zero()
		} else {
			a.pcksAcc[c].Value[0].Zero()
			a.pcksAcc[c].Value[1].Zero()
		}
	}
	p := a.p
	hdr := header{kind: KindDecryptRequest, to: broadcast, round: a.rc.Round, attempt: a.attempt, fed: a.rc.FederationID}
	data := appendHeader(make([]byte, 0, headerFixed+len(a.rc.FederationID)+4+2*len(a.contributors)+2*t+a.chunks*p.qBytes), hdr)
	if a.verified {
		data = appendIDs(data, a.decryptors)
		for _, fp := range a.fps {
			data = append(data, fp...)
		}
		data = append(data, a.c1Bytes...)
	} else {
		data = appendIDs(data, a.contributors)
		data = appendIDs(data, a.decryptors)
		for _, ct := range a.sums {
			data = p.appendPolyQ(data, ct.Value[1])
		}
	}
	out := make([]Message, t)
	for i, d := range a.decryptors {
		out[i] = Message{From: 0, To: int(d), Data: data}
	}
	return out, nil
}

// dropped tells the aggregator that node id stopped answering. If it was in
// the current decryption set before sending its share, a new attempt starts
// with the next live contributors (returned as new requests); the round
// aborts with mpc.ErrTooFewParties when fewer than t are left.
func (a *Aggregator) dropped(id int) ([]Message, error) {
	if a.err != nil {
		return nil, a.err
	}
	if id < 1 || id > a.cfg.Parties {
		return nil, fmt.Errorf("%w: party id %d outside 1..%d", ErrConfig, id, a.cfg.Parties)
	}
	a.failed[id-1] = true
	if a.phase == phaseChallenge || a.phase == phaseFingerprint {
		i, ok := slices.BinarySearch(a.contributors, uint16(id))
		if ok && a.fps[i] == nil {
			return nil, a.abort(fmt.Errorf("mhe: contributor %d left before the verification: %w", id, mpc.ErrTooFewParties))
		}
		return nil, nil
	}
	if a.phase != phaseDecrypt {
		return nil, nil
	}
	i := slices.Index(a.decryptors, uint16(id))
	if i < 0 || a.answered[i] {
		return nil, nil
	}
	return a.startAttempt()
}

func (a *Aggregator) onShare(from uint16, attempt uint32, body []byte) ([]Message, error) {
	if a.phase != phaseDecrypt {
		return nil, unexpected("decryption share from party %d outside the decryption phase", from)
	}
	if attempt < a.attempt {
		// A share of an abandoned attempt (its decryption set lost a member):
		// it cannot be combined with the current one's, so it is dropped.
		return nil, nil
	}
	if attempt != a.attempt {
		return nil, violation("decryption share for attempt %d, current %d", attempt, a.attempt)
	}
	i := slices.Index(a.decryptors, from)
	if i < 0 {
		return nil, violation("decryption share from party %d outside the decryption set", from)
	}
	if a.answered[i] {
		return nil, unexpected("second decryption share from party %d", from)
	}
	per := 1
	if a.pcksAcc != nil {
		per = 2
	}
	if err := a.validate(body, per*a.chunks); err != nil {
		return nil, err
	}
	p := a.p
	for c := range a.chunks {
		off := c * per * p.qBytes
		_ = p.readPolyQ(a.tmp, body[off:off+p.qBytes])
		if per == 1 {
			if err := a.ks.AggregateShares(a.ksAcc[c], multiparty.KeySwitchShare{Value: a.tmp}, &a.ksAcc[c]); err != nil {
				return nil, a.abort(err)
			}
			continue
		}
		a.ringQ.Add(a.pcksAcc[c].Value[0], a.tmp, a.pcksAcc[c].Value[0])
		_ = p.readPolyQ(a.tmp, body[off+p.qBytes:off+2*p.qBytes])
		a.ringQ.Add(a.pcksAcc[c].Value[1], a.tmp, a.pcksAcc[c].Value[1])
	}
	a.answered[i] = true
	a.nAnswered++
	if a.verified {
		a.spent[from-1] = true
	}
	if a.nAnswered < len(a.decryptors) {
		return nil, nil
	}
	return a.finish()
}

// finish combines the decryption shares.
func (a *Aggregator) finish() ([]Message, error) {
	p := a.p
	a.phase = phaseDone
	out := rlwe.NewCiphertext(p.rlwe, 1, p.level)
	if a.pcksAcc != nil {
		hdr := header{kind: KindResult, to: broadcast, round: a.rc.Round, fed: a.rc.FederationID}
		data := appendHeader(make([]byte, 0, headerFixed+len(a.rc.FederationID)+2+2*len(a.contributors)+a.chunks*2*p.qBytes), hdr)
		data = appendIDs(data, a.contributors)
		for c, ct := range a.sums {
			a.pcks.KeySwitch(ct, a.pcksAcc[c], out)
			data = p.appendPolyQ(data, out.Value[0])
			data = p.appendPolyQ(data, out.Value[1])
		}
		a.result = &Result{Frac: a.q.frac, Contributors: idsToInts(a.contributors)}
		a.audit(a.result)
		a.sums, a.pcksAcc = nil, nil
		msgs := make([]Message, 0, len(a.rc.Participants))
		for _, id := range a.rc.Participants {
			msgs = append(msgs, Message{From: 0, To: id, Data: data})
		}
		return msgs, nil
	}
	r := &Result{Frac: a.q.frac, Contributors: idsToInts(a.contributors)}
	r.Quantized = p.decryptChunks(a.rc.Dim, a.q, len(a.contributors), func(c int) ring.Poly {
		a.ks.KeySwitch(a.sums[c], a.ksAcc[c], out)
		a.ringQ.INTT(out.Value[0], out.Value[0])
		return out.Value[0]
	})
	finishResult(r)
	a.audit(r)
	a.result = r
	a.sums, a.ksAcc = nil, nil
	return nil, nil
}

// Result returns the round's result once the decryption has completed. When
// the nodes are the recipients it carries only the contributors.
func (a *Aggregator) Result() (Result, bool) {
	if a.result == nil {
		return Result{}, false
	}
	return *a.result, true
}

// Contributors returns the ids of the nodes whose ciphertexts are in the
// running sum.
func (a *Aggregator) Contributors() []int { return idsToInts(a.contributors) }

// Attempt returns the current decryption attempt (0 before the uploads
// close).
func (a *Aggregator) Attempt() uint32 { return a.attempt }
