package mem

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/consort-ml/consort/transport"
)

var proto = transport.Protocol{Name: "test", Major: 1}

func types(t testing.TB) *transport.Types {
	t.Helper()
	ty, err := transport.NewTypes(
		transport.MessageType{Name: "test/msg", Protocol: proto, MaxSize: 1 << 16},
		transport.MessageType{Name: "test/model", Protocol: proto, MaxSize: 1 << 20, Compress: true},
	)
	if err != nil {
		t.Fatal(err)
	}
	return ty
}

func newNet(t testing.TB, cfg Config) *Network {
	t.Helper()
	if cfg.FederationID == "" {
		cfg.FederationID = "fed"
	}
	cfg.Types = types(t)
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func join(t testing.TB, n *Network, id transport.PeerID) *Endpoint {
	t.Helper()
	e, err := n.Join(id)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func timeout(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestFreeRunningBasics(t *testing.T) {
	n := newNet(t, Config{Schedule: FreeRunning})
	a, b := join(t, n, "a"), join(t, n, "b")
	ctx := timeout(t)
	model := bytes.Repeat([]byte("weights "), 4096)
	if err := a.Send(ctx, "b", transport.Message{Type: "test/model", Round: 3, Step: 1, Payload: model}); err != nil {
		t.Fatal(err)
	}
	in, err := b.Recv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if in.From != "a" || in.Type != "test/model" || in.Round != 3 || in.Step != 1 || !bytes.Equal(in.Payload, model) {
		t.Fatalf("got %+v", in.Message)
	}
	sa, sb := a.Stats(), b.Stats()
	if sa.Sent.Messages != 1 || sb.Received.Messages != 1 || sa.Sent.Bytes != sb.Received.Bytes {
		t.Fatalf("stats a=%+v b=%+v", sa, sb)
	}
	if sa.Sent.Bytes >= int64(len(model)) {
		t.Fatalf("model not compressed: %d wire bytes for %d", sa.Sent.Bytes, len(model))
	}
	if got := a.Peers(); len(got) != 1 || got[0] != "b" {
		t.Fatalf("peers %v", got)
	}
	for _, tc := range []struct {
		msg  transport.Message
		to   transport.PeerID
		want error
	}{
		{transport.Message{Type: "nope"}, "b", transport.ErrUnknownType},
		{transport.Message{Type: "test/msg", Payload: make([]byte, 1<<16+1)}, "b", transport.ErrTooLarge},
		{transport.Message{Type: "test/msg"}, "zed", transport.ErrUnknownPeer},
	} {
		if err := a.Send(ctx, tc.to, tc.msg); !errors.Is(err, tc.want) {
			t.Errorf("send %q to %q: %v, want %v", tc.msg.Type, tc.to, err, tc.want)
		}
	}
	b.Close()
	if _, err := b.Recv(ctx); !errors.Is(err, transport.ErrClosed) {
		t.Fatalf("recv after close: %v", err)
	}
	if _, err := n.Join("a"); err == nil {
		t.Fatal("joined an open id twice")
	}
	if _, err := n.Join("b"); err != nil {
		t.Fatalf("rejoin after close: %v", err)
	}
}

func TestStaleRound(t *testing.T) {
	n := newNet(t, Config{Schedule: FreeRunning})
	a, b := join(t, n, "a"), join(t, n, "b")
	ctx := timeout(t)
	b.SetRound(5)
	b.SetRound(2) // ignored: rounds never go back
	for _, r := range []uint64{4, 5, 3, 6} {
		if err := a.Send(ctx, "b", transport.Message{Type: "test/msg", Round: r}); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []uint64{5, 6} {
		in, err := b.Recv(ctx)
		if err != nil || in.Round != want {
			t.Fatalf("recv round %d (%v), want %d", in.Round, err, want)
		}
	}
	if got := b.Stats().Rejected[transport.RejectStale]; got != 2 {
		t.Fatalf("stale rejections %d, want 2", got)
	}
}

// runStar runs a coordinator that sends one message to each node and
// waits for their replies (with a virtual timeout), and returns a trace
// of what the coordinator saw and when.
func runStar(t *testing.T, cfg Config, nodes int) []string {
	t.Helper()
	n := newNet(t, cfg)
	coord := join(t, n, "coord")
	var eps []*Endpoint
	for i := range nodes {
		eps = append(eps, join(t, n, transport.PeerID(fmt.Sprintf("node-%02d", i))))
	}
	ctx := timeout(t)
	var wg sync.WaitGroup
	for _, ep := range eps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer ep.Close()
			for {
				// A node gives up after 2 virtual seconds without news
				// (its "stop" may be lost).
				nctx, cancel := ep.WithTimeout(ctx, 2*time.Second)
				in, err := ep.Recv(nctx)
				cancel()
				if err != nil {
					return
				}
				if string(in.Payload) == "stop" {
					return
				}
				reply := append([]byte("re:"), in.Payload...)
				_ = ep.Send(ctx, in.From, transport.Message{Type: "test/msg", Round: in.Round, Step: 2, Payload: reply})
			}
		}()
	}
	var trace []string
	for round := uint64(1); round <= 3; round++ {
		coord.SetRound(round)
		for _, ep := range eps {
			if err := coord.Send(ctx, ep.Self(), transport.Message{Type: "test/msg", Round: round, Step: 1, Payload: []byte(fmt.Sprintf("r%d", round))}); err != nil {
				t.Error(err)
			}
		}
		rctx, cancel := coord.WithTimeout(ctx, 500*time.Millisecond)
		for {
			in, err := coord.Recv(rctx)
			if err != nil {
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("coordinator recv: %v", err)
				}
				trace = append(trace, fmt.Sprintf("%v timeout", n.Now()))
				break
			}
			trace = append(trace, fmt.Sprintf("%v %s %s", n.Now(), in.From, in.Payload))
		}
		cancel()
	}
	for _, ep := range eps {
		_ = coord.Send(ctx, ep.Self(), transport.Message{Type: "test/msg", Round: 3, Payload: []byte("stop")})
	}
	coord.Close()
	wg.Wait()
	st := n.Stats()
	trace = append(trace, fmt.Sprintf("sent=%d delivered=%d dropped=%d dup=%d", st.Sent, st.Delivered, st.Dropped, st.Duplicated))
	return trace
}

func TestLockstepDeterministic(t *testing.T) {
	cfg := Config{Seed: 7, Link: Link{Drop: 0.2, Duplicate: 0.2, Reorder: 0.2, Latency: 10 * time.Millisecond, Jitter: 30 * time.Millisecond, Bandwidth: 1 << 20}}
	first := runStar(t, cfg, 6)
	for i := range 3 {
		if again := runStar(t, cfg, 6); fmt.Sprint(again) != fmt.Sprint(first) {
			t.Fatalf("run %d differs:\n%v\n%v", i, first, again)
		}
	}
	cfg.Seed = 8
	if other := runStar(t, cfg, 6); fmt.Sprint(other) == fmt.Sprint(first) {
		t.Fatal("another seed gave the same trace")
	}
	t.Log(first)
}

func TestLockstepPerfectLinkTimes(t *testing.T) {
	// Latency 10ms each way, 1 KiB/s bandwidth: a reply to a message of
	// f bytes arrives at exactly f/1024 s + 10ms + reply/1024 s + 10ms.
	trace := runStar(t, Config{Link: Link{Latency: 10 * time.Millisecond}}, 2)
	want := []string{"20ms node-00 re:r1", "20ms node-01 re:r1", "500ms timeout"}
	for i, w := range want {
		if trace[i] != w {
			t.Fatalf("trace[%d] = %q, want %q (trace %v)", i, trace[i], w, trace)
		}
	}
}

func TestBandwidth(t *testing.T) {
	n := newNet(t, Config{Link: Link{Bandwidth: 1000}})
	a, b := join(t, n, "a"), join(t, n, "b")
	ctx := timeout(t)
	if err := a.Send(ctx, "b", transport.Message{Type: "test/msg", Payload: make([]byte, 1000)}); err != nil {
		t.Fatal(err)
	}
	if err := a.Send(ctx, "b", transport.Message{Type: "test/msg", Payload: make([]byte, 1000)}); err != nil {
		t.Fatal(err)
	}
	a.Close() // a is done; only b runs now
	frame := b.net.Stats()
	_ = frame
	var times []time.Duration
	for range 2 {
		if _, err := b.Recv(ctx); err != nil {
			t.Fatal(err)
		}
		times = append(times, n.Now())
	}
	wire := a.Stats().SentTo["b"].Bytes / 2
	want1 := time.Duration(wire) * time.Millisecond
	if times[0] != want1 || times[1] != 2*want1 {
		t.Fatalf("arrivals at %v, want %v and %v (frames of %d bytes at 1000 B/s)", times, want1, 2*want1, wire)
	}
}

func TestPartition(t *testing.T) {
	n := newNet(t, Config{Schedule: FreeRunning})
	a, b, c := join(t, n, "a"), join(t, n, "b"), join(t, n, "c")
	ctx := timeout(t)
	n.Partition([]transport.PeerID{"a"}, []transport.PeerID{"b"})
	if got := a.Peers(); len(got) != 0 {
		t.Fatalf("a sees %v across the partition", got)
	}
	a.Send(ctx, "b", transport.Message{Type: "test/msg", Payload: []byte("lost")})
	c.Send(ctx, "b", transport.Message{Type: "test/msg", Payload: []byte("lost too")}) // c is in the implicit third group
	n.Heal()
	a.Send(ctx, "b", transport.Message{Type: "test/msg", Payload: []byte("after")})
	in, err := b.Recv(ctx)
	if err != nil || string(in.Payload) != "after" {
		t.Fatalf("recv %q %v", in.Payload, err)
	}
	if st := n.Stats(); st.Dropped != 2 || st.Delivered != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestDropAll(t *testing.T) {
	n := newNet(t, Config{Schedule: FreeRunning, Link: Link{Drop: 1}})
	a, b := join(t, n, "a"), join(t, n, "b")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := a.Send(ctx, "b", transport.Message{Type: "test/msg"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Recv(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("recv: %v", err)
	}
	if a.Stats().Sent.Messages != 1 || n.Stats().Dropped != 1 {
		t.Fatalf("stats %+v %+v", a.Stats(), n.Stats())
	}
}

func TestConfigErrors(t *testing.T) {
	ty := types(t)
	for i, cfg := range []Config{
		{Types: ty},
		{FederationID: "f"},
		{FederationID: "f", Types: ty, Link: Link{Drop: 1.5}},
		{FederationID: "f", Types: ty, Link: Link{Latency: -1}},
		{FederationID: "f", Types: ty, Schedule: 9},
	} {
		if _, err := New(cfg); !errors.Is(err, transport.ErrBadConfig) {
			t.Errorf("config %d: %v", i, err)
		}
	}
	n := newNet(t, Config{})
	if err := n.SetLink("a", "b", Link{Duplicate: -0.1}); !errors.Is(err, transport.ErrBadConfig) {
		t.Errorf("SetLink: %v", err)
	}
}

func TestSetLinkOverride(t *testing.T) {
	n := newNet(t, Config{Schedule: FreeRunning})
	a, b := join(t, n, "a"), join(t, n, "b")
	if err := n.SetLink("a", "b", Link{Drop: 1}); err != nil {
		t.Fatal(err)
	}
	ctx := timeout(t)
	a.Send(ctx, "b", transport.Message{Type: "test/msg"})
	b.Send(ctx, "a", transport.Message{Type: "test/msg"})
	if _, err := a.Recv(ctx); err != nil {
		t.Fatal(err)
	}
	if n.Stats().Dropped != 1 {
		t.Fatalf("stats %+v", n.Stats())
	}
}
