package federated

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/consort-ml/consort/federated/audit"
	"github.com/consort-ml/consort/federated/data"
	"github.com/consort-ml/consort/federated/engine"
	"github.com/consort-ml/consort/federated/model"
	"github.com/consort-ml/consort/federated/trainpb"
	"github.com/consort-ml/consort/transport"
	"github.com/consort-ml/consort/transport/identity"
	"github.com/consort-ml/consort/transport/mem"
	"github.com/consort-ml/consort/transport/p2p"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/proto"
)

// adversary wraps the coordinator's transport: a coordinator that runs the
// real engine but also sends what the attack adds. Honest mode adds nothing.
type adversary struct {
	transport.Transport
	attack func(a *adversary, to transport.PeerID, msg transport.Message) []engine.Envelope
	mu     sync.Mutex
	sent   []transport.Message // RoundStarts seen, for replay
}

func (a *adversary) Send(ctx context.Context, to transport.PeerID, msg transport.Message) error {
	if err := a.Transport.Send(ctx, to, msg); err != nil {
		return err
	}
	if a.attack == nil {
		return nil
	}
	for _, e := range a.attack(a, to, msg) {
		_ = a.Transport.Send(ctx, e.To, e.Msg)
	}
	return nil
}

// relabel: once the last round is released, the coordinator asks every node
// but the first again for an aggregate computed on round 1's model, under a
// fresh attempt number and the last round's label: with round 1's aggregate
// over every node, the differencing pair that would isolate the first
// team's update.
func relabel(nodes []transport.PeerID, last int) func(a *adversary, to transport.PeerID, msg transport.Message) []engine.Envelope {
	var once sync.Once
	return func(a *adversary, to transport.PeerID, msg transport.Message) []engine.Envelope {
		a.mu.Lock()
		defer a.mu.Unlock()
		var out []engine.Envelope
		switch msg.Type {
		case "train/round-start":
			var rs trainpb.RoundStart
			if proto.Unmarshal(msg.Payload, &rs) == nil && rs.Phase == trainpb.Phase_PHASE_TRAIN && rs.Round == 1 {
				a.sent = append(a.sent, msg)
			}
		case "train/round-end":
			var re trainpb.RoundEnd
			if proto.Unmarshal(msg.Payload, &re) != nil || re.Aborted || int(re.Round) != last || len(a.sent) == 0 {
				return nil
			}
			once.Do(func() {
				var rs trainpb.RoundStart
				_ = proto.Unmarshal(a.sent[len(a.sent)-1].Payload, &rs)
				rs.Attempt, rs.Round = 1000, uint32(last)
				rs.Participants = nil
				for _, p := range nodes[1:] {
					rs.Participants = append(rs.Participants, string(p))
				}
				b, _ := proto.Marshal(&rs)
				for _, p := range nodes[1:] {
					out = append(out, engine.Envelope{To: p, Msg: transport.Message{Type: "train/round-start", Round: 1000, Payload: b}})
				}
			})
		}
		return out
	}
}

type fedHarness struct {
	ids   []*identity.Identity // 0: coordinator
	nodes []transport.PeerID
	fed   engine.Federation
	data  []*data.Dataset
	dir   string
}

