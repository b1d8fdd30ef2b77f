package bench

import (
	"io"
	"testing"

	"github.com/consort-ml/consort/mpc/plain"
)

// BenchmarkRound runs one networked training round of 10 nodes x 2^20
// parameters per protocol over libp2p loopback and reports each secure
// round's time as a ratio to the plain round, and the bytes per node.
func BenchmarkRound(b *testing.B) {
	cfg := DefaultRoundBenchConfig()
	for range b.N {
		res, err := RunRound(cfg, io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range res {
			b.ReportMetric(r.Seconds, r.Protocol+"-s")
			b.ReportMetric(r.BytesPerNode, r.Protocol+"-B/node")
			if r.Protocol != "plain" {
				b.ReportMetric(r.Ratio, r.Protocol+"-x-plain")
			}
		}
	}
}

// TestRunRoundSmall runs the benchmark's machinery at a small size, so that
// `make test` checks it works end to end over libp2p.
func TestRunRoundSmall(t *testing.T) {
	cfg := RoundBenchConfig{Nodes: 3, Features: 16, Hidden: 8, Rows: 8, Protocols: []string{"plain", "secagg"}, StepTimeout: 20e9}
	res, err := RunRound(cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	plainMsg := plain.Config{FederationID: "bench-round", Dim: res[0].Params}.MessageSize()
	if len(res) != 2 || res[0].Protocol != "plain" || res[1].Ratio <= 0 || res[0].BytesPerNode != float64(plainMsg) {
		t.Fatalf("results %+v", res)
	}
	if res[1].BytesPerNode < float64(4*res[1].Params) {
		t.Errorf("secagg uploaded %v bytes per node for %d parameters", res[1].BytesPerNode, res[1].Params)
	}
}
