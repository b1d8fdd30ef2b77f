package mhe

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/consort-ml/consort/mpc"
)

// TestRoundExact checks that the decrypted sum equals the plaintext sum of
// the quantised inputs exactly, with nodes dropping before the upload and
// during the decryption, up to n - t in total.
func TestRoundExact(t *testing.T) {
	cases := []struct {
		n, thr          int
		before, after   []int
		bits            uint
		dim             int
		recipient       Recipient
		wantAttemptsMin uint32
	}{
		{n: 3, thr: 2, dim: 3000},
		{n: 3, thr: 2, before: []int{2}, dim: 3000},
		{n: 3, thr: 2, after: []int{1}, dim: 3000, wantAttemptsMin: 2},
		{n: 10, thr: 6, dim: 9000},
		{n: 10, thr: 6, before: []int{3, 7}, after: []int{1, 2}, dim: 9000, wantAttemptsMin: 2},
		{n: 10, thr: 6, after: []int{1, 5, 9, 10}, dim: 4096, bits: 16},
		{n: 10, thr: 4, before: []int{2, 4}, after: []int{1, 3}, dim: 2000, recipient: RecipientNodes, wantAttemptsMin: 2},
		{n: 50, thr: 26, before: []int{1, 5, 9, 13, 17, 21, 25, 29, 33, 37, 41, 45}, after: []int{2, 3, 4, 6, 7, 8, 10, 11, 12, 14, 15, 16}, dim: 1500, wantAttemptsMin: 2},
	}
	p := mustParams(t, InsecureTestParams())
	for _, c := range cases {
		name := fmt.Sprintf("parties=%d/t=%d/drop-before=%d/drop-after=%d/bits=%d/recipient=%s", c.n, c.thr, len(c.before), len(c.after), max(c.bits, 32), c.recipient)
		t.Run(name, func(t *testing.T) {
			fed := fmt.Sprintf("fed-%d-%d", c.n, c.thr)
			f := runSetup(t, SetupConfig{Params: p, FederationID: fed, Parties: c.n, Threshold: c.thr, CRS: [32]byte{7}, Recipient: c.recipient})
			rc := RoundConfig{FederationID: fed, Round: 3, Dim: c.dim, Participants: ids(c.n), Bound: 2, QuantBits: c.bits}
			in := randomInputs(rc.Participants, rc.Dim, 2, uint64(c.n))
			before, after := set(c.before), set(c.after)
			res, st, err := runRound(t, f, rc, in, before, after)
			if err != nil {
				t.Fatal(err)
			}
			var contributors []int
			for _, id := range rc.Participants {
				if !before[id] {
					contributors = append(contributors, id)
				}
			}
			if !slices.Equal(res.Contributors, contributors) {
				t.Fatalf("contributors %v, want %v", res.Contributors, contributors)
			}
			want := expectedSum(t, rc, in, contributors)
			got := res
			if c.recipient == RecipientNodes {
				if res.Sum != nil || res.Quantized != nil {
					t.Fatal("the aggregator learned the sum although the nodes are the recipients")
				}
				var first *Result
				for _, id := range contributors {
					if after[id] {
						continue
					}
					r := st.nodeResult[id]
					if r == nil {
						t.Fatalf("node %d has no result", id)
					}
					if first == nil {
						first = r
					} else if !slices.Equal(r.Quantized, first.Quantized) {
						t.Fatalf("nodes decrypted different sums")
					}
				}
				got = *first
			}
			if !slices.Equal(got.Quantized, want) {
				t.Fatalf("decrypted sum differs from the plaintext sum of the quantised inputs")
			}
			if st.attempts < max(c.wantAttemptsMin, 1) {
				t.Fatalf("%d decryption attempts, want at least %d", st.attempts, c.wantAttemptsMin)
			}
			frac, _, _ := rc.Quantization()
			for i := range rc.Dim {
				var s float64
				for _, id := range contributors {
					s += float64(in[id][i])
				}
				// quantisation error plus the float32 rounding of the result
				tol := float64(len(contributors))/float64(uint64(1)<<frac) + math.Abs(s)*0x1p-23
				if d := float64(got.Sum[i]) - s; math.Abs(d) > tol {
					t.Fatalf("sum[%d] = %v, float sum %v (tolerance %v)", i, got.Sum[i], s, tol)
				}
			}
		})
	}
}

func set(xs []int) map[int]bool {
	m := map[int]bool{}
	for _, x := range xs {
		m[x] = true
	}
	return m
}

// TestRoundAbortBelowThreshold checks the typed abort when fewer than t nodes
// upload or answer.
func TestRoundAbortBelowThreshold(t *testing.T) {
	p := mustParams(t, InsecureTestParams())
	f := runSetup(t, SetupConfig{Params: p, FederationID: "fed-abort", Parties: 5, Threshold: 3, CRS: [32]byte{9}})
	rc := RoundConfig{FederationID: "fed-abort", Round: 1, Dim: 100, Participants: ids(5), Bound: 1}
	in := randomInputs(rc.Participants, rc.Dim, 1, 3)
	for _, c := range []struct {
		name          string
		before, after []int
	}{
		{"uploads=2", []int{1, 2, 3}, nil},
		{"decryptors=2", []int{1}, []int{2, 3}},
		{"decryptors=0", nil, []int{1, 2, 3, 4, 5}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := runRound(t, f, rc, in, set(c.before), set(c.after))
			var abort *mpc.AbortError
			if !errors.As(err, &abort) {
				t.Fatalf("got %v, want *mpc.AbortError", err)
			}
			if abort.Party != 0 || abort.Round != 1 || !errors.Is(err, mpc.ErrTooFewParties) {
				t.Fatalf("abort %+v does not name the aggregator, round 1 and ErrTooFewParties", abort)
			}
		})
	}
}

