package data

import (
	"errors"
	"fmt"
)

// Errors returned by this package. Every failure wraps one of them, so
// callers can classify with [errors.Is].
var (
	// ErrBadData marks input that cannot be read as a data set: a malformed
	// CSV or IDX file, a non-numeric or non-finite cell, a wrong column
	// count, an unknown label column. CSV problems come as a [*ParseError].
	ErrBadData = errors.New("data: bad data")
	// ErrUnknownDataset is returned by [Load] for a name it does not know.
	ErrUnknownDataset = errors.New("data: unknown data set")
	// ErrMNISTNotFound is returned when no directory holding the MNIST IDX
	// files can be located (see [LocateMNIST]).
	ErrMNISTNotFound = errors.New("data: MNIST files not found")
	// ErrInvalidArgument marks a parameter outside its documented range
	// (a test fraction outside (0, 1), alpha <= 0, more parties than
	// examples, a label outside 0..classes-1).
	ErrInvalidArgument = errors.New("data: invalid argument")
)

// Dataset is a labelled table of float32 features held in memory.
//
// X is row-major: example i occupies X[i*Features : (i+1)*Features].
// Y[i] is the class of example i, in 0..Classes-1. FeatureNames and
// ClassNames are shared, read-only metadata: [Dataset.Subset] and [Split]
// copy X and Y but not these name slices.
type Dataset struct {
	// Name identifies the source ("wine", "mnist-train", "csv:PATH").
	Name string
	// X holds Len() x Features feature values, row-major.
	X []float32
	// Y holds one class label per example, in 0..Classes-1.
	Y []int
	// Features is the number of columns of X.
	Features int
	// Classes is the number of classes; labels lie in 0..Classes-1.
	Classes int
	// FeatureNames has one name per feature column.
	FeatureNames []string
	// ClassNames maps a class id to the label it stands for in the source
	// (for a CSV file: the distinct label values in sorted order).
	ClassNames []string
	// Dropped counts the rows a loader dropped by a declared missing-value
	// rule (see [Schema]); 0 for other sources. Subsets do not carry it.
	Dropped int
}

// Len returns the number of examples.
func (d *Dataset) Len() int { return len(d.Y) }

// Row returns the features of example i as a sub-slice of X (no copy).
// The returned slice has capacity Features, so appending to it cannot
// overwrite the next row. It panics if i is out of range, like slicing.
func (d *Dataset) Row(i int) []float32 {
	lo := i * d.Features
	return d.X[lo : lo+d.Features : lo+d.Features]
}

// Subset returns a new data set holding copies of the examples idx, in that
// order. Indices may repeat. It panics if an index is out of range, like
// slicing; the index lists returned by [Split] and the partitioners are
// always in range.
func (d *Dataset) Subset(idx []int) *Dataset {
	s := &Dataset{
		Name:         d.Name,
		X:            make([]float32, 0, len(idx)*d.Features),
		Y:            make([]int, 0, len(idx)),
		Features:     d.Features,
		Classes:      d.Classes,
		FeatureNames: d.FeatureNames,
		ClassNames:   d.ClassNames,
	}
	for _, i := range idx {
		s.X = append(s.X, d.Row(i)...)
		s.Y = append(s.Y, d.Y[i])
	}
	return s
}

// ClassCounts returns the number of examples of each class.
func (d *Dataset) ClassCounts() []int {
	c := make([]int, d.Classes)
	for _, y := range d.Y {
		if y >= 0 && y < d.Classes {
			c[y]++
		}
	}
	return c
}

// Validate checks the invariants of the type: len(X) = Len()*Features,
// every label in 0..Classes-1, name slices of the right length when set.
func (d *Dataset) Validate() error {
	switch {
	case d.Features < 0 || d.Classes < 0:
		return fmt.Errorf("%w: %s: negative shape", ErrBadData, d.Name)
	case len(d.X) != len(d.Y)*d.Features:
		return fmt.Errorf("%w: %s: %d feature values for %d examples of %d features",
			ErrBadData, d.Name, len(d.X), len(d.Y), d.Features)
	case d.FeatureNames != nil && len(d.FeatureNames) != d.Features:
		return fmt.Errorf("%w: %s: %d feature names for %d features", ErrBadData, d.Name, len(d.FeatureNames), d.Features)
	case d.ClassNames != nil && len(d.ClassNames) != d.Classes:
		return fmt.Errorf("%w: %s: %d class names for %d classes", ErrBadData, d.Name, len(d.ClassNames), d.Classes)
	}
	for i, y := range d.Y {
		if y < 0 || y >= d.Classes {
			return fmt.Errorf("%w: %s: example %d has label %d outside 0..%d", ErrBadData, d.Name, i, y, d.Classes-1)
		}
	}
	return nil
}

// SelectColumns returns a new data set keeping only the named feature
// columns, in the order given. It is how a node reads no more of its data
// than the federation needs (data minimisation). An unknown or repeated
// name is an [ErrBadData] error.
func (d *Dataset) SelectColumns(names []string) (*Dataset, error) {
	cols, err := columnIndices(d.Name, d.FeatureNames, names)
	if err != nil {
		return nil, err
	}
	s := &Dataset{
		Name:         d.Name,
		X:            make([]float32, 0, d.Len()*len(cols)),
		Y:            append([]int(nil), d.Y...),
		Features:     len(cols),
		Classes:      d.Classes,
		FeatureNames: append([]string(nil), names...),
		ClassNames:   d.ClassNames,
	}
	for i := range d.Len() {
		row := d.Row(i)
		for _, c := range cols {
			s.X = append(s.X, row[c])
		}
	}
	return s, nil
}

// columnIndices maps names to their positions in have.
func columnIndices(src string, have, names []string) ([]int, error) {
	if len(names) == 0 {
		return nil, fmt.Errorf("%w: %s: empty column selection", ErrBadData, src)
	}
	pos := make(map[string]int, len(have))
	for i, h := range have {
		if _, dup := pos[h]; !dup {
			pos[h] = i
		}
	}
	seen := make(map[string]bool, len(names))
	cols := make([]int, len(names))
	for k, n := range names {
		i, ok := pos[n]
		if !ok {
			return nil, fmt.Errorf("%w: %s: no feature column %q", ErrBadData, src, n)
		}
		if seen[n] {
			return nil, fmt.Errorf("%w: %s: column %q selected twice", ErrBadData, src, n)
		}
		seen[n] = true
		cols[k] = i
	}
	return cols, nil
}
