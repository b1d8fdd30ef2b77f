package federated

import (
	"crypto/ed25519"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/consort-ml/consort/federated/audit"
	"github.com/consort-ml/consort/federated/model"
	"github.com/consort-ml/consort/transport"
)

func TestNetworkPlainTrains(t *testing.T) {
	r := runNetwork(t, netConfig{protocol: "plain", dataset: "breast-cancer", nodes: 3, minPart: 3, threshold: 3, rnds: 5})
	if r.coordErr != nil {
		t.Fatal(r.coordErr)
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
		if !model.ParamsEqual(m.Params, r.coord.Params) || m.Round != 5 {
			t.Errorf("node %d holds another final model", i)
		}
		if len(m.Mean) != 30 || len(m.Std) != 30 || math.IsNaN(float64(m.Std[0])) || !(m.Std[0] > 0) {
			t.Errorf("node %d: standardisation missing", i)
		}
	}
	t.Logf("accuracy %.4f, digest %s", last.Accuracy, ParamsDigest(r.coord.Params))
}

// maxDiff returns the largest coordinate difference of two models.
func maxDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

// TestNetworkProtocolsMatchPlain: over the network, secagg and mhe release
// the same sums as plain up to their fixed-point rounding (measured: at most
// 1.3e-6 and 2.5e-6 per parameter after 4 rounds, so the digests differ),
// and the same accuracy.
func TestNetworkProtocolsMatchPlain(t *testing.T) {
	cfg := netConfig{protocol: "plain", dataset: "wine", nodes: 3, minPart: 3, threshold: 2, rnds: 4}
	plain := runNetwork(t, cfg)
	if plain.coordErr != nil {
		t.Fatal(plain.coordErr)
	}
	for _, p := range []string{"secagg", "mhe"} {
		cfg.protocol = p
		r := runNetwork(t, cfg)
		if r.coordErr != nil {
			t.Fatalf("%s: %v", p, r.coordErr)
		}
		if d := maxDiff(r.coord.Params, plain.coord.Params); d > 1e-4 {
			t.Errorf("%s: parameters differ from plain by up to %g", p, d)
		}
		last := r.hist[3]
		if math.Abs(last.Accuracy-plain.hist[3].Accuracy) > 0.02 || last.Contributors != 3 || last.Accuracy < 0.85 {
			t.Errorf("%s: last round %+v, plain %+v", p, last, plain.hist[3])
		}
		t.Logf("%s: accuracy %.4f (plain %.4f), max parameter difference %.3g", p, last.Accuracy, plain.hist[3].Accuracy,
			maxDiff(r.coord.Params, plain.coord.Params))
	}
}

// TestNetworkSurvivesKilledNode: node 2 dies right after it sent its
// protected update in the first training attempt; threshold 2 of 3 lets the
// protocol finish that round without it (secagg unmasks it, mhe decrypts
// with the two others), and the later rounds go on with 2.
func TestNetworkSurvivesKilledNode(t *testing.T) {
	for _, p := range []string{"secagg", "mhe"} {
		t.Run(p, func(t *testing.T) {
			// Attempts: (mhe key setup,) the two statistics, then training.
			first := uint64(3)
			if p == "mhe" {
				first = 4
			}
			killed := false
			r := runNetwork(t, netConfig{protocol: p, dataset: "wine", nodes: 3, minPart: 2, threshold: 2, rnds: 3,
				kill: func(i int, attempt uint64, typ string) bool {
					k := i == 1 && attempt == first && typ == contributionType(p)
					killed = killed || k
					return k
				}})
			if r.coordErr != nil {
				t.Fatal(r.coordErr)
			}
			if !killed || r.errs[1] == nil || r.nodes[1] != nil {
				t.Fatalf("node 2 was not killed: %v", r.errs[1])
			}
			// secagg: round 1 has node 2's update (it was sent; the others'
			// shares unmask it), the later rounds not. mhe: verified
			// decryption needs every contributor's fingerprint, so the
			// attempt that lost node 2 aborts and round 1 is retried with
			// the two others.
			wantAborted, wantAttempt, want := 0, first, []int{3, 2, 2}
			if p == "mhe" {
				wantAborted, wantAttempt, want = 1, first+1, []int{2, 2, 2}
			}
			if len(r.hist) != 3 || r.aborted != wantAborted || r.hist[0].Attempt != wantAttempt {
				t.Fatalf("history %+v, %d aborted", r.hist, r.aborted)
			}
			if c := contributors(r.hist); !slices.Equal(c, want) {
				t.Errorf("contributors %v, want %v", c, want)
			}
			if r.hist[2].Accuracy < 0.8 {
				t.Errorf("accuracy %.4f", r.hist[2].Accuracy)
			}
			for _, i := range []int{0, 2} {
				if r.errs[i] != nil || !model.ParamsEqual(r.nodes[i].Params, r.coord.Params) {
					t.Errorf("node %d: %v", i, r.errs[i])
				}
			}
		})
	}
}

