package manifest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/consort-ml/consort/federated/data"
	"github.com/consort-ml/consort/transport/identity"
)

// sampleExt is sample with every field added after the first release set:
// an external trainer's layout and a CSV data section with a header-less
// file, categorical columns and missing-value rules.
func sampleExt(t testing.TB) (*Manifest, *identity.Identity, *identity.Identity) {
	t.Helper()
	m, coord, node := sample(t)
	m.Model = Model{
		Kind: KindExternal,
		Tensors: []Tensor{
			{Name: "conv1.weight", Shape: []int{8, 1, 3, 3}},
			{Name: "conv1.bias", Shape: []int{8}},
			{Name: "fc.weight", Shape: []int{10, 1352}},
		},
		InitialWeightsSHA256: strings.Repeat("ab", 32),
	}
	m.Data = Data{
		Features: []string{"age", "smoker", "bmi"}, Label: "outcome", Classes: []string{"healthy", "sick"},
		NoHeader: true, Columns: []string{"id", "age", "smoker", "bmi", "outcome"},
		MissingValues: []string{"", "NA", "?"},
		Categorical:   []Categorical{{Column: "smoker", Values: []string{"no", "yes"}, Unknown: "zero"}},
		Missing:       []MissingRule{{Action: "drop"}, {Column: "bmi", Action: "impute", Value: "24"}},
	}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	return m, coord, node
}

// TestOldSignatureStillVerifies: the v1 golden file, signed before the
// extension fields existed, verifies, and its canonical bytes carry none
// of the extension names.
func TestOldSignatureStillVerifies(t *testing.T) {
	g, err := Load("testdata/signed.toml")
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Verify(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"data.no_header", "data.categorical", "model.tensors", "initial_weights"} {
		if bytes.Contains(g.Canonical(), []byte(name)) {
			t.Errorf("canonical bytes of a v1 manifest contain %q", name)
		}
	}
	e, _, _ := sampleExt(t)
	for _, name := range []string{"data.no_header", "data.columns", "data.missing_values", "data.categorical", "data.missing", "model.tensors", "model.initial_weights_sha256"} {
		if !bytes.Contains(e.Canonical(), []byte(name)) {
			t.Errorf("canonical bytes of the extended sample lack %q", name)
		}
	}
}

func TestDataSchema(t *testing.T) {
	m, _, _ := sampleExt(t)
	s := m.Data.Schema()
	want := &data.Schema{
		Label: "outcome", Features: []string{"age", "smoker", "bmi"}, NoHeader: true,
		Columns: []string{"id", "age", "smoker", "bmi", "outcome"}, MissingTokens: []string{"", "NA", "?"},
		Categorical: []data.Categorical{{Column: "smoker", Values: []string{"no", "yes"}, Unknown: "zero"}},
		Missing:     []data.MissingRule{{Action: "drop"}, {Column: "bmi", Action: "impute", Value: "24"}},
	}
	if s.String() != want.String() || !slices.Equal(s.Columns, want.Columns) || !slices.Equal(s.MissingTokens, want.MissingTokens) ||
		!slices.EqualFunc(s.Categorical, want.Categorical, func(a, b data.Categorical) bool {
			return a.Column == b.Column && slices.Equal(a.Values, b.Values) && a.Unknown == b.Unknown
		}) || !slices.Equal(s.Missing, want.Missing) {
		t.Fatalf("schema %+v, want %+v", s, want)
	}
	if m.Data.InputWidth() != 4 || !slices.Equal(m.Data.InputNames(), []string{"age", "smoker=no", "smoker=yes", "bmi"}) {
		t.Fatalf("width %d names %q", m.Data.InputWidth(), m.Data.InputNames())
	}
	// The schema reads a headerless file as declared.
	ds, err := data.ReadCSV(strings.NewReader("a,40,yes,?,sick\nb,50,no,30,healthy\nc,NA,no,1,sick\n"), "team.csv", data.LoadOptions{Schema: s})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ds.X, []float32{40, 0, 1, 24, 50, 1, 0, 30}) || ds.Dropped != 1 {
		t.Fatalf("X %v dropped %d", ds.X, ds.Dropped)
	}
}

