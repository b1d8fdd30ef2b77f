package secagg

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/consort-ml/consort/mpc"
)

// testParams builds Params for n deterministic identities.
func testParams(t testing.TB, n, dim int, bits uint, thr, degree, minSur int) (*Params, []ed25519.PrivateKey) {
	t.Helper()
	return testParamsCheck(t, n, dim, bits, thr, degree, minSur, false)
}

// testParamsCheck is testParams with the consistency check on or off.
func testParamsCheck(t testing.TB, n, dim int, bits uint, thr, degree, minSur int, check bool) (*Params, []ed25519.PrivateKey) {
	t.Helper()
	sk, pk := testIdentities(n, 1)
	p, err := NewParams(Config{FederationID: "fed-test", Round: 7, Parties: n, Dim: dim, Bits: bits,
		Threshold: thr, Degree: degree, MinSurvivors: minSur, Identities: pk, ConsistencyCheck: check})
	if err != nil {
		t.Fatal(err)
	}
	return p, sk
}

// randomInputs draws n vectors of Z_{2^bits}, full range.
func randomInputs(p *Params, seed uint64) ([][]uint32, [][]uint64) {
	r := rand.New(rand.NewPCG(seed, 99))
	if p.Wide() {
		in := make([][]uint64, p.n)
		for i := range in {
			in[i] = make([]uint64, p.dim)
			for j := range in[i] {
				in[i][j] = r.Uint64()
				if p.bits < 64 {
					in[i][j] &= 1<<p.bits - 1
				}
			}
		}
		return nil, in
	}
	in := make([][]uint32, p.n)
	for i := range in {
		in[i] = make([]uint32, p.dim)
		for j := range in[i] {
			in[i][j] = r.Uint32()
			if p.bits < 32 {
				in[i][j] &= 1<<p.bits - 1
			}
		}
	}
	return in, nil
}

// plainSum is the reference: the ring sum of the contributors' inputs.
func plainSum(p *Params, in32 [][]uint32, in64 [][]uint64, contributors []int) ([]uint32, []uint64) {
	if in64 != nil {
		s := make([]uint64, p.dim)
		for _, id := range contributors {
			for j, x := range in64[id-1] {
				s[j] += x
			}
		}
		if p.bits < 64 {
			for j := range s {
				s[j] &= 1<<p.bits - 1
			}
		}
		return nil, s
	}
	s := make([]uint32, p.dim)
	for _, id := range contributors {
		for j, x := range in32[id-1] {
			s[j] += x
		}
	}
	if p.bits < 32 {
		for j := range s {
			s[j] &= 1<<p.bits - 1
		}
	}
	return s, nil
}

// pickDrops assigns count parties (chosen by seed) the drop point d, or a
// random point per party when d is numDropPoints.
func pickDrops(n, count int, d dropPoint, seed uint64) []dropPoint {
	r := rand.New(rand.NewPCG(seed, 3))
	out := make([]dropPoint, n)
	for _, i := range r.Perm(n)[:count] {
		if d == numDropPoints {
			out[i] = dropPoint(1 + r.IntN(int(numDropPoints)-1))
		} else {
			out[i] = d
		}
	}
	return out
}

// expectedContributors are the parties whose masked input is sent.
func expectedContributors(drop []dropPoint) []int {
	var out []int
	for i, d := range drop {
		if d == dropNone || d == dropBeforeUnmask || d == dropBeforeConfirmations {
			out = append(out, i+1)
		}
	}
	return out
}

type sumCase struct {
	n, dim    int
	bits      uint
	thr, deg  int
	drops     int
	point     dropPoint
	seed      uint64
	reorder   bool
	duplicate bool
	check     bool        // the consistency check
	extra     []dropPoint // drop points added after pickDrops (by party index)
}

func (c sumCase) name() string {
	g := "complete"
	if c.deg > 0 && c.deg < c.n-1 {
		g = fmt.Sprintf("k=%d", c.deg)
	}
	pt := c.point.String()
	name := fmt.Sprintf("parties=%d/%s/t=%d/bits=%d/drop=%s/count=%d", c.n, g, c.thr, c.bits, pt, c.drops)
	if c.check {
		name += fmt.Sprintf("/check/confirm-drops=%d", len(c.extra))
	}
	return name
}

