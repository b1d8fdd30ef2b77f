package data

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Stream constants separate the random streams drawn from one seed, so
// that a split and a partition with the same seed are independent.
const (
	streamSplit     = 0x73706c6974 // "split"
	streamIID       = 0x696964     // "iid"
	streamDirichlet = 0x646972     // "dir"
	streamQuantity  = 0x7175616e74 // "quant"
)

// newRand returns a generator for seed and stream (PCG, math/rand/v2).
func newRand(seed, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, stream))
}

// Split divides ds into a training and a test set, stratified by class:
// round(testFraction * Len()) examples go to the test set, spread over the
// classes in proportion to their sizes (largest remainders), except that
// every class with at least two examples keeps one on each side (which can
// move a tiny class's quota by one). Which examples
// go where is drawn from seed only; both sets keep the original order of
// their examples. testFraction must lie strictly between 0 and 1, and ds
// must hold at least two examples.
func Split(ds *Dataset, testFraction float64, seed uint64) (train, test *Dataset, err error) {
	trainIdx, testIdx, err := SplitIndices(ds.Y, ds.Classes, testFraction, seed)
	if err != nil {
		return nil, nil, err
	}
	return ds.Subset(trainIdx), ds.Subset(testIdx), nil
}

// SplitIndices is [Split] on labels alone: it returns sorted index lists.
func SplitIndices(labels []int, classes int, testFraction float64, seed uint64) (trainIdx, testIdx []int, err error) {
	n := len(labels)
	if !(testFraction > 0 && testFraction < 1) {
		return nil, nil, fmt.Errorf("%w: test fraction %v, want a value in (0, 1)", ErrInvalidArgument, testFraction)
	}
	if n < 2 {
		return nil, nil, fmt.Errorf("%w: %d examples cannot be split", ErrInvalidArgument, n)
	}
	byClass, err := groupByClass(labels, classes)
	if err != nil {
		return nil, nil, err
	}
	// Largest-remainder allocation of the test quota over classes.
	total := int(math.Round(testFraction * float64(n)))
	total = min(max(total, 1), n-1)
	quota := make([]int, len(byClass))
	type rem struct {
		class int
		frac  float64
	}
	rems := make([]rem, 0, len(byClass))
	given := 0
	for c, idx := range byClass {
		exact := testFraction * float64(len(idx))
		quota[c] = int(math.Floor(exact))
		given += quota[c]
		rems = append(rems, rem{c, exact - float64(quota[c])})
	}
	slices.SortStableFunc(rems, func(a, b rem) int { return cmp.Compare(b.frac, a.frac) })
	for i := 0; given < total && i < len(rems); i++ {
		quota[rems[i].class]++
		given++
	}
	for c, idx := range byClass {
		if len(idx) >= 2 {
			quota[c] = min(max(quota[c], 1), len(idx)-1)
		}
	}
	r := newRand(seed, streamSplit)
	inTest := make([]bool, n)
	for c, idx := range byClass {
		perm := slices.Clone(idx)
		r.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
		for _, i := range perm[:quota[c]] {
			inTest[i] = true
		}
	}
	for i, t := range inTest {
		if t {
			testIdx = append(testIdx, i)
		} else {
			trainIdx = append(trainIdx, i)
		}
	}
	return trainIdx, testIdx, nil
}

// groupByClass returns, per class, the indices of its examples in order.
func groupByClass(labels []int, classes int) ([][]int, error) {
	if classes < 1 {
		return nil, fmt.Errorf("%w: %d classes", ErrInvalidArgument, classes)
	}
	byClass := make([][]int, classes)
	for i, y := range labels {
		if y < 0 || y >= classes {
			return nil, fmt.Errorf("%w: label %d of example %d outside 0..%d", ErrInvalidArgument, y, i, classes-1)
		}
		byClass[y] = append(byClass[y], i)
	}
	return byClass, nil
}
