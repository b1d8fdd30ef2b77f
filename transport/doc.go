// Package transport moves bounded, typed messages between peers. It is
// the seam between consort's protocols (pure state machines in mpc and
// federated) and the network: the same driver code runs over
// transport/mem in tests and simulation and over transport/p2p (libp2p)
// in production.
//
// A [Message] is an opaque payload with a registered type name, a round
// and a protocol step. Types are declared once in a [Types] registry
// ([NewTypes]): each names the versioned libp2p [Protocol] that carries it
// ("/consort/<name>/<major>"), the largest payload it may have (checked
// before any receive buffer is allocated), and whether it is worth
// compressing. Peers are named by [PeerID], the libp2p peer ID of their
// Ed25519 identity key (package transport/identity).
//
// On the wire every message travels in an envelope (package
// transport/wire) that carries the federation id, round, step, sender and
// type; a receiver drops, and counts in [Stats.Rejected], envelopes for
// another federation, for a round before the one set by
// [Transport.SetRound], from a sender other than the authenticated peer,
// or of an unregistered type. [Stats] also counts messages and wire bytes
// per peer and per type, which is how the benchmarks report what crossed
// the wire.
//
// # Delivery guarantees
//
// None beyond "at most the registered size, from the authenticated
// sender": transport/mem loses, duplicates, delays and reorders on
// purpose, and transport/p2p retries a send whose receipt was lost, which
// can duplicate it. Protocols deduplicate by (sender, round, step) and
// tolerate loss (dropouts).
//
// # Threat model
//
// Peers are authenticated by the transport (Noise or TLS 1.3 handshakes
// bound to the peer ID; the connection gater admits only the manifest's
// members). A member may still send anything: every length is bounded
// before allocation and every decoder refuses non-canonical bytes, so a
// malicious member can waste its own stream but not the receiver's memory,
// and cannot impersonate another member. Confidentiality of updates comes
// from the protocols (secure aggregation, HE), not from the transport.
//
// # Usage
//
//	types, _ := transport.NewTypes(
//		transport.MessageType{Name: "secagg/masked-input", Protocol: transport.Protocol{Name: "secagg", Major: 1}, MaxSize: 64 << 20},
//	)
//	var t transport.Transport = host // *p2p.Host or *mem.Endpoint
//	t.SetRound(7)
//	err := t.Send(ctx, peer, transport.Message{Type: "secagg/masked-input", Round: 7, Step: 2, Payload: b})
//	in, err := t.Recv(ctx)
//	fmt.Println(t.Stats().SentByType["secagg/masked-input"].Bytes)
package transport
