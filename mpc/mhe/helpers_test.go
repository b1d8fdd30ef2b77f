package mhe

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/consort-ml/consort/mpc/mpctest"
)

// testRand returns a deterministic reader for party id of a test.
func testRand(label string, id int) io.Reader {
	var seed [32]byte
	copy(seed[:], fmt.Sprintf("%s/%d", label, id))
	return rand.NewChaCha8(seed)
}

// mustParams builds a literal or fails the test.
func mustParams(t testing.TB, lit ParamsLiteral) Params {
	t.Helper()
	p, err := NewParams(lit)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// federation is a set-up federation: the config and every node's key.
type federation struct {
	cfg  SetupConfig
	keys []*KeyMaterial
	// bytes counts the setup traffic sent by each party (index = id).
	bytes []int
}

// runSetup runs the setup state machines over mpctest's network, first in
// first out.
func runSetup(t testing.TB, cfg SetupConfig) *federation {
	t.Helper()
	return runSetupCapture(t, cfg, nil)
}

// runSetupCapture is runSetup that shows every delivered message to capture.
func runSetupCapture(t testing.TB, cfg SetupConfig, capture func(Message)) *federation {
	t.Helper()
	agg, nodes, rep := setupNetwork(t, cfg, mpctest.Config{Observe: capture})
	if rep.Rejected+rep.Unexpected != 0 {
		t.Fatalf("setup: %d messages rejected, %d unexpected", rep.Rejected, rep.Unexpected)
	}
	f := &federation{cfg: cfg, bytes: rep.Sent}
	want, ok := agg.PublicKeyDigest()
	if !ok {
		t.Fatal("aggregator has no public key")
	}
	for i, nd := range nodes {
		km, ok := nd.KeyMaterial()
		if !ok {
			t.Fatalf("node %d did not finish the setup", i+1)
		}
		if km.PublicKeyDigest() != want {
			t.Fatalf("node %d has another collective public key", i+1)
		}
		f.keys = append(f.keys, km)
	}
	return f
}

// roundStats is what a round driver observed.
type roundStats struct {
	sent, recv []int // bytes by party id
	attempts   uint32
	nodeResult []*Result // results at the nodes (recipient nodes)
	// delivered lists every delivered message in order
	delivered []Message
	// captured messages, by kind, for the attack tests
	ciphertexts map[int][]byte
	shares      map[int][]byte
	requests    [][]byte
}

// runRound drives one round: nodes in dropBefore never upload, nodes in
// dropAfter upload but never answer decryption requests.
func runRound(t testing.TB, f *federation, rc RoundConfig, inputs map[int][]float32, dropBefore, dropAfter map[int]bool) (Result, *roundStats, error) {
	t.Helper()
	agg, err := NewAggregator(f.cfg, rc)
	if err != nil {
		t.Fatal(err)
	}
	n := f.cfg.Parties
	st := &roundStats{sent: make([]int, n+1), recv: make([]int, n+1), nodeResult: make([]*Result, n+1),
		ciphertexts: map[int][]byte{}, shares: map[int][]byte{}}
	nodes := make([]*Node, n+1)
	for _, id := range rc.Participants {
		if nodes[id], err = NewNode(f.keys[id-1], rc, testRand(fmt.Sprintf("round%d", rc.Round), id)); err != nil {
			t.Fatal(err)
		}
	}
	var queue []Message
	deliver := func(out []Message, err error) error {
		if err != nil {
			return err
		}
		queue = append(queue, out...)
		return nil
	}
	for _, id := range rc.Participants {
		if dropBefore[id] {
			continue
		}
		out, err := nodes[id].Upload(inputs[id])
		if err != nil {
			t.Fatal(err)
		}
		if err := deliver(out, nil); err != nil {
			t.Fatal(err)
		}
	}
	closed := false
	for {
		for len(queue) > 0 {
			m := queue[0]
			queue = queue[1:]
			if m.To != 0 && (dropAfter[m.To] || dropBefore[m.To]) {
				// The node is gone: the driver's deadline fires.
				if err := deliver(agg.Dropped(m.To)); err != nil {
					return Result{}, st, err
				}
				continue
			}
			if m.To != 0 {
				if k, _ := MessageKind(m.Data); k == KindDecryptRequest {
					if h, _, _ := parseHeader(m.Data); h.attempt != agg.Attempt() {
						continue // stale attempt
					}
					st.requests = append(st.requests, m.Data)
				}
			}
			st.sent[m.From] += len(m.Data)
			st.recv[m.To] += len(m.Data)
			st.delivered = append(st.delivered, m)
			if m.To == 0 {
				switch k, _ := MessageKind(m.Data); k {
				case KindCiphertext:
					st.ciphertexts[m.From] = m.Data
				case KindDecryptShare:
					st.shares[m.From] = m.Data
				}
				if err := deliver(agg.Step(m)); err != nil {
					return Result{}, st, err
				}
				continue
			}
			if err := deliver(nodes[m.To].Step(m)); err != nil {
				return Result{}, st, err
			}
			if r, ok := nodes[m.To].Result(); ok {
				st.nodeResult[m.To] = &r
			}
		}
		if closed {
			break
		}
		closed = true
		if agg.phase == phaseUpload {
			if err := deliver(agg.CloseUploads()); err != nil {
				return Result{}, st, err
			}
		}
	}
	st.attempts = agg.Attempt()
	res, ok := agg.Result()
	if !ok {
		return Result{}, st, errors.New("round did not finish")
	}
	return res, st, nil
}

// expectedSum computes the plaintext sum of the quantised inputs of the
// contributors, with each node's rounding seed (the first 32 bytes of its
// round reader).
func expectedSum(t testing.TB, rc RoundConfig, inputs map[int][]float32, contributors []int) []int64 {
	t.Helper()
	sum := make([]int64, rc.Dim)
	q := make([]int32, rc.Dim)
	for _, id := range contributors {
		var seed [32]byte
		if _, err := io.ReadFull(testRand(fmt.Sprintf("round%d", rc.Round), id), seed[:]); err != nil {
			t.Fatal(err)
		}
		if err := rc.Quantize(q, inputs[id], seed); err != nil {
			t.Fatal(err)
		}
		for i, v := range q {
			sum[i] += int64(v)
		}
	}
	return sum
}

// randomInputs draws inputs in [-bound, bound] for the participants.
func randomInputs(participants []int, dim int, bound float32, seed uint64) map[int][]float32 {
	r := rand.New(rand.NewPCG(seed, 7))
	in := map[int][]float32{}
	for _, id := range participants {
		u := make([]float32, dim)
		for i := range u {
			u[i] = (2*r.Float32() - 1) * bound
		}
		in[id] = u
	}
	return in
}

func ids(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i + 1
	}
	return out
}

// toU32 reinterprets int32 values as two's complement uint32.
func toU32(v []int32) []uint32 {
	out := make([]uint32, len(v))
	for i, x := range v {
		out[i] = uint32(x)
	}
	return out
}
