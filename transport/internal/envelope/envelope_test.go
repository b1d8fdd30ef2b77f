package envelope

import (
	"bufio"
	"bytes"
	"errors"
	"testing"

	"github.com/consort-ml/consort/transport"
	"github.com/consort-ml/consort/transport/wire"
)

func setup(t *testing.T) (*Sealer, *Sealer) {
	t.Helper()
	types, err := transport.NewTypes(
		transport.MessageType{Name: "a/small", Protocol: transport.Protocol{Name: "a", Major: 1}, MaxSize: 100},
		transport.MessageType{Name: "b/model", Protocol: transport.Protocol{Name: "b", Major: 1}, MaxSize: 1 << 16, Compress: true},
	)
	if err != nil {
		t.Fatal(err)
	}
	codec, err := wire.NewCodec(types.MaxSize())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(codec.Close)
	alice, err := New("fed", "alice", types, codec)
	if err != nil {
		t.Fatal(err)
	}
	bob, err := New("fed", "bob", types, codec)
	if err != nil {
		t.Fatal(err)
	}
	return alice, bob
}

func frame(t *testing.T, s *Sealer, msg transport.Message) wire.Frame {
	t.Helper()
	head, payload, _, err := s.Seal(msg)
	if err != nil {
		t.Fatal(err)
	}
	f, err := wire.ReadFrame(bufio.NewReader(bytes.NewReader(append(bytes.Clone(head), payload...))), s.Limit)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestSealOpen(t *testing.T) {
	alice, bob := setup(t)
	model := bytes.Repeat([]byte("w"), 5000)
	f := frame(t, alice, transport.Message{Type: "b/model", Round: 7, Step: 3, Payload: model})
	if f.Size >= len(model) {
		t.Fatalf("model frame of %d bytes not compressed", f.Size)
	}
	var floor transport.RoundFloor
	in, err := bob.Open("alice", f, &floor, "b")
	if err != nil {
		t.Fatal(err)
	}
	if in.From != "alice" || in.Round != 7 || in.Step != 3 || !bytes.Equal(in.Payload, model) {
		t.Fatalf("opened %+v", in)
	}
	check := func(name string, from transport.PeerID, f wire.Frame, proto string, want transport.Reason) {
		t.Helper()
		_, err := bob.Open(from, f, &floor, proto)
		var rej *Rejection
		if !errors.As(err, &rej) || rej.Reason != want {
			t.Errorf("%s: %v, want reason %s", name, err, want)
		}
	}
	small := frame(t, alice, transport.Message{Type: "a/small", Round: 7, Payload: []byte("x")})
	check("wrong protocol", "alice", small, "b", transport.RejectUnknownType)
	check("spoofed sender", "carol", small, "a", transport.RejectSender)
	floor.Set(8)
	check("stale round", "alice", small, "a", transport.RejectStale)
	other, _ := New("other-fed", "alice", alice.Types(), alice.codec)
	check("other federation", "alice", frame(t, other, transport.Message{Type: "a/small", Round: 9}), "a", transport.RejectFederation)

	// Frames the frame reader would accept but the envelope refuses.
	env := &wire.Envelope{FederationId: "fed", Round: 9, Sender: "alice", Type: "a/small", Payload: make([]byte, 101)}
	check("payload over type limit", "alice", wire.Frame{Kind: wire.KindEnvelope, Type: "a/small", Body: wire.AppendEnvelope(nil, env)}, "a", transport.RejectTooLarge)
	env.Payload = []byte("x")
	check("header type differs", "alice", wire.Frame{Kind: wire.KindEnvelope, Type: "b/model", Body: wire.AppendEnvelope(nil, env)}, "", transport.RejectMalformed)
	check("not an envelope", "alice", wire.Frame{Kind: wire.KindReceipt, Body: []byte{8, 1}}, "", transport.RejectMalformed)
	env = &wire.Envelope{FederationId: "fed", Round: 9, Sender: "alice", Type: "b/model", Compression: wire.Compression_COMPRESSION_ZSTD, RawSize: 1 << 20, Payload: []byte{1, 2, 3}}
	check("raw size over limit", "alice", wire.Frame{Kind: wire.KindEnvelope, Type: "b/model", Body: wire.AppendEnvelope(nil, env)}, "", transport.RejectTooLarge)
	env.RawSize = 10
	check("bad zstd", "alice", wire.Frame{Kind: wire.KindEnvelope, Type: "b/model", Body: wire.AppendEnvelope(nil, env)}, "", transport.RejectMalformed)

	st := []transport.Reason{transport.RejectMalformed, transport.RejectTooLarge, transport.RejectSender}
	for _, r := range st {
		if !(&Rejection{Reason: r}).Hard() {
			t.Errorf("%s should reset the stream", r)
		}
	}
	if (&Rejection{Reason: transport.RejectStale}).Hard() {
		t.Error("a stale round should not reset the stream")
	}
}

func TestNewErrors(t *testing.T) {
	alice, _ := setup(t)
	for _, tc := range []struct {
		fed  string
		self transport.PeerID
	}{{"", "a"}, {"fed", ""}, {"with space", "a"}} {
		if _, err := New(tc.fed, tc.self, alice.Types(), alice.codec); !errors.Is(err, transport.ErrBadConfig) {
			t.Errorf("New(%q, %q): %v", tc.fed, tc.self, err)
		}
	}
	if _, err := New("fed", "a", nil, alice.codec); !errors.Is(err, transport.ErrBadConfig) {
		t.Error("nil types")
	}
	if _, err := New("fed", "a", alice.Types(), nil); !errors.Is(err, transport.ErrBadConfig) {
		t.Error("nil codec")
	}
}
