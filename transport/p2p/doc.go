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
// arrive twice. Refusals are not retried. A frame the receiver cannot read
// at all (a type it does not know, a size above its limit: peers with
// different message registries) resets the stream without a receipt, so
// the sender retries until its context ends and reports the last error.
//
// # Performance
//
// Measured with bench.RunP2P on a shared 2-core machine (loopback, one
// sender, incompressible payloads): 16 MiB messages move at about
// 0.5-0.7 GB/s over TCP, 0.15-0.2x a raw loopback TCP transfer of the same
// bytes in the same process (target 0.7x, not met); 64 KiB messages at
// 0.3-0.4 GB/s. The bound is libp2p's secure channel rather than this
// package: a bare libp2p stream (Noise, yamux, no framing) streams at about
// 1.2 GB/s, and at about 0.6-0.75 GB/s when it waits for a one-byte
// acknowledgement per 16 MiB, as Send waits for its receipt. Noise
// encrypts with ChaCha20-Poly1305 in 64 KiB records (one syscall each);
// QUIC is slower still (about 0.3 GB/s).
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
