package mhe

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/consort-ml/consort/mpc"
	"github.com/consort-ml/consort/mpc/mpctest"
)

// setupNetwork runs the key setup of the contract's parties over mpctest.
func setupNetwork(t testing.TB, cfg SetupConfig, net mpctest.Config) (*SetupAggregatorParty, []*SetupNode, mpctest.Report) {
	t.Helper()
	agg, err := NewSetupAggregatorParty(cfg)
	if err != nil {
		t.Fatal(err)
	}
	nodes := make([]*SetupNode, cfg.Parties)
	parties := make([]mpc.Party, cfg.Parties)
	for i := range nodes {
		if nodes[i], err = NewSetupNode(cfg, i+1, nil, testRand("setup", i+1)); err != nil {
			t.Fatal(err)
		}
		parties[i] = nodes[i]
	}
	rep, err := mpctest.Run(net, agg, parties...)
	if err != nil {
		t.Fatal(err)
	}
	return agg, nodes, rep
}

// TestSetupNetwork runs the key setup over mpctest. The collective key
// needs every node: with everyone, in any order and with duplicates, every
// node ends with the aggregator's public key; a node that never starts, or
// a key share that is late, makes the aggregator abort on its deadline; a
// node that stops part-way never finishes, and no other node ends with a key
// the aggregator did not form. (Whether the aggregator itself then finishes
// depends on the order of the setup's messages: today a node that drops
// after its key share but before its Shamir shares leaves the aggregator
// done and the other nodes without key material, so the setup's driver must
// confirm that every node finished.)
func TestSetupNetwork(t *testing.T) {
	p := mustParams(t, InsecureTestParams())
	cfg := SetupConfig{Params: p, FederationID: "fed-net", Parties: 5, Threshold: 3, CRS: [32]byte{4}}
	type outcome uint8
	const (
		everyone outcome = iota // aggregator and every node done
		aborted                 // aggregator aborted, no node done
		partial                 // the dropped nodes never finish; either outcome for the rest
	)
	for _, c := range []struct {
		name  string
		net   mpctest.Config
		drops []mpctest.Drop
		want  outcome
	}{
		{name: "all", want: everyone},
		{name: "reorder+dup", net: mpctest.Config{Seed: 1, Reorder: true, Dup: 0.3}, want: everyone},
		{name: "late", net: mpctest.Config{Seed: 2, Reorder: true, Late: 0.2}, want: aborted},
		{name: "drop=start", drops: []mpctest.Drop{{Party: 2}}, want: aborted},
		{name: "drop=announce", drops: []mpctest.Drop{{Party: 2, Kind: "announce"}}, want: partial},
		{name: "drop=shamir-share", drops: []mpctest.Drop{{Party: 4, Kind: "shamir-share"}}, want: partial},
		{name: "drop=public-key", drops: []mpctest.Drop{{Party: 3, Kind: "public-key"}}, want: partial},
	} {
		t.Run(c.name, func(t *testing.T) {
			net := c.net
			net.Drops = c.drops
			agg, nodes, rep := setupNetwork(t, cfg, net)
			st := agg.Status()
			res, ok := agg.Result()
			switch {
			case st.Err != nil:
				if c.want == everyone || !errors.Is(st.Err, mpc.ErrTooFewParties) || st.Done || ok {
					t.Fatalf("aggregator %+v result %v", st, ok)
				}
			case c.want == aborted:
				t.Fatalf("aggregator %+v, want an abort", st)
			case !st.Done || !ok || !slices.Equal(res.Contributors, ids(cfg.Parties)) || res.Ints != nil:
				t.Fatalf("aggregator %+v result %+v", st, res)
			}
			want, _ := agg.PublicKeyDigest()
			for i, nd := range nodes {
				id := i + 1
				ns := nd.Status()
				if ns.Err != nil || nd.Revealed() {
					t.Fatalf("node %d: %+v", id, ns)
				}
				if ns.Done && st.Err != nil || rep.Dropped[id] && ns.Done || c.want == everyone && !ns.Done {
					t.Fatalf("node %d done %v, aggregator %+v, dropped %v", id, ns.Done, st, rep.Dropped[id])
				}
				if km, ok := nd.KeyMaterial(); ok != ns.Done || ok && km.PublicKeyDigest() != want {
					t.Fatalf("node %d has no key or another public key", id)
				}
			}
			// A repeated public key is still refused as a violation (not
			// ErrUnexpected): the only rejections a duplicating network causes.
			if rep.Rejected != 0 && net.Dup == 0 {
				t.Fatalf("%d rejected messages", rep.Rejected)
			}
		})
	}
}

