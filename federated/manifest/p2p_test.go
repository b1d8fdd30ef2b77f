package manifest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/consort-ml/consort/transport"
	"github.com/consort-ml/consort/transport/identity"
	"github.com/consort-ml/consort/transport/p2p"
)

// TestManifestGatesP2P uses a signed manifest as the libp2p allow list:
// members talk, a node cannot use a coordinator-only protocol, and a
// stranger is refused at the connection gater.
func TestManifestGatesP2P(t *testing.T) {
	if testing.Short() {
		t.Skip("starts libp2p hosts")
	}
	m, coordID, nodeID := sample(t)
	if err := m.Sign(coordID); err != nil {
		t.Fatal(err)
	}
	types, err := transport.NewTypes(
		transport.MessageType{Name: "train/hello", Protocol: transport.Protocol{Name: ControlProtocol, Major: 1}, MaxSize: 1024},
		transport.MessageType{Name: "admin/reset", Protocol: transport.Protocol{Name: "admin", Major: 1}, MaxSize: 1024},
	)
	if err != nil {
		t.Fatal(err)
	}
	start := func(id *identity.Identity, allow p2p.AllowList) *p2p.Host {
		h, err := p2p.New(p2p.Config{Identity: id, FederationID: m.Federation, ManifestDigest: m.Digest(),
			Types: types, AllowList: allow, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, StreamTimeout: 5 * time.Second,
			Backoff: p2p.Backoff{Min: 20 * time.Millisecond, Max: 100 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		return h
	}
	coord, node := start(coordID, m), start(nodeID, m)
	node.AddPeer(coord.Self(), coord.Addrs()...)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := node.Send(ctx, coord.Self(), transport.Message{Type: "train/hello", Round: 1}); err != nil {
		t.Fatal(err)
	}
	if in, err := coord.Recv(ctx); err != nil || in.From != node.Self() {
		t.Fatalf("recv: %v", err)
	}
	if err := node.Send(ctx, coord.Self(), transport.Message{Type: "admin/reset"}); !errors.Is(err, transport.ErrRefused) {
		t.Fatalf("node used a coordinator-only protocol: %v", err)
	}
	stranger := start(fixedIdentity(t, 77), p2p.StaticAllowList{coord.Self(): {"*"}})
	stranger.AddPeer(coord.Self(), coord.Addrs()...)
	sctx, scancel := context.WithTimeout(ctx, time.Second)
	defer scancel()
	if err := stranger.Send(sctx, coord.Self(), transport.Message{Type: "train/hello"}); err == nil {
		t.Fatal("stranger got through")
	}
	st := coord.Stats()
	if st.Rejected[transport.RejectPeer] == 0 || st.Rejected[transport.RejectProtocol] != 1 {
		t.Fatalf("coordinator rejections %v", st.Rejected)
	}
}
