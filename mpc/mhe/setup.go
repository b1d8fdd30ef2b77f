package mhe

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/tuneinsight/lattigo/v6/core/rlwe"
	"github.com/tuneinsight/lattigo/v6/multiparty"
	"github.com/tuneinsight/lattigo/v6/ring/ringqp"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/consort-ml/consort/mpc"
)

// SetupConfig describes a federation's key setup. Every node and the
// aggregator use the same values (they come from the signed manifest).
type SetupConfig struct {
	// Params is the parameter set.
	Params Params
	// FederationID binds every key and message (at most 255 bytes).
	FederationID string
	// Parties is the number of nodes n; their ids are 1..n.
	Parties int
	// Threshold is the number t of nodes needed to decrypt (1 <= t <= n).
	// Any t-1 nodes, together with the aggregator, learn nothing.
	Threshold int
	// CRS is the public seed of the common reference polynomial of the
	// collective public key, fixed in the federation manifest.
	CRS [32]byte
	// Recipient says who learns the aggregates (default: the aggregator).
	Recipient Recipient
	// Identities optionally lists the nodes' Ed25519 identity keys
	// (Identities[i-1] is node i's). When set, announcements are signed and
	// checked, so an aggregator that relays them cannot substitute its own
	// key-agreement keys. When nil, announcements must travel over
	// authenticated channels.
	Identities []ed25519.PublicKey
}

// Validate checks the configuration; errors wrap [ErrConfig].
func (c SetupConfig) Validate() error {
	switch {
	case c.Params.p == nil:
		return fmt.Errorf("%w: zero Params", ErrConfig)
	case len(c.FederationID) > maxFederationID:
		return fmt.Errorf("%w: federation id of %d bytes (max %d)", ErrConfig, len(c.FederationID), maxFederationID)
	case c.Parties < 1 || c.Parties > c.Params.MaxParties():
		return fmt.Errorf("%w: %d parties, parameter set %s supports 1..%d", ErrConfig, c.Parties, c.Params.Name(), c.Params.MaxParties())
	case c.Threshold < 1 || c.Threshold > c.Parties:
		return fmt.Errorf("%w: threshold %d of %d parties", ErrConfig, c.Threshold, c.Parties)
	case c.Recipient > RecipientNodes:
		return fmt.Errorf("%w: unknown recipient %d", ErrConfig, c.Recipient)
	case c.Identities != nil && len(c.Identities) != c.Parties:
		return fmt.Errorf("%w: %d identities for %d parties", ErrConfig, len(c.Identities), c.Parties)
	}
	for i, k := range c.Identities {
		if len(k) != ed25519.PublicKeySize {
			return fmt.Errorf("%w: identity of party %d has %d bytes", ErrConfig, i+1, len(k))
		}
	}
	return nil
}

// announceSize is the body of an announcement without and with a signature.
const (
	dhSize           = 32
	commitSize       = 32
	announceSize     = dhSize + commitSize
	announceSigned   = announceSize + ed25519.SignatureSize
	contributionSize = 32
)

// labelKeyCommit separates the commitments to key-generation shares.
const labelKeyCommit = "consort/mhe/key-share-commitment/v1"

// SetupNode is one node's side of the federation key setup, a pure state
// machine:
//
//	out, err := s.Start()          // announcement and public-key share
//	out, err = s.Step(msg)         // announcements, Shamir shares, the public key
//	km, ok := s.KeyMaterial()      // when the setup is complete
//
// All the node's randomness (secret key, key-generation error, Shamir
// coefficients, X25519 key, result-key contribution) is expanded from 32
// bytes read from the injected reader, so a setup is reproducible from its
// readers.
type SetupNode struct {
	cfg    SetupConfig
	p      *params
	id     uint16
	signer crypto.Signer
	rand   io.Reader

	started  bool
	dh       *ecdh.PrivateKey
	peers    [][]byte // X25519 public keys by id-1
	nPeers   int
	sk       *rlwe.SecretKey
	thr      multiparty.Thresholdizer
	sent     bool
	tsk      multiparty.ShamirSecretShare
	got      []bool
	nGot     int
	pending  map[uint16][]byte // sealed shares that arrived before the sender's announcement
	contribs [][contributionSize]byte
	keyShare []byte     // own public-key share, packed, sent once every commitment is in
	commits  [][32]byte // commitments to the public-key shares, by id-1
	pkBody   []byte     // the aggregator's public-key message, until every commitment is in
	pk0      ringqp.Poly
	havePK   bool
	km       *KeyMaterial
	err      error
}

