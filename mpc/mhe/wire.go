package mhe

import (
	"encoding/binary"
	"fmt"

	"github.com/tuneinsight/lattigo/v6/ring"
	"github.com/tuneinsight/lattigo/v6/ring/ringqp"

	"github.com/consort-ml/consort/kernels"
	"github.com/consort-ml/consort/mpc"
)

// Kind identifies a protocol message; it is the second byte of every encoded
// message.
type Kind uint8

// The protocol's messages (see the package overview for the flow).
const (
	// KindAnnounce: node -> every node, setup. The node's X25519 public key,
	// optionally signed with its Ed25519 identity key.
	KindAnnounce Kind = 1 + iota
	// KindKeyShare: node -> aggregator, setup. The node's share of the
	// collective public key, -a*s_i + e_i.
	KindKeyShare
	// KindShamirShare: node -> node, setup. The sender's Shamir share of its
	// secret key for the recipient, sealed with ChaCha20-Poly1305 under a key
	// from their X25519 agreement.
	KindShamirShare
	// KindPublicKey: aggregator -> every node, setup. The collective public
	// key's first polynomial (the second is the common reference polynomial).
	KindPublicKey
	// KindCiphertext: node -> aggregator, round. The encrypted update.
	KindCiphertext
	// KindDecryptRequest: aggregator -> decryptors, round. The contributor
	// set, the decryption set and the aggregate ciphertext's c1.
	KindDecryptRequest
	// KindDecryptShare: decryptor -> aggregator, round. Its smudged key-switch
	// share for every ciphertext of the aggregate.
	KindDecryptShare
	// KindResult: aggregator -> nodes, round, only when the nodes are the
	// recipients. The aggregate re-encrypted under the nodes' result key.
	KindResult
	// KindAggregate: aggregator -> contributors, verified round. The
	// contributor set with every contribution's digest and signature, and
	// the digest of the claimed aggregate's c1.
	KindAggregate
	// KindChallenge: contributor -> aggregator, verified round. A fresh
	// 32-byte challenge seed, drawn after the claimed aggregate was fixed.
	KindChallenge
	// KindChallengeSet: aggregator -> contributors, verified round. Every
	// contributor's challenge seed.
	KindChallengeSet
	// KindFingerprint: contributor -> aggregator, verified round. The signed
	// linear fingerprints of the contributor's c1 under the joint challenge.
	KindFingerprint
	kindEnd
)

var kindNames = [...]string{"invalid", "announce", "key-share", "shamir-share", "public-key", "ciphertext", "decrypt-request", "decrypt-share", "result",
	"aggregate", "challenge", "challenge-set", "fingerprint"}

// String returns the kind's name.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Message is one protocol message between two parties (0 is the
// aggregator, nodes are 1..n): the contract's [mpc.Message]. Its Kind is the
// name of the [Kind] encoded in Data's second byte. Several messages may
// share one Data slice (a broadcast): it must be treated as read-only.
type Message = mpc.Message

// Wire constants.
const (
	version = 1
	// headerFixed is the header size without the federation id: version (1),
	// kind (1), from (2), to (2), round (8), attempt (4), len(federation id) (1).
	headerFixed = 19
	// broadcast in the header's to field addresses every recipient of the
	// message (the transport's Message.To names the actual one).
	broadcast = 0xFFFF
	// maxFederationID bounds the federation id (one length byte).
	maxFederationID = 255
)

// header is the decoded fixed part of a message.
type header struct {
	kind     Kind
	from, to uint16
	round    uint64
	attempt  uint32
	fed      string
}

// appendHeader writes the header (little-endian integers).
func appendHeader(dst []byte, h header) []byte {
	dst = append(dst, version, byte(h.kind))
	dst = binary.LittleEndian.AppendUint16(dst, h.from)
	dst = binary.LittleEndian.AppendUint16(dst, h.to)
	dst = binary.LittleEndian.AppendUint64(dst, h.round)
	dst = binary.LittleEndian.AppendUint32(dst, h.attempt)
	dst = append(dst, byte(len(h.fed)))
	return append(dst, h.fed...)
}

// parseHeader decodes the header and returns it with the body, which aliases
// b. It checks only the encoding; the state machines check the contents.
func parseHeader(b []byte) (header, []byte, error) {
	var h header
	if len(b) < headerFixed {
		return h, nil, malformed("message of %d bytes, header needs %d", len(b), headerFixed)
	}
	if b[0] != version {
		return h, nil, malformed("version %d", b[0])
	}
	h.kind = Kind(b[1])
	if h.kind == 0 || h.kind >= kindEnd {
		return h, nil, malformed("unknown kind %d", b[1])
	}
	h.from = binary.LittleEndian.Uint16(b[2:])
	h.to = binary.LittleEndian.Uint16(b[4:])
	h.round = binary.LittleEndian.Uint64(b[6:])
	h.attempt = binary.LittleEndian.Uint32(b[14:])
	fl := int(b[18])
	if len(b) < headerFixed+fl {
		return h, nil, malformed("federation id of %d bytes in a message of %d", fl, len(b))
	}
	h.fed = string(b[headerFixed : headerFixed+fl])
	return h, b[headerFixed+fl:], nil
}

