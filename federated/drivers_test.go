package federated

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/consort-ml/consort/federated/engine"
	"github.com/consort-ml/consort/federated/model"
	"github.com/consort-ml/consort/transport"
)

// deliveryOrder picks the next message to deliver among those in flight.
type deliveryOrder struct {
	name string
	// pick returns an index into the n messages in flight; link(i) says
	// where message i goes.
	pick func(n int, link func(int) (transport.PeerID, transport.PeerID)) int
}

func (o deliveryOrder) next(q any, link func(int) (transport.PeerID, transport.PeerID)) int {
	return o.pick(lenOf(q), link)
}

func lenOf(q any) int { return reflect.ValueOf(q).Len() }

var (
	fifo = deliveryOrder{"fifo", func(int, func(int) (transport.PeerID, transport.PeerID)) int { return 0 }}
	lifo = deliveryOrder{"lifo", func(n int, _ func(int) (transport.PeerID, transport.PeerID)) int { return n - 1 }}
)

// shuffled delivers any message in flight next, drawn from seed.
func shuffled(seed uint64) deliveryOrder {
	r := rand.New(rand.NewPCG(seed, 1))
	return deliveryOrder{"shuffled", func(n int, _ func(int) (transport.PeerID, transport.PeerID)) int { return r.IntN(n) }}
}

// interleaved keeps every link first-in-first-out but interleaves links
// at random (drawn from seed).
func interleaved(seed uint64) deliveryOrder {
	r := rand.New(rand.NewPCG(seed, 2))
	return deliveryOrder{"interleaved", func(n int, link func(int) (transport.PeerID, transport.PeerID)) int {
		type key struct{ a, b transport.PeerID }
		var heads []int
		seen := map[key]bool{}
		for i := range n {
			a, b := link(i)
			if !seen[key{a, b}] {
				seen[key{a, b}] = true
				heads = append(heads, i)
			}
		}
		return heads[r.IntN(len(heads))]
	}}
}

// runPure runs the federation of c (the same data, identities, seeds and
// private randomness as runNetwork) with no transport, goroutine or clock:
// one loop hands every message to its recipient at once, newest first when
// lifo is set, and lets time jump to the next deadline when nothing is in
// flight.
func runPure(t *testing.T, c netConfig, order deliveryOrder) *model.File {
	t.Helper()
	trains, tests := netFixture(t, c.dataset, c.nodes, 1)
	coordID := testIdentity(t, 99).PeerID()
	var peers []transport.PeerID
	nodes := map[transport.PeerID]*engine.Node{}
	fedNodes := make([]transport.PeerID, c.nodes)
	for i := range c.nodes {
		fedNodes[i] = testIdentity(t, byte(i+1)).PeerID()
	}
	fed := c.federation(t, trains, fedNodes)
	for i := range c.nodes {
		id := testIdentity(t, byte(i+1))
		nd, err := engine.NewNode(engine.NodeConfig{Federation: fed, Self: id.PeerID(), Coordinator: coordID, Signer: id.Signer(),
			Train: trains[i], Test: tests[i], Seed: uint64(i), Rand: rand.NewChaCha8([32]byte{byte(i), 0}), Logger: c.logger})
		if err != nil {
			t.Fatal(err)
		}
		peers = append(peers, id.PeerID())
		nodes[id.PeerID()] = nd
	}
	coord, err := engine.NewCoordinator(engine.CoordinatorConfig{Federation: fed, Seed: 1, StepTimeout: 2 * time.Second, Logger: c.logger})
	if err != nil {
		t.Fatal(err)
	}
	type flight struct {
		from, to transport.PeerID
		msg      transport.Message
	}
	var q []flight
	var final *model.File
	collect := func() {
		rd := coord.Ready()
		if rd.Err != nil {
			t.Fatalf("coordinator: %v", rd.Err)
		}
		for _, e := range rd.Messages {
			q = append(q, flight{coordID, e.To, e.Msg})
		}
		if rd.Final != nil {
			final = rd.Final
		}
		for _, p := range peers {
			nrd := nodes[p].Ready()
			if nrd.Err != nil {
				t.Fatalf("node %s: %v", p, nrd.Err)
			}
			for _, m := range nrd.Messages {
				q = append(q, flight{p, coordID, m})
			}
		}
	}
	now := time.Unix(1_700_000_000, 0).UTC()
	coord.Start(now)
	for _, p := range peers {
		nodes[p].Tick(now)
	}
	collect()
	for step := 0; final == nil; step++ {
		if step > 20_000 {
			return nil // the federation does not finish
		}
		if len(q) == 0 {
			next := coord.Deadline()
			for _, p := range peers {
				if d := nodes[p].Deadline(); next.IsZero() || d.Before(next) {
					next = d
				}
			}
			now = next
			coord.Tick(now)
			for _, p := range peers {
				nodes[p].Tick(now)
			}
			collect()
			continue
		}
		k := order.next(q, func(i int) (transport.PeerID, transport.PeerID) { return q[i].from, q[i].to })
		f := q[k]
		q = slices.Delete(q, k, k+1)
		in := transport.Incoming{From: f.from, Message: f.msg}
		if f.to == coordID {
			coord.Step(now, in)
		} else {
			nodes[f.to].Step(now, in)
		}
		collect()
	}
	return final
}

// TestDriversAgree: the released model does not depend on the driver nor on
// the order in which messages arrive: the federation driven by
// RunCoordinator and RunNode over transport/mem, and by a bare loop
// delivering first-in-first-out, newest-first, links interleaved at random
// or messages in any order, ends with the same model bit for bit, for every
// protocol. (The node used to drop a relayed mhe setup message that
// overtook its RoundStart; newest-first delivery then never completed a key
// setup, and random orders needed retries that changed the keys.)
func TestDriversAgree(t *testing.T) {
	for _, p := range ProtocolNames() {
		t.Run(p, func(t *testing.T) {
			cfg := netConfig{protocol: p, dataset: "wine", nodes: 3, minPart: 3, threshold: 2, rnds: 3}
			r := runNetwork(t, cfg)
			if r.coordErr != nil {
				t.Fatal(r.coordErr)
			}
			want := ParamsDigest(r.coord.Params)
			for _, o := range []deliveryOrder{fifo, lifo, interleaved(1), interleaved(2), shuffled(1), shuffled(2)} {
				mf := runPure(t, cfg, o)
				if mf == nil {
					t.Errorf("%s order: the federation does not finish", o.name)
					continue
				}
				if got := ParamsDigest(mf.Params); got != want {
					t.Errorf("over transport/mem %s; by hand, %s order, %s", want[:16], o.name, got[:16])
				}
			}
			t.Logf("%s: %s", p, want[:16])
		})
	}
}
