package secagg

import (
	"crypto/ed25519"
	"errors"
	"math"
	"slices"
	"testing"
)

func TestNewParamsValidates(t *testing.T) {
	_, pk := testIdentities(5, 1)
	ok := Config{FederationID: "f", Round: 1, Parties: 5, Dim: 3, Threshold: 3, Identities: pk}
	if p, err := NewParams(ok); err != nil || p.Bits() != 32 || p.Degree() != 4 || !p.Complete() || p.MinSurvivors() != 3 {
		t.Fatalf("valid config: %v", err)
	}
	for name, edit := range map[string]func(*Config){
		"no-fed":       func(c *Config) { c.FederationID = "" },
		"long-fed":     func(c *Config) { c.FederationID = string(make([]byte, MaxFederationID+1)) },
		"no-parties":   func(c *Config) { c.Parties = 0 },
		"no-dim":       func(c *Config) { c.Dim = 0 },
		"huge-dim":     func(c *Config) { c.Dim = MaxDim + 1 },
		"bits":         func(c *Config) { c.Bits = 65 },
		"identities":   func(c *Config) { c.Identities = c.Identities[:4] },
		"bad-identity": func(c *Config) { c.Identities = append(slices.Clone(c.Identities[:4]), ed25519.PublicKey{1}) },
		"threshold-0":  func(c *Config) { c.Threshold = 0 },
		"threshold>n":  func(c *Config) { c.Threshold = 6 },
		"odd-degree":   func(c *Config) { c.Parties, c.Degree = 5, 3 },
		"neg-degree":   func(c *Config) { c.Degree = -2 },
		"t>k+1":        func(c *Config) { c.Degree, c.Threshold = 2, 4 },
		"minsur<t":     func(c *Config) { c.MinSurvivors = 2 },
		"minsur>n":     func(c *Config) { c.MinSurvivors = 6 },
	} {
		c := ok
		edit(&c)
		if _, err := NewParams(c); !errors.Is(err, ErrParams) {
			t.Errorf("%s: err = %v, want ErrParams", name, err)
		}
	}
}

func TestRecommend(t *testing.T) {
	for _, c := range []struct {
		n        int
		d, g     float64
		sparse   bool
		k, thr   int
		complete int // expected t for the complete graph
	}{
		{n: 3, d: 0.2, g: 1.0 / 3, complete: 2},
		{n: 10, d: 0.2, g: 1.0 / 3, complete: 4},
		{n: 100, d: 0.05, g: 0.05, sparse: true, k: 28, thr: 17},
		{n: 10000, d: 0.05, g: 0.05, sparse: true, k: 34, thr: 20},
	} {
		k, thr, err := Recommend(c.n, c.d, c.g)
		if err != nil {
			t.Fatal(err)
		}
		if c.sparse {
			if k != c.k || thr != c.thr {
				t.Errorf("Recommend(%d, %g, %g) = %d, %d, want %d, %d", c.n, c.d, c.g, k, thr, c.k, c.thr)
			}
			// The bounds hold at the returned point.
			n := float64(c.n)
			if n*binomTailGE(k, c.g, thr) > math.Ldexp(1, -SecurityBits) ||
				n*(1-binomTailGE(k, 1-c.d, thr)) > math.Ldexp(1, -CorrectnessBits) {
				t.Errorf("n=%d: bounds violated", c.n)
			}
			continue
		}
		if k != c.n-1 || thr != c.complete {
			t.Errorf("Recommend(%d) = %d, %d, want complete with t=%d", c.n, k, thr, c.complete)
		}
	}
	for _, bad := range [][3]float64{{0, 0.1, 0.1}, {10, -0.1, 0}, {10, 0.6, 0.5}, {10, math.NaN(), 0}} {
		if _, _, err := Recommend(int(bad[0]), bad[1], bad[2]); !errors.Is(err, ErrParams) {
			t.Errorf("Recommend%v: %v", bad, err)
		}
	}
	// Two parties with one tolerated dropout cannot have t >= 2.
	if _, _, err := Recommend(2, 0.5, 0); !errors.Is(err, ErrParams) {
		t.Errorf("n=2: %v", err)
	}
}

func TestBinomTail(t *testing.T) {
	// P[Bin(4, 1/2) >= 3] = 5/16.
	if got := binomTailGE(4, 0.5, 3); math.Abs(got-5.0/16) > 1e-12 {
		t.Fatalf("tail = %v", got)
	}
	if binomTailGE(4, 0.5, 0) != 1 || binomTailGE(4, 0.5, 5) != 0 {
		t.Fatal("edge cases")
	}
}

// TestGraph: the Harary graph on the shuffled ids is k-regular, symmetric,
// connected, identical for the same seed and different for another.
func TestGraph(t *testing.T) {
	ids := make([]uint16, 0, 40)
	for i := 1; i <= 45; i++ {
		if i%9 != 0 {
			ids = append(ids, uint16(i))
		}
	}
	g := newGraph(ids, 6, [32]byte{1})
	for _, u := range ids {
		nb := g.neighbours(u)
		if len(nb) != 6 || !slices.IsSorted(nb) {
			t.Fatalf("party %d: neighbours %v", u, nb)
		}
		for _, v := range nb {
			if !g.adjacent(u, v) || !g.adjacent(v, u) || !slices.Contains(g.neighbours(v), u) {
				t.Fatalf("edge %d-%d not symmetric", u, v)
			}
		}
		if g.adjacent(u, u) || g.adjacent(u, 9) {
			t.Fatal("self or non-member adjacent")
		}
	}
	// Connected: BFS reaches everyone.
	seen := map[uint16]bool{ids[0]: true}
	for queue := []uint16{ids[0]}; len(queue) > 0; queue = queue[1:] {
		for _, v := range g.neighbours(queue[0]) {
			if !seen[v] {
				seen[v] = true
				queue = append(queue, v)
			}
		}
	}
	if len(seen) != len(ids) {
		t.Fatal("graph not connected")
	}
	g2 := newGraph(ids, 6, [32]byte{1})
	g3 := newGraph(ids, 6, [32]byte{2})
	if !slices.Equal(g.order, g2.order) || slices.Equal(g.order, g3.order) {
		t.Fatal("ordering not determined by the seed")
	}
	if c := newGraph(ids, len(ids)-1, [32]byte{}); !c.complete || len(c.neighbours(ids[0])) != len(ids)-1 {
		t.Fatal("complete graph")
	}
}

func TestUploadBytes(t *testing.T) {
	_, pk := testIdentities(100, 1)
	p, err := NewParams(Config{FederationID: "fed-test", Round: 1, Parties: 100, Dim: 1 << 20, Threshold: 17, Degree: 28, Identities: pk})
	if err != nil {
		t.Fatal(err)
	}
	got := float64(p.UploadBytes()) / (1 << 20)
	if got > 4.004 || got < 4 {
		t.Fatalf("upload %.5f bytes per value", got)
	}
}