// NewSetupNode returns the setup state machine of node id (1..n). signer is
// the node's Ed25519 identity key (an ed25519.PrivateKey or any crypto.Signer
// holding one, such as a key kept by the transport layer) when
// cfg.Identities is set, nil otherwise; rand must be a cryptographically
// secure reader.
func NewSetupNode(cfg SetupConfig, id int, signer crypto.Signer, rand io.Reader) (*SetupNode, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if id < 1 || id > cfg.Parties {
		return nil, fmt.Errorf("%w: party id %d outside 1..%d", ErrConfig, id, cfg.Parties)
	}
	if cfg.Identities != nil {
		if signer == nil {
			return nil, fmt.Errorf("%w: identities are set but there is no signing key", ErrConfig)
		}
		pub, ok := signer.Public().(ed25519.PublicKey)
		if !ok || !cfg.Identities[id-1].Equal(pub) {
			return nil, fmt.Errorf("%w: signing key does not match identity of party %d", ErrConfig, id)
		}
	}
	if rand == nil {
		return nil, fmt.Errorf("%w: nil random source", ErrConfig)
	}
	return &SetupNode{
		cfg:      cfg,
		p:        cfg.Params.p,
		id:       uint16(id),
		signer:   signer,
		rand:     rand,
		peers:    make([][]byte, cfg.Parties),
		got:      make([]bool, cfg.Parties),
		pending:  make(map[uint16][]byte),
		contribs: make([][contributionSize]byte, cfg.Parties),
		commits:  make([][32]byte, cfg.Parties),
	}, nil
}

func (s *SetupNode) abort(err error) error {
	if s.err == nil {
		s.err = &mpc.AbortError{Party: int(s.id), Round: 0, Err: err}
		s.clearSecrets()
	}
	return s.err
}

// clearSecrets overwrites the secret key.
func (s *SetupNode) clearSecrets() {
	if s.sk != nil {
		zeroQP(s.sk.Value)
		s.sk = nil
	}

}

func zeroQP(p ringqp.Poly) {
	for _, c := range p.Q.Coeffs {
		clear(c)
	}
	for _, c := range p.P.Coeffs {
		clear(c)
	}
}

// header returns a setup message header from this node.
func (s *SetupNode) header(kind Kind, to uint16) header {
	return header{kind: kind, from: s.id, to: to, fed: s.cfg.FederationID}
}

