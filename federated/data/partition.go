package data

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// MinPartySize returns the number of examples every party is guaranteed by
// [PartitionDirichlet] and [PartitionQuantity] when n examples go to
// parties parties: min(10, n / (2*parties)), but at least 1. Skewed
// partitions thus stay skewed while no party is left without data.
func MinPartySize(n, parties int) int {
	if parties < 1 {
		return 0
	}
	return max(1, min(10, n/(2*parties)))
}

// PartitionIID deals the indices 0..n-1 to parties parties uniformly at
// random: party sizes differ by at most one. Each list is sorted; together
// they hold every index exactly once. The result depends only on the
// arguments.
func PartitionIID(n, parties int, seed uint64) ([][]int, error) {
	if err := checkParties(n, parties); err != nil {
		return nil, err
	}
	perm := newRand(seed, streamIID).Perm(n)
	sizes := make([]int, parties)
	for p := range sizes {
		sizes[p] = n / parties
		if p < n%parties {
			sizes[p]++
		}
	}
	return cutSorted(perm, sizes), nil
}

// PartitionDirichlet splits examples among parties with label skew, as in
// Hsu, Qi and Brown, "Measuring the effects of non-identical data
// distribution for federated visual classification" (2019), and the NIID
// benchmark of Li et al. (ICDE 2022): for each class, proportions
// p ~ Dirichlet(alpha, ..., alpha) over the parties are drawn and the
// class's examples are dealt accordingly. Small alpha (0.1) gives each
// party few classes; large alpha (100) approaches IID. Afterwards, parties
// holding fewer than [MinPartySize] examples receive random examples from
// the currently largest party. labels must lie in 0..K-1. Each list is
// sorted; together they hold every index exactly once; the result depends
// only on the arguments.
func PartitionDirichlet(labels []int, parties int, alpha float64, seed uint64) ([][]int, error) {
	classes := 0
	for _, y := range labels {
		classes = max(classes, y+1)
	}
	return partitionDirichlet(labels, max(classes, 1), parties, alpha, seed)
}

func partitionDirichlet(labels []int, classes, parties int, alpha float64, seed uint64) ([][]int, error) {
	n := len(labels)
	if err := checkParties(n, parties); err != nil {
		return nil, err
	}
	if err := checkAlpha(alpha); err != nil {
		return nil, err
	}
	byClass, err := groupByClass(labels, classes)
	if err != nil {
		return nil, err
	}
	r := newRand(seed, streamDirichlet)
	parts := make([][]int, parties)
	for _, idx := range byClass {
		r.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
		p := dirichlet(r, alpha, parties)
		cum, start := 0.0, 0
		for j := range parties {
			cum += p[j]
			end := int(math.Round(cum * float64(len(idx))))
			if j == parties-1 {
				end = len(idx)
			}
			end = min(max(end, start), len(idx))
			parts[j] = append(parts[j], idx[start:end]...)
			start = end
		}
	}
	ensureMinimum(r, parts, MinPartySize(n, parties))
	for _, p := range parts {
		slices.Sort(p)
	}
	return parts, nil
}

// PartitionQuantity splits the indices 0..n-1 among parties with quantity
// skew: party sizes follow proportions p ~ Dirichlet(alpha) (on top of
// [MinPartySize] examples each), while every party's examples are a
// uniform random sample, so label distributions stay IID. Each list is
// sorted; together they hold every index exactly once; the result depends
// only on the arguments.
func PartitionQuantity(n, parties int, alpha float64, seed uint64) ([][]int, error) {
	if err := checkParties(n, parties); err != nil {
		return nil, err
	}
	if err := checkAlpha(alpha); err != nil {
		return nil, err
	}
	r := newRand(seed, streamQuantity)
	m := MinPartySize(n, parties)
	rest := n - m*parties
	p := dirichlet(r, alpha, parties)
	sizes := make([]int, parties)
	type rem struct {
		party int
		frac  float64
	}
	rems := make([]rem, parties)
	given := 0
	for j := range sizes {
		exact := p[j] * float64(rest)
		extra := int(math.Floor(exact))
		sizes[j] = m + extra
		given += extra
		rems[j] = rem{j, exact - float64(extra)}
	}
	slices.SortStableFunc(rems, func(a, b rem) int {
		switch {
		case a.frac > b.frac:
			return -1
		case a.frac < b.frac:
			return 1
		}
		return 0
	})
	for i := 0; given < rest; i++ {
		sizes[rems[i%parties].party]++
		given++
	}
	return cutSorted(r.Perm(n), sizes), nil
}

// cutSorted cuts perm into consecutive pieces of the given sizes and sorts
// each piece.
func cutSorted(perm []int, sizes []int) [][]int {
	parts := make([][]int, len(sizes))
	start := 0
	for j, s := range sizes {
		parts[j] = slices.Clone(perm[start : start+s])
		slices.Sort(parts[j])
		start += s
	}
	return parts
}

// ensureMinimum moves random examples from the largest party to every
// party below m examples. It terminates because n >= 2*m*parties or m = 1
// with n >= parties, so the largest party always holds more than m.
func ensureMinimum(r *rand.Rand, parts [][]int, m int) {
	for j := range parts {
		for len(parts[j]) < m {
			donor := 0
			for k := range parts {
				if len(parts[k]) > len(parts[donor]) {
					donor = k
				}
			}
			if len(parts[donor]) <= m {
				return
			}
			d := parts[donor]
			i := r.IntN(len(d))
			parts[j] = append(parts[j], d[i])
			d[i] = d[len(d)-1]
			parts[donor] = d[:len(d)-1]
		}
	}
}

