package secagg

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hmac"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/consort-ml/consort/kernels"
	"github.com/consort-ml/consort/mpc"
	"github.com/consort-ml/consort/mpc/shamir"
)

// ErrInput marks an invalid ClientConfig or ServerConfig (a caller error, not
// a peer's).
var ErrInput = errors.New("secagg: invalid configuration")

// ErrUnexpected marks a message that is well formed but not expected in the
// party's current state (a duplicate, a straggler, a message for another
// party). The message is ignored and the party does not abort. It wraps
// [mpc.ErrUnexpected].
var ErrUnexpected = fmt.Errorf("secagg: %w", mpc.ErrUnexpected)

// ClientConfig configures one party of one round.
type ClientConfig struct {
	// Params are the round's public parameters.
	Params *Params
	// ID is the party's id, 1..Params.Parties().
	ID int
	// Signer is the party's Ed25519 identity key; its public key must be
	// Params.Identity(ID). It signs the advertised public keys.
	Signer crypto.Signer
	// Input32 (Bits <= 32) or Input64 (Bits > 32) is the party's input:
	// Params.Dim() elements, each below 2^Bits. The client reads it when it
	// computes its masked input and does not modify it.
	Input32 []uint32
	Input64 []uint64
}

type clientState uint8

const (
	cNew clientState = iota
	cAdvertised
	cShared
	cMasked
	cConfirmed // consistency check: confirmed U3, waiting for the others' confirmations
	cResponded
	cDone
	cAborted
)

// peerKeys holds what a party derives for one neighbour when the key list
// arrives: the key that decrypts the neighbour's shares and the seed of
// their pairwise mask. Both X25519 agreements thus happen once, in the
// ShareKeys step.
type peerKeys struct {
	openKey [32]byte // AEAD key of shares sent by the neighbour to this party
	openAD  []byte
	mask    [32]byte // pairwise mask seed s_uv
	confirm [32]byte // MAC key of the consistency check
}

// Client is one party's state machine. It is not safe for concurrent use.
// Secrets live in unexported fields; the type has no String method.
type Client struct {
	_      [0]func() // not comparable
	p      *Params
	id     uint16
	signer crypto.Signer
	rand   io.Reader
	in32   []uint32
	in64   []uint64

	state clientState
	err   error

	cSK, sSK  *ecdh.PrivateKey
	sSKBytes  [32]byte
	b         [32]byte
	cPK, sPK  [KeySize]byte
	keyIDs    map[uint16]bool      // parties in the key list
	peers     map[uint16]*peerKeys // neighbours
	holders   []uint16             // self and neighbours, increasing
	ownS      shamir.Share
	ownB      shamir.Share
	heldS     map[uint16]shamir.Share // neighbours' key shares held by this party
	heldB     map[uint16]shamir.Share // neighbours' self-mask shares
	senders   map[uint16]bool         // neighbours whose shares arrived
	g         *graph                  // the round's neighbour graph
	u3        []byte                  // consistency check: the survivor set confirmed
	surv      map[uint16]bool         // consistency check: its members
	survivors []int
}