// start draws the node's keys and returns its announcement (one message per
// other node, sharing one Data) and its public-key share for the aggregator.
func (s *SetupNode) start() ([]Message, error) {
	if s.err != nil {
		return nil, s.err
	}
	if s.started {
		return nil, fmt.Errorf("%w: setup already started", ErrState)
	}
	s.started = true
	p := s.p
	// Everything the node draws comes from one seed read from the injected
	// reader, expanded per use.
	var seed [keySeedSize]byte
	if _, err := io.ReadFull(s.rand, seed[:]); err != nil {
		return nil, s.abort(fmt.Errorf("mhe: reading randomness: %w", err))
	}
	defer clear(seed[:])
	copy(s.contribs[s.id-1][:], derive(labelContribution, seed[:]))
	dhKey := derive(labelDH, seed[:])
	dh, err := ecdh.X25519().NewPrivateKey(dhKey)
	clear(dhKey)
	if err != nil {
		return nil, s.abort(fmt.Errorf("mhe: X25519 key: %w", err))
	}
	s.dh = dh
	s.peers[s.id-1] = dh.PublicKey().Bytes()
	s.nPeers = 1
	s.sk = p.secretKeyFromSeed(derive(labelSecret, seed[:]))

	// Share of the collective public key: -a*s_i + e_i with a from the CRS
	// (as multiparty.PublicKeyGenProtocol.GenShare, with our randomness).
	share := p.keyShare(s.sk, p.crp(s.cfg.FederationID, s.cfg.CRS), derive(labelKeyShare, seed[:]))
	s.keyShare = p.appendPolyQP(nil, share.Value)
	zeroQP(share.Value)
	s.commits[s.id-1] = s.commitment(s.id, s.keyShare)

	// Shamir polynomial of degree t-1 with constant term s_i and uniform
	// other coefficients (multiparty.Thresholdizer evaluates it).
	s.thr = multiparty.NewThresholdizer(p.rlwe)
	s.tsk = s.thr.AllocateThresholdSecretShare()
	if s.additive() {
		// t = n: every node's secret is its additive share of s; nothing is
		// Shamir-shared.
		s.tsk.Poly.Copy(s.sk.Value)
	}
	// Otherwise the Shamir polynomial is fixed once every X25519 key is in
	// (maybeSendShares): its values at t-1 peers come from the pairwise keys.
	s.got[s.id-1] = true
	s.nGot = 1

	body := append(append([]byte(nil), s.peers[s.id-1]...), s.commits[s.id-1][:]...)
	if s.cfg.Identities != nil {
		sig, err := s.signer.Sign(nil, s.announceDigest(s.id, body), crypto.Hash(0))
		if err != nil || len(sig) != ed25519.SignatureSize {
			return nil, fmt.Errorf("%w: signing the announcement failed", ErrConfig)
		}
		body = append(body, sig...)
	}
	ann := append(appendHeader(nil, s.header(KindAnnounce, broadcast)), body...)
	out := make([]Message, 0, s.cfg.Parties)
	for j := 1; j <= s.cfg.Parties; j++ {
		if j != int(s.id) {
			out = append(out, Message{From: int(s.id), To: j, Data: ann})
		}
	}
	more, err := s.maybeSendShares()
	if err != nil {
		return nil, err
	}
	return append(out, more...), nil
}

// announceDigest is what an announcement's signature covers: the X25519 key
// and the commitment to the public-key share.
func (s *SetupNode) announceDigest(id uint16, body []byte) []byte {
	var idb [2]byte
	binary.LittleEndian.PutUint16(idb[:], id)
	return derive(labelAnnounce, []byte(s.cfg.FederationID), s.cfg.CRS[:], idb[:], body)
}

// commitment is node id's commitment to its packed public-key share.
func (s *SetupNode) commitment(id uint16, share []byte) [32]byte {
	var idb [2]byte
	binary.LittleEndian.PutUint16(idb[:], id)
	return [32]byte(derive(labelKeyCommit, []byte(s.cfg.FederationID), s.cfg.CRS[:], idb[:], share))
}

// sharedSecret is the X25519 agreement with peer.
func (s *SetupNode) sharedSecret(peer []byte) ([]byte, error) {
	pub, err := ecdh.X25519().NewPublicKey(peer)
	if err != nil {
		return nil, err
	}
	return s.dh.ECDH(pub)
}

// pairKey derives the ChaCha20-Poly1305 key for the Shamir share from -> to.
func (s *SetupNode) pairKey(peer []byte, from, to uint16) ([]byte, error) {
	ss, err := s.sharedSecret(peer)
	if err != nil {
		return nil, err
	}
	defer clear(ss)
	var ids [4]byte
	binary.LittleEndian.PutUint16(ids[:], from)
	binary.LittleEndian.PutUint16(ids[2:], to)
	info := string(derive(labelShare, []byte(s.cfg.FederationID), s.cfg.CRS[:], ids[:]))
	return hkdf.Key(sha256.New, ss, nil, info, chacha20poly1305.KeySize)
}

// additive reports whether the federation needs every node to decrypt (t =
// n): then the secret keys are additive shares of s and the sealed
// node-to-node messages carry only the result-key contribution.
func (s *SetupNode) additive() bool { return s.cfg.Threshold == s.cfg.Parties }

// seeded reports whether the Shamir share from -> to is pseudo-random from
// their pairwise key rather than sent: true for the t-1 lowest ids other
// than from (pseudo-random secret sharing: those t-1 values and f(0) = s_from
// fix the polynomial of degree t-1; the other n-t shares are interpolated
// and sent).
func (s *SetupNode) seeded(from, to uint16) bool {
	if s.additive() || from == to {
		return false
	}
	rank := int(to)
	if from < to {
		rank--
	}
	return rank <= s.cfg.Threshold-1
}