// TestNetworkCoordinatorRestartResumes: the coordinator crashes right after
// reporting round 2 (its RoundStart for round 3 already sent); restarted
// from the checkpoint in its state directory it resumes at round 3 from the
// round-2 model, bit for bit, with fresh attempt numbers. With plain the
// final model then equals an uninterrupted run's bit for bit; with secagg
// the nodes' stochastic rounding draws from their private randomness, which
// the abandoned attempt advanced, so it equals it up to that rounding.
func TestNetworkCoordinatorRestartResumes(t *testing.T) {
	for _, p := range []string{"plain", "secagg"} {
		t.Run(p, func(t *testing.T) {
			cfg := netConfig{protocol: p, dataset: "wine", nodes: 3, minPart: 3, threshold: 2, rnds: 4, coordState: t.TempDir()}
			whole := runNetwork(t, cfg)
			cfg.coordState, cfg.crashAfter = t.TempDir(), 2
			r := runNetwork(t, cfg)
			if whole.coordErr != nil || r.coordErr != nil {
				t.Fatal(whole.coordErr, r.coordErr)
			}
			if len(r.reported) != 2 || r.reported[0].Round != 3 || r.reported[1].Round != 4 || len(r.hist) != 4 {
				t.Fatalf("the restarted coordinator reported %+v; history %d rounds", r.reported, len(r.hist))
			}
			if r.resumed.Round != 2 || ParamsDigest(r.resumed.Params) != whole.models[2] {
				t.Fatalf("resumed at round %d from model %s; the round-2 model is %s", r.resumed.Round, ParamsDigest(r.resumed.Params), whole.models[2])
			}
			// The crashed process's attempt for round 3 is never reused.
			if r.reported[0].Attempt <= whole.hist[2].Attempt {
				t.Errorf("round 3 released by attempt %d, the crashed process had used %d", r.reported[0].Attempt, whole.hist[2].Attempt)
			}
			a, b := ParamsDigest(r.coord.Params), ParamsDigest(whole.coord.Params)
			if p == "plain" && a != b {
				t.Fatalf("resumed model %s, uninterrupted %s", a, b)
			}
			if d := maxDiff(r.coord.Params, whole.coord.Params); d > 1e-4 {
				t.Fatalf("resumed model differs from the uninterrupted one by up to %g", d)
			}
			final, err := model.ReadFile(filepath.Join(cfg.coordState, "model.consort"))
			if err != nil || !model.ParamsEqual(final.Params, r.coord.Params) || final.Round != 4 {
				t.Fatalf("model.consort: %v", err)
			}
			for i := range r.nodes {
				if r.errs[i] != nil || !model.ParamsEqual(r.nodes[i].Params, r.coord.Params) {
					t.Errorf("node %d: %v", i, r.errs[i])
				}
			}
			t.Logf("resumed at round %d from %s; final %s, uninterrupted %s", r.resumed.Round, whole.models[2][:12], a[:12], b[:12])
		})
	}
}

// auditReports verifies the coordinator's and the nodes' logs in dir.
func auditReports(t *testing.T, dir string, nodes int) (audit.Report, []audit.Report) {
	t.Helper()
	coord, err := audit.VerifyFile(filepath.Join(dir, "coordinator.log"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []audit.Report
	for i := range nodes {
		rep, err := audit.VerifyFile(filepath.Join(dir, fmt.Sprintf("node-%d.log", i)), nil)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rep)
	}
	return coord, out
}

// fileDigests hashes every file in dir (name -> SHA-256).
func fileDigests(t *testing.T, dir string) map[string]string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range es {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = audit.Digest(b)
	}
	return out
}

