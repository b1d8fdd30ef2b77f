package federated

import (
	"context"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/consort-ml/consort/federated/audit"
	"github.com/consort-ml/consort/federated/engine"
	"github.com/consort-ml/consort/transport"
	"github.com/consort-ml/consort/transport/mem"
)

// TestNodeCoordinatorUnreachable: a node whose coordinator never appears
// gives up after JoinTimeout of virtual time with ErrCoordinatorUnreachable.
func TestNodeCoordinatorUnreachable(t *testing.T) {
	trains, tests := netFixture(t, "wine", 1, 1)
	id := testIdentity(t, 1)
	fed := netConfig{protocol: "plain", threshold: 1, minPart: 1, rnds: 1}.federation(t, trains, []transport.PeerID{id.PeerID()})
	nd, err := engine.NewNode(engine.NodeConfig{Federation: fed, Self: id.PeerID(), Coordinator: "nobody", Signer: id.Signer(),
		Train: trains[0], Test: tests[0], Rand: rand.NewChaCha8([32]byte{})})
	if err != nil {
		t.Fatal(err)
	}
	types, _ := engine.MessageTypes(1<<10, 4)
	net, err := mem.New(mem.Config{FederationID: netFederation, Types: types, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	ep, err := net.Join(id.PeerID())
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = RunNode(ctx, nd, ep, "nobody", NodeIO{Clock: VirtualClock{Net: net, Endpoint: ep}, JoinTimeout: 30 * time.Second})
	if !errors.Is(err, ErrCoordinatorUnreachable) {
		t.Fatalf("got %v, want ErrCoordinatorUnreachable", err)
	}
	if now := net.Now(); now < 30*time.Second || now > 32*time.Second {
		t.Errorf("gave up at virtual time %v, want just after 30s", now)
	}
}

// TestNetworkLossyLinks: every link loses 2% of the messages, reorders 5%
// and delays them by 20-30 ms. Nothing is retransmitted: a lost message
// makes its sender a dropout of that attempt, the protocols recover or the
// attempt aborts and is retried (an mhe key setup, which needs every node,
// too). Training still completes, and the run is deterministic (the
// network's fate of every message is seeded).
//
// With 4 nodes and threshold 3, mhe stops with ErrRefused here: a
// statistics attempt aborts after two nodes sent decryption shares, those
// two never release the same statistics again, and two fresh contributions
// are below the threshold. That is the release rule working, so this test
// uses 5 nodes, and 7 for mhe, whose verified decryption needs every
// contributor and, once a decryptor's share is lost, three fresh decryptors.
func TestNetworkLossyLinks(t *testing.T) {
	for _, p := range []string{"secagg", "mhe"} {
		t.Run(p, func(t *testing.T) {
			nodes := map[string]int{"secagg": 5, "mhe": 7}[p]
			cfg := netConfig{protocol: p, dataset: "wine", nodes: nodes, minPart: 3, threshold: 3, rnds: 4,
				link: mem.Link{Drop: 0.02, Reorder: 0.05, Latency: 20 * time.Millisecond, Jitter: 10 * time.Millisecond}}
			a := runNetwork(t, cfg)
			if a.coordErr != nil {
				t.Fatal(a.coordErr)
			}
			if len(a.hist) != 4 || a.coord.Round != 4 {
				t.Fatalf("history %+v", a.hist)
			}
			st := a.net.Stats()
			if st.Dropped == 0 {
				t.Fatalf("no message was lost: %+v", st)
			}
			b := runNetwork(t, cfg)
			if ParamsDigest(a.coord.Params) != ParamsDigest(b.coord.Params) || b.net.Stats() != st || b.aborted != a.aborted {
				t.Fatalf("two runs over the same lossy network differ: %+v / %+v", st, b.net.Stats())
			}
			t.Logf("%d messages sent, %d lost; %d attempts aborted; contributors %v; virtual time %v", st.Sent, st.Dropped, a.aborted, contributors(a.hist), st.Now)
		})
	}
}

// TestNetworkLongFederationID: a federation id of 100 bytes passes the
// transport (128) and a networked secagg federation trains with it (the
// first release handed it unhashed to secagg, limited to 64, and failed
// every attempt).
func TestNetworkLongFederationID(t *testing.T) {
	r := runNetwork(t, netConfig{fedID: strings.Repeat("f", 100), protocol: "secagg", dataset: "wine", nodes: 3, minPart: 3, threshold: 2, rnds: 2})
	if r.coordErr != nil {
		t.Fatal(r.coordErr)
	}
	if len(r.hist) != 2 || r.hist[1].Contributors != 3 || r.coord.Federation != strings.Repeat("f", 100) {
		t.Fatalf("history %+v, federation %q", r.hist, r.coord.Federation)
	}
}

// TestNetworkDPDefaultDeltaAndMetrics: a federation with a clip and no delta
// accounts at the default delta and writes it into the audit log (the first
// release logged delta 0); the drivers' metrics count what happened.
func TestNetworkDPDefaultDeltaAndMetrics(t *testing.T) {
	dir := t.TempDir()
	var (
		mu    sync.Mutex
		coord *Metrics
		ms    []*Metrics // the nodes'
	)
	r := runNetwork(t, netConfig{protocol: "secagg", dataset: "wine", nodes: 3, minPart: 3, threshold: 2, rnds: 2, auditDir: dir,
		dp: DPConfig{Clip: 1, NoiseMultiplier: 1},
		metrics: func(role string) *Metrics {
			m := NewMetrics(role)
			mu.Lock()
			defer mu.Unlock()
			if role == "coordinator" {
				coord = m
			} else {
				ms = append(ms, m)
			}
			return m
		}})
	if r.coordErr != nil {
		t.Fatal(r.coordErr)
	}
	rep, err := audit.VerifyFile(filepath.Join(dir, "coordinator.log"), nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range rep.Entries {
		if e.Kind == audit.KindEpsilon {
			if e.Delta != engine.DefaultDelta || e.Epsilon != r.hist[n].Epsilon {
				t.Errorf("epsilon entry %+v, want delta %g and epsilon %g", e, engine.DefaultDelta, r.hist[n].Epsilon)
			}
			n++
		}
	}
	if n != 2 {
		t.Fatalf("%d epsilon entries, want 2", n)
	}
	if len(ms) != 3 || coord == nil {
		t.Fatalf("%d node metrics, coordinator's %v", len(ms), coord)
	}
	if got := metricValue(t, coord, "consort_rounds_completed_total"); got != 2 {
		t.Errorf("coordinator rounds completed %v", got)
	}
	if got := metricValue(t, coord, "consort_round_contributors"); got != 3 {
		t.Errorf("coordinator contributors %v", got)
	}
	if got := metricValue(t, coord, "consort_model_accuracy"); got != r.hist[1].Accuracy {
		t.Errorf("coordinator accuracy %v, history %v", got, r.hist[1].Accuracy)
	}
	if got, want := metricValue(t, coord, "consort_protocol_bytes_total"), float64(r.hist[0].BytesUp+r.hist[1].BytesUp); got != want {
		t.Errorf("coordinator bytes up %v, want %v", got, want)
	}
	for i, m := range ms {
		if got := metricValue(t, m, "consort_rounds_completed_total"); got != 2 {
			t.Errorf("node %d rounds completed %v", i, got)
		}
		if got := metricValue(t, m, "consort_protocol_bytes_total"); !(got > 0) {
			t.Errorf("node %d bytes up %v", i, got)
		}
	}
}

// metricValue reads a counter or gauge from m's registry.
func metricValue(t *testing.T, m *Metrics, name string) float64 {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name || len(mf.GetMetric()) != 1 {
			continue
		}
		if c := mf.GetMetric()[0].GetCounter(); c != nil {
			return c.GetValue()
		}
		return mf.GetMetric()[0].GetGauge().GetValue()
	}
	t.Fatalf("no metric %s", name)
	return 0
}