// shareBodySize is the size of a sealed message from -> to: a Shamir share
// and the result-key contribution, or the contribution alone when the share
// is seeded (or t = n).
func (s *SetupNode) shareBodySize(from, to uint16) int {
	if s.additive() || s.seeded(from, to) {
		return contributionSize + chacha20poly1305.Overhead
	}
	return s.p.qpBytes() + contributionSize + chacha20poly1305.Overhead
}

// seededShare expands the Shamir share from -> to that both derive from
// their X25519 agreement (a uniform polynomial mod QP).
func (s *SetupNode) seededShare(peer []byte, from, to uint16, dst ringqp.Poly) error {
	ss, err := s.sharedSecret(peer)
	if err != nil {
		return err
	}
	defer clear(ss)
	var ids [4]byte
	binary.LittleEndian.PutUint16(ids[:], from)
	binary.LittleEndian.PutUint16(ids[2:], to)
	info := string(derive(labelSeededShare, []byte(s.cfg.FederationID), s.cfg.CRS[:], ids[:]))
	seed, err := hkdf.Key(sha256.New, ss, nil, info, 32)
	if err != nil {
		return err
	}
	defer clear(seed)
	ringqp.NewUniformSampler(keyedPRNG(seed), *s.p.rlwe.RingQP()).Read(dst)
	return nil
}

// shamirShares fixes the node's Shamir polynomial f of degree t-1 through
// (0, s_i) and the t-1 seeded values, and returns f evaluated at every
// other non-seeded id and at the node's own id (by Lagrange interpolation
// modulo every prime of QP), indexed by id-1; seeded ids are left empty.
func (s *SetupNode) shamirShares() ([]ringqp.Poly, error) {
	p := s.p
	rqp := p.rlwe.RingQP()
	xs := []uint64{0}
	ys := []ringqp.Poly{s.sk.Value}
	for j := uint16(1); int(j) <= s.cfg.Parties; j++ {
		if !s.seeded(s.id, j) {
			continue
		}
		y := rqp.NewPoly()
		if err := s.seededShare(s.peers[j-1], s.id, j, y); err != nil {
			return nil, err
		}
		xs, ys = append(xs, uint64(j)), append(ys, y)
	}
	out := make([]ringqp.Poly, s.cfg.Parties)
	for j := uint16(1); int(j) <= s.cfg.Parties; j++ {
		if s.seeded(s.id, j) {
			continue
		}
		out[j-1] = rqp.NewPoly()
		p.lagrangeAt(out[j-1], xs, ys, uint64(j))
	}
	for _, y := range ys[1:] {
		zeroQP(y)
	}
	return out, nil
}

// maybeSendShares sends the Shamir shares once every announcement is in.
func (s *SetupNode) maybeSendShares() ([]Message, error) {
	if s.sent || !s.started || s.nPeers < s.cfg.Parties {
		return nil, nil
	}
	s.sent = true
	p := s.p
	out := make([]Message, 0, s.cfg.Parties)
	// Every node has committed to its public-key share: ours can go now
	// (no share can be chosen after seeing it).
	out = append(out, Message{From: int(s.id), To: 0, Data: append(appendHeader(nil, s.header(KindKeyShare, 0)), s.keyShare...)})
	clear(s.keyShare)
	s.keyShare = nil
	var shares []ringqp.Poly
	if !s.additive() {
		var err error
		if shares, err = s.shamirShares(); err != nil {
			return nil, s.abort(violation("key agreement failed"))
		}
		s.tsk.Poly.Copy(shares[s.id-1])
	}
	plain := make([]byte, 0, p.qpBytes()+contributionSize)
	var nonce [chacha20poly1305.NonceSize]byte // each key seals one message
	for j := 1; j <= s.cfg.Parties; j++ {
		if j == int(s.id) {
			continue
		}
		key, err := s.pairKey(s.peers[j-1], s.id, uint16(j))
		if err != nil {
			return nil, s.abort(violation("key agreement with party %d failed", j))
		}
		aead, err := chacha20poly1305.New(key)
		if err != nil {
			return nil, s.abort(err)
		}
		plain = plain[:0]
		if shares != nil && !s.seeded(s.id, uint16(j)) {
			plain = p.appendPolyQP(plain, shares[j-1])
		}
		plain = append(plain, s.contribs[s.id-1][:]...)
		hdr := appendHeader(nil, s.header(KindShamirShare, uint16(j)))
		data := aead.Seal(hdr, nonce[:], plain, hdr)
		out = append(out, Message{From: int(s.id), To: j, Data: data})
		clear(key)
	}
	clear(plain[:cap(plain)])
	for _, sh := range shares {
		if sh.Q.Coeffs != nil {
			zeroQP(sh)
		}
	}
	// The polynomial and the secret key are no longer needed.
	s.clearSecrets()
	for from, sealed := range s.pending {
		delete(s.pending, from)
		if err := s.openShare(from, sealed); err != nil {
			return out, err
		}
	}
	return out, s.maybeFinish()
}

