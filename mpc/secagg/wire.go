package secagg

import (
	"crypto/ed25519"
	"encoding/binary"
	"fmt"

	"github.com/consort-ml/consort/kernels"
	"github.com/consort-ml/consort/mpc"
	"github.com/consort-ml/consort/mpc/shamir"
	"golang.org/x/crypto/chacha20poly1305"
)

// Step identifies a protocol message. Its value is the second byte of every
// encoded message.
type Step uint8

// The protocol's messages, in round order (see the package overview).
const (
	// StepAdvertiseKeys: party -> server, the party's two X25519 public keys
	// signed with its identity key (round 0 of Bonawitz et al.).
	StepAdvertiseKeys Step = 1 + iota
	// StepKeyList: server -> party, every advertised key bundle.
	StepKeyList
	// StepShareKeys: party -> server, Shamir shares of its secrets encrypted
	// for each neighbour (round 1).
	StepShareKeys
	// StepShares: server -> party, the ciphertexts its neighbours addressed
	// to it.
	StepShares
	// StepMaskedInput: party -> server, the masked, bit-packed input (round 2).
	StepMaskedInput
	// StepUnmask: server -> party, the set of parties whose masked input
	// arrived.
	StepUnmask
	// StepUnmaskShares: party -> server, for each neighbour one share: of its
	// self-mask seed if it survived, of its key otherwise (round 4).
	StepUnmaskShares
	// StepDone: server -> party, the sum was released; the body is the set
	// of contributors.
	StepDone
	// StepAbort: server -> party, the round was aborted.
	StepAbort
	// StepConfirm: party -> server, with [Config.ConsistencyCheck] only: the
	// party's confirmation of the survivor set U3 it was sent in
	// [StepUnmask], an Ed25519 signature under its identity key and one MAC
	// tag per neighbour (the ConsistencyCheck round of Bonawitz et al.).
	StepConfirm
	// StepConfirmations: server -> party, with [Config.ConsistencyCheck]
	// only: U3 and the confirmations of it that the party needs to check;
	// the party reveals its unmasking shares only if they suffice.
	StepConfirmations
)

// lastStep is the highest Step value.
const lastStep = StepConfirmations

var stepNames = [...]string{"invalid", "advertise-keys", "key-list", "share-keys", "shares", "masked-input", "unmask", "unmask-shares", "done", "abort", "confirm", "confirmations"}

// String returns the step's name.
func (s Step) String() string {
	if int(s) < len(stepNames) {
		return stepNames[s]
	}
	return fmt.Sprintf("step(%d)", uint8(s))
}

// Message is one protocol message on its way between two parties (0 is the
// server): the contract's [mpc.Message]. Its Kind is the name of the Step
// encoded in Data's second byte.
type Message = mpc.Message

// Wire sizes.
const (
	version = 1
	// headerFixed is the header size without the federation id.
	headerFixed = 15
	// SignatureSize is the size of an Ed25519 signature.
	SignatureSize = ed25519.SignatureSize
	advertiseSize = 2*KeySize + SignatureSize
	keyEntrySize  = 2 + advertiseSize
	// sharePlainSize: a share of s_sk and a share of b, values only.
	sharePlainSize = 2 * shamir.ElementSize
	ctSize         = sharePlainSize + chacha20poly1305.Overhead
	ctEntrySize    = 2 + ctSize
	unmaskEntry    = 2 + 1 + shamir.ElementSize
	// TagSize is the size of a consistency-check MAC tag (truncated
	// HMAC-SHA256).
	TagSize      = 16
	tagEntrySize = 2 + TagSize
	sigEntrySize = 2 + SignatureSize
)

// Share kinds in StepUnmaskShares.
const (
	kindSelf = 1 // share of the self-mask seed b (the party survived)
	kindKey  = 2 // share of the mask key s_sk (the party dropped)
)

// Abort reasons.
const (
	reasonTooFew        = 1
	reasonUnrecoverable = 2
	reasonProtocol      = 3
)

type header struct {
	step     Step
	from, to uint16
}

// appendHeader writes: version (1), step (1), from (uint16), to (uint16),
// round (uint64), len(federation id) (1), federation id.
func (p *Params) appendHeader(dst []byte, step Step, from, to uint16) []byte {
	dst = append(dst, version, byte(step))
	dst = binary.LittleEndian.AppendUint16(dst, from)
	dst = binary.LittleEndian.AppendUint16(dst, to)
	dst = binary.LittleEndian.AppendUint64(dst, p.round)
	dst = append(dst, byte(len(p.fed)))
	return append(dst, p.fed...)
}