// NewClient returns the state machine of party cfg.ID. rand supplies all of
// its private randomness (keys, self-mask seed, share polynomials) and must be
// a cryptographically secure generator such as crypto/rand.Reader; a seeded
// deterministic reader makes a run repeatable in tests.
func NewClient(cfg ClientConfig, rand io.Reader) (*Client, error) {
	p := cfg.Params
	if p == nil || rand == nil || cfg.Signer == nil {
		return nil, fmt.Errorf("%w: params, signer and randomness are required", ErrInput)
	}
	if cfg.ID < 1 || cfg.ID > p.n {
		return nil, fmt.Errorf("%w: id %d not in 1..%d", ErrInput, cfg.ID, p.n)
	}
	pub, ok := cfg.Signer.Public().(ed25519.PublicKey)
	if !ok || !bytes.Equal(pub, p.ids[cfg.ID-1]) {
		return nil, fmt.Errorf("%w: signer of party %d is not its Ed25519 identity", ErrInput, cfg.ID)
	}
	c := &Client{p: p, id: uint16(cfg.ID), signer: cfg.Signer, rand: rand}
	if p.Wide() {
		if len(cfg.Input64) != p.dim || cfg.Input32 != nil {
			return nil, fmt.Errorf("%w: want Input64 of %d elements", ErrInput, p.dim)
		}
		if p.bits < 64 {
			for _, x := range cfg.Input64 {
				if x>>p.bits != 0 {
					return nil, fmt.Errorf("%w: input element not below 2^%d", ErrInput, p.bits)
				}
			}
		}
		c.in64 = cfg.Input64
	} else {
		if len(cfg.Input32) != p.dim || cfg.Input64 != nil {
			return nil, fmt.Errorf("%w: want Input32 of %d elements", ErrInput, p.dim)
		}
		if p.bits < 32 {
			for _, x := range cfg.Input32 {
				if x>>p.bits != 0 {
					return nil, fmt.Errorf("%w: input element not below 2^%d", ErrInput, p.bits)
				}
			}
		}
		c.in32 = cfg.Input32
	}
	return c, nil
}

// ID returns the party's id.
func (c *Client) ID() int { return int(c.id) }

// Err returns the abort error (an *mpc.AbortError) once the client aborted,
// and nil otherwise.
func (c *Client) Err() error { return c.err }

// Result reports whether the round finished (the server released the sum)
// and, if so, the ids of the contributors.
func (c *Client) Result() (contributors []int, ok bool) {
	if c.state != cDone {
		return nil, false
	}
	return slices.Clone(c.survivors), true
}

// abort moves to the aborted state, forgets the secrets and returns the
// *mpc.AbortError.
func (c *Client) abort(cause error) ([]Message, error) {
	c.state = cAborted
	c.err = &mpc.AbortError{Party: int(c.id), Round: c.p.round, Err: cause}
	c.forget()
	return nil, c.err
}

// forget drops every secret the client holds.
func (c *Client) forget() {
	c.cSK, c.sSK = nil, nil
	clear(c.sSKBytes[:])
	clear(c.b[:])
	c.ownS, c.ownB = shamir.Share{}, shamir.Share{}
	c.heldS, c.heldB = nil, nil
	for _, pk := range c.peers {
		clear(pk.openKey[:])
		clear(pk.mask[:])
		clear(pk.confirm[:])
	}
}

// start draws the party's keys and returns its StepAdvertiseKeys message
// (Start in party.go sets the messages' Kind).
func (c *Client) start() ([]Message, error) {
	if c.state == cAborted {
		return nil, c.err
	}
	if c.state != cNew {
		return nil, fmt.Errorf("%w: secagg: party %d already started", ErrUnexpected, c.id)
	}
	var buf [96]byte
	if _, err := io.ReadFull(c.rand, buf[:]); err != nil {
		return nil, fmt.Errorf("%w: randomness: %w", ErrInput, err)
	}
	copy(c.sSKBytes[:], buf[32:64])
	copy(c.b[:], buf[64:])
	var err error
	if c.cSK, err = ecdh.X25519().NewPrivateKey(buf[:32]); err != nil {
		return nil, fmt.Errorf("%w: X25519 key: %w", ErrInput, err)
	}
	if c.sSK, err = ecdh.X25519().NewPrivateKey(c.sSKBytes[:]); err != nil {
		return nil, fmt.Errorf("%w: X25519 key: %w", ErrInput, err)
	}
	clear(buf[:])
	copy(c.cPK[:], c.cSK.PublicKey().Bytes())
	copy(c.sPK[:], c.sSK.PublicKey().Bytes())
	sig, err := c.signer.Sign(c.rand, c.p.advertiseSigned(c.id, c.cPK[:], c.sPK[:]), crypto.Hash(0))
	if err != nil || len(sig) != SignatureSize {
		return nil, fmt.Errorf("%w: identity signature failed", ErrInput)
	}
	a := advertise{cpk: c.cPK, spk: c.sPK}
	copy(a.sig[:], sig)
	data := c.p.appendHeader(make([]byte, 0, c.p.MessageSize(StepAdvertiseKeys, 0)), StepAdvertiseKeys, c.id, 0)
	data = a.append(data)
	c.state = cAdvertised
	return []Message{{From: int(c.id), To: 0, Data: data}}, nil
}

