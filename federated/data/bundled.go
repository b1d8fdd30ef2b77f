package data

import (
	"bufio"
	"compress/gzip"
	"embed"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// bundledFS holds the small data sets shipped with the binary (see
// testdata/README.md for their source and licence).
//
//go:embed testdata/breast_cancer.csv testdata/wine_data.csv testdata/digits.csv.gz
var bundledFS embed.FS

// bundledSet describes one embedded scikit-learn data file.
type bundledSet struct {
	file     string
	header   bool // first row is "nsamples,nfeatures,classname..."
	rows     int
	features int
	classes  int
	names    func() []string
}

// bundled lists the embedded sets by their CLI name.
func bundled(name string) (bundledSet, bool) {
	switch name {
	case "breast-cancer":
		return bundledSet{"breast_cancer.csv", true, 569, 30, 2, breastCancerFeatures}, true
	case "wine":
		return bundledSet{"wine_data.csv", true, 178, 13, 3, wineFeatures}, true
	case "digits":
		return bundledSet{"digits.csv.gz", false, 1797, 64, 10, func() []string { return pixelNames(8, 8) }}, true
	}
	return bundledSet{}, false
}

// Names returns the data set names [Load] accepts besides "csv:PATH" and
// "idx:IMAGES,LABELS".
func Names() []string { return []string{"breast-cancer", "digits", "wine", "mnist"} }

// Load loads a data set by name:
//
//   - "breast-cancer": UCI Wisconsin Diagnostic Breast Cancer, 569 x 30,
//     classes malignant (0) and benign (1);
//   - "wine": UCI Wine, 178 x 13, 3 cultivars;
//   - "digits": UCI optical handwritten digits (test part, 8x8 images,
//     pixel counts 0..16), 1797 x 64, 10 classes;
//   - "mnist": the 70000 MNIST images (training set first, then test set);
//     use [LoadSplit] or [LoadMNIST] to keep the official split;
//   - "csv:PATH": the user's own table, read by [LoadCSV] with opts.Label
//     (and opts.Schema);
//   - "idx:IMAGES,LABELS": a pair of IDX files in the MNIST layout (for
//     example Fashion-MNIST), read by [LoadIDX].
//
// The first three are embedded in the binary, so they load anywhere. Values
// are as published (not standardised; see [Standardize]). opts.Columns
// selects feature columns by name for every source.
func Load(name string, opts LoadOptions) (*Dataset, error) {
	if path, ok := strings.CutPrefix(name, "csv:"); ok {
		if path == "" {
			return nil, fmt.Errorf("%w: csv: needs a file path (csv:PATH)", ErrInvalidArgument)
		}
		return LoadCSV(path, opts)
	}
	if opts.Label != "" {
		return nil, fmt.Errorf("%w: a label column applies to csv:PATH data sets only", ErrInvalidArgument)
	}
	if opts.Schema != nil {
		s := *opts.Schema
		if s.Label != "" || s.NoHeader || len(s.Categorical) > 0 || len(s.Missing) > 0 {
			return nil, fmt.Errorf("%w: a schema's label, header, categorical and missing-value rules apply to csv:PATH data sets only", ErrInvalidArgument)
		}
		if len(opts.Columns) == 0 {
			opts.Columns = s.Features
		}
	}
	if spec, ok := strings.CutPrefix(name, "idx:"); ok {
		images, labels, ok := strings.Cut(spec, ",")
		if !ok || images == "" || labels == "" || strings.Contains(labels, ",") {
			return nil, fmt.Errorf("%w: idx: needs two file paths without commas (idx:IMAGES,LABELS)", ErrInvalidArgument)
		}
		ds, err := LoadIDX(images, labels)
		if err != nil {
			return nil, err
		}
		if len(opts.Columns) > 0 {
			return ds.SelectColumns(opts.Columns)
		}
		return ds, nil
	}
	if name == "mnist" {
		train, test, err := LoadMNIST(opts)
		if err != nil {
			return nil, err
		}
		all := &Dataset{
			Name:         "mnist",
			X:            append(train.X, test.X...),
			Y:            append(train.Y, test.Y...),
			Features:     train.Features,
			Classes:      train.Classes,
			FeatureNames: train.FeatureNames,
			ClassNames:   train.ClassNames,
		}
		return all, nil
	}
	set, ok := bundled(name)
	if !ok {
		return nil, fmt.Errorf("%w: %q (known: %s, csv:PATH, idx:IMAGES,LABELS)", ErrUnknownDataset, name, strings.Join(Names(), ", "))
	}
	ds, err := set.load(name)
	if err != nil {
		return nil, err
	}
	if len(opts.Columns) > 0 {
		return ds.SelectColumns(opts.Columns)
	}
	return ds, nil
}

// LoadSplit loads a data set and splits it into training and test sets:
// MNIST by its official split (testFraction is then ignored), every other
// set by [Split] with testFraction and seed.
func LoadSplit(name string, opts LoadOptions, testFraction float64, seed uint64) (train, test *Dataset, err error) {
	if name == "mnist" {
		return LoadMNIST(opts)
	}
	ds, err := Load(name, opts)
	if err != nil {
		return nil, nil, err
	}
	return Split(ds, testFraction, seed)
}

// load parses an embedded scikit-learn file: optional first row
// "nsamples,nfeatures,classnames...", then rows of features and an integer
// label in the last column.
func (s bundledSet) load(name string) (*Dataset, error) {
	f, err := bundledFS.Open("testdata/" + s.file)
	if err != nil {
		return nil, fmt.Errorf("data: %s: %w", s.file, err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(s.file, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrBadData, s.file, err)
		}
		defer zr.Close()
		r = zr
	}
	perr := func(line, col int, format string, args ...any) error {
		return &ParseError{File: s.file, Line: line, Column: col, Reason: fmt.Sprintf(format, args...)}
	}
	ds := &Dataset{
		Name:         name,
		X:            make([]float32, 0, s.rows*s.features),
		Y:            make([]int, 0, s.rows),
		Features:     s.features,
		Classes:      s.classes,
		FeatureNames: s.names(),
		ClassNames:   digitNames(s.classes),
	}
	sc := bufio.NewScanner(r)
	line := 0
	if s.header {
		if !sc.Scan() {
			return nil, perr(1, 0, "missing first row")
		}
		line++
		f := strings.Split(strings.TrimSpace(sc.Text()), ",")
		if len(f) != 2+s.classes || f[0] != strconv.Itoa(s.rows) || f[1] != strconv.Itoa(s.features) {
			return nil, perr(1, 0, "first row does not describe %d x %d with %d classes", s.rows, s.features, s.classes)
		}
		ds.ClassNames = f[2:]
	}
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		cells := strings.Split(text, ",")
		if len(cells) != s.features+1 {
			return nil, perr(line, 0, "%d columns, want %d", len(cells), s.features+1)
		}
		for j, c := range cells[:s.features] {
			v, reason := parseCell(c)
			if reason != "" {
				return nil, perr(line, j+1, "%s", reason)
			}
			ds.X = append(ds.X, v)
		}
		v, reason := parseCell(cells[s.features])
		if reason != "" || v != float32(int(v)) || int(v) < 0 || int(v) >= s.classes {
			return nil, perr(line, s.features+1, "label is not a class id 0..%d", s.classes-1)
		}
		ds.Y = append(ds.Y, int(v))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadData, s.file, err)
	}
	if ds.Len() != s.rows {
		return nil, perr(0, 0, "%d rows, want %d", ds.Len(), s.rows)
	}
	return ds, nil
}

// breastCancerFeatures returns scikit-learn's feature names for the
// Wisconsin diagnostic breast cancer data: ten nucleus measurements, each
// as mean, standard error and worst (largest) value.
func breastCancerFeatures() []string {
	base := []string{"radius", "texture", "perimeter", "area", "smoothness", "compactness",
		"concavity", "concave points", "symmetry", "fractal dimension"}
	names := make([]string, 0, 30)
	for _, b := range base {
		names = append(names, "mean "+b)
	}
	for _, b := range base {
		names = append(names, b+" error")
	}
	for _, b := range base {
		names = append(names, "worst "+b)
	}
	return names
}

// wineFeatures returns scikit-learn's feature names for the wine data.
func wineFeatures() []string {
	return []string{"alcohol", "malic_acid", "ash", "alcalinity_of_ash", "magnesium", "total_phenols",
		"flavanoids", "nonflavanoid_phenols", "proanthocyanins", "color_intensity", "hue",
		"od280/od315_of_diluted_wines", "proline"}
}
