package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Errors returned (wrapped) by this package.
var (
	// ErrMalformed marks bytes that are not a well-formed safetensors file
	// for the expected layout: bad header, dtype other than F32, wrong,
	// missing or extra tensor, bad offsets, trailing bytes.
	ErrMalformed = errors.New("safetensors: malformed")
	// ErrLayout marks an invalid layout passed by the caller (empty or
	// duplicate names, negative dimensions, too many elements).
	ErrLayout = errors.New("safetensors: bad layout")
)

// Bounds applied when a [Limits] field is zero.
const (
	// DefaultMaxHeader is the default cap on the JSON header length (the
	// reference implementation uses 100 MB; a consort layout needs far less).
	DefaultMaxHeader = 1 << 20
	// DefaultMaxMetadata is the default cap on "__metadata__" entries.
	DefaultMaxMetadata = 64
	// MaxNameLen bounds a tensor name and a metadata key, in bytes.
	MaxNameLen = 256
	// MaxRank bounds the number of dimensions of a tensor.
	MaxRank = 8
	// MaxElements bounds the total element count of a layout (1 GiB of float32).
	MaxElements = 1 << 28
	// MaxMetadataValue bounds one metadata value, in bytes.
	MaxMetadataValue = 1 << 16
)

// DType is the only dtype accepted and written.
const DType = "F32"

// metadataKey is the reserved header key of the metadata map.
const metadataKey = "__metadata__"

// TensorSpec names one tensor of a layout and its shape (row-major). A layout
// is a []TensorSpec; its flat data is the concatenation of the tensors in
// layout order.
type TensorSpec struct {
	// Name identifies the tensor (e.g. "conv1.weight").
	Name string `json:"name" toml:"name"`
	// Shape lists the dimensions; an empty shape is a scalar (one element).
	Shape []int `json:"shape" toml:"shape"`
}

// Elements returns the number of elements of the tensor (1 for a scalar),
// or -1 when a dimension is negative or the count exceeds [MaxElements].
func (t TensorSpec) Elements() int {
	n := 1
	for _, d := range t.Shape {
		if d < 0 || (d > 0 && n > MaxElements/d) {
			return -1
		}
		n *= d
	}
	return n
}

// Limits bounds what [Decode] and [ReadFrom] accept. Zero fields take the defaults.
type Limits struct {
	// MaxHeader caps the JSON header length in bytes ([DefaultMaxHeader]).
	MaxHeader int
	// MaxMetadata caps the number of metadata entries ([DefaultMaxMetadata]).
	MaxMetadata int
}

func (l Limits) withDefaults() Limits {
	if l.MaxHeader <= 0 {
		l.MaxHeader = DefaultMaxHeader
	}
	if l.MaxMetadata <= 0 {
		l.MaxMetadata = DefaultMaxMetadata
	}
	return l
}

// CheckLayout validates a layout and returns its total element count.
func CheckLayout(layout []TensorSpec) (int, error) {
	seen := make(map[string]struct{}, len(layout))
	total := 0
	for i, t := range layout {
		if t.Name == "" || len(t.Name) > MaxNameLen || !utf8.ValidString(t.Name) || t.Name == metadataKey {
			return 0, fmt.Errorf("%w: tensor %d: name must be 1..%d bytes of UTF-8 and not %q", ErrLayout, i, MaxNameLen, metadataKey)
		}
		if _, dup := seen[t.Name]; dup {
			return 0, fmt.Errorf("%w: duplicate tensor name %q", ErrLayout, t.Name)
		}
		seen[t.Name] = struct{}{}
		if len(t.Shape) > MaxRank {
			return 0, fmt.Errorf("%w: tensor %q has rank %d, at most %d", ErrLayout, t.Name, len(t.Shape), MaxRank)
		}
		n := t.Elements()
		if n < 0 || total > MaxElements-n {
			return 0, fmt.Errorf("%w: tensor %q: negative dimension or more than %d elements in the layout", ErrLayout, t.Name, MaxElements)
		}
		total += n
	}
	return total, nil
}

// Header is a parsed and validated header: where each layout tensor lives
// in the data section.
type Header struct {
	// Metadata is the "__metadata__" map (nil when absent).
	Metadata map[string]string
	// Offsets[i] is the byte offset of layout tensor i in the data section.
	Offsets []int64
	// DataLen is the length of the data section in bytes (4 x elements).
	DataLen int64
	// Canonical reports whether the tensors are stored in layout order, so
	// the data section is the flat vector itself.
	Canonical bool
}

