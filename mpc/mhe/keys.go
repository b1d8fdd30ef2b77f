package mhe

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/big"
	"slices"

	"github.com/tuneinsight/lattigo/v6/core/rlwe"
	"github.com/tuneinsight/lattigo/v6/multiparty"
	"github.com/tuneinsight/lattigo/v6/ring"
	"github.com/tuneinsight/lattigo/v6/ring/ringqp"
	"github.com/tuneinsight/lattigo/v6/utils/sampling"
)

// Recipient says who learns the aggregate of a round.
type Recipient uint8

const (
	// RecipientAggregator: the decryptors key-switch the aggregate to the
	// zero key, so the aggregator (the coordinator) reads the sum, as in
	// ordinary federated learning. This is the default.
	RecipientAggregator Recipient = iota
	// RecipientNodes: the decryptors key-switch the aggregate to a result key
	// that only the nodes hold (derived from contributions they exchanged
	// encrypted during setup), so even the aggregator never sees the sum.
	RecipientNodes
)

// String returns "aggregator" or "nodes".
func (r Recipient) String() string {
	switch r {
	case RecipientAggregator:
		return "aggregator"
	case RecipientNodes:
		return "nodes"
	}
	return fmt.Sprintf("recipient(%d)", uint8(r))
}

// Domain-separation labels.
const (
	labelCRS          = "consort/mhe/crs/v1"
	labelSecret       = "consort/mhe/secret-key/v1"
	labelResult       = "consort/mhe/result-key/v1"
	labelResultPK     = "consort/mhe/result-key-crp/v1"
	labelShare        = "consort/mhe/shamir-share/v1"
	labelAnnounce     = "consort/mhe/announce/v1"
	labelKeyFile      = "consort-mhe-key\x01"
	labelKeyFileAdd   = "consort-mhe-key\x02"
	labelContribution = "consort/mhe/result-contribution/v1"
	labelDH           = "consort/mhe/x25519/v1"
	labelKeyShare     = "consort/mhe/key-share-error/v1"
	labelSeededShare  = "consort/mhe/seeded-shamir-share/v1"
	keySeedSize       = 32
)

// derive hashes a label and parts into a 32-byte seed.
func derive(label string, parts ...[]byte) []byte {
	h := sha256.New()
	h.Write([]byte(label))
	for _, p := range parts {
		var l [4]byte
		binary.LittleEndian.PutUint32(l[:], uint32(len(p)))
		h.Write(l[:])
		h.Write(p)
	}
	return h.Sum(nil)
}

// keyedPRNG returns lattigo's BLAKE2b-based PRNG keyed with seed.
func keyedPRNG(seed []byte) sampling.PRNG {
	prng, err := sampling.NewKeyedPRNG(seed)
	if err != nil {
		// NewKeyedPRNG fails only for keys longer than 64 bytes.
		panic("mhe: keyed PRNG: " + err.Error())
	}
	return prng
}

// crp returns the common reference polynomial a of the collective public
// key, expanded from the federation's CRS seed.
func (p *params) crp(fed string, crs [32]byte) multiparty.PublicKeyGenCRP {
	ckg := multiparty.NewPublicKeyGenProtocol(p.rlwe)
	return ckg.SampleCRP(keyedPRNG(derive(labelCRS, []byte(fed), crs[:])))
}

// secretKeyFromSeed samples a uniform ternary secret key from a PRNG keyed
// with seed (the way lattigo's key generator does from its own PRNG).
func (p *params) secretKeyFromSeed(seed []byte) *rlwe.SecretKey {
	sampler, err := ring.NewSampler(keyedPRNG(seed), p.rlwe.RingQ(), p.rlwe.Xs(), false)
	if err != nil {
		panic("mhe: ternary sampler: " + err.Error())
	}
	sk := rlwe.NewSecretKey(p.rlwe)
	sampler.Read(sk.Value.Q)
	rqp := p.rlwe.RingQP()
	if lp := p.rlwe.MaxLevelP(); lp > -1 {
		rqp.ExtendBasisSmallNormAndCenter(sk.Value.Q, lp, sk.Value.Q, sk.Value.P)
	}
	rqp.NTT(sk.Value, sk.Value)
	rqp.MForm(sk.Value, sk.Value)
	return sk
}

