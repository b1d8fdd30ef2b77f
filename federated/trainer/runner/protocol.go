package runner

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/consort-ml/consort/federated/trainer"
	"io"
	"strconv"

	"github.com/consort-ml/consort/federated/trainer/safetensors"
)

// ProtocolVersion is the version of the external trainer protocol spoken
// by this package (metadata key "consort.protocol").
const ProtocolVersion = 1

// Message kinds (metadata key "consort.kind").
const (
	kindHello     = "hello"     // trainer -> node, once at start
	kindTrain     = "train"     // node -> trainer: global tensors + settings
	kindEvaluate  = "evaluate"  // node -> trainer: global tensors
	kindShutdown  = "shutdown"  // node -> trainer: exit now
	kindTrained   = "trained"   // trainer -> node: trained tensors + metrics
	kindEvaluated = "evaluated" // trainer -> node: metrics only
	kindError     = "error"     // trainer -> node: the call failed
)

// Metadata keys.
const (
	keyKind     = "consort.kind"
	keyProtocol = "consort.protocol"
	keyRound    = "consort.round"
	keySeed     = "consort.seed"
	keySettings = "consort.settings"
	keyMetrics  = "consort.metrics"
	keyError    = "consort.error"
)

// maxErrorText bounds the trainer's error text kept in an error.
const maxErrorText = 200

// writeMessage writes one frame: the 8-byte little-endian length of the
// safetensors document that follows, then the document (header, then data
// straight from the slice).
func writeMessage(w io.Writer, layout []trainer.TensorSpec, data []float32, meta map[string]string) error {
	hdr, err := safetensors.EncodeHeader(layout, meta)
	if err != nil {
		return err
	}
	buf := make([]byte, 8, 8+len(hdr))
	binary.LittleEndian.PutUint64(buf, uint64(len(hdr))+4*uint64(len(data)))
	buf = append(buf, hdr...)
	if _, err := w.Write(buf); err != nil || len(data) == 0 {
		return err
	}
	return writeData(w, data)
}

// message is a frame read from a trainer.
type message struct {
	kind string
	meta map[string]string
	// tensors reports whether the frame carried the layout's tensors (read
	// into the destination); metadata-only frames carry none.
	tensors bool
}

// readMessage reads one frame from r. A frame with a data section must
// hold exactly layout (read into dst); a frame without one must hold no
// tensor. Frame and header sizes are bounded before allocation.
func readMessage(r io.Reader, layout []trainer.TensorSpec, dst []float32, maxHeader int) (message, error) {
	var pre [16]byte
	if _, err := io.ReadFull(r, pre[:8]); err != nil {
		return message{}, err
	}
	frame := binary.LittleEndian.Uint64(pre[:8])
	maxFrame := uint64(8) + uint64(maxHeader) + 4*uint64(len(dst))
	if frame > maxFrame {
		return message{}, fmt.Errorf("%w: a frame of %d bytes, at most %d for this layout", ErrOutputQuota, frame, maxFrame)
	}
	if frame < 8 {
		return message{}, fmt.Errorf("%w: a frame of %d bytes", ErrProtocol, frame)
	}
	if _, err := io.ReadFull(r, pre[8:]); err != nil {
		return message{}, fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	n := binary.LittleEndian.Uint64(pre[8:])
	if n > uint64(maxHeader) || n > frame-8 {
		return message{}, fmt.Errorf("%w: %w: header length %d exceeds the cap %d or the frame", ErrProtocol, safetensors.ErrMalformed, n, maxHeader)
	}
	hdr := make([]byte, n)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return message{}, fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	dataLen := int64(frame - 8 - n)
	want := layout
	if dataLen == 0 && len(dst) != 0 {
		want = nil
	}
	h, err := safetensors.ParseHeader(hdr, want, safetensors.Limits{MaxHeader: maxHeader})
	if err != nil {
		return message{}, fmt.Errorf("%w: %w", ErrInvalidOutput, err)
	}
	if h.DataLen != dataLen {
		return message{}, fmt.Errorf("%w: %w: data section of %d bytes, the header indexes %d", ErrInvalidOutput, safetensors.ErrMalformed, dataLen, h.DataLen)
	}
	m := message{meta: h.Metadata, tensors: want != nil}
	if m.tensors {
		if err := h.ReadData(r, layout, dst); err != nil {
			return message{}, fmt.Errorf("%w: %w", ErrProtocol, err)
		}
	}
	m.kind = m.meta[keyKind]
	if v := m.meta[keyProtocol]; v != strconv.Itoa(ProtocolVersion) {
		return message{}, fmt.Errorf("%w: protocol version %q, want %d", ErrProtocol, clip(v), ProtocolVersion)
	}
	return m, nil
}

// metrics parses the strict JSON metrics of a message.
func (m message) metrics() (trainer.Metrics, error) {
	var out trainer.Metrics
	s, ok := m.meta[keyMetrics]
	if !ok {
		return out, fmt.Errorf("%w: no %s in the %s message", ErrInvalidOutput, keyMetrics, m.kind)
	}
	if err := strictJSON([]byte(s), &out); err != nil {
		return out, fmt.Errorf("%w: %s: %v", ErrInvalidOutput, keyMetrics, err)
	}
	return out, nil
}

// strictJSON decodes one object with no unknown fields and nothing after it.
func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytesReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errors.New("malformed JSON")
	}
	if dec.More() {
		return errors.New("bytes after the JSON object")
	}
	return nil
}

// clip returns s cut to maxErrorText bytes of printable ASCII: trainer text
// ends up in the node's log, so it is bounded and stripped of control bytes.
func clip(s string) string {
	b := make([]byte, 0, min(len(s), maxErrorText))
	for i := 0; i < len(s) && len(b) < maxErrorText; i++ {
		if c := s[i]; c >= 0x20 && c < 0x7f {
			b = append(b, c)
		} else {
			b = append(b, '?')
		}
	}
	return string(b)
}
