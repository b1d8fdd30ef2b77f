package wire

import (
	"fmt"

	"github.com/klauspost/compress/zstd"
)

// Codec compresses envelope payloads with zstd when that shrinks them and
// decompresses them with bounded memory. It is safe for concurrent use;
// make one per transport and Close it when done.
type Codec struct {
	enc     *zstd.Encoder
	dec     *zstd.Decoder
	maxSize int
}

// Compression thresholds.
const (
	// minCompress: smaller payloads are always sent as is.
	minCompress = 256
	// sampleSize: larger payloads are tried on a prefix of this size first.
	sampleSize = 64 << 10
)

// NewCodec returns a codec whose decoder never produces more than maxSize
// bytes for one payload (zstd.WithDecoderMaxMemory and a window cap).
func NewCodec(maxSize int) (*Codec, error) {
	if maxSize < 1 {
		return nil, fmt.Errorf("wire: codec max size %d", maxSize)
	}
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithEncoderConcurrency(2),
		zstd.WithLowerEncoderMem(true),
	)
	if err != nil {
		return nil, fmt.Errorf("wire: zstd encoder: %w", err)
	}
	dec, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(2),
		zstd.WithDecoderMaxMemory(uint64(maxSize)),
		zstd.WithDecoderMaxWindow(uint64(max(maxSize, zstd.MinWindowSize))),
		zstd.WithDecodeAllCapLimit(true),
	)
	if err != nil {
		enc.Close()
		return nil, fmt.Errorf("wire: zstd decoder: %w", err)
	}
	return &Codec{enc: enc, dec: dec, maxSize: maxSize}, nil
}

// Compress returns the zstd frame of src and true when it is at most 7/8
// of src; otherwise nil and false (send src as is). Payloads above 64 KiB
// are first tried on their first 64 KiB, so incompressible data (masked
// vectors, ciphertexts, float gradients) costs little.
func (c *Codec) Compress(src []byte) ([]byte, bool) {
	if len(src) < minCompress {
		return nil, false
	}
	if len(src) > 2*sampleSize {
		s := c.enc.EncodeAll(src[:sampleSize], make([]byte, 0, sampleSize))
		if len(s) > sampleSize*7/8 {
			return nil, false
		}
	}
	out := c.enc.EncodeAll(src, make([]byte, 0, len(src)/2))
	if len(out) > len(src)*7/8 {
		return nil, false
	}
	return out, true
}

// Decompress decodes one zstd frame that must expand to exactly rawSize
// bytes, with rawSize <= limit. The frame must declare its content size,
// and decoding stops at rawSize bytes, so a lying frame cannot make it
// allocate more.
func (c *Codec) Decompress(src []byte, rawSize uint64, limit int) ([]byte, error) {
	if limit > c.maxSize {
		limit = c.maxSize
	}
	if rawSize == 0 || rawSize > uint64(limit) {
		return nil, fmt.Errorf("%w: decompressed size %d, limit %d", ErrTooLarge, rawSize, limit)
	}
	var h zstd.Header
	if err := h.Decode(src); err != nil {
		return nil, fmt.Errorf("%w: zstd header: %w", ErrMalformed, err)
	}
	if !h.HasFCS || h.FrameContentSize != rawSize {
		return nil, fmt.Errorf("%w: zstd frame size does not match raw size", ErrMalformed)
	}
	out, err := c.dec.DecodeAll(src, make([]byte, 0, rawSize))
	if err != nil {
		return nil, fmt.Errorf("%w: zstd: %w", ErrMalformed, err)
	}
	if uint64(len(out)) != rawSize {
		return nil, fmt.Errorf("%w: zstd output of %d bytes, want %d", ErrMalformed, len(out), rawSize)
	}
	return out, nil
}

// Close releases the codec's resources.
func (c *Codec) Close() {
	c.enc.Close()
	c.dec.Close()
}