type entry struct {
	dtype   string
	shape   []int
	offsets [2]int64
	have    uint8 // bit set of fields seen
}

// ParseHeader validates the JSON header hdr (without the 8-byte length
// prefix) against layout and returns where each tensor lives.
func ParseHeader(hdr []byte, layout []TensorSpec, lim Limits) (Header, error) {
	lim = lim.withDefaults()
	if _, err := CheckLayout(layout); err != nil {
		return Header{}, err
	}
	if len(hdr) > lim.MaxHeader {
		return Header{}, fmt.Errorf("%w: header of %d bytes, at most %d", ErrMalformed, len(hdr), lim.MaxHeader)
	}
	if len(hdr) == 0 || hdr[0] != '{' {
		return Header{}, fmt.Errorf("%w: header does not start with '{'", ErrMalformed)
	}
	if !utf8.Valid(hdr) {
		return Header{}, fmt.Errorf("%w: header is not UTF-8", ErrMalformed)
	}
	var h Header
	entries, err := decodeEntries(hdr, layout, lim, &h)
	if err != nil {
		return Header{}, err
	}
	h.Offsets = make([]int64, len(layout))
	spans, err := matchLayout(layout, entries, h.Offsets)
	if err != nil {
		return Header{}, err
	}
	h.DataLen, h.Canonical, err = checkSpans(layout, spans)
	if err != nil {
		return Header{}, err
	}
	return h, nil
}

// decodeEntries decodes the header object hdr: the entry of each tensor,
// indexed as in layout (nil if absent), and the metadata, stored in
// h.Metadata. Only space padding may follow the object.
func decodeEntries(hdr []byte, layout []TensorSpec, lim Limits, h *Header) ([]*entry, error) {
	index := make(map[string]int, len(layout))
	for i, t := range layout {
		index[t.Name] = i
	}
	entries := make([]*entry, len(layout))
	dec := json.NewDecoder(bytes.NewReader(hdr))
	dec.UseNumber()
	if err := expectDelim(dec, '{'); err != nil {
		return nil, err
	}
	for dec.More() {
		key, err := stringToken(dec)
		if err != nil {
			return nil, err
		}
		if key == metadataKey {
			if h.Metadata != nil {
				return nil, fmt.Errorf("%w: duplicate %q", ErrMalformed, metadataKey)
			}
			if h.Metadata, err = parseMetadata(dec, lim.MaxMetadata); err != nil {
				return nil, err
			}
			continue
		}
		i, ok := index[key]
		if !ok {
			return nil, fmt.Errorf("%w: unexpected tensor %s (not in the layout)", ErrMalformed, quote(key))
		}
		if entries[i] != nil {
			return nil, fmt.Errorf("%w: duplicate tensor %q", ErrMalformed, key)
		}
		e, err := parseEntry(dec, key)
		if err != nil {
			return nil, err
		}
		entries[i] = e
	}
	if err := expectDelim(dec, '}'); err != nil {
		return nil, err
	}
	// Only space padding may follow the object.
	rest := hdr[dec.InputOffset():]
	if len(bytes.Trim(rest, " ")) != 0 {
		return nil, fmt.Errorf("%w: bytes after the header object", ErrMalformed)
	}
	return entries, nil
}

// tensorSpan is the byte range [begin, end) of layout tensor i in the data
// section.
type tensorSpan struct {
	begin, end int64
	i          int
}

// matchLayout checks each entry against its layout tensor (present, dtype,
// shape, span size), stores its offset in offsets and returns the spans in
// layout order.
func matchLayout(layout []TensorSpec, entries []*entry, offsets []int64) ([]tensorSpan, error) {
	spans := make([]tensorSpan, 0, len(layout))
	for i, t := range layout {
		e := entries[i]
		if e == nil {
			return nil, fmt.Errorf("%w: missing tensor %q", ErrMalformed, t.Name)
		}
		if e.dtype != DType {
			return nil, fmt.Errorf("%w: tensor %q has dtype %s, want %s", ErrMalformed, t.Name, quote(e.dtype), DType)
		}
		if !slices.Equal(e.shape, t.Shape) && !(len(e.shape) == 0 && len(t.Shape) == 0) {
			return nil, fmt.Errorf("%w: tensor %q has shape %v, want %v", ErrMalformed, t.Name, e.shape, t.Shape)
		}
		size := 4 * int64(t.Elements())
		if e.offsets[1]-e.offsets[0] != size {
			return nil, fmt.Errorf("%w: tensor %q spans %d bytes, its shape needs %d", ErrMalformed, t.Name, e.offsets[1]-e.offsets[0], size)
		}
		offsets[i] = e.offsets[0]
		spans = append(spans, tensorSpan{e.offsets[0], e.offsets[1], i})
	}
	return spans, nil
}