// TestNetworkAuditLogsCrossCheck: the coordinator's and the nodes' audit
// logs verify and agree; the run repeats exactly, down to every byte of
// every log (times come from the virtual clock, signatures are Ed25519).
func TestNetworkAuditLogsCrossCheck(t *testing.T) {
	var runs []map[string]string
	var digests []string
	for range 2 {
		dir := t.TempDir()
		r := runNetwork(t, netConfig{protocol: "secagg", dataset: "wine", nodes: 3, minPart: 3, threshold: 2, rnds: 3, auditDir: dir})
		if r.coordErr != nil {
			t.Fatal(r.coordErr)
		}
		coord, nodes := auditReports(t, dir, 3)
		kinds := map[audit.Kind]int{}
		for _, e := range coord.Entries {
			kinds[e.Kind]++
		}
		// 2 statistics attempts + 3 training rounds, 3 contributors each;
		// each training round countersigned by its 3 contributors.
		if kinds[audit.KindJoin] != 3 || kinds[audit.KindRoundStart] != 5 || kinds[audit.KindContributionReceived] != 15 ||
			kinds[audit.KindAggregate] != 3 || kinds[audit.KindModelVersion] != 3 || kinds[audit.KindCountersign] != 9 {
			t.Errorf("coordinator log kinds %v", kinds)
		}
		for i, n := range nodes {
			sent := 0
			for _, e := range n.Entries {
				if e.Kind == audit.KindContributionSent {
					sent++
				}
			}
			if sent != 5 || n.Actor != string(r.ids[i].PeerID()) {
				t.Errorf("node %d (%s) logged %d contributions, want 5", i, n.Actor, sent)
			}
		}
		if f := audit.CrossCheck(coord, nodes, nil); len(f) != 0 {
			t.Errorf("cross-check findings on a clean run: %v", f)
		}
		// Without one node's log its detached countersignatures need its key.
		if f := audit.CrossCheck(coord, nodes[:2], nil); len(f) != 3 {
			t.Errorf("want 3 unverifiable countersignatures without node 3's log and key, got %v", f)
		}
		keys := map[string]ed25519.PublicKey{string(r.ids[2].PeerID()): r.ids[2].PublicKey()}
		if f := audit.CrossCheck(coord, nodes[:2], keys); len(f) != 0 {
			t.Errorf("node 3's detached countersignatures do not verify with its key: %v", f)
		}
		runs = append(runs, fileDigests(t, dir))
		digests = append(digests, ParamsDigest(r.coord.Params))
	}
	if !maps.Equal(runs[0], runs[1]) || digests[0] != digests[1] || len(runs[0]) != 8 {
		t.Fatalf("two identical runs wrote different logs or models:\n%v\n%v\n%v", runs[0], runs[1], digests)
	}
	t.Logf("coordinator log %s, model %s", runs[0]["coordinator.log"][:16], digests[0][:16])
}

// TestNetworkCoordinatorRestartBetweenStatistics: the coordinator crashes
// right after it sent the RoundStart of the variance release, the feature
// means already released. Restarted from its checkpoint it must go on with
// the variances: the nodes never release their means twice, so a
// coordinator that forgot them could never standardise (the first engine
// kept the released means in memory only and stopped with ErrRefused).
func TestNetworkCoordinatorRestartBetweenStatistics(t *testing.T) {
	cfg := netConfig{protocol: "secagg", dataset: "wine", nodes: 3, minPart: 3, threshold: 2, rnds: 2, coordState: t.TempDir()}
	whole := runNetwork(t, cfg)
	crashed := false
	cfg.coordState = t.TempDir()
	cfg.crashOnSend = func(_ transport.PeerID, m transport.Message) bool {
		// Attempt 1 releases the means, attempt 2 the variances.
		crashed = crashed || (m.Type == "train/round-start" && m.Round == 2)
		return crashed
	}
	r := runNetwork(t, cfg)
	if whole.coordErr != nil || r.coordErr != nil {
		t.Fatal(whole.coordErr, r.coordErr)
	}
	if !crashed || r.resumed == nil || r.resumed.Round != 0 {
		t.Fatalf("the coordinator did not crash between the statistics (resumed %v)", r.resumed)
	}
	if len(r.hist) != 2 || r.hist[1].Contributors != 3 {
		t.Fatalf("history %+v", r.hist)
	}
	// The same statistics as an uninterrupted run: the means are the
	// released ones, the variances are computed around them.
	if !model.ParamsEqual(r.coord.Mean, whole.coord.Mean) || maxDiff(r.coord.Std, whole.coord.Std) > 1e-4 {
		t.Errorf("standardisation differs from an uninterrupted run: mean %v / %v, std %v / %v", r.coord.Mean, whole.coord.Mean, r.coord.Std, whole.coord.Std)
	}
}

// TestNetworkCoordinatorRestartAfterLastRound: the coordinator crashes
// right after the RoundEnd of the last round, before any node got the final
// model. Restarted, it has nothing left to train, but it must still send the
// final model to the nodes as they reconnect (the first engine finished at
// once, with no node seen yet, and every node waited for ever).
func TestNetworkCoordinatorRestartAfterLastRound(t *testing.T) {
	cfg := netConfig{protocol: "plain", dataset: "wine", nodes: 3, minPart: 3, threshold: 2, rnds: 2, coordState: t.TempDir(),
		crashOnSend: func(_ transport.PeerID, m transport.Message) bool {
			return m.Type == "train/round-end" && m.Round == 4 // the 2 statistics, then rounds 1 and 2
		}}
	r := runNetwork(t, cfg)
	if r.coordErr != nil {
		t.Fatal(r.coordErr)
	}
	if r.resumed == nil || r.resumed.Round != 2 || len(r.reported) != 0 {
		t.Fatalf("resumed %v, reported %+v: want a restart after round 2", r.resumed, r.reported)
	}
	for i := range r.nodes {
		if r.errs[i] != nil || r.nodes[i] == nil || !model.ParamsEqual(r.nodes[i].Params, r.coord.Params) || r.nodes[i].Round != 2 {
			t.Errorf("node %d did not get the final model: %v", i, r.errs[i])
		}
	}
}