// keyShare returns the node's share -a*s_i + e_i of the collective public
// key (NTT and Montgomery form, as multiparty.PublicKeyGenProtocol.GenShare
// computes it) with the error drawn from a PRNG keyed with seed.
func (p *params) keyShare(sk *rlwe.SecretKey, crp multiparty.PublicKeyGenCRP, seed []byte) multiparty.PublicKeyGenShare {
	sampler, err := ring.NewSampler(keyedPRNG(seed), p.rlwe.RingQ(), p.rlwe.Xe(), false)
	if err != nil {
		panic("mhe: Gaussian sampler: " + err.Error())
	}
	rqp := p.rlwe.RingQP()
	e := rqp.NewPoly()
	sampler.Read(e.Q)
	rqp.ExtendBasisSmallNormAndCenter(e.Q, p.rlwe.MaxLevelP(), e.Q, e.P)
	rqp.NTT(e, e)
	rqp.MForm(e, e)
	rqp.MulCoeffsMontgomeryThenSub(sk.Value, crp.Value, e)
	return multiparty.PublicKeyGenShare{Value: e}
}

// lagrangeAt sets dst = f(x) for the polynomial f of degree len(xs)-1 with
// f(xs[m]) = ys[m] (distinct points), coefficient-wise modulo every prime of
// QP: f(x) = sum_m ys[m] * prod_(l != m) (x - xs[l]) / (xs[m] - xs[l]).
// Every representation of ys (NTT, Montgomery) is kept, since the map is
// linear.
func (p *params) lagrangeAt(dst ringqp.Poly, xs []uint64, ys []ringqp.Poly, x uint64) {
	moduli := append(slices.Clone(p.lit.Q), p.lit.P...)
	nq := len(p.lit.Q)
	for k, q := range moduli {
		bq := new(big.Int).SetUint64(q)
		lambdas := make([]uint64, len(xs))
		for m, xm := range xs {
			num, den := big.NewInt(1), big.NewInt(1)
			for l, xl := range xs {
				if l == m {
					continue
				}
				num.Mul(num, new(big.Int).Sub(new(big.Int).SetUint64(x), new(big.Int).SetUint64(xl)))
				den.Mul(den, new(big.Int).Sub(new(big.Int).SetUint64(xm), new(big.Int).SetUint64(xl)))
			}
			den.Mod(den, bq).ModInverse(den, bq)
			lambdas[m] = num.Mul(num, den).Mod(num, bq).Uint64()
		}
		coeffs := func(poly ringqp.Poly) []uint64 {
			if k < nq {
				return poly.Q.Coeffs[k][:p.n]
			}
			return poly.P.Coeffs[k-nq][:p.n]
		}
		brc := ring.GenBRedConstant(q)
		out := coeffs(dst)
		clear(out)
		for m, y := range ys {
			lm := lambdas[m]
			for i, c := range coeffs(y) {
				v := out[i] + ring.BRed(lm, c, q, brc)
				out[i] = min(v, v-q) // v < 2q: subtract q unless it wraps
			}
		}
	}
}

// KeyMaterial is what a node keeps from the federation setup: its Shamir
// share of the collective secret key, the collective public key and, when the
// nodes are the recipients, the seed of their result key. It is secret: the
// federated layer persists it with file mode 0600 ([KeyMaterial.MarshalBinary]
// and [UnmarshalKeyMaterial]). It has no String method and is not comparable.
type KeyMaterial struct {
	_ [0]func()

	p         Params
	fed       string
	id        uint16
	n, t      int
	recipient Recipient
	crs       [32]byte
	rseed     [32]byte
	share     multiparty.ShamirSecretShare
	pk0       ringqp.Poly
	// additive: t = n and share is the node's additive share of s itself
	// (no Shamir sharing took place).
	additive bool

	// derived, not serialised
	pk *rlwe.PublicKey
}