// step handles one message addressed to the node and returns the messages
// to send. A message that is malformed or breaks the protocol is rejected
// with an error wrapping mpc.ErrMalformed or mpc.ErrProtocol; a failed key
// agreement or share decryption aborts the setup (*mpc.AbortError).
func (s *SetupNode) step(m Message) ([]Message, error) {
	if s.err != nil {
		return nil, s.err
	}
	h, body, err := parseHeader(m.Data)
	if err != nil {
		return nil, err
	}
	if err := s.checkHeader(h, m); err != nil {
		return nil, err
	}
	switch h.kind {
	case KindAnnounce:
		return s.onAnnounce(h.from, body)
	case KindShamirShare:
		return s.onShare(h.from, m.Data)
	case KindPublicKey:
		return s.onPublicKey(h.from, body)
	}
	return nil, violation("setup node got a %s message", h.kind)
}

func (s *SetupNode) checkHeader(h header, m Message) error {
	switch {
	case h.fed != s.cfg.FederationID:
		return violation("message for another federation")
	case h.round != 0 || h.attempt != 0:
		return violation("setup message with round %d attempt %d", h.round, h.attempt)
	case int(h.from) != m.From:
		return violation("sender %d claims to be %d", m.From, h.from)
	case h.to != s.id && h.to != broadcast:
		return violation("message for party %d delivered to %d", h.to, s.id)
	}
	return nil
}

func (s *SetupNode) checkPeer(from uint16) error {
	if from == 0 || int(from) > s.cfg.Parties || from == s.id {
		return violation("unexpected sender %d", from)
	}
	return nil
}

func (s *SetupNode) onAnnounce(from uint16, body []byte) ([]Message, error) {
	if err := s.checkPeer(from); err != nil {
		return nil, err
	}
	want := announceSize
	if s.cfg.Identities != nil {
		want = announceSigned
	}
	if len(body) != want {
		return nil, malformed("announcement of %d bytes, want %d", len(body), want)
	}
	if s.peers[from-1] != nil {
		return nil, unexpected("second announcement from party %d", from)
	}
	pub := body[:dhSize]
	if s.cfg.Identities != nil && !ed25519.Verify(s.cfg.Identities[from-1], s.announceDigest(from, body[:announceSize]), body[announceSize:]) {
		return nil, violation("bad announcement signature from party %d", from)
	}
	if _, err := ecdh.X25519().NewPublicKey(pub); err != nil {
		return nil, malformed("X25519 key of party %d", from)
	}
	s.peers[from-1] = append([]byte(nil), pub...)
	s.commits[from-1] = [32]byte(body[dhSize:announceSize])
	s.nPeers++
	return s.maybeSendShares()
}

func (s *SetupNode) onShare(from uint16, data []byte) ([]Message, error) {
	if err := s.checkPeer(from); err != nil {
		return nil, err
	}
	hl := headerFixed + len(s.cfg.FederationID)
	if want := s.shareBodySize(from, s.id); len(data) != hl+want {
		return nil, malformed("Shamir share of %d bytes, want %d", len(data)-hl, want)
	}
	if s.got[from-1] {
		return nil, unexpected("second Shamir share from party %d", from)
	}
	if _, dup := s.pending[from]; dup {
		return nil, unexpected("second Shamir share from party %d", from)
	}
	if !s.sent {
		// We cannot open it before we have our own key and the sender's
		// announcement; keep it (at most n-1 messages of fixed size).
		s.pending[from] = append([]byte(nil), data...)
		return nil, nil
	}
	if err := s.openShare(from, data); err != nil {
		return nil, err
	}
	return nil, s.maybeFinish()
}

