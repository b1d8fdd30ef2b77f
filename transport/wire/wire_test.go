package wire

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"runtime"
	"testing"

	"google.golang.org/protobuf/proto"
)

func limits(typ string) (int, bool) {
	switch typ {
	case "t/small":
		return 64, true
	case "t/big":
		return 1 << 20, true
	}
	return 0, false
}

func reader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }

func sampleEnvelope() *Envelope {
	return &Envelope{FederationId: "fed", Round: 300, Step: 2, Sender: "12D3KooWpeer", Type: "t/small", Payload: []byte("payload")}
}

func TestEnvelopeMatchesProtoMarshal(t *testing.T) {
	for _, e := range []*Envelope{
		sampleEnvelope(),
		{FederationId: "f", Sender: "s", Type: "t/big"},
		{FederationId: "f", Round: 1 << 63, Step: 1<<32 - 1, Sender: "s", Type: "t/big", Compression: Compression_COMPRESSION_ZSTD, RawSize: 99, Payload: make([]byte, 300)},
	} {
		got := AppendEnvelope(nil, e)
		want, err := proto.MarshalOptions{Deterministic: true}.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("AppendEnvelope = %x, proto.Marshal = %x", got, want)
		}
		d, err := DecodeEnvelope(got)
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(d, e) {
			t.Fatalf("round trip: %v != %v", d, e)
		}
	}
	h := &Hello{FederationId: "f", Sender: "s", Protocol: "/consort/x/1", ManifestDigest: []byte{0, 0xff}}
	if got, _ := (proto.MarshalOptions{Deterministic: true}).Marshal(h); !bytes.Equal(AppendHello(nil, h), got) {
		t.Fatal("AppendHello differs from proto.Marshal")
	}
	r := &Receipt{Status: Status_STATUS_STALE_ROUND}
	if got, _ := proto.Marshal(r); !bytes.Equal(AppendReceipt(nil, r), got) {
		t.Fatal("AppendReceipt differs from proto.Marshal")
	}
}

