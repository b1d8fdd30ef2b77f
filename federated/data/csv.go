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

// LoadOptions controls [Load], [LoadSplit], [LoadCSV], [ReadTable] and
// [LoadMNIST]. The zero value loads a bundled set or MNIST with all its
// features.
type LoadOptions struct {
	// Label names the label column of a CSV file (required for csv:PATH
	// unless Schema names it).
	Label string
	// Columns, when not empty, lists the feature columns to read, in this
	// order. Other columns of a CSV file are not parsed at all (data
	// minimisation: a node reads only what the federation declared).
	Columns []string
	// Schema, when not nil, declares how a CSV file is read: label,
	// features, categorical columns, missing-value rules, a missing header
	// (see [Schema]). Label and Columns, when also set, must agree with it.
	// For the other sources only its Features apply (as Columns).
	Schema *Schema
	// LabelOptional lets [ReadTable] read a table without the label column
	// (rows to score): [Table].Labels is then nil. A missing label cell
	// is then read as "" instead of following the label's rule.
	LabelOptional bool
	// Keep names columns [ReadTable] passes through verbatim, unparsed
	// (an id column for predictions). They are never features.
	Keep []string
	// MNISTDir is a directory holding the four MNIST IDX files (gzip or
	// raw). Empty: see [LocateMNIST].
	MNISTDir string
}

