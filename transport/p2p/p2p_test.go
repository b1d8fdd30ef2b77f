package p2p

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/consort-ml/consort/transport"
	"github.com/consort-ml/consort/transport/identity"
	"github.com/consort-ml/consort/transport/wire"
)

const testFed = "test-federation"

var (
	protoControl = transport.Protocol{Name: "control", Major: 1}
	protoModel   = transport.Protocol{Name: "model", Major: 1}
	protoSecagg  = transport.Protocol{Name: "secagg", Major: 1}
)

func testTypes(t testing.TB) *transport.Types {
	t.Helper()
	types, err := transport.NewTypes(
		transport.MessageType{Name: "control/ping", Protocol: protoControl, MaxSize: 1 << 10},
		transport.MessageType{Name: "model/weights", Protocol: protoModel, MaxSize: 32 << 20, Compress: true},
		transport.MessageType{Name: "secagg/masked", Protocol: protoSecagg, MaxSize: 32 << 20},
	)
	if err != nil {
		t.Fatal(err)
	}
	return types
}

func newIdentity(t testing.TB) *identity.Identity {
	t.Helper()
	id, err := identity.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

type fixture struct {
	ids   []*identity.Identity
	hosts []*Host
	allow StaticAllowList
}

// newFixture starts a coordinator (index 0, all protocols) and n-1 nodes
// (control and secagg) listening on listen; opts adjust every host's
// configuration.
func newFixture(t testing.TB, n int, listen []string, opts ...func(*Config)) *fixture {
	t.Helper()
	f := &fixture{allow: StaticAllowList{}}
	for i := range n {
		id := newIdentity(t)
		f.ids = append(f.ids, id)
		if i == 0 {
			f.allow[id.PeerID()] = []string{"*"}
		} else {
			f.allow[id.PeerID()] = []string{"control", "secagg"}
		}
	}
	types := testTypes(t)
	for _, id := range f.ids {
		cfg := Config{
			Identity:      id,
			FederationID:  testFed,
			Types:         types,
			AllowList:     f.allow,
			ListenAddrs:   listen,
			StreamTimeout: 10 * time.Second,
			Backoff:       Backoff{Min: 20 * time.Millisecond, Max: 200 * time.Millisecond},
		}
		for _, o := range opts {
			o(&cfg)
		}
		h, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		f.hosts = append(f.hosts, h)
	}
	for _, a := range f.hosts {
		for _, b := range f.hosts {
			if a != b {
				if err := a.AddPeer(b.Self(), b.Addrs()...); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	return f
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func recvFrom(t *testing.T, h *Host, want transport.PeerID) transport.Incoming {
	t.Helper()
	in, err := h.Recv(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatalf("recv: %v", err)
	}
	if in.From != want {
		t.Fatalf("message from %s, want %s", in.From, want)
	}
	return in
}

// withSecurity sets Config.Security.
func withSecurity(names ...string) func(*Config) {
	return func(c *Config) { c.Security = names }
}

func TestExchange(t *testing.T) {
	for _, tc := range []struct {
		name, listen, transport string
		security                []string
		// wantSecurity is the secure channel the connections must use.
		wantSecurity protocol.ID
	}{
		{"tcp", "/ip4/127.0.0.1/tcp/0", "tcp", nil, "/tls/1.0.0"},
		{"tcp-noise", "/ip4/127.0.0.1/tcp/0", "tcp", []string{SecurityNoise}, "/noise"},
		{"tcp-tls", "/ip4/127.0.0.1/tcp/0", "tcp", []string{SecurityTLS}, "/tls/1.0.0"},
		{"quic", "/ip4/127.0.0.1/udp/0/quic-v1", "quic-v1", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, 3, []string{tc.listen}, withSecurity(tc.security...))
			coord, n1, n2 := f.hosts[0], f.hosts[1], f.hosts[2]
			ctx := ctxT(t, 20*time.Second)

			// A compressible model broadcast from the coordinator.
			model := bytes.Repeat([]byte("consort model weights "), 20000)
			for _, n := range []*Host{n1, n2} {
				if err := coord.Send(ctx, n.Self(), transport.Message{Type: "model/weights", Round: 1, Step: 1, Payload: model}); err != nil {
					t.Fatalf("send model: %v", err)
				}
				in := recvFrom(t, n, coord.Self())
				if in.Type != "model/weights" || in.Round != 1 || in.Step != 1 || !bytes.Equal(in.Payload, model) {
					t.Fatalf("model broadcast corrupted: type %q round %d step %d len %d", in.Type, in.Round, in.Step, len(in.Payload))
				}
			}
			// Incompressible updates from the nodes, and node-to-node control.
			for i, n := range []*Host{n1, n2} {
				upd := make([]byte, 100000+i)
				rand.Read(upd)
				if err := n.Send(ctx, coord.Self(), transport.Message{Type: "secagg/masked", Round: 1, Step: 2, Payload: upd}); err != nil {
					t.Fatalf("send update: %v", err)
				}
				in := recvFrom(t, coord, n.Self())
				if !bytes.Equal(in.Payload, upd) || in.Step != 2 {
					t.Fatal("update corrupted")
				}
			}
			if err := n1.Send(ctx, n2.Self(), transport.Message{Type: "control/ping", Round: 1, Payload: []byte("hi")}); err != nil {
				t.Fatal(err)
			}
			if in := recvFrom(t, n2, n1.Self()); string(in.Payload) != "hi" {
				t.Fatalf("ping payload %q", in.Payload)
			}

			for _, h := range f.hosts {
				for p, tr := range h.Transports() {
					if tr != tc.transport {
						t.Errorf("connection %s -> %s uses %q, want %q", h.Self(), p, tr, tc.transport)
					}
				}
				for _, c := range h.h.Network().Conns() {
					if tc.wantSecurity != "" && c.ConnState().Security != tc.wantSecurity {
						t.Errorf("connection %s -> %s secured by %q, want %q", h.Self(), c.RemotePeer(), c.ConnState().Security, tc.wantSecurity)
					}
				}
			}
			if got := coord.Peers(); len(got) != 2 {
				t.Errorf("coordinator peers = %v, want 2", got)
			}
			st := coord.Stats()
			if st.SentByType["model/weights"].Messages != 2 || st.ReceivedByType["secagg/masked"].Messages != 2 {
				t.Errorf("coordinator stats %+v", st)
			}
			if b := st.SentByType["model/weights"].Bytes; b <= 0 || b >= int64(len(model)) {
				t.Errorf("model broadcast took %d wire bytes for %d payload bytes: not compressed", b, len(model))
			}
			if b := st.ReceivedByType["secagg/masked"].Bytes; b < 200001 {
				t.Errorf("updates counted %d bytes, want >= payload bytes", b)
			}
			if got := n1.Stats().SentTo[coord.Self()].Messages; got != 1 {
				t.Errorf("n1 sent %d messages to coordinator, want 1", got)
			}
		})
	}
}

func TestGaterRefusesStranger(t *testing.T) {
	f := newFixture(t, 2, []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"})
	coord := f.hosts[0]
	// Strangers would accept the coordinator, but are not in the
	// coordinator's allow list. The gater must refuse them whatever the
	// secure channel.
	newStranger := func(t *testing.T, security []string) *Host {
		t.Helper()
		h, err := New(Config{
			Identity: newIdentity(t), FederationID: testFed, Types: testTypes(t),
			AllowList:     StaticAllowList{coord.Self(): {"*"}},
			ListenAddrs:   []string{"/ip4/127.0.0.1/tcp/0"},
			Security:      security,
			StreamTimeout: 2 * time.Second,
			Backoff:       Backoff{Min: 50 * time.Millisecond, Max: 100 * time.Millisecond},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		return h
	}
	addr := func(quic bool) string {
		for _, a := range coord.Addrs() {
			if strings.Contains(a, "quic") == quic {
				return a
			}
		}
		t.Fatal("coordinator has no such address")
		return ""
	}
	var stranger *Host
	for _, tc := range []struct {
		name     string
		quic     bool
		security []string
	}{
		{"tcp-tls", false, []string{SecurityTLS}},
		{"tcp-noise", false, []string{SecurityNoise}},
		{"quic", true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stranger = newStranger(t, tc.security)
			before := coord.Stats().Rejected[transport.RejectPeer]
			if err := stranger.AddPeer(coord.Self(), addr(tc.quic)); err != nil {
				t.Fatal(err)
			}
			ctx := ctxT(t, 1500*time.Millisecond)
			err := stranger.Send(ctx, coord.Self(), transport.Message{Type: "control/ping", Payload: []byte("let me in")})
			if err == nil {
				t.Fatal("stranger's send succeeded")
			}
			if !errors.Is(err, ErrStream) {
				t.Errorf("send error %v, want ErrStream", err)
			}
			if got := coord.Stats().Rejected[transport.RejectPeer]; got <= before {
				t.Fatalf("coordinator's gater refused %d connections, want > %d", got, before)
			}
			if c := coord.h.Network().ConnsToPeer(stranger.h.ID()); len(c) != 0 {
				t.Fatalf("coordinator holds %d connections to the stranger", len(c))
			}
			// Nothing got past the gater: no stream, no message.
			if st := coord.Stats(); len(st.ReceivedFrom) != 0 || st.Rejected[transport.RejectMalformed] != 0 || st.Rejected[transport.RejectProtocol] != 0 {
				t.Fatalf("stranger reached the stream layer: %+v", st)
			}
			// The coordinator refuses to dial the stranger too.
			coord.AddPeer(stranger.Self(), stranger.Addrs()...)
			if err := coord.Send(ctxT(t, time.Second), stranger.Self(), transport.Message{Type: "control/ping"}); !errors.Is(err, transport.ErrUnknownPeer) {
				t.Fatalf("coordinator sent to a stranger: %v", err)
			}
		})
	}
}

// TestSecurityNegotiation checks that hosts offering different secure
// channels agree on a common one, and fail cleanly without one.
func TestSecurityNegotiation(t *testing.T) {
	ids := []*identity.Identity{newIdentity(t), newIdentity(t), newIdentity(t)}
	allow := StaticAllowList{}
	for _, id := range ids {
		allow[id.PeerID()] = []string{"*"}
	}
	mk := func(id *identity.Identity, security ...string) *Host {
		h, err := New(Config{Identity: id, FederationID: testFed, Types: testTypes(t), AllowList: allow,
			ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, Security: security, StreamTimeout: 2 * time.Second,
			Backoff: Backoff{Min: 50 * time.Millisecond, Max: 100 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		return h
	}
	both := mk(ids[0]) // default: TLS preferred, Noise offered
	noiseOnly := mk(ids[1], SecurityNoise)
	tlsOnly := mk(ids[2], SecurityTLS)
	for _, tc := range []struct {
		name     string
		from, to *Host
		want     protocol.ID // "" for no common channel
	}{
		{"default to noise-only", both, noiseOnly, "/noise"},
		{"noise-only to default", noiseOnly, both, "/noise"},
		{"tls-only to default", tlsOnly, both, "/tls/1.0.0"},
		{"tls-only to noise-only", tlsOnly, noiseOnly, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.from.AddPeer(tc.to.Self(), tc.to.Addrs()...); err != nil {
				t.Fatal(err)
			}
			err := tc.from.Send(ctxT(t, time.Second), tc.to.Self(), transport.Message{Type: "control/ping", Payload: []byte(tc.name)})
			if tc.want == "" {
				if !errors.Is(err, ErrStream) {
					t.Fatalf("send without a common secure channel: %v, want ErrStream", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if in := recvFrom(t, tc.to, tc.from.Self()); string(in.Payload) != tc.name {
				t.Fatalf("payload %q", in.Payload)
			}
			conns := tc.from.h.Network().ConnsToPeer(tc.to.h.ID())
			if len(conns) == 0 {
				t.Fatal("no connection")
			}
			if got := conns[0].ConnState().Security; got != tc.want {
				t.Fatalf("secured by %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRoleRefusesProtocol(t *testing.T) {
	f := newFixture(t, 2, nil)
	coord, node := f.hosts[0], f.hosts[1]
	ctx := ctxT(t, 10*time.Second)
	err := node.Send(ctx, coord.Self(), transport.Message{Type: "model/weights", Payload: []byte("forged model")})
	if !errors.Is(err, transport.ErrRefused) {
		t.Fatalf("node used the model protocol: err = %v", err)
	}
	if got := coord.Stats().Rejected[transport.RejectProtocol]; got != 1 {
		t.Fatalf("protocol refusals = %d, want 1", got)
	}
	// Its allowed protocols still work.
	if err := node.Send(ctx, coord.Self(), transport.Message{Type: "secagg/masked", Payload: []byte{1}}); err != nil {
		t.Fatal(err)
	}
	recvFrom(t, coord, node.Self())
}

func TestEnvelopeChecks(t *testing.T) {
	f := newFixture(t, 2, nil)
	coord, node := f.hosts[0], f.hosts[1]
	ctx := ctxT(t, 10*time.Second)

	coord.SetRound(5)
	err := node.Send(ctx, coord.Self(), transport.Message{Type: "control/ping", Round: 4})
	if !errors.Is(err, transport.ErrRefused) {
		t.Fatalf("stale round accepted: %v", err)
	}
	if got := coord.Stats().Rejected[transport.RejectStale]; got != 1 {
		t.Fatalf("stale rejections = %d, want 1", got)
	}
	// The stream survives a soft refusal.
	if err := node.Send(ctx, coord.Self(), transport.Message{Type: "control/ping", Round: 5}); err != nil {
		t.Fatal(err)
	}
	if in := recvFrom(t, coord, node.Self()); in.Round != 5 {
		t.Fatalf("round %d", in.Round)
	}

	// Another federation: a raw stream with a hello for "other".
	s, br := rawStream(t, node, coord, protoControl, "other")
	_ = br
	st := readStatus(t, s, br, wire.KindHelloReply)
	if st != wire.Status_STATUS_WRONG_FEDERATION {
		t.Fatalf("hello for another federation: status %s", st)
	}
	// Right federation in the hello, wrong one in an envelope.
	s, br = rawStream(t, node, coord, protoControl, testFed)
	if st := readStatus(t, s, br, wire.KindHelloReply); st != wire.Status_STATUS_OK {
		t.Fatalf("hello: %s", st)
	}
	writeEnvelope(t, s, &wire.Envelope{FederationId: "other", Round: 9, Sender: string(node.Self()), Type: "control/ping", Payload: []byte("x")})
	if st := readStatus(t, s, br, wire.KindReceipt); st != wire.Status_STATUS_WRONG_FEDERATION {
		t.Fatalf("envelope for another federation: status %s", st)
	}
	// A forged sender resets the stream.
	writeEnvelope(t, s, &wire.Envelope{FederationId: testFed, Round: 9, Sender: string(coord.Self()), Type: "control/ping", Payload: []byte("x")})
	expectReset(t, s, br)
	rej := coord.Stats().Rejected
	if rej[transport.RejectFederation] != 2 || rej[transport.RejectSender] != 1 {
		t.Fatalf("rejections %v, want 2 federation and 1 sender", rej)
	}
}

// rawStream opens a stream from a to b on p and sends a hello.
func rawStream(t *testing.T, a, b *Host, p transport.Protocol, fed string) (network.Stream, *bufio.Reader) {
	t.Helper()
	pid, _ := peer.Decode(string(b.Self()))
	s, err := a.h.NewStream(ctxT(t, 5*time.Second), pid, protocol.ID(p.ID()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Reset() })
	_ = s.SetDeadline(time.Now().Add(10 * time.Second))
	hello := wire.AppendHello(nil, &wire.Hello{FederationId: fed, Sender: string(a.Self()), Protocol: p.ID()})
	if _, err := s.Write(append(wire.AppendHeader(nil, wire.KindHello, "", len(hello)), hello...)); err != nil {
		t.Fatal(err)
	}
	return s, bufio.NewReader(s)
}

func readStatus(t *testing.T, s network.Stream, br *bufio.Reader, kind wire.Kind) wire.Status {
	t.Helper()
	f, err := wire.ReadFrame(br, noEnvelopes)
	if err != nil {
		t.Fatalf("reading %d frame: %v", kind, err)
	}
	if f.Kind != kind {
		t.Fatalf("frame kind %d, want %d", f.Kind, kind)
	}
	r, err := wire.DecodeReceipt(f.Body)
	if err != nil {
		t.Fatal(err)
	}
	return r.Status
}

func writeEnvelope(t *testing.T, s network.Stream, e *wire.Envelope) {
	t.Helper()
	body := wire.AppendEnvelope(nil, e)
	if _, err := s.Write(append(wire.AppendHeader(nil, wire.KindEnvelope, e.Type, len(body)), body...)); err != nil {
		t.Fatal(err)
	}
}

// expectReset reads until the stream fails; a reset is an error other
// than a clean EOF.
func expectReset(t *testing.T, s network.Stream, br *bufio.Reader) {
	t.Helper()
	_, err := io.Copy(io.Discard, br)
	if err == nil {
		t.Fatal("stream ended cleanly, want a reset")
	}
	if !errors.Is(err, network.ErrReset) {
		t.Logf("stream failed with %v", err)
	}
}

func TestHugeFrameHeader(t *testing.T) {
	f := newFixture(t, 3, nil)
	coord, node, other := f.hosts[0], f.hosts[1], f.hosts[2]
	s, br := rawStream(t, node, coord, protoSecagg, testFed)
	if st := readStatus(t, s, br, wire.KindHelloReply); st != wire.Status_STATUS_OK {
		t.Fatalf("hello: %s", st)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	allocBefore := ms.TotalAlloc
	// A frame header claiming 2^40 bytes of secagg/masked.
	hdr := wire.AppendHeader(nil, wire.KindEnvelope, "secagg/masked", 1<<40)
	if _, err := s.Write(hdr); err != nil {
		t.Fatal(err)
	}
	expectReset(t, s, br)
	runtime.ReadMemStats(&ms)
	if d := ms.TotalAlloc - allocBefore; d > 64<<20 {
		t.Errorf("process allocated %d bytes around the huge header", d)
	}
	if got := coord.Stats().Rejected[transport.RejectTooLarge]; got != 1 {
		t.Fatalf("too-large rejections = %d, want 1", got)
	}
	// The host keeps serving, the offender included (on a new stream).
	ctx := ctxT(t, 10*time.Second)
	for _, h := range []*Host{other, node} {
		if err := h.Send(ctx, coord.Self(), transport.Message{Type: "secagg/masked", Payload: []byte("ok")}); err != nil {
			t.Fatal(err)
		}
		recvFrom(t, coord, h.Self())
	}
}

func TestGarbageResetsOnlyThatStream(t *testing.T) {
	f := newFixture(t, 3, nil)
	coord, node, other := f.hosts[0], f.hosts[1], f.hosts[2]
	ctx := ctxT(t, 20*time.Second)
	// node already has a working stream on the control protocol.
	if err := node.Send(ctx, coord.Self(), transport.Message{Type: "control/ping", Payload: []byte("1")}); err != nil {
		t.Fatal(err)
	}
	recvFrom(t, coord, node.Self())

	for i, garbage := range [][]byte{
		[]byte("GET / HTTP/1.1\r\n\r\n"),                                                             // unknown frame kind
		{byte(wire.KindEnvelope), 3, 'x', 'y', 'z', 1, 0},                                            // unknown type
		append(wire.AppendHeader(nil, wire.KindEnvelope, "control/ping", 4), 0xff, 0xff, 0xff, 0xff), // bad protobuf
	} {
		s, br := rawStream(t, node, coord, protoSecagg, testFed)
		if st := readStatus(t, s, br, wire.KindHelloReply); st != wire.Status_STATUS_OK {
			t.Fatalf("hello: %s", st)
		}
		if _, err := s.Write(garbage); err != nil {
			t.Fatal(err)
		}
		expectReset(t, s, br)
		t.Logf("garbage %d: stream reset", i)
	}
	rej := coord.Stats().Rejected
	if rej[transport.RejectMalformed] != 2 || rej[transport.RejectUnknownType] != 1 {
		t.Fatalf("rejections %v", rej)
	}
	// The connection, the node's other stream and other peers still work.
	if len(coord.h.Network().ConnsToPeer(node.h.ID())) == 0 {
		t.Fatal("garbage on a stream closed the connection")
	}
	for _, h := range []*Host{node, other} {
		if err := h.Send(ctx, coord.Self(), transport.Message{Type: "control/ping", Payload: []byte("2")}); err != nil {
			t.Fatal(err)
		}
		recvFrom(t, coord, h.Self())
	}
}

func TestReconnect(t *testing.T) {
	f := newFixture(t, 2, nil)
	coord, node := f.hosts[0], f.hosts[1]
	ctx := ctxT(t, 20*time.Second)
	for i := range 3 {
		if err := node.Send(ctx, coord.Self(), transport.Message{Type: "control/ping", Payload: []byte{byte(i)}}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		if in := recvFrom(t, coord, node.Self()); in.Payload[0] != byte(i) {
			t.Fatalf("payload %v", in.Payload)
		}
		// Drop the connection from the receiving side.
		if err := coord.h.Network().ClosePeer(node.h.ID()); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSendErrors(t *testing.T) {
	f := newFixture(t, 2, nil)
	node := f.hosts[1]
	ctx := ctxT(t, 5*time.Second)
	coordID := f.hosts[0].Self()
	for _, tc := range []struct {
		msg  transport.Message
		want error
	}{
		{transport.Message{Type: "nope"}, transport.ErrUnknownType},
		{transport.Message{Type: "control/ping", Payload: make([]byte, 1025)}, transport.ErrTooLarge},
	} {
		if err := node.Send(ctx, coordID, tc.msg); !errors.Is(err, tc.want) {
			t.Errorf("send %q: %v, want %v", tc.msg.Type, err, tc.want)
		}
	}
	if err := node.Send(ctx, "not-a-peer-id", transport.Message{Type: "control/ping"}); !errors.Is(err, identity.ErrPeerID) {
		t.Errorf("send to bad id: %v", err)
	}
	node.Close()
	if _, err := node.Recv(ctx); !errors.Is(err, transport.ErrClosed) {
		t.Errorf("recv after close: %v", err)
	}
	if err := node.Send(ctx, coordID, transport.Message{Type: "control/ping"}); !errors.Is(err, transport.ErrClosed) {
		t.Errorf("send after close: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	id := newIdentity(t)
	types := testTypes(t)
	for i, cfg := range []Config{
		{FederationID: testFed, Types: types, AllowList: StaticAllowList{}},
		{Identity: id, FederationID: testFed, AllowList: StaticAllowList{}},
		{Identity: id, FederationID: testFed, Types: types},
		{Identity: id, FederationID: "", Types: types, AllowList: StaticAllowList{}},
		{Identity: id, FederationID: testFed, Types: types, AllowList: StaticAllowList{}, ManifestDigest: make([]byte, 65)},
		{Identity: id, FederationID: testFed, Types: types, AllowList: StaticAllowList{}, Security: []string{"ssl"}},
		{Identity: id, FederationID: testFed, Types: types, AllowList: StaticAllowList{}, Security: []string{SecurityTLS, SecurityTLS}},
		{Identity: id, FederationID: testFed, Types: types, AllowList: StaticAllowList{}, StreamsPerPeer: MaxStreamsPerPeer + 1},
	} {
		if h, err := New(cfg); !errors.Is(err, transport.ErrBadConfig) {
			if h != nil {
				h.Close()
			}
			t.Errorf("config %d: err = %v, want ErrBadConfig", i, err)
		}
	}
}

func TestManifestDigestMismatch(t *testing.T) {
	a, b := newIdentity(t), newIdentity(t)
	allow := StaticAllowList{a.PeerID(): {"*"}, b.PeerID(): {"*"}}
	mk := func(id *identity.Identity, digest byte) *Host {
		h, err := New(Config{Identity: id, FederationID: testFed, Types: testTypes(t), AllowList: allow,
			ManifestDigest: bytes.Repeat([]byte{digest}, 32), ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		return h
	}
	ha, hb := mk(a, 1), mk(b, 2)
	hb.AddPeer(ha.Self(), ha.Addrs()...)
	err := hb.Send(ctxT(t, 5*time.Second), ha.Self(), transport.Message{Type: "control/ping"})
	if !errors.Is(err, transport.ErrRefused) {
		t.Fatalf("send with another manifest: %v", err)
	}
	if got := ha.Stats().Rejected[transport.RejectManifest]; got != 1 {
		t.Fatalf("manifest rejections %d", got)
	}
}

// TestHelloWithoutManifestDigest: a host bound to a manifest refuses a
// hello that carries no manifest digest at all.
func TestHelloWithoutManifestDigest(t *testing.T) {
	a, b := newIdentity(t), newIdentity(t)
	allow := StaticAllowList{a.PeerID(): {"*"}, b.PeerID(): {"*"}}
	ha, err := New(Config{Identity: a, FederationID: testFed, Types: testTypes(t), AllowList: allow,
		ManifestDigest: bytes.Repeat([]byte{1}, 32), ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer ha.Close()
	hb, err := New(Config{Identity: b, FederationID: testFed, Types: testTypes(t), AllowList: allow, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer hb.Close()
	hb.AddPeer(ha.Self(), ha.Addrs()...)
	if err := hb.Send(ctxT(t, 5*time.Second), ha.Self(), transport.Message{Type: "control/ping"}); !errors.Is(err, transport.ErrRefused) {
		t.Fatalf("send without a manifest digest: %v", err)
	}
	if got := ha.Stats().Rejected[transport.RejectManifest]; got != 1 {
		t.Fatalf("manifest rejections %d, want 1", got)
	}
}

// TestPeerWithoutProtocol: a peer that does not serve a protocol is
// reported as ErrProtocol at once, not retried as a connection failure.
func TestPeerWithoutProtocol(t *testing.T) {
	a, b := newIdentity(t), newIdentity(t)
	allow := StaticAllowList{a.PeerID(): {"*"}, b.PeerID(): {"*"}}
	controlOnly, err := transport.NewTypes(transport.MessageType{Name: "control/ping", Protocol: protoControl, MaxSize: 1 << 10})
	if err != nil {
		t.Fatal(err)
	}
	ha, err := New(Config{Identity: a, FederationID: testFed, Types: testTypes(t), AllowList: allow, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer ha.Close()
	hb, err := New(Config{Identity: b, FederationID: testFed, Types: controlOnly, AllowList: allow, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer hb.Close()
	ha.AddPeer(hb.Self(), hb.Addrs()...)
	err = ha.Send(ctxT(t, 10*time.Second), hb.Self(), transport.Message{Type: "secagg/masked", Payload: []byte{1}})
	if !errors.Is(err, ErrProtocol) {
		t.Fatalf("send on a protocol the peer does not serve: %v, want ErrProtocol", err)
	}
}

// protocolStreams counts a's open streams to b on protocol p.
func protocolStreams(a, b *Host, p transport.Protocol) int {
	n := 0
	for _, c := range a.h.Network().ConnsToPeer(b.h.ID()) {
		for _, s := range c.GetStreams() {
			if s.Protocol() == protocol.ID(p.ID()) {
				n++
			}
		}
	}
	return n
}

// TestConcurrentSends: concurrent Sends to one peer travel on up to
// StreamsPerPeer streams at once, each waiting for its own receipt, and a
// lone sender keeps reusing one stream.
func TestConcurrentSends(t *testing.T) {
	const streams, sends = 3, 8
	f := newFixture(t, 2, nil, func(c *Config) { c.StreamsPerPeer = streams; c.InboxSize = 1 })
	coord, node := f.hosts[0], f.hosts[1]
	ctx := ctxT(t, 20*time.Second)

	// A lone sender: one stream, however many messages.
	for i := range 5 {
		if err := node.Send(ctx, coord.Self(), transport.Message{Type: "secagg/masked", Payload: []byte{byte(i)}}); err != nil {
			t.Fatal(err)
		}
		if in := recvFrom(t, coord, node.Self()); in.Payload[0] != byte(i) {
			t.Fatalf("message %d arrived as %d: a lone sender's messages must keep their order", i, in.Payload[0])
		}
	}
	if n := protocolStreams(node, coord, protoSecagg); n != 1 {
		t.Fatalf("a lone sender opened %d streams, want 1", n)
	}

	// Concurrent senders. The inbox holds one message and nobody reads it
	// yet, so each stream's Send stays blocked on its receipt: the others
	// must use further streams, up to the limit and no more.
	errc := make(chan error, sends)
	payloads := map[string]bool{}
	for range sends {
		p := make([]byte, 100000)
		rand.Read(p)
		payloads[string(p)] = true
		go func() {
			errc <- node.Send(ctx, coord.Self(), transport.Message{Type: "secagg/masked", Payload: p})
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for protocolStreams(node, coord, protoSecagg) < streams {
		if time.Now().After(deadline) {
			t.Fatalf("%d streams open, want %d", protocolStreams(node, coord, protoSecagg), streams)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for range sends {
		in := recvFrom(t, coord, node.Self())
		if !payloads[string(in.Payload)] {
			t.Fatal("unexpected or duplicated payload")
		}
		delete(payloads, string(in.Payload))
		if n := protocolStreams(node, coord, protoSecagg); n > streams {
			t.Fatalf("%d streams open, limit %d", n, streams)
		}
	}
	for range sends {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	if got := coord.Stats().ReceivedFrom[node.Self()].Messages; got != 5+sends {
		t.Fatalf("coordinator counted %d messages, want %d", got, 5+sends)
	}

	// The pooled streams die with their connection; the next concurrent
	// Sends reconnect and get through.
	if err := coord.h.Network().ClosePeer(node.h.ID()); err != nil {
		t.Fatal(err)
	}
	for i := range streams {
		go func() {
			errc <- node.Send(ctx, coord.Self(), transport.Message{Type: "secagg/masked", Payload: []byte{byte(i)}})
		}()
	}
	seen := map[byte]bool{}
	for range streams {
		seen[recvFrom(t, coord, node.Self()).Payload[0]] = true
	}
	for range streams {
		if err := <-errc; err != nil {
			t.Fatalf("send after reconnect: %v", err)
		}
	}
	if len(seen) != streams {
		t.Fatalf("received %d distinct messages after reconnect, want %d", len(seen), streams)
	}
}

// TestInboundStreamLimit: a receiver serves at most StreamsPerPeer
// streams of one peer and protocol at once; a further stream gets its
// hello reply only when a slot frees.
func TestInboundStreamLimit(t *testing.T) {
	f := newFixture(t, 2, nil, func(c *Config) { c.StreamsPerPeer = 1 })
	coord, node := f.hosts[0], f.hosts[1]
	s1, br1 := rawStream(t, node, coord, protoSecagg, testFed)
	if st := readStatus(t, s1, br1, wire.KindHelloReply); st != wire.Status_STATUS_OK {
		t.Fatalf("hello: %s", st)
	}
	s2, br2 := rawStream(t, node, coord, protoSecagg, testFed)
	_ = s2.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := br2.Peek(1); err == nil {
		t.Fatal("second stream served while the first holds the only slot")
	}
	// Another protocol has its own slots.
	s3, br3 := rawStream(t, node, coord, protoControl, testFed)
	if st := readStatus(t, s3, br3, wire.KindHelloReply); st != wire.Status_STATUS_OK {
		t.Fatalf("hello on another protocol: %s", st)
	}
	s1.Reset()
	_ = s2.SetReadDeadline(time.Now().Add(5 * time.Second))
	if st := readStatus(t, s2, br2, wire.KindHelloReply); st != wire.Status_STATUS_OK {
		t.Fatalf("hello once the slot freed: %s", st)
	}
}

// TestListenAddrInUse: a second host on a port another host listens on
// fails with ErrAddrInUse (no SO_REUSEPORT sharing), for TCP and QUIC, and a
// listen address that is not a multiaddr is a config error.
func TestListenAddrInUse(t *testing.T) {
	a, b := newIdentity(t), newIdentity(t)
	allow := StaticAllowList{a.PeerID(): {"*"}, b.PeerID(): {"*"}}
	ha, err := New(Config{Identity: a, FederationID: testFed, Types: testTypes(t), AllowList: allow})
	if err != nil {
		t.Fatal(err)
	}
	defer ha.Close()
	addrs := ha.Addrs()
	if len(addrs) != 2 {
		t.Fatalf("default listen addresses %q, want TCP and QUIC", addrs)
	}
	for _, full := range addrs {
		addr, _, _ := strings.Cut(full, "/p2p/")
		hb, err := New(Config{Identity: b, FederationID: testFed, Types: testTypes(t), AllowList: allow, ListenAddrs: []string{addr}})
		if err == nil {
			hb.Close()
			t.Errorf("second host on %s started", addr)
			continue
		}
		if !errors.Is(err, ErrAddrInUse) || err.Error() != "p2p: listen address already in use: "+addr {
			t.Errorf("second host on %s: %v", addr, err)
		}
	}
	// Any one address in use fails the host, even when others are free.
	tcpAddr, _, _ := strings.Cut(addrs[0], "/p2p/")
	if hb, err := New(Config{Identity: b, FederationID: testFed, Types: testTypes(t), AllowList: allow,
		ListenAddrs: []string{"/ip4/127.0.0.1/udp/0/quic-v1", tcpAddr}}); !errors.Is(err, ErrAddrInUse) {
		if hb != nil {
			hb.Close()
		}
		t.Errorf("one of two addresses in use: %v", err)
	}
	if _, err := New(Config{Identity: b, FederationID: testFed, Types: testTypes(t), AllowList: allow,
		ListenAddrs: []string{"127.0.0.1:4001"}}); !errors.Is(err, transport.ErrBadConfig) {
		t.Errorf("listen address that is not a multiaddr: %v", err)
	}
}