// openShare decrypts and accumulates the Shamir share in data (a whole
// message whose header is the AEAD's additional data).
func (s *SetupNode) openShare(from uint16, data []byte) error {
	p := s.p
	hl := headerFixed + len(s.cfg.FederationID)
	key, err := s.pairKey(s.peers[from-1], from, s.id)
	if err != nil {
		return s.abort(violation("key agreement with party %d failed", from))
	}
	aead, err := chacha20poly1305.New(key)
	clear(key)
	if err != nil {
		return s.abort(err)
	}
	var nonce [chacha20poly1305.NonceSize]byte
	plain, err := aead.Open(nil, nonce[:], data[hl:], data[:hl])
	if err != nil {
		return s.abort(violation("Shamir share from party %d does not authenticate", from))
	}
	defer clear(plain)
	if !s.additive() {
		share := s.thr.AllocateThresholdSecretShare()
		defer zeroQP(share.Poly)
		if s.seeded(from, s.id) {
			if err := s.seededShare(s.peers[from-1], from, s.id, share.Poly); err != nil {
				return s.abort(violation("key agreement with party %d failed", from))
			}
		} else if err := p.readPolyQP(share.Poly, plain[:p.qpBytes()]); err != nil {
			return s.abort(err)
		}
		if err := s.thr.AggregateShares(s.tsk, share, &s.tsk); err != nil {
			return s.abort(err)
		}
	}
	copy(s.contribs[from-1][:], plain[len(plain)-contributionSize:])
	s.got[from-1] = true
	s.nGot++
	return nil
}

func (s *SetupNode) onPublicKey(from uint16, body []byte) ([]Message, error) {
	if from != 0 {
		return nil, violation("public key from party %d", from)
	}
	if s.havePK || s.pkBody != nil {
		return nil, violation("second public key")
	}
	if want := s.cfg.Parties * s.p.qpBytes(); len(body) != want {
		return nil, malformed("public key message of %d bytes, want %d", len(body), want)
	}
	s.pkBody = append([]byte(nil), body...)
	return nil, s.maybeFinish()
}

// formPublicKey checks every public-key share the aggregator sent against
// its owner's commitment and sums them into pk0 itself, so that an
// aggregator cannot install a key of its own (whose secret it would know).
func (s *SetupNode) formPublicKey() error {
	p := s.p
	ckg := multiparty.NewPublicKeyGenProtocol(p.rlwe)
	acc, share := ckg.AllocateShare(), ckg.AllocateShare()
	qp := p.qpBytes()
	for j := range s.cfg.Parties {
		b := s.pkBody[j*qp : (j+1)*qp]
		if s.commitment(uint16(j+1), b) != s.commits[j] {
			return s.abort(violation("public-key share of party %d does not match its commitment", j+1))
		}
		if err := p.readPolyQP(share.Value, b); err != nil {
			return s.abort(err)
		}
		ckg.AggregateShares(acc, share, &acc)
	}
	pk := rlwe.NewPublicKey(p.rlwe)
	ckg.GenPublicKey(acc, p.crp(s.cfg.FederationID, s.cfg.CRS), pk)
	s.pk0, s.havePK, s.pkBody = pk.Value[0], true, nil
	return nil
}

// maybeFinish assembles the key material once every share and the public
// key are in.
func (s *SetupNode) maybeFinish() error {
	if s.km != nil {
		return nil
	}
	if !s.havePK && s.pkBody != nil && s.nPeers == s.cfg.Parties {
		if err := s.formPublicKey(); err != nil {
			return err
		}
	}
	if !s.havePK || s.nGot < s.cfg.Parties {
		return nil
	}
	k := &KeyMaterial{
		p:         s.cfg.Params,
		fed:       s.cfg.FederationID,
		id:        s.id,
		n:         s.cfg.Parties,
		t:         s.cfg.Threshold,
		recipient: s.cfg.Recipient,
		crs:       s.cfg.CRS,
		share:     s.tsk,
		additive:  s.additive(),
		pk0:       s.pk0,
	}
	if s.cfg.Recipient == RecipientNodes {
		h := sha256.New()
		h.Write([]byte(labelResult))
		for _, c := range s.contribs {
			h.Write(c[:])
		}
		h.Sum(k.rseed[:0])
	}
	clear(s.contribs)
	k.init()
	s.km = k
	return nil
}