// MessageKind returns the kind of an encoded message, so that drivers can
// route messages without decoding them.
func MessageKind(data []byte) (Kind, error) {
	h, _, err := parseHeader(data)
	return h.kind, err
}

// Header is the decoded header of a message, for drivers that route, log or
// filter messages without running a state machine.
type Header struct {
	// Kind is the message kind.
	Kind Kind
	// From and To are party ids (0 is the aggregator); To is
	// [BroadcastID] for a message addressed to several recipients.
	From, To int
	// Round is 0 for setup messages.
	Round uint64
	// Attempt numbers the decryption attempts of a round (0 otherwise).
	Attempt uint32
	// FederationID binds the message to its federation.
	FederationID string
}

// BroadcastID is the header's To field of a message sent to several
// recipients (each transport Message names one of them).
const BroadcastID = broadcast

// ParseHeader decodes the header of an encoded message; errors wrap
// mpc.ErrMalformed.
func ParseHeader(data []byte) (Header, error) {
	h, _, err := parseHeader(data)
	if err != nil {
		return Header{}, err
	}
	return Header{Kind: h.kind, From: int(h.from), To: int(h.to), Round: h.round, Attempt: h.attempt, FederationID: h.fed}, nil
}

// appendPolyQ appends the bit-packed coefficients of poly for primes
// 0..p.level, prime by prime, each coefficient in bitlen(q_i - 1) bits.
func (p *params) appendPolyQ(dst []byte, poly ring.Poly) []byte {
	for k, w := range p.qBits {
		dst = kernels.Pack64(dst, poly.Coeffs[k], w)
	}
	return dst
}

// readPolyQ decodes exactly p.qBytes bytes written by appendPolyQ into poly,
// rejecting non-canonical padding and coefficients >= q_i.
func (p *params) readPolyQ(poly ring.Poly, src []byte) error {
	if len(src) != p.qBytes {
		return malformed("polynomial of %d bytes, want %d", len(src), p.qBytes)
	}
	_, err := readMod(poly.Coeffs, src, p.n, p.qBits, p.lit.Q)
	return err
}

// appendPolyQP appends a polynomial modulo QP: the Q part, then the P part.
func (p *params) appendPolyQP(dst []byte, poly ringqp.Poly) []byte {
	dst = p.appendPolyQ(dst, poly.Q)
	for k, w := range p.pBits {
		dst = kernels.Pack64(dst, poly.P.Coeffs[k], w)
	}
	return dst
}

// qpBytes is the packed size of a polynomial modulo QP.
func (p *params) qpBytes() int { return p.qBytes + p.pBytes }

// readPolyQP decodes exactly p.qpBytes() bytes written by appendPolyQP.
func (p *params) readPolyQP(poly ringqp.Poly, src []byte) error {
	if len(src) != p.qpBytes() {
		return malformed("polynomial of %d bytes, want %d", len(src), p.qpBytes())
	}
	rest, err := readMod(poly.Q.Coeffs, src, p.n, p.qBits, p.lit.Q)
	if err != nil {
		return err
	}
	_, err = readMod(poly.P.Coeffs, rest, p.n, p.pBits, p.lit.P)
	return err
}

// readMod unpacks one residue vector per modulus from src and returns the
// unread rest. src holds at least the packed size (checked by the callers).
func readMod(dst [][]uint64, src []byte, n int, widths []uint, moduli []uint64) ([]byte, error) {
	for k, w := range widths {
		l := packedLen(n, w)
		if len(src) < l {
			return nil, malformed("residues of %d bytes, want %d", len(src), l)
		}
		if err := kernels.Unpack64(dst[k][:n], src[:l], w); err != nil {
			return nil, fmt.Errorf("mhe: residues modulo prime %d: %w: %w", k, err, mpc.ErrMalformed)
		}
		q := moduli[k]
		for _, c := range dst[k][:n] {
			if c >= q {
				return nil, malformed("residue modulo prime %d out of range", k)
			}
		}
		src = src[l:]
	}
	return src, nil
}

// appendIDs appends a u16 count and the ids.
func appendIDs(dst []byte, ids []uint16) []byte {
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(ids)))
	for _, id := range ids {
		dst = binary.LittleEndian.AppendUint16(dst, id)
	}
	return dst
}

// readIDs decodes a list written by appendIDs: at most max ids, strictly
// increasing, each in 1..max. It returns the ids and the rest of b.
func readIDs(b []byte, max int) ([]uint16, []byte, error) {
	if len(b) < 2 {
		return nil, nil, malformed("id list of %d bytes", len(b))
	}
	c := int(binary.LittleEndian.Uint16(b))
	if c > max {
		return nil, nil, malformed("%d ids for %d parties", c, max)
	}
	if len(b) < 2+2*c {
		return nil, nil, malformed("id list of %d bytes for %d ids", len(b), c)
	}
	ids := make([]uint16, c)
	for i := range ids {
		id := binary.LittleEndian.Uint16(b[2+2*i:])
		if id == 0 || int(id) > max || (i > 0 && id <= ids[i-1]) {
			return nil, nil, malformed("id list not strictly increasing in 1..%d", max)
		}
		ids[i] = id
	}
	return ids, b[2+2*c:], nil
}
