package secagg

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"slices"
)

// graph is the neighbour graph of one round over the m parties that
// advertised keys: the complete graph, or the Harary graph H(k, m) (the
// circulant graph joining positions at cyclic distance 1..k/2) on an ordering
// of the parties drawn from a public seed. For every fixed party, its k
// neighbours are then a uniformly random k-subset of the others, which is what
// the bounds of Recommend assume.
type graph struct {
	order    []uint16       // parties by position
	pos      map[uint16]int // party -> position
	half     int            // k/2
	complete bool
}

// newGraph builds the graph on the sorted live ids with degree k (k >=
// len(ids)-1 gives the complete graph) and the ordering seed.
func newGraph(ids []uint16, k int, seed [32]byte) *graph {
	m := len(ids)
	g := &graph{order: slices.Clone(ids), pos: make(map[uint16]int, m), half: k / 2}
	if k >= m-1 {
		g.complete = true
	} else {
		shuffle(g.order, seed)
	}
	for i, id := range g.order {
		g.pos[id] = i
	}
	return g
}

// shuffle permutes ids by Fisher-Yates with indices drawn from the
// AES-128-CTR keystream of seed (key seed[:16], IV seed[16:]), by rejection
// sampling so that every permutation is equally likely.
func shuffle(ids []uint16, seed [32]byte) {
	block, err := aes.NewCipher(seed[:16])
	if err != nil {
		panic("secagg: AES-128 key of 16 bytes rejected")
	}
	ctr := cipher.NewCTR(block, seed[16:])
	var buf [8]byte
	next := func() uint64 {
		clear(buf[:])
		ctr.XORKeyStream(buf[:], buf[:])
		return binary.LittleEndian.Uint64(buf[:])
	}
	for i := len(ids) - 1; i > 0; i-- {
		bound := uint64(i + 1)
		limit := -bound % bound // 2^64 mod bound: reject the first values
		var r uint64
		for r = next(); r < limit; r = next() {
		}
		j := int(r % bound)
		ids[i], ids[j] = ids[j], ids[i]
	}
}

// has reports whether id is a vertex.
func (g *graph) has(id uint16) bool {
	_, ok := g.pos[id]
	return ok
}

// adjacent reports whether distinct vertices u and v are neighbours.
func (g *graph) adjacent(u, v uint16) bool {
	pu, ok1 := g.pos[u]
	pv, ok2 := g.pos[v]
	if !ok1 || !ok2 || u == v {
		return false
	}
	if g.complete {
		return true
	}
	d := pu - pv
	if d < 0 {
		d = -d
	}
	d = min(d, len(g.order)-d)
	return d <= g.half
}

// neighbours returns the neighbours of vertex id in increasing order.
func (g *graph) neighbours(id uint16) []uint16 {
	p, ok := g.pos[id]
	if !ok {
		return nil
	}
	var out []uint16
	if g.complete {
		out = make([]uint16, 0, len(g.order)-1)
		for _, v := range g.order {
			if v != id {
				out = append(out, v)
			}
		}
		return out // order is sorted when complete
	}
	m := len(g.order)
	out = make([]uint16, 0, 2*g.half)
	for d := 1; d <= g.half; d++ {
		out = append(out, g.order[(p+d)%m], g.order[(p-d+m)%m])
	}
	slices.Sort(out)
	return out
}