// step processes one message from the server and returns the messages to
// send (Step in party.go checks and sets the messages' Kind). Errors
// wrapping ErrUnexpected, or a message not addressed to this party, leave
// the state unchanged; any other error is the *mpc.AbortError the client
// ended with.
func (c *Client) step(m Message) ([]Message, error) {
	if c.state == cAborted {
		return nil, c.err
	}
	if m.From != 0 {
		return nil, fmt.Errorf("%w: secagg: party %d takes messages from the server only", ErrUnexpected, c.id)
	}
	h, body, err := c.p.parseHeader(m.Data)
	if err != nil {
		return nil, err
	}
	if h.from != 0 || h.to != c.id || m.To != int(c.id) {
		return nil, fmt.Errorf("%w: secagg: message for party %d delivered to %d", ErrUnexpected, h.to, c.id)
	}
	switch {
	case h.step == StepAbort && c.state != cDone:
		r, err := decodeAbort(body)
		if err != nil {
			return c.abort(err)
		}
		switch r {
		case reasonTooFew:
			return c.abort(fmt.Errorf("%w: secagg: the server aborted", mpc.ErrTooFewParties))
		case reasonUnrecoverable:
			return c.abort(fmt.Errorf("%w: secagg: the server aborted", mpc.ErrUnrecoverable))
		default:
			return c.abort(fmt.Errorf("%w: secagg: the server aborted", mpc.ErrProtocol))
		}
	case h.step == StepKeyList && c.state == cAdvertised:
		return c.onKeyList(body)
	case h.step == StepShares && c.state == cShared:
		return c.onShares(body)
	case h.step == StepUnmask && c.state == cMasked:
		return c.onUnmask(body)
	case h.step == StepConfirmations && c.state == cConfirmed:
		return c.onConfirmations(body)
	case h.step == StepDone && (c.state == cMasked || c.state == cConfirmed || c.state == cResponded):
		// The server may finish before this party's unmasking answer is
		// needed; it then never reveals its shares.
		ids, err := c.p.decodeBitmap(body)
		if err != nil {
			return c.abort(err)
		}
		c.survivors = make([]int, len(ids))
		for i, u := range ids {
			c.survivors[i] = int(u)
		}
		c.state = cDone
		c.forget()
		return nil, nil
	}
	return nil, fmt.Errorf("%w: secagg: %v in state %d", ErrUnexpected, h.step, c.state)
}

