package engine

import (
	"context"
	"crypto/ed25519"
	"errors"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/consort-ml/consort/federated/audit"
	"github.com/consort-ml/consort/federated/data"
	"github.com/consort-ml/consort/federated/model"
	"github.com/consort-ml/consort/federated/trainer"
	"github.com/consort-ml/consort/federated/trainpb"
	"github.com/consort-ml/consort/transport"
	"github.com/consort-ml/consort/transport/identity"
	"google.golang.org/protobuf/proto"
)

// testIdentities returns n identities drawn from a seeded stream.
func testIdentities(t testing.TB, n int) []*identity.Identity {
	t.Helper()
	r := rand.NewChaCha8([32]byte{'i', 'd'})
	out := make([]*identity.Identity, n)
	for i := range out {
		id, err := identity.Generate(r)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = id
	}
	return out
}

func peers(ids []*identity.Identity) []transport.PeerID {
	out := make([]transport.PeerID, len(ids))
	for i, id := range ids {
		out[i] = id.PeerID()
	}
	return out
}

func pubkeys(ids []*identity.Identity) []ed25519.PublicKey {
	out := make([]ed25519.PublicKey, len(ids))
	for i, id := range ids {
		out[i] = id.PublicKey()
	}
	return out
}

func names(ps []transport.PeerID) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = string(p)
	}
	return out
}

// TestPlanLongFederationID: a federation id of 65-128 bytes passes the
// manifest and the transport; secagg binds at most 64 bytes, so the plan
// hashes it (the networked copy of the first release handed it unhashed to
// secagg and failed every attempt).
func TestPlanLongFederationID(t *testing.T) {
	ids := testIdentities(t, 3)
	fed := Federation{ID: strings.Repeat("f", 100), Nodes: peers(ids), Threshold: 2, Protocol: "secagg", Rounds: 1,
		Model: model.Spec{Kind: "logistic"}, Features: 2, Classes: 2}
	rs := &trainpb.RoundStart{Attempt: 1, Round: 1, Phase: trainpb.Phase_PHASE_TRAIN, Protocol: "secagg", Participants: names(peers(ids)),
		Threshold: 2, TotalExamples: 3, Dim: 3, Bound: DefaultBound}
	pl, err := NewPlan(fed, 3, rs, pubkeys(ids))
	if err != nil {
		t.Fatal(err)
	}
	if len(pl.Binding) != 32 || pl.SecAgg.FederationID != pl.Binding || pl.Federation != fed.ID {
		t.Fatalf("binding %q (%d bytes), secagg id %q", pl.Binding, len(pl.Binding), pl.SecAgg.FederationID)
	}
	if _, err := newServer(pl, secrets{}); err != nil {
		t.Fatalf("secagg server for a 100-byte federation id: %v", err)
	}
}

// TestPlanShareThresholdNeverBelowFederation: with a sparse SecAgg+ graph
// the share threshold and the fewest survivors never drop below the
// federation's threshold (the first release fixed this in the network copy
// only; the simulation's let a sparse graph lower it).
func TestPlanShareThresholdNeverBelowFederation(t *testing.T) {
	for _, tc := range []struct{ n, threshold int }{{50, 30}, {50, 17}, {100, 51}, {60, 59}} {
		ids := testIdentities(t, tc.n)
		cfg, err := secaggConfig("f", 1, tc.n, tc.threshold, 10, 32, pubkeys(ids))
		if err != nil {
			t.Fatalf("n=%d t=%d: %v", tc.n, tc.threshold, err)
		}
		if cfg.Threshold < tc.threshold || cfg.MinSurvivors < tc.threshold {
			t.Errorf("n=%d T=%d: share threshold %d, min survivors %d", tc.n, tc.threshold, cfg.Threshold, cfg.MinSurvivors)
		}
		if cfg.Degree != 0 && cfg.Degree+1 < cfg.Threshold {
			t.Errorf("n=%d T=%d: degree %d cannot hold %d shares", tc.n, tc.threshold, cfg.Degree, cfg.Threshold)
		}
	}
}

