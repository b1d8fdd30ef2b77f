package mhe

import (
	"crypto"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"sync"

	"github.com/tuneinsight/lattigo/v6/ring"

	"github.com/consort-ml/consort/mpc"
)

// Refusals of a verifying node (see "Verified decryption" in the package
// documentation). Each also wraps mpc.ErrProtocol.
var (
	// ErrAggregateMismatch: the aggregate a decryptor is asked to decrypt is
	// not the sum of the signed contributions it names (a substituted or
	// altered ciphertext).
	ErrAggregateMismatch = errors.New("mhe: aggregate is not the sum of the signed contributions")
	// ErrBadSignature: a contribution or fingerprint signature does not
	// verify under the contributor's identity key.
	ErrBadSignature = errors.New("mhe: contribution signature does not verify")
	// ErrTooFewContributors: the aggregate names fewer distinct contributors
	// than the round's minimum.
	ErrTooFewContributors = errors.New("mhe: too few contributors for a release")
	// ErrAlreadyDecrypted: the node already produced a decryption share for
	// this round or this model version.
	ErrAlreadyDecrypted = errors.New("mhe: already decrypted an aggregate of this round or model version")
)

// refuse wraps a refusal sentinel with mpc.ErrProtocol and context (sizes
// and party ids only).
func refuse(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %w", sentinel, fmt.Sprintf(format, args...), mpc.ErrProtocol)
}

// Decryption is what a verifying node must persist, durably and before its
// decryption share leaves the process, so that it never decrypts twice for
// the same round or model version, whatever the attempt number or round
// label the aggregator uses.
type Decryption struct {
	// FederationID, Round and ModelVersion identify the release.
	FederationID string
	Round        uint64
	ModelVersion [32]byte
	// Aggregate is the digest of the verified aggregate (the contributor set
	// and their contribution digests), as [Result.Aggregate].
	Aggregate [32]byte
}

// A Ledger records the decryptions of a node. Claim must fail with an error
// wrapping [ErrAlreadyDecrypted] when a decryption with the same federation
// and the same Round or the same ModelVersion was claimed before (by this
// process or, for a persistent ledger, any earlier one), and otherwise record
// d durably (atomic write and fsync) before returning nil. The node calls
// Claim after it has verified the aggregate and before it computes its
// share; an error refuses the share.
type Ledger interface {
	Claim(d Decryption) error
}

// MemoryLedger is an in-memory [Ledger] for tests and simulations, where no
// process restarts. It is safe for concurrent use.
type MemoryLedger struct {
	mu   sync.Mutex
	seen []Decryption
}

// Claim implements [Ledger].
func (l *MemoryLedger) Claim(d Decryption) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.seen {
		if s.FederationID == d.FederationID && (s.Round == d.Round || s.ModelVersion == d.ModelVersion) {
			return fmt.Errorf("%w: round %d", ErrAlreadyDecrypted, d.Round)
		}
	}
	l.seen = append(l.seen, d)
	return nil
}

// Contribution is one signed upload of a verified round, for the audit log.
type Contribution struct {
	// Party is the contributor's id.
	Party int
	// Digest is SHA-256 (domain-separated) of the ciphertext it uploaded.
	Digest [32]byte
	// Signature is its Ed25519 signature over [ContributionMessage].
	Signature []byte
}

// Labels of the verification.
const (
	labelCiphertext  = "consort/mhe/ciphertext-digest/v1"
	labelContribSig  = "consort/mhe/contribution-signature/v1"
	labelAggregate   = "consort/mhe/aggregate-digest/v1"
	labelClaimed     = "consort/mhe/claimed-c1-digest/v1"
	labelChallenge   = "consort/mhe/fingerprint-challenge/v1"
	labelFingerprint = "consort/mhe/fingerprint-signature/v1"
	labelVerifySeed  = "consort/mhe/verify-seed/v1"
	sigSize          = ed25519.SignatureSize
	seedSize         = 32
	// fpSecurity is the soundness, in bits, of one fingerprint check per
	// chunk: fpReps independent challenge vectors per prime give an error of
	// at most q_min^-fpReps <= 2^-fpSecurity.
	fpSecurity = 128
)

