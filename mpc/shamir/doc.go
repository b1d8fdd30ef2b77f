// Package shamir implements t-of-n Shamir secret sharing (A. Shamir, "How to
// share a secret", Communications of the ACM 22(11), 1979) of 32-byte secrets
// over the prime field GF(p), p = 2^256 + 297, the smallest prime above
// 2^256, so that every 32-byte string is a field element.
//
// A [Scheme] fixes the threshold t and the holders' indices (distinct,
// non-zero x-coordinates, for example party ids). [Scheme.Split] draws a
// uniformly random polynomial f of degree t-1 with f(0) = secret and gives
// holder x the share f(x); [Scheme.Combine] interpolates f(0) from any t
// shares by Lagrange's formula.
//
// # Security
//
// Any t-1 shares are uniformly distributed and independent of the secret
// (perfect secrecy): for every candidate secret there is exactly one
// polynomial of degree t-1 through the t-1 points and that candidate. This
// holds only if the coefficients are uniform: they are drawn by rejection
// sampling from the injected reader, which must be a cryptographically secure
// generator (crypto/rand in production).
//
// Arithmetic on secret values (coefficients, shares, the secret) uses the
// constant-time modular arithmetic of filippo.io/bigmod. Indices and Lagrange
// coefficients are public and computed in variable time. Shares are not
// authenticated: a wrong share yields a wrong secret (the caller binds the
// secret to a public value, as package secagg does by checking a
// reconstructed private key against its advertised public key). Error texts
// name indices only, never share bytes.
//
// # Encoding
//
// A field element is [ElementSize] = 33 bytes, little-endian, canonical
// (less than p). A share encodes as [ShareSize] = 35 bytes: the index x as a
// little-endian uint16, then the element f(x).
//
// # Usage
//
//	s, err := shamir.New(3, []uint16{1, 2, 3, 4, 5})
//	shares, err := s.Split(&secret, rand.Reader) // shares[i] goes to holder i+1
//	...
//	got, err := s.Combine([]shamir.Share{shares[4], shares[0], shares[2]})
package shamir
