package data

import (
	"errors"
	"math"
	"slices"
	"strconv"
	"testing"
)

// checkCover asserts that parts are sorted and hold 0..n-1 exactly once.
func checkCover(t *testing.T, parts [][]int, n, parties int) {
	t.Helper()
	if len(parts) != parties {
		t.Fatalf("%d parts, want %d", len(parts), parties)
	}
	seen := make([]bool, n)
	for p, idx := range parts {
		if !slices.IsSorted(idx) {
			t.Fatalf("party %d: indices not sorted", p)
		}
		for _, i := range idx {
			if i < 0 || i >= n || seen[i] {
				t.Fatalf("party %d: index %d out of range or repeated", p, i)
			}
			seen[i] = true
		}
	}
	for i, s := range seen {
		if !s {
			t.Fatalf("index %d assigned to no party", i)
		}
	}
}

// labelSkew returns the mean, over parties, of the total-variation
// distance between a party's label distribution and the global one
// (0: identical; near 1: disjoint).
func labelSkew(labels []int, classes int, parts [][]int) float64 {
	global := make([]float64, classes)
	for _, y := range labels {
		global[y] += 1 / float64(len(labels))
	}
	total := 0.0
	for _, idx := range parts {
		local := make([]float64, classes)
		for _, i := range idx {
			local[labels[i]] += 1 / float64(len(idx))
		}
		tv := 0.0
		for c := range classes {
			tv += math.Abs(local[c]-global[c]) / 2
		}
		total += tv
	}
	return total / float64(len(parts))
}

// sizeSpread returns max/min party size.
func sizeSpread(parts [][]int) float64 {
	lo, hi := len(parts[0]), len(parts[0])
	for _, p := range parts {
		lo, hi = min(lo, len(p)), max(hi, len(p))
	}
	return float64(hi) / float64(lo)
}

