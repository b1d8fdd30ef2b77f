// Package envelope turns transport messages into wire frames and back,
// with the checks both transports apply: registered type, size limits,
// federation, round floor, sender and (over libp2p) protocol.
//
// # Usage
//
//	s, _ := envelope.New(federation, self, types, codec)
//	head, payload, _ := s.Seal(msg)           // frame = head || payload
//	in, reason, err := s.Open(from, frame, floor, protocol)
package envelope

import (
	"errors"
	"fmt"

	"github.com/consort-ml/consort/transport"
	"github.com/consort-ml/consort/transport/wire"
)

// Sealer encodes outgoing and checks incoming envelopes for one peer. It
// is safe for concurrent use.
type Sealer struct {
	federation string
	self       transport.PeerID
	types      *transport.Types
	codec      *wire.Codec
}

// New returns a Sealer that compresses and decompresses with codec, which
// must accept payloads of types.MaxSize() bytes.
func New(federation string, self transport.PeerID, types *transport.Types, codec *wire.Codec) (*Sealer, error) {
	if !transport.ValidFederationID(federation) {
		return nil, fmt.Errorf("%w: federation id %q", transport.ErrBadConfig, federation)
	}
	if self == "" || len(self) > transport.MaxPeerID {
		return nil, fmt.Errorf("%w: peer id of length %d", transport.ErrBadConfig, len(self))
	}
	if types == nil {
		return nil, fmt.Errorf("%w: no message types", transport.ErrBadConfig)
	}
	if codec == nil {
		return nil, fmt.Errorf("%w: no codec", transport.ErrBadConfig)
	}
	return &Sealer{federation: federation, self: self, types: types, codec: codec}, nil
}

// Types returns the registry.
func (s *Sealer) Types() *transport.Types { return s.types }

// Limit is the [wire.Limit] of the registry.
func (s *Sealer) Limit(typ string) (int, bool) {
	mt, ok := s.types.Lookup(typ)
	return mt.MaxSize, ok
}

// Seal checks msg against the registry and returns the frame as head
// (frame header and envelope fields) followed by payload (the message
// payload, or its zstd frame when the type asks for compression and it
// shrinks). The frame's wire size is len(head)+len(payload).
func (s *Sealer) Seal(msg transport.Message) (head, payload []byte, mt transport.MessageType, err error) {
	mt, err = s.types.Check(msg)
	if err != nil {
		return nil, nil, mt, err
	}
	env := &wire.Envelope{
		FederationId: s.federation,
		Round:        msg.Round,
		Step:         msg.Step,
		Sender:       string(s.self),
		Type:         msg.Type,
		Payload:      msg.Payload,
	}
	if mt.Compress {
		if z, ok := s.codec.Compress(msg.Payload); ok {
			env.Compression = wire.Compression_COMPRESSION_ZSTD
			env.RawSize = uint64(len(msg.Payload))
			env.Payload = z
		}
	}
	eh := wire.AppendEnvelopeHead(make([]byte, 0, 256), env)
	head = wire.AppendHeader(make([]byte, 0, wire.MaxHeader+len(eh)), wire.KindEnvelope, msg.Type, len(eh)+len(env.Payload))
	head = append(head, eh...)
	return head, env.Payload, mt, nil
}

// Rejection is the error Open returns for a refused envelope.
type Rejection struct {
	Reason transport.Reason
	Status wire.Status
	Err    error
}

func (r *Rejection) Error() string {
	return fmt.Sprintf("transport: envelope refused (%s): %v", r.Reason, r.Err)
}
func (r *Rejection) Unwrap() error { return r.Err }

func reject(reason transport.Reason, status wire.Status, err error) *Rejection {
	return &Rejection{Reason: reason, Status: status, Err: err}
}

// Classify maps a wire decoding error to a reason and status.
func Classify(err error) *Rejection {
	switch {
	case errors.Is(err, wire.ErrTooLarge):
		return reject(transport.RejectTooLarge, wire.Status_STATUS_MALFORMED, err)
	case errors.Is(err, wire.ErrUnknownType):
		return reject(transport.RejectUnknownType, wire.Status_STATUS_UNKNOWN_TYPE, err)
	default:
		return reject(transport.RejectMalformed, wire.Status_STATUS_MALFORMED, err)
	}
}

// Open checks an envelope frame received from the authenticated peer from:
// decoding, type (registered, matching the frame header and, when protocol
// is not empty, carried by that protocol name), federation, sender, round
// floor and payload size, then decompresses the payload. A refusal is a
// *[Rejection]; see [Rejection.Hard].
func (s *Sealer) Open(from transport.PeerID, f wire.Frame, floor *transport.RoundFloor, protocol string) (transport.Incoming, error) {
	if f.Kind != wire.KindEnvelope {
		return transport.Incoming{}, reject(transport.RejectMalformed, wire.Status_STATUS_MALFORMED, fmt.Errorf("%w: frame kind %d where an envelope was expected", wire.ErrMalformed, f.Kind))
	}
	env, err := wire.DecodeEnvelope(f.Body)
	if err != nil {
		return transport.Incoming{}, Classify(err)
	}
	if env.Type != f.Type {
		return transport.Incoming{}, reject(transport.RejectMalformed, wire.Status_STATUS_MALFORMED, fmt.Errorf("%w: envelope type differs from frame header", wire.ErrMalformed))
	}
	mt, ok := s.types.Lookup(env.Type)
	if !ok || (protocol != "" && mt.Protocol.Name != protocol) {
		return transport.Incoming{}, reject(transport.RejectUnknownType, wire.Status_STATUS_UNKNOWN_TYPE, fmt.Errorf("%w: %q", transport.ErrUnknownType, env.Type))
	}
	if env.FederationId != s.federation {
		return transport.Incoming{}, reject(transport.RejectFederation, wire.Status_STATUS_WRONG_FEDERATION, errors.New("transport: envelope for another federation"))
	}
	if env.Sender != string(from) {
		return transport.Incoming{}, reject(transport.RejectSender, wire.Status_STATUS_SENDER_MISMATCH, errors.New("transport: envelope sender is not the authenticated peer"))
	}
	if floor != nil && floor.Stale(env.Round) {
		return transport.Incoming{}, reject(transport.RejectStale, wire.Status_STATUS_STALE_ROUND, fmt.Errorf("transport: envelope for round %d, current round %d", env.Round, floor.Get()))
	}
	if len(env.Payload) > mt.MaxSize {
		return transport.Incoming{}, reject(transport.RejectTooLarge, wire.Status_STATUS_MALFORMED, fmt.Errorf("%w: %q payload of %d bytes, limit %d", transport.ErrTooLarge, env.Type, len(env.Payload), mt.MaxSize))
	}
	payload := env.Payload
	if env.Compression == wire.Compression_COMPRESSION_ZSTD {
		payload, err = s.codec.Decompress(env.Payload, env.RawSize, mt.MaxSize)
		if err != nil {
			return transport.Incoming{}, Classify(err)
		}
	}
	return transport.Incoming{From: from, Message: transport.Message{Type: env.Type, Round: env.Round, Step: env.Step, Payload: payload}}, nil
}

// Hard reports whether a rejection means the stream's bytes are bad (the
// stream should be reset) rather than one unwanted message.
func (r *Rejection) Hard() bool {
	return r.Reason == transport.RejectMalformed || r.Reason == transport.RejectTooLarge || r.Reason == transport.RejectSender
}
