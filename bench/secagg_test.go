package bench

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestRunSecAggSmall(t *testing.T) {
	var out bytes.Buffer
	res, err := RunSecAgg(SecAggConfig{Parties: []int{5, 30}, Dims: []int{1000}, Repeats: 1}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 {
		t.Fatalf("%d results", len(res))
	}
	for _, r := range res {
		if r.UploadBytes <= 4*1000 || r.WirePerValue <= 4 || r.NodeRound <= 0 || r.NodeMask <= 0 || r.NodeMask > r.NodeRound ||
			r.Keystream <= 0 || r.KeystreamRatio <= 0 || r.ServerRound <= 0 {
			t.Errorf("implausible result %+v", r)
		}
		if r.Threshold < 2 || r.Degree < 2 || r.Degree >= r.Parties {
			t.Errorf("graph k=%d t=%d for %d parties", r.Degree, r.Threshold, r.Parties)
		}
	}
	if res[1].Degree >= 29 {
		t.Errorf("30 parties: degree %d, want a sparse graph", res[1].Degree)
	}
	for _, want := range []string{"wire-B/value", "keystream-ratio", "vs flower", "parties"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}

func TestSecAggConfigValidate(t *testing.T) {
	for _, c := range []SecAggConfig{{Parties: []int{1}}, {Dims: []int{0}}, {Bits: 65}, {Dropout: 0.6, Corrupt: 0.5}} {
		if err := c.Validate(); !errors.Is(err, ErrSecAggConfig) {
			t.Errorf("%+v: %v", c, err)
		}
	}
	if err := DefaultSecAggConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestFlowerReference(t *testing.T) {
	if got := FlowerClientSeconds(100, 1e6); got < 1.199 || got > 1.201 {
		t.Fatalf("100 neighbours: %v", got)
	}
	if got := FlowerClientSeconds(10, 1e6); got < 0.149 || got > 0.151 {
		t.Fatalf("10 neighbours: %v", got)
	}
}

// BenchmarkSecAgg runs one full round per iteration (all parties in
// process) and reports party 1's upload per value, its masking time over
// the AES-CTR keystream time for the same bytes, and its whole-round time.
func BenchmarkSecAgg(b *testing.B) {
	cfg := DefaultSecAggConfig()
	for _, n := range cfg.Parties {
		for _, d := range cfg.Dims {
			b.Run(fmt.Sprintf("parties=%d/dim=%d", n, d), func(b *testing.B) {
				var last SecAggResult
				for i := 0; i < b.N; i++ {
					r, err := SecAggRound(n, d, cfg.Bits, cfg.Dropout, cfg.Corrupt, 1)
					if err != nil {
						b.Fatal(err)
					}
					last = r
				}
				b.ReportMetric(last.WirePerValue, "wire-B/value")
				b.ReportMetric(last.KeystreamRatio, "keystream-ratio")
				b.ReportMetric(ms(last.NodeRound), "node-ms")
				b.ReportMetric(last.FlowerSpeedup, "x-flower")
			})
		}
	}
}
