package bench

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestRunMHESmall(t *testing.T) {
	var out bytes.Buffer
	res, err := RunMHE(MHEConfig{Parties: []int{3, 6}, Dims: []int{5000}, InsecureTestParams: true, Repeats: 1, Verified: true}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 {
		t.Fatalf("%d results", len(res))
	}
	for _, r := range res {
		if !r.Exact {
			t.Errorf("%d parties: decrypted sum not exact", r.Parties)
		}
		if r.UploadBytes <= 0 || r.ShareBytes <= 0 || r.DownBytes <= 0 || r.WirePerValue <= 0 || r.Node <= 0 || r.RawEncrypt <= 0 || r.NodeRatio <= 0 || r.Agg <= 0 {
			t.Errorf("implausible result %+v", r)
		}
		// A verified round costs more node time and bytes than the plain
		// round of the same run, but sends the same ciphertext and share.
		if r.VerifiedNode <= 0 || r.VerifyRatio <= 0 || r.VerifyUpBytes <= 0 || r.VerifyDownBytes <= 0 ||
			r.SentPerParty <= 0 || r.VerifiedSentPerParty <= r.SentPerParty || r.SetupSent <= 0 || r.SetupRecv <= r.SetupSent {
			t.Errorf("implausible verification cost %+v", r)
		}
		if r.Ciphertexts != 2 || r.Threshold < 2 {
			t.Errorf("%d ciphertexts, threshold %d", r.Ciphertexts, r.Threshold)
		}
	}
	for _, want := range []string{"wire-B/value", "node/raw", "agg ms", "parties", "verified/plain", "sent-KB/party", "setup sent-KB"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}

func TestMHEConfigValidate(t *testing.T) {
	for _, c := range []MHEConfig{{Parties: []int{1}}, {Dims: []int{0}}, {QuantBits: 8}, {ParamSets: []string{"nope"}}} {
		if err := c.Validate(); !errors.Is(err, ErrMHEConfig) {
			t.Errorf("%+v: %v", c, err)
		}
	}
	if err := DefaultMHEConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkMHE runs one round per iteration after a one-time key setup and
// reports a decryptor's wire bytes per value, its compute (encryption plus
// decryption share), the aggregator's compute and the node's ratio to
// lattigo's raw encryption of the same number of ciphertexts in this run,
// the mean bytes a party sends, and the cost of a verified round (node time
// ratio to the unverified round of the same run, extra bytes a decryptor
// sends and receives).
// At 2^20 values it uses the first set of DefaultMHEConfig (N14-T256;
// RunMHE reports both), at 4,096 the set mhe.ChooseParams sizes to the job.
func BenchmarkMHE(b *testing.B) {
	cfg := DefaultMHEConfig()
	cfg.Verified = true
	for _, n := range cfg.Parties {
		for _, d := range append([]int{4096}, cfg.Dims...) {
			b.Run(fmt.Sprintf("parties=%d/dim=%d", n, d), func(b *testing.B) {
				set := cfg.ParamSets[0]
				if d < 1<<20 {
					set = "" // sized to the job: N12-T32 for 4,096 values
				}
				mb, err := newMHEBench(cfg, set, n, d)
				if err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				var r MHEResult
				for i := 0; i < b.N; i++ {
					if r, err = mb.run(1); err != nil {
						b.Fatal(err)
					}
				}
				if !r.Exact {
					b.Fatal("decrypted sum not exact")
				}
				b.ReportMetric(r.WirePerValue, "wire-B/value")
				b.ReportMetric(ms(r.Node), "ms/node")
				b.ReportMetric(ms(r.Agg), "agg-ms")
				b.ReportMetric(r.NodeRatio, "node/raw-enc")
				b.ReportMetric(ms(r.RawEncrypt), "raw-enc-ms")
				b.ReportMetric(r.SentPerParty, "sent-B/party")
				b.ReportMetric(r.VerifiedSentPerParty, "verified-sent-B/party")
				b.ReportMetric(r.VerifyRatio, "verified/plain")
				b.ReportMetric(float64(r.VerifyUpBytes+r.VerifyDownBytes), "verify-B")
			})
		}
	}
}