func TestDecodeEnvelopeRejects(t *testing.T) {
	good := AppendEnvelope(nil, sampleEnvelope())
	cases := map[string][]byte{
		"empty":               {},
		"truncated":           good[:len(good)-1],
		"unknown field":       append(append([]byte{}, good...), 0x40, 0x01), // field 8 varint
		"repeated field":      append(append([]byte{}, good[:5]...), good...),
		"non-minimal tag":     append([]byte{0x8a, 0x00}, good[1:]...),
		"zero value":          append([]byte{0x10, 0x00}, good...),
		"wrong wire type":     append([]byte{0x09, 0, 0, 0, 0, 0, 0, 0, 0}, good...),
		"no federation":       AppendEnvelope(nil, &Envelope{Sender: "s", Type: "t"}),
		"raw size w/o zstd":   AppendEnvelope(nil, &Envelope{FederationId: "f", Sender: "s", Type: "t", RawSize: 3, Payload: []byte{1}}),
		"zstd w/o raw size":   AppendEnvelope(nil, &Envelope{FederationId: "f", Sender: "s", Type: "t", Compression: Compression_COMPRESSION_ZSTD, Payload: []byte{1}}),
		"unknown compression": AppendEnvelope(nil, &Envelope{FederationId: "f", Sender: "s", Type: "t", Compression: 7}),
		"bad utf8":            AppendEnvelope(nil, &Envelope{FederationId: "f\xff", Sender: "s", Type: "t"}),
		"long federation":     AppendEnvelope(nil, &Envelope{FederationId: string(make([]byte, 200)), Sender: "s", Type: "t"}),
		"step > 32 bits":      {0x0a, 1, 'f', 0x18, 0x80, 0x80, 0x80, 0x80, 0x10, 0x22, 1, 's', 0x2a, 1, 't'},
		"non-minimal varint":  {0x0a, 1, 'f', 0x10, 0x81, 0x00, 0x22, 1, 's', 0x2a, 1, 't'},
	}
	for name, b := range cases {
		if _, err := DecodeEnvelope(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}

func TestReadFrame(t *testing.T) {
	body := AppendEnvelope(nil, sampleEnvelope())
	frame := append(AppendHeader(nil, KindEnvelope, "t/small", len(body)), body...)
	f, err := ReadFrame(reader(frame), limits)
	if err != nil {
		t.Fatal(err)
	}
	if f.Kind != KindEnvelope || f.Type != "t/small" || !bytes.Equal(f.Body, body) || f.Size != len(frame) {
		t.Fatalf("frame %+v", f)
	}
	// Two frames back to back, then a clean EOF.
	r := reader(append(append([]byte{}, frame...), frame...))
	for range 2 {
		if _, err := ReadFrame(r, limits); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ReadFrame(r, limits); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
	for name, tc := range map[string]struct {
		b    []byte
		want error
	}{
		"bad kind":         {[]byte{9, 0, 1, 1}, ErrMalformed},
		"control w/ name":  {[]byte{byte(KindReceipt), 1, 'x', 1, 1}, ErrMalformed},
		"no name":          {[]byte{byte(KindEnvelope), 0, 1, 1}, ErrMalformed},
		"long name":        {append([]byte{byte(KindEnvelope), 65}, make([]byte, 66)...), ErrMalformed},
		"unknown type":     {append([]byte{byte(KindEnvelope), 3}, "t/x\x01\x01"...), ErrUnknownType},
		"over limit":       {AppendHeader(nil, KindEnvelope, "t/small", 64+EnvelopeOverhead+1), ErrTooLarge},
		"control too big":  {AppendHeader(nil, KindHello, "", MaxControlBody+1), ErrTooLarge},
		"empty body":       {AppendHeader(nil, KindReceipt, "", 0), ErrMalformed},
		"truncated body":   {frame[:len(frame)-1], ErrMalformed},
		"truncated header": {frame[:3], ErrMalformed},
		"non-minimal len":  {[]byte{byte(KindReceipt), 0, 0x82, 0x00, 8, 1}, ErrMalformed},
		"overlong len":     {[]byte{byte(KindReceipt), 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, ErrMalformed},
	} {
		if _, err := ReadFrame(reader(tc.b), limits); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", name, err, tc.want)
		}
	}
}

// TestHugeHeaderDoesNotAllocate: a header claiming 2^40 bytes is refused
// after a few small allocations (the type name and the error), never a
// buffer for the body.
func TestHugeHeaderDoesNotAllocate(t *testing.T) {
	hdr := AppendHeader(nil, KindEnvelope, "t/big", 1<<40)
	br := bufio.NewReaderSize(bytes.NewReader(nil), 16)
	const runs = 100
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		br.Reset(bytes.NewReader(hdr))
		if _, err := ReadFrame(br, limits); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("err = %v, want ErrTooLarge", err)
		}
	}
	runtime.ReadMemStats(&after)
	if perRun := (after.TotalAlloc - before.TotalAlloc) / runs; perRun > 1024 {
		t.Fatalf("%d bytes allocated per refusal of a 2^40-byte frame", perRun)
	}
}

func TestCodec(t *testing.T) {
	c, err := NewCodec(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	text := bytes.Repeat([]byte("the global model "), 10000)
	z, ok := c.Compress(text)
	if !ok || len(z) >= len(text)/4 {
		t.Fatalf("compress: ok=%v %d -> %d", ok, len(text), len(z))
	}
	out, err := c.Decompress(z, uint64(len(text)), 1<<20)
	if err != nil || !bytes.Equal(out, text) {
		t.Fatalf("decompress: %v", err)
	}
	noise := make([]byte, 300000)
	rand.Read(noise)
	if _, ok := c.Compress(noise); ok {
		t.Fatal("random bytes compressed")
	}
	if _, ok := c.Compress([]byte("short")); ok {
		t.Fatal("short payload compressed")
	}
	// Lies about the size are refused before decoding.
	for name, tc := range map[string]struct {
		raw   uint64
		limit int
		want  error
	}{
		"raw over limit":   {uint64(len(text)), len(text) - 1, ErrTooLarge},
		"raw size smaller": {uint64(len(text)) - 1, 1 << 20, ErrMalformed},
		"raw size larger":  {uint64(len(text)) + 1, 1 << 20, ErrMalformed},
		"zero":             {0, 1 << 20, ErrTooLarge},
	} {
		if _, err := c.Decompress(z, tc.raw, tc.limit); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	if _, err := c.Decompress([]byte("not zstd at all"), 15, 100); !errors.Is(err, ErrMalformed) {
		t.Errorf("garbage: %v", err)
	}
	// A bomb: 900 KiB of zeros declared as such, but the codec's cap is lower.
	small, _ := NewCodec(1 << 16)
	defer small.Close()
	bomb, _ := c.Compress(make([]byte, 900<<10))
	if _, err := small.Decompress(bomb, 900<<10, 1<<20); !errors.Is(err, ErrTooLarge) {
		t.Errorf("bomb: %v", err)
	}
}
