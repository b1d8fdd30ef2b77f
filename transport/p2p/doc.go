// Package p2p is the production [transport.Transport]: a go-libp2p host
// with Noise-secured, yamux-multiplexed TCP and QUIC (TLS 1.3)
// connections, authenticated by the peers' Ed25519 identity keys.
//
// # Who may connect
//
// A connection gater consults an [AllowList] (the signed federation
// manifest implements it) at the secured-connection step, once the
// handshake has proved the remote's peer ID: a peer outside the list is
// disconnected before a muxer or any stream exists, and the refusal is
// counted as [transport.RejectPeer]. The host also never dials a peer
// outside the list. Each stream's protocol ("/consort/<name>/<major>",
// one per protocol of the [transport.Types] registry) is then checked
// against the remote's role with [AllowList.AllowProtocol].
//
// # Streams and frames
//
// A sender keeps one stream per peer and protocol. The opener writes a
// Hello (federation id, sender, protocol, manifest digest); the acceptor
// answers with a HelloReply, refusing another federation, another
// manifest, a spoofed sender or a protocol the role may not use. Then each
// Envelope frame is answered by a Receipt, so a nil error from
// [Host.Send] means the receiver queued the message for Recv (or refused
// it with a status, returned as [transport.ErrRefused]). Frame lengths are
// checked against the message type's limit before a buffer is allocated
// (see transport/wire). Bytes that do not decode reset that stream only:
// the connection, the peer's other streams and other peers are not
// affected. Every stream operation has a deadline
// ([Config.StreamTimeout]); idle inbound streams close after
// [Config.IdleTimeout].
//
// Payloads of types that ask for compression (model broadcasts) are sent
// as zstd frames when that shrinks them; the decoder's memory is capped
// at the type's limit.
//
// # Failures
//
// A failed write, lost receipt or broken connection makes Send reset the
// stream and retry, redialling with exponential backoff and jitter
// ([Config.Backoff]) until its context ends; a message can therefore
// arrive twice. Refusals are not retried.
//
// # Isolation
//
// The host enables no relay, NAT port mapping, hole punching, AutoNAT,
// metrics registry or ping; it has no bootstrap peers and runs no mDNS or
// DHT: it talks to the addresses given by [Host.AddPeer] only. Tests
// listen on 127.0.0.1 only.
//
// # Usage
//
//	id, _ := identity.LoadFile("node.key")
//	h, err := p2p.New(p2p.Config{Identity: id, FederationID: m.Federation,
//		ManifestDigest: m.Digest(), Types: types, AllowList: m,
//		ListenAddrs: []string{"/ip4/0.0.0.0/tcp/4001", "/ip4/0.0.0.0/udp/4001/quic-v1"}})
//	defer h.Close()
//	h.AddPeer(coordinator, "/ip4/10.0.0.1/tcp/4001")
//	err = h.Send(ctx, coordinator, transport.Message{Type: "secagg/masked-input", Round: r, Step: 2, Payload: b})
//	in, err := h.Recv(ctx)
package p2p
