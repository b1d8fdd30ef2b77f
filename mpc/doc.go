// Package mpc holds what the protection protocols of consort share: the
// protocol contract every protocol's two sides implement ([Party], [Client],
// [Server], [Message], [Aggregate], [Kind]), the typed abort error and the
// failure classes every protocol reports.
//
// The protocols live in sub-packages:
//
//   - [github.com/consort-ml/consort/mpc/plain]: the insecure baseline, the
//     update in the clear (for benchmarks and as the reference sum).
//   - [github.com/consort-ml/consort/mpc/secagg]: dropout-tolerant
//     pairwise-masking secure aggregation (Bonawitz et al., "Practical Secure
//     Aggregation for Privacy-Preserving Machine Learning", CCS 2017) with the
//     sparse neighbour graph of SecAgg+ (Bell et al., "Secure Single-Server
//     Aggregation with (Poly)Logarithmic Overhead", CCS 2020).
//   - [github.com/consort-ml/consort/mpc/mhe]: threshold multiparty
//     homomorphic encryption (Mouchet et al., PETS 2021) on lattigo v6, with
//     its once-per-federation key setup and its rounds.
//   - [github.com/consort-ml/consort/mpc/shamir]: t-of-n Shamir secret sharing
//     over a 257-bit prime field (Shamir, "How to share a secret", CACM 1979).
//   - [github.com/consort-ml/consort/mpc/mpctest]: a deterministic in-memory
//     network (loss, duplication, reordering, stragglers, dropouts at each
//     step) that every protocol's tests run on.
//
// Every protocol is a pure state machine: messages in, messages out, no
// sockets, goroutines or clocks inside (the network and the deadlines belong
// to the driver). Private randomness is an injected [io.Reader].
//
// # The contract
//
// A protocol instance (one round of secagg, one mhe setup, ...) has a server
// (party [ServerID] = 0, the aggregator) and participants 1..n. Each side is
// a [Party]: Start returns its first messages, Step handles one message and
// returns the messages to send, Advance tells it that the driver's deadline
// for its current step passed, Status says whether it is done or aborted. A
// [Client] also reports Revealed: whether its input may now be part of a
// released aggregate, after which a node must not take part in another
// instance over the same content (a coordinator could otherwise difference
// two aggregates). A [Server] returns the released [Aggregate]: the
// contributors and their sum, as a ring sum (secagg), an exact integer sum
// (mhe) or a float sum (plain), with its fixed-point scale.
//
// Every [Message] names its Kind (the protocol step, for example
// "masked-input"), so a driver maps it to a transport message type with its
// own size limit. plain.Config.Kinds and secagg.Params.Kinds list an
// instance's kinds with their sizes (mhe's message layouts are being
// reworked; until they settle its registry is the engine's bounds). A
// receiving party refuses a message whose Kind contradicts its bytes. An
// empty Kind is not checked, for the drivers that predate the contract.
//
// Decisions: the protocols' clients ignore Advance (a client never decides
// that a round is over; the server or the driver's round end does); a
// client's Status may stay pending for ever when its protocol has no closing
// message (an mhe round node with the aggregator as recipient), so a driver
// ends instances on the server's status, not the clients'.
//
// # Running an instance
//
// A driver starts every party, moves messages (the transport authenticates
// the sender and sets From), and calls the server's Advance when the current
// step's deadline passes:
//
//	out, err := party.Start()             // send out
//	for each message m for party:
//		out, err = party.Step(m)          // send out, even with an error
//		var abort *mpc.AbortError
//		switch {
//		case err == nil:
//		case errors.As(err, &abort):      // the party ended: Status().Err == err
//		case errors.Is(err, mpc.ErrUnexpected): // late or duplicate: count, drop
//		default:                          // malformed or a violation: count, drop
//		}
//	on the deadline: out, err = server.Advance()
//	when server.Status().Done:            agg, _ := server.Result()
//
// The returned messages must be sent even when err is an abort: a server
// tells the live parties that it gave up.
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
//     (wrong round, bad signature, failed decryption, a request that would
//     reveal too much, a Kind that contradicts the bytes);
//   - [ErrUnrecoverable]: the survivors cannot finish the round (some dropped
//     party's secrets have too few shares left).
//
// A message that is merely late or repeated is ignored with an error
// wrapping [ErrUnexpected]; a rejected malformed or violating message that
// does not end the party wraps ErrMalformed or ErrProtocol and is not an
// AbortError. Neither changes the party's state. Error texts never contain
// secret, share or data bytes.
//
// # Usage
//
//	var srv mpc.Server = ...              // plain.NewServer, secagg.NewServerParty, mhe.NewAggregatorParty, mhe.NewSetupAggregatorParty
//	out, err := srv.Step(msg)
//	var abort *mpc.AbortError
//	if errors.As(err, &abort) {
//		log.Warn("round aborted", "party", abort.Party, "round", abort.Round, "err", abort.Err)
//	}
//	if agg, ok := srv.Result(); ok {
//		use(agg.Contributors, agg.Ring, agg.Bits, agg.Frac)
//	}
package mpc