// checkSpans sorts spans by position and checks that they tile the data
// section from byte 0 without gap or overlap; it returns the section's
// length and whether the tensors are stored in layout order.
func checkSpans(layout []TensorSpec, spans []tensorSpan) (dataLen int64, canonical bool, err error) {
	slices.SortStableFunc(spans, func(a, b tensorSpan) int {
		if a.begin != b.begin {
			if a.begin < b.begin {
				return -1
			}
			return 1
		}
		if a.end < b.end {
			return -1
		} else if a.end > b.end {
			return 1
		}
		return 0
	})
	var pos int64
	canonical = true
	for k, s := range spans {
		if s.begin != pos {
			return 0, false, fmt.Errorf("%w: tensor %q starts at byte %d, the previous tensor ends at %d (gap or overlap)", ErrMalformed, layout[s.i].Name, s.begin, pos)
		}
		pos = s.end
		if s.i != k {
			canonical = false
		}
	}
	return pos, canonical, nil
}

func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return strconv.Quote(s)
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("%w: header JSON: %v", ErrMalformed, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("%w: header JSON: want %q", ErrMalformed, string(want))
	}
	return nil
}

func stringToken(dec *json.Decoder) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", fmt.Errorf("%w: header JSON: %v", ErrMalformed, err)
	}
	s, ok := tok.(string)
	if !ok {
		return "", fmt.Errorf("%w: header JSON: want a string", ErrMalformed)
	}
	if len(s) > MaxNameLen {
		return "", fmt.Errorf("%w: header key of %d bytes, at most %d", ErrMalformed, len(s), MaxNameLen)
	}
	return s, nil
}

func intToken(dec *json.Decoder, max int64) (int64, error) {
	tok, err := dec.Token()
	if err != nil {
		return 0, fmt.Errorf("%w: header JSON: %v", ErrMalformed, err)
	}
	n, ok := tok.(json.Number)
	if !ok {
		return 0, fmt.Errorf("%w: header JSON: want an integer", ErrMalformed)
	}
	v, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil || v < 0 || v > max {
		return 0, fmt.Errorf("%w: header JSON: %s is not an integer in [0, %d]", ErrMalformed, quote(string(n)), max)
	}
	return v, nil
}

func parseMetadata(dec *json.Decoder, maxEntries int) (map[string]string, error) {
	if err := expectDelim(dec, '{'); err != nil {
		return nil, err
	}
	m := map[string]string{}
	for dec.More() {
		k, err := stringToken(dec)
		if err != nil {
			return nil, err
		}
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("%w: duplicate metadata key %s", ErrMalformed, quote(k))
		}
		if len(m) >= maxEntries {
			return nil, fmt.Errorf("%w: more than %d metadata entries", ErrMalformed, maxEntries)
		}
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: header JSON: %v", ErrMalformed, err)
		}
		v, ok := tok.(string)
		if !ok || len(v) > MaxMetadataValue {
			return nil, fmt.Errorf("%w: metadata %s: want a string of at most %d bytes", ErrMalformed, quote(k), MaxMetadataValue)
		}
		m[k] = v
	}
	return m, expectDelim(dec, '}')
}

const (
	haveDType = 1 << iota
	haveShape
	haveOffsets
)

