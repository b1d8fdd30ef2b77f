package mhe

import (
	"fmt"
	"io"
	"testing"

	"github.com/tuneinsight/lattigo/v6/ring"
)

// offsetFields returns the field values (x + C, times mult) a node's
// plaintext carries for its update, field-major as extract returns them.
func offsetFields(t *testing.T, rc RoundConfig, update []float32, id int, mult uint64) []uint64 {
	t.Helper()
	var seed [32]byte
	if _, err := io.ReadFull(testRand(fmt.Sprintf("round%d", rc.Round), id), seed[:]); err != nil {
		t.Fatal(err)
	}
	q := make([]int32, len(update))
	if err := rc.Quantize(q, update, seed); err != nil {
		t.Fatal(err)
	}
	_, c, _ := rc.Quantization()
	out := make([]uint64, len(q))
	for i, v := range q {
		out[i] = mult * uint64(int64(v)+int64(c))
	}
	return out
}

// matches counts equal entries.
func matches(a, b []uint64) int {
	n := 0
	for i := range a {
		if a[i] == b[i] {
			n++
		}
	}
	return n
}

// decodeNTT decodes the polynomial x (NTT domain) like a decrypted
// plaintext and returns its first dim field values.
func decodeNTT(pp *params, x ring.Poly, dim int) []uint64 {
	rq := pp.rlwe.RingQ().AtLevel(pp.level)
	y := rq.NewPoly()
	rq.INTT(x, y)
	out := make([]uint64, dim)
	pp.extract(out, y, 32)
	return out
}

// TestAggregatorCannotIsolateInput plays the curious aggregator: it holds
// every node's ciphertext and every decryption share of the aggregate and
// tries the attack that breaks the seeded-c1 construction (add a node's c0 to
// its decryption share, scaled by the number of contributors, or to the
// whole combined share). None of the attempts may recover the node's input.
func TestAggregatorCannotIsolateInput(t *testing.T) {
	p := mustParams(t, InsecureTestParams())
	pp := p.p
	const n = 3
	f := runSetup(t, SetupConfig{Params: p, FederationID: "fed-attack", Parties: n, Threshold: n, CRS: [32]byte{2}})
	rc := RoundConfig{FederationID: "fed-attack", Round: 1, Dim: 2048, Participants: ids(n), Bound: 1}
	in := randomInputs(rc.Participants, rc.Dim, 1, 5)
	res, st, err := runRound(t, f, rc, in, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Contributors) != n || len(st.shares) != n {
		t.Fatalf("want %d contributors and shares, got %d and %d", n, len(res.Contributors), len(st.shares))
	}
	rq := pp.rlwe.RingQ().AtLevel(pp.level)
	poly := func(data []byte, idx int) ring.Poly {
		_, body, err := parseHeader(data)
		if err != nil {
			t.Fatal(err)
		}
		x := rq.NewPoly()
		if err := pp.readPolyQ(x, body[idx*pp.qBytes:(idx+1)*pp.qBytes]); err != nil {
			t.Fatal(err)
		}
		return x
	}
	combined := rq.NewPoly()
	for id := 1; id <= n; id++ {
		rq.Add(combined, poly(st.shares[id], 0), combined)
	}
	for id := 1; id <= n; id++ {
		c0 := poly(st.ciphertexts[id], 0)
		rq.NTT(c0, c0)
		share := poly(st.shares[id], 0)
		for _, mult := range []uint64{1, n} {
			x := rq.NewPoly()
			rq.MulScalar(c0, mult, x)
			rq.Add(x, share, x)
			got := decodeNTT(pp, x, rc.Dim)
			if m := matches(got, offsetFields(t, rc, in[id], id, mult)); m > rc.Dim/100 {
				t.Fatalf("node %d: %d*c0 + its share matches %d of %d values", id, mult, m, rc.Dim)
			}
		}
		x := rq.NewPoly()
		rq.Add(c0, combined, x)
		if m := matches(decodeNTT(pp, x, rc.Dim), offsetFields(t, rc, in[id], id, 1)); m > rc.Dim/100 {
			t.Fatalf("node %d: c0 + combined share matches %d of %d values", id, m, rc.Dim)
		}
	}
}

// TestSeededC1AttackControl builds the construction DESIGN.md warns against
// (each party encrypts with its own secret and a shared c1 = a, the sum is
// decrypted with plain key-switch shares) from the same primitives and shows
// that the attack of TestAggregatorCannotIsolateInput recovers a party's
// input from it, so that test can fail.
func TestSeededC1AttackControl(t *testing.T) {
	p := mustParams(t, InsecureTestParams())
	pp := p.p
	const n = 3
	rc := RoundConfig{FederationID: "fed-control", Round: 1, Dim: 2048, Participants: ids(n), Bound: 1}
	in := randomInputs(rc.Participants, rc.Dim, 1, 6)
	_, clamp, _ := rc.Quantization()
	rq := pp.rlwe.RingQ().AtLevel(pp.level)
	a := pp.crp("fed-control", [32]byte{4}).Value.Q // shared c1, NTT domain
	sm := newSmudger(pp, [32]byte{8})
	sumC1 := rq.NewPoly()
	c0s := make([]ring.Poly, n+1)
	shares := make([]ring.Poly, n+1)
	sks := make([]ring.Poly, n+1)
	for id := 1; id <= n; id++ {
		sks[id] = pp.secretKeyFromSeed([]byte(fmt.Sprintf("control-%d", id))).Value.Q
		var seed [32]byte
		if _, err := io.ReadFull(testRand("round1", id), seed[:]); err != nil {
			t.Fatal(err)
		}
		q := make([]int32, rc.Dim)
		if err := rc.Quantize(q, in[id], seed); err != nil {
			t.Fatal(err)
		}
		m := rq.NewPoly()
		var scratch []uint64
		pp.embed(m, toU32(q), clamp, 32, &scratch)
		rq.NTT(m, m)
		e := rq.NewPoly()
		sm.sample(e) // an error well inside the noise budget
		rq.NTT(e, e)
		c0 := rq.NewPoly()
		rq.MulCoeffsMontgomery(a, sks[id], c0)
		rq.Neg(c0, c0)
		rq.Add(c0, m, c0)
		c0s[id] = c0
		rq.Add(sumC1, a, sumC1)
	}
	for id := 1; id <= n; id++ {
		sh := rq.NewPoly()
		rq.MulCoeffsMontgomery(sumC1, sks[id], sh)
		e := rq.NewPoly()
		sm.sample(e)
		rq.NTT(e, e)
		rq.Add(sh, e, sh)
		shares[id] = sh
	}
	for id := 1; id <= n; id++ {
		x := rq.NewPoly()
		rq.MulScalar(c0s[id], n, x)
		rq.Add(x, shares[id], x)
		got := decodeNTT(pp, x, rc.Dim)
		if m := matches(got, offsetFields(t, rc, in[id], id, n)); m != rc.Dim {
			t.Fatalf("control: the attack recovered only %d of %d values of party %d", m, rc.Dim, id)
		}
	}
}
