package data

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestReadCSVErrors(t *testing.T) {
	tests := []struct {
		name   string
		input  string
		opts   LoadOptions
		line   int
		col    int
		colNm  string
		reason string
	}{
		{"empty-file", "", LoadOptions{Label: "y"}, 0, 0, "", "empty file"},
		{"only-newlines", "\n\n\n", LoadOptions{Label: "y"}, 0, 0, "", "empty file"},
		{"header-only", "a,b,y\n", LoadOptions{Label: "y"}, 0, 0, "", "no data rows"},
		{"unknown-label", "a,b,y\n1,2,0\n", LoadOptions{Label: "class"}, 1, 0, "", `no label column "class"`},
		{"no-label-given", "a,b,y\n1,2,0\n", LoadOptions{}, 1, 0, "", "no label column given"},
		{"unknown-feature", "a,b,y\n1,2,0\n", LoadOptions{Label: "y", Columns: []string{"a", "zz"}}, 1, 0, "", `no feature column "zz"`},
		{"duplicate-header", "a,a,y\n1,2,0\n", LoadOptions{Label: "y"}, 1, 2, "a", "duplicate column name"},
		{"unnamed-column", ",a,y\n0,1,0\n", LoadOptions{Label: "y"}, 1, 1, "", "column has no name"},
		{"label-only", "y\n0\n", LoadOptions{Label: "y"}, 1, 0, "", "no feature columns"},
		{"too-few-columns", "a,b,y\n1,2,0\n3,4\n", LoadOptions{Label: "y"}, 3, 3, "", "2 columns, header has 3 (missing column)"},
		{"too-many-columns", "a,b,y\n1,2,0\n3,4,1,9\n", LoadOptions{Label: "y"}, 3, 4, "", "4 columns, header has 3 (extra column)"},
		{"non-numeric", "a,b,y\n1,2,0\n3,abc,1\n", LoadOptions{Label: "y"}, 3, 2, "b", "not a number"},
		{"nan", "a,b,y\n1,2,0\nNaN,4,1\n", LoadOptions{Label: "y"}, 3, 1, "a", "missing value and no missing-value rule"},
		{"inf", "a,b,y\n1,2,0\n1,-Inf,1\n", LoadOptions{Label: "y"}, 3, 2, "b", "infinite"},
		{"plus-infinity", "a,b,y\n1,+infinity,0\n", LoadOptions{Label: "y"}, 2, 2, "b", "infinite"},
		{"overflow-float64", "a,b,y\n1,1e400,0\n", LoadOptions{Label: "y"}, 2, 2, "b", "out of range"},
		{"overflow-float32", "a,b,y\n1e39,1,0\n", LoadOptions{Label: "y"}, 2, 1, "a", "float32 range"},
		{"empty-cell", "a,b,y\n1,,0\n", LoadOptions{Label: "y"}, 2, 2, "b", "empty cell"},
		{"empty-label", "a,b,y\n1,2, \n", LoadOptions{Label: "y"}, 2, 3, "y", "missing label"},
		{"na-label", "a,b,y\n1,2,NA\n", LoadOptions{Label: "y"}, 2, 3, "y", "missing label"},
		{"numeric-first-row", "1,2,0\n3,4,1\n", LoadOptions{Label: "y"}, 1, 0, "", "the first row holds only numbers"},
		{"numeric-first-row-with-na", "1,NA,0\n3,4,1\n", LoadOptions{Label: "0"}, 1, 0, "", "the first row holds only numbers"},
		{"bare-quote", "a,b,y\n1,2\"x,0\n", LoadOptions{Label: "y"}, 2, 0, "", "malformed CSV"},
		{"unterminated-quote", "a,b,y\n1,\"2,0\n", LoadOptions{Label: "y"}, 2, 0, "", "malformed CSV"},
		{"line-after-blank-lines", "a,b,y\n\n1,2,0\n\n\n1,x,0\n", LoadOptions{Label: "y"}, 6, 2, "b", "not a number"},
		{"crlf", "a,b,y\r\n1,2,0\r\n1,2,0,0\r\n", LoadOptions{Label: "y"}, 3, 4, "", "extra column"},
		{"multiline-quoted-cell", "a,b,y\n\"1\n\",2,0\n3,q,1\n", LoadOptions{Label: "y"}, 4, 2, "b", "not a number"},
		{"unselected-bad-cell-is-fine-but-selected-bad", "a,b,y\nx,1,0\n2,?,1\n", LoadOptions{Label: "y", Columns: []string{"b"}}, 3, 2, "b", "not a number"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadCSV(strings.NewReader(tc.input), "people.csv", tc.opts)
			if err == nil {
				t.Fatal("accepted bad input")
			}
			if !errors.Is(err, ErrBadData) {
				t.Errorf("error %v does not wrap ErrBadData", err)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *ParseError", err)
			}
			if pe.File != "people.csv" || pe.Line != tc.line || pe.Column != tc.col || pe.ColumnName != tc.colNm {
				t.Errorf("position = %s:%d:%d (%q), want people.csv:%d:%d (%q)", pe.File, pe.Line, pe.Column, pe.ColumnName, tc.line, tc.col, tc.colNm)
			}
			msg := err.Error()
			if !strings.Contains(pe.Reason, tc.reason) {
				t.Errorf("reason %q does not contain %q", pe.Reason, tc.reason)
			}
			want := "people.csv"
			if tc.line > 0 {
				want += ": line " + strconv.Itoa(tc.line)
				if tc.col > 0 {
					want += ", column " + strconv.Itoa(tc.col)
				}
			}
			if !strings.HasPrefix(msg, "data: bad data: "+want) {
				t.Errorf("message %q does not start with %q", msg, "data: bad data: "+want)
			}
		})
	}
}

