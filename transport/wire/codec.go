package wire

import (
	"fmt"
	"math"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// Field bounds enforced by the decoders.
const (
	MaxFederationID = 128
	MaxSender       = 128
	MaxProtocol     = 64
	MaxDigest       = 64
)

// Envelope field numbers.
const (
	envFederation  protowire.Number = 1
	envRound       protowire.Number = 2
	envStep        protowire.Number = 3
	envSender      protowire.Number = 4
	envType        protowire.Number = 5
	envCompression protowire.Number = 6
	envRawSize     protowire.Number = 7
	envPayload     protowire.Number = 15
)

// AppendEnvelopeHead appends the canonical encoding of e up to and
// including the payload's length prefix: the full encoding is the result
// followed by e.Payload. Writers use it to send large payloads without
// copying them.
func AppendEnvelopeHead(dst []byte, e *Envelope) []byte {
	dst = appendString(dst, envFederation, e.FederationId)
	dst = appendVarint(dst, envRound, e.Round)
	dst = appendVarint(dst, envStep, uint64(e.Step))
	dst = appendString(dst, envSender, e.Sender)
	dst = appendString(dst, envType, e.Type)
	dst = appendVarint(dst, envCompression, uint64(e.Compression))
	dst = appendVarint(dst, envRawSize, e.RawSize)
	if len(e.Payload) > 0 {
		dst = protowire.AppendTag(dst, envPayload, protowire.BytesType)
		dst = protowire.AppendVarint(dst, uint64(len(e.Payload)))
	}
	return dst
}

// AppendEnvelope appends the canonical encoding of e; it equals
// proto.MarshalOptions{Deterministic: true}.Marshal(e).
func AppendEnvelope(dst []byte, e *Envelope) []byte {
	return append(AppendEnvelopeHead(dst, e), e.Payload...)
}

// DecodeEnvelope decodes a canonical Envelope. The returned payload aliases
// b. Besides canonical form it requires a federation id, a sender and a
// type within their bounds, a known compression, and raw_size present
// exactly when the payload is compressed. It does not check the payload
// size against the type's limit: the frame reader did (see [ReadFrame]),
// and the caller checks RawSize before decompressing.
func DecodeEnvelope(b []byte) (*Envelope, error) {
	e := &Envelope{}
	err := parseCanonical(b, func(num protowire.Number, v uint64, s []byte) error {
		switch num {
		case envFederation:
			if len(s) > MaxFederationID {
				return fmt.Errorf("%w: federation id too long", ErrMalformed)
			}
			e.FederationId = string(s)
		case envRound:
			e.Round = v
		case envStep:
			if v > math.MaxUint32 {
				return fmt.Errorf("%w: step overflows 32 bits", ErrMalformed)
			}
			e.Step = uint32(v)
		case envSender:
			if len(s) > MaxSender {
				return fmt.Errorf("%w: sender too long", ErrMalformed)
			}
			e.Sender = string(s)
		case envType:
			if len(s) > MaxTypeName {
				return fmt.Errorf("%w: type too long", ErrMalformed)
			}
			e.Type = string(s)
		case envCompression:
			if v != uint64(Compression_COMPRESSION_ZSTD) {
				return fmt.Errorf("%w: unknown compression", ErrMalformed)
			}
			e.Compression = Compression(v)
		case envRawSize:
			e.RawSize = v
		case envPayload:
			e.Payload = s
		default:
			return errUnknownField
		}
		return nil
	}, envFields)
	if err != nil {
		return nil, err
	}
	if e.FederationId == "" || e.Sender == "" || e.Type == "" {
		return nil, fmt.Errorf("%w: envelope without federation, sender or type", ErrMalformed)
	}
	if (e.Compression == Compression_COMPRESSION_ZSTD) != (e.RawSize > 0) {
		return nil, fmt.Errorf("%w: raw size does not match compression", ErrMalformed)
	}
	if e.Compression == Compression_COMPRESSION_ZSTD && len(e.Payload) == 0 {
		return nil, fmt.Errorf("%w: compressed envelope without payload", ErrMalformed)
	}
	return e, nil
}

func envFields(num protowire.Number) fieldType {
	switch num {
	case envFederation, envSender, envType:
		return fieldString
	case envPayload:
		return fieldBytes
	case envRound, envStep, envCompression, envRawSize:
		return fieldVarint
	}
	return fieldUnknown
}

// Hello field numbers.
const (
	helloFederation protowire.Number = 1
	helloSender     protowire.Number = 2
	helloProtocol   protowire.Number = 3
	helloDigest     protowire.Number = 4
)

// AppendHello appends the canonical encoding of h.
func AppendHello(dst []byte, h *Hello) []byte {
	dst = appendString(dst, helloFederation, h.FederationId)
	dst = appendString(dst, helloSender, h.Sender)
	dst = appendString(dst, helloProtocol, h.Protocol)
	return appendString(dst, helloDigest, string(h.ManifestDigest))
}

// DecodeHello decodes a canonical Hello; federation id, sender and
// protocol are required.
func DecodeHello(b []byte) (*Hello, error) {
	h := &Hello{}
	err := parseCanonical(b, func(num protowire.Number, _ uint64, s []byte) error {
		switch num {
		case helloFederation:
			if len(s) > MaxFederationID {
				return fmt.Errorf("%w: federation id too long", ErrMalformed)
			}
			h.FederationId = string(s)
		case helloSender:
			if len(s) > MaxSender {
				return fmt.Errorf("%w: sender too long", ErrMalformed)
			}
			h.Sender = string(s)
		case helloProtocol:
			if len(s) > MaxProtocol {
				return fmt.Errorf("%w: protocol too long", ErrMalformed)
			}
			h.Protocol = string(s)
		case helloDigest:
			if len(s) > MaxDigest {
				return fmt.Errorf("%w: digest too long", ErrMalformed)
			}
			h.ManifestDigest = s
		}
		return nil
	}, func(num protowire.Number) fieldType {
		switch num {
		case helloFederation, helloSender, helloProtocol:
			return fieldString
		case helloDigest:
			return fieldBytes
		}
		return fieldUnknown
	})
	if err != nil {
		return nil, err
	}
	if h.FederationId == "" || h.Sender == "" || h.Protocol == "" {
		return nil, fmt.Errorf("%w: hello without federation, sender or protocol", ErrMalformed)
	}
	return h, nil
}

// AppendHelloReply appends the canonical encoding of r.
func AppendHelloReply(dst []byte, r *HelloReply) []byte {
	return appendVarint(dst, 1, uint64(r.Status))
}

// DecodeHelloReply decodes a canonical HelloReply with a known status.
func DecodeHelloReply(b []byte) (*HelloReply, error) {
	s, err := decodeStatus(b)
	if err != nil {
		return nil, err
	}
	return &HelloReply{Status: s}, nil
}

// AppendReceipt appends the canonical encoding of r.
func AppendReceipt(dst []byte, r *Receipt) []byte {
	return appendVarint(dst, 1, uint64(r.Status))
}

// DecodeReceipt decodes a canonical Receipt with a known status.
func DecodeReceipt(b []byte) (*Receipt, error) {
	s, err := decodeStatus(b)
	if err != nil {
		return nil, err
	}
	return &Receipt{Status: s}, nil
}

func decodeStatus(b []byte) (Status, error) {
	var st Status
	err := parseCanonical(b, func(_ protowire.Number, v uint64, _ []byte) error {
		if v > math.MaxInt32 {
			return fmt.Errorf("%w: unknown status", ErrMalformed)
		}
		if _, ok := Status_name[int32(v)]; !ok {
			return fmt.Errorf("%w: unknown status", ErrMalformed)
		}
		st = Status(v)
		return nil
	}, func(num protowire.Number) fieldType {
		if num == 1 {
			return fieldVarint
		}
		return fieldUnknown
	})
	if err != nil {
		return 0, err
	}
	if st == Status_STATUS_UNSPECIFIED {
		return 0, fmt.Errorf("%w: missing status", ErrMalformed)
	}
	return st, nil
}

var errUnknownField = fmt.Errorf("%w: unknown field", ErrMalformed)

// fieldType is the encoding of a field in a flat message.
type fieldType uint8

const (
	fieldUnknown fieldType = iota
	fieldVarint
	fieldString // length-delimited, valid UTF-8
	fieldBytes  // length-delimited, any bytes
)

// parseCanonical walks a flat protobuf message and calls set for each
// field; kind gives each field number's encoding. Canonical form: tags in
// strictly increasing order (each field at most once), minimal tag, length
// and varint encodings, no zero values (proto3 omits them), valid UTF-8 in
// string fields, no unknown fields.
func parseCanonical(b []byte, set func(num protowire.Number, v uint64, s []byte) error, kind func(protowire.Number) fieldType) error {
	var last protowire.Number
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("%w: bad tag", ErrMalformed)
		}
		if n != protowire.SizeTag(num) {
			return fmt.Errorf("%w: non-minimal tag", ErrMalformed)
		}
		b = b[n:]
		if num <= last {
			return fmt.Errorf("%w: field %d out of order or repeated", ErrMalformed, num)
		}
		last = num
		ft := kind(num)
		if ft == fieldUnknown {
			return errUnknownField
		}
		switch {
		case (ft == fieldString || ft == fieldBytes) && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return fmt.Errorf("%w: truncated field %d", ErrMalformed, num)
			}
			if n-len(v) != protowire.SizeVarint(uint64(len(v))) {
				return fmt.Errorf("%w: non-minimal length", ErrMalformed)
			}
			if len(v) == 0 {
				return fmt.Errorf("%w: empty field %d", ErrMalformed, num)
			}
			if ft == fieldString && !utf8.Valid(v) {
				return fmt.Errorf("%w: field %d is not UTF-8", ErrMalformed, num)
			}
			b = b[n:]
			if err := set(num, 0, v); err != nil {
				return err
			}
		case ft == fieldVarint && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return fmt.Errorf("%w: truncated field %d", ErrMalformed, num)
			}
			if n != protowire.SizeVarint(v) {
				return fmt.Errorf("%w: non-minimal varint", ErrMalformed)
			}
			if v == 0 {
				return fmt.Errorf("%w: zero field %d", ErrMalformed, num)
			}
			b = b[n:]
			if err := set(num, v, nil); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%w: field %d has wire type %d", ErrMalformed, num, typ)
		}
	}
	return nil
}

func appendString(dst []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return dst
	}
	dst = protowire.AppendTag(dst, num, protowire.BytesType)
	return protowire.AppendString(dst, s)
}

func appendVarint(dst []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return dst
	}
	dst = protowire.AppendTag(dst, num, protowire.VarintType)
	return protowire.AppendVarint(dst, v)
}
