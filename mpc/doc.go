// Package mpc holds what the protocol state machines of consort share: the
// typed abort error and the failure classes every protocol reports.
//
// The protocols themselves live in sub-packages:
//
//   - [github.com/consort-ml/consort/mpc/shamir]: t-of-n Shamir secret sharing
//     over a 257-bit prime field (Shamir, "How to share a secret", CACM 1979).
//   - [github.com/consort-ml/consort/mpc/secagg]: dropout-tolerant
//     pairwise-masking secure aggregation (Bonawitz et al., "Practical Secure
//     Aggregation for Privacy-Preserving Machine Learning", CCS 2017) with the
//     sparse neighbour graph of SecAgg+ (Bell et al., "Secure Single-Server
//     Aggregation with (Poly)Logarithmic Overhead", CCS 2020).
//   - mpc/mhe: threshold multiparty homomorphic encryption.
//
// Every protocol is a pure state machine: messages in, messages out, no
// sockets, goroutines or clocks inside (the network and the deadlines belong
// to package federated). Private randomness is an injected [io.Reader].
//
// # Errors
//
// A party that gives up on a round returns (and keeps returning) an
// [*AbortError] naming itself and the round; its Err wraps one of the
// sentinels below, so callers can classify failures with [errors.Is]:
//
//   - [ErrTooFewParties]: fewer parties than the threshold are left;
//   - [ErrMalformed]: bytes from a peer do not decode (a decoder never panics);
//   - [ErrProtocol]: a peer sent a well-formed message that breaks the protocol
//     (wrong step, wrong round, bad signature, failed decryption, a request
//     that would reveal too much);
//   - [ErrUnrecoverable]: the survivors cannot finish the round (some dropped
//     party's secrets have too few shares left).
//
// Error texts never contain secret, share or data bytes.
//
// # Usage
//
//	out, err := party.Step(msg)
//	var abort *mpc.AbortError
//	if errors.As(err, &abort) {
//		log.Warn("round aborted", "party", abort.Party, "round", abort.Round, "err", abort.Err)
//	}
package mpc