func u64(x uint64) []byte { return binary.LittleEndian.AppendUint64(nil, x) }

// ContributionMessage returns the bytes a contributor signs for its upload:
// a domain-separated hash of the federation, round, model version and
// ciphertext digest.
func ContributionMessage(fed string, round uint64, version, digest [32]byte) []byte {
	return derive(labelContribSig, []byte(fed), u64(round), version[:], digest[:])
}

// aggregateDigest binds the contributor set and their digests.
func aggregateDigest(fed string, round uint64, version [32]byte, contributors []uint16, digests [][32]byte) [32]byte {
	parts := [][]byte{[]byte(fed), u64(round), version[:], appendIDs(nil, contributors)}
	for _, d := range digests {
		parts = append(parts, d[:])
	}
	return [32]byte(derive(labelAggregate, parts...))
}

// challengeSeed is the joint challenge of a round: every contributor's
// fresh seed, drawn after the claimed aggregate was fixed.
func challengeSeed(fed string, round uint64, version, claimed, aggregate [32]byte, seeds []byte) [32]byte {
	return [32]byte(derive(labelChallenge, []byte(fed), u64(round), version[:], claimed[:], aggregate[:], seeds))
}

// fingerprintMessage is what a contributor signs for its fingerprints.
func fingerprintMessage(fed string, round uint64, version, rho, digest [32]byte, fp []byte) []byte {
	return derive(labelFingerprint, []byte(fed), u64(round), version[:], rho[:], digest[:], fp)
}

// fpReps is the number of independent challenge vectors per prime.
func (p *params) fpReps() int {
	minBits := 64
	for _, q := range p.lit.Q {
		minBits = min(minBits, bits.Len64(q)-1) // q >= 2^(Len-1)
	}
	return (fpSecurity + minBits - 1) / minBits
}

// fpBytes is the encoded size of the fingerprints of one contribution.
func (p *params) fpBytes(chunks int) int { return chunks * p.fpReps() * len(p.lit.Q) * 8 }

// challengeVectors expands rho into fpReps uniform vectors per prime of Q
// (rejection sampling on an AES-CTR stream, so each entry is exactly uniform
// modulo its prime): r[rep*L + k] has N entries modulo q_k.
func (p *params) challengeVectors(rho [32]byte) [][]uint64 {
	prng := newCTRPRNG(rho)
	L := len(p.lit.Q)
	reps := p.fpReps()
	out := make([][]uint64, reps*L)
	buf := make([]byte, 8*p.n)
	for rep := range reps {
		for k, q := range p.lit.Q {
			mask := uint64(1)<<bits.Len64(q) - 1
			v := make([]uint64, p.n)
			i := 0
			for i < p.n {
				_, _ = prng.Read(buf[:8*(p.n-i)])
				for j := 0; j+8 <= len(buf[:8*(p.n-i)]) && i < p.n; j += 8 {
					if x := binary.LittleEndian.Uint64(buf[j:]) & mask; x < q {
						v[i] = x
						i++
					}
				}
			}
			out[rep*L+k] = v
		}
	}
	return out
}

// fingerprint appends the fingerprints of the coefficient-domain
// polynomial x: for every repetition and prime, sum_j r[j] * x[j] mod q_k,
// little-endian (repetition-major). The products are summed exactly in 192
// bits and reduced once.
func (p *params) fingerprint(dst []byte, r [][]uint64, x ring.Poly) []byte {
	L := len(p.lit.Q)
	for rep := range p.fpReps() {
		for k, q := range p.lit.Q {
			rv, xv := r[rep*L+k][:p.n], x.Coeffs[k][:p.n]
			var lo, hi, top uint64
			for j, c := range xv {
				h, l := bits.Mul64(rv[j], c)
				var carry uint64
				lo, carry = bits.Add64(lo, l, 0)
				hi, carry = bits.Add64(hi, h, carry)
				top += carry
			}
			acc := bits.Rem64(0, top, q)
			acc = bits.Rem64(acc, hi, q)
			acc = bits.Rem64(acc, lo, q)
			dst = binary.LittleEndian.AppendUint64(dst, acc)
		}
	}
	return dst
}

