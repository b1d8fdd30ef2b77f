package data

import (
	"fmt"
	"math"
)

// Scaler holds per-feature statistics fitted on a training set, so the
// same affine map can be applied to data seen later (the test set, or a new
// party's rows): x' = (x - Mean) / Std.
type Scaler struct {
	// Mean is the per-feature mean of the fitted data.
	Mean []float32
	// Std is the per-feature population standard deviation, or 1 for a
	// constant (or numerically constant) feature, which thus maps to 0.
	Std []float32
}

// FitScaler computes the mean and standard deviation of each feature of
// ds (two passes in float64).
func FitScaler(ds *Dataset) *Scaler {
	d, n := ds.Features, ds.Len()
	mean := make([]float64, d)
	for i := range n {
		for j, v := range ds.Row(i) {
			mean[j] += float64(v)
		}
	}
	for j := range mean {
		mean[j] /= float64(max(n, 1))
	}
	variance := make([]float64, d)
	for i := range n {
		for j, v := range ds.Row(i) {
			dv := float64(v) - mean[j]
			variance[j] += dv * dv
		}
	}
	s := &Scaler{Mean: make([]float32, d), Std: make([]float32, d)}
	for j := range d {
		sd := math.Sqrt(variance[j] / float64(max(n, 1)))
		// A spread below float32 resolution around the mean is rounding
		// noise of a constant column: leave such a column unscaled.
		if !(sd > 1e-6*math.Max(1, math.Abs(mean[j]))) {
			sd = 1
		}
		s.Mean[j] = float32(mean[j])
		s.Std[j] = float32(sd)
	}
	return s
}

// Transform standardises ds in place. It fails if ds has a different
// number of features than the fitted data.
func (s *Scaler) Transform(ds *Dataset) error {
	if ds.Features != len(s.Mean) {
		return fmt.Errorf("%w: scaler fitted on %d features, data set %s has %d",
			ErrInvalidArgument, len(s.Mean), ds.Name, ds.Features)
	}
	for i := range ds.Len() {
		row := ds.Row(i)
		for j, v := range row {
			row[j] = (v - s.Mean[j]) / s.Std[j]
		}
	}
	return nil
}

// Standardize fits a [Scaler] on train and applies it, in place, to train
// and to each of others (typically the test set), so no statistic of the
// test set leaks into training. It returns the scaler for later data.
func Standardize(train *Dataset, others ...*Dataset) (*Scaler, error) {
	s := FitScaler(train)
	for _, ds := range others {
		if err := s.Transform(ds); err != nil {
			return nil, err
		}
	}
	if err := s.Transform(train); err != nil {
		return nil, err
	}
	return s, nil
}