// TestRoundSecureParams runs a round with the smallest secure set (and the
// others when not in short mode).
func TestRoundSecureParams(t *testing.T) {
	for _, lit := range ParamSets() {
		t.Run(lit.Name, func(t *testing.T) {
			if lit.LogN > 13 && testing.Short() {
				t.Skip("large ring")
			}
			p := mustParams(t, lit)
			fed := "fed-secure-" + lit.Name
			f := runSetup(t, SetupConfig{Params: p, FederationID: fed, Parties: 3, Threshold: 2, CRS: [32]byte{3}})
			rc := RoundConfig{FederationID: fed, Round: 1, Dim: p.ValuesPerCiphertext(32) + 17, Participants: ids(3), Bound: 4}
			in := randomInputs(rc.Participants, rc.Dim, 4, 11)
			res, _, err := runRound(t, f, rc, in, nil, set([]int{1}))
			if err != nil {
				t.Fatal(err)
			}
			if want := expectedSum(t, rc, in, ids(3)); !slices.Equal(res.Quantized, want) {
				t.Fatal("decrypted sum differs from the plaintext sum of the quantised inputs")
			}
		})
	}
}

// TestPartialParticipation runs a round in which only some federation
// members are selected.
func TestPartialParticipation(t *testing.T) {
	p := mustParams(t, InsecureTestParams())
	f := runSetup(t, SetupConfig{Params: p, FederationID: "fed-part", Parties: 8, Threshold: 2, CRS: [32]byte{1}})
	rc := RoundConfig{FederationID: "fed-part", Round: 2, Dim: 777, Participants: []int{2, 3, 5, 8}, Bound: 1}
	in := randomInputs(rc.Participants, rc.Dim, 1, 4)
	res, _, err := runRound(t, f, rc, in, set([]int{5}), set([]int{2}))
	if err != nil {
		t.Fatal(err)
	}
	if want := expectedSum(t, rc, in, []int{2, 3, 8}); !slices.Equal(res.Quantized, want) || !slices.Equal(res.Contributors, []int{2, 3, 8}) {
		t.Fatalf("contributors %v; sums equal %v", res.Contributors, slices.Equal(res.Quantized, want))
	}
	// A non-participant cannot upload.
	nd, err := NewNode(f.keys[0], rc, testRand("x", 1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nd.Upload(in[2]); !errors.Is(err, ErrState) {
		t.Fatalf("non-participant upload: %v", err)
	}
}

// TestNodeRefusesSmallAggregate checks a node's policy: it refuses to
// decrypt an aggregate of fewer contributors than the round's minimum, and
// rejects messages of other rounds and repeated attempts.
func TestNodeRefusesSmallAggregate(t *testing.T) {
	p := mustParams(t, InsecureTestParams())
	f := runSetup(t, SetupConfig{Params: p, FederationID: "fed-policy", Parties: 4, Threshold: 2, CRS: [32]byte{1}})
	rc := RoundConfig{FederationID: "fed-policy", Round: 1, Dim: 10, Participants: ids(4), Bound: 1, MinContributors: 3}
	pp := p.p
	request := func(round uint64, attempt uint32, contributors, decryptors []uint16) Message {
		body := appendIDs(appendIDs(nil, contributors), decryptors)
		body = pp.appendPolyQ(body, pp.rlwe.RingQ().NewPoly())
		hdr := header{kind: KindDecryptRequest, to: broadcast, round: round, attempt: attempt, fed: "fed-policy"}
		return Message{From: 0, To: 1, Data: append(appendHeader(nil, hdr), body...)}
	}
	nd, _ := NewNode(f.keys[0], rc, testRand("policy", 1))
	if _, err := nd.Step(request(2, 1, []uint16{1, 2, 3}, []uint16{1, 2})); !errors.Is(err, mpc.ErrProtocol) {
		t.Fatalf("request of another round: %v", err)
	}
	if out, err := nd.Step(request(1, 1, []uint16{1, 2, 3}, []uint16{1, 2})); err != nil || len(out) != 1 {
		t.Fatalf("valid request: %v", err)
	}
	if _, err := nd.Step(request(1, 1, []uint16{1, 2, 3}, []uint16{1, 2})); !errors.Is(err, mpc.ErrUnexpected) {
		t.Fatalf("repeated attempt: %v", err)
	}
	_, err := nd.Step(request(1, 2, []uint16{1, 2}, []uint16{1, 2}))
	var abort *mpc.AbortError
	if !errors.As(err, &abort) || abort.Party != 1 || !errors.Is(err, mpc.ErrProtocol) {
		t.Fatalf("request for 2 contributors with a minimum of 3: %v", err)
	}
}
