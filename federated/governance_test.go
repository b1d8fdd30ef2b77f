package federated

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/consort-ml/consort/federated/audit"
	"github.com/consort-ml/consort/federated/data"
	"github.com/consort-ml/consort/federated/policy"
	"github.com/consort-ml/consort/federated/privacy"
	"github.com/consort-ml/consort/federated/trainpb"
	"github.com/consort-ml/consort/transport"
)

// refuseTraining is a policy that refuses every training round.
func refuseTraining(rs *trainpb.RoundStart) error {
	if rs.Phase == trainpb.Phase_PHASE_TRAIN {
		return &policy.RefusalError{Reason: policy.ReasonEpsilon, Detail: "the node's epsilon budget is spent"}
	}
	return nil
}

func TestNetworkRefusingNodeLeavesEnough(t *testing.T) {
	dir := t.TempDir()
	r := runNetworkOpts(t, "secagg", "wine", 3, 2, 2, 3, netOpts{auditDir: dir,
		policy: func(i int) func(*trainpb.RoundStart) error {
			if i == 0 {
				return refuseTraining
			}
			return nil
		}})
	if r.coordE != nil {
		t.Fatal(r.coordE)
	}
	for _, h := range r.hist {
		if h.Contributors != 2 || h.Aborted {
			t.Errorf("round %+v: want 2 contributors (one node refuses)", h)
		}
	}
	rep, err := audit.VerifyFile(filepath.Join(dir, "coordinator.log"), nil)
	if err != nil {
		t.Fatal(err)
	}
	refusals := 0
	for _, e := range rep.Entries {
		if e.Kind == audit.KindRefusal && e.Reason == string(policy.ReasonEpsilon) {
			refusals++
		}
	}
	if refusals != 3 {
		t.Errorf("coordinator logged %d refusals, want 3 (one per round)", refusals)
	}
}

func TestNetworkEveryNodeRefusingStops(t *testing.T) {
	r := runNetworkOpts(t, "plain", "wine", 3, 3, 2, 3, netOpts{
		policy: func(int) func(*trainpb.RoundStart) error { return refuseTraining }})
	if !errors.Is(r.coordE, ErrRefused) {
		t.Fatalf("want ErrRefused after repeated refusals, got %v", r.coordE)
	}
}

// recorder keeps a copy of every payload a transport sends.
type recorder struct {
	transport.Transport
	mu   *sync.Mutex
	sent *[][]byte
}

func (r recorder) Send(ctx context.Context, to transport.PeerID, m transport.Message) error {
	r.mu.Lock()
	*r.sent = append(*r.sent, append([]byte(m.Type+"|"), m.Payload...))
	r.mu.Unlock()
	return r.Transport.Send(ctx, to, m)
}

// TestDataMinimisation plants distinctive values in a team's data and checks
// that none of them appears in the clear in any wire message, log line,
// audit entry or metric of a secure run; and that a column the federation
// does not declare is not even read.
func TestDataMinimisation(t *testing.T) {
	const marker = float32(987654.25)
	// A CSV with a column the manifest does not declare: only declared
	// columns are read.
	csvPath := filepath.Join(t.TempDir(), "team.csv")
	if err := os.WriteFile(csvPath, []byte("a,notes,label\n1,ZEBRA-7731,x\n2,ZEBRA-7732,y\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ds, err := data.LoadCSV(csvPath, data.LoadOptions{Label: "label", Columns: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Features != 1 || strings.Join(ds.FeatureNames, ",") != "a" {
		t.Fatalf("loaded columns %v", ds.FeatureNames)
	}

	var (
		mu   sync.Mutex
		sent [][]byte
		logs bytes.Buffer
		regs []*Metrics
	)
	dir := t.TempDir()
	r := runNetworkOpts(t, "secagg", "wine", 3, 3, 2, 2, netOpts{
		auditDir: dir,
		logger:   slog.New(slog.NewJSONHandler(&syncWriter{w: &logs, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		wrap:     func(tr transport.Transport) transport.Transport { return recorder{tr, &mu, &sent} },
		metrics: func() *Metrics {
			m := NewMetrics("test")
			mu.Lock()
			regs = append(regs, m)
			mu.Unlock()
			return m
		},
		data: func(trains, tests []*data.Dataset) {
			for i := range 5 {
				trains[0].X[i*trains[0].Features] = marker
			}
		},
	})
	if r.coordE != nil {
		t.Fatal(r.coordE)
	}
	var f32, f64 [8]byte
	binary.LittleEndian.PutUint32(f32[:], math.Float32bits(marker))
	binary.LittleEndian.PutUint64(f64[:], math.Float64bits(float64(marker)))
	needles := [][]byte{f32[:4], f64[:], []byte("987654"), []byte("ZEBRA")}
	check := func(what string, hay []byte) {
		for _, n := range needles {
			if bytes.Contains(hay, n) {
				t.Errorf("%s contains a planted data value (%q)", what, n)
			}
		}
	}
	if len(sent) < 20 {
		t.Fatalf("recorded only %d messages", len(sent))
	}
	for _, m := range sent {
		check("a wire message "+string(m[:bytes.IndexByte(m, '|')]), m)
	}
	check("the logs", logs.Bytes())
	entries, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil || len(entries) != 4 {
		t.Fatalf("audit logs %v %v", entries, err)
	}
	for _, p := range entries {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		check(p, b)
	}
	for _, m := range regs {
		mfs, err := m.Registry.Gather()
		if err != nil || len(mfs) == 0 {
			t.Fatalf("metrics: %d families, %v", len(mfs), err)
		}
		for _, mf := range mfs {
			check("metric "+mf.GetName(), []byte(mf.String()))
		}
	}
}

type syncWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func TestNetworkSecAggSkellamDP(t *testing.T) {
	r := runNetworkOpts(t, "secagg", "wine", 3, 3, 2, 3, netOpts{dp: DPConfig{Clip: 1, NoiseMultiplier: 0.3, Delta: 1e-5}})
	if r.coordE != nil {
		t.Fatal(r.coordE)
	}
	if len(r.hist) != 3 || !(r.hist[2].Epsilon > r.hist[0].Epsilon) || r.hist[0].Epsilon <= 0 {
		t.Fatalf("history %+v", r.hist)
	}
	// The nodes' noise comes from crypto/rand, so accuracy varies run to
	// run; the model must still have been evaluated by the contributors.
	if r.hist[2].Accuracy < 0 || r.hist[2].Contributors != 3 {
		t.Errorf("last round %+v", r.hist[2])
	}
	rs := &trainpb.RoundStart{Protocol: "secagg", Participants: []string{"a", "b", "c"}, Threshold: 2, Bound: 4}
	m, err := NodeDPMechanism(DPConfig{Clip: 1, NoiseMultiplier: 1}, rs)
	if err != nil || m.Noise != privacy.Skellam || m.FracBits == 0 {
		t.Fatalf("secagg mechanism %+v, %v", m, err)
	}
	rs.Protocol = "mhe"
	if m, err := NodeDPMechanism(DPConfig{Clip: 1, NoiseMultiplier: 1}, rs); err != nil || m.Noise != privacy.Gaussian {
		t.Fatalf("mhe mechanism %+v, %v", m, err)
	}
}