// roundNetwork runs one round of the contract's parties over mpctest.
func roundNetwork(t *testing.T, f *federation, rc RoundConfig, in map[int][]float32, net mpctest.Config) (*AggregatorParty, []*Node, mpctest.Report) {
	t.Helper()
	agg, err := NewAggregatorParty(f.cfg, rc)
	if err != nil {
		t.Fatal(err)
	}
	nodes := make([]*Node, f.cfg.Parties)
	parties := make([]mpc.Party, f.cfg.Parties)
	for i := range nodes {
		id := i + 1
		if nodes[i], err = NewNodeClient(f.keys[i], rc, in[id], testRand(fmt.Sprintf("round%d", rc.Round), id)); err != nil {
			t.Fatal(err)
		}
		parties[i] = nodes[i]
	}
	rep, err := mpctest.Run(net, agg, parties...)
	if err != nil {
		t.Fatal(err)
	}
	return agg, nodes, rep
}

// TestRoundNetwork runs rounds over mpctest with nodes dropping before the
// upload, on the decryption request (a silent decryptor: a new attempt
// starts on the deadline) and on the result, with loss, duplication,
// reordering and stragglers. A released aggregate is exactly the plaintext
// sum of the contributors' quantised updates, the contributors are the
// nodes whose ciphertext arrived, and otherwise the round aborts with
// mpc.ErrTooFewParties.
func TestRoundNetwork(t *testing.T) {
	p := mustParams(t, InsecureTestParams())
	const n = 6
	feds := map[Recipient]*federation{}
	for _, r := range []Recipient{RecipientAggregator, RecipientNodes} {
		fed := fmt.Sprintf("fed-net-%d", r)
		feds[r] = runSetup(t, SetupConfig{Params: p, FederationID: fed, Parties: n, Threshold: 3, CRS: [32]byte{6}, Recipient: r})
	}
	type tc struct {
		name      string
		recipient Recipient
		drops     []mpctest.Drop
		net       mpctest.Config
		abort     bool
		attempts  uint32
	}
	drop := func(kind string, parties ...int) []mpctest.Drop {
		var out []mpctest.Drop
		for _, id := range parties {
			out = append(out, mpctest.Drop{Party: id, Kind: kind})
		}
		return out
	}
	cases := []tc{
		{name: "all", attempts: 1},
		{name: "drop=upload/1", drops: drop("", 2), attempts: 1},
		{name: "drop=upload/3", drops: drop("", 1, 4, 6), attempts: 1},
		{name: "drop=upload/4", drops: drop("", 1, 2, 4, 6), abort: true},
		{name: "drop=decrypt-request/1", drops: drop("decrypt-request", 1), attempts: 2},
		{name: "drop=decrypt-request/3", drops: drop("decrypt-request", 1, 2, 5), attempts: 3},
		{name: "drop=decrypt-request/4", drops: drop("decrypt-request", 1, 2, 3, 4), abort: true},
		{name: "drop=mixed", drops: append(drop("", 3), drop("decrypt-request", 1, 5)...), attempts: 3},
		{name: "nodes/all", recipient: RecipientNodes, attempts: 1},
		{name: "nodes/drop=mixed", recipient: RecipientNodes, drops: append(drop("", 6), drop("decrypt-request", 2)...), attempts: 2},
		{name: "nodes/drop=result", recipient: RecipientNodes, drops: drop("result", 4), attempts: 1},
		{name: "reorder+dup", net: mpctest.Config{Seed: 1, Reorder: true, Dup: 0.3}, attempts: 1},
		{name: "reorder+dup+drops", net: mpctest.Config{Seed: 2, Reorder: true, Dup: 0.3}, drops: drop("decrypt-request", 2, 3), attempts: 2},
	}
	// Loss and stragglers: a round may finish or abort; either outcome is
	// checked exactly, and each family must finish at least once.
	for seed := range uint64(4) {
		cases = append(cases,
			tc{name: fmt.Sprintf("loss/seed=%d", seed), net: mpctest.Config{Seed: seed, Reorder: true, Loss: 0.1}},
			tc{name: fmt.Sprintf("late/seed=%d", seed), net: mpctest.Config{Seed: seed, Reorder: true, Late: 0.15}},
			tc{name: fmt.Sprintf("nodes/loss+late/seed=%d", seed), recipient: RecipientNodes, net: mpctest.Config{Seed: seed, Reorder: true, Loss: 0.05, Late: 0.1}},
		)
	}
	finished := map[string]bool{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := feds[c.recipient]
			rc := RoundConfig{FederationID: f.cfg.FederationID, Round: 2, Dim: 700, Participants: ids(n), Bound: 2}
			in := randomInputs(rc.Participants, rc.Dim, 2, 5)
			net := c.net
			net.Drops = c.drops
			agg, nodes, rep := roundNetwork(t, f, rc, in, net)
			lossy := net.Loss > 0 || net.Late > 0
			st := agg.Status()
			t.Logf("done %v err %v, attempts %d, %d lost, %d late, %d deadlines", st.Done, st.Err, agg.Attempt(), rep.Lost, rep.Late, rep.Deadlines)
			if st.Err != nil {
				if !c.abort && !lossy || !errors.Is(st.Err, mpc.ErrTooFewParties) {
					t.Fatalf("round aborted: %v", st.Err)
				}
				if _, ok := agg.Result(); ok {
					t.Fatal("aborted aggregator has a result")
				}
				return
			}
			if c.abort {
				t.Fatal("round finished, want an abort")
			}
			family, _, _ := strings.Cut(c.name, "/seed=")
			finished[family] = true
			res, ok := agg.Result()
			if !ok || !st.Done {
				t.Fatalf("no result: %+v", st)
			}
			dropped := map[int]string{}
			for _, d := range c.drops {
				dropped[d.Party] = d.Kind
			}
			var want []int
			for _, id := range rc.Participants {
				if k, d := dropped[id]; !d || k != "" {
					want = append(want, id)
				}
			}
			if !lossy && !slices.Equal(res.Contributors, want) {
				t.Fatalf("contributors %v, want %v", res.Contributors, want)
			}
			for _, id := range res.Contributors {
				if !slices.Contains(want, id) {
					t.Fatalf("node %d contributed without uploading", id)
				}
			}
			if c.attempts != 0 && agg.Attempt() != c.attempts {
				t.Fatalf("%d decryption attempts, want %d", agg.Attempt(), c.attempts)
			}
			sum := expectedSum(t, rc, in, res.Contributors)
			frac, _, _ := rc.Quantization()
			if res.Frac != frac || res.Ring != nil || res.Floats != nil {
				t.Fatalf("aggregate %+v", res)
			}
			if c.recipient == RecipientNodes {
				if res.Ints != nil {
					t.Fatal("the aggregator learned the sum although the nodes are the recipients")
				}
				for i, nd := range nodes {
					id := i + 1
					r, ok := nd.Result()
					if _, d := dropped[id]; d || lossy && !ok {
						continue
					}
					if !ok || !nd.Status().Done || !slices.Equal(r.Quantized, sum) || !slices.Equal(r.Contributors, res.Contributors) {
						t.Fatalf("node %d: result %v done %v", id, ok, nd.Status().Done)
					}
				}
			} else if !slices.Equal(res.Ints, sum) {
				t.Fatal("the decrypted sum is not the plaintext sum")
			}
			for i, nd := range nodes {
				id := i + 1
				ns := nd.Status()
				if ns.Err != nil || c.recipient == RecipientAggregator && ns.Done {
					t.Fatalf("node %d: %+v", id, ns)
				}
				if nd.Revealed() && !slices.Contains(res.Contributors, id) {
					t.Fatalf("node %d revealed without contributing", id)
				}
			}
			if !lossy && rep.Rejected != 0 {
				t.Fatalf("%d rejected messages", rep.Rejected)
			}
		})
	}
	for _, f := range []string{"loss", "late", "nodes/loss+late"} {
		if !finished[f] {
			t.Errorf("no %s round finished", f)
		}
	}
}