// PartyID returns the node's id (1..n).
func (k *KeyMaterial) PartyID() int { return int(k.id) }

// Parties returns the federation size n.
func (k *KeyMaterial) Parties() int { return k.n }

// Threshold returns the number of nodes needed to decrypt.
func (k *KeyMaterial) Threshold() int { return k.t }

// FederationID returns the federation the key belongs to.
func (k *KeyMaterial) FederationID() string { return k.fed }

// Recipient returns who learns the aggregates.
func (k *KeyMaterial) Recipient() Recipient { return k.recipient }

// Params returns the parameter set of the key.
func (k *KeyMaterial) Params() Params { return k.p }

// PublicKeyDigest returns SHA-256 of the collective public key's encoding,
// which every node and the aggregator can log to check they agree.
func (k *KeyMaterial) PublicKeyDigest() [32]byte {
	return publicKeyDigest(k.p.p, k.fed, k.crs, k.pk0)
}

func publicKeyDigest(p *params, fed string, crs [32]byte, pk0 ringqp.Poly) [32]byte {
	var d [32]byte
	copy(d[:], derive("consort/mhe/public-key-digest/v1", []byte(fed), crs[:], p.appendPolyQP(nil, pk0)))
	return d
}

// init rebuilds the collective public key from pk0 and the CRS.
func (k *KeyMaterial) init() {
	p := k.p.p
	pk := rlwe.NewPublicKey(p.rlwe)
	pk.Value[0].Copy(k.pk0)
	pk.Value[1].Copy(p.crp(k.fed, k.crs).Value)
	k.pk = pk
}

// keyFileFixed is the size of the fixed fields of the key encoding after the
// label: name length (1), federation id length (1), id, n, t (2 each),
// recipient (1), CRS (32), result seed (32).
const keyFileFixed = 1 + 1 + 6 + 1 + 32 + 32

// MarshalBinary encodes the key material:
//
//	label "consort-mhe-key\x01" (16 bytes; "\x02" when t = n and the share is
//	additive, not a Shamir share)
//	len(name) (1) | parameter-set name | len(federation id) (1) | federation id
//	id (uint16) | n (uint16) | t (uint16) | recipient (1)
//	CRS seed (32) | result-key seed (32, zero unless the nodes are recipients)
//	Shamir share (polynomial mod QP, NTT and Montgomery form, bit-packed)
//	collective public key pk0 (polynomial mod QP, bit-packed)
//
// Integers are little-endian. The bytes are secret.
func (k *KeyMaterial) MarshalBinary() ([]byte, error) {
	p := k.p.p
	name := p.lit.Name
	b := make([]byte, 0, len(labelKeyFile)+keyFileFixed+len(name)+len(k.fed)+2*p.qpBytes())
	if k.additive {
		b = append(b, labelKeyFileAdd...)
	} else {
		b = append(b, labelKeyFile...)
	}
	b = append(b, byte(len(name)))
	b = append(b, name...)
	b = append(b, byte(len(k.fed)))
	b = append(b, k.fed...)
	b = binary.LittleEndian.AppendUint16(b, k.id)
	b = binary.LittleEndian.AppendUint16(b, uint16(k.n))
	b = binary.LittleEndian.AppendUint16(b, uint16(k.t))
	b = append(b, byte(k.recipient))
	b = append(b, k.crs[:]...)
	b = append(b, k.rseed[:]...)
	b = p.appendPolyQP(b, k.share.Poly)
	b = p.appendPolyQP(b, k.pk0)
	return b, nil
}