func (p *Params) headerSize() int { return headerFixed + len(p.fed) }

// parseHeader checks the header against the round and returns it and the
// body. A message of another federation or round is ErrProtocol.
func (p *Params) parseHeader(b []byte) (header, []byte, error) {
	var h header
	if len(b) < headerFixed {
		return h, nil, fmt.Errorf("%w: secagg: message of %d bytes", mpc.ErrMalformed, len(b))
	}
	if b[0] != version {
		return h, nil, fmt.Errorf("%w: secagg: version %d", mpc.ErrMalformed, b[0])
	}
	h.step = Step(b[1])
	if h.step < StepAdvertiseKeys || h.step > lastStep || (!p.check && h.step > StepAbort) {
		return h, nil, fmt.Errorf("%w: secagg: unknown step %d", mpc.ErrMalformed, b[1])
	}
	h.from = binary.LittleEndian.Uint16(b[2:])
	h.to = binary.LittleEndian.Uint16(b[4:])
	if int(h.from) > p.n || int(h.to) > p.n || (h.from == 0) == (h.to == 0) {
		return h, nil, fmt.Errorf("%w: secagg: bad endpoints %d -> %d", mpc.ErrMalformed, h.from, h.to)
	}
	toServer := h.step == StepAdvertiseKeys || h.step == StepShareKeys || h.step == StepMaskedInput || h.step == StepUnmaskShares || h.step == StepConfirm
	if toServer != (h.to == 0) {
		return h, nil, fmt.Errorf("%w: secagg: %v sent in the wrong direction", mpc.ErrMalformed, h.step)
	}
	fl := int(b[14])
	if len(b) < headerFixed+fl {
		return h, nil, fmt.Errorf("%w: secagg: truncated header", mpc.ErrMalformed)
	}
	round := binary.LittleEndian.Uint64(b[6:])
	if fl != len(p.fed) || string(b[headerFixed:headerFixed+fl]) != p.fed || round != p.round {
		return h, nil, fmt.Errorf("%w: secagg: message for another federation or round", mpc.ErrProtocol)
	}
	return h, b[headerFixed+fl:], nil
}

// advertise is the body of StepAdvertiseKeys: cPK (32) || sPK (32) || sig (64).
type advertise struct {
	cpk, spk [KeySize]byte
	sig      [SignatureSize]byte
}

func (a *advertise) append(dst []byte) []byte {
	dst = append(dst, a.cpk[:]...)
	dst = append(dst, a.spk[:]...)
	return append(dst, a.sig[:]...)
}

func decodeAdvertise(body []byte) (advertise, error) {
	var a advertise
	if len(body) != advertiseSize {
		return a, fmt.Errorf("%w: secagg: advertise body of %d bytes", mpc.ErrMalformed, len(body))
	}
	copy(a.cpk[:], body)
	copy(a.spk[:], body[KeySize:])
	copy(a.sig[:], body[2*KeySize:])
	return a, nil
}

// keyEntry is one entry of StepKeyList: id (uint16) || advertise body.
type keyEntry struct {
	id uint16
	advertise
}

// appendKeyList writes count (uint16) then the entries, ids increasing.
func appendKeyList(dst []byte, es []keyEntry) []byte {
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(es)))
	for i := range es {
		dst = binary.LittleEndian.AppendUint16(dst, es[i].id)
		dst = es[i].advertise.append(dst)
	}
	return dst
}

func (p *Params) decodeKeyList(body []byte) ([]keyEntry, error) {
	if len(body) < 2 {
		return nil, fmt.Errorf("%w: secagg: key list without count", mpc.ErrMalformed)
	}
	n := int(binary.LittleEndian.Uint16(body))
	if n < 1 || n > p.n || len(body) != 2+n*keyEntrySize {
		return nil, fmt.Errorf("%w: secagg: key list of %d entries in %d bytes", mpc.ErrMalformed, n, len(body))
	}
	es := make([]keyEntry, n)
	prev := uint16(0)
	for i := range es {
		e := body[2+i*keyEntrySize:]
		es[i].id = binary.LittleEndian.Uint16(e)
		if es[i].id <= prev || int(es[i].id) > p.n {
			return nil, fmt.Errorf("%w: secagg: key list ids not increasing in 1..%d", mpc.ErrMalformed, p.n)
		}
		prev = es[i].id
		es[i].advertise, _ = decodeAdvertise(e[2:keyEntrySize])
	}
	return es, nil
}

