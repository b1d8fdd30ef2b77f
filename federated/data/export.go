package data

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strconv"
)

// WriteCSV writes ds as a CSV table that [ReadCSV] reads back: a header of
// the feature names (or "x0", "x1", ... when ds has none) and then label,
// one row per example with the features in the shortest decimal form that
// round-trips float32, and the class name (or class id) in the label
// column. label names that column and must differ from every feature name.
func WriteCSV(w io.Writer, ds *Dataset, label string) error {
	if err := ds.Validate(); err != nil {
		return err
	}
	names := ds.FeatureNames
	if names == nil {
		names = make([]string, ds.Features)
		for i := range names {
			names[i] = "x" + strconv.Itoa(i)
		}
	}
	if label == "" || slices.Contains(names, label) {
		return fmt.Errorf("%w: label column %q is empty or a feature name", ErrInvalidArgument, label)
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	cw := csv.NewWriter(bw)
	rec := make([]string, 0, ds.Features+1)
	if err := cw.Write(append(append(rec, names...), label)); err != nil {
		return err
	}
	buf := make([]byte, 0, 32*(ds.Features+1))
	for i := range ds.Len() {
		rec = rec[:0]
		buf = buf[:0]
		// Numbers need no quoting: format them into one buffer.
		for _, v := range ds.Row(i) {
			buf = strconv.AppendFloat(buf, float64(v), 'g', -1, 32)
			buf = append(buf, ',')
		}
		class := strconv.Itoa(ds.Y[i])
		if ds.ClassNames != nil {
			class = ds.ClassNames[ds.Y[i]]
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return err
		}
		if _, err := bw.Write(buf); err != nil {
			return err
		}
		if err := cw.Write(append(rec, class)); err != nil {
			return err
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	return bw.Flush()
}
