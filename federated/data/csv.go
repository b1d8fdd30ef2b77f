package data

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
)

// ParseError reports where a table could not be read. It wraps
// [ErrBadData]. It names the file, the line and the column, but never
// quotes the offending cell: the cell is data, and error text may end up in
// logs or reach other parties.
type ParseError struct {
	// File is the file name as given to the loader.
	File string
	// Line is the 1-based line number in the file (0: the whole file).
	Line int
	// Column is the 1-based column number (0: the whole row).
	Column int
	// ColumnName is the header name of Column, when known.
	ColumnName string
	// Reason says what is wrong, without quoting cell contents.
	Reason string
}

// Error formats the position and the reason, e.g.
// `data: bad data: patients.csv: line 14, column 3 ("age"): not a number`.
func (e *ParseError) Error() string {
	var b strings.Builder
	b.WriteString(ErrBadData.Error())
	b.WriteString(": ")
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ": line %d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, ", column %d", e.Column)
			if e.ColumnName != "" {
				fmt.Fprintf(&b, " (%q)", e.ColumnName)
			}
		}
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	return b.String()
}

// Unwrap returns [ErrBadData].
func (e *ParseError) Unwrap() error { return ErrBadData }

// LoadOptions controls [Load], [LoadSplit], [LoadCSV] and [LoadMNIST].
// The zero value loads a bundled set or MNIST with all its features.
type LoadOptions struct {
	// Label names the label column of a CSV file (required for csv:PATH).
	Label string
	// Columns, when not empty, lists the feature columns to read, in this
	// order. Other columns of a CSV file are not parsed at all (data
	// minimisation: a node reads only what the federation declared).
	Columns []string
	// MNISTDir is a directory holding the four MNIST IDX files (gzip or
	// raw). Empty: see [LocateMNIST].
	MNISTDir string
}

// LoadCSV reads the CSV file at path; see [ReadCSV].
func LoadCSV(path string, opts LoadOptions) (*Dataset, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	return ReadCSV(f, path, opts)
}

// ReadCSV reads a table with a header row from r; name is used in errors
// and as the data set name ("csv:" + name).
//
// The column opts.Label holds the class labels: numbers or arbitrary
// strings. Its distinct values, sorted (numerically when all are numbers,
// else as strings), become the class ids 0..K-1, and ClassNames keeps them.
// Feature columns are opts.Columns, or every other column; their cells must
// be finite numbers (surrounding spaces are ignored). Empty lines are
// skipped, quoted fields follow RFC 4180, a UTF-8 byte order mark is
// ignored.
//
// Every problem is a [*ParseError] naming file, line and column: an empty
// file, a header-only file, an unknown label or feature column, a row with
// the wrong number of columns, an empty, non-numeric, NaN or infinite cell
// (or one beyond the float32 range), malformed quoting.
func ReadCSV(r io.Reader, name string, opts LoadOptions) (*Dataset, error) {
	perr := func(line, col int, colName, format string, args ...any) error {
		return &ParseError{File: name, Line: line, Column: col, ColumnName: colName, Reason: fmt.Sprintf(format, args...)}
	}
	cr := csv.NewReader(bufio.NewReader(r))
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true

	rec, err := cr.Read()
	if err == io.EOF {
		return nil, perr(0, 0, "", "empty file, want a header row")
	}
	if err != nil {
		return nil, csvReadError(name, err)
	}
	header := make([]string, len(rec))
	for i, h := range rec {
		if i == 0 {
			h = strings.TrimPrefix(h, "\uFEFF")
		}
		header[i] = strings.TrimSpace(h)
	}
	if opts.Label == "" {
		return nil, perr(1, 0, "", "no label column given (LoadOptions.Label, --label)")
	}
	pos := make(map[string]int, len(header))
	for i, h := range header {
		if j, dup := pos[h]; dup && h != "" {
			return nil, perr(1, i+1, h, "duplicate column name (also column %d)", j+1)
		}
		pos[h] = i
	}
	labelCol, ok := pos[opts.Label]
	if !ok {
		return nil, perr(1, 0, "", "no label column %q; columns are %s", opts.Label, listNames(header, 12))
	}
	var cols []int
	if len(opts.Columns) > 0 {
		for _, c := range opts.Columns {
			i, ok := pos[c]
			switch {
			case !ok:
				return nil, perr(1, 0, "", "no feature column %q; columns are %s", c, listNames(header, 12))
			case i == labelCol:
				return nil, perr(1, i+1, c, "the label column cannot be a feature")
			case slices.Contains(cols, i):
				return nil, perr(1, i+1, c, "feature column selected twice")
			}
			cols = append(cols, i)
		}
	} else {
		for i, h := range header {
			if i == labelCol {
				continue
			}
			if h == "" {
				return nil, perr(1, i+1, "", "column has no name; name it or list the feature columns (LoadOptions.Columns)")
			}
			cols = append(cols, i)
		}
	}
	if len(cols) == 0 {
		return nil, perr(1, 0, "", "no feature columns besides the label column %q", opts.Label)
	}
	featureNames := make([]string, len(cols))
	for k, c := range cols {
		featureNames[k] = header[c]
	}

	var (
		x      []float32
		labels []string
	)
	for {
		rec, err = cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, csvReadError(name, err)
		}
		line, _ := cr.FieldPos(0)
		if len(rec) != len(header) {
			col := len(rec) + 1
			what := "missing"
			if len(rec) > len(header) {
				col, what = len(header)+1, "extra"
			}
			return nil, perr(line, col, "", "%d columns, header has %d (%s column)", len(rec), len(header), what)
		}
		for _, c := range cols {
			v, reason := parseCell(rec[c])
			if reason != "" {
				l, _ := cr.FieldPos(c)
				return nil, perr(l, c+1, header[c], "%s", reason)
			}
			x = append(x, v)
		}
		lab := strings.TrimSpace(rec[labelCol])
		if lab == "" {
			l, _ := cr.FieldPos(labelCol)
			return nil, perr(l, labelCol+1, header[labelCol], "empty label")
		}
		labels = append(labels, lab)
	}
	if len(labels) == 0 {
		return nil, perr(0, 0, "", "no data rows after the header")
	}
	classNames, y := classIDs(labels)
	return &Dataset{
		Name:         "csv:" + name,
		X:            x,
		Y:            y,
		Features:     len(cols),
		Classes:      len(classNames),
		FeatureNames: featureNames,
		ClassNames:   classNames,
	}, nil
}