func (c *Client) onKeyList(body []byte) ([]Message, error) {
	p := c.p
	es, err := p.decodeKeyList(body)
	if err != nil {
		return c.abort(err)
	}
	if len(es) < p.minSur {
		return c.abort(fmt.Errorf("%w: secagg: %d parties advertised keys, need %d", mpc.ErrTooFewParties, len(es), p.minSur))
	}
	ids := make([]uint16, len(es))
	byID := make(map[uint16]*keyEntry, len(es))
	for i := range es {
		ids[i] = es[i].id
		byID[es[i].id] = &es[i]
	}
	own := byID[c.id]
	if own == nil || own.cpk != c.cPK || own.spk != c.sPK {
		return c.abort(fmt.Errorf("%w: secagg: key list omits or alters this party's keys", mpc.ErrProtocol))
	}
	g := newGraph(ids, p.k, p.graphSeed(body))
	nbrs := g.neighbours(c.id)
	c.keyIDs = make(map[uint16]bool, len(ids))
	for _, id := range ids {
		c.keyIDs[id] = true
	}
	for _, v := range nbrs {
		e := byID[v]
		if !ed25519.Verify(p.ids[v-1], p.advertiseSigned(v, e.cpk[:], e.spk[:]), e.sig[:]) {
			return c.abort(fmt.Errorf("%w: secagg: keys of party %d carry a bad signature", mpc.ErrProtocol, v))
		}
	}
	c.g = g
	c.holders = append(slices.Clone(nbrs), c.id)
	slices.Sort(c.holders)
	if len(c.holders) < p.t {
		return c.abort(fmt.Errorf("%w: secagg: %d share holders, threshold %d", mpc.ErrTooFewParties, len(c.holders), p.t))
	}
	scheme, err := shamir.New(p.t, c.holders)
	if err != nil {
		return c.abort(fmt.Errorf("%w: secagg: %w", mpc.ErrProtocol, err))
	}
	sShares, err := scheme.Split(&c.sSKBytes, c.rand)
	if err != nil {
		return c.abort(err)
	}
	bShares, err := scheme.Split(&c.b, c.rand)
	if err != nil {
		return c.abort(err)
	}
	out := make([]ctEntry, 0, len(nbrs))
	pt := make([]byte, 0, sharePlainSize)
	c.peers = make(map[uint16]*peerKeys, len(nbrs))
	for i, v := range c.holders {
		if v == c.id {
			c.ownS, c.ownB = sShares[i], bShares[i]
			continue
		}
		e := byID[v]
		ss, err := agree(c.cSK, e.cpk[:])
		if err != nil {
			return c.abort(fmt.Errorf("%w (party %d)", err, v))
		}
		ms, err := agree(c.sSK, e.spk[:])
		if err != nil {
			return c.abort(fmt.Errorf("%w (party %d)", err, v))
		}
		pk := &peerKeys{mask: p.pairSeed(ms, c.id, v), confirm: p.confirmKey(ss, c.id, v)}
		pk.openKey, pk.openAD = p.shareAEAD(ss, v, c.id)
		c.peers[v] = pk
		clear(ms)
		key, ad := p.shareAEAD(ss, c.id, v)
		clear(ss)
		pt = sShares[i].AppendValue(pt[:0])
		pt = bShares[i].AppendValue(pt)
		ce := ctEntry{peer: v}
		copy(ce.ct[:], seal(&key, ad, pt))
		out = append(out, ce)
	}
	clear(pt[:cap(pt)])
	// The key pairs are no longer needed: what remains are the derived keys.
	c.cSK, c.sSK = nil, nil
	clear(c.sSKBytes[:])
	data := p.appendHeader(make([]byte, 0, p.MessageSize(StepShareKeys, len(out))), StepShareKeys, c.id, 0)
	data = appendCiphertexts(data, out)
	c.state = cShared
	return []Message{{From: int(c.id), To: 0, Data: data}}, nil
}

func (c *Client) onShares(body []byte) ([]Message, error) {
	p := c.p
	es, err := p.decodeCiphertexts(body, c.id)
	if err != nil {
		return c.abort(err)
	}
	c.heldS = make(map[uint16]shamir.Share, len(es)+1)
	c.heldB = make(map[uint16]shamir.Share, len(es)+1)
	c.senders = make(map[uint16]bool, len(es))
	for i := range es {
		u := es[i].peer
		pk := c.peers[u]
		if pk == nil {
			return c.abort(fmt.Errorf("%w: secagg: shares from party %d, not a neighbour", mpc.ErrProtocol, u))
		}
		pt, err := open(&pk.openKey, pk.openAD, es[i].ct[:])
		if err != nil {
			return c.abort(fmt.Errorf("%w (from party %d)", err, u))
		}
		sh, err1 := shamir.ParseShare(c.id, pt[:shamir.ElementSize])
		bh, err2 := shamir.ParseShare(c.id, pt[shamir.ElementSize:])
		clear(pt)
		if err1 != nil || err2 != nil {
			return c.abort(fmt.Errorf("%w: secagg: shares from party %d are not field elements", mpc.ErrProtocol, u))
		}
		c.heldS[u], c.heldB[u] = sh, bh
		c.senders[u] = true
	}
	if live := len(es) + 1; live < p.t || (p.Complete() && live < p.minSur) {
		return c.abort(fmt.Errorf("%w: secagg: %d of this party's share holders are live, threshold %d", mpc.ErrTooFewParties, live, p.t))
	}
	// y = x + PRG(b) + sum_{u > id} PRG(s_{id,u}) - sum_{u < id} PRG(s_{id,u})
	y := inputVec(p, c.in32, c.in64)
	seed := p.selfSeed(&c.b, c.id)
	set := kernels.MaskSet{Add: [][]byte{seed[:]}}
	for _, u := range sortedKeys(c.senders) {
		if c.id < u {
			set.Add = append(set.Add, c.peers[u].mask[:])
		} else {
			set.Sub = append(set.Sub, c.peers[u].mask[:])
		}
	}
	y.applyMasks(set)
	clear(seed[:])
	data := p.appendHeader(make([]byte, 0, p.MessageSize(StepMaskedInput, 0)), StepMaskedInput, c.id, 0)
	data = y.pack(data)
	c.state = cMasked
	return []Message{{From: int(c.id), To: 0, Data: data}}, nil
}