// ctEntry is one encrypted pair of shares, in StepShareKeys (peer = the
// receiver) and StepShares (peer = the sender): peer (uint16) || ciphertext
// (82 bytes: ChaCha20-Poly1305 of the two 33-byte share values).
type ctEntry struct {
	peer uint16
	ct   [ctSize]byte
}

// appendCiphertexts writes count (uint16) then the entries, peers increasing.
func appendCiphertexts(dst []byte, es []ctEntry) []byte {
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(es)))
	for i := range es {
		dst = binary.LittleEndian.AppendUint16(dst, es[i].peer)
		dst = append(dst, es[i].ct[:]...)
	}
	return dst
}

// decodeCiphertexts accepts up to Degree entries with increasing peers in
// 1..n, none equal to self.
func (p *Params) decodeCiphertexts(body []byte, self uint16) ([]ctEntry, error) {
	if len(body) < 2 {
		return nil, fmt.Errorf("%w: secagg: ciphertext list without count", mpc.ErrMalformed)
	}
	n := int(binary.LittleEndian.Uint16(body))
	if n > p.k || len(body) != 2+n*ctEntrySize {
		return nil, fmt.Errorf("%w: secagg: %d ciphertexts in %d bytes", mpc.ErrMalformed, n, len(body))
	}
	es := make([]ctEntry, n)
	prev := uint16(0)
	for i := range es {
		e := body[2+i*ctEntrySize:]
		es[i].peer = binary.LittleEndian.Uint16(e)
		if es[i].peer <= prev || int(es[i].peer) > p.n || es[i].peer == self {
			return nil, fmt.Errorf("%w: secagg: ciphertext peers not increasing in 1..%d", mpc.ErrMalformed, p.n)
		}
		prev = es[i].peer
		copy(es[i].ct[:], e[2:ctEntrySize])
	}
	return es, nil
}

// bitmapSize is the size of a set of parties: ceil(n/8) bytes, bit (i-1) for
// party i, little-endian bit order, padding bits zero.
func (p *Params) bitmapSize() int { return (p.n + 7) / 8 }

func (p *Params) appendBitmap(dst []byte, ids []uint16) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, p.bitmapSize())...)
	for _, id := range ids {
		dst[start+int(id-1)/8] |= 1 << ((id - 1) % 8)
	}
	return dst
}

func (p *Params) decodeBitmap(body []byte) ([]uint16, error) {
	if len(body) != p.bitmapSize() {
		return nil, fmt.Errorf("%w: secagg: party set of %d bytes", mpc.ErrMalformed, len(body))
	}
	if r := p.n % 8; r != 0 && body[len(body)-1]>>r != 0 {
		return nil, fmt.Errorf("%w: secagg: party set padding bits set", mpc.ErrMalformed)
	}
	var ids []uint16
	for i := 0; i < p.n; i++ {
		if body[i/8]&(1<<(i%8)) != 0 {
			ids = append(ids, uint16(i+1))
		}
	}
	return ids, nil
}

// unmaskShare is one entry of StepUnmaskShares: owner (uint16) || kind (1:
// self-mask seed, 2: key) || share value (33 bytes, the x-coordinate being
// the sender's id).
type unmaskShare struct {
	owner uint16
	kind  uint8
	value [shamir.ElementSize]byte
}

func appendUnmaskShares(dst []byte, es []unmaskShare) []byte {
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(es)))
	for i := range es {
		dst = binary.LittleEndian.AppendUint16(dst, es[i].owner)
		dst = append(dst, es[i].kind)
		dst = append(dst, es[i].value[:]...)
	}
	return dst
}

