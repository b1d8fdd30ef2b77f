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
	res, err := RunSecAgg(SecAggConfig{Parties: []int{5, 30}, Dims: []int{1000}, Bits: []int{32}, Repeats: 1}, &out)
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
		// The check adds a confirmation (signature + a tag per neighbour)
		// up and the confirmations down.
		if !r.Check || r.CheckBytes < int64(64+18*r.Degree) || r.CheckTime <= 0 || r.CheckTime >= r.NodeRound {
			t.Errorf("implausible consistency check cost %+v", r)
		}
		if r.Threshold < 2 || r.Degree < 2 || r.Degree >= r.Parties {
			t.Errorf("graph k=%d t=%d for %d parties", r.Degree, r.Threshold, r.Parties)
		}
	}
	if res[1].Degree >= 29 {
		t.Errorf("30 parties: degree %d, want a sparse graph", res[1].Degree)
	}
	for _, want := range []string{"wire-B/value", "keystream-ratio", "vs flower", "parties", "bits", "check B", "reconstruction_threshold"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}

func TestSecAggConfigValidate(t *testing.T) {
	for _, c := range []SecAggConfig{{Parties: []int{1}}, {Dims: []int{0}}, {Bits: []int{65}}, {Bits: []int{0}}, {Dropout: 0.6, Corrupt: 0.5}} {
		if err := c.Validate(); !errors.Is(err, ErrSecAggConfig) {
			t.Errorf("%+v: %v", c, err)
		}
	}
	if err := DefaultSecAggConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestFlowerReference(t *testing.T) {
	if got := FlowerClientSeconds(28, 1<<20); got < 0.199 || got > 0.201 {
		t.Fatalf("28 neighbours: %v", got)
	}
	if got := FlowerClientSeconds(10, 1<<19); got < 0.049 || got > 0.051 {
		t.Fatalf("10 neighbours at 2^19: %v", got)
	}
}

// TestSecAggNarrowRing: at 16 bits a party sends 2 bytes per value plus
// its fixed messages, and its masks need half the keystream of 32 bits.
func TestSecAggNarrowRing(t *testing.T) {
	r, err := SecAggRound(10, 1<<12, 16, true, 0.05, 0.05, 1)
	if err != nil {
		t.Fatal(err)
	}
	fixed := float64(r.UploadBytes-2*(1<<12)) / (1 << 12)
	if r.WirePerValue < 2 || fixed <= 0 || fixed > 1 {
		t.Fatalf("16-bit ring: %.4f B/value (%.4f fixed)", r.WirePerValue, fixed)
	}
}

// BenchmarkSecAgg runs the default repeats of a full round per iteration
// (all parties in process, the consistency check on; best times kept) and
// reports party 1's upload per value, its masking time over the AES-CTR
// keystream time for the same bytes, its whole-round time and what the
// consistency check added.
func BenchmarkSecAgg(b *testing.B) {
	cfg := DefaultSecAggConfig()
	for _, n := range cfg.Parties {
		for _, d := range cfg.Dims {
			for _, bits := range cfg.Bits {
				b.Run(fmt.Sprintf("parties=%d/dim=%d/bits=%d", n, d, bits), func(b *testing.B) {
					var last SecAggResult
					for i := 0; i < b.N; i++ {
						r, err := SecAggRound(n, d, uint(bits), true, cfg.Dropout, cfg.Corrupt, cfg.Repeats)
						if err != nil {
							b.Fatal(err)
						}
						last = r
					}
					b.ReportMetric(last.WirePerValue, "wire-B/value")
					b.ReportMetric(last.KeystreamRatio, "keystream-ratio")
					b.ReportMetric(ms(last.NodeRound), "node-ms")
					b.ReportMetric(float64(last.CheckBytes), "check-B")
					b.ReportMetric(100*last.CheckRatio, "check-%")
					b.ReportMetric(last.FlowerSpeedup, "x-flower")
				})
			}
		}
	}
}
