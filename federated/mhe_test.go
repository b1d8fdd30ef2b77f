package federated

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/consort-ml/consort/mpc"
	"github.com/consort-ml/consort/mpc/mhe"
)

func mheSpec(fed string, n, d int, seed uint64, drops []DropStage) RoundSpec {
	r := rand.New(rand.NewPCG(seed, 2))
	spec := RoundSpec{FederationID: fed, Round: seed, Bound: 2, Seed: seed, Drops: drops}
	for range n {
		in := make([]float32, d)
		for j := range in {
			in[j] = float32(r.NormFloat64())
		}
		in[0] = 2.5 // beyond Bound: clamped
		spec.Inputs = append(spec.Inputs, in)
	}
	return spec
}

// checkAgainstPlain compares an mhe result with Plain on clamped inputs:
// same contributors, sums within the quantisation error.
func checkAgainstPlain(t *testing.T, spec RoundSpec, got RoundResult, bits uint) {
	t.Helper()
	want := clampedPlain(t, spec)
	if !slices.Equal(got.Contributors, want.Contributors) {
		t.Fatalf("contributors %v, plain %v", got.Contributors, want.Contributors)
	}
	rc := mhe.RoundConfig{Participants: make([]int, len(spec.Inputs)), Bound: spec.Bound, QuantBits: bits}
	frac, _, err := rc.Quantization()
	if err != nil {
		t.Fatal(err)
	}
	tol := float64(len(got.Contributors))*math.Ldexp(1, -int(frac)) + 1e-5
	for j := range got.Sum {
		if d := math.Abs(float64(got.Sum[j] - want.Sum[j])); d > tol*(1+math.Abs(float64(want.Sum[j]))) {
			t.Fatalf("sum[%d] = %v, plain %v (tolerance %g)", j, got.Sum[j], want.Sum[j], tol)
		}
	}
	for i := range spec.Inputs {
		if spec.Stage(i) != DropBeforeUpload && got.BytesUp[i] == 0 {
			t.Fatalf("participant %d sent no bytes", i)
		}
	}
}

func TestMHEMatchesPlain(t *testing.T) {
	for _, c := range []struct {
		n, d  int
		bits  uint
		drops map[int]DropStage
		nodes bool
	}{
		{n: 3, d: 100, bits: 32},
		{n: 10, d: 5000, bits: 32, drops: map[int]DropStage{1: DropBeforeUpload, 4: DropAfterUpload, 6: DropAfterUpload}},
		{n: 10, d: 700, bits: 16, drops: map[int]DropStage{0: DropAfterUpload, 9: DropBeforeUpload}},
		{n: 7, d: 300, bits: 32, drops: map[int]DropStage{0: DropAfterUpload, 2: DropBeforeUpload}, nodes: true},
	} {
		t.Run(fmt.Sprintf("parties=%d/dim=%d/bits=%d/drops=%d/nodes=%v", c.n, c.d, c.bits, len(c.drops), c.nodes), func(t *testing.T) {
			agg, err := NewMHE(MHEConfig{InsecureTestParams: true, QuantBits: c.bits, NodesLearnResult: c.nodes})
			if err != nil {
				t.Fatal(err)
			}
			drops := make([]DropStage, c.n)
			for i, s := range c.drops {
				drops[i] = s
			}
			for round := uint64(1); round <= 2; round++ {
				spec := mheSpec("fed-mhe", c.n, c.d, round, drops)
				res, err := agg.Aggregate(context.Background(), spec)
				if err != nil {
					t.Fatal(err)
				}
				checkAgainstPlain(t, spec, res, c.bits)
				// The same seed gives the same sum (the rounding is seeded).
				again, err := agg.Aggregate(context.Background(), spec)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(again.Sum, res.Sum) {
					t.Fatal("the same round spec gave another sum")
				}
				if round == 1 && again.BytesUp[0] >= res.BytesUp[0] && drops[0] != DropBeforeUpload {
					t.Fatal("the first round should carry the setup traffic")
				}
			}
		})
	}
}