func newHarness(t *testing.T, protocol string, n int) *fedHarness {
	t.Helper()
	ds, err := data.Load("breast-cancer", data.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := data.Standardize(ds); err != nil {
		t.Fatal(err)
	}
	parts, err := data.PartitionIID(ds.Len(), n, 1)
	if err != nil {
		t.Fatal(err)
	}
	h := &fedHarness{dir: t.TempDir()}
	ids, err := SimIdentities(42, n+1)
	if err != nil {
		t.Fatal(err)
	}
	h.ids = ids
	for i := 1; i <= n; i++ {
		h.nodes = append(h.nodes, ids[i].PeerID())
		h.data = append(h.data, ds.Subset(parts[i-1]))
	}
	h.fed = engine.Federation{ID: "adversary", Nodes: h.nodes, Threshold: n/2 + 1, Protocol: protocol, Rounds: 3,
		Model: model.Spec{Kind: "logistic"}, Features: ds.Features, Classes: 2, MHEInsecureTestParams: true}
	return h
}

// run runs the federation with the coordinator's transport wrapped by adv;
// tr makes each party's transport.
type partyTransport func(t *testing.T, i int) (transport.Transport, Clock)

func (h *fedHarness) run(t *testing.T, adv *adversary, mk partyTransport) ([]*Metrics, []audit.Report) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	coord, err := engine.NewCoordinator(engine.CoordinatorConfig{Federation: h.fed, Seed: 1, StepTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	metrics := make([]*Metrics, len(h.nodes))
	logs := make([]*audit.Log, len(h.nodes))
	var wg sync.WaitGroup
	for i := range h.nodes {
		tr, clock := mk(t, i+1)
		nd, err := engine.NewNode(engine.NodeConfig{Federation: h.fed, Self: h.nodes[i], Coordinator: h.ids[0].PeerID(),
			Signer: h.ids[i+1].Signer(), Train: h.data[i], Seed: uint64(i), Rand: SimNodeRand(7, i)})
		if err != nil {
			t.Fatal(err)
		}
		if logs[i], err = audit.Open(filepath.Join(h.dir, fmt.Sprintf("node-%d.log", i)), h.ids[i+1].Signer(),
			audit.Options{Actor: string(h.nodes[i]), Role: "node", Federation: h.fed.ID}); err != nil {
			t.Fatal(err)
		}
		metrics[i] = NewMetrics("node")
		wg.Go(func() {
			if _, err := RunNode(ctx, nd, tr, h.ids[0].PeerID(), NodeIO{Clock: clock, Audit: logs[i], Metrics: metrics[i]}); err != nil && ctx.Err() == nil {
				t.Errorf("node %d: %v", i, err)
			}
		})
	}
	tr, clock := mk(t, 0)
	adv.Transport = tr
	if _, err := RunCoordinator(ctx, coord, adv, CoordinatorIO{Clock: clock, SendTimeout: 5 * time.Second}); err != nil {
		t.Fatalf("coordinator: %v", err)
	}
	// Keep the coordinator's endpoint waiting while the nodes take their
	// final model (a virtual-time network moves only while everyone waits).
	dctx, dcancel := context.WithCancel(ctx)
	go func() {
		for dctx.Err() == nil {
			if _, err := tr.Recv(dctx); err != nil && dctx.Err() != nil {
				return
			}
		}
	}()
	wg.Wait()
	dcancel()
	var reps []audit.Report
	for i, l := range logs {
		l.Close()
		rep, err := audit.VerifyFile(filepath.Join(h.dir, fmt.Sprintf("node-%d.log", i)), h.ids[i+1].PublicKey())
		if err != nil {
			t.Fatal(err)
		}
		reps = append(reps, rep)
	}
	return metrics, reps
}

// memParties puts every party on one transport/mem network in virtual time.
func memParties(t *testing.T, h *fedHarness) partyTransport {
	types, err := engine.MessageTypes(31, len(h.nodes))
	if err != nil {
		t.Fatal(err)
	}
	net, err := mem.New(mem.Config{FederationID: h.fed.ID, Types: types, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	epoch := time.Unix(0, 0)
	return func(t *testing.T, i int) (transport.Transport, Clock) {
		ep, err := net.Join(h.ids[i].PeerID())
		if err != nil {
			t.Fatal(err)
		}
		return ep, VirtualClock{Net: net, Endpoint: ep, Epoch: epoch}
	}
}

// TestAdversarialCoordinatorRelabel: the honest mode of the harness
// completes the federation; the relabelling coordinator gets a refusal from
// every node it asks, typed, audited and counted in the nodes' metrics, and no
// node contributes to the relabelled attempt. Over transport/mem and libp2p.
func TestAdversarialCoordinatorRelabel(t *testing.T) {
	for _, net := range []string{"mem", "p2p"} {
		for _, protocol := range []string{"secagg", "mhe"} {
			t.Run(net+"/"+protocol, func(t *testing.T) {
				h := newHarness(t, protocol, 3)
				mk := memParties(t, h)
				if net == "p2p" {
					mk = p2pPartiesDialing(t, h)
				}
				_, honest := h.run(t, &adversary{}, mk)
				for i, rep := range honest {
					if n := count(rep, audit.KindContributionSent, 0); n < 3 {
						t.Fatalf("honest mode: node %d sent %d contributions, want at least 3", i, n)
					}
				}
				h2 := newHarness(t, protocol, 3)
				mk = memParties(t, h2)
				if net == "p2p" {
					mk = p2pPartiesDialing(t, h2)
				}
				metrics, reps := h2.run(t, &adversary{attack: relabel(h2.nodes, h2.fed.Rounds)}, mk)
				for i := 1; i < 3; i++ {
					if n := count(reps[i], audit.KindContributionSent, 1000); n != 0 {
						t.Errorf("node %d contributed to the relabelled attempt", i)
					}
					refused := false
					for _, e := range reps[i].Entries {
						refused = refused || (e.Kind == audit.KindRefusal && e.Round == 1000 && e.Reason == string(engine.RefuseRepeat))
					}
					if !refused {
						t.Errorf("node %d's audit log has no repeat refusal of the relabelled attempt", i)
					}
					if v := testutil.ToFloat64(metrics[i].Refusals.WithLabelValues(string(engine.RefuseRepeat))); v != 1 {
						t.Errorf("node %d counted %v repeat refusals, want 1", i, v)
					}
				}
			})
		}
	}
}

// p2pPartiesDialing is p2pParties with every node told the coordinator's
// address.
func p2pPartiesDialing(t *testing.T, h *fedHarness) partyTransport {
	types, err := engine.MessageTypes(31, len(h.nodes))
	if err != nil {
		t.Fatal(err)
	}
	allow := p2p.StaticAllowList{}
	for _, id := range h.ids {
		allow[id.PeerID()] = []string{"*"}
	}
	hosts := make([]*p2p.Host, len(h.ids))
	for i, id := range h.ids {
		host, err := p2p.New(p2p.Config{Identity: id, FederationID: h.fed.ID, Types: types, AllowList: allow,
			ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, StreamTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { host.Close() })
		hosts[i] = host
	}
	for i := 1; i < len(hosts); i++ {
		if err := hosts[i].AddPeer(h.ids[0].PeerID(), hosts[0].Addrs()...); err != nil {
			t.Fatal(err)
		}
	}
	return func(t *testing.T, i int) (transport.Transport, Clock) { return hosts[i], WallClock{} }
}

func count(rep audit.Report, kind audit.Kind, round uint64) int {
	n := 0
	for _, e := range rep.Entries {
		if e.Kind == kind && (round == 0 || e.Round == round) {
			n++
		}
	}
	return n
}