// schema merges Label and Columns into a copy of Schema and validates it.
func (o LoadOptions) schema() (Schema, error) {
	var s Schema
	if o.Schema != nil {
		s = *o.Schema
	}
	switch {
	case s.Label == "":
		s.Label = o.Label
	case o.Label != "" && o.Label != s.Label:
		return s, fmt.Errorf("%w: label column %q given, the schema declares %q", ErrInvalidArgument, o.Label, s.Label)
	}
	switch {
	case len(s.Features) == 0:
		s.Features = o.Columns
	case len(o.Columns) > 0 && !slices.Equal(o.Columns, s.Features):
		return s, fmt.Errorf("%w: feature columns given differ from the schema's", ErrInvalidArgument)
	}
	if err := s.Validate(); err != nil {
		return s, err
	}
	return s, nil
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

// LoadTable reads the CSV file at path; see [ReadTable].
func LoadTable(path string, opts LoadOptions) (*Table, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	return ReadTable(f, path, opts)
}

// Table is a CSV table read by [ReadTable]: encoded features, and the
// label and pass-through cells as they appear in the file.
type Table struct {
	// Name is "csv:" + the file name.
	Name string
	// X holds Rows() x Features encoded feature values, row-major.
	X []float32
	// Features is the number of model inputs (after one-hot encoding).
	Features int
	// FeatureNames names the inputs (see [Schema.InputNames]).
	FeatureNames []string
	// Labels holds each row's label cell (trimmed), or is nil when the
	// file has no label column (LoadOptions.LabelOptional). With
	// LabelOptional a missing label is kept as "" (the row is still read).
	Labels []string
	// Lines holds each row's line number in the file (1-based).
	Lines []int
	// Kept holds, per column of LoadOptions.Keep, each row's cell.
	Kept [][]string
	// Dropped counts the rows dropped by a missing-value rule.
	Dropped int
	rows    int
}

// Rows returns the number of rows read (dropped rows excluded).
func (t *Table) Rows() int { return t.rows }

// ReadCSV reads a labelled table from r; name is used in errors and as the
// data set name ("csv:" + name). See [ReadTable] for the format, the
// schema and the errors; the label column is required here.
//
// The label's distinct values, sorted (numerically when all are numbers,
// else as strings), become the class ids 0..K-1, and ClassNames keeps
// them (a federation fixes the order with its manifest's classes instead).
func ReadCSV(r io.Reader, name string, opts LoadOptions) (*Dataset, error) {
	opts.LabelOptional = false
	opts.Keep = nil
	t, err := ReadTable(r, name, opts)
	if err != nil {
		return nil, err
	}
	classNames, y := classIDs(t.Labels)
	return &Dataset{
		Name:         t.Name,
		X:            t.X,
		Y:            y,
		Features:     t.Features,
		Classes:      len(classNames),
		FeatureNames: t.FeatureNames,
		ClassNames:   classNames,
		Dropped:      t.Dropped,
	}, nil
}

// column is a resolved feature column of a table.
type column struct {
	pos    int // 0-based position in the file
	name   string
	cat    *Categorical
	index  map[string]int // category -> indicator
	rule   MissingRule
	impute []float32 // the encoded constant of MissingImpute
}

// ReadTable reads a table from r as the schema in opts declares; name is
// used in errors.
//
// The first row names the columns, unless the schema says NoHeader and
// names them itself; a first row of numbers only is refused as a header
// (the file is probably headerless), and a declared headerless file whose
// first row repeats the declared names is refused too. Feature columns are
// the schema's (or every column but the label and Keep); a numeric cell
// must be a finite number (surrounding spaces are ignored), a categorical
// cell one of its column's declared values, encoded one-hot (an unknown
// value is refused or encoded as zeros, as declared). A cell equal to a
// missing-value marker (empty, NA, NaN, ...) follows the column's rule:
// refused, row dropped, or imputed with the declared constant. Other
// columns are never parsed. Empty lines are skipped, quoted fields follow
// RFC 4180, a UTF-8 byte order mark is ignored.
//
// Every problem is a [*ParseError] naming file, line and column, never the
// cell's value: an empty file, a header-only file, an unknown label or
// feature column, a row with the wrong number of columns, a bad or missing
// cell, malformed quoting. A schema that is invalid on its own wraps
// [ErrInvalidArgument].
func ReadTable(r io.Reader, name string, opts LoadOptions) (*Table, error) {
	sc, err := opts.schema()
	if err != nil {
		return nil, err
	}
	tr := &tableReader{name: name, sc: sc, opts: opts, tokens: sc.missingTokens()}
	tr.cr = csv.NewReader(bufio.NewReader(r))
	tr.cr.FieldsPerRecord = -1
	tr.cr.ReuseRecord = true

	rec, pending, err := tr.readHeader()
	if err != nil {
		return nil, err
	}
	if err := tr.resolveColumns(); err != nil {
		return nil, err
	}
	t := tr.newTable()
	if err := tr.readRows(t, rec, pending); err != nil {
		return nil, err
	}
	if t.rows == 0 {
		if t.Dropped > 0 {
			return nil, tr.perr(0, 0, "", "no data rows left: all %d dropped by the missing-value rules", t.Dropped)
		}
		if sc.NoHeader {
			return nil, tr.perr(0, 0, "", "no data rows")
		}
		return nil, tr.perr(0, 0, "", "no data rows after the header")
	}
	return t, nil
}

// tableReader is the state of one [ReadTable] call: the schema and options,
// the CSV reader, and the columns resolved from the header.
type tableReader struct {
	name   string
	sc     Schema
	opts   LoadOptions
	tokens []string
	cr     *csv.Reader

	header    []string
	labelCol  int // -1 if there is no label column
	labelRule MissingRule
	keep      []int // positions of the pass-through columns
	cols      []column
	row       []float32 // the encoded row, reused
}

// perr returns a [*ParseError] at line and col of the file.
func (tr *tableReader) perr(line, col int, colName, format string, args ...any) error {
	return &ParseError{File: tr.name, Line: line, Column: col, ColumnName: colName, Reason: fmt.Sprintf(format, args...)}
}

// readHeader reads the first record and sets the header: the record itself,
// or the schema's columns for a headerless file. It returns the record and
// whether it is a data row still to be read (pending).
func (tr *tableReader) readHeader() (rec []string, pending bool, err error) {
	sc := tr.sc
	rec, err = tr.cr.Read()
	if err == io.EOF {
		if sc.NoHeader {
			return nil, false, tr.perr(0, 0, "", "empty file, want data rows")
		}
		return nil, false, tr.perr(0, 0, "", "empty file, want a header row")
	}
	if err != nil {
		return nil, false, csvReadError(tr.name, err)
	}
	first := make([]string, len(rec))
	for i, h := range rec {
		if i == 0 {
			h = strings.TrimPrefix(h, "\uFEFF")
		}
		first[i] = strings.TrimSpace(h)
	}
	pending = false // the first record is a data row
	if sc.NoHeader {
		tr.header = sc.Columns
		if slices.Equal(first, tr.header) {
			return nil, false, tr.perr(1, 0, "", "the first row repeats the declared column names: the file has a header row (remove no_header)")
		}
		pending = true
	} else {
		tr.header = first
		// A row of numbers (and missing-value markers) is data, not names.
		numbers, other := 0, 0
		for _, h := range tr.header {
			if _, reason := parseCell(h); reason == "" {
				numbers++
			} else if !isMissing(h, tr.tokens) {
				other++
			}
		}
		if numbers > 0 && other == 0 {
			return nil, false, tr.perr(1, 0, "", "the first row holds only numbers, not column names: a header row is expected (for a file without one, declare no_header and its columns)")
		}
	}
	return rec, pending, nil
}

// resolveColumns resolves the label, pass-through and feature columns
// against the header.
func (tr *tableReader) resolveColumns() error {
	sc, opts, header := tr.sc, tr.opts, tr.header
	if sc.Label == "" && !opts.LabelOptional {
		return tr.perr(1, 0, "", "no label column given (LoadOptions.Label, --label)")
	}
	pos := make(map[string]int, len(header))
	for i, h := range header {
		if j, dup := pos[h]; dup && h != "" {
			return tr.perr(1, i+1, h, "duplicate column name (also column %d)", j+1)
		}
		pos[h] = i
	}
	labelCol, ok := pos[sc.Label]
	if !ok || sc.Label == "" {
		if !opts.LabelOptional {
			return tr.perr(1, 0, "", "no label column %q; columns are %s", sc.Label, listNames(header, 12))
		}
		labelCol = -1
	}
	tr.labelCol = labelCol
	tr.keep = make([]int, len(opts.Keep))
	for k, c := range opts.Keep {
		i, ok := pos[c]
		switch {
		case !ok:
			return tr.perr(1, 0, "", "no column %q to pass through; columns are %s", c, listNames(header, 12))
		case slices.Contains(sc.Features, c):
			return tr.perr(1, i+1, c, "a pass-through column cannot be a feature")
		}
		tr.keep[k] = i
	}
	if err := tr.resolveFeatures(pos); err != nil {
		return err
	}
	if len(tr.cols) == 0 {
		return tr.perr(1, 0, "", "no feature columns besides the label column %q", sc.Label)
	}
	return nil
}

// resolveFeatures sets the feature columns: the schema's, looked up in pos,
// or every named column but the label and the pass-through ones.
func (tr *tableReader) resolveFeatures(pos map[string]int) error {
	sc, header := tr.sc, tr.header
	if len(sc.Features) > 0 {
		for _, f := range sc.Features {
			i, ok := pos[f]
			switch {
			case !ok:
				return tr.perr(1, 0, "", "no feature column %q; columns are %s", f, listNames(header, 12))
			case i == tr.labelCol:
				return tr.perr(1, i+1, f, "the label column cannot be a feature")
			case slices.ContainsFunc(tr.cols, func(c column) bool { return c.pos == i }):
				return tr.perr(1, i+1, f, "feature column selected twice")
			}
			tr.cols = append(tr.cols, newColumn(sc, i, header[i]))
		}
		return nil
	}
	for i, h := range header {
		if i == tr.labelCol || slices.Contains(tr.keep, i) {
			continue
		}
		if h == "" {
			return tr.perr(1, i+1, "", "column has no name; name it or list the feature columns (LoadOptions.Columns)")
		}
		tr.cols = append(tr.cols, newColumn(sc, i, h))
	}
	return nil
}

// newColumn resolves the feature column named name at position i: its
// vocabulary index if categorical and its encoded imputed constant.
func newColumn(sc Schema, i int, name string) column {
	c := column{pos: i, name: name, cat: sc.categorical(name), rule: sc.rule(name)}
	if c.cat != nil {
		c.index = make(map[string]int, len(c.cat.Values))
		for j, v := range c.cat.Values {
			c.index[v] = j
		}
	}
	if c.rule.Action == MissingImpute {
		if c.cat != nil {
			c.impute = make([]float32, len(c.cat.Values))
			c.impute[c.index[c.rule.Value]] = 1
		} else {
			v, _ := parseCell(c.rule.Value)
			c.impute = []float32{v}
		}
	}
	return c
}

// newTable returns the empty table of the resolved columns, with its
// feature names (one per category of a categorical column).
func (tr *tableReader) newTable() *Table {
	t := &Table{Name: "csv:" + tr.name, Kept: make([][]string, len(tr.keep))}
	for _, c := range tr.cols {
		if c.cat != nil {
			for _, v := range c.cat.Values {
				t.FeatureNames = append(t.FeatureNames, c.name+"="+v)
			}
		} else {
			t.FeatureNames = append(t.FeatureNames, c.name)
		}
	}
	t.Features = len(t.FeatureNames)
	tr.labelRule = tr.sc.rule(tr.sc.Label)
	tr.row = make([]float32, t.Features)
	return t
}

// readRows reads the data rows into t; rec is the first record, a data row
// still to be decoded if pending.
func (tr *tableReader) readRows(t *Table, rec []string, pending bool) error {
	var err error
	for {
		if !pending {
			rec, err = tr.cr.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				return csvReadError(tr.name, err)
			}
		}
		pending = false
		line, _ := tr.cr.FieldPos(0)
		if err := tr.checkWidth(line, rec); err != nil {
			return err
		}
		lab, drop, err := tr.decodeRow(rec)
		if err != nil {
			return err
		}
		if drop {
			t.Dropped++
			continue
		}
		t.X = append(t.X, tr.row...)
		t.Lines = append(t.Lines, line)
		if tr.labelCol >= 0 {
			t.Labels = append(t.Labels, lab)
		}
		for j, i := range tr.keep {
			t.Kept[j] = append(t.Kept[j], rec[i])
		}
		t.rows++
	}
	return nil
}