func parseEntry(dec *json.Decoder, name string) (*entry, error) {
	if err := expectDelim(dec, '{'); err != nil {
		return nil, err
	}
	e := &entry{}
	for dec.More() {
		k, err := stringToken(dec)
		if err != nil {
			return nil, err
		}
		var bit uint8
		switch k {
		case "dtype":
			bit = haveDType
		case "shape":
			bit = haveShape
		case "data_offsets":
			bit = haveOffsets
		default:
			return nil, fmt.Errorf("%w: tensor %q: unknown field %s", ErrMalformed, name, quote(k))
		}
		if e.have&bit != 0 {
			return nil, fmt.Errorf("%w: tensor %q: duplicate field %q", ErrMalformed, name, k)
		}
		e.have |= bit
		switch bit {
		case haveDType:
			tok, err := dec.Token()
			if err != nil {
				return nil, fmt.Errorf("%w: header JSON: %v", ErrMalformed, err)
			}
			s, ok := tok.(string)
			if !ok || len(s) > 16 {
				return nil, fmt.Errorf("%w: tensor %q: bad dtype", ErrMalformed, name)
			}
			e.dtype = s
		case haveShape:
			if err := expectDelim(dec, '['); err != nil {
				return nil, err
			}
			e.shape = []int{}
			for dec.More() {
				if len(e.shape) >= MaxRank {
					return nil, fmt.Errorf("%w: tensor %q: rank above %d", ErrMalformed, name, MaxRank)
				}
				d, err := intToken(dec, MaxElements)
				if err != nil {
					return nil, err
				}
				e.shape = append(e.shape, int(d))
			}
			if err := expectDelim(dec, ']'); err != nil {
				return nil, err
			}
		case haveOffsets:
			if err := expectDelim(dec, '['); err != nil {
				return nil, err
			}
			for j := range 2 {
				if !dec.More() {
					return nil, fmt.Errorf("%w: tensor %q: data_offsets needs two integers", ErrMalformed, name)
				}
				v, err := intToken(dec, 4*MaxElements)
				if err != nil {
					return nil, err
				}
				e.offsets[j] = v
			}
			if err := expectDelim(dec, ']'); err != nil {
				return nil, fmt.Errorf("%w: tensor %q: data_offsets needs exactly two integers", ErrMalformed, name)
			}
			if e.offsets[1] < e.offsets[0] {
				return nil, fmt.Errorf("%w: tensor %q: data_offsets end before begin", ErrMalformed, name)
			}
		}
	}
	if e.have != haveDType|haveShape|haveOffsets {
		return nil, fmt.Errorf("%w: tensor %q: needs dtype, shape and data_offsets", ErrMalformed, name)
	}
	return e, expectDelim(dec, '}')
}

// File is a decoded safetensors file.
type File struct {
	// Data holds the tensors' values, flat, in layout order.
	Data []float32
	// Metadata is the "__metadata__" map (nil when absent).
	Metadata map[string]string
}

// Decode parses a whole safetensors file b, which must hold exactly the
// tensors of layout, as F32, and nothing after the data section.
func Decode(b []byte, layout []TensorSpec, lim Limits) (*File, error) {
	lim = lim.withDefaults()
	if len(b) < 8 {
		return nil, fmt.Errorf("%w: %d bytes, shorter than the 8-byte header length", ErrMalformed, len(b))
	}
	n := binary.LittleEndian.Uint64(b)
	if n > uint64(lim.MaxHeader) || n > uint64(len(b)-8) {
		return nil, fmt.Errorf("%w: header length %d exceeds the cap %d or the input", ErrMalformed, n, lim.MaxHeader)
	}
	h, err := ParseHeader(b[8:8+n], layout, lim)
	if err != nil {
		return nil, err
	}
	data := b[8+n:]
	if int64(len(data)) != h.DataLen {
		return nil, fmt.Errorf("%w: data section of %d bytes, the header indexes %d", ErrMalformed, len(data), h.DataLen)
	}
	out := make([]float32, h.DataLen/4)
	h.gather(out, layout, data)
	return &File{Data: out, Metadata: h.Metadata}, nil
}

// gather copies the tensors from data (laid out as the header says) into
// out in layout order.
func (h Header) gather(out []float32, layout []TensorSpec, data []byte) {
	pos := 0
	for i, t := range layout {
		n := t.Elements()
		src := data[h.Offsets[i] : h.Offsets[i]+4*int64(n)]
		for j := range n {
			out[pos+j] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*j:]))
		}
		pos += n
	}
}

