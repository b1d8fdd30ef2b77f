package data

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// MaxIDXBytes bounds the payload of an IDX file this package accepts
// (1 GiB; MNIST's largest file holds 47 MB).
const MaxIDXBytes = 1 << 30

// idxUbyte is the IDX element type code for unsigned bytes.
const idxUbyte = 0x08

// IDX is a decoded IDX file (the format of the MNIST distribution) whose
// elements are unsigned bytes, the only element type MNIST uses.
//
// The format: two zero bytes, the element type (0x08), the number of
// dimensions n, then n big-endian uint32 sizes, then the elements in
// row-major order, nothing after them.
type IDX struct {
	// Dims holds the size of each dimension, outermost first.
	Dims []int
	// Data holds the product of Dims elements.
	Data []byte
}

// ReadIDX decodes an IDX file from r (raw, not gzip: see [ReadIDXFile]).
// The header is checked before anything is allocated for the payload: an
// element type other than unsigned byte, zero dimensions, a zero size, or a
// payload over [MaxIDXBytes] is rejected. The payload is then read as it
// arrives, so a header that lies about its size costs no memory; a payload
// shorter or longer than the header says is rejected. Errors wrap
// [ErrBadData] (or are I/O errors of r).
func ReadIDX(r io.Reader) (*IDX, error) {
	return readIDX(r, "IDX")
}

// readIDX implements ReadIDX; src names the input in errors.
func readIDX(r io.Reader, src string) (*IDX, error) {
	idxErr := func(cause error, format string, args ...any) error {
		return idxError(src, cause, format, args...)
	}
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, idxErr(err, "header: %v", err)
	}
	if hdr[0] != 0 || hdr[1] != 0 {
		return nil, idxErr(nil, "bad magic (first two bytes must be zero)")
	}
	if hdr[2] != idxUbyte {
		return nil, idxErr(nil, "unsupported element type 0x%02x (want 0x08, unsigned byte)", hdr[2])
	}
	nd := int(hdr[3])
	if nd == 0 {
		return nil, idxErr(nil, "no dimensions")
	}
	var raw [255 * 4]byte
	if _, err := io.ReadFull(r, raw[:4*nd]); err != nil {
		return nil, idxErr(err, "dimension sizes: %v", err)
	}
	dims := make([]int, nd)
	total := int64(1)
	for i := range dims {
		d := int64(binary.BigEndian.Uint32(raw[4*i:]))
		if d == 0 {
			return nil, idxErr(nil, "dimension %d has size 0", i)
		}
		if total > MaxIDXBytes/d {
			return nil, idxErr(nil, "dimensions exceed the %d-byte limit", MaxIDXBytes)
		}
		total *= d
		dims[i] = int(d)
	}
	payload, err := io.ReadAll(io.LimitReader(r, total+1))
	if err != nil {
		return nil, idxErr(err, "payload: %v", err)
	}
	if int64(len(payload)) < total {
		return nil, idxErr(nil, "truncated: %d of %d payload bytes", len(payload), total)
	}
	if int64(len(payload)) > total {
		return nil, idxErr(nil, "trailing bytes after the %d-byte payload", total)
	}
	return &IDX{Dims: dims, Data: payload}, nil
}

// ParseIDX decodes an IDX file held in memory; see [ReadIDX].
// Anything it accepts re-encodes to the same bytes with [IDX.MarshalBinary].
func ParseIDX(b []byte) (*IDX, error) {
	return ReadIDX(bytes.NewReader(b))
}

// MarshalBinary encodes x in the IDX format. It fails if the dimensions do
// not describe len(Data) elements or break the limits [ReadIDX] enforces.
func (x *IDX) MarshalBinary() ([]byte, error) {
	idxErr := func(cause error, format string, args ...any) error {
		return idxError("IDX", cause, format, args...)
	}
	if len(x.Dims) == 0 || len(x.Dims) > 255 {
		return nil, idxErr(nil, "%d dimensions (want 1..255)", len(x.Dims))
	}
	total := int64(1)
	for i, d := range x.Dims {
		if d <= 0 || int64(d) > 1<<32-1 || total > MaxIDXBytes/int64(d) {
			return nil, idxErr(nil, "dimension %d out of range", i)
		}
		total *= int64(d)
	}
	if total != int64(len(x.Data)) {
		return nil, idxErr(nil, "dimensions describe %d elements, have %d", total, len(x.Data))
	}
	out := make([]byte, 0, 4+4*len(x.Dims)+len(x.Data))
	out = append(out, 0, 0, idxUbyte, byte(len(x.Dims)))
	for _, d := range x.Dims {
		out = binary.BigEndian.AppendUint32(out, uint32(d))
	}
	return append(out, x.Data...), nil
}

// ReadIDXFile reads an IDX file, gzip-compressed or raw (told apart by the
// gzip magic bytes). Errors name the file.
func ReadIDXFile(path string) (*IDX, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	var r io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, idxError(filepath.Base(path), err, "gzip: %v", err)
		}
		defer zr.Close()
		r = zr
	}
	return readIDX(r, filepath.Base(path))
}

// idxError builds an IDX error naming src. Malformed input (including a
// truncated stream or corrupt gzip) wraps ErrBadData; other read errors
// (a failing disk) are wrapped as they are.
func idxError(src string, cause error, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	var corrupt flate.CorruptInputError
	if cause == nil || errors.Is(cause, io.EOF) || errors.Is(cause, io.ErrUnexpectedEOF) ||
		errors.Is(cause, gzip.ErrChecksum) || errors.Is(cause, gzip.ErrHeader) || errors.As(cause, &corrupt) {
		return fmt.Errorf("%w: %s: %s", ErrBadData, src, msg)
	}
	return fmt.Errorf("data: %s: %s: %w", src, msg, cause)
}