// TestPlanRefusesWhatTheFederationDoesNotAllow: a node derives the plan
// itself and refuses a RoundStart that contradicts its manifest.
func TestPlanRefusesWhatTheFederationDoesNotAllow(t *testing.T) {
	ids := testIdentities(t, 4)
	fed := Federation{ID: "f", Nodes: peers(ids), Threshold: 3, MinParticipants: 3, Protocols: []string{"secagg"}, Protocol: "secagg", Rounds: 5,
		Model: model.Spec{Kind: "logistic"}, Features: 2, Classes: 2}
	good := func() *trainpb.RoundStart {
		return &trainpb.RoundStart{Attempt: 1, Round: 1, Phase: trainpb.Phase_PHASE_TRAIN, Protocol: "secagg", Participants: names(peers(ids)),
			Threshold: 3, TotalExamples: 8, Dim: 3, Bound: DefaultBound}
	}
	if _, err := NewPlan(fed, 3, good(), pubkeys(ids)); err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(*trainpb.RoundStart){
		"lower threshold":           func(rs *trainpb.RoundStart) { rs.Threshold = 2 },
		"plain":                     func(rs *trainpb.RoundStart) { rs.Protocol = "plain" },
		"too few participants":      func(rs *trainpb.RoundStart) { rs.Participants = rs.Participants[:2] },
		"a stranger":                func(rs *trainpb.RoundStart) { rs.Participants[0] = "stranger" },
		"listed twice":              func(rs *trainpb.RoundStart) { rs.Participants[1] = rs.Participants[0] },
		"round beyond the rounds":   func(rs *trainpb.RoundStart) { rs.Round = 6 },
		"forged dimension":          func(rs *trainpb.RoundStart) { rs.Dim = 1 << 30 },
		"wider bound":               func(rs *trainpb.RoundStart) { rs.Bound = 1e6 },
		"statistics not declared":   func(rs *trainpb.RoundStart) { rs.Phase = trainpb.Phase_PHASE_STATS_MEAN; rs.Dim = 2 },
		"setup of another protocol": func(rs *trainpb.RoundStart) { rs.Phase = trainpb.Phase_PHASE_MHE_SETUP },
	} {
		rs := good()
		edit(rs)
		k := pubkeys(ids)[:len(rs.Participants)]
		if _, err := NewPlan(fed, 3, rs, k); !errors.Is(err, ErrPlan) {
			t.Errorf("%s: %v, want ErrPlan", name, err)
		}
	}
}

func TestSplitStatsSumsExactly(t *testing.T) {
	parties := [][]float32{
		{0.0001234, -3.5, 123456.78, 1e-7, 0},
		{0.0002, 2.25, 654321.5, -1e-7, 1048575},
		{1e-5, -0.125, 0.5, 3e-7, -1048575},
	}
	sum := make([]float32, 10)
	want := make([]float64, 5)
	for _, p := range parties {
		for j, v := range splitStats(p) {
			sum[j] += v
		}
		for j, v := range p {
			want[j] += float64(v)
		}
	}
	for j, got := range joinStats(sum) {
		if math.Abs(got-want[j]) > 3*math.Ldexp(1, -statsSplitBits) {
			t.Errorf("feature %d: %v, want %v", j, got, want[j])
		}
	}
	for _, v := range splitStats([]float32{-2e6, 2e6, -0.3}) {
		if v != float32(math.Trunc(float64(v))) || math.Abs(float64(v)) > 1<<statsSplitBits {
			t.Errorf("part %v is not an integer within the bound", v)
		}
	}
}