// decodeUnmaskShares accepts up to Degree+1 entries with increasing owners,
// known kinds and canonical field elements.
func (p *Params) decodeUnmaskShares(body []byte) ([]unmaskShare, error) {
	if len(body) < 2 {
		return nil, fmt.Errorf("%w: secagg: share list without count", mpc.ErrMalformed)
	}
	n := int(binary.LittleEndian.Uint16(body))
	if n > p.k+1 || len(body) != 2+n*unmaskEntry {
		return nil, fmt.Errorf("%w: secagg: %d shares in %d bytes", mpc.ErrMalformed, n, len(body))
	}
	es := make([]unmaskShare, n)
	prev := uint16(0)
	for i := range es {
		e := body[2+i*unmaskEntry:]
		es[i].owner = binary.LittleEndian.Uint16(e)
		if es[i].owner <= prev || int(es[i].owner) > p.n {
			return nil, fmt.Errorf("%w: secagg: share owners not increasing in 1..%d", mpc.ErrMalformed, p.n)
		}
		prev = es[i].owner
		es[i].kind = e[2]
		if es[i].kind != kindSelf && es[i].kind != kindKey {
			return nil, fmt.Errorf("%w: secagg: share kind %d", mpc.ErrMalformed, es[i].kind)
		}
		copy(es[i].value[:], e[3:unmaskEntry])
		if _, err := shamir.ParseShare(1, es[i].value[:]); err != nil {
			return nil, fmt.Errorf("%w: secagg: share of party %d is not a field element", mpc.ErrMalformed, es[i].owner)
		}
	}
	return es, nil
}

// tagEntry is one MAC tag of the consistency check: peer (uint16; the
// receiver in StepConfirm, the sender in StepConfirmations) || tag (16).
type tagEntry struct {
	peer uint16
	tag  [TagSize]byte
}

// sigEntry is one forwarded signature: signer (uint16) || signature (64).
type sigEntry struct {
	id  uint16
	sig [SignatureSize]byte
}

// confirm is the body of StepConfirm: signature (64) || count (uint16) ||
// count × tagEntry, receivers increasing.
type confirm struct {
	sig  [SignatureSize]byte
	tags []tagEntry
}

func appendTags(dst []byte, es []tagEntry) []byte {
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(es)))
	for i := range es {
		dst = binary.LittleEndian.AppendUint16(dst, es[i].peer)
		dst = append(dst, es[i].tag[:]...)
	}
	return dst
}

// decodeTags reads count (uint16) || count × tagEntry with at most max
// entries, peers increasing in 1..n and never self, and returns the rest.
func (p *Params) decodeTags(body []byte, max int, self uint16) ([]tagEntry, []byte, error) {
	if len(body) < 2 {
		return nil, nil, fmt.Errorf("%w: secagg: tag list without count", mpc.ErrMalformed)
	}
	n := int(binary.LittleEndian.Uint16(body))
	if n > max || len(body) < 2+n*tagEntrySize {
		return nil, nil, fmt.Errorf("%w: secagg: %d tags in %d bytes", mpc.ErrMalformed, n, len(body))
	}
	es := make([]tagEntry, n)
	prev := uint16(0)
	for i := range es {
		e := body[2+i*tagEntrySize:]
		es[i].peer = binary.LittleEndian.Uint16(e)
		if es[i].peer <= prev || int(es[i].peer) > p.n || es[i].peer == self {
			return nil, nil, fmt.Errorf("%w: secagg: tag peers not increasing in 1..%d", mpc.ErrMalformed, p.n)
		}
		prev = es[i].peer
		copy(es[i].tag[:], e[2:tagEntrySize])
	}
	return es, body[2+n*tagEntrySize:], nil
}

func (c *confirm) append(dst []byte) []byte {
	dst = append(dst, c.sig[:]...)
	return appendTags(dst, c.tags)
}

func (p *Params) decodeConfirm(body []byte, self uint16) (confirm, error) {
	var c confirm
	if len(body) < SignatureSize {
		return c, fmt.Errorf("%w: secagg: confirmation of %d bytes", mpc.ErrMalformed, len(body))
	}
	copy(c.sig[:], body)
	tags, rest, err := p.decodeTags(body[SignatureSize:], p.k, self)
	if err != nil {
		return c, err
	}
	if len(rest) != 0 {
		return c, fmt.Errorf("%w: secagg: %d trailing bytes after the tags", mpc.ErrMalformed, len(rest))
	}
	c.tags = tags
	return c, nil
}

// confirmations is the body of StepConfirmations: U3 (party set) || count
// (uint16) || count × sigEntry, signers increasing || the tags addressed to
// the receiver (count (uint16) || count × tagEntry, senders increasing).
type confirmations struct {
	u3   []byte // the canonical party-set encoding
	sigs []sigEntry
	tags []tagEntry
}

