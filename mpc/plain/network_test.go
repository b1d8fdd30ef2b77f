package plain_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/consort-ml/consort/mpc"
	"github.com/consort-ml/consort/mpc/mpctest"
	"github.com/consort-ml/consort/mpc/plain"
)

// inputs draws n updates; with grid, every value is a multiple of 2^-20 in
// [-2, 2], so float64 sums of them are exact in any order.
func inputs(n, dim int, seed uint64, grid bool) [][]float32 {
	r := rand.New(rand.NewPCG(seed, 11))
	in := make([][]float32, n)
	for i := range in {
		in[i] = make([]float32, dim)
		for j := range in[i] {
			if grid {
				in[i][j] = float32(math.Ldexp(float64(r.IntN(1<<22)-1<<21), -20))
			} else {
				in[i][j] = float32(r.NormFloat64() * math.Ldexp(1, -r.IntN(20)))
			}
		}
	}
	return in
}

func runPlain(t *testing.T, cfg plain.Config, in [][]float32, net mpctest.Config) (*plain.Server, mpctest.Report) {
	t.Helper()
	srv, err := plain.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cs := make([]mpc.Party, cfg.Parties)
	for i := range cs {
		if cs[i], err = plain.NewClient(cfg, i+1, in[i]); err != nil {
			t.Fatal(err)
		}
	}
	net.Kinds = cfg.Kinds()
	rep, err := mpctest.Run(net, srv, cs...)
	if err != nil {
		t.Fatal(err)
	}
	return srv, rep
}

// TestNetwork runs plain rounds with dropouts before the upload (the only
// step), loss, duplication, reordering and stragglers: the released sum is
// exactly the plaintext sum of the contributors' updates, or the round
// aborts with mpc.ErrTooFewParties.
func TestNetwork(t *testing.T) {
	const n, dim = 6, 9
	for _, c := range []struct {
		name  string
		net   mpctest.Config
		drop  []int
		abort bool
	}{
		{name: "all"},
		{name: "drop=1", drop: []int{2}},
		{name: "drop=threshold", drop: []int{1, 3, 6}},
		{name: "drop=too-many", drop: []int{1, 2, 3, 4}, abort: true},
		{name: "reorder+dup", net: mpctest.Config{Seed: 4, Reorder: true, Dup: 0.5}},
		{name: "loss+late", net: mpctest.Config{Seed: 5, Reorder: true, Loss: 0.2, Late: 0.3}},
		{name: "loss+drop", net: mpctest.Config{Seed: 6, Loss: 0.3}, drop: []int{5}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := plain.Config{FederationID: "fed", Round: 2, Parties: n, Threshold: 3, Dim: dim, Bound: 2}
			in := inputs(n, dim, 1, true)
			for _, id := range c.drop {
				c.net.Drops = append(c.net.Drops, mpctest.Drop{Party: id})
			}
			srv, rep := runPlain(t, cfg, in, c.net)
			agg, ok := srv.Result()
			if c.abort {
				if ok || !errors.Is(rep.Status[0].Err, mpc.ErrTooFewParties) {
					t.Fatalf("want an abort, status %+v", rep.Status[0])
				}
				return
			}
			if !ok || !rep.Status[0].Done {
				t.Fatalf("no result: %+v", rep.Status[0])
			}
			for _, id := range agg.Contributors {
				if slices.Contains(c.drop, id) {
					t.Fatalf("dropped party %d contributed", id)
				}
			}
			if c.net.Loss == 0 && len(agg.Contributors) != n-len(c.drop) || len(agg.Contributors) < cfg.Threshold {
				t.Fatalf("contributors %v", agg.Contributors)
			}
			want := make([]float64, dim)
			for _, id := range agg.Contributors {
				for j, v := range in[id-1] {
					want[j] += float64(v)
				}
			}
			if !slices.Equal(agg.Floats, want) {
				t.Fatalf("sum %v, want %v", agg.Floats, want)
			}
			if rep.Rejected != 0 {
				t.Fatalf("%d rejected messages", rep.Rejected)
			}
		})
	}
}

// TestNetworkOrderIndependent: with arbitrary float inputs, every delivery
// order releases the same bits.
func TestNetworkOrderIndependent(t *testing.T) {
	cfg := plain.Config{Parties: 12, Threshold: 12, Dim: 32, Bound: 4}
	in := inputs(cfg.Parties, cfg.Dim, 2, false)
	var first []float64
	for seed := range uint64(8) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			srv, _ := runPlain(t, cfg, in, mpctest.Config{Seed: seed, Reorder: true, Dup: 0.3})
			agg, ok := srv.Result()
			if !ok {
				t.Fatal("no result")
			}
			if first == nil {
				first = agg.Floats
			} else if !slices.Equal(first, agg.Floats) {
				t.Fatal("another delivery order, another sum")
			}
		})
	}
}
