package federated

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/consort-ml/consort/federated/audit"
	"github.com/consort-ml/consort/federated/data"
	"github.com/consort-ml/consort/federated/model"
	"github.com/consort-ml/consort/federated/trainpb"
	"github.com/consort-ml/consort/transport"
	"github.com/consort-ml/consort/transport/identity"
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

func runNetwork(t *testing.T, protocol, dataset string, nNodes, minPart, threshold, rounds int, kill func(i int, attempt uint64) bool) netRun {
	t.Helper()
	return runNetworkAudited(t, protocol, dataset, nNodes, minPart, threshold, rounds, kill, "")
}

// runNetworkAudited is runNetwork with audit logs in auditDir (if not empty):
// coordinator.log and node-<i>.log.
func runNetworkAudited(t *testing.T, protocol, dataset string, nNodes, minPart, threshold, rounds int, kill func(i int, attempt uint64) bool, auditDir string) netRun {
	t.Helper()
	return runNetworkOpts(t, protocol, dataset, nNodes, minPart, threshold, rounds, netOpts{kill: kill, auditDir: auditDir})
}

// netOpts are the optional hooks of runNetworkOpts.
type netOpts struct {
	kill     func(i int, attempt uint64) bool
	auditDir string
	// policy, if set, gives node i's policy.
	policy func(i int) func(*trainpb.RoundStart) error
	// logger replaces the test logger of every party.
	logger *slog.Logger
	// wrap wraps every party's transport (to record what crosses the wire).
	wrap func(transport.Transport) transport.Transport
	// data, if set, edits the nodes' data sets before the run.
	data func(trains, tests []*data.Dataset)
	// metrics, if set, receives every party's metrics.
	metrics func() *Metrics
	dp      DPConfig
}