// checkFingerprints checks that fp holds canonical residues.
func (p *params) checkFingerprints(fp []byte) error {
	L := len(p.lit.Q)
	for i := 0; i+8 <= len(fp); i += 8 {
		if binary.LittleEndian.Uint64(fp[i:]) >= p.lit.Q[(i/8)%L] {
			return malformed("fingerprint residue out of range")
		}
	}
	return nil
}

// addFingerprints adds src into acc modulo the primes (both canonical).
func (p *params) addFingerprints(acc []uint64, src []byte) {
	L := len(p.lit.Q)
	for i := range acc {
		q := p.lit.Q[i%L]
		s := acc[i] + binary.LittleEndian.Uint64(src[8*i:])
		if s >= q {
			s -= q
		}
		acc[i] = s
	}
}

// verifier holds a node's state for verified decryption.
type verifier struct {
	ids    []ed25519.PublicKey
	signer crypto.Signer
	ledger Ledger
	seeds  *ctrPRNG // fresh challenge seeds

	digest [32]byte    // digest of the node's own upload
	c1     []ring.Poly // the node's own c1, coefficient domain

	// From the aggregate announcement.
	announced    bool
	contributors []uint16
	digests      [][32]byte
	aggregate    [32]byte
	claimed      [32]byte
	seed         [32]byte
	// From the challenge set.
	rho       [32]byte
	haveRho   bool
	r         [][]uint64 // the challenge vectors expanded from rho
	decrypted *Decryption
}

func (v *verifier) sign(msg []byte) ([]byte, error) {
	sig, err := v.signer.Sign(nil, msg, crypto.Hash(0))
	if err != nil || len(sig) != sigSize {
		return nil, fmt.Errorf("%w: signing failed", ErrConfig)
	}
	return sig, nil
}

// checkContributions verifies the signed contribution list of an
// aggregate: distinct participants, at least minC, every signature valid.
func checkContributions(rc *RoundConfig, minC int, contributors []uint16, digests [][32]byte, sigs [][]byte) error {
	for _, c := range contributors {
		if !containsID(rc.Participants, c) {
			return refuse(ErrTooFewContributors, "contributor %d is not a participant", c)
		}
	}
	if len(contributors) < minC {
		return refuse(ErrTooFewContributors, "%d contributors, minimum %d", len(contributors), minC)
	}
	for i, c := range contributors {
		if !ed25519.Verify(rc.Identities[c-1], ContributionMessage(rc.FederationID, rc.Round, rc.ModelVersion, digests[i]), sigs[i]) {
			return refuse(ErrBadSignature, "contribution of party %d", c)
		}
	}
	return nil
}

func containsID(ids []int, id uint16) bool {
	for _, x := range ids {
		if x == int(id) {
			return true
		}
	}
	return false
}

// onAggregate handles the announcement of a verified round's aggregate: the
// contributor set, their signed digests and the digest of the claimed c1.
// The node checks the contributions and answers with a fresh challenge seed.
// It accepts one announcement per round.
func (nd *Node) onAggregate(body []byte) ([]Message, error) {
	v := nd.v
	if v.announced {
		return nil, nd.abort(refuse(ErrAlreadyDecrypted, "second aggregate announced in round %d", nd.rc.Round))
	}
	contributors, rest, err := readIDs(body, nd.km.n)
	if err != nil {
		return nil, err
	}
	nc := len(contributors)
	if len(rest) != nc*(32+sigSize)+32 {
		return nil, malformed("aggregate of %d contributors with %d bytes", nc, len(rest))
	}
	digests := make([][32]byte, nc)
	sigs := make([][]byte, nc)
	for i := range contributors {
		off := i * (32 + sigSize)
		digests[i] = [32]byte(rest[off : off+32])
		sigs[i] = rest[off+32 : off+32+sigSize]
	}
	self := -1
	for i, c := range contributors {
		if c == nd.km.id {
			self = i
		}
	}
	switch {
	case self < 0:
		return nil, violation("aggregate announced to party %d, which it does not name", nd.km.id)
	case !nd.uploaded:
		return nil, nd.abort(refuse(ErrAggregateMismatch, "aggregate names party %d, which did not upload", nd.km.id))
	case digests[self] != v.digest:
		return nil, nd.abort(refuse(ErrAggregateMismatch, "aggregate names another contribution of party %d", nd.km.id))
	}
	if err := checkContributions(&nd.rc, nd.minC, contributors, digests, sigs); err != nil {
		return nil, nd.abort(err)
	}
	v.announced = true
	v.contributors = contributors
	v.digests = digests
	v.aggregate = aggregateDigest(nd.rc.FederationID, nd.rc.Round, nd.rc.ModelVersion, contributors, digests)
	v.claimed = [32]byte(rest[nc*(32+sigSize):])
	_, _ = v.seeds.Read(v.seed[:])
	data := append(appendHeader(nil, nd.header(KindChallenge, 0)), v.seed[:]...)
	return []Message{{From: int(nd.km.id), To: 0, Data: data}}, nil
}