func (c *Client) onUnmask(body []byte) ([]Message, error) {
	p := c.p
	ids, err := p.decodeBitmap(body)
	if err != nil {
		return c.abort(err)
	}
	surv := make(map[uint16]bool, len(ids))
	for _, u := range ids {
		if !c.keyIDs[u] {
			return c.abort(fmt.Errorf("%w: secagg: survivor %d never advertised keys", mpc.ErrProtocol, u))
		}
		if c.peers[u] != nil && !c.senders[u] {
			return c.abort(fmt.Errorf("%w: secagg: survivor %d never shared its keys with this party", mpc.ErrProtocol, u))
		}
		surv[u] = true
	}
	if !surv[c.id] {
		return c.abort(fmt.Errorf("%w: secagg: this party's masked input is missing from the survivors", mpc.ErrProtocol))
	}
	if len(ids) < p.minSur {
		return c.abort(fmt.Errorf("%w: secagg: %d survivors, need %d", mpc.ErrTooFewParties, len(ids), p.minSur))
	}
	if p.check {
		return c.confirm(body, surv)
	}
	return c.reveal(surv)
}

// confirm answers the unmasking request of a round with the consistency
// check: it signs U3 and MACs it for each neighbour in U3, and keeps every
// secret until the confirmations arrive. This is the only U3 the party ever
// confirms.
func (c *Client) confirm(u3 []byte, surv map[uint16]bool) ([]Message, error) {
	p := c.p
	sig, err := c.signer.Sign(c.rand, p.consistencySigned(u3), crypto.Hash(0))
	if err != nil || len(sig) != SignatureSize {
		// A local failure (the signer's), not a peer's violation.
		return c.abort(fmt.Errorf("%w: identity signature of the survivor set failed", ErrInput))
	}
	var cf confirm
	copy(cf.sig[:], sig)
	for _, v := range c.holders {
		if pk := c.peers[v]; pk != nil && surv[v] {
			cf.tags = append(cf.tags, tagEntry{peer: v, tag: p.confirmTag(&pk.confirm, c.id, v, u3)})
		}
	}
	c.u3 = slices.Clone(u3)
	c.surv = surv
	data := p.appendHeader(make([]byte, 0, p.MessageSize(StepConfirm, len(cf.tags))), StepConfirm, c.id, 0)
	data = cf.append(data)
	c.state = cConfirmed
	return []Message{{From: int(c.id), To: 0, Data: data}}, nil
}

