package data

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

func TestBundled(t *testing.T) {
	tests := []struct {
		name     string
		n, d, k  int
		counts   []int
		row0     []float32 // first features of example 0
		label0   int
		feature0 string
		class0   string
	}{
		{"breast-cancer", 569, 30, 2, []int{212, 357}, []float32{17.99, 10.38, 122.8}, 0, "mean radius", "malignant"},
		{"wine", 178, 13, 3, []int{59, 71, 48}, []float32{14.23, 1.71, 2.43}, 0, "alcohol", "class_0"},
		{"digits", 1797, 64, 10, []int{178, 182, 177, 183, 181, 182, 181, 179, 174, 180}, []float32{0, 0, 5, 13}, 0, "pixel_0_0", "0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ds, err := Load(tc.name, LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if err := ds.Validate(); err != nil {
				t.Fatal(err)
			}
			if ds.Name != tc.name || ds.Len() != tc.n || ds.Features != tc.d || ds.Classes != tc.k {
				t.Fatalf("%s: %d x %d, %d classes; want %d x %d, %d", ds.Name, ds.Len(), ds.Features, ds.Classes, tc.n, tc.d, tc.k)
			}
			if got := ds.ClassCounts(); !slices.Equal(got, tc.counts) {
				t.Errorf("class counts %v, want %v", got, tc.counts)
			}
			if got := ds.Row(0)[:len(tc.row0)]; !slices.Equal(got, tc.row0) || ds.Y[0] != tc.label0 {
				t.Errorf("example 0 = %v label %d", got, ds.Y[0])
			}
			if ds.FeatureNames[0] != tc.feature0 || ds.ClassNames[0] != tc.class0 {
				t.Errorf("names %q / %q", ds.FeatureNames[0], ds.ClassNames[0])
			}
			if len(slices.Compact(slices.Sorted(slices.Values(ds.FeatureNames)))) != tc.d {
				t.Error("feature names are not distinct")
			}
		})
	}
	bc, _ := Load("breast-cancer", LoadOptions{})
	if bc.FeatureNames[10] != "radius error" || bc.FeatureNames[29] != "worst fractal dimension" {
		t.Errorf("breast cancer names: %q, %q", bc.FeatureNames[10], bc.FeatureNames[29])
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := Load("iris", LoadOptions{}); !errors.Is(err, ErrUnknownDataset) || !strings.Contains(err.Error(), "breast-cancer") {
		t.Errorf("unknown name: %v", err)
	}
	if _, err := Load("wine", LoadOptions{Label: "x"}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("label on a bundled set: %v", err)
	}
	if _, err := Load("wine", LoadOptions{Columns: []string{"alcohol", "nope"}}); !errors.Is(err, ErrBadData) || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("unknown column: %v", err)
	}
	if _, err := Load("wine", LoadOptions{Columns: []string{"hue", "hue"}}); !errors.Is(err, ErrBadData) {
		t.Errorf("repeated column: %v", err)
	}
}

func TestSelectColumns(t *testing.T) {
	ds, err := Load("wine", LoadOptions{Columns: []string{"proline", "alcohol"}})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Features != 2 || !slices.Equal(ds.Row(0), []float32{1065, 14.23}) || ds.Len() != 178 {
		t.Errorf("selected %d features, row 0 %v", ds.Features, ds.Row(0))
	}
	if err := ds.Validate(); err != nil {
		t.Error(err)
	}
}

func TestSubsetAndRow(t *testing.T) {
	ds := &Dataset{Name: "t", X: []float32{1, 2, 3, 4, 5, 6}, Y: []int{0, 1, 0}, Features: 2, Classes: 2}
	s := ds.Subset([]int{2, 0, 2})
	if !slices.Equal(s.X, []float32{5, 6, 1, 2, 5, 6}) || !slices.Equal(s.Y, []int{0, 0, 0}) {
		t.Errorf("subset %v %v", s.X, s.Y)
	}
	s.X[0] = 99
	if ds.X[4] != 5 {
		t.Error("Subset shares X with its source")
	}
	r := ds.Row(0)
	if cap(r) != 2 {
		t.Errorf("Row capacity %d, want 2", cap(r))
	}
	_ = append(r, 42)
	if ds.X[2] != 3 {
		t.Error("appending to a row overwrote the next row")
	}
	bad := []*Dataset{
		{X: []float32{1}, Y: []int{0, 0}, Features: 1, Classes: 1},
		{X: []float32{1}, Y: []int{1}, Features: 1, Classes: 1},
		{X: []float32{1}, Y: []int{0}, Features: 1, Classes: 1, FeatureNames: []string{"a", "b"}},
		{X: []float32{1}, Y: []int{0}, Features: 1, Classes: 1, ClassNames: []string{}},
	}
	for i, b := range bad {
		if err := b.Validate(); !errors.Is(err, ErrBadData) {
			t.Errorf("case %d: Validate = %v", i, err)
		}
	}
}