func runSumCase(t *testing.T, c sumCase) {
	p, sk := testParamsCheck(t, c.n, c.dim, c.bits, c.thr, c.deg, 0, c.check)
	in32, in64 := randomInputs(p, c.seed)
	drop := pickDrops(c.n, c.drops, c.point, c.seed)
	for i, d := range c.extra {
		if d != dropNone {
			drop[i] = d
		}
	}
	cfg := netConfig{Seed: c.seed}
	if c.reorder {
		cfg.MaxDelay = 5
	}
	if c.duplicate {
		cfg.Dup = 0.1
	}
	s := newSim(t, p, sk, in32, in64, drop, cfg)
	s.run()
	res, ok := s.srv.Result()
	if !ok {
		t.Fatalf("no result: %v", s.srv.Err())
	}
	want := expectedContributors(drop)
	if !slices.Equal(res.Contributors, want) {
		t.Fatalf("contributors %v, want %v", res.Contributors, want)
	}
	w32, w64 := plainSum(p, in32, in64, want)
	if !slices.Equal(res.Sum32, w32) || !slices.Equal(res.Sum64, w64) {
		t.Fatalf("secure sum differs from the plaintext ring sum")
	}
	for i, cl := range s.clients {
		if s.dead[i] {
			continue
		}
		got, ok := cl.Result()
		if !ok || !slices.Equal(got, want) {
			t.Fatalf("party %d: result %v %v, err %v", i+1, got, ok, cl.Err())
		}
	}
	if !c.duplicate && s.serverErrs != 0 {
		t.Fatalf("server rejected %d messages", s.serverErrs)
	}
}

func TestSecureSumExact(t *testing.T) {
	k50, t50, err := Recommend(50, 0.1, 0.05)
	if err != nil || k50 >= 49 {
		t.Fatalf("Recommend(50) = %d, %d, %v: want a sparse graph", k50, t50, err)
	}
	k100, t100, err := Recommend(100, 0.1, 0.05)
	if err != nil || k100 >= 99 {
		t.Fatalf("Recommend(100) = %d, %d, %v: want a sparse graph", k100, t100, err)
	}
	var cases []sumCase
	// Complete graphs: every drop point, up to n - t drops.
	for _, g := range []struct{ n, thr int }{{3, 2}, {10, 6}, {50, 30}} {
		for d := dropNone; d <= numDropPoints; d++ {
			counts := []int{1, g.n - g.thr}
			if d == dropNone {
				counts = []int{0}
			}
			if g.n == 50 && d != numDropPoints && d != dropNone {
				counts = []int{g.n - g.thr} // keep the run short
			}
			for _, cnt := range counts {
				cases = append(cases, sumCase{n: g.n, dim: 17, bits: 32, thr: g.thr, drops: cnt, point: d, seed: uint64(100*g.n + 10*int(d) + cnt), reorder: true})
			}
		}
	}
	cases = append(cases,
		// Ring widths other than 32.
		sumCase{n: 10, dim: 33, bits: 64, thr: 4, drops: 6, point: numDropPoints, seed: 1, reorder: true},
		sumCase{n: 10, dim: 33, bits: 20, thr: 4, drops: 6, point: numDropPoints, seed: 2, reorder: true},
		sumCase{n: 10, dim: 33, bits: 1, thr: 5, drops: 3, point: numDropPoints, seed: 3, reorder: true},
		// Every lane: 16-bit lanes (widths 9, 16), 32-bit (24), 64-bit (40),
		// with dimensions around the AVX2 block of 64 16-bit elements.
		sumCase{n: 10, dim: 130, bits: 16, thr: 4, drops: 6, point: numDropPoints, seed: 9, reorder: true},
		sumCase{n: 10, dim: 65, bits: 9, thr: 5, drops: 3, point: numDropPoints, seed: 10, reorder: true},
		sumCase{n: 10, dim: 33, bits: 24, thr: 5, drops: 3, point: numDropPoints, seed: 11, reorder: true},
		sumCase{n: 10, dim: 33, bits: 40, thr: 5, drops: 3, point: numDropPoints, seed: 12, reorder: true},
		sumCase{n: 50, dim: 200, bits: 16, thr: t50, deg: k50, drops: 5, point: numDropPoints, seed: 13, reorder: true},
		sumCase{n: 10, dim: 33, bits: 47, thr: 5, drops: 5, point: numDropPoints, seed: 4, reorder: true, duplicate: true},
		// SecAgg+ sparse graphs with the dropout fraction they were sized for.
		sumCase{n: 50, dim: 17, bits: 32, thr: t50, deg: k50, drops: 5, point: numDropPoints, seed: 5, reorder: true},
		sumCase{n: 100, dim: 17, bits: 32, thr: t100, deg: k100, drops: 0, point: dropNone, seed: 6, reorder: true},
		sumCase{n: 100, dim: 17, bits: 32, thr: t100, deg: k100, drops: 10, point: numDropPoints, seed: 7, reorder: true, duplicate: true},
		// The consistency check: complete and sparse graphs, drops at every
		// step including between confirming and revealing.
		sumCase{n: 10, dim: 33, bits: 16, thr: 6, drops: 0, point: dropNone, seed: 20, reorder: true, check: true},
		sumCase{n: 10, dim: 33, bits: 32, thr: 6, drops: 3, point: numDropPoints, seed: 21, reorder: true, check: true,
			extra: []dropPoint{dropBeforeConfirmations}},
		sumCase{n: 50, dim: 17, bits: 16, thr: t50, deg: k50, drops: 4, point: numDropPoints, seed: 22, reorder: true, duplicate: true, check: true,
			extra: []dropPoint{dropBeforeConfirmations}},
		sumCase{n: 100, dim: 17, bits: 32, thr: t100, deg: k100, drops: 10, point: numDropPoints, seed: 23, reorder: true, check: true},
		// t > k/2 + 1: far holders confirm by signature (verified lazily).
		sumCase{n: 20, dim: 33, bits: 16, thr: 5, deg: 6, drops: 1, point: numDropPoints, seed: 24, reorder: true, check: true,
			extra: []dropPoint{dropNone, dropBeforeConfirmations}},
		// The complete graph at n = 100 with n - t drops.
		sumCase{n: 100, dim: 9, bits: 32, thr: 60, drops: 40, point: numDropPoints, seed: 8, reorder: true},
	)
	for _, c := range cases {
		t.Run(c.name(), func(t *testing.T) { runSumCase(t, c) })
	}
}