// onChallengeSet handles every contributor's challenge seed: the node checks
// its own is there, derives the joint challenge and answers with the signed
// fingerprints of its c1.
func (nd *Node) onChallengeSet(body []byte) ([]Message, error) {
	v := nd.v
	if !v.announced || v.haveRho {
		return nil, violation("challenge set out of order")
	}
	if len(body) != len(v.contributors)*seedSize {
		return nil, malformed("challenge set of %d bytes for %d contributors", len(body), len(v.contributors))
	}
	for i, c := range v.contributors {
		if c == nd.km.id && [32]byte(body[i*seedSize:(i+1)*seedSize]) != v.seed {
			return nil, nd.abort(refuse(ErrAggregateMismatch, "challenge set without this party's challenge"))
		}
	}
	p := nd.p
	v.rho = challengeSeed(nd.rc.FederationID, nd.rc.Round, nd.rc.ModelVersion, v.claimed, v.aggregate, body)
	v.haveRho = true
	v.r = p.challengeVectors(v.rho)
	r := v.r
	fp := make([]byte, 0, p.fpBytes(nd.chunks))
	for _, c1 := range v.c1 {
		fp = p.fingerprint(fp, r, c1)
	}
	sig, err := v.sign(fingerprintMessage(nd.rc.FederationID, nd.rc.Round, nd.rc.ModelVersion, v.rho, v.digest, fp))
	if err != nil {
		return nil, err
	}
	data := appendHeader(make([]byte, 0, headerFixed+len(nd.rc.FederationID)+len(fp)+sigSize), nd.header(KindFingerprint, 0))
	data = append(append(data, fp...), sig...)
	return []Message{{From: int(nd.km.id), To: 0, Data: data}}, nil
}

// decodeVerifiedRequest splits a verified decryption request:
// decryptors | per contributor: fingerprints | signature | per chunk: c1.
func (p *params) decodeVerifiedRequest(body []byte, n, contributors, chunks int) (decryptors []uint16, fps, c1 []byte, err error) {
	decryptors, rest, err := readIDs(body, n)
	if err != nil {
		return nil, nil, nil, err
	}
	fl := contributors * (p.fpBytes(chunks) + sigSize)
	if len(rest) != fl+chunks*p.qBytes {
		return nil, nil, nil, malformed("verified decryption request with %d bytes, want %d", len(rest), fl+chunks*p.qBytes)
	}
	return decryptors, rest[:fl], rest[fl:], nil
}