func TestSplit(t *testing.T) {
	ds, err := Load("wine", LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	train, test, err := Split(ds, 0.25, 7)
	if err != nil {
		t.Fatal(err)
	}
	if train.Len()+test.Len() != 178 || test.Len() != 45 {
		t.Fatalf("sizes %d + %d, want 133 + 45", train.Len(), test.Len())
	}
	// Stratified: each class's test share is within one example of 25%.
	for c, n := range ds.ClassCounts() {
		got := test.ClassCounts()[c]
		if math.Abs(float64(got)-0.25*float64(n)) > 1 {
			t.Errorf("class %d: %d of %d in test", c, got, n)
		}
	}
	// Deterministic, seed-dependent, disjoint and covering.
	tr1, te1, _ := SplitIndices(ds.Y, ds.Classes, 0.25, 7)
	tr2, te2, _ := SplitIndices(ds.Y, ds.Classes, 0.25, 7)
	_, te3, _ := SplitIndices(ds.Y, ds.Classes, 0.25, 8)
	if !slices.Equal(tr1, tr2) || !slices.Equal(te1, te2) {
		t.Error("split is not deterministic")
	}
	if slices.Equal(te1, te3) {
		t.Error("seeds 7 and 8 give the same split")
	}
	all := slices.Concat(tr1, te1)
	slices.Sort(all)
	for i, v := range all {
		if v != i {
			t.Fatalf("train and test do not partition 0..%d", len(all)-1)
		}
	}
	if !slices.Equal(test.Row(0), ds.Row(te1[0])) || test.Y[0] != ds.Y[te1[0]] {
		t.Error("Split rows do not match SplitIndices")
	}

	// Tiny classes keep an example on each side.
	tr, te, err := SplitIndices([]int{0, 0, 1, 1, 1, 1, 1, 1, 1, 1}, 2, 0.1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(te) != 2 || len(tr) != 8 {
		t.Errorf("tiny classes: train %v test %v", tr, te)
	}
	for name, err := range map[string]error{
		"zero":     third(SplitIndices([]int{0, 1}, 2, 0, 1)),
		"one":      third(SplitIndices([]int{0, 1}, 2, 1, 1)),
		"nan":      third(SplitIndices([]int{0, 1}, 2, math.NaN(), 1)),
		"single":   third(SplitIndices([]int{0}, 1, 0.5, 1)),
		"label":    third(SplitIndices([]int{0, 3}, 2, 0.5, 1)),
		"no-class": third(SplitIndices([]int{0, 0}, 0, 0.5, 1)),
	} {
		if !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func third[A, B any](_ A, _ B, err error) error { return err }

func TestStandardize(t *testing.T) {
	train := &Dataset{Name: "train", X: []float32{1, 5, 10, 3, 5, 20, 5, 5, 30}, Y: []int{0, 1, 0}, Features: 3, Classes: 2}
	test := &Dataset{Name: "test", X: []float32{3, 7, 40}, Y: []int{1}, Features: 3, Classes: 2}
	s, err := Standardize(train, test)
	if err != nil {
		t.Fatal(err)
	}
	sd0 := float32(math.Sqrt(8.0 / 3))
	sd2 := float32(math.Sqrt(200.0 / 3))
	if !slices.Equal(s.Mean, []float32{3, 5, 20}) || !slices.Equal(s.Std, []float32{sd0, 1, sd2}) {
		t.Errorf("scaler mean %v std %v", s.Mean, s.Std)
	}
	// Train columns: mean 0, std 1, the constant column all zeros.
	for j := range 3 {
		var m, v float64
		for i := range 3 {
			m += float64(train.Row(i)[j]) / 3
		}
		for i := range 3 {
			d := float64(train.Row(i)[j]) - m
			v += d * d / 3
		}
		wantV := 1.0
		if j == 1 {
			wantV = 0
		}
		if math.Abs(m) > 1e-6 || math.Abs(v-wantV) > 1e-5 {
			t.Errorf("column %d: mean %v var %v", j, m, v)
		}
	}
	// The test set uses the training statistics.
	want := []float32{0, 2, 20 / sd2}
	for j, v := range test.Row(0) {
		if math.Abs(float64(v-want[j])) > 1e-5 {
			t.Errorf("test feature %d = %v, want %v", j, v, want[j])
		}
	}
	if _, err := Standardize(train, &Dataset{Features: 2}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("feature mismatch: %v", err)
	}

	// Real data: digits has constant columns; they must map to 0, not NaN.
	ds, _ := Load("digits", LoadOptions{})
	if _, err := Standardize(ds); err != nil {
		t.Fatal(err)
	}
	for i := range ds.Len() {
		if v := ds.Row(i)[0]; v != 0 { // pixel_0_0 is always 0 in digits
			t.Fatalf("constant column became %v", v)
		}
	}
	for _, v := range ds.X {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatal("standardised data holds NaN or Inf")
		}
	}
}