// checkWidth refuses a record at line whose number of fields is not the
// header's.
func (tr *tableReader) checkWidth(line int, rec []string) error {
	header := tr.header
	if len(rec) == len(header) {
		return nil
	}
	col := len(rec) + 1
	what := "missing"
	if len(rec) > len(header) {
		col, what = len(header)+1, "extra"
	}
	if tr.sc.NoHeader {
		return tr.perr(line, col, "", "%d columns, %d declared (%s column)", len(rec), len(header), what)
	}
	return tr.perr(line, col, "", "%d columns, header has %d (%s column)", len(rec), len(header), what)
}

// decodeRow reads the label of rec and encodes its features into tr.row;
// drop reports a row to drop by the missing-value rules.
func (tr *tableReader) decodeRow(rec []string) (lab string, drop bool, err error) {
	if tr.labelCol >= 0 {
		lab = strings.TrimSpace(rec[tr.labelCol])
		if isMissing(lab, tr.tokens) && tr.opts.LabelOptional {
			lab = ""
		} else if isMissing(lab, tr.tokens) {
			if tr.labelRule.Action != MissingDrop {
				l, _ := tr.cr.FieldPos(tr.labelCol)
				return "", false, tr.perr(l, tr.labelCol+1, tr.header[tr.labelCol], "empty or missing label (declare a drop rule for the label to drop such rows)")
			}
			drop = true
		}
	}
	k := 0
	for _, c := range tr.cols {
		if drop {
			break
		}
		w, d, err := tr.encodeCell(c, rec[c.pos], k)
		if err != nil {
			return "", false, err
		}
		drop = d
		k += w
	}
	return lab, drop, nil
}