func digitsLabels(t *testing.T) []int {
	t.Helper()
	ds, err := Load("digits", LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ds.Y
}

func TestPartitioners(t *testing.T) {
	labels := digitsLabels(t)
	n := len(labels)
	run := map[string]func(parties int, seed uint64) ([][]int, error){
		"iid":            func(k int, s uint64) ([][]int, error) { return PartitionIID(n, k, s) },
		"dirichlet=0.05": func(k int, s uint64) ([][]int, error) { return PartitionDirichlet(labels, k, 0.05, s) },
		"dirichlet=0.5":  func(k int, s uint64) ([][]int, error) { return PartitionDirichlet(labels, k, 0.5, s) },
		"dirichlet=1000": func(k int, s uint64) ([][]int, error) { return PartitionDirichlet(labels, k, 1000, s) },
		"quantity=0.1":   func(k int, s uint64) ([][]int, error) { return PartitionQuantity(n, k, 0.1, s) },
		"quantity=1":     func(k int, s uint64) ([][]int, error) { return PartitionQuantity(n, k, 1, s) },
	}
	for name, f := range run {
		for _, parties := range []int{1, 2, 7, 50} {
			t.Run(name+"/parties="+strconv.Itoa(parties), func(t *testing.T) {
				a, err := f(parties, 42)
				if err != nil {
					t.Fatal(err)
				}
				checkCover(t, a, n, parties)
				b, _ := f(parties, 42)
				if !slices.EqualFunc(a, b, slices.Equal) {
					t.Error("not deterministic for a seed")
				}
				if parties > 1 {
					c, _ := f(parties, 43)
					if slices.EqualFunc(a, c, slices.Equal) {
						t.Error("seeds 42 and 43 give the same partition")
					}
				}
				m := MinPartySize(n, parties)
				for p, idx := range a {
					if len(idx) < m {
						t.Errorf("party %d has %d examples, minimum is %d", p, len(idx), m)
					}
				}
			})
		}
	}
}

func TestPartitionIIDBalanced(t *testing.T) {
	parts, err := PartitionIID(103, 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	for p, idx := range parts {
		if want := 10 + btoi(p < 3); len(idx) != want {
			t.Errorf("party %d has %d, want %d", p, len(idx), want)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestDirichletSkew measures label skew: small alpha must be far from the
// global label distribution, large alpha and IID close to it.
func TestDirichletSkew(t *testing.T) {
	labels := digitsLabels(t)
	const parties = 10
	skew := func(alpha float64) float64 {
		s := 0.0
		for seed := range uint64(5) {
			var parts [][]int
			var err error
			if alpha == 0 {
				parts, err = PartitionIID(len(labels), parties, seed)
			} else {
				parts, err = PartitionDirichlet(labels, parties, alpha, seed)
			}
			if err != nil {
				t.Fatal(err)
			}
			s += labelSkew(labels, 10, parts) / 5
		}
		return s
	}
	iid, small, mid, large := skew(0), skew(0.1), skew(0.5), skew(1000)
	t.Logf("mean TV distance to the global label distribution: iid %.3f, alpha=0.1 %.3f, alpha=0.5 %.3f, alpha=1000 %.3f", iid, small, mid, large)
	if small < 0.6 {
		t.Errorf("alpha=0.1: skew %.3f, want >= 0.6", small)
	}
	if !(small > mid && mid > large) {
		t.Errorf("skew does not decrease with alpha: %.3f, %.3f, %.3f", small, mid, large)
	}
	if iid > 0.15 || large > 0.15 {
		t.Errorf("iid %.3f / alpha=1000 %.3f: want <= 0.15", iid, large)
	}
}

// TestQuantitySkew checks that quantity skew varies sizes, not labels.
func TestQuantitySkew(t *testing.T) {
	labels := digitsLabels(t)
	small, err := PartitionQuantity(len(labels), 10, 0.1, 7)
	if err != nil {
		t.Fatal(err)
	}
	large, err := PartitionQuantity(len(labels), 10, 1000, 7)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("max/min party size: alpha=0.1 %.1f, alpha=1000 %.2f", sizeSpread(small), sizeSpread(large))
	if sizeSpread(small) < 5 {
		t.Errorf("alpha=0.1: size spread %.1f, want >= 5", sizeSpread(small))
	}
	if sizeSpread(large) > 1.3 {
		t.Errorf("alpha=1000: size spread %.2f, want <= 1.3", sizeSpread(large))
	}
	// Labels stay close to IID within the large parties.
	var big [][]int
	for _, p := range small {
		if len(p) >= 100 {
			big = append(big, p)
		}
	}
	if s := labelSkew(labels, 10, big); s > 0.2 {
		t.Errorf("label skew of quantity partition %.3f, want <= 0.2", s)
	}
}

// TestDirichletTinyAlpha checks alpha far below 1, where Gamma variates
// underflow float64, still gives a valid, maximally skewed partition.
func TestDirichletTinyAlpha(t *testing.T) {
	labels := digitsLabels(t)
	parts, err := PartitionDirichlet(labels, 5, 1e-4, 3)
	if err != nil {
		t.Fatal(err)
	}
	checkCover(t, parts, len(labels), 5)
	if s := labelSkew(labels, 10, parts); s < 0.7 {
		t.Errorf("skew %.3f, want >= 0.7", s)
	}
}

func TestDirichletSampler(t *testing.T) {
	r := newRand(1, 2)
	for _, alpha := range []float64{1e-3, 0.1, 1, 3.5, 100} {
		const k, draws = 4, 4000
		mean := make([]float64, k)
		for range draws {
			p := dirichlet(r, alpha, k)
			sum := 0.0
			for _, v := range p {
				if !(v >= 0 && v <= 1) {
					t.Fatalf("alpha %v: component %v", alpha, v)
				}
				sum += v
			}
			if math.Abs(sum-1) > 1e-9 {
				t.Fatalf("alpha %v: sum %v", alpha, sum)
			}
			for i, v := range p {
				mean[i] += v / draws
			}
		}
		// Symmetric Dirichlet: every component has mean 1/k.
		for i, m := range mean {
			if math.Abs(m-0.25) > 0.03 {
				t.Errorf("alpha %v: component %d has mean %.3f, want 0.25", alpha, i, m)
			}
		}
	}
}

func TestPartitionErrors(t *testing.T) {
	labels := []int{0, 1, 1, 0}
	for name, err := range map[string]error{
		"iid-no-parties":    second(PartitionIID(4, 0, 1)),
		"iid-too-many":      second(PartitionIID(4, 5, 1)),
		"dir-alpha-0":       second(PartitionDirichlet(labels, 2, 0, 1)),
		"dir-alpha-nan":     second(PartitionDirichlet(labels, 2, math.NaN(), 1)),
		"dir-alpha-inf":     second(PartitionDirichlet(labels, 2, math.Inf(1), 1)),
		"dir-negative":      second(PartitionDirichlet([]int{0, -1}, 1, 1, 1)),
		"dir-too-many":      second(PartitionDirichlet(labels, 5, 1, 1)),
		"qty-alpha-neg":     second(PartitionQuantity(4, 2, -1, 1)),
		"split-label-range": second(Partition{Kind: Dirichlet, Alpha: 1}.Split(labels, 1, 2, 1)),
		"split-bad-kind":    second(Partition{Kind: "zipf"}.Split(labels, 2, 2, 1)),
	} {
		if !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s: err = %v, want ErrInvalidArgument", name, err)
		}
	}
}

func second[T any](_ T, err error) error { return err }

func TestParsePartition(t *testing.T) {
	good := map[string]Partition{
		"iid":            {Kind: IID},
		" iid ":          {Kind: IID},
		"dirichlet:0.5":  {Kind: Dirichlet, Alpha: 0.5},
		"dirichlet:1e-2": {Kind: Dirichlet, Alpha: 0.01},
		"quantity:1":     {Kind: Quantity, Alpha: 1},
	}
	for in, want := range good {
		got, err := ParsePartition(in)
		if err != nil || got != want {
			t.Errorf("ParsePartition(%q) = %v, %v; want %v", in, got, err, want)
			continue
		}
		again, err := ParsePartition(got.String())
		if err != nil || again != got {
			t.Errorf("String round trip of %q: %q -> %v, %v", in, got.String(), again, err)
		}
	}
	for _, in := range []string{"", "IID", "iid:1", "dirichlet", "dirichlet:", "dirichlet:0", "dirichlet:-1",
		"dirichlet:x", "dirichlet:NaN", "dirichlet:Inf", "quantity", "zipf:1", "dirichlet:0.5:1"} {
		if _, err := ParsePartition(in); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("ParsePartition(%q) err = %v, want ErrInvalidArgument", in, err)
		}
	}
	// Partition.Split dispatches to the partitioners with the same seed.
	labels := digitsLabels(t)
	p, _ := ParsePartition("dirichlet:0.5")
	a, err := p.Split(labels, 10, 4, 9)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := PartitionDirichlet(labels, 4, 0.5, 9)
	if !slices.EqualFunc(a, b, slices.Equal) {
		t.Error("Partition.Split differs from PartitionDirichlet")
	}
}