// onVerifiedRequest checks the claimed aggregate against the signed
// fingerprints of every contributor and, if it is their sum and the node
// has not decrypted in this round or model version, claims the decryption
// in the ledger and returns the share.
func (nd *Node) onVerifiedRequest(attempt uint32, body []byte) ([]Message, error) {
	v := nd.v
	p := nd.p
	if v.decrypted != nil {
		return nil, refuse(ErrAlreadyDecrypted, "decryption attempt %d after a share in round %d", attempt, nd.rc.Round)
	}
	if !v.haveRho {
		return nil, violation("decryption request before the verification")
	}
	decryptors, fps, c1b, err := p.decodeVerifiedRequest(body, nd.km.n, len(v.contributors), nd.chunks)
	if err != nil {
		return nil, err
	}
	self := false
	for _, d := range decryptors {
		if !slices.Contains(v.contributors, d) {
			return nil, nd.abort(violation("decryptor %d is not a contributor", d))
		}
		self = self || d == nd.km.id
	}
	if len(decryptors) != nd.km.t || !self {
		return nil, nd.abort(violation("decryption set of %d without this party (threshold %d)", len(decryptors), nd.km.t))
	}
	if [32]byte(derive(labelClaimed, c1b)) != v.claimed {
		return nil, nd.abort(refuse(ErrAggregateMismatch, "the aggregate differs from the one announced"))
	}
	fl := p.fpBytes(nd.chunks)
	sum := make([]uint64, fl/8)
	for i, c := range v.contributors {
		off := i * (fl + sigSize)
		fp, sig := fps[off:off+fl], fps[off+fl:off+fl+sigSize]
		if err := p.checkFingerprints(fp); err != nil {
			return nil, err
		}
		if !ed25519.Verify(v.ids[c-1], fingerprintMessage(nd.rc.FederationID, nd.rc.Round, nd.rc.ModelVersion, v.rho, v.digests[i], fp), sig) {
			return nil, nd.abort(refuse(ErrBadSignature, "fingerprints of party %d", c))
		}
		p.addFingerprints(sum, fp)
	}
	ringQ := p.rlwe.RingQ().AtLevel(p.level)
	c1s := make([]ring.Poly, nd.chunks)
	coeff := ringQ.NewPoly()
	r := v.r
	got := make([]byte, 0, fl)
	for c := range c1s {
		c1s[c] = ringQ.NewPoly()
		if err := p.readPolyQ(c1s[c], c1b[c*p.qBytes:(c+1)*p.qBytes]); err != nil {
			return nil, err
		}
		ringQ.INTT(c1s[c], coeff)
		got = p.fingerprint(got, r, coeff)
	}
	for i, s := range sum {
		if binary.LittleEndian.Uint64(got[8*i:]) != s {
			return nil, nd.abort(refuse(ErrAggregateMismatch, "fingerprint check failed in round %d", nd.rc.Round))
		}
	}
	d := Decryption{FederationID: nd.rc.FederationID, Round: nd.rc.Round, ModelVersion: nd.rc.ModelVersion, Aggregate: v.aggregate}
	if v.ledger != nil {
		if err := v.ledger.Claim(d); err != nil {
			return nil, nd.abort(fmt.Errorf("%w: %w", err, mpc.ErrProtocol))
		}
	}
	v.decrypted = &d
	v.r, v.c1 = nil, nil
	return nd.share(attempt, decryptors, c1s)
}

// Decryption returns, in a verified round, the decryption the node has
// claimed once it has produced its share (what its [Ledger] recorded).
func (nd *Node) Decryption() (Decryption, bool) {
	if nd.v == nil || nd.v.decrypted == nil {
		return Decryption{}, false
	}
	return *nd.v.decrypted, true
}

// ContributionDigest returns, in a verified round, the digest of the
// node's upload once it has uploaded (what it signed, for its audit log).
func (nd *Node) ContributionDigest() ([32]byte, bool) {
	if nd.v == nil || !nd.uploaded {
		return [32]byte{}, false
	}
	return nd.v.digest, true
}

