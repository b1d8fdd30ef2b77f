package wire

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"google.golang.org/protobuf/proto"
)

// mutations returns b, all its truncations, each byte +1 and -1 (which
// hits every length prefix), and single bit flips of the first 64 bytes.
func mutations(valid ...[]byte) [][]byte {
	var out [][]byte
	for _, b := range valid {
		out = append(out, b)
		for i := range len(b) {
			out = append(out, b[:i])
		}
		for i := range b {
			for _, d := range []byte{1, 0xff} {
				m := bytes.Clone(b)
				m[i] += d
				out = append(out, m)
			}
		}
		for i := range min(len(b), 64) {
			for bit := range 8 {
				m := bytes.Clone(b)
				m[i] ^= 1 << bit
				out = append(out, m)
			}
		}
	}
	return out
}

func seed(f *testing.F, corpus [][]byte) {
	if len(corpus) == 0 {
		f.Fatal("empty seed corpus")
	}
	for _, b := range corpus {
		f.Add(b)
	}
}

func classified(err error) bool {
	return errors.Is(err, ErrMalformed) || errors.Is(err, ErrTooLarge) || errors.Is(err, ErrUnknownType)
}

func validEnvelopes() [][]byte {
	return [][]byte{
		AppendEnvelope(nil, sampleEnvelope()),
		AppendEnvelope(nil, &Envelope{FederationId: "f", Round: 1 << 40, Step: 7, Sender: "s", Type: "t/big",
			Compression: Compression_COMPRESSION_ZSTD, RawSize: 1000, Payload: []byte{0x28, 0xb5, 0x2f, 0xfd}}),
	}
}

func FuzzDecodeEnvelope(f *testing.F) {
	seed(f, mutations(validEnvelopes()...))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodeEnvelope(b)
		if err != nil {
			if !classified(err) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if got := AppendEnvelope(nil, e); !bytes.Equal(got, b) {
			t.Fatalf("accepted %x re-encodes to %x", b, got)
		}
		want, err := proto.MarshalOptions{Deterministic: true}.Marshal(e)
		if err != nil || !bytes.Equal(want, b) {
			t.Fatalf("proto.Marshal of accepted %x = %x (%v)", b, want, err)
		}
		var ref Envelope
		if err := proto.Unmarshal(b, &ref); err != nil || !proto.Equal(&ref, e) {
			t.Fatalf("proto.Unmarshal disagrees: %v", err)
		}
	})
}

func FuzzDecodeHello(f *testing.F) {
	seed(f, mutations(
		AppendHello(nil, &Hello{FederationId: "fed", Sender: "12D3KooW", Protocol: "/consort/secagg/1", ManifestDigest: bytes.Repeat([]byte{0xab}, 32)}),
		AppendHello(nil, &Hello{FederationId: "f", Sender: "s", Protocol: "p"}),
	))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := DecodeHello(b)
		if err != nil {
			if !classified(err) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if got := AppendHello(nil, h); !bytes.Equal(got, b) {
			t.Fatalf("accepted %x re-encodes to %x", b, got)
		}
		if want, _ := (proto.MarshalOptions{Deterministic: true}).Marshal(h); !bytes.Equal(want, b) {
			t.Fatalf("proto.Marshal of accepted %x = %x", b, want)
		}
	})
}

func FuzzDecodeHelloReply(f *testing.F) {
	seed(f, mutations(AppendHelloReply(nil, &HelloReply{Status: Status_STATUS_OK}), AppendHelloReply(nil, &HelloReply{Status: Status_STATUS_SENDER_MISMATCH})))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeHelloReply(b)
		if err != nil {
			if !classified(err) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if got := AppendHelloReply(nil, r); !bytes.Equal(got, b) {
			t.Fatalf("accepted %x re-encodes to %x", b, got)
		}
	})
}

func FuzzDecodeReceipt(f *testing.F) {
	seed(f, mutations(AppendReceipt(nil, &Receipt{Status: Status_STATUS_OK}), AppendReceipt(nil, &Receipt{Status: Status_STATUS_OVERLOADED})))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeReceipt(b)
		if err != nil {
			if !classified(err) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if got := AppendReceipt(nil, r); !bytes.Equal(got, b) {
			t.Fatalf("accepted %x re-encodes to %x", b, got)
		}
		if want, _ := proto.Marshal(r); !bytes.Equal(want, b) {
			t.Fatalf("proto.Marshal of accepted %x = %x", b, want)
		}
	})
}

func FuzzReadFrame(f *testing.F) {
	var valid [][]byte
	for _, body := range validEnvelopes() {
		valid = append(valid, append(AppendHeader(nil, KindEnvelope, "t/small", len(body)), body...))
	}
	rb := AppendReceipt(nil, &Receipt{Status: Status_STATUS_OK})
	valid = append(valid, append(AppendHeader(nil, KindReceipt, "", len(rb)), rb...))
	valid = append(valid, AppendHeader(nil, KindEnvelope, "t/big", 1<<40))
	seed(f, mutations(valid...))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := reader(b)
		fr, err := ReadFrame(r, limits)
		if err != nil {
			if err != io.EOF && !classified(err) {
				t.Fatalf("unclassified error %v", err)
			}
			if err == io.EOF && len(b) != 0 {
				t.Fatal("io.EOF on non-empty input")
			}
			return
		}
		max, _ := limits(fr.Type)
		if fr.Kind == KindEnvelope && len(fr.Body) > max+EnvelopeOverhead || fr.Kind != KindEnvelope && len(fr.Body) > MaxControlBody {
			t.Fatalf("body of %d bytes passed the limit", len(fr.Body))
		}
		enc := append(AppendHeader(nil, fr.Kind, fr.Type, len(fr.Body)), fr.Body...)
		if len(enc) != fr.Size || !bytes.Equal(enc, b[:len(enc)]) {
			t.Fatalf("accepted frame re-encodes to %x, input %x", enc, b)
		}
	})
}

func FuzzDecompress(f *testing.F) {
	c, err := NewCodec(1 << 20)
	if err != nil {
		f.Fatal(err)
	}
	defer c.Close()
	z, ok := c.Compress(bytes.Repeat([]byte("abcdefgh"), 200))
	if !ok {
		f.Fatal("seed did not compress")
	}
	for _, m := range mutations(z) {
		f.Add(m, uint64(1600))
	}
	f.Fuzz(func(t *testing.T, b []byte, raw uint64) {
		out, err := c.Decompress(b, raw, 1<<16)
		if err != nil {
			if !classified(err) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if uint64(len(out)) != raw || raw > 1<<16 {
			t.Fatalf("decompressed %d bytes, declared %d", len(out), raw)
		}
	})
}
