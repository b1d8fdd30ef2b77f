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
// With [Config.ConsistencyCheck] (the setting for federations) the server
// may deviate arbitrarily (drop, reorder, forge and tailor messages per
// party, lie about who dropped) and collude with c parties, which may
// deviate arbitrarily too, where c < t and 2(t - c) > h, h being the number
// of holders of a secret (n for the complete graph, k+1 for SecAgg+): see
// [CheckMaliciousThreshold] and [MaliciousColluders]. Such a coalition
// learns nothing about an honest party's input beyond sums that contain at
// least MinSurvivors inputs. Without the check the same holds for an honest
// but curious server (it follows the protocol) colluding with fewer than t
// parties; a server that lies about dropouts can then unmask an input when
// t <= h/2 (the attack is a test in this package).
//
// Every party is authenticated: a party signs its advertised public keys
// with its Ed25519 identity key ([Config.Identities]), and every party checks
// its neighbours' signatures, so the server cannot substitute keys and mount
// a man-in-the-middle on the encrypted shares. A party also checks locally
// that it answers at most one unmasking request, never reveals both a
// self-mask share and a key share of one party, and refuses a survivor set
// that omits itself, names fewer than MinSurvivors parties or contradicts the
// shares it received.
//
// # Consistency check
//
// The attack the check stops (Bonawitz et al., section 4, active security):
// the server tells one group of holders of party v's secrets that v
// survived, another that v dropped, and collects v's self-mask shares from
// the first and its key shares from the second, which unmask x_v. With the
// check, a party answers [StepUnmask] (U3) with [StepConfirm]: an Ed25519
// signature under its identity key over (label, federation, round, U3), and
// for each neighbour in U3 a 16-byte HMAC-SHA256 tag over (label,
// federation, round, sender, receiver, U3) under a key derived from their
// X25519 agreement on the encryption keys, which the server does not know.
// The server verifies the signatures, and sends each party that confirmed
// (U4) [StepConfirmations]: U3, the tags addressed to it, and (SecAgg+ only)
// the signatures of the holders of its neighbours' secrets that are not its
// neighbours. The party checks that U3 is the set it confirmed and, for
// every secret it would reveal a share of (its own, each neighbour's that
// shared), counts the holders of that secret that confirmed U3: itself,
// neighbours with a valid tag, others with a valid signature (verified
// lazily, only while a secret still lacks confirmations). It reveals only if
// every count reaches t, and otherwise aborts with an [*mpc.AbortError]
// wrapping mpc.ErrProtocol. A wrong tag is not counted (the server cannot
// check tags, so it may be a colluding party's); a wrong forwarded
// signature aborts (the server checked it). As elsewhere, robustness is out
// of scope: a deviating party that withholds or garbles its tags can make
// an honest neighbour abort the round, never learn more.
//
// Why this suffices: an honest party confirms one U3 only. To obtain both
// shares of v, the server needs t revealed shares of each kind, so t
// confirmations among v's h holders for each of two different sets; honest
// holders confirming one set are disjoint from those confirming the other,
// and colluders confirm both, so 2(t - c) <= h - c. When 2t > h + c this is
// impossible: at most one survivor set is ever acted upon per secret. The
// tags are as good as signatures for this count, because each party
// decides for itself (nothing is transferred), and cost a hash instead of a
// signature verification; a SecAgg+ party verifies signatures only for the
// holders of its neighbours' secrets beyond its own neighbourhood (in the
// Harary graph, positions at distance k/2+1..k), about t - k/2 per far
// neighbour. Cost at n = 100, k = 28, t = 17, 2^20 values: 2979 bytes
// (confirmation up, confirmations down) and under 0.5 ms of a node's
// 15-30 ms round (bench: consort bench secagg).
//
// Thresholds: [CheckMaliciousThreshold] refuses 2t <= h, so the complete
// graph needs t > n/2, and [MaliciousColluders] gives the coalition size
// tolerated, min(t-1, 2t-h-1). For SecAgg+ graphs the bound is per
// neighbourhood, following Bell et al. (CCS 2020): choose t > (k + 1 +
// c_k)/2, where c_k bounds the corrupt neighbours of any party except with
// probability 2^-40 (n · P[Bin(k, γ) >= c_k] <= 2^-40 for a corruption
// fraction γ, the same tail [Recommend] uses).
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
//     members (with the consistency check, the confirmations of the section
//     above come first, and only U4 is asked for shares). For each neighbour
//     v whose shares it holds, party u reveals
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
// ([RingBitsFixed]). Distributed DP noise added in the ring (Skellam or
// discrete Gaussian shares) enters the sum: [RingBitsNoise] requires
// n · M + T <= 2^(k-1) - 1, T bounding the magnitude of the summed noise
// except with a probability the caller accepts (the sum of n such shares is
// one share of n times the variance, so T grows as sqrt(n); a wrap makes the
// released value wrong and reveals nothing more). n is the number of parties that may
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
//	Confirm         signature (64) over label | len(fed) (uint16) | fed | round |
//	                0 (uint16) | 0 (uint16) | U3 | count (uint16) |
//	                count × (receiver (uint16) | tag (16))
//	Confirmations   U3 | count (uint16) | count × (signer (uint16) | signature (64)) |
//	                count (uint16) | count × (sender (uint16) | tag (16))
//
// (Confirm and Confirmations, steps 10 and 11, exist only with
// [Config.ConsistencyCheck]; without it their step bytes are malformed.)
//
// Lists are sorted by id with no repeats, counts are bounded by n or k+1 and
// lengths must match exactly, so every decoder checks sizes before allocating
// and every accepted message re-encodes to the same bytes (the fuzz targets
// check this). [Params.MaxMessageSize] bounds any message of a round. With
// h = 15 + len(federation id), a party uploads 4h + 132 + 84k + 36(k+1) +
// ceil(d·Bits/8) bytes in a round: 4.0035 bytes per value for d = 2^20,
// Bits = 32, k = 28 and an 8-byte federation id, 2.0035 at Bits = 16 (see
// [Params.UploadBytes]); the consistency check adds h + 66 + 18k bytes up.
//
// # Usage
//
// Every party and the server build the same [Params]; the driver (package
// federated) moves [Message] values between them, and calls [Server.Advance]
// when its deadline for the current step expires:
//
//	bits, err := secagg.RingBitsFixed(n, clip, frac) // no sum wraps
//	if err := secagg.CheckMaliciousThreshold(n, t, k); err != nil { ... }
//	p, err := secagg.NewParams(secagg.Config{FederationID: "fed", Round: r,
//		Parties: n, Dim: d, Bits: bits, Threshold: t, Degree: k,
//		Identities: ids, ConsistencyCheck: true})
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
// Both sides implement the protocol contract of package mpc: *Client is an
// mpc.Client and [ServerParty] (NewServerParty) an mpc.Server whose Result
// is an mpc.Aggregate (Ring, Bits, and ServerConfig.Frac). Every message
// carries Kind = its Step's name, and Step refuses a message whose Kind names
// another step than its bytes. [Params.Kinds] lists the kinds with their
// size limits for the transport.
//
// The package keeps no global state, starts no goroutine, reads no clock
// and does no I/O; each state machine is used from one goroutine at a time.
package secagg