// ReadFrom reads one safetensors file of exactly size bytes from r into dst
// (len(dst) must equal the layout's element count) and returns its metadata.
// The header is bounded by lim before it is allocated; a canonical file's
// data is read straight into dst.
func ReadFrom(r io.Reader, size int64, layout []TensorSpec, lim Limits, dst []float32) (map[string]string, error) {
	lim = lim.withDefaults()
	total, err := CheckLayout(layout)
	if err != nil {
		return nil, err
	}
	if len(dst) != total {
		return nil, fmt.Errorf("%w: destination has %d elements, layout %d", ErrLayout, len(dst), total)
	}
	if size < 8 {
		return nil, fmt.Errorf("%w: %d bytes, shorter than the 8-byte header length", ErrMalformed, size)
	}
	var pre [8]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return nil, fmt.Errorf("%w: header length: %w", ErrMalformed, err)
	}
	n := binary.LittleEndian.Uint64(pre[:])
	if n > uint64(lim.MaxHeader) || n > uint64(size-8) {
		return nil, fmt.Errorf("%w: header length %d exceeds the cap %d or the message", ErrMalformed, n, lim.MaxHeader)
	}
	hdr := make([]byte, n)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, fmt.Errorf("%w: header: %w", ErrMalformed, err)
	}
	h, err := ParseHeader(hdr, layout, lim)
	if err != nil {
		return nil, err
	}
	if size-8-int64(n) != h.DataLen {
		return nil, fmt.Errorf("%w: data section of %d bytes, the header indexes %d", ErrMalformed, size-8-int64(n), h.DataLen)
	}
	return h.Metadata, h.ReadData(r, layout, dst)
}

// ReadData reads the data section described by h (parsed by [ParseHeader]
// for the same layout) from r into dst, in layout order. A canonical data
// section is read straight into dst.
func (h Header) ReadData(r io.Reader, layout []TensorSpec, dst []float32) error {
	if int64(len(dst))*4 != h.DataLen || len(h.Offsets) != len(layout) {
		return fmt.Errorf("%w: destination has %d elements, the header %d bytes", ErrLayout, len(dst), h.DataLen)
	}
	if h.Canonical && nativeLittle {
		if _, err := io.ReadFull(r, float32Bytes(dst)); err != nil {
			return fmt.Errorf("%w: data: %w", ErrMalformed, err)
		}
		return nil
	}
	data := make([]byte, h.DataLen)
	if _, err := io.ReadFull(r, data); err != nil {
		return fmt.Errorf("%w: data: %w", ErrMalformed, err)
	}
	h.gather(dst, layout, data)
	return nil
}

// EncodeHeader returns the 8-byte length prefix and the canonical JSON
// header for layout and metadata: tensors in layout order, contiguous,
// padded with spaces so that the data section starts at a multiple of 8.
func EncodeHeader(layout []TensorSpec, metadata map[string]string) ([]byte, error) {
	if _, err := CheckLayout(layout); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.Write(make([]byte, 8))
	buf.WriteByte('{')
	first := true
	if metadata != nil {
		keys := make([]string, 0, len(metadata))
		for k := range metadata {
			if len(k) > MaxNameLen || len(metadata[k]) > MaxMetadataValue {
				return nil, fmt.Errorf("%w: metadata key or value too long", ErrLayout)
			}
			keys = append(keys, k)
		}
		slices.Sort(keys)
		buf.WriteString(`"__metadata__":{`)
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeJSONString(&buf, k)
			buf.WriteByte(':')
			writeJSONString(&buf, metadata[k])
		}
		buf.WriteByte('}')
		first = false
	}
	var off int64
	for _, t := range layout {
		if !first {
			buf.WriteByte(',')
		}
		first = false
		writeJSONString(&buf, t.Name)
		buf.WriteString(`:{"dtype":"F32","shape":[`)
		for i, d := range t.Shape {
			if i > 0 {
				buf.WriteByte(',')
			}
			buf.WriteString(strconv.Itoa(d))
		}
		end := off + 4*int64(t.Elements())
		fmt.Fprintf(&buf, `],"data_offsets":[%d,%d]}`, off, end)
		off = end
	}
	buf.WriteByte('}')
	for buf.Len()%8 != 0 {
		buf.WriteByte(' ')
	}
	b := buf.Bytes()
	binary.LittleEndian.PutUint64(b, uint64(len(b)-8))
	return b, nil
}

func writeJSONString(buf *bytes.Buffer, s string) {
	b, _ := json.Marshal(s) // a string always marshals
	buf.Write(b)
}

