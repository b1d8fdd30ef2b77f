package mhe

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/consort-ml/consort/mpc"
)

// TestSetupCommitsBeforeReveal: a node sends its public-key share only once
// it holds every other node's commitment, so no share can be chosen after
// seeing the others.
func TestSetupCommitsBeforeReveal(t *testing.T) {
	p := mustParams(t, InsecureTestParams())
	cfg := SetupConfig{Params: p, FederationID: "fed-commit", Parties: 3, Threshold: 2, CRS: [32]byte{5}}
	nodes := make([]*SetupNode, 3)
	outs := make([][]Message, 3)
	for i := range nodes {
		var err error
		if nodes[i], err = NewSetupNode(cfg, i+1, nil, testRand("commit", i+1)); err != nil {
			t.Fatal(err)
		}
		if outs[i], err = nodes[i].Start(); err != nil {
			t.Fatal(err)
		}
		for _, m := range outs[i] {
			if k, _ := MessageKind(m.Data); k != KindAnnounce {
				t.Fatalf("node %d sent a %s message before seeing every commitment", i+1, k)
			}
		}
	}
	// Node 1 gets node 2's announcement: still no share.
	out, err := nodes[0].Step(outs[1][0])
	if err != nil || len(out) != 0 {
		t.Fatalf("after one of two announcements: %d messages, %v", len(out), err)
	}
	out, err = nodes[0].Step(outs[2][0])
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[Kind]int{}
	for _, m := range out {
		k, _ := MessageKind(m.Data)
		kinds[k]++
	}
	if kinds[KindKeyShare] != 1 || kinds[KindShamirShare] != 2 {
		t.Fatalf("after every announcement node 1 sent %v", kinds)
	}
}

// TestSetupRefusesSubstitutedKey plays an aggregator that installs a public
// key of its own: it replaces a node's share in the public-key message (or
// sends a key share of its own making); every node refuses.
func TestSetupRefusesSubstitutedKey(t *testing.T) {
	p := mustParams(t, InsecureTestParams())
	pp := p.p
	cfg := SetupConfig{Params: p, FederationID: "fed-rogue", Parties: 3, Threshold: 2, CRS: [32]byte{6}}
	// The aggregator's own key pair: a share -a*s' + e' for which it knows s'.
	sk := pp.secretKeyFromSeed([]byte("rogue"))
	rogue := pp.keyShare(sk, pp.crp(cfg.FederationID, cfg.CRS), []byte("rogue-error"))
	rogueBytes := pp.appendPolyQP(nil, rogue.Value)
	for _, victim := range []int{1, 3} {
		errs := map[int]error{}
		runSetupTampered(t, cfg, func(m Message) Message {
			if k, _ := MessageKind(m.Data); k != KindPublicKey {
				return m
			}
			data := bytes.Clone(m.Data)
			off := headerFixed + len(cfg.FederationID) + (victim-1)*pp.qpBytes()
			copy(data[off:], rogueBytes)
			return Message{From: m.From, To: m.To, Data: data}
		}, errs)
		for id := 1; id <= 3; id++ {
			var abort *mpc.AbortError
			if err := errs[id]; !errors.As(err, &abort) || !errors.Is(err, mpc.ErrProtocol) {
				t.Fatalf("victim %d: node %d: %v", victim, id, err)
			}
		}
	}
}

// runSetupTampered runs a setup in which the aggregator rewrites every
// message it sends with tamper; it records each node's first error.
func runSetupTampered(t *testing.T, cfg SetupConfig, tamper func(Message) Message, errs map[int]error) {
	t.Helper()
	agg, err := NewSetupAggregator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	nodes := make([]*SetupNode, cfg.Parties)
	var queue []Message
	for i := range nodes {
		if nodes[i], err = NewSetupNode(cfg, i+1, nil, testRand("tamper", i+1)); err != nil {
			t.Fatal(err)
		}
		out, err := nodes[i].Start()
		if err != nil {
			t.Fatal(err)
		}
		queue = append(queue, out...)
	}
	for len(queue) > 0 {
		m := queue[0]
		queue = queue[1:]
		var out []Message
		if m.To == 0 {
			if out, err = agg.Step(m); err != nil {
				t.Fatal(err)
			}
			for i := range out {
				out[i] = tamper(out[i])
			}
		} else {
			out, err = nodes[m.To-1].Step(m)
			if err != nil && errs[m.To] == nil {
				errs[m.To] = err
			}
		}
		queue = append(queue, out...)
	}
	for i, nd := range nodes {
		if _, ok := nd.KeyMaterial(); ok && errs[i+1] == nil {
			errs[i+1] = errors.New("completed the setup")
		}
	}
}