// TestBelowThreshold: one drop more than n - t at any step aborts the round:
// the server keeps no aggregate and every live party ends with the typed
// abort error.
func TestBelowThreshold(t *testing.T) {
	const n, thr = 10, 6
	for d := dropBeforeAdvert; d < numDropPoints; d++ {
		t.Run("drop="+d.String(), func(t *testing.T) {
			p, sk := testParams(t, n, 5, 32, thr, 0, 0)
			in32, _ := randomInputs(p, 1)
			drop := pickDrops(n, n-thr+1, d, uint64(d))
			s := newSim(t, p, sk, in32, nil, drop, netConfig{Seed: uint64(d), MaxDelay: 3})
			s.run()
			if _, ok := s.srv.Result(); ok {
				t.Fatal("server released an aggregate below the threshold")
			}
			var ae *mpc.AbortError
			if err := s.srv.Err(); !errors.As(err, &ae) || ae.Party != 0 || ae.Round != 7 || !errors.Is(err, mpc.ErrTooFewParties) {
				t.Fatalf("server error %v", err)
			}
			if s.srv.acc.v32 != nil {
				t.Fatal("server kept its accumulator")
			}
			live := 0
			for i, c := range s.clients {
				if s.dead[i] {
					continue
				}
				live++
				err := c.Err()
				if !errors.As(err, &ae) || ae.Party != i+1 || !errors.Is(err, mpc.ErrTooFewParties) {
					t.Fatalf("party %d: %v", i+1, err)
				}
				if _, ok := c.Result(); ok {
					t.Fatalf("party %d has a result", i+1)
				}
				// Aborted is final.
				if _, err := c.Step(Message{}); !errors.As(err, &ae) {
					t.Fatalf("party %d after abort: %v", i+1, err)
				}
			}
			if live != thr-1 {
				t.Fatalf("%d live parties, want %d", live, thr-1)
			}
		})
	}
}

// TestLossyNetwork: with loss, duplicates and stragglers the round either
// releases the exact sum of the parties it names, or aborts with the typed
// error and no aggregate.
func TestLossyNetwork(t *testing.T) {
	finished, aborted := 0, 0
	for seed := uint64(1); seed <= 12; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			p, sk := testParams(t, 12, 9, 32, 5, 0, 0)
			in32, _ := randomInputs(p, seed)
			s := newSim(t, p, sk, in32, nil, pickDrops(12, 2, numDropPoints, seed),
				netConfig{Seed: seed, MaxDelay: 4, Loss: 0.03 * float64(seed%4), Dup: 0.05, Straggler: 0.04, Deadline: 6})
			s.run()
			res, ok := s.srv.Result()
			if !ok {
				var ae *mpc.AbortError
				if !errors.As(s.srv.Err(), &ae) {
					t.Fatalf("neither result nor abort: %v", s.srv.Err())
				}
				aborted++
				return
			}
			finished++
			if len(res.Contributors) < p.MinSurvivors() {
				t.Fatalf("%d contributors", len(res.Contributors))
			}
			w32, _ := plainSum(p, in32, nil, res.Contributors)
			if !slices.Equal(res.Sum32, w32) {
				t.Fatal("secure sum differs from the contributors' sum")
			}
		})
	}
	if finished == 0 {
		t.Fatalf("no lossy round finished (%d aborted)", aborted)
	}
}
