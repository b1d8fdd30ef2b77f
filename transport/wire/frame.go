package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Errors of this package. Every error returned by the decoders wraps one of
// them (or io.EOF for a stream that ends cleanly between frames).
var (
	// ErrMalformed marks bytes that are not a canonical frame or message.
	ErrMalformed = errors.New("wire: malformed message")
	// ErrTooLarge marks a frame or payload above its limit.
	ErrTooLarge = errors.New("wire: message too large")
	// ErrUnknownType marks an envelope frame whose type has no limit.
	ErrUnknownType = errors.New("wire: unknown message type")
)

// Kind is the first byte of a frame.
type Kind byte

// Frame kinds.
const (
	KindHello      Kind = 1 // body: Hello
	KindHelloReply Kind = 2 // body: HelloReply
	KindEnvelope   Kind = 3 // body: Envelope; the header names its type
	KindReceipt    Kind = 4 // body: Receipt
)

// Size limits of the fixed-size parts.
const (
	// MaxControlBody bounds the body of Hello, HelloReply and Receipt frames.
	MaxControlBody = 1024
	// EnvelopeOverhead bounds the envelope bytes around the payload
	// (federation id, sender, type and the small integers).
	EnvelopeOverhead = 512
	// MaxTypeName bounds the type name in an envelope frame header.
	MaxTypeName = 64
	// MaxHeader bounds the size of a frame header.
	MaxHeader = 2 + MaxTypeName + binary.MaxVarintLen64
)

// Limit returns the largest payload (not body) allowed for an envelope
// type, and false if the type is unknown.
type Limit func(typ string) (maxPayload int, ok bool)

// Frame is one decoded frame.
type Frame struct {
	Kind Kind
	// Type is the message type named in an envelope frame header.
	Type string
	// Body is the protobuf body; the caller owns it.
	Body []byte
	// Size is the number of bytes the frame took on the wire.
	Size int
}

// AppendHeader appends a frame header announcing a body of bodyLen bytes.
// typ must be empty for control kinds and non-empty for KindEnvelope.
func AppendHeader(dst []byte, kind Kind, typ string, bodyLen int) []byte {
	dst = append(dst, byte(kind), byte(len(typ)))
	dst = append(dst, typ...)
	return binary.AppendUvarint(dst, uint64(bodyLen))
}

// ReadFrame reads one frame. The body length is checked against the
// frame's limit (MaxControlBody, or limit(type)+EnvelopeOverhead for an
// envelope) before any buffer is allocated for it. It returns io.EOF when r
// ends before the first byte of a frame.
func ReadFrame(r *bufio.Reader, limit Limit) (Frame, error) {
	kb, err := r.ReadByte()
	if err != nil {
		if err == io.EOF {
			return Frame{}, io.EOF
		}
		return Frame{}, err
	}
	f := Frame{Kind: Kind(kb)}
	nl, err := r.ReadByte()
	if err != nil {
		return Frame{}, truncated(err)
	}
	maxBody := MaxControlBody
	switch f.Kind {
	case KindHello, KindHelloReply, KindReceipt:
		if nl != 0 {
			return Frame{}, fmt.Errorf("%w: control frame with a type name", ErrMalformed)
		}
	case KindEnvelope:
		if nl == 0 || nl > MaxTypeName {
			return Frame{}, fmt.Errorf("%w: type name length %d", ErrMalformed, nl)
		}
		var name [MaxTypeName]byte
		if _, err := io.ReadFull(r, name[:nl]); err != nil {
			return Frame{}, truncated(err)
		}
		f.Type = string(name[:nl])
		max, ok := limit(f.Type)
		if !ok {
			return Frame{}, fmt.Errorf("%w: %q", ErrUnknownType, f.Type)
		}
		maxBody = max + EnvelopeOverhead
	default:
		return Frame{}, fmt.Errorf("%w: frame kind %d", ErrMalformed, kb)
	}
	n, err := readUvarint(r)
	if err != nil {
		return Frame{}, err
	}
	if n > uint64(maxBody) {
		return Frame{}, fmt.Errorf("%w: frame body of %d bytes, limit %d", ErrTooLarge, n, maxBody)
	}
	if n == 0 {
		return Frame{}, fmt.Errorf("%w: empty frame body", ErrMalformed)
	}
	f.Body = make([]byte, n)
	if _, err := io.ReadFull(r, f.Body); err != nil {
		return Frame{}, truncated(err)
	}
	f.Size = 2 + len(f.Type) + binary.PutUvarint(make([]byte, binary.MaxVarintLen64), n) + int(n)
	return f, nil
}

// readUvarint reads a minimal uvarint of at most 10 bytes.
func readUvarint(r io.ByteReader) (uint64, error) {
	var x uint64
	for i := 0; i < binary.MaxVarintLen64; i++ {
		b, err := r.ReadByte()
		if err != nil {
			return 0, truncated(err)
		}
		if i == binary.MaxVarintLen64-1 && b > 1 {
			return 0, fmt.Errorf("%w: length overflows 64 bits", ErrMalformed)
		}
		x |= uint64(b&0x7f) << (7 * i)
		if b < 0x80 {
			if b == 0 && i > 0 {
				return 0, fmt.Errorf("%w: non-minimal length", ErrMalformed)
			}
			return x, nil
		}
	}
	return 0, fmt.Errorf("%w: length overflows 64 bits", ErrMalformed)
}

func truncated(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("%w: truncated frame: %w", ErrMalformed, io.ErrUnexpectedEOF)
	}
	return err
}