// encodeCell encodes cell of column c into tr.row at k and returns its
// width; drop reports a missing cell whose rule drops the row.
func (tr *tableReader) encodeCell(c column, cell string, k int) (w int, drop bool, err error) {
	row := tr.row
	w = 1
	if c.cat != nil {
		w = len(c.cat.Values)
	}
	if isMissing(cell, tr.tokens) {
		switch c.rule.Action {
		case MissingDrop:
			drop = true
		case MissingImpute:
			copy(row[k:k+w], c.impute)
		default:
			l, _ := tr.cr.FieldPos(c.pos)
			what := "missing value"
			if strings.TrimSpace(cell) == "" {
				what = "empty cell (missing value)"
			}
			return 0, false, tr.perr(l, c.pos+1, c.name, "%s and no missing-value rule declared for the column", what)
		}
		return w, drop, nil
	}
	if c.cat != nil {
		clear(row[k : k+w])
		j, ok := c.index[strings.TrimSpace(cell)]
		switch {
		case ok:
			row[k+j] = 1
		case c.cat.Unknown != UnknownZero:
			l, _ := tr.cr.FieldPos(c.pos)
			return 0, false, tr.perr(l, c.pos+1, c.name, "category not in the declared vocabulary of %d values (declare it, or unknown = %q)", len(c.cat.Values), UnknownZero)
		}
		return w, false, nil
	}
	v, reason := parseCell(cell)
	if reason != "" {
		l, _ := tr.cr.FieldPos(c.pos)
		return 0, false, tr.perr(l, c.pos+1, c.name, "%s", reason)
	}
	row[k] = v
	return 1, false, nil
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