// dirichlet draws a point of the (k-1)-simplex from the symmetric
// Dirichlet(alpha) distribution, as normalised Gamma(alpha, 1) variates.
// The variates are handled as logarithms so that tiny alpha (where Gamma
// variates underflow float64) still yields a valid, very skewed point.
func dirichlet(r *rand.Rand, alpha float64, k int) []float64 {
	logs := make([]float64, k)
	top := math.Inf(-1)
	for i := range logs {
		logs[i] = logGamma(r, alpha)
		top = math.Max(top, logs[i])
	}
	p := make([]float64, k)
	sum := 0.0
	for i, l := range logs {
		p[i] = math.Exp(l - top)
		sum += p[i]
	}
	for i := range p {
		p[i] /= sum
	}
	return p
}

// logGamma returns the logarithm of a Gamma(a, 1) variate (Marsaglia and
// Tsang, "A simple method for generating gamma variables", ACM TOMS 2000;
// for a < 1 the boost G(a) = G(a+1) * U^(1/a) from the same paper).
func logGamma(r *rand.Rand, a float64) float64 {
	if a < 1 {
		u := 1 - r.Float64() // in (0, 1]
		return logGamma(r, a+1) + math.Log(u)/a
	}
	d := a - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := r.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := 1 - r.Float64()
		x2 := x * x
		if u < 1-0.0331*x2*x2 || math.Log(u) < 0.5*x2+d*(1-v+math.Log(v)) {
			return math.Log(d * v)
		}
	}
}

func checkParties(n, parties int) error {
	if parties < 1 {
		return fmt.Errorf("%w: %d parties, want at least 1", ErrInvalidArgument, parties)
	}
	if n < parties {
		return fmt.Errorf("%w: %d examples cannot give each of %d parties one", ErrInvalidArgument, n, parties)
	}
	return nil
}

func checkAlpha(alpha float64) error {
	if !(alpha > 0) || math.IsInf(alpha, 0) {
		return fmt.Errorf("%w: alpha %v, want a finite value > 0", ErrInvalidArgument, alpha)
	}
	return nil
}

// PartitionKind names a partitioning scheme.
type PartitionKind string

// The partitioning schemes of [Partition].
const (
	IID       PartitionKind = "iid"
	Dirichlet PartitionKind = "dirichlet"
	Quantity  PartitionKind = "quantity"
)

// Partition is a parsed partitioning scheme: how a training set is dealt
// to the parties of a simulation.
type Partition struct {
	// Kind is the scheme.
	Kind PartitionKind
	// Alpha is the Dirichlet concentration (Dirichlet and Quantity only).
	Alpha float64
}

// ParsePartition parses "iid", "dirichlet:ALPHA" or "quantity:ALPHA"
// (ALPHA a finite number > 0, e.g. "dirichlet:0.5").
func ParsePartition(s string) (Partition, error) {
	kind, arg, hasArg := strings.Cut(strings.TrimSpace(s), ":")
	switch PartitionKind(kind) {
	case IID:
		if hasArg {
			return Partition{}, fmt.Errorf("%w: partition %q: iid takes no parameter", ErrInvalidArgument, s)
		}
		return Partition{Kind: IID}, nil
	case Dirichlet, Quantity:
		if !hasArg {
			return Partition{}, fmt.Errorf("%w: partition %q: want %s:ALPHA, e.g. %s:0.5", ErrInvalidArgument, s, kind, kind)
		}
		a, err := strconv.ParseFloat(arg, 64)
		if err != nil {
			return Partition{}, fmt.Errorf("%w: partition %q: alpha is not a number", ErrInvalidArgument, s)
		}
		if err := checkAlpha(a); err != nil {
			return Partition{}, fmt.Errorf("partition %q: %w", s, err)
		}
		return Partition{Kind: PartitionKind(kind), Alpha: a}, nil
	}
	return Partition{}, fmt.Errorf("%w: partition %q: want iid, dirichlet:ALPHA or quantity:ALPHA", ErrInvalidArgument, s)
}

// String returns the form ParsePartition accepts ("" for the zero value).
func (p Partition) String() string {
	if p.Kind == IID || p.Kind == "" {
		return string(p.Kind)
	}
	return string(p.Kind) + ":" + strconv.FormatFloat(p.Alpha, 'g', -1, 64)
}

// Split deals the examples with the given labels (in 0..classes-1) to
// parties parties by the scheme, returning per party a sorted list of
// indices into labels that together hold every index exactly once.
func (p Partition) Split(labels []int, classes, parties int, seed uint64) ([][]int, error) {
	switch p.Kind {
	case IID:
		return PartitionIID(len(labels), parties, seed)
	case Dirichlet:
		return partitionDirichlet(labels, classes, parties, p.Alpha, seed)
	case Quantity:
		return PartitionQuantity(len(labels), parties, p.Alpha, seed)
	}
	return nil, fmt.Errorf("%w: unknown partition kind %q", ErrInvalidArgument, p.Kind)
}