func TestMHESecureDefaultParams(t *testing.T) {
	agg, err := NewMHE(MHEConfig{})
	if err != nil {
		t.Fatal(err)
	}
	spec := mheSpec("fed-mhe-secure", 3, 650, 1, nil)
	res, err := agg.Aggregate(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	checkAgainstPlain(t, spec, res, 32)
	if !agg.Secure() || agg.Name() != "mhe" {
		t.Fatal("name or security flag")
	}
}

func TestMHEAbortBelowThreshold(t *testing.T) {
	agg, err := NewMHE(MHEConfig{InsecureTestParams: true})
	if err != nil {
		t.Fatal(err)
	}
	// n = 6, t = 3: three drops after the upload leave 2 decryptors.
	if MHEThreshold(6) != 3 {
		t.Fatalf("default threshold for 6 parties is %d", MHEThreshold(6))
	}
	drops := []DropStage{DropAfterUpload, DropNone, DropAfterUpload, DropBeforeUpload, DropAfterUpload, DropNone}
	_, err = agg.Aggregate(context.Background(), mheSpec("fed-mhe-abort", 6, 64, 1, drops))
	var abort *mpc.AbortError
	if !errors.Is(err, ErrTooFewContributors) || !errors.As(err, &abort) || !errors.Is(err, mpc.ErrTooFewParties) {
		t.Fatalf("got %v, want ErrTooFewContributors wrapping *mpc.AbortError", err)
	}
}

func TestMHEKeyPersistence(t *testing.T) {
	dir := t.TempDir()
	cfg := MHEConfig{InsecureTestParams: true, StateDir: dir}
	spec := mheSpec("fed-mhe-state", 4, 128, 1, nil)
	a1, _ := NewMHE(cfg)
	r1, err := a1.Aggregate(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.key"))
	if len(files) != 4 {
		t.Fatalf("%d key files, want 4", len(files))
	}
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Fatalf("%s has mode %v", f, st.Mode().Perm())
		}
	}
	// A new aggregator reuses the keys: no setup traffic this time.
	a2, _ := NewMHE(cfg)
	r2, err := a2.Aggregate(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r1.Sum, r2.Sum) || r2.BytesUp[0] >= r1.BytesUp[0] {
		t.Fatalf("reloaded keys: sums equal %v, bytes %d then %d", slices.Equal(r1.Sum, r2.Sum), r1.BytesUp[0], r2.BytesUp[0])
	}
	p, _ := mhe.NewParams(mhe.InsecureTestParams())
	if err := os.Chmod(files[0], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadMHEKey(files[0], p); !errors.Is(err, ErrKeyFile) {
		t.Fatalf("group-readable key file: %v", err)
	}
}

func TestNewMHERejects(t *testing.T) {
	for _, cfg := range []MHEConfig{{QuantBits: 8}, {ParamSet: "nope"}, {ParamSet: mhe.InsecureTestParams().Name}} {
		if _, err := NewMHE(cfg); !errors.Is(err, ErrBadConfig) {
			t.Errorf("%+v: %v", cfg, err)
		}
	}
}

// TestSimulateDigitsMHEMatchesPlain is the acceptance run in process:
// consort simulate --dataset digits --parties 10 --protocol mhe --dropout 0.2
// reaches the final accuracy of --protocol plain with the same seed within
// 0.005, with the secure parameter set chosen by default.
func TestSimulateDigitsMHEMatchesPlain(t *testing.T) {
	if testing.Short() {
		t.Skip("a full simulation")
	}
	cfg := SimConfig{Dataset: "digits", Parties: 10, Rounds: 20, Dropout: 0.2, Seed: 1} // the CLI defaults
	plain, err := Simulate(context.Background(), cfg, Plain{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	agg, err := NewMHE(MHEConfig{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Simulate(context.Background(), cfg, agg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("plain %.4f (aborted %d), mhe %.4f (aborted %d), mhe bytes up per node %.0f", plain.FinalAccuracy, plain.AbortedRounds, res.FinalAccuracy, res.AbortedRounds, res.BytesUpPerNode)
	if d := math.Abs(res.FinalAccuracy - plain.FinalAccuracy); d > 0.005 {
		t.Fatalf("mhe final accuracy %.4f, plain %.4f: gap %.4f > 0.005", res.FinalAccuracy, plain.FinalAccuracy, d)
	}
}