// onConfirmations runs the party's side of the consistency check: the
// survivor set must be the one it confirmed, and for every secret it holds
// a share of (its own and each neighbour's that shared), at least Threshold
// of that secret's share holders must have confirmed the same set, by a MAC
// tag (neighbours) or an identity signature (anyone). Only then does it
// reveal its shares. A server that told other parties another set cannot
// gather Threshold confirmations for both sets when 2·Threshold exceeds the
// holders plus the colluding parties (package overview).
func (c *Client) onConfirmations(body []byte) ([]Message, error) {
	p := c.p
	cf, err := p.decodeConfirmations(body, c.id)
	if err != nil {
		return c.abort(err)
	}
	if !bytes.Equal(cf.u3, c.u3) {
		return c.abort(fmt.Errorf("%w: secagg: consistency check: the survivor set differs from the one this party confirmed", mpc.ErrProtocol))
	}
	confirmed := map[uint16]bool{c.id: true}
	for _, e := range cf.tags {
		pk := c.peers[e.peer]
		if pk == nil || !c.surv[e.peer] {
			return c.abort(fmt.Errorf("%w: secagg: consistency check: tag from party %d, not a surviving neighbour", mpc.ErrProtocol, e.peer))
		}
		want := p.confirmTag(&pk.confirm, e.peer, c.id, c.u3)
		// A wrong tag may be a colluding party's, which the server cannot
		// check: it is not counted, and does not abort the round.
		if hmac.Equal(want[:], e.tag[:]) {
			confirmed[e.peer] = true
		}
	}
	sigs := make(map[uint16]*[SignatureSize]byte, len(cf.sigs))
	for i := range cf.sigs {
		if !c.surv[cf.sigs[i].id] {
			return c.abort(fmt.Errorf("%w: secagg: consistency check: signature of party %d, not a survivor", mpc.ErrProtocol, cf.sigs[i].id))
		}
		sigs[cf.sigs[i].id] = &cf.sigs[i].sig
	}
	msg := p.consistencySigned(c.u3)
	// Signatures are checked lazily, only as far as some secret still lacks
	// confirmations: each costs a verification, a tag a hash.
	for _, v := range c.holders {
		if v != c.id && !c.senders[v] {
			continue // no share of v is revealed
		}
		hv := append(c.g.neighbours(v), v)
		count := 0
		for _, w := range hv {
			if confirmed[w] {
				count++
			}
		}
		for _, w := range hv {
			if count >= p.t {
				break
			}
			sig := sigs[w]
			if confirmed[w] || sig == nil {
				continue
			}
			delete(sigs, w)
			// The server verifies every signature it forwards: a bad one
			// is the server's deviation.
			if !ed25519.Verify(p.ids[w-1], msg, sig[:]) {
				return c.abort(fmt.Errorf("%w: secagg: consistency check: forwarded signature of party %d does not verify", mpc.ErrProtocol, w))
			}
			confirmed[w] = true
			count++
		}
		if count < p.t {
			return c.abort(fmt.Errorf("%w: secagg: consistency check: %d of party %d's share holders confirmed the survivor set, threshold %d", mpc.ErrProtocol, count, v, p.t))
		}
	}
	return c.reveal(c.surv)
}

// reveal sends the unmasking shares for survivor set surv and forgets every
// secret.
func (c *Client) reveal(surv map[uint16]bool) ([]Message, error) {
	p := c.p
	// One share per holder-owner: the self-mask share of a survivor, the key
	// share of a party that dropped after sharing. Never both for one party.
	out := make([]unmaskShare, 0, len(c.holders))
	for _, u := range c.holders {
		var sh shamir.Share
		var kind uint8
		switch {
		case u == c.id:
			sh, kind = c.ownB, kindSelf
		case !c.senders[u]:
			continue
		case surv[u]:
			sh, kind = c.heldB[u], kindSelf
		default:
			sh, kind = c.heldS[u], kindKey
		}
		e := unmaskShare{owner: u, kind: kind}
		copy(e.value[:], sh.AppendValue(nil))
		out = append(out, e)
	}
	data := p.appendHeader(make([]byte, 0, p.MessageSize(StepUnmaskShares, len(out))), StepUnmaskShares, c.id, 0)
	data = appendUnmaskShares(data, out)
	c.state = cResponded
	c.forget()
	return []Message{{From: int(c.id), To: 0, Data: data}}, nil
}

func sortedKeys(m map[uint16]bool) []uint16 {
	out := make([]uint16, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
