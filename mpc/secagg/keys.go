package secagg

import (
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/consort-ml/consort/mpc"
	"golang.org/x/crypto/chacha20poly1305"
)

// Domain-separation labels of every derivation and signature.
const (
	labelAdvertise = "consort/secagg/v1 advertise"
	labelGraph     = "consort/secagg/v1 graph"
	labelEnc       = "consort/secagg/v1 share encryption"
	labelShareAD   = "consort/secagg/v1 shares"
	labelPairMask  = "consort/secagg/v1 pairwise mask"
	labelSelfMask  = "consort/secagg/v1 self mask"
	labelConsist   = "consort/secagg/v1 consistency"
	labelConfKey   = "consort/secagg/v1 confirmation key"
	labelConfTag   = "consort/secagg/v1 confirmation tag"
)

// KeySize is the size of an X25519 key.
const KeySize = 32

// binding appends label || len(fed) (uint16) || fed || round (uint64) || a
// (uint16) || b (uint16), all little-endian: the context every derived key is
// bound to.
func (p *Params) binding(dst []byte, label string, a, b uint16) []byte {
	dst = append(dst, label...)
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(p.fed)))
	dst = append(dst, p.fed...)
	dst = binary.LittleEndian.AppendUint64(dst, p.round)
	dst = binary.LittleEndian.AppendUint16(dst, a)
	return binary.LittleEndian.AppendUint16(dst, b)
}

// advertiseSigned is the message a party signs over its two public keys.
func (p *Params) advertiseSigned(id uint16, cpk, spk []byte) []byte {
	m := p.binding(make([]byte, 0, 128), labelAdvertise, id, 0)
	m = append(m, cpk...)
	return append(m, spk...)
}

// graphSeed derives the public ordering seed of the neighbour graph from the
// round binding and the key list (every advertised key and signature).
func (p *Params) graphSeed(keyListBody []byte) [32]byte {
	h := sha256.New()
	h.Write(p.binding(nil, labelGraph, 0, 0))
	h.Write(keyListBody)
	var s [32]byte
	h.Sum(s[:0])
	return s
}

// kdf runs HKDF-SHA256 over secret with the given info and returns 32 bytes.
func kdf(secret, info []byte) [32]byte {
	k, err := hkdf.Key(sha256.New, secret, nil, string(info), 32)
	if err != nil {
		panic("secagg: HKDF-SHA256 refused a 32-byte output")
	}
	var out [32]byte
	copy(out[:], k)
	return out
}

// agree runs X25519; an all-zero result (a low-order peer key) is a protocol
// violation by the peer.
func agree(priv *ecdh.PrivateKey, pubBytes []byte) ([]byte, error) {
	pub, err := ecdh.X25519().NewPublicKey(pubBytes)
	if err != nil {
		return nil, fmt.Errorf("%w: bad X25519 public key", mpc.ErrProtocol)
	}
	ss, err := priv.ECDH(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: X25519 with a low-order key", mpc.ErrProtocol)
	}
	return ss, nil
}

// pairSeed is the 32-byte AES-CTR mask seed shared by u and v: HKDF over
// their X25519 secret, bound to the round and to the unordered pair.
func (p *Params) pairSeed(ss []byte, u, v uint16) [32]byte {
	return kdf(ss, p.binding(nil, labelPairMask, min(u, v), max(u, v)))
}

// selfSeed is party u's self-mask seed, derived from its fresh secret b_u.
func (p *Params) selfSeed(b *[32]byte, u uint16) [32]byte {
	return kdf(b[:], p.binding(nil, labelSelfMask, u, u))
}

// shareAEAD returns the AEAD for shares sent from sender to receiver. The key
// is derived per direction, so each key encrypts one message and the
// all-zero nonce is never reused.
// The associated data binds the round, both parties and the step.
func (p *Params) shareAEAD(ss []byte, sender, receiver uint16) (key [32]byte, ad []byte) {
	key = kdf(ss, p.binding(nil, labelEnc, sender, receiver))
	ad = p.binding(nil, labelShareAD, sender, receiver)
	return key, append(ad, byte(StepShareKeys))
}

// seal and open wrap ChaCha20-Poly1305 with the zero nonce.
func seal(key *[32]byte, ad, plaintext []byte) []byte {
	a, err := chacha20poly1305.New(key[:])
	if err != nil {
		panic("secagg: ChaCha20-Poly1305 refused a 32-byte key")
	}
	var nonce [chacha20poly1305.NonceSize]byte
	return a.Seal(nil, nonce[:], plaintext, ad)
}

func open(key *[32]byte, ad, ciphertext []byte) ([]byte, error) {
	a, err := chacha20poly1305.New(key[:])
	if err != nil {
		panic("secagg: ChaCha20-Poly1305 refused a 32-byte key")
	}
	var nonce [chacha20poly1305.NonceSize]byte
	pt, err := a.Open(nil, nonce[:], ciphertext, ad)
	if err != nil {
		return nil, fmt.Errorf("%w: share ciphertext does not authenticate", mpc.ErrProtocol)
	}
	return pt, nil
}

// consistencySigned is the message a party signs to confirm the survivor set
// U3 (its canonical party-set encoding): label || federation || round || U3.
func (p *Params) consistencySigned(u3 []byte) []byte {
	m := p.binding(make([]byte, 0, 64+len(u3)), labelConsist, 0, 0)
	return append(m, u3...)
}

// confirmKey is the MAC key of the consistency check shared by neighbours u
// and v, derived from their X25519 agreement on the encryption keys (which
// the server does not know), bound to the round and the unordered pair.
func (p *Params) confirmKey(ss []byte, u, v uint16) [32]byte {
	return kdf(ss, p.binding(nil, labelConfKey, min(u, v), max(u, v)))
}

// confirmTag is sender's MAC tag for receiver over U3:
// HMAC-SHA256(key, label || federation || round || sender || receiver || U3)
// truncated to TagSize bytes.
func (p *Params) confirmTag(key *[32]byte, sender, receiver uint16, u3 []byte) [TagSize]byte {
	h := hmac.New(sha256.New, key[:])
	h.Write(p.binding(make([]byte, 0, 64), labelConfTag, sender, receiver))
	h.Write(u3)
	var sum [sha256.Size]byte
	var tag [TagSize]byte
	copy(tag[:], h.Sum(sum[:0]))
	return tag
}