// TestReadCSVNoCellInError checks that error text never quotes the cell.
func TestReadCSVNoCellInError(t *testing.T) {
	for _, cell := range []string{"Alice Secret", "-Inf", "1e999", "12abc", "3.5e40"} {
		_, err := ReadCSV(strings.NewReader("a,y\n"+cell+",0\n"), "f.csv", LoadOptions{Label: "y"})
		if err == nil {
			t.Fatalf("cell %q accepted", cell)
		}
		if strings.Contains(err.Error(), cell) {
			t.Errorf("error %q quotes the cell %q", err, cell)
		}
	}
}

func TestReadCSV(t *testing.T) {
	in := "\uFEFFid, height ,weight,species\n" +
		"1, 1.5 ,60,setosa\n" +
		"\n" +
		"2,\"2.5\",70,versicolor\n" +
		"3,-0.25,8e1,setosa\n" +
		"4,1e-3,0x1p4,virginica\n"
	ds, err := ReadCSV(strings.NewReader(in), "iris.csv", LoadOptions{Label: "species", Columns: []string{"weight", "height"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := ds.Validate(); err != nil {
		t.Fatal(err)
	}
	if ds.Name != "csv:iris.csv" || ds.Len() != 4 || ds.Features != 2 || ds.Classes != 3 {
		t.Fatalf("shape: name %q, %d x %d, %d classes", ds.Name, ds.Len(), ds.Features, ds.Classes)
	}
	if want := []float32{60, 1.5, 70, 2.5, 80, -0.25, 16, 1e-3}; !slices.Equal(ds.X, want) {
		t.Errorf("X = %v, want %v", ds.X, want)
	}
	if want := []int{0, 1, 0, 2}; !slices.Equal(ds.Y, want) {
		t.Errorf("Y = %v, want %v", ds.Y, want)
	}
	if want := []string{"setosa", "versicolor", "virginica"}; !slices.Equal(ds.ClassNames, want) {
		t.Errorf("ClassNames = %v, want %v", ds.ClassNames, want)
	}
	if want := []string{"weight", "height"}; !slices.Equal(ds.FeatureNames, want) {
		t.Errorf("FeatureNames = %v, want %v", ds.FeatureNames, want)
	}

	// All columns but the label, header order; the "id" column is a feature.
	all, err := ReadCSV(strings.NewReader(in), "iris.csv", LoadOptions{Label: "species"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"id", "height", "weight"}; !slices.Equal(all.FeatureNames, want) {
		t.Errorf("FeatureNames = %v, want %v", all.FeatureNames, want)
	}
}

// TestReadCSVNumericLabels checks numeric labels sort by value, not as text.
func TestReadCSVNumericLabels(t *testing.T) {
	ds, err := ReadCSV(strings.NewReader("x,label\n1,10\n2,2\n3,-1\n4,2\n5,10\n"), "n.csv", LoadOptions{Label: "label"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"-1", "2", "10"}; !slices.Equal(ds.ClassNames, want) {
		t.Errorf("ClassNames = %v, want %v", ds.ClassNames, want)
	}
	if want := []int{2, 1, 0, 1, 2}; !slices.Equal(ds.Y, want) {
		t.Errorf("Y = %v, want %v", ds.Y, want)
	}
}

// TestReadCSVUnselectedNotParsed checks data minimisation: cells of
// columns not selected are not parsed, so even malformed ones are fine.
func TestReadCSVUnselectedNotParsed(t *testing.T) {
	ds, err := ReadCSV(strings.NewReader("name,age,y\nAlice,30,a\nBob,41,b\n"), "p.csv",
		LoadOptions{Label: "y", Columns: []string{"age"}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ds.X, []float32{30, 41}) || !slices.Equal(ds.FeatureNames, []string{"age"}) {
		t.Errorf("X = %v, names %v", ds.X, ds.FeatureNames)
	}
}

func TestLoadCSVFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "t.csv")
	if err := os.WriteFile(path, []byte("a,b,y\n1,2,yes\n3,x,no\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load("csv:"+path, LoadOptions{Label: "y"})
	var pe *ParseError
	if !errors.As(err, &pe) || pe.File != path || pe.Line != 3 || pe.Column != 2 {
		t.Fatalf("err = %v, want a ParseError at %s line 3 column 2", err, path)
	}
	if !strings.Contains(err.Error(), path+": line 3, column 2 (\"b\"): not a number") {
		t.Errorf("message %q", err)
	}
	if _, err := Load("csv:"+filepath.Join(dir, "missing.csv"), LoadOptions{Label: "y"}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: err = %v, want ErrNotExist", err)
	}
	if _, err := Load("csv:", LoadOptions{Label: "y"}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("csv: without path: err = %v", err)
	}
}

func FuzzReadCSV(f *testing.F) {
	seeds := []string{
		"a,b,y\n1,2,0\n3,4,1\n",
		"a,y\n\"1\",x\n\"2\",y\n",
		"\uFEFFa;b,y\n1,2,3\n",
		"a,b,y\r\n1,2,0\r\n",
		"y,a\n0,1e3\n1,-2.5\n",
	}
	for _, s := range seeds {
		for i := 0; i <= len(s); i++ {
			f.Add(s[:i])
		}
		for i := range len(s) {
			b := []byte(s)
			b[i] ^= 0x04
			f.Add(string(b))
		}
	}
	f.Fuzz(func(t *testing.T, in string) {
		ds, err := ReadCSV(strings.NewReader(in), "fuzz.csv", LoadOptions{Label: "y"})
		if err != nil {
			var pe *ParseError
			if !errors.Is(err, ErrBadData) || !errors.As(err, &pe) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if err := ds.Validate(); err != nil {
			t.Fatalf("accepted data set is inconsistent: %v", err)
		}
		if ds.Len() == 0 || ds.Features == 0 || ds.Classes == 0 {
			t.Fatalf("accepted an empty data set: %d x %d, %d classes", ds.Len(), ds.Features, ds.Classes)
		}
	})
}