// pureRun drives a coordinator and its nodes by hand: no transport, no
// goroutine, no clock but the one the test advances. It is what every
// driver does, reduced to its essence, and shows the machines are pure.
type pureRun struct {
	c       *Coordinator
	nodes   map[transport.PeerID]*Node
	now     time.Time
	audit   []audit.Entry // the coordinator's
	final   bool
	err     error
	reports []RoundReport
	times   []time.Time // when each report came
	// drop, if set, loses a message (from, to, type).
	drop func(from, to transport.PeerID, typ string) bool
	// until, if set, stops the run when it returns true.
	until func() bool
}

type flight struct {
	from, to transport.PeerID
	msg      transport.Message
}

func (r *pureRun) run(t *testing.T, maxSteps int) {
	t.Helper()
	const coord = transport.PeerID("coordinator")
	var q []flight
	collect := func() {
		rd := r.c.Ready()
		r.audit = append(r.audit, rd.Audit...)
		r.reports = append(r.reports, rd.Reports...)
		for range rd.Reports {
			r.times = append(r.times, r.now)
		}
		for _, e := range rd.Messages {
			q = append(q, flight{coord, e.To, e.Msg})
		}
		if rd.Final != nil {
			r.final = true
		}
		if rd.Err != nil {
			r.err = rd.Err
		}
		for _, id := range sortedKeys(r.nodes) {
			nrd := r.nodes[id].Ready()
			if nrd.Err != nil {
				t.Fatalf("node %s: %v", id, nrd.Err)
			}
			for _, m := range nrd.Messages {
				q = append(q, flight{id, coord, m})
			}
		}
	}
	r.c.Start(r.now)
	for _, id := range sortedKeys(r.nodes) {
		r.nodes[id].Tick(r.now)
	}
	collect()
	for step := 0; step < maxSteps && !r.final && r.err == nil && (r.until == nil || !r.until()); step++ {
		if len(q) == 0 {
			// Nothing in flight: time passes to the next deadline.
			next := r.c.Deadline()
			for _, n := range r.nodes {
				if d := n.Deadline(); next.IsZero() || d.Before(next) {
					next = d
				}
			}
			r.now = next
			r.c.Tick(r.now)
			for _, id := range sortedKeys(r.nodes) {
				r.nodes[id].Tick(r.now)
			}
			collect()
			continue
		}
		f := q[0]
		q = q[1:]
		if r.drop != nil && r.drop(f.from, f.to, f.msg.Type) {
			continue
		}
		in := transport.Incoming{From: f.from, Message: f.msg}
		if f.to == coord {
			r.c.Step(r.now, in)
		} else if n := r.nodes[f.to]; n != nil {
			n.Step(r.now, in)
		}
		collect()
	}
}

func sortedKeys[V any](m map[transport.PeerID]V) []transport.PeerID {
	return slices.Sorted(maps.Keys(m))
}