func (c *confirmations) append(dst []byte) []byte {
	dst = append(dst, c.u3...)
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(c.sigs)))
	for i := range c.sigs {
		dst = binary.LittleEndian.AppendUint16(dst, c.sigs[i].id)
		dst = append(dst, c.sigs[i].sig[:]...)
	}
	return appendTags(dst, c.tags)
}

func (p *Params) decodeConfirmations(body []byte, self uint16) (confirmations, error) {
	var c confirmations
	bs := p.bitmapSize()
	if len(body) < bs+2 {
		return c, fmt.Errorf("%w: secagg: confirmations of %d bytes", mpc.ErrMalformed, len(body))
	}
	if _, err := p.decodeBitmap(body[:bs]); err != nil {
		return c, err
	}
	c.u3 = body[:bs:bs]
	rest := body[bs:]
	n := int(binary.LittleEndian.Uint16(rest))
	if n > p.n || len(rest) < 2+n*sigEntrySize {
		return c, fmt.Errorf("%w: secagg: %d signatures in %d bytes", mpc.ErrMalformed, n, len(rest))
	}
	c.sigs = make([]sigEntry, n)
	prev := uint16(0)
	for i := range c.sigs {
		e := rest[2+i*sigEntrySize:]
		c.sigs[i].id = binary.LittleEndian.Uint16(e)
		if c.sigs[i].id <= prev || int(c.sigs[i].id) > p.n {
			return c, fmt.Errorf("%w: secagg: signers not increasing in 1..%d", mpc.ErrMalformed, p.n)
		}
		prev = c.sigs[i].id
		copy(c.sigs[i].sig[:], e[2:sigEntrySize])
	}
	tags, rest, err := p.decodeTags(rest[2+n*sigEntrySize:], p.k, self)
	if err != nil {
		return c, err
	}
	if len(rest) != 0 {
		return c, fmt.Errorf("%w: secagg: %d trailing bytes after the tags", mpc.ErrMalformed, len(rest))
	}
	c.tags = tags
	return c, nil
}

func decodeAbort(body []byte) (uint8, error) {
	if len(body) != 1 || body[0] < reasonTooFew || body[0] > reasonProtocol {
		return 0, fmt.Errorf("%w: secagg: abort body", mpc.ErrMalformed)
	}
	return body[0], nil
}

// maskedSize is the body size of StepMaskedInput: the vector packed at the
// ring width by kernels.Pack32/Pack64.
func (p *Params) maskedSize() int { return kernels.PackedLen(p.dim, p.bits) }

// MessageSize returns the encoded size of a message of the given step with
// count entries (ignored for fixed-size steps), for budgeting transports.
func (p *Params) MessageSize(step Step, count int) int {
	h := p.headerSize()
	switch step {
	case StepAdvertiseKeys:
		return h + advertiseSize
	case StepKeyList:
		return h + 2 + count*keyEntrySize
	case StepShareKeys, StepShares:
		return h + 2 + count*ctEntrySize
	case StepMaskedInput:
		return h + p.maskedSize()
	case StepUnmask, StepDone:
		return h + p.bitmapSize()
	case StepUnmaskShares:
		return h + 2 + count*unmaskEntry
	case StepAbort:
		return h + 1
	case StepConfirm:
		return h + SignatureSize + 2 + count*tagEntrySize
	case StepConfirmations:
		// count signatures and up to Degree tags.
		return h + p.bitmapSize() + 2 + count*sigEntrySize + 2 + p.k*tagEntrySize
	}
	return 0
}

// MaxMessageSize returns the largest encoded message of the round: a
// transport may refuse anything longer before decoding.
func (p *Params) MaxMessageSize() int {
	m := 0
	last := StepAbort
	if p.check {
		last = lastStep
	}
	for s := StepAdvertiseKeys; s <= last; s++ {
		m = max(m, p.MessageSize(s, p.n))
	}
	return m
}

// UploadBytes returns the bytes a party that completes the round sends:
// the sum of its four messages' sizes.
func (p *Params) UploadBytes() int {
	n := p.MessageSize(StepAdvertiseKeys, 0) + p.MessageSize(StepShareKeys, p.k) +
		p.MessageSize(StepMaskedInput, 0) + p.MessageSize(StepUnmaskShares, p.k+1)
	if p.check {
		n += p.MessageSize(StepConfirm, p.k)
	}
	return n
}