// UnmarshalKeyMaterial decodes key material written by
// [KeyMaterial.MarshalBinary] for the parameter set p. Every size is checked
// against p before anything is allocated; errors wrap mpc.ErrMalformed and
// name sizes only.
func UnmarshalKeyMaterial(p Params, b []byte) (*KeyMaterial, error) {
	if p.p == nil {
		return nil, fmt.Errorf("%w: zero Params", ErrParams)
	}
	pp := p.p
	if len(b) < len(labelKeyFile)+keyFileFixed || (string(b[:len(labelKeyFile)]) != labelKeyFile && string(b[:len(labelKeyFile)]) != labelKeyFileAdd) {
		return nil, malformed("key material: bad label or %d bytes", len(b))
	}
	additive := string(b[:len(labelKeyFile)]) == labelKeyFileAdd
	b = b[len(labelKeyFile):]
	nl := int(b[0])
	if len(b) < 1+nl+1 {
		return nil, malformed("key material: truncated name")
	}
	if string(b[1:1+nl]) != pp.lit.Name {
		return nil, fmt.Errorf("mhe: key material is for another parameter set: %w", ErrParams)
	}
	b = b[1+nl:]
	fl := int(b[0])
	want := 1 + fl + keyFileFixed - 2 + 2*pp.qpBytes()
	if len(b) != want {
		return nil, malformed("key material: %d bytes after the name, want %d", len(b), want)
	}
	k := &KeyMaterial{p: p, fed: string(b[1 : 1+fl]), additive: additive}
	b = b[1+fl:]
	k.id = binary.LittleEndian.Uint16(b)
	k.n = int(binary.LittleEndian.Uint16(b[2:]))
	k.t = int(binary.LittleEndian.Uint16(b[4:]))
	k.recipient = Recipient(b[6])
	switch {
	case k.n < 1 || k.n > pp.lit.MaxParties:
		return nil, malformed("key material: %d parties (max %d)", k.n, pp.lit.MaxParties)
	case k.t < 1 || k.t > k.n:
		return nil, malformed("key material: threshold %d of %d", k.t, k.n)
	case k.additive && k.t != k.n:
		return nil, malformed("key material: additive share with threshold %d of %d", k.t, k.n)
	case k.id < 1 || int(k.id) > k.n:
		return nil, malformed("key material: party id %d of %d", k.id, k.n)
	case k.recipient > RecipientNodes:
		return nil, malformed("key material: recipient %d", b[6])
	}
	copy(k.crs[:], b[7:39])
	copy(k.rseed[:], b[39:71])
	b = b[71:]
	if k.recipient == RecipientAggregator && k.rseed != ([32]byte{}) {
		return nil, malformed("key material: result seed set for aggregator recipient")
	}
	rqp := pp.rlwe.RingQP()
	k.share = multiparty.ShamirSecretShare{Poly: rqp.NewPoly()}
	k.pk0 = rqp.NewPoly()
	if err := pp.readPolyQP(k.share.Poly, b[:pp.qpBytes()]); err != nil {
		return nil, err
	}
	if err := pp.readPolyQP(k.pk0, b[pp.qpBytes():]); err != nil {
		return nil, err
	}
	k.init()
	return k, nil
}

// resultKeys derives the nodes' result key pair from the result seed: the
// secret key deterministically, the public key with a reference polynomial
// from the seed and fresh error (any valid encryption key of the same secret
// works for the public key switch).
func (k *KeyMaterial) resultKeys() (*rlwe.SecretKey, *rlwe.PublicKey) {
	p := k.p.p
	sk := p.secretKeyFromSeed(derive(labelResult, []byte(k.fed), k.rseed[:]))
	ckg := multiparty.NewPublicKeyGenProtocol(p.rlwe)
	crp := ckg.SampleCRP(keyedPRNG(derive(labelResultPK, []byte(k.fed), k.rseed[:])))
	share := ckg.AllocateShare()
	ckg.GenShare(sk, crp, &share)
	pk := rlwe.NewPublicKey(p.rlwe)
	ckg.GenPublicKey(share, crp, pk)
	return sk, pk
}