// TestSetupAllDecrypt: with t = n no secret is Shamir-shared: a node sends
// its announcement, its public-key share and n-1 sealed 48-byte messages
// (the result-key contributions), rounds decrypt exactly, and the key file
// keeps the additive share apart from Shamir shares.
func TestSetupAllDecrypt(t *testing.T) {
	p := mustParams(t, InsecureTestParams())
	pp := p.p
	for _, rcpt := range []Recipient{RecipientAggregator, RecipientNodes} {
		fed := fmt.Sprintf("fed-all-%s", rcpt)
		f := runSetup(t, SetupConfig{Params: p, FederationID: fed, Parties: 4, Threshold: 4, CRS: [32]byte{8}, Recipient: rcpt})
		hl := headerFixed + len(fed)
		want := (hl+announceSize)*3 /* announcements */ + hl + pp.qpBytes() + 3*(hl+contributionSize+16)
		if f.bytes[1] != want {
			t.Fatalf("%s: node 1 sent %d setup bytes, want %d", rcpt, f.bytes[1], want)
		}
		rc := RoundConfig{FederationID: fed, Round: 1, Dim: 1500, Participants: ids(4), Bound: 1}
		in := randomInputs(rc.Participants, rc.Dim, 1, 6)
		res, st, err := runRound(t, f, rc, in, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		want64 := expectedSum(t, rc, in, ids(4))
		if rcpt == RecipientNodes {
			res = *st.nodeResult[2]
		}
		if !slices.Equal(res.Quantized, want64) {
			t.Fatalf("%s: wrong sum", rcpt)
		}
		b, err := f.keys[0].MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		km, err := UnmarshalKeyMaterial(p, b)
		if err != nil || !km.additive || string(b[:len(labelKeyFileAdd)]) != labelKeyFileAdd {
			t.Fatalf("key file round trip: %v", err)
		}
	}
}

// TestSetupSeededShares: with t < n a node sends only n-t Shamir shares;
// the t-1 others are pseudo-random from the pairwise keys (both ends derive
// them), and every t-subset of the nodes still decrypts the exact sum.
func TestSetupSeededShares(t *testing.T) {
	p := mustParams(t, InsecureTestParams())
	pp := p.p
	const n, thr = 6, 3
	fed := "fed-seeded"
	f := runSetup(t, SetupConfig{Params: p, FederationID: fed, Parties: n, Threshold: thr, CRS: [32]byte{9}})
	hl := headerFixed + len(fed)
	for _, id := range []int{1, 4, 6} {
		want := (hl+announceSize)*(n-1) + hl + pp.qpBytes() + (n-thr)*(hl+pp.qpBytes()+contributionSize+16) + (thr-1)*(hl+contributionSize+16)
		if f.bytes[id] != want {
			t.Fatalf("node %d sent %d setup bytes, want %d", id, f.bytes[id], want)
		}
	}
	rc := RoundConfig{FederationID: fed, Round: 1, Dim: 800, Participants: ids(n), Bound: 1}
	in := randomInputs(rc.Participants, rc.Dim, 1, 12)
	for _, gone := range [][]int{{1, 2, 3}, {4, 5, 6}, {1, 3, 5}} {
		res, _, err := runRound(t, f, rc, in, nil, set(gone))
		if err != nil {
			t.Fatalf("decryptors without %v: %v", gone, err)
		}
		if !slices.Equal(res.Quantized, expectedSum(t, rc, in, ids(n))) {
			t.Fatalf("decryptors without %v: wrong sum", gone)
		}
	}
}
