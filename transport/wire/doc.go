// Package wire defines the bytes consort's transports put on the wire:
// protobuf envelopes (generated from proto/consort/wire/v1/wire.proto),
// the frames that carry them on a stream, and zstd payload compression.
//
// # Frames
//
// A stream is a sequence of frames:
//
//	kind      1 byte   1 Hello, 2 HelloReply, 3 Envelope, 4 Receipt
//	name_len  1 byte   0 for control frames, 1..64 for an Envelope frame
//	name      name_len bytes: the envelope's message type
//	body_len  uvarint, minimal encoding
//	body      body_len bytes: the protobuf message of that kind
//
// The header names the message type so that [ReadFrame] can check body_len
// against that type's limit (payload limit + [EnvelopeOverhead]; control
// frames: [MaxControlBody]) before it allocates the body: a header claiming
// 2^40 bytes costs the reader a few bytes, not a terabyte.
//
// # Envelopes
//
// Every [Envelope] carries the federation id, round, protocol step, sender
// and message type; the receiving transport drops (and counts) envelopes
// for another federation, for a round it has left, from a sender other
// than the authenticated peer, or whose type disagrees with the frame
// header. A payload may be one zstd frame (COMPRESSION_ZSTD) with its
// decompressed size in raw_size; [Codec.Decompress] checks raw_size
// against the type's limit and refuses frames that do not declare exactly
// that content size, so decompression never allocates more than the limit.
//
// Decoders accept only the canonical encoding (fields in order, each once,
// minimal varints, zero values omitted, no unknown fields, valid UTF-8), so
// an accepted message re-encodes to the same bytes; the fuzz tests check
// this against proto.Marshal. Every decoding error wraps [ErrMalformed],
// [ErrTooLarge] or [ErrUnknownType].
//
// # Regenerating
//
// wire.pb.go is generated and committed; see proto/README.md for the
// protoc command (make proto).
//
// # Usage
//
//	head := wire.AppendEnvelopeHead(nil, env)
//	frame := wire.AppendHeader(nil, wire.KindEnvelope, env.Type, len(head)+len(env.Payload))
//	w.Write(frame); w.Write(head); w.Write(env.Payload)
//
//	f, err := wire.ReadFrame(br, limits)   // limits: type -> max payload
//	env, err := wire.DecodeEnvelope(f.Body)
package wire
