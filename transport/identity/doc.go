// Package identity holds a peer's long-term Ed25519 identity key: key
// generation, key files and the libp2p peer IDs derived from the public
// key (an identity multihash of the protobuf-encoded key, printed in
// base58 as "12D3KooW...", as in the libp2p peer-ID specification,
// https://github.com/libp2p/specs/blob/master/peer-ids/peer-ids.md).
//
// The same key authenticates the peer's libp2p connections (Noise and
// QUIC/TLS handshakes), signs the federation manifest (coordinator) and
// signs audit log entries; anyone holding the peer ID can verify those
// signatures ([Verify]) without another key distribution step.
//
// # Key files
//
// A key file is the PEM "PRIVATE KEY" block of the PKCS#8 encoding of the
// Ed25519 key (RFC 8410), as written by openssl genpkey -algorithm ed25519.
// [WriteFile] creates it with mode 0600 atomically and never overwrites;
// [LoadFile] refuses files that group or others can access, with an error
// that says how to fix the mode.
//
// # Threat model
//
// The key file is the peer's identity: whoever reads it can impersonate
// the peer to the whole federation. The package never prints or logs key
// bytes; [Identity] has no exported fields and String prints the peer ID.
//
// # Usage
//
//	id, err := identity.Generate(rand.Reader)
//	err = identity.WriteFile("node.key", id)
//	id, err = identity.LoadFile("node.key")
//	fmt.Println(id.PeerID())
//	sig := id.Sign(msg)
//	err = identity.Verify(id.PeerID(), msg, sig)
package identity