// members returns a coordinator and n nodes with distinct, reproducible
// peer IDs.
func members(t testing.TB, n int) []Member {
	t.Helper()
	gen := func(i int) string {
		var seed [32]byte
		binary.LittleEndian.PutUint64(seed[:], uint64(i))
		id, err := identity.Generate(rand.NewChaCha8(seed))
		if err != nil {
			t.Fatal(err)
		}
		return string(id.PeerID())
	}
	out := []Member{{Name: "c", PeerID: gen(1 << 20), Role: RoleCoordinator}}
	for i := range n {
		out = append(out, Member{Name: "n" + strconv.Itoa(i), PeerID: gen(i), Role: RoleNode})
	}
	return out
}

func TestValidationRules(t *testing.T) {
	base := func(nodes int) *Manifest {
		m := Template("fed", members(t, nodes), notAfter)
		m.Data = Data{Features: []string{"a", "b"}, Label: "y", Classes: []string{"0", "1"}}
		return m
	}
	tests := []struct {
		name string
		m    func() *Manifest
		want string // "" = valid
	}{
		{"template-3", func() *Manifest { return base(3) }, ""},
		{"one-node-secagg", func() *Manifest { return base(1) }, "protocol secagg needs at least 2 nodes"},
		{"one-node-plain", func() *Manifest {
			m := base(1)
			m.Protocols = []string{"plain"}
			return m
		}, ""},
		{"threshold-1-secagg", func() *Manifest {
			m := base(3)
			m.Threshold = 1
			return m
		}, "threshold 1 with protocol secagg"},
		{"threshold-1-mhe", func() *Manifest {
			m := base(3)
			m.Threshold, m.Protocols = 1, []string{"plain", "mhe"}
			return m
		}, "threshold 1 with protocol mhe"},
		{"mhe-too-many", func() *Manifest {
			m := base(MHEMaxNodes() + 1)
			m.Protocols = []string{"mhe"}
			return m
		}, "protocol mhe cannot serve " + strconv.Itoa(MHEMaxNodes()+1) + " nodes"},
		{"mhe-at-limit", func() *Manifest {
			m := base(MHEMaxNodes())
			m.Protocols = []string{"mhe", "secagg"}
			return m
		}, ""},
		{"no-features", func() *Manifest {
			m := base(3)
			m.Data.Features = nil
			return m
		}, "features are required"},
		{"no-classes", func() *Manifest {
			m := base(3)
			m.Data.Classes = []string{"only"}
			return m
		}, "classes must list the label values, at least 2"},
		{"bundled-without-features", func() *Manifest {
			m := base(3)
			m.Data = Data{Dataset: "digits"}
			return m
		}, ""},
		{"bundled-with-categorical", func() *Manifest {
			m := base(3)
			m.Data = Data{Dataset: "digits", Categorical: []Categorical{{Column: "x", Values: []string{"a"}}}}
			return m
		}, "apply to CSV data"},
		{"categorical-not-feature", func() *Manifest {
			m := base(3)
			m.Data.Categorical = []Categorical{{Column: "z", Values: []string{"a"}}}
			return m
		}, `data: categorical column "z" is not a feature`},
		{"impute-label", func() *Manifest {
			m := base(3)
			m.Data.Missing = []MissingRule{{Column: "y", Action: "impute", Value: "0"}}
			return m
		}, "a label cannot be imputed"},
		{"no-header-without-columns", func() *Manifest {
			m := base(3)
			m.Data.NoHeader = true
			return m
		}, "no_header needs the file's column names"},
		{"external-without-tensors", func() *Manifest {
			m := base(3)
			m.Model = Model{Kind: KindExternal}
			return m
		}, "kind external needs its tensor layout"},
		{"tensors-with-builtin", func() *Manifest {
			m := base(3)
			m.Model.Tensors = []Tensor{{Name: "w", Shape: []int{2}}}
			return m
		}, "tensors and initial_weights_sha256 apply to kind external"},
		{"tensor-twice", func() *Manifest {
			m := base(3)
			m.Model = Model{Kind: KindExternal, Tensors: []Tensor{{Name: "w", Shape: []int{2}}, {Name: "w"}}}
			return m
		}, `tensor "w" listed twice`},
		{"tensor-zero-dim", func() *Manifest {
			m := base(3)
			m.Model = Model{Kind: KindExternal, Tensors: []Tensor{{Name: "w", Shape: []int{2, 0}}}}
			return m
		}, `tensor "w": shape [2 0]`},
		{"tensor-too-big", func() *Manifest {
			m := base(3)
			m.Model = Model{Kind: KindExternal, Tensors: []Tensor{{Name: "w", Shape: []int{1 << 20, 1 << 20}}}}
			return m
		}, "at most 268435456 values"},
		{"tensors-sum-too-big", func() *Manifest {
			m := base(3)
			m.Model = Model{Kind: KindExternal, Tensors: []Tensor{{Name: "a", Shape: []int{1 << 27}}, {Name: "b", Shape: []int{1 << 27}}, {Name: "c", Shape: []int{1}}}}
			return m
		}, "the tensors hold more than"},
		{"bad-sha", func() *Manifest {
			m := base(3)
			m.Model = Model{Kind: KindExternal, Tensors: []Tensor{{Name: "w"}}, InitialWeightsSHA256: strings.Repeat("AB", 32)}
			return m
		}, "64 lowercase hex digits"},
		{"scalar-tensor", func() *Manifest {
			m := base(3)
			m.Model = Model{Kind: KindExternal, Tensors: []Tensor{{Name: "w"}}}
			return m
		}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.m().Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("valid manifest refused: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrMalformed containing %q", err, tc.want)
			}
		})
	}
}

