package mhe

import (
	"crypto/aes"
	"crypto/cipher"

	"github.com/tuneinsight/lattigo/v6/core/rlwe"
	"github.com/tuneinsight/lattigo/v6/ring"
	"github.com/tuneinsight/lattigo/v6/ring/ringqp"
)

// ctrPRNG is an AES-128-CTR keystream as a sampling.PRNG (an io.Reader), so
// that lattigo's samplers draw from randomness we inject. It is several times
// faster than lattigo's BLAKE2b generator, which dominates sampling.
type ctrPRNG struct{ s cipher.Stream }

func newCTRPRNG(seed [32]byte) *ctrPRNG {
	block, err := aes.NewCipher(seed[:16])
	if err != nil {
		panic("mhe: aes.NewCipher rejected a 16-byte key")
	}
	return &ctrPRNG{s: cipher.NewCTR(block, seed[16:])}
}

// Read fills p with keystream.
func (r *ctrPRNG) Read(p []byte) (int, error) {
	clear(p)
	r.s.XORKeyStream(p, p)
	return len(p), nil
}

// pkEncryptor is RLWE public-key encryption under the collective key, as
// lattigo's rlwe.Encryptor does it when the parameters have an auxiliary
// modulus P, with samplers keyed from the node's injected randomness and the
// output left in the coefficient domain (the aggregator only adds
// ciphertexts, so the two forward NTTs a BGV ciphertext would take are
// skipped):
//
//	u <- ternary, e0, e1 <- Gaussian(3.2), all in QP
//	(c0, c1) = round((u*pk0 + e0, u*pk1 + e1) / P) + (m, 0)   mod Q
//
// so that c0 + c1*s = m + (e_pk*u + e0 + e1*s)/P + rounding.
type pkEncryptor struct {
	p      *params
	pk     *rlwe.PublicKey
	xs, xe ring.Sampler
	be     *ring.BasisExtender
	u      ringqp.Poly // the ternary u, then the errors
	c0, c1 ringqp.Poly
}

func newPKEncryptor(p *params, pk *rlwe.PublicKey, seed [32]byte) *pkEncryptor {
	prng := newCTRPRNG(seed)
	rq := p.rlwe.RingQ()
	xs, err := ring.NewSampler(prng, rq, p.rlwe.Xs(), false)
	if err != nil {
		panic("mhe: ternary sampler: " + err.Error())
	}
	xe, err := ring.NewSampler(prng, rq, p.rlwe.Xe(), false)
	if err != nil {
		panic("mhe: Gaussian sampler: " + err.Error())
	}
	rqp := p.rlwe.RingQP()
	return &pkEncryptor{
		p: p, pk: pk, xs: xs, xe: xe,
		be: ring.NewBasisExtender(rq, p.rlwe.RingP()),
		u:  rqp.NewPoly(), c0: rqp.NewPoly(), c1: rqp.NewPoly(),
	}
}

// encrypt encrypts the plaintext m (coefficient domain, primes 0..level)
// and returns c0, c1 (coefficient domain), which stay valid until the next
// call.
func (e *pkEncryptor) encrypt(m ring.Poly) (c0, c1 ring.Poly) {
	p := e.p
	levelP := p.rlwe.MaxLevelP()
	rqp := p.rlwe.RingQP()
	e.xs.Read(e.u.Q)
	rqp.ExtendBasisSmallNormAndCenter(e.u.Q, levelP, e.u.Q, e.u.P)
	rqp.NTT(e.u, e.u)
	rqp.MulCoeffsMontgomery(e.u, e.pk.Value[0], e.c0)
	rqp.MulCoeffsMontgomery(e.u, e.pk.Value[1], e.c1)
	rqp.INTT(e.c0, e.c0)
	rqp.INTT(e.c1, e.c1)
	for _, c := range []ringqp.Poly{e.c0, e.c1} {
		e.xe.Read(e.u.Q)
		rqp.ExtendBasisSmallNormAndCenter(e.u.Q, levelP, e.u.Q, e.u.P)
		rqp.Add(c, e.u, c)
	}
	c0, c1 = e.c0.Q, e.c1.Q
	e.be.ModDownQPtoQ(p.level, levelP, e.c0.Q, e.c0.P, c0) // in place
	e.be.ModDownQPtoQ(p.level, levelP, e.c1.Q, e.c1.P, c1)
	p.rlwe.RingQ().AtLevel(p.level).Add(c0, m, c0)
	return c0, c1
}