// pureFederation builds a coordinator and n nodes on the breast-cancer set.
func pureFederation(t *testing.T, protocol string, n, threshold, rounds int, dp DPConfig, edit ...func(*Federation)) *pureRun {
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
	ids := testIdentities(t, n)
	fed := Federation{ID: "pure", Nodes: peers(ids), Threshold: threshold, Protocol: protocol, Rounds: rounds,
		Model: model.Spec{Kind: "logistic"}, Features: ds.Features, Classes: 2, DP: dp, MHEInsecureTestParams: true}
	for _, e := range edit {
		e(&fed)
	}
	c, err := NewCoordinator(CoordinatorConfig{Federation: fed, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	r := &pureRun{c: c, nodes: map[transport.PeerID]*Node{}, now: time.Unix(1000, 0)}
	for i, id := range ids {
		nd, err := NewNode(NodeConfig{Federation: fed, Self: id.PeerID(), Coordinator: "coordinator", Signer: id.Signer(),
			Train: ds.Subset(parts[i]), Seed: uint64(i), Rand: rand.NewChaCha8([32]byte{byte(i)})})
		if err != nil {
			t.Fatal(err)
		}
		r.nodes[id.PeerID()] = nd
	}
	return r
}

// TestPureEngine runs whole federations by hand for every protocol: the
// coordinator releases every round and its model matches across repeats.
func TestPureEngine(t *testing.T) {
	for _, protocol := range ProtocolNames() {
		t.Run(protocol, func(t *testing.T) {
			var digests []string
			for range 2 {
				r := pureFederation(t, protocol, 3, 2, 3, DPConfig{})
				r.run(t, 100000)
				if r.err != nil || !r.final {
					t.Fatalf("err %v, final %v", r.err, r.final)
				}
				if len(r.reports) != 3 || r.reports[2].Contributors != 3 {
					t.Fatalf("reports %+v", r.reports)
				}
				digests = append(digests, audit.Digest(f32bytes(r.c.Params())))
			}
			if digests[0] != digests[1] {
				t.Fatalf("two runs with the same seeds gave models %s and %s", digests[0], digests[1])
			}
		})
	}
}

// TestDPDeltaDefaultInAudit: a federation with a clip and no delta accounts
// at the default delta and says so in its audit entries (the first release
// applied the default to a copy and logged delta 0).
func TestDPDeltaDefaultInAudit(t *testing.T) {
	r := pureFederation(t, "secagg", 3, 2, 2, DPConfig{Clip: 1, NoiseMultiplier: 1})
	r.run(t, 100000)
	if r.err != nil || !r.final {
		t.Fatalf("err %v, final %v", r.err, r.final)
	}
	n := 0
	for _, e := range r.audit {
		if e.Kind == audit.KindEpsilon {
			n++
			if e.Delta != DefaultDelta || !(e.Epsilon > 0) {
				t.Errorf("epsilon entry %+v, want delta %g", e, DefaultDelta)
			}
		}
	}
	if n != 2 {
		t.Fatalf("%d epsilon entries, want 2", n)
	}
}

// TestNodeRefusesRepeatAfterReveal: once a node revealed its contribution
// to a round, it never contributes to that round again, whatever attempt
// number the coordinator uses; the coordinator then gives the round up
// rather than loop.
func TestNodeRefusesRepeatAfterReveal(t *testing.T) {
	r := pureFederation(t, "secagg", 3, 2, 1, DPConfig{})
	// Drive one full round, then hand a node the same round again under a
	// new attempt number.
	r.run(t, 100000)
	if !r.final {
		t.Fatal("federation did not finish")
	}
	var nd *Node
	var self transport.PeerID
	for id, n := range r.nodes {
		nd, self = n, id
		break
	}
	rs := &trainpb.RoundStart{Attempt: 99, Round: 1, Phase: trainpb.Phase_PHASE_TRAIN, Protocol: "secagg",
		Participants: names(sortedKeys(r.nodes)), Threshold: 2, TotalExamples: 1 << 20, Dim: 31, Bound: DefaultBound,
		Params: f32bytes(make([]float32, 31))}
	b, _ := proto.Marshal(rs)
	nd.Step(r.now, transport.Incoming{From: "coordinator", Message: transport.Message{Type: typeRoundStart, Round: 99, Payload: b}})
	rd := nd.Ready()
	if len(rd.Messages) != 1 || rd.Messages[0].Type != typeRefusal {
		t.Fatalf("node %s answered a repeated round with %d messages", self, len(rd.Messages))
	}
	var rf trainpb.Refusal
	if err := proto.Unmarshal(rd.Messages[0].Payload, &rf); err != nil || rf.Code != string(RefuseRepeat) {
		t.Fatalf("refusal %v, %v; want code repeat", &rf, err)
	}
}

// FuzzNodeRoundStart feeds arbitrary RoundStart payloads from the
// coordinator to a node: it must refuse or start a session, never panic, and
// never contribute to an attempt whose parameters do not fit its manifest.
func FuzzNodeRoundStart(f *testing.F) {
	ids := testIdentities(f, 2)
	ds := &data.Dataset{Name: "t", Features: 2, Classes: 2, X: []float32{0, 1, 1, 0, 1, 1, 0, 0}, Y: []int{0, 1, 1, 0}, ClassNames: []string{"0", "1"}}
	fed := Federation{ID: "f", Nodes: peers(ids), Threshold: 2, Protocols: []string{"plain", "secagg"}, Protocol: "plain", Rounds: 3,
		Model: model.Spec{Kind: "logistic"}, Features: 2, Classes: 2, Standardize: true}
	valid := &trainpb.RoundStart{Attempt: 1, Round: 1, Phase: trainpb.Phase_PHASE_TRAIN, Protocol: "plain",
		Participants: names(peers(ids)), Threshold: 2, TotalExamples: 8, Bound: 4, Dim: 3, Params: f32bytes([]float32{0, 0, 0})}
	for _, rs := range []*trainpb.RoundStart{valid,
		{Attempt: 2, Phase: trainpb.Phase_PHASE_STATS_MEAN, Protocol: "plain", Participants: names(peers(ids)), Threshold: 2, TotalExamples: 8, Bound: statsBound, Dim: 2},
		{Attempt: 3, Phase: trainpb.Phase_PHASE_STATS_VAR, Protocol: "secagg", Participants: names(peers(ids)), Threshold: 2, TotalExamples: 8, Bound: statsBound, Dim: 2, Mean: f32bytes([]float32{1, 2})},
		{Attempt: 4, Phase: trainpb.Phase_PHASE_TRAIN, Protocol: "secagg", Participants: names(peers(ids)), Threshold: 2, TotalExamples: 1, Bound: 4, Dim: 1 << 30},
	} {
		b, err := proto.Marshal(rs)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var rs trainpb.RoundStart
		if proto.Unmarshal(b, &rs) != nil {
			return
		}
		n, err := NewNode(NodeConfig{Federation: fed, Self: ids[0].PeerID(), Coordinator: "c", Signer: ids[0].Signer(), Train: ds, Rand: rand.NewChaCha8([32]byte{})})
		if err != nil {
			t.Fatal(err)
		}
		n.Step(time.Unix(0, 0), transport.Incoming{From: "c", Message: transport.Message{Type: typeRoundStart, Round: rs.Attempt, Payload: b}})
		rd := n.Ready()
		for _, m := range rd.Messages {
			if m.Type == typeRefusal {
				continue
			}
			if rs.Phase == trainpb.Phase_PHASE_TRAIN && rs.Dim != 3 {
				t.Fatalf("contributed to %v", &rs)
			}
		}
	})
}

// TestRelabelledReleasesRefused: a coordinator that relabels releases gets
// nothing more. After a federation released its statistics and round 1, every
// node refuses the statistics again under a new round label, round 2 on the
// model round 1 was computed on (the differencing pair), and round 1 again on
// another model; each refusal is typed and audited.
func TestRelabelledReleasesRefused(t *testing.T) {
	r := pureFederation(t, "secagg", 3, 2, 1, DPConfig{}, func(f *Federation) { f.Standardize = true; f.Rounds = 3 })
	r.until = func() bool { return len(r.reports) == 1 } // round 1 released, rounds 2 and 3 to come
	r.run(t, 200000)
	if r.err != nil || len(r.reports) != 1 {
		t.Fatalf("err %v, %d rounds", r.err, len(r.reports))
	}
	ps := sortedKeys(r.nodes)
	params := func(v float32) []byte {
		p := make([]float32, 31)
		for i := range p {
			p[i] = v
		}
		return f32bytes(p)
	}
	// The model round 1 was computed on is the coordinator's initial one.
	c0, err := NewCoordinator(CoordinatorConfig{Federation: r.c.fed, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	round1Model := f32bytes(c0.Params())
	ck := r.c.ModelFile()
	for name, rs := range map[string]*trainpb.RoundStart{
		"statistics relabelled as round 1": {Round: 1, Phase: trainpb.Phase_PHASE_STATS_MEAN, Dim: 30, Bound: statsBound},
		"round 2 on round 1's model":       {Round: 2, Phase: trainpb.Phase_PHASE_TRAIN, Dim: 31, Bound: DefaultBound, Params: round1Model, Mean: f32bytes(ck.Mean), Std: f32bytes(ck.Std)},
		"round 1 on another model":         {Round: 1, Phase: trainpb.Phase_PHASE_TRAIN, Dim: 31, Bound: DefaultBound, Params: params(0.5), Mean: f32bytes(ck.Mean), Std: f32bytes(ck.Std)},
	} {
		rs.Attempt, rs.Protocol, rs.Participants, rs.Threshold, rs.TotalExamples = 1000, "secagg", names(ps), 2, 1<<20
		b, _ := proto.Marshal(rs)
		for _, p := range ps {
			nd := r.nodes[p]
			nd.attempt = 0 // a fresh attempt number for each case
			nd.Step(r.now, transport.Incoming{From: "coordinator", Message: transport.Message{Type: typeRoundStart, Round: 1000, Payload: b}})
			rd := nd.Ready()
			var rf trainpb.Refusal
			if len(rd.Messages) != 1 || rd.Messages[0].Type != typeRefusal || proto.Unmarshal(rd.Messages[0].Payload, &rf) != nil || rf.Code != string(RefuseRepeat) {
				t.Errorf("%s: node answered %d messages (%v), want one repeat refusal", name, len(rd.Messages), &rf)
				continue
			}
			audited := false
			for _, e := range rd.Audit {
				audited = audited || (e.Kind == audit.KindRefusal && e.Reason == string(RefuseRepeat))
			}
			if !audited {
				t.Errorf("%s: refusal not in the node's audit entries", name)
			}
		}
	}
}

// TestSilentMemberBackedOff: a member that says hello and never sends its
// protocol messages makes its first attempts wait for the step deadline; once
// backed off it no longer slows rounds beyond the grace period.
func TestSilentMemberBackedOff(t *testing.T) {
	r := pureFederation(t, "secagg", 3, 2, 8, DPConfig{})
	silent := sortedKeys(r.nodes)[0]
	r.drop = func(from, to transport.PeerID, typ string) bool {
		return from == silent && strings.HasPrefix(typ, "secagg/")
	}
	start := r.now
	r.run(t, 1000000)
	if r.err != nil || !r.final || len(r.reports) != 8 {
		t.Fatalf("err %v, final %v, %d reports", r.err, r.final, len(r.reports))
	}
	var gaps []time.Duration
	prev := start
	for _, at := range r.times {
		gaps = append(gaps, at.Sub(prev))
		prev = at
	}
	t.Logf("time per round: %v", gaps)
	for i, g := range gaps {
		switch {
		case i < backoffAfter && g < DefaultStepTimeout:
			t.Errorf("round %d took %v: the silent member should have cost a step deadline", i+1, g)
		case i >= backoffAfter && g > DefaultGrace+time.Second:
			t.Errorf("round %d took %v after the back-off, want at most the grace period %v", i+1, g, DefaultGrace)
		}
	}
	if r.c.BackedOff(r.now) != 1 {
		t.Errorf("%d nodes backed off, want 1", r.c.BackedOff(r.now))
	}
}

// forgetful is a team's trainer that "forgets" DP and returns a wildly
// overfitted model: +1000 on every parameter.
type forgetful struct{ layout []trainer.TensorSpec }

func (f forgetful) Layout() []trainer.TensorSpec { return f.layout }
func (f forgetful) Train(_ context.Context, r trainer.Round) (trainer.Tensors, trainer.Metrics, error) {
	out := slices.Clone(r.Global.Data)
	for i := range out {
		out[i] += 1000
	}
	return trainer.Tensors{Layout: f.layout, Data: out}, trainer.Metrics{Examples: 10}, nil
}
func (f forgetful) Evaluate(context.Context, trainer.Tensors) (trainer.Metrics, error) {
	return trainer.Metrics{}, nil
}
func (forgetful) Close() error { return nil }

// TestTrainerCannotSkipDP: whatever the trainer returns, the node clips the
// update to the manifest's bound and adds its noise share before it leaves.
func TestTrainerCannotSkipDP(t *testing.T) {
	ids := testIdentities(t, 3)
	ds := &data.Dataset{Name: "t", Features: 30, Classes: 2, X: make([]float32, 300), Y: make([]int, 10), ClassNames: []string{"0", "1"}}
	const clip, z = 1.0, 1.0
	fed := Federation{ID: "dp", Nodes: peers(ids), Threshold: 2, Protocol: "plain", Rounds: 1,
		Model: model.Spec{Kind: "logistic"}, Features: 30, Classes: 2, DP: DPConfig{Clip: clip, NoiseMultiplier: z}}
	g, _ := model.New(fed.Model, 30, 2, 0)
	nd, err := NewNode(NodeConfig{Federation: fed, Self: ids[0].PeerID(), Coordinator: "c", Signer: ids[0].Signer(), Train: ds,
		Trainer: forgetful{model.Layout(g)}, Rand: rand.NewChaCha8([32]byte{7})})
	if err != nil {
		t.Fatal(err)
	}
	bound := fed.Resolved().phaseBound(trainpb.Phase_PHASE_TRAIN, "plain")
	rs := &trainpb.RoundStart{Attempt: 1, Round: 1, Phase: trainpb.Phase_PHASE_TRAIN, Protocol: "plain", Participants: names(peers(ids)),
		Threshold: 2, TotalExamples: 30, Dim: 31, Bound: bound, Params: f32bytes(make([]float32, 31))}
	b, _ := proto.Marshal(rs)
	nd.Step(time.Unix(0, 0), transport.Incoming{From: "c", Message: transport.Message{Type: typeRoundStart, Round: 1, Payload: b}})
	rd := nd.Ready()
	if len(rd.Messages) != 1 || rd.Messages[0].Type != "plain/update" {
		t.Fatalf("node sent %v", rd.Messages)
	}
	p := rd.Messages[0].Payload
	u, err := bytesF32(p[len(p)-4*31:], 31)
	if err != nil {
		t.Fatal(err)
	}
	var norm2 float64
	for _, v := range u {
		norm2 += float64(v) * float64(v)
	}
	// Clipped to 1, plus noise of std z*C/sqrt(t) per coordinate: the
	// squared norm is about 1 + 31 * 0.5 = 16.5, nowhere near 31 * 10^6.
	sigma := z * clip / math.Sqrt(2)
	want := clip*clip + 31*sigma*sigma
	if norm2 > 3*want || norm2 < want/3 {
		t.Fatalf("squared norm of the contribution %.1f, want about %.1f (clip %g plus noise)", norm2, want, clip)
	}
}

// TestMHESilentVerifierBackedOff: a member that uploads and then stays
// silent at mhe's verification step aborts the attempts it takes part in
// (no decryption happens, so nothing is revealed) until it is backed off;
// the federation then goes on without it.
func TestMHESilentVerifierBackedOff(t *testing.T) {
	r := pureFederation(t, "mhe", 3, 2, 3, DPConfig{})
	silent := sortedKeys(r.nodes)[1]
	r.drop = func(from, to transport.PeerID, typ string) bool {
		return from == silent && typ == "mhe/challenge"
	}
	r.run(t, 1000000)
	if r.err != nil || !r.final || len(r.reports) != 3 {
		t.Fatalf("err %v, final %v, %d reports", r.err, r.final, len(r.reports))
	}
	if r.c.AbortedAttempts() != backoffAfter {
		t.Errorf("%d attempts aborted, want %d (until the back-off)", r.c.AbortedAttempts(), backoffAfter)
	}
	for _, rep := range r.reports {
		if rep.Contributors != 2 {
			t.Errorf("round %d: %d contributors, want the 2 others", rep.Round, rep.Contributors)
		}
	}
}