// Encode returns the canonical safetensors file of data (flat, in layout
// order) with optional metadata.
func Encode(layout []TensorSpec, data []float32, metadata map[string]string) ([]byte, error) {
	hdr, err := EncodeHeader(layout, metadata)
	if err != nil {
		return nil, err
	}
	total, _ := CheckLayout(layout)
	if len(data) != total {
		return nil, fmt.Errorf("%w: %d values for a layout of %d elements", ErrLayout, len(data), total)
	}
	out := make([]byte, len(hdr), len(hdr)+4*len(data))
	copy(out, hdr)
	return appendData(out, data), nil
}

func appendData(out []byte, data []float32) []byte {
	for _, v := range data {
		out = binary.LittleEndian.AppendUint32(out, math.Float32bits(v))
	}
	return out
}

// WriteTo writes the canonical file of data to w, without copying the data
// on little-endian machines.
func WriteTo(w io.Writer, layout []TensorSpec, data []float32, metadata map[string]string) (int64, error) {
	hdr, err := EncodeHeader(layout, metadata)
	if err != nil {
		return 0, err
	}
	total, _ := CheckLayout(layout)
	if len(data) != total {
		return 0, fmt.Errorf("%w: %d values for a layout of %d elements", ErrLayout, len(data), total)
	}
	n, err := w.Write(hdr)
	if err != nil {
		return int64(n), err
	}
	var m int
	if nativeLittle {
		m, err = w.Write(float32Bytes(data))
	} else {
		m, err = w.Write(appendData(make([]byte, 0, 4*len(data)), data))
	}
	return int64(n + m), err
}

// Size returns the byte length of the canonical file for layout and metadata.
func Size(layout []TensorSpec, metadata map[string]string) (int64, error) {
	hdr, err := EncodeHeader(layout, metadata)
	if err != nil {
		return 0, err
	}
	total, _ := CheckLayout(layout)
	return int64(len(hdr)) + 4*int64(total), nil
}

// ReadLayout returns the layout of a whole safetensors file b whose layout
// is not known in advance (e.g. the initial weights a coordinator
// publishes): its F32 tensors in data-offset order. The file is then fully
// validated by [Decode] against that layout, whose result is returned too.
func ReadLayout(b []byte, lim Limits) ([]TensorSpec, *File, error) {
	lim = lim.withDefaults()
	if len(b) < 8 {
		return nil, nil, fmt.Errorf("%w: %d bytes, shorter than the 8-byte header length", ErrMalformed, len(b))
	}
	n := binary.LittleEndian.Uint64(b)
	if n > uint64(lim.MaxHeader) || n > uint64(len(b)-8) {
		return nil, nil, fmt.Errorf("%w: header length %d exceeds the cap %d or the input", ErrMalformed, n, lim.MaxHeader)
	}
	hdr := b[8 : 8+n]
	if len(hdr) == 0 || hdr[0] != '{' {
		return nil, nil, fmt.Errorf("%w: header does not start with '{'", ErrMalformed)
	}
	dec := json.NewDecoder(bytes.NewReader(hdr))
	dec.UseNumber()
	if err := expectDelim(dec, '{'); err != nil {
		return nil, nil, err
	}
	type named struct {
		TensorSpec
		begin int64
	}
	var found []named
	for dec.More() {
		key, err := stringToken(dec)
		if err != nil {
			return nil, nil, err
		}
		if key == metadataKey {
			if _, err := parseMetadata(dec, lim.MaxMetadata); err != nil {
				return nil, nil, err
			}
			continue
		}
		if len(found) >= MaxElements/1024 {
			return nil, nil, fmt.Errorf("%w: too many tensors", ErrMalformed)
		}
		e, err := parseEntry(dec, key)
		if err != nil {
			return nil, nil, err
		}
		found = append(found, named{TensorSpec{Name: key, Shape: e.shape}, e.offsets[0]})
	}
	slices.SortStableFunc(found, func(a, b named) int {
		switch {
		case a.begin < b.begin:
			return -1
		case a.begin > b.begin:
			return 1
		}
		return 0
	})
	layout := make([]TensorSpec, len(found))
	for i, f := range found {
		layout[i] = f.TensorSpec
	}
	if _, err := CheckLayout(layout); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	f, err := Decode(b, layout, lim)
	if err != nil {
		return nil, nil, err
	}
	return layout, f, nil
}
