package policy

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/consort-ml/consort/federated/privacy"
)

func load(t *testing.T) *Policy {
	t.Helper()
	p, err := Load("testdata/policy.toml")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoad(t *testing.T) {
	p := load(t)
	if p.MinContributors != 4 || p.MaxRounds != 50 || p.MaxEpsilon != 8 || p.Delta != 1e-5 ||
		len(p.Protocols) != 2 || p.Coordinators[0] != "12D3KooWCoordinator" || p.Purposes[0] != "fraud-detection" {
		t.Errorf("decoded %+v", p)
	}
}

func TestParseErrors(t *testing.T) {
	for name, src := range map[string]string{
		"unknown key":     "max_epsilom = 1\n",
		"syntax":          "max_rounds = \n",
		"negative":        "min_contributors = -1\n",
		"eps no delta":    "max_epsilon = 3\n",
		"delta no eps":    "delta = 1e-5\n",
		"delta 1":         "max_epsilon = 3\ndelta = 1\n",
		"empty entry":     "protocols = [\"secagg\", \" \"]\n",
		"wrong type":      "max_rounds = \"ten\"\n",
		"negative rounds": "max_rounds = -3\n",
	} {
		if _, err := Parse([]byte(src)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.toml")); !errors.Is(err, ErrInvalid) {
		t.Errorf("missing file: %v", err)
	}
	big := filepath.Join(t.TempDir(), "big.toml")
	if err := os.WriteFile(big, []byte("# "+strings.Repeat("x", maxFileSize)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(big); !errors.Is(err, ErrInvalid) {
		t.Errorf("oversized file: %v", err)
	}
}

// good is a proposal the test policy accepts: 20 rounds of full
// participation with noise multiplier 1.5 cost epsilon ~7.3 at 1e-5.
func good() RoundProposal {
	return RoundProposal{
		Coordinator: "12D3KooWCoordinator", Purpose: "fraud-detection", Protocol: "secagg",
		Round: 20, PastRounds: 19, MinContributors: 5,
		NoiseMultiplier: 3, Clip: 1, SamplingRate: 1,
	}
}

func TestCheckReasons(t *testing.T) {
	p := load(t)
	if err := p.Check(good()); err != nil {
		t.Fatalf("good proposal refused: %v", err)
	}
	cases := []struct {
		name string
		mut  func(*RoundProposal)
		want Code
	}{
		{"coordinator", func(r *RoundProposal) { r.Coordinator = "12D3KooWMallory" }, ReasonCoordinator},
		{"purpose", func(r *RoundProposal) { r.Purpose = "marketing" }, ReasonPurpose},
		{"protocol", func(r *RoundProposal) { r.Protocol = "plain" }, ReasonProtocol},
		{"min-contributors", func(r *RoundProposal) { r.MinContributors = 3 }, ReasonMinContributors},
		{"rounds", func(r *RoundProposal) { r.Round = 51 }, ReasonRounds},
		{"rounds-own-count", func(r *RoundProposal) { r.Round = 1; r.PastRounds = 50 }, ReasonRounds},
		{"epsilon", func(r *RoundProposal) { r.NoiseMultiplier = 0.8 }, ReasonEpsilon},
		{"no-noise", func(r *RoundProposal) { r.NoiseMultiplier = 0 }, ReasonEpsilon},
		{"invalid", func(r *RoundProposal) { r.SamplingRate = 0 }, ReasonInvalid},
		{"invalid-skellam", func(r *RoundProposal) { r.Noise = privacy.Skellam; r.Dim = 0 }, ReasonInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := good()
			c.mut(&r)
			err := p.Check(r)
			var refusal *RefusalError
			if !errors.As(err, &refusal) || !errors.Is(err, ErrRefused) {
				t.Fatalf("err = %v, want a refusal", err)
			}
			if refusal.Reason != c.want {
				t.Errorf("reason %q, want %q (%v)", refusal.Reason, c.want, err)
			}
		})
	}
}

// TestCheckRecomputesEpsilon: the coordinator claims a small epsilon and a
// low round number; the node counts its own rounds and recomputes.
func TestCheckRecomputesEpsilon(t *testing.T) {
	p := load(t)
	r := good()
	r.Round, r.PastRounds, r.ClaimedEpsilon = 2, 45, 0.5
	own, err := Epsilon(r, p.Delta)
	if err != nil {
		t.Fatal(err)
	}
	err = p.Check(r)
	var refusal *RefusalError
	if !errors.As(err, &refusal) || refusal.Reason != ReasonEpsilon {
		t.Fatalf("err = %v (own epsilon %v), want an epsilon refusal", err, own)
	}
	if !strings.Contains(refusal.Detail, "46 rounds") || !strings.Contains(refusal.Detail, "claimed 0.5") {
		t.Errorf("detail %q should name the node's round count and the claim", refusal.Detail)
	}
	// the node's figure equals the accountant's for 46 rounds of z = 3
	acc, _ := privacy.NewAccountant(nil)
	_ = acc.Step(1, 3, 46)
	want, _ := acc.Epsilon(1e-5)
	if own != want || own <= 8 {
		t.Errorf("node epsilon %v, accountant %v", own, want)
	}
}

func TestEpsilonSkellam(t *testing.T) {
	r := good()
	r.Noise, r.FracBits, r.Dim = privacy.Skellam, 12, 10000
	eg, err := Epsilon(good(), 1e-5)
	if err != nil {
		t.Fatal(err)
	}
	es, err := Epsilon(r, 1e-5)
	if err != nil {
		t.Fatal(err)
	}
	if !(es >= eg && es < eg*1.05) {
		t.Errorf("skellam eps %v, gaussian %v", es, eg)
	}
	r.NoiseMultiplier = 0
	if e, _ := Epsilon(r, 1e-5); !math.IsInf(e, 1) {
		t.Errorf("no noise: eps %v", e)
	}
}

func TestDefaults(t *testing.T) {
	p, err := Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	r := good()
	r.Coordinator, r.Purpose, r.NoiseMultiplier = "anyone", "anything", 0
	if err := p.Check(r); err != nil {
		t.Errorf("empty policy refused: %v", err)
	}
	r.Protocol = "plain"
	if err := p.Check(r); err == nil {
		t.Error("empty policy accepted the insecure plain protocol")
	}
}
