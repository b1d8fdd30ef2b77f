// Package plain is the insecure baseline protocol of consort: every
// participant sends its update in the clear and the server adds them up. It
// exists to measure what the secure protocols (package secagg, package mhe)
// cost and to check that they compute the same sum; a federation may use it
// only when its manifest allows it explicitly.
//
// It implements the protocol contract of package mpc: [Client] is an
// [mpc.Client] and [Server] an [mpc.Server], so a driver runs it exactly as
// it runs secagg or mhe.
//
// # Threat model
//
// None: the server, and anyone who can read the traffic, sees every update.
// What the package does guarantee is what every protocol of consort
// guarantees about peer bytes: an update is length-checked against the
// round before it is read, a non-finite value (NaN, ±Inf) rejects the whole
// update, every value is clamped to [-Bound, Bound], a second update from
// the same party is ignored, and the sum is released only for at least
// Threshold contributors. Decoding never panics ([FuzzDecodeUpdate]).
//
// # The round
//
// Each participant i (1..n) sends one message of kind [KindUpdate]. The
// server adds each update into one accumulator as it arrives; when all n
// updates are in, or when the driver calls [Server.Advance] on its deadline,
// it releases the sum of the updates received, or aborts with an
// [*mpc.AbortError] wrapping [mpc.ErrTooFewParties] below Threshold. The
// server sends nothing; a client is done once it has sent its update.
//
// # An exact, order-independent sum
//
// The server does not add floats: it rounds every clamped value to the
// nearest multiple of 2^-f (ties to even) and adds the integers in an int64
// accumulator, with f the largest exponent such that n × Bound × 2^f <=
// 2^62 (f = 56 for 10 parties and Bound 4; Validate requires f >=
// [MinFrac]). Integer addition is exact, so the released sum (converted to
// float64 once, at release) is bit-identical in every delivery order: a
// simulation, an in-memory run and a networked run of the same round give
// the same model. A value with |x| >= 2^(23-f) is a multiple of 2^-f and
// enters the sum exactly; only smaller ones are rounded, by at most 2^-(f+1).
//
// # Wire format
//
// One message, integers little-endian:
//
//	version (1 byte, = 1) | kind (1, = 1: update) | from (uint16) |
//	round (uint64) | len(federation id) (1) | federation id |
//	Dim × float32 (IEEE 754 binary32)
//
// A message of another federation or round, from a non-participant or with
// a sender other than the transport's is rejected with an error wrapping
// [mpc.ErrProtocol]; one of the wrong length or with a non-finite value
// with [mpc.ErrMalformed]. Every accepted message re-encodes to the same
// bytes. [Config.MessageSize] is 13 + len(federation id) + 4 Dim.
//
// # Usage
//
//	cfg := plain.Config{FederationID: "fed", Round: r, Parties: n, Threshold: t, Dim: d, Bound: 4}
//	c, err := plain.NewClient(cfg, id, update)
//	out, err := c.Start()             // the update, for the server
//
//	s, err := plain.NewServer(cfg)
//	out, err = s.Step(msg)            // for every update that arrives
//	out, err = s.Advance()            // on the deadline
//	agg, ok := s.Result()             // agg.Floats, agg.Contributors
package plain
