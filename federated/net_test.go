package federated

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/consort-ml/consort/federated/data"
	"github.com/consort-ml/consort/federated/model"
	"github.com/consort-ml/consort/transport"
	"github.com/consort-ml/consort/transport/mem"
)

// netFixture splits a bundled data set among n nodes (each keeps a quarter of
// its share as held-out examples) and returns the pooled test set.
func netFixture(t *testing.T, name string, n int, seed uint64) (trains, tests []*data.Dataset, test *data.Dataset) {
	t.Helper()
	ds, err := data.Load(name, data.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	train, test, err := data.Split(ds, 0.25, seed)
	if err != nil {
		t.Fatal(err)
	}
	parts, err := data.PartitionIID(train.Len(), n, seed)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range parts {
		sub := train.Subset(p)
		tr, te, err := data.Split(sub, 0.2, seed)
		if err != nil {
			t.Fatal(err)
		}
		trains, tests = append(trains, tr), append(tests, te)
	}
	return trains, tests, test
}

type netRun struct {
	coord  *ModelFile
	nodes  []*ModelFile
	hist   []RoundReport
	errs   []error
	coordE error
}

func runNetwork(t *testing.T, protocol, dataset string, nNodes, threshold, rounds int, kill func(i int, attempt uint64) bool) netRun {
	t.Helper()
	trains, tests, _ := netFixture(t, dataset, nNodes, 1)
	types, err := MessageTypes(1<<16, 16)
	if err != nil {
		t.Fatal(err)
	}
	net, err := mem.New(mem.Config{FederationID: "fed-test", Types: types, Seed: 1, Schedule: mem.FreeRunning})
	if err != nil {
		t.Fatal(err)
	}
	ce, err := net.Join("coordinator")
	if err != nil {
		t.Fatal(err)
	}
	var nodes []transport.PeerID
	for i := range nNodes {
		nodes = append(nodes, transport.PeerID(fmt.Sprintf("node-%d", i+1)))
	}
	spec := model.Spec{Kind: "logistic"}
	classes := trains[0].Classes
	if classes > 2 {
		spec.Kind = "softmax"
	}
	coord, err := NewCoordinator(CoordinatorConfig{
		FederationID: "fed-test", Nodes: nodes, MinParticipants: threshold, Threshold: threshold,
		Protocol: protocol, Rounds: rounds, Model: spec, Features: trains[0].Features, Classes: classes,
		Standardize: true, Seed: 1, StepTimeout: 2 * time.Second, LiveWindow: 2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out := netRun{nodes: make([]*ModelFile, nNodes), errs: make([]error, nNodes)}
	done := make(chan int, nNodes)
	for i := range nNodes {
		ep, err := net.Join(nodes[i])
		if err != nil {
			t.Fatal(err)
		}
		nd, err := NewNode(NodeConfig{
			FederationID: "fed-test", Coordinator: "coordinator", Train: trains[i], Test: tests[i],
			Model: spec, Features: trains[0].Features, Classes: classes, Seed: uint64(i),
			HelloInterval: 200 * time.Millisecond, StepTimeout: 2 * time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		nctx, ncancel := context.WithCancel(ctx)
		if kill != nil {
			nd.cfg.Events = func(e NodeEvent) {
				if e.Kind == "contributed" && kill(i, e.Attempt) {
					ep.Close()
					ncancel()
				}
			}
		}
		go func() {
			defer ncancel()
			out.nodes[i], out.errs[i] = nd.Run(nctx, ep)
			done <- i
		}()
	}
	out.coord, out.coordE = coord.Run(ctx, ce)
	out.hist = coord.History()
	ce.Close()
	for range nNodes {
		<-done
	}
	return out
}

func TestNetworkPlainTrains(t *testing.T) {
	r := runNetwork(t, "plain", "breast-cancer", 3, 3, 5, nil)
	if r.coordE != nil {
		t.Fatal(r.coordE)
	}
	if len(r.hist) != 5 || r.coord.Round != 5 {
		t.Fatalf("history %d rounds, model round %d", len(r.hist), r.coord.Round)
	}
	last := r.hist[len(r.hist)-1]
	if last.Accuracy < 0.9 || last.Contributors != 3 {
		t.Errorf("last round %+v", last)
	}
	for i, m := range r.nodes {
		if r.errs[i] != nil {
			t.Fatalf("node %d: %v", i, r.errs[i])
		}
		if !model.ParamsEqual(m.Params, r.coord.Params) {
			t.Errorf("node %d holds another final model", i)
		}
		if len(m.Mean) != 30 || math.IsNaN(float64(m.Std[0])) {
			t.Errorf("node %d: standardisation missing", i)
		}
	}
}