func TestValidateAt(t *testing.T) {
	m, _, _ := sample(t)
	if err := m.ValidateAt(notAfter.Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := m.ValidateAt(notAfter); !errors.Is(err, ErrExpired) || err.Error() != "manifest: expired: not_after 2099-01-02T03:04:05Z" {
		t.Fatalf("at not_after: %v", err)
	}
	m.Threshold = 0
	if err := m.ValidateAt(notAfter.Add(time.Hour)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("structure is checked first: %v", err)
	}
}

func TestDefaults(t *testing.T) {
	for _, tc := range []struct{ n, t, min int }{
		{2, 2, 2}, {3, 2, 3}, {4, 3, 4}, {5, 4, 4}, {10, 7, 8}, {30, 20, 24}, {100, 67, 80}, {256, 171, 205},
	} {
		if th := DefaultThreshold(tc.n); th != tc.t {
			t.Errorf("DefaultThreshold(%d) = %d, want %d", tc.n, th, tc.t)
		}
		if mp := DefaultMinParticipants(tc.n, tc.t); mp != tc.min {
			t.Errorf("DefaultMinParticipants(%d, %d) = %d, want %d", tc.n, tc.t, mp, tc.min)
		}
	}
}

func TestSummary(t *testing.T) {
	m, _, _ := sampleExt(t)
	s := m.Summary()
	if s.Federation != "hospitals-2026" || len(s.Nodes) != 3 || len(s.Aggregators) != 1 || s.Coordinator.Name != "coordinator" ||
		s.MinParticipants != 3 || s.Tolerated != 0 || s.Threshold != 2 || s.Model.Spec != "external" || s.Model.Tensors != 3 ||
		s.Model.Values != 8*9+8+13520 || s.Data.Inputs != 4 || !slices.Equal(s.Data.Categorical, []string{"smoker"}) ||
		s.DP == nil || s.DP.Epsilon != 8 || len(s.Digest) != 64 {
		t.Fatalf("summary %+v", s)
	}
	m.DP = DP{}
	if m.Summary().DP != nil {
		t.Fatal("no DP reported as DP")
	}
}

func TestLoadData(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := dir + "/" + name
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	d, err := LoadData(write("only.toml", "[data]\nfeatures = [\"a\", \"c\"]\nlabel = \"y\"\nclasses = [\"0\", \"1\"]\n[[data.categorical]]\ncolumn = \"c\"\nvalues = [\"x\", \"z\"]\n"))
	if err != nil || d.InputWidth() != 3 || d.Categorical[0].Values[1] != "z" {
		t.Fatalf("data-only file: %+v, %v", d, err)
	}
	if d, err = LoadData("testdata/signed-ext.toml"); err != nil || !d.NoHeader {
		t.Fatalf("manifest: %+v, %v", d, err)
	}
	for name, body := range map[string]string{
		"typo.toml":            "[data]\nfeatures = [\"a\"]\nclasses = [\"0\", \"1\"]\nmissing_value = [\"?\"]\n",
		"none.toml":            "# nothing\n",
		"invalid.toml":         "[data]\nfeatures = [\"a\"]\nclasses = [\"0\"]\n",
		"bad.toml":             "[data\n",
		"broken-manifest.toml": "federation = \"x\"\n[data]\nfeatures = [\"a\"]\n",
	} {
		if _, err := LoadData(write(name, body)); !errors.Is(err, ErrMalformed) || !strings.HasPrefix(err.Error(), dir) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
