package federated

import (
	"math"
	"testing"

	"github.com/consort-ml/consort/federated/model"
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
			if len(r.hist) != 3 || r.aborted != 0 || r.hist[0].Attempt != first {
				t.Fatalf("history %+v, %d aborted", r.hist, r.aborted)
			}
			// Round 1 has node 2's update (it was sent), the later rounds not.
			if r.hist[0].Contributors != 3 || r.hist[1].Contributors != 2 || r.hist[2].Contributors != 2 {
				t.Errorf("contributors %v, want [3 2 2]", contributors(r.hist))
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