// announce starts the verification of a closed aggregate: it packs the
// claimed c1 polynomials once (every decryption request carries them) and
// sends every contributor the contributor set, the signed digests and the
// digest of the claimed c1.
func (a *Aggregator) announce() ([]Message, error) {
	p := a.p
	a.c1Bytes = make([]byte, 0, a.chunks*p.qBytes)
	for _, ct := range a.sums {
		a.c1Bytes = p.appendPolyQ(a.c1Bytes, ct.Value[1])
	}
	a.claimed = [32]byte(derive(labelClaimed, a.c1Bytes))
	nc := len(a.contributors)
	digests := make([][32]byte, nc)
	for i, c := range a.contributors {
		digests[i] = a.digests[c-1]
	}
	a.aggr = aggregateDigest(a.rc.FederationID, a.rc.Round, a.rc.ModelVersion, a.contributors, digests)
	a.seeds = make([]byte, nc*seedSize)
	a.gotSeed = make([]bool, nc)
	a.fps = make([][]byte, nc)
	hdr := header{kind: KindAggregate, to: broadcast, round: a.rc.Round, fed: a.rc.FederationID}
	data := appendHeader(make([]byte, 0, headerFixed+len(a.rc.FederationID)+2+nc*(2+32+sigSize)+32), hdr)
	data = appendIDs(data, a.contributors)
	for _, c := range a.contributors {
		data = append(data, a.digests[c-1][:]...)
		data = append(data, a.sigs[c-1]...)
	}
	data = append(data, a.claimed[:]...)
	a.phase = phaseChallenge
	out := make([]Message, nc)
	for i, c := range a.contributors {
		out[i] = Message{From: 0, To: int(c), Data: data}
	}
	return out, nil
}

// contributorIndex returns the position of id among the contributors.
func (a *Aggregator) contributorIndex(id uint16) (int, bool) {
	return slices.BinarySearch(a.contributors, id)
}

func (a *Aggregator) onChallenge(from uint16, body []byte) ([]Message, error) {
	i, ok := a.contributorIndex(from)
	switch {
	case a.phase != phaseChallenge:
		return nil, violation("challenge from party %d outside the challenge phase", from)
	case !ok || a.gotSeed[i]:
		return nil, violation("unexpected challenge from party %d", from)
	case len(body) != seedSize:
		return nil, malformed("challenge of %d bytes", len(body))
	}
	copy(a.seeds[i*seedSize:], body)
	a.gotSeed[i] = true
	a.nSeeds++
	if a.nSeeds < len(a.contributors) {
		return nil, nil
	}
	a.rho = challengeSeed(a.rc.FederationID, a.rc.Round, a.rc.ModelVersion, a.claimed, a.aggr, a.seeds)
	a.phase = phaseFingerprint
	hdr := header{kind: KindChallengeSet, to: broadcast, round: a.rc.Round, fed: a.rc.FederationID}
	data := append(appendHeader(nil, hdr), a.seeds...)
	out := make([]Message, len(a.contributors))
	for j, c := range a.contributors {
		out[j] = Message{From: 0, To: int(c), Data: data}
	}
	return out, nil
}

func (a *Aggregator) onFingerprint(from uint16, body []byte) ([]Message, error) {
	p := a.p
	fl := p.fpBytes(a.chunks)
	i, ok := a.contributorIndex(from)
	switch {
	case a.phase != phaseFingerprint:
		return nil, violation("fingerprint from party %d outside the fingerprint phase", from)
	case !ok || a.fps[i] != nil:
		return nil, violation("unexpected fingerprint from party %d", from)
	case len(body) != fl+sigSize:
		return nil, malformed("fingerprint of %d bytes, want %d", len(body), fl+sigSize)
	}
	if err := p.checkFingerprints(body[:fl]); err != nil {
		return nil, err
	}
	if !ed25519.Verify(a.rc.Identities[from-1], fingerprintMessage(a.rc.FederationID, a.rc.Round, a.rc.ModelVersion, a.rho, a.digests[from-1], body[:fl]), body[fl:]) {
		return nil, refuse(ErrBadSignature, "fingerprints of party %d", from)
	}
	a.fps[i] = slices.Clone(body)
	a.nFps++
	if a.nFps < len(a.contributors) {
		return nil, nil
	}
	a.phase = phaseDecrypt
	return a.startAttempt()
}

// audit fills the verified round's contribution digests into r.
func (a *Aggregator) audit(r *Result) {
	if !a.verified {
		return
	}
	r.Aggregate = a.aggr
	r.Contributions = make([]Contribution, len(a.contributors))
	for i, c := range a.contributors {
		r.Contributions[i] = Contribution{Party: int(c), Digest: a.digests[c-1], Signature: slices.Clone(a.sigs[c-1])}
	}
}
