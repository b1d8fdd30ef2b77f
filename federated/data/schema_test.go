package data

import (
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// patients is a small messy table: a categorical column, missing cells of
// every kind, an unknown category, an id column.
const patients = `id,age,smoker,region,bmi,outcome
p1,50,no,north,20,healthy
p2,61,yes,south,,sick
p3,NA,no,east,30,healthy
p4,40,yes,west,25.5,sick
p5,33,,north,22,healthy
p6,70,no,south,NaN,
`

func patientsSchema() *Schema {
	return &Schema{
		Label:    "outcome",
		Features: []string{"age", "smoker", "region", "bmi"},
		Categorical: []Categorical{
			{Column: "smoker", Values: []string{"no", "yes"}},
			{Column: "region", Values: []string{"north", "south", "east"}, Unknown: UnknownZero},
		},
		Missing: []MissingRule{
			{Action: MissingDrop},
			{Column: "bmi", Action: MissingImpute, Value: "24"},
			{Column: "smoker", Action: MissingImpute, Value: "no"},
		},
	}
}

// TestOneHotHandComputed checks the encoding row by row against values
// computed by hand from the table and the schema.
func TestOneHotHandComputed(t *testing.T) {
	ds, err := ReadCSV(strings.NewReader(patients), "patients.csv", LoadOptions{Schema: patientsSchema()})
	if err != nil {
		t.Fatal(err)
	}
	wantNames := []string{"age", "smoker=no", "smoker=yes", "region=north", "region=south", "region=east", "bmi"}
	if !slices.Equal(ds.FeatureNames, wantNames) {
		t.Fatalf("feature names %q, want %q", ds.FeatureNames, wantNames)
	}
	// p3 (age NA) is dropped by the default rule; p6 (label missing) is
	// dropped because the label falls under the default drop rule.
	want := [][]float32{
		{50, 1, 0, 1, 0, 0, 20},   // p1
		{61, 0, 1, 0, 1, 0, 24},   // p2: bmi imputed
		{40, 0, 1, 0, 0, 0, 25.5}, // p4: west is unknown -> zeros
		{33, 1, 0, 1, 0, 0, 22},   // p5: smoker imputed "no"
	}
	if ds.Len() != len(want) || ds.Features != 7 || ds.Dropped != 2 {
		t.Fatalf("got %d x %d (dropped %d), want %d x 7 (dropped 2)", ds.Len(), ds.Features, ds.Dropped, len(want))
	}
	for i, w := range want {
		if !slices.Equal(ds.Row(i), w) {
			t.Errorf("row %d = %v, want %v", i, ds.Row(i), w)
		}
	}
	if !slices.Equal(ds.ClassNames, []string{"healthy", "sick"}) || !slices.Equal(ds.Y, []int{0, 1, 1, 0}) {
		t.Errorf("classes %q labels %v", ds.ClassNames, ds.Y)
	}
	if s := patientsSchema(); s.Width() != 7 || !slices.Equal(s.InputNames(), wantNames) {
		t.Errorf("schema width %d names %q", s.Width(), s.InputNames())
	}
}

func TestNoHeader(t *testing.T) {
	s := &Schema{Label: "y", NoHeader: true, Columns: []string{"a", "b", "y"}, Features: []string{"b", "a"}}
	ds, err := ReadCSV(strings.NewReader("1,2,x\n3,4,z\n"), "nohdr.csv", LoadOptions{Schema: s})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Len() != 2 || !slices.Equal(ds.X, []float32{2, 1, 4, 3}) || !slices.Equal(ds.ClassNames, []string{"x", "z"}) {
		t.Fatalf("got %v %v %q", ds.X, ds.Y, ds.ClassNames)
	}
	// Every column but the label when no features are listed.
	s = &Schema{Label: "y", NoHeader: true, Columns: []string{"a", "b", "y"}}
	if ds, err = ReadCSV(strings.NewReader("1,2,x\n3,4,z\n"), "nohdr.csv", LoadOptions{Schema: s}); err != nil || !slices.Equal(ds.X, []float32{1, 2, 3, 4}) {
		t.Fatalf("all columns: %v %v", ds, err)
	}
}

func TestReadTableLabelOptionalKeep(t *testing.T) {
	opts := LoadOptions{Schema: patientsSchema(), LabelOptional: true, Keep: []string{"id"}}
	in := strings.ReplaceAll(patients, ",outcome\n", "\n")
	var b strings.Builder
	for i, line := range strings.Split(strings.TrimSpace(in), "\n") {
		if i > 0 {
			line = line[:strings.LastIndex(line, ",")]
		}
		b.WriteString(line + "\n")
	}
	tab, err := ReadTable(strings.NewReader(b.String()), "score.csv", opts)
	if err != nil {
		t.Fatal(err)
	}
	// Without a label only p3 (age NA) is dropped.
	if tab.Labels != nil || tab.Rows() != 5 || tab.Dropped != 1 || !slices.Equal(tab.Kept[0], []string{"p1", "p2", "p4", "p5", "p6"}) {
		t.Fatalf("labels %v rows %d dropped %d kept %q", tab.Labels, tab.Rows(), tab.Dropped, tab.Kept)
	}
	if !slices.Equal(tab.Lines, []int{2, 3, 5, 6, 7}) {
		t.Errorf("lines %v", tab.Lines)
	}
	// With the label column the labels come through as written, a missing
	// one as "" (the row is kept: it is scored, not dropped).
	tab, err = ReadTable(strings.NewReader(patients), "score.csv", opts)
	if err != nil || !slices.Equal(tab.Labels, []string{"healthy", "sick", "sick", "healthy", ""}) {
		t.Fatalf("labels %q, %v", tab.Labels, err)
	}
}

func TestSchemaReadErrors(t *testing.T) {
	hdrs := &Schema{Label: "y", NoHeader: true, Columns: []string{"a", "b", "y"}}
	cat := &Schema{Label: "y", Features: []string{"a", "c"}, Categorical: []Categorical{{Column: "c", Values: []string{"red", "blue"}}}}
	tests := []struct {
		name, input string
		opts        LoadOptions
		line, col   int
		reason      string
	}{
		{"unknown-category", "a,c,y\n1,red,0\n2,SECRETVALUE,1\n", LoadOptions{Schema: cat}, 3, 2, "category not in the declared vocabulary of 2 values"},
		{"missing-category-no-rule", "a,c,y\n1,,0\n", LoadOptions{Schema: cat}, 2, 2, "empty cell (missing value) and no missing-value rule"},
		{"missing-numeric-no-rule", "a,c,y\nNA,red,0\n", LoadOptions{Schema: cat}, 2, 1, "missing value and no missing-value rule"},
		{"header-declared-headerless", "a,b,y\n1,2,0\n", LoadOptions{Schema: hdrs}, 1, 0, "repeats the declared column names"},
		{"headerless-wrong-width", "1,2,0\n1,2\n", LoadOptions{Schema: hdrs}, 2, 3, "2 columns, 3 declared"},
		{"all-dropped", "a,y\nNA,0\n,1\n", LoadOptions{Schema: &Schema{Label: "y", Missing: []MissingRule{{Action: MissingDrop}}}}, 0, 0, "all 2 dropped"},
		{"keep-unknown", "a,y\n1,0\n", LoadOptions{Label: "y", Keep: []string{"id"}}, 1, 0, `no column "id" to pass through`},
		{"keep-feature", "a,y\n1,0\n", LoadOptions{Label: "y", Columns: []string{"a"}, Keep: []string{"a"}}, 1, 1, "cannot be a feature"},
		{"label-absent-optional-false", "a,b\n1,0\n", LoadOptions{Label: "y"}, 1, 0, `no label column "y"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadTable(strings.NewReader(tc.input), "t.csv", tc.opts)
			var pe *ParseError
			if !errors.As(err, &pe) || !errors.Is(err, ErrBadData) {
				t.Fatalf("err = %v, want a *ParseError", err)
			}
			if pe.Line != tc.line || pe.Column != tc.col || !strings.Contains(pe.Reason, tc.reason) {
				t.Errorf("got line %d col %d %q, want line %d col %d containing %q", pe.Line, pe.Column, pe.Reason, tc.line, tc.col, tc.reason)
			}
			if strings.Contains(err.Error(), "SECRETVALUE") {
				t.Errorf("error quotes a cell: %v", err)
			}
		})
	}
}

func TestSchemaValidate(t *testing.T) {
	ok := patientsSchema()
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		edit   func(s *Schema)
		reason string
	}{
		{"label-feature", func(s *Schema) { s.Features = append(s.Features, "outcome") }, "is the label column"},
		{"feature-twice", func(s *Schema) { s.Features = append(s.Features, "age") }, "listed twice"},
		{"columns-without-no-header", func(s *Schema) { s.Columns = []string{"age"} }, "set no_header"},
		{"no-header-without-columns", func(s *Schema) { s.NoHeader = true }, "needs the file's column names"},
		{"no-header-missing-feature", func(s *Schema) { s.NoHeader, s.Columns = true, []string{"age", "outcome"} }, `feature "smoker" is not among the columns`},
		{"categorical-not-feature", func(s *Schema) { s.Categorical[0].Column = "sex" }, "is not a feature"},
		{"categorical-twice", func(s *Schema) { s.Categorical[1].Column = "smoker" }, "declared twice"},
		{"categorical-empty", func(s *Schema) { s.Categorical[0].Values = nil }, "0 values"},
		{"categorical-repeat", func(s *Schema) { s.Categorical[0].Values = []string{"no", "no"} }, "repeated"},
		{"categorical-marker", func(s *Schema) { s.Categorical[0].Values = []string{"no", "NA"} }, "missing-value marker"},
		{"categorical-unknown-rule", func(s *Schema) { s.Categorical[0].Unknown = "guess" }, `unknown = "guess"`},
		{"categorical-no-features", func(s *Schema) { s.Features = nil }, "need the features listed"},
		{"rule-twice", func(s *Schema) { s.Missing = append(s.Missing, MissingRule{Action: MissingError}) }, "default missing-value rule declared twice"},
		{"rule-unknown-action", func(s *Schema) { s.Missing[0].Action = "mean" }, `action "mean"`},
		{"rule-unknown-column", func(s *Schema) { s.Missing[1].Column = "zz" }, "not a feature or the label"},
		{"impute-not-number", func(s *Schema) { s.Missing[1].Value = "x" }, "finite number"},
		{"impute-not-in-vocab", func(s *Schema) { s.Missing[2].Value = "maybe" }, "not in the column's vocabulary"},
		{"impute-label", func(s *Schema) {
			s.Missing = append(s.Missing, MissingRule{Column: "outcome", Action: MissingImpute, Value: "1"})
		}, "label cannot be imputed"},
		{"default-impute-categorical", func(s *Schema) { s.Missing[0] = MissingRule{Action: MissingImpute, Value: "0"} }, `vocabulary of categorical column "region"`},
		{"value-without-impute", func(s *Schema) { s.Missing[0].Value = "3" }, "a value goes with action"},
		{"input-name-clash", func(s *Schema) { s.Features = append(s.Features, "smoker=yes") }, `model input "smoker=yes" arises twice`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := patientsSchema()
			tc.edit(s)
			err := s.Validate()
			if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("err = %v, want ErrInvalidArgument containing %q", err, tc.reason)
			}
		})
	}
	// Conflicting Label or Columns next to a schema.
	if _, err := ReadCSV(strings.NewReader(patients), "p.csv", LoadOptions{Schema: patientsSchema(), Label: "id"}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("conflicting label: %v", err)
	}
}

// writeIDX writes an IDX file, gzip-compressed when gz is set.
func writeIDX(t *testing.T, path string, dims []uint32, payload []byte, gz bool) {
	t.Helper()
	b := idxBytes(0x08, dims, payload)
	if gz {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(b)
		zw.Close()
		b = buf.Bytes()
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestLoadIDXPair(t *testing.T) {
	dir := t.TempDir()
	img, lab := filepath.Join(dir, "imgs-idx3-ubyte.gz"), filepath.Join(dir, "labs-idx1-ubyte")
	writeIDX(t, img, []uint32{3, 2, 2}, []byte{0, 255, 51, 102, 255, 0, 0, 0, 0, 0, 0, 255}, true)
	writeIDX(t, lab, []uint32{3}, []byte{9, 0, 3}, false)
	ds, err := Load("idx:"+img+","+lab, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Name != "idx:imgs-idx3-ubyte.gz" || ds.Len() != 3 || ds.Features != 4 || ds.Classes != 10 {
		t.Fatalf("got %s %d x %d, %d classes", ds.Name, ds.Len(), ds.Features, ds.Classes)
	}
	if !slices.Equal(ds.Row(0), []float32{0, 1, 0.2, 0.4}) || !slices.Equal(ds.Y, []int{9, 0, 3}) || ds.FeatureNames[3] != "pixel_1_1" {
		t.Fatalf("row 0 %v labels %v names %q", ds.Row(0), ds.Y, ds.FeatureNames)
	}
	if err := ds.Validate(); err != nil {
		t.Fatal(err)
	}
	// Column selection applies as for the other sources.
	if sel, err := Load("idx:"+img+","+lab, LoadOptions{Columns: []string{"pixel_1_1"}}); err != nil || sel.Features != 1 || sel.X[2] != 1 {
		t.Fatalf("selection: %v %v", sel, err)
	}
	// Count mismatch, wrong dimensions, bad spec.
	short := filepath.Join(dir, "short")
	writeIDX(t, short, []uint32{2}, []byte{1, 2}, false)
	flat := filepath.Join(dir, "flat")
	writeIDX(t, flat, []uint32{3}, []byte{1, 2, 3}, false)
	for _, tc := range []struct {
		spec string
		want error
		msg  string
	}{
		{"idx:" + img + "," + short, ErrBadData, "has 3 images but short has 2 labels"},
		{"idx:" + flat + "," + lab, ErrBadData, "at least 2 dimensions"},
		{"idx:" + img + "," + img, ErrBadData, "labels must have 1 dimension"},
		{"idx:" + img, ErrInvalidArgument, "idx:IMAGES,LABELS"},
		{"idx:a,b,c", ErrInvalidArgument, "without commas"},
		{"idx:" + img + "," + filepath.Join(dir, "none"), os.ErrNotExist, "no such file"},
	} {
		_, err := Load(tc.spec, LoadOptions{})
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: err = %v, want %v containing %q", tc.spec, err, tc.want, tc.msg)
		}
	}
}

func TestWriteCSVRoundTrip(t *testing.T) {
	for _, name := range []string{"breast-cancer", "digits", "wine"} {
		t.Run(name, func(t *testing.T) {
			ds, err := Load(name, LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := WriteCSV(&buf, ds, "label"); err != nil {
				t.Fatal(err)
			}
			back, err := ReadCSV(&buf, name+".csv", LoadOptions{Label: "label"})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(back.X, ds.X) || !slices.Equal(back.FeatureNames, ds.FeatureNames) || back.Len() != ds.Len() {
				t.Fatalf("features differ after the round trip")
			}
			for i := range ds.Len() {
				if back.ClassNames[back.Y[i]] != ds.ClassNames[ds.Y[i]] {
					t.Fatalf("row %d: label %q, want %q", i, back.ClassNames[back.Y[i]], ds.ClassNames[ds.Y[i]])
				}
			}
		})
	}
	ds, _ := Load("wine", LoadOptions{})
	if err := WriteCSV(&bytes.Buffer{}, ds, "alcohol"); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("label equal to a feature: %v", err)
	}
}

func FuzzReadTable(f *testing.F) {
	seeds := []string{
		patients,
		"a,c,y\n1,red,0\n2,blue,1\n",
		"a,c,y\nNA,,0\n2,green,1\n",
		"1,red,0\n2,blue,1\n",
	}
	n := 0
	for _, s := range seeds {
		for i := 0; i <= len(s); i += 3 {
			f.Add(s[:i])
			n++
		}
		for i := range len(s) {
			b := []byte(s)
			b[i] ^= 0x01
			f.Add(string(b))
			n++
		}
	}
	if n == 0 {
		f.Fatal("empty seed corpus")
	}
	schemas := []*Schema{
		patientsSchema(),
		{Label: "y", Features: []string{"a", "c"}, Categorical: []Categorical{{Column: "c", Values: []string{"red", "blue"}, Unknown: UnknownZero}},
			Missing: []MissingRule{{Action: MissingImpute, Value: "0"}, {Column: "c", Action: MissingDrop}}},
		{Label: "y", NoHeader: true, Columns: []string{"a", "c", "y"}, Features: []string{"a", "c"},
			Categorical: []Categorical{{Column: "c", Values: []string{"red", "blue"}}}},
	}
	f.Fuzz(func(t *testing.T, in string) {
		for _, s := range schemas {
			tab, err := ReadTable(strings.NewReader(in), "fuzz.csv", LoadOptions{Schema: s, LabelOptional: true})
			if err != nil {
				var pe *ParseError
				if !errors.Is(err, ErrBadData) || !errors.As(err, &pe) {
					t.Fatalf("unclassified error %v", err)
				}
				continue
			}
			if tab.Rows() == 0 || len(tab.X) != tab.Rows()*tab.Features || tab.Features != s.Width() && len(s.Features) > 0 {
				t.Fatalf("inconsistent table: %d rows, %d values, %d features", tab.Rows(), len(tab.X), tab.Features)
			}
			if tab.Labels != nil && len(tab.Labels) != tab.Rows() {
				t.Fatalf("%d labels for %d rows", len(tab.Labels), tab.Rows())
			}
		}
	})
}
