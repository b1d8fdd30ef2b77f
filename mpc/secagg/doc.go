// Package secagg implements dropout-tolerant secure aggregation by pairwise
// masking: the protocol of Bonawitz et al., "Practical Secure Aggregation for
// Privacy-Preserving Machine Learning" (CCS 2017), with the sparse neighbour
// graph of SecAgg+ (Bell, Bonawitz, Gascón, Lepoint, Raykova, "Secure
// Single-Server Aggregation with (Poly)Logarithmic Overhead", CCS 2020).
//
// n parties (ids 1..n) each hold a vector x_i of d elements of the ring
// Z_{2^k} (k = [Config.Bits], 32 by default; fixed-point encoding is the
// caller's job, see package kernels). The server (id 0) learns the sum of the
// inputs of the parties that completed the upload, and nothing else, even
// when up to n - t parties drop out at any point of the round.
//
// # Threat model
//
// The server is honest but curious (it follows the protocol and tries to
// learn from what it sees) and may collude with fewer than t parties, which
// may deviate arbitrarily. Such a coalition learns nothing about an honest
// party's input beyond the sum it is part of. Every party is authenticated: a
// party signs its advertised public keys with its Ed25519 identity key
// ([Config.Identities]), and every party checks its neighbours' signatures, so
// the server cannot substitute keys and mount a man-in-the-middle on the
// encrypted shares. Against an actively malicious server the original
// protocol adds a consistency-check round (signatures on the survivor set);
// this package does not implement it, and relies on the parties' local
// checks: a party answers at most one unmasking request, never reveals both a
// self-mask share and a key share of one party, refuses a survivor set that
// omits itself, names fewer than MinSurvivors parties or contradicts the
// shares it received.
//
// Robustness is out of scope, as in the original protocol: a deviating party
// can make the released sum wrong (for example by revealing a wrong share of
// a self-mask seed; key shares are checked against the advertised public key,
// self-mask shares cannot be), but it cannot learn more than the sum.
//
// # The round
//
//  1. AdvertiseKeys ([StepAdvertiseKeys]): party u draws two X25519 key pairs
//     (c_u for encryption, s_u for masks) and a 32-byte self-mask secret b_u,
//     and sends (c_pk, s_pk) signed under its identity key. The server forwards
//     the list of all bundles ([StepKeyList]) to the m >= MinSurvivors parties
//     that advertised (U1).
//  2. ShareKeys ([StepShareKeys]): from the key list every party derives the
//     same neighbour graph (below). Party u splits s_sk_u and b_u with t-of-(k+1)
//     Shamir sharing (package shamir) among itself and its k neighbours, and
//     encrypts the two shares for each neighbour v with ChaCha20-Poly1305 under
//     HKDF-SHA256(X25519(c_sk_u, c_pk_v)), the key being derived per direction
//     and per round so the zero nonce is never reused; the associated data binds
//     federation id, round, sender, receiver and step. The server routes each
//     neighbour its ciphertexts ([StepShares]), from the parties that shared (U2).
//  3. MaskedInputCollection ([StepMaskedInput]): party u sends
//     y_u = x_u + PRG(b_u) + sum_{v in N(u) ∩ U2, u < v} PRG(s_uv)
//     - sum_{v in N(u) ∩ U2, u > v} PRG(s_uv) in Z_{2^k}, bit-packed at k bits,
//     where s_uv = HKDF-SHA256(X25519(s_sk_u, s_pk_v), info = label ||
//     federation id || round || min(u,v) || max(u,v)) and PRG is the
//     AES-128-CTR keystream of kernels.MaskAdd16/MaskAdd32/MaskAdd64 (key =
//     seed[:16], IV = seed[16:]) read in lanes of 16 bits (k <= 16), 32 bits
//     (k <= 32) or 64 bits, reduced modulo 2^k. The self-mask seed is HKDF over b_u with the round and
//     u. Every seed is bound to the round, so no mask is ever reused. The
//     server adds each masked input into one O(d) accumulator as it arrives
//     (U3 = the parties whose input arrived).
//  4. Unmasking ([StepUnmask], [StepUnmaskShares]): the server sends U3 to its
//     members. For each neighbour v whose shares it holds, party u reveals
//     v's share of b_v if v is in U3 and v's share of s_sk_v otherwise. With
//     t shares per party the server reconstructs each surviving b_v and
//     subtracts PRG(b_v), and each dropped s_sk_v (checked against the
//     advertised s_pk_v), recomputes the masks s_vw with v's surviving
//     neighbours w and removes them; the masks between survivors cancel. It
//     then sends [StepDone] with the contributor set, or [StepAbort].
//
// The server finishes as soon as it holds t shares of every secret it needs,
// without waiting for slower parties. If fewer than MinSurvivors parties are
// left at any step, or the shares left cannot rebuild every needed secret,
// the server discards its accumulator, tells the live parties, and every
// party ends with an [*mpc.AbortError] (wrapping mpc.ErrTooFewParties or
// mpc.ErrUnrecoverable).
//
// # Choosing k and t
//
// With the complete graph (k = n-1, the original SecAgg) privacy holds
// deterministically against fewer than t colluding parties, and the round
// survives any n - t dropouts. SecAgg+ replaces it by a k-regular graph so
// that a party's work grows with k, not n: masking costs k+1 keystreams of
// the vector instead of n. The graph is the Harary graph H(k, m) (positions
// at cyclic distance 1..k/2 are adjacent) on an ordering of U1 drawn from
// SHA-256 over the round binding and the whole key list, so it is fixed only
// after every party committed to fresh keys. For a fixed party its k
// neighbours are then a uniformly random k-subset of the others.
//
// [Recommend](n, δ, γ) takes the tolerated dropout fraction δ and the
// corruption bound γ and returns the smallest even k < n-1 for which, with
// σ = [SecurityBits] = 40, η = [CorrectnessBits] = 20 and ρ = δ + γ:
//
//   - t is the smallest threshold with n · P[Bin(k, γ) >= t] <= 2^-σ (no
//     party has t corrupt neighbours, so no coalition holds t shares of an
//     honest party's two secrets), and t >= 2;
//   - n · P[Bin(k, 1-δ) < t] <= 2^-η (every party keeps t live share holders,
//     so the round recovers);
//   - (n · ρ^(k/2))^2 <= 2^-σ (the honest survivors stay connected: H(k, m)
//     splits only if two runs of k/2 consecutive positions are all dropped or
//     corrupt, which would let the server learn the sums of the pieces).
//
// The binomial tails bound the hypergeometric ones of sampling without
// replacement (Hoeffding 1963). If no k < n-1 qualifies, Recommend returns
// the complete graph with t = max(2, floor(γ n) + 1), and fails when that t
// exceeds n - floor(δ n). Examples: n = 100, δ = γ = 0.05 gives k = 28,
// t = 17; n = 10 000 gives k = 34, t = 20; n = 10 with γ = 1/3 gives the
// complete graph with t = 4.
//
// # Ring width
//
// Every width k from 1 to 64 is supported; the sum is exact modulo 2^k. To
// read it as the integer sum, no sum may wrap: with n contributors whose
// encoded values (two's complement) satisfy |x| <= M, the rule of
// [RingBits] is
//
//	k = bitlen(n · M) + 1, the narrowest k with n · M <= 2^(k-1) - 1,
//
// and the signed sum is recovered by sign-extending from bit k-1
// (kernels.SignExtend32). For fixed point with f fractional bits and a
// per-coordinate bound B (after clipping), M = ceil(B · 2^f)
// ([RingBitsFixed]); distributed DP noise added in the ring (Skellam or
// discrete Gaussian shares) must be inside M: the caller adds its tail bound
// to B and clips noise beyond it. n is the number of parties that may
// contribute (Parties, not MinSurvivors). The width is public, so the rule
// must use public quantities only; it must not depend on the data.
//
// Cost: masks are drawn in 16-, 32- or 64-bit lanes, so masking costs 2, 4
// or 8 keystream bytes per element and neighbour; at k = 16 this equals the
// wire size, and a party's masking runs at about the AES-CTR rate for the
// bytes it sends. Widths 17..31 mask at the cost of 32 bits and save only
// wire bytes. Privacy does not depend on k: a mask uniform modulo 2^k hides
// any input modulo 2^k.
//
// # Wire format
//
// All integers are little-endian. Every message starts with a header:
//
//	version (1 byte, = 1) | step (1) | from (uint16) | to (uint16) |
//	round (uint64) | len(federation id) (1) | federation id
//
// and a message of another federation or round is rejected. Bodies:
//
//	AdvertiseKeys   c_pk (32) | s_pk (32) | Ed25519 signature (64) over
//	                label | len(fed) (uint16) | fed | round | id | 0 (uint16) | c_pk | s_pk
//	KeyList         count (uint16) | count × (id (uint16) | AdvertiseKeys body)
//	ShareKeys       count (uint16) | count × (receiver (uint16) | ciphertext (82))
//	Shares          count (uint16) | count × (sender (uint16) | ciphertext (82))
//	                ciphertext = ChaCha20-Poly1305(share of s_sk (33) | share of b (33))
//	MaskedInput     y packed at Bits bits per element (kernels.Pack16/32/64):
//	                ceil(d·Bits/8) bytes, padding bits zero
//	Unmask, Done    party set: ceil(n/8) bytes, bit (i-1) for party i, padding zero
//	UnmaskShares    count (uint16) | count × (owner (uint16) | kind (1: b, 2: s_sk) |
//	                share value (33, field element of GF(2^256+297)))
//	Abort           reason (1: too few parties, 2: unrecoverable, 3: protocol)
//
// Lists are sorted by id with no repeats, counts are bounded by n or k+1 and
// lengths must match exactly, so every decoder checks sizes before allocating
// and every accepted message re-encodes to the same bytes (the fuzz targets
// check this). [Params.MaxMessageSize] bounds any message of a round. With
// h = 15 + len(federation id), a party uploads 4h + 132 + 84k + 36(k+1) +
// ceil(d·Bits/8) bytes in a round: 4.0035 bytes per value for d = 2^20,
// Bits = 32, k = 28 and an 8-byte federation id, 2.0035 at Bits = 16 (see
// [Params.UploadBytes]).
//
// # Usage
//
// Every party and the server build the same [Params]; the driver (package
// federated) moves [Message] values between them, and calls [Server.Advance]
// when its deadline for the current step expires:
//
//	p, err := secagg.NewParams(secagg.Config{FederationID: "fed", Round: r,
//		Parties: n, Dim: d, Threshold: t, Degree: k, Identities: ids})
//	c, err := secagg.NewClient(secagg.ClientConfig{Params: p, ID: i,
//		Signer: identityKey, Input32: encoded}, rand.Reader)
//	out, err := c.Start()        // send out to the server
//	out, err = c.Step(msg)       // for each message from the server
//
//	s, err := secagg.NewServer(secagg.ServerConfig{Params: p})
//	out, err := s.Step(msg)      // for each message from a party
//	out, err = s.Advance()       // on the step's deadline
//	res, ok := s.Result()        // res.Sum32, res.Contributors
//
// The package keeps no global state, starts no goroutine, reads no clock
// and does no I/O; each state machine is used from one goroutine at a time.
package secagg
