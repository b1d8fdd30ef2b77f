package mhe

import (
	"fmt"

	"github.com/tuneinsight/lattigo/v6/core/rlwe"
	"github.com/tuneinsight/lattigo/v6/utils/sampling"
)

// Baseline runs lattigo's own public-key encryption under a parameter set:
// the reference a node's work is measured against. Encrypt produces one
// ciphertext at the wire level in the NTT domain, lattigo's default for BGV
// ciphertexts (bgv.NewCiphertext), from a plaintext encoded beforehand; it
// includes neither encoding nor serialisation.
type Baseline struct {
	enc *rlwe.Encryptor
	pt  *rlwe.Plaintext
	ct  *rlwe.Ciphertext
}

// NewBaseline prepares the reference encryption with a fresh key pair and a
// random plaintext.
func NewBaseline(p Params) (*Baseline, error) {
	if p.p == nil {
		return nil, fmt.Errorf("%w: zero Params", ErrParams)
	}
	pp := p.p
	_, pk := rlwe.NewKeyGenerator(pp.rlwe).GenKeyPairNew()
	prng, err := sampling.NewPRNG()
	if err != nil {
		return nil, fmt.Errorf("mhe: PRNG: %w", err)
	}
	pt := rlwe.NewPlaintextRandom(prng, pp.rlwe, pp.level)
	pt.IsNTT = true
	ct := rlwe.NewCiphertext(pp.rlwe, 1, pp.level)
	return &Baseline{enc: rlwe.NewEncryptor(pp.rlwe, pk), pt: pt, ct: ct}, nil
}

// Encrypt encrypts the plaintext once.
func (b *Baseline) Encrypt() error {
	return b.enc.Encrypt(b.pt, b.ct)
}