// parseCell parses one numeric cell; a non-empty reason means rejected.
// Reasons never quote the cell.
func parseCell(s string) (float32, string) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, "empty cell (missing value)"
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, "number out of range"
		}
		return 0, "not a number"
	}
	if math.IsNaN(v) {
		return 0, "NaN is not allowed"
	}
	if math.IsInf(v, 0) {
		return 0, "infinite value is not allowed"
	}
	if math.Abs(v) > math.MaxFloat32 {
		return 0, "number beyond the float32 range"
	}
	return float32(v), ""
}

// classIDs maps label strings to dense class ids in sorted order.
func classIDs(labels []string) (names []string, y []int) {
	distinct := make(map[string]int)
	for _, l := range labels {
		distinct[l] = 0
	}
	names = make([]string, 0, len(distinct))
	numeric := true
	vals := make(map[string]float64, len(distinct))
	for l := range distinct {
		names = append(names, l)
		v, err := strconv.ParseFloat(l, 64)
		if err != nil || math.IsNaN(v) {
			numeric = false
		}
		vals[l] = v
	}
	slices.SortFunc(names, func(a, b string) int {
		if numeric {
			if va, vb := vals[a], vals[b]; va != vb {
				if va < vb {
					return -1
				}
				return 1
			}
		}
		return strings.Compare(a, b)
	})
	for i, n := range names {
		distinct[n] = i
	}
	y = make([]int, len(labels))
	for i, l := range labels {
		y[i] = distinct[l]
	}
	return names, y
}

// csvReadError converts an encoding/csv error into a *ParseError.
func csvReadError(name string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &ParseError{File: name, Line: pe.Line, Reason: fmt.Sprintf("malformed CSV at character %d: %v", pe.Column, pe.Err)}
	}
	return fmt.Errorf("%w: %s: %w", ErrBadData, name, err)
}

// listNames formats at most max header names for an error message.
func listNames(names []string, max int) string {
	var b strings.Builder
	for i, n := range names {
		if i == max {
			fmt.Fprintf(&b, ", ... (%d in all)", len(names))
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", n)
	}
	return b.String()
}