// KeyMaterial returns the node's key material once the setup is complete.
func (s *SetupNode) KeyMaterial() (*KeyMaterial, bool) {
	return s.km, s.km != nil
}

// SetupAggregator is the aggregator's side of the setup: it sums the nodes'
// public-key shares and broadcasts the collective public key. It holds no
// secret.
type SetupAggregator struct {
	cfg    SetupConfig
	p      *params
	ckg    multiparty.PublicKeyGenProtocol
	acc    multiparty.PublicKeyGenShare
	tmp    multiparty.PublicKeyGenShare
	got    []bool
	nGot   int
	shares [][]byte // the packed shares by id-1, relayed to every node
	pk0    ringqp.Poly
	done   bool
}

// NewSetupAggregator returns the aggregator's setup state machine.
func NewSetupAggregator(cfg SetupConfig) (*SetupAggregator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := cfg.Params.p
	ckg := multiparty.NewPublicKeyGenProtocol(p.rlwe)
	return &SetupAggregator{
		cfg: cfg, p: p, ckg: ckg,
		acc: ckg.AllocateShare(), tmp: ckg.AllocateShare(),
		got: make([]bool, cfg.Parties), shares: make([][]byte, cfg.Parties),
	}, nil
}

// Step handles a public-key share. When all n shares are in it returns them
// all, one message per node (sharing one Data): every node checks each share
// against its owner's commitment and forms the collective public key itself.
func (a *SetupAggregator) Step(m Message) ([]Message, error) {
	h, body, err := parseHeader(m.Data)
	if err != nil {
		return nil, err
	}
	switch {
	case h.fed != a.cfg.FederationID:
		return nil, violation("message for another federation")
	case h.round != 0 || h.attempt != 0:
		return nil, violation("setup message with round %d", h.round)
	case int(h.from) != m.From:
		return nil, violation("sender %d claims to be %d", m.From, h.from)
	case h.to != 0:
		return nil, violation("message for party %d delivered to the aggregator", h.to)
	case h.kind != KindKeyShare:
		return nil, violation("aggregator got a %s message during setup", h.kind)
	case h.from == 0 || int(h.from) > a.cfg.Parties:
		return nil, violation("key share from unknown party %d", h.from)
	case a.got[h.from-1]:
		return nil, unexpected("second key share from party %d", h.from)
	}
	if err := a.p.readPolyQP(a.tmp.Value, body); err != nil {
		return nil, err
	}
	a.ckg.AggregateShares(a.acc, a.tmp, &a.acc)
	a.shares[h.from-1] = append([]byte(nil), body...)
	a.got[h.from-1] = true
	a.nGot++
	if a.nGot < a.cfg.Parties {
		return nil, nil
	}
	crp := a.p.crp(a.cfg.FederationID, a.cfg.CRS)
	pk := rlwe.NewPublicKey(a.p.rlwe)
	a.ckg.GenPublicKey(a.acc, crp, pk)
	a.pk0 = pk.Value[0]
	a.done = true
	data := appendHeader(make([]byte, 0, headerFixed+len(a.cfg.FederationID)+a.cfg.Parties*a.p.qpBytes()), header{kind: KindPublicKey, to: broadcast, fed: a.cfg.FederationID})
	for _, sh := range a.shares {
		data = append(data, sh...)
	}
	a.shares = nil
	out := make([]Message, a.cfg.Parties)
	for j := range out {
		out[j] = Message{From: 0, To: j + 1, Data: data}
	}
	return out, nil
}

// Done reports whether the collective public key has been formed.
func (a *SetupAggregator) Done() bool { return a.done }

// PublicKeyDigest returns the digest of the collective public key (see
// [KeyMaterial.PublicKeyDigest]) once it has been formed.
func (a *SetupAggregator) PublicKeyDigest() ([32]byte, bool) {
	if !a.done {
		return [32]byte{}, false
	}
	return publicKeyDigest(a.p, a.cfg.FederationID, a.cfg.CRS, a.pk0), true
}