func runNetworkOpts(t *testing.T, protocol, dataset string, nNodes, minPart, threshold, rounds int, o netOpts) netRun {
	t.Helper()
	kill, auditDir := o.kill, o.auditDir
	logger := testLogger(t)
	if o.logger != nil {
		logger = o.logger
	}
	wrap := func(tr transport.Transport) transport.Transport { return tr }
	if o.wrap != nil {
		wrap = o.wrap
	}
	var metrics *Metrics
	newMetrics := func() *Metrics {
		if o.metrics != nil {
			return o.metrics()
		}
		return metrics
	}
	trains, tests, _ := netFixture(t, dataset, nNodes, 1)
	if o.data != nil {
		o.data(trains, tests)
	}
	types, err := MessageTypes(1<<16, 16)
	if err != nil {
		t.Fatal(err)
	}
	net, err := mem.New(mem.Config{FederationID: "fed-test", Types: types, Seed: 1, Schedule: mem.FreeRunning})
	if err != nil {
		t.Fatal(err)
	}
	cid, err := identity.Generate(rand.NewChaCha8([32]byte{99}))
	if err != nil {
		t.Fatal(err)
	}
	ce, err := net.Join(cid.PeerID())
	if err != nil {
		t.Fatal(err)
	}
	var nodes []transport.PeerID
	var idents []*identity.Identity
	for i := range nNodes {
		id, err := identity.Generate(rand.NewChaCha8([32]byte{byte(i + 1)}))
		if err != nil {
			t.Fatal(err)
		}
		idents = append(idents, id)
		nodes = append(nodes, id.PeerID())
	}
	spec := model.Spec{Kind: "logistic"}
	classes := trains[0].Classes
	if classes > 2 {
		spec.Kind = "softmax"
	}
	var coordAudit *audit.Log
	if auditDir != "" {
		coordAudit, err = audit.Open(filepath.Join(auditDir, "coordinator.log"), cryptoSigner{cid}, audit.Options{Actor: string(cid.PeerID()), Role: "coordinator", Federation: "fed-test"})
		if err != nil {
			t.Fatal(err)
		}
		defer coordAudit.Close()
	}
	coord, err := NewCoordinator(CoordinatorConfig{Audit: coordAudit,
		FederationID: "fed-test", Nodes: nodes, MinParticipants: minPart, Threshold: threshold, Logger: logger,
		Protocol: protocol, Rounds: rounds, Model: spec, Features: trains[0].Features, Classes: classes,
		Standardize: true, Seed: 1, StepTimeout: 2 * time.Second, LiveWindow: 2 * time.Second,
		DP: o.dp, Metrics: newMetrics(),
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
		var nodeAudit *audit.Log
		if auditDir != "" {
			nodeAudit, err = audit.Open(filepath.Join(auditDir, fmt.Sprintf("node-%d.log", i)), cryptoSigner{idents[i]}, audit.Options{Actor: string(idents[i].PeerID()), Role: "node", Federation: "fed-test"})
			if err != nil {
				t.Fatal(err)
			}
			defer nodeAudit.Close()
		}
		nd, err := NewNode(NodeConfig{Audit: nodeAudit,
			FederationID: "fed-test", Coordinator: cid.PeerID(), Train: trains[i], Test: tests[i],
			Model: spec, Features: trains[0].Features, Classes: classes, Seed: uint64(i), Identity: idents[i],
			Members: nodes, Threshold: threshold,
			HelloInterval: 200 * time.Millisecond, StepTimeout: 2 * time.Second, Logger: logger,
			DP: o.dp, Metrics: newMetrics(),
		})
		if err != nil {
			t.Fatal(err)
		}
		if o.policy != nil {
			nd.cfg.Policy = o.policy(i)
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
			out.nodes[i], out.errs[i] = nd.Run(nctx, wrap(ep))
			done <- i
		}()
	}
	out.coord, out.coordE = coord.Run(ctx, wrap(ce))
	out.hist = coord.History()
	if out.coordE != nil {
		cancel() // the nodes would wait for a final model that never comes
	}
	ce.Close()
	for range nNodes {
		<-done
	}
	return out
}

func TestNetworkPlainTrains(t *testing.T) {
	r := runNetwork(t, "plain", "breast-cancer", 3, 3, 3, 5, nil)
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

func TestNetworkSecAggMatchesPlain(t *testing.T) {
	plain := runNetwork(t, "plain", "wine", 3, 3, 2, 4, nil)
	sec := runNetwork(t, "secagg", "wine", 3, 3, 2, 4, nil)
	if plain.coordE != nil || sec.coordE != nil {
		t.Fatal(plain.coordE, sec.coordE)
	}
	for i := range plain.coord.Params {
		if d := math.Abs(float64(plain.coord.Params[i] - sec.coord.Params[i])); d > 1e-3 {
			t.Fatalf("parameter %d: plain %v, secagg %v", i, plain.coord.Params[i], sec.coord.Params[i])
		}
	}
	if sec.hist[3].Contributors != 3 || sec.hist[3].Accuracy < 0.85 {
		t.Errorf("secagg last round %+v", sec.hist[3])
	}
}

func TestNetworkSecAggSurvivesKilledNode(t *testing.T) {
	// Node 2 dies right after it starts contributing to the first training
	// attempt (attempt 3, after the two statistics attempts); threshold 2 of 3
	// lets the protocol recover that round, and later rounds go on with 2.
	r := runNetwork(t, "secagg", "wine", 3, 2, 2, 3, func(i int, attempt uint64) bool { return i == 1 && attempt == 3 })
	if r.coordE != nil {
		t.Fatal(r.coordE)
	}
	if len(r.hist) != 3 || r.hist[0].Aborted {
		t.Fatalf("history %+v", r.hist)
	}
	if r.hist[2].Contributors != 2 {
		t.Errorf("after the kill, want 2 contributors, got %+v", r.hist[2])
	}
}

func testLogger(t *testing.T) *slog.Logger {
	if !testing.Verbose() {
		return nil
	}
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func TestNetworkAuditLogsCrossCheck(t *testing.T) {
	dir := t.TempDir()
	r := runNetworkAudited(t, "secagg", "wine", 3, 3, 2, 3, nil, dir)
	if r.coordE != nil {
		t.Fatal(r.coordE)
	}
	coord, err := audit.VerifyFile(filepath.Join(dir, "coordinator.log"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var nodes []audit.Report
	for i := range 3 {
		rep, err := audit.VerifyFile(filepath.Join(dir, fmt.Sprintf("node-%d.log", i)), nil)
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, rep)
	}
	kinds := map[audit.Kind]int{}
	for _, e := range coord.Entries {
		kinds[e.Kind]++
	}
	// 2 statistics attempts + 3 training rounds, 3 contributors each.
	if kinds[audit.KindJoin] != 3 || kinds[audit.KindRoundStart] != 5 || kinds[audit.KindContributionReceived] != 15 ||
		kinds[audit.KindAggregate] != 3 || kinds[audit.KindModelVersion] != 3 || kinds[audit.KindCountersign] != 9 {
		t.Errorf("coordinator log kinds %v", kinds)
	}
	if f := audit.CrossCheck(coord, nodes, nil); len(f) != 0 {
		t.Errorf("cross-check findings on a clean run: %v", f)
	}
	// Dropping one node's log still leaves its detached countersignatures,
	// which need its key.
	if f := audit.CrossCheck(coord, nodes[:2], nil); len(f) == 0 {
		t.Error("missing key for a contributor's detached countersignature not reported")
	}
}

func TestNetworkMHEMatchesPlain(t *testing.T) {
	plain := runNetwork(t, "plain", "wine", 3, 3, 2, 3, nil)
	he := runNetwork(t, "mhe", "wine", 3, 3, 2, 3, nil)
	if plain.coordE != nil || he.coordE != nil {
		t.Fatal(plain.coordE, he.coordE)
	}
	// Only the protocols' quantisation (2^-20 for the statistics, about
	// 2^-24 for updates) separates the two runs.
	for i := range plain.coord.Params {
		if d := math.Abs(float64(plain.coord.Params[i] - he.coord.Params[i])); d > 2e-3 {
			t.Fatalf("parameter %d: plain %v, mhe %v", i, plain.coord.Params[i], he.coord.Params[i])
		}
	}
	if d := math.Abs(plain.hist[2].Accuracy - he.hist[2].Accuracy); d > 0.02 {
		t.Errorf("accuracy plain %v, mhe %v", plain.hist[2].Accuracy, he.hist[2].Accuracy)
	}
	if he.hist[2].Contributors != 3 || he.hist[2].Accuracy < 0.85 {
		t.Errorf("mhe last round %+v", he.hist[2])
	}
}

func TestNetworkMHESurvivesKilledNode(t *testing.T) {
	// Attempt 1 is the key setup, 2 and 3 the statistics; node 2 dies as it
	// uploads its first training ciphertext (attempt 4). Threshold 2 of 3:
	// the other two decrypt that round and the rest.
	r := runNetwork(t, "mhe", "wine", 3, 2, 2, 3, func(i int, attempt uint64) bool { return i == 1 && attempt == 4 })
	if r.coordE != nil {
		t.Fatal(r.coordE)
	}
	if len(r.hist) != 3 || r.hist[2].Contributors != 2 {
		t.Fatalf("history %+v", r.hist)
	}
}
