package federated

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/consort-ml/consort/federated/audit"
	"github.com/consort-ml/consort/federated/data"
	"github.com/consort-ml/consort/federated/engine"
	"github.com/consort-ml/consort/federated/model"
	"github.com/consort-ml/consort/federated/policy"
	"github.com/consort-ml/consort/transport"
	"github.com/consort-ml/consort/transport/identity"
	"github.com/consort-ml/consort/transport/mem"
)

// The networked tests run a coordinator and its nodes, each the engine's
// state machine driven by RunCoordinator or RunNode in its own goroutine,
// over a Lockstep transport/mem network in virtual time: every run with the
// same configuration delivers the same messages in the same order at the
// same virtual times, so results, audit logs and digests repeat exactly.

const netFederation = "fed-test"

// netFixture splits a bundled data set among n nodes (each keeps a fifth
// of its share as held-out examples) and returns the pooled test set. The
// features are raw: the federation standardises them.
func netFixture(t *testing.T, name string, n int, seed uint64) (trains, tests []*data.Dataset) {
	t.Helper()
	ds, err := data.Load(name, data.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	train, _, err := data.Split(ds, 0.25, seed)
	if err != nil {
		t.Fatal(err)
	}
	parts, err := data.PartitionIID(train.Len(), n, seed)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range parts {
		tr, te, err := data.Split(train.Subset(p), 0.2, seed)
		if err != nil {
			t.Fatal(err)
		}
		trains, tests = append(trains, tr), append(tests, te)
	}
	return trains, tests
}

// netConfig describes one networked run.
type netConfig struct {
	// fedID names the federation (default netFederation).
	fedID string
	// link is every link's behaviour (default: perfect).
	link                            mem.Link
	protocol, dataset               string
	nodes, minPart, threshold, rnds int
	dp                              DPConfig
	// auditDir, if set, receives coordinator.log and node-<i>.log.
	auditDir string
	// coordState is the coordinator's StateDir; nodeState, if set, names
	// node i's.
	coordState string
	nodeState  func(i int) string
	// policy, if set, gives node i's policy.
	policy func(i int) *policy.Policy
	// logger replaces the discarding logger of every party.
	logger *slog.Logger
	// wrap wraps every party's transport (to record what crosses the wire).
	wrap func(transport.Transport) transport.Transport
	// data, if set, edits the nodes' data sets before the run.
	data func(trains, tests []*data.Dataset)
	// metrics, if set, gives every party's metrics.
	metrics func(role string) *Metrics
	// kill, if set, says whether node i dies right after it sent a message
	// of type typ in attempt; restart says whether it then comes back
	// (from its state directory).
	kill    func(i int, attempt uint64, typ string) bool
	restart bool
	// resumeFrom, if set, is a state directory whose checkpoint the
	// coordinator starts from.
	resumeFrom string
	// crashAfter, if > 0, crashes the coordinator right after it reported
	// that training round; it restarts from its checkpoint in coordState.
	crashAfter int
	// crashOnSend, if set, crashes the coordinator right after it sent a
	// message for which it returns true; it restarts likewise.
	crashOnSend func(to transport.PeerID, m transport.Message) bool
}

type netRun struct {
	coord    *model.File
	nodes    []*model.File
	hist     []RoundReport
	reported []RoundReport // reports the (last) coordinator process made
	// models holds the digest of the global model after each round.
	models map[int]string
	// resumed is the checkpoint the restarted coordinator resumed from.
	resumed  *model.File
	errs     []error
	coordErr error
	aborted  int
	ids      []*identity.Identity
	coordID  *identity.Identity
	net      *mem.Network
}

// errCrash is how a test crashes a party: its transport fails.
var errCrash = errors.New("test: crashed")

// crashable fails Recv once crashed is set (by the party's own goroutine),
// which onSend may do.
type crashable struct {
	transport.Transport
	crashed *bool
	onSend  func(to transport.PeerID, m transport.Message) bool
}

func (c crashable) Send(ctx context.Context, to transport.PeerID, m transport.Message) error {
	err := c.Transport.Send(ctx, to, m)
	if c.onSend != nil && c.onSend(to, m) {
		*c.crashed = true
	}
	return err
}

func (c crashable) Recv(ctx context.Context) (transport.Incoming, error) {
	if *c.crashed {
		return transport.Incoming{}, errCrash
	}
	return c.Transport.Recv(ctx)
}

// rejoin replaces a crashed endpoint with a new one for the same peer
// without letting virtual time pass in between (a held endpoint keeps the
// Lockstep network from advancing).
func rejoin(t *testing.T, net *mem.Network, old *mem.Endpoint, hold transport.PeerID) *mem.Endpoint {
	h, err := net.Join(hold)
	if err != nil {
		t.Error(err)
		return nil
	}
	old.Close()
	ep, err := net.Join(old.Self())
	h.Close()
	if err != nil {
		t.Error(err)
		return nil
	}
	return ep
}

// testIdentity derives a party's identity from a label.
func testIdentity(t *testing.T, label byte) *identity.Identity {
	t.Helper()
	id, err := identity.Generate(rand.NewChaCha8([32]byte{label}))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// openAudit opens a party's audit log in dir ("": none), stamped with the
// virtual clock so that runs repeat byte for byte.
func openAudit(t *testing.T, dir, name, fedID string, id *identity.Identity, role string, clock Clock) *audit.Log {
	t.Helper()
	if dir == "" {
		return nil
	}
	l, err := audit.Open(filepath.Join(dir, name), id.Signer(), audit.Options{Actor: string(id.PeerID()), Role: role,
		Federation: fedID, Now: clock.Now})
	if err != nil {
		t.Error(err) // called from the parties' goroutines: no Fatal
		return nil
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func (c netConfig) federation(t *testing.T, trains []*data.Dataset, nodes []transport.PeerID) engine.Federation {
	spec := model.Spec{Kind: "logistic"}
	if trains[0].Classes > 2 {
		spec.Kind = "softmax"
	}
	return engine.Federation{ID: c.federationID(), Nodes: nodes, Threshold: c.threshold, MinParticipants: c.minPart,
		Protocol: c.protocol, Rounds: c.rnds, Model: spec, Features: trains[0].Features, Classes: trains[0].Classes,
		DP: c.dp, Standardize: true, MHEInsecureTestParams: true}
}

func runNetwork(t *testing.T, c netConfig) netRun {
	t.Helper()
	logger := c.logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	wrap := c.wrap
	if wrap == nil {
		wrap = func(tr transport.Transport) transport.Transport { return tr }
	}
	metrics := func(role string) *Metrics {
		if c.metrics == nil {
			return nil
		}
		return c.metrics(role)
	}
	trains, tests := netFixture(t, c.dataset, c.nodes, 1)
	if c.data != nil {
		c.data(trains, tests)
	}
	out := netRun{nodes: make([]*model.File, c.nodes), errs: make([]error, c.nodes), coordID: testIdentity(t, 99), models: map[int]string{}}
	var nodes []transport.PeerID
	for i := range c.nodes {
		out.ids = append(out.ids, testIdentity(t, byte(i+1)))
		nodes = append(nodes, out.ids[i].PeerID())
	}
	fed := c.federation(t, trains, nodes)
	types, err := engine.MessageTypes(1<<16, 16)
	if err != nil {
		t.Fatal(err)
	}
	net, err := mem.New(mem.Config{FederationID: c.federationID(), Types: types, Seed: 1, Link: c.link})
	if err != nil {
		t.Fatal(err)
	}
	out.net = net
	coordPeer := out.coordID.PeerID()
	ce, err := net.Join(coordPeer)
	if err != nil {
		t.Fatal(err)
	}
	eps := make([]*mem.Endpoint, c.nodes)
	for i := range c.nodes {
		if eps[i], err = net.Join(nodes[i]); err != nil {
			t.Fatal(err)
		}
	}
	epoch := time.Unix(1_700_000_000, 0).UTC()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var wg sync.WaitGroup
	for i := range c.nodes {
		wg.Go(func() {
			ep := eps[i]
			defer func() { ep.Close() }()
			for life := 0; ; life++ {
				clock := VirtualClock{Net: net, Endpoint: ep, Epoch: epoch}
				dir := ""
				if c.nodeState != nil {
					dir = c.nodeState(i)
				}
				st, key, err := LoadNodeFiles(dir)
				if err != nil {
					out.errs[i] = err
					t.Errorf("node %d: %v", i, err)
					cancel()
					return
				}
				nd, err := engine.NewNode(engine.NodeConfig{Federation: fed, Self: nodes[i], Coordinator: coordPeer,
					Signer: out.ids[i].Signer(), Train: trains[i], Test: tests[i], Seed: uint64(i),
					Rand: rand.NewChaCha8([32]byte{byte(i), byte(life)}), Policy: c.policyOf(i), State: st, MHEKey: key,
					Logger: logger})
				if err != nil {
					out.errs[i] = err
					t.Errorf("node %d: %v", i, err)
					cancel()
					return
				}
				crashed := false
				io := NodeIO{Clock: clock, StateDir: dir, Logger: logger, Metrics: metrics("node"),
					Audit: openAudit(t, c.auditDir, fmt.Sprintf("node-%d.log", i)+suffix(life), c.federationID(), out.ids[i], "node", clock)}
				if c.kill != nil && life == 0 {
					io.Filter = func(in *transport.Incoming, m *transport.Message) bool {
						if crashed {
							return false
						}
						if m != nil && c.kill(i, m.Round, m.Type) {
							crashed = true // this message still leaves
						}
						return true
					}
				}
				out.nodes[i], out.errs[i] = RunNode(ctx, nd, wrap(crashable{ep, &crashed, nil}), coordPeer, io)
				if out.errs[i] != nil && !errors.Is(out.errs[i], errCrash) && ctx.Err() == nil {
					t.Errorf("node %d: %v", i, out.errs[i])
					cancel() // the coordinator would wait for it for ever
				}
				if !errors.Is(out.errs[i], errCrash) || !c.restart || life > 0 {
					return
				}
				if ep = rejoin(t, net, ep, nodes[i]+"-hold"); ep == nil {
					return
				}
			}
		})
	}
	resume := (*model.File)(nil)
	if c.resumeFrom != "" {
		if resume, err = LoadCheckpoint(c.resumeFrom); err != nil || resume == nil {
			t.Fatalf("checkpoint in %s: %v, %v", c.resumeFrom, resume, err)
		}
	}
	for life := 0; ; life++ {
		clock := VirtualClock{Net: net, Endpoint: ce, Epoch: epoch}
		coord, err := engine.NewCoordinator(engine.CoordinatorConfig{Federation: fed, Seed: 1, Resume: resume,
			StepTimeout: 2 * time.Second, Logger: logger})
		if err != nil {
			t.Fatal(err)
		}
		crashed := false
		out.reported = nil
		onSend := c.crashOnSend
		if life > 0 {
			onSend = nil
		}
		out.coord, out.coordErr = RunCoordinator(ctx, coord, wrap(crashable{ce, &crashed, onSend}), CoordinatorIO{
			Clock: clock, StateDir: c.coordState, Logger: logger, Metrics: metrics("coordinator"), Linger: 10 * time.Second,
			Audit: openAudit(t, c.auditDir, "coordinator.log"+suffix(life), c.federationID(), out.coordID, "coordinator", clock),
			Progress: func(r *RoundReport) {
				out.reported = append(out.reported, *r)
				out.models[r.Round] = ParamsDigest(coord.Params())
				if life == 0 && r.Round == c.crashAfter {
					crashed = true
				}
			},
		})
		out.hist, out.aborted = coord.History(), coord.AbortedAttempts()
		if !errors.Is(out.coordErr, errCrash) || life > 0 {
			break
		}
		if resume, err = LoadCheckpoint(c.coordState); err != nil || resume == nil {
			t.Fatalf("checkpoint after the crash: %v, %v", resume, err)
		}
		out.resumed = resume
		if ce = rejoin(t, net, ce, "coordinator-hold"); ce == nil {
			break
		}
	}
	// The nodes have their final model (the coordinator lingered to resend a
	// lost one); any still waiting would wait in virtual time for ever.
	cancel()
	ce.Close()
	wg.Wait()
	return out
}

func (c netConfig) federationID() string {
	if c.fedID == "" {
		return netFederation
	}
	return c.fedID
}

func suffix(life int) string {
	if life == 0 {
		return ""
	}
	return fmt.Sprintf(".%d", life)
}

func (c netConfig) policyOf(i int) *policy.Policy {
	if c.policy == nil {
		return nil
	}
	return c.policy(i)
}

// contributionType is the message type of protocol p's protected update.
func contributionType(p string) string {
	for _, q := range engine.Protocols() {
		if q.Name == p {
			return q.Name + "/" + q.Contribution
		}
	}
	return ""
}
