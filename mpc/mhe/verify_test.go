package mhe

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/consort-ml/consort/mpc"
)

// testIdentities returns deterministic Ed25519 keys for n nodes.
func testIdentities(n int) ([]ed25519.PrivateKey, []ed25519.PublicKey) {
	priv := make([]ed25519.PrivateKey, n)
	pub := make([]ed25519.PublicKey, n)
	for i := range priv {
		var seed [32]byte
		copy(seed[:], fmt.Sprintf("identity/%d", i+1))
		priv[i] = ed25519.NewKeyFromSeed(seed[:])
		pub[i] = priv[i].Public().(ed25519.PublicKey)
	}
	return priv, pub
}

// verifiedRound is a verified round under test: the aggregator, every
// participant's node (with its own ledger) and what the pump saw.
type verifiedRound struct {
	agg     *Aggregator
	nodes   map[int]*Node
	ledgers map[int]*MemoryLedger
	// nodeErr is the first error each node returned.
	nodeErr map[int]error
	aggErr  error
	kinds   map[Kind]int // delivered messages by kind
	sent    []int        // bytes sent by party id
}

func newVerifiedRound(t *testing.T, f *federation, rc RoundConfig, priv []ed25519.PrivateKey) *verifiedRound {
	t.Helper()
	agg, err := NewAggregator(f.cfg, rc)
	if err != nil {
		t.Fatal(err)
	}
	vr := &verifiedRound{agg: agg, nodes: map[int]*Node{}, ledgers: map[int]*MemoryLedger{}, nodeErr: map[int]error{},
		kinds: map[Kind]int{}, sent: make([]int, f.cfg.Parties+1)}
	for _, id := range rc.Participants {
		nrc := rc
		nrc.Signer = priv[id-1]
		vr.ledgers[id] = &MemoryLedger{}
		nrc.Ledger = vr.ledgers[id]
		if vr.nodes[id], err = NewNode(f.keys[id-1], nrc, testRand(fmt.Sprintf("round%d", rc.Round), id)); err != nil {
			t.Fatal(err)
		}
	}
	return vr
}

// pump delivers queue until it is empty. drop(m) true means the addressee is
// gone: the message is lost and the aggregator's deadline for it fires.
func (vr *verifiedRound) pump(queue []Message, drop func(Message) bool) {
	for len(queue) > 0 {
		m := queue[0]
		queue = queue[1:]
		if m.To != 0 && drop != nil && drop(m) {
			out, err := vr.agg.Dropped(m.To)
			if err != nil && vr.aggErr == nil {
				vr.aggErr = err
			}
			queue = append(queue, out...)
			continue
		}
		k, _ := MessageKind(m.Data)
		vr.kinds[k]++
		vr.sent[m.From] += len(m.Data)
		var out []Message
		var err error
		if m.To == 0 {
			out, err = vr.agg.Step(m)
			if err != nil && vr.aggErr == nil {
				vr.aggErr = err
			}
		} else {
			out, err = vr.nodes[m.To].Step(m)
			if err != nil && vr.nodeErr[m.To] == nil {
				vr.nodeErr[m.To] = err
			}
		}
		queue = append(queue, out...)
	}
}

// upload returns the uploads of the given nodes.
func (vr *verifiedRound) upload(t *testing.T, in map[int][]float32, who []int) []Message {
	t.Helper()
	var out []Message
	for _, id := range who {
		o, err := vr.nodes[id].Upload(in[id])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, o...)
	}
	return out
}

func verifiedSetup(t *testing.T, fed string, n, thr int) (*federation, []ed25519.PrivateKey, []ed25519.PublicKey) {
	t.Helper()
	p := mustParams(t, InsecureTestParams())
	f := runSetup(t, SetupConfig{Params: p, FederationID: fed, Parties: n, Threshold: thr, CRS: [32]byte{7}})
	priv, pub := testIdentities(n)
	return f, priv, pub
}

// TestVerifiedRound runs honest verified rounds: the sum is exact, the
// result lists the signed contribution digests the nodes computed, and
// every decryptor claimed exactly the verified aggregate.
func TestVerifiedRound(t *testing.T) {
	f, priv, pub := verifiedSetup(t, "fed-verified", 5, 3)
	rc := RoundConfig{FederationID: "fed-verified", Round: 4, Dim: 3000, Participants: ids(5), Bound: 2,
		MinContributors: 4, ModelVersion: [32]byte{1, 2, 3}, Identities: pub}
	in := randomInputs(rc.Participants, rc.Dim, 2, 5)
	vr := newVerifiedRound(t, f, rc, priv)
	vr.pump(vr.upload(t, in, ids(5)), nil)
	if vr.aggErr != nil || len(vr.nodeErr) > 0 {
		t.Fatalf("aggregator %v, nodes %v", vr.aggErr, vr.nodeErr)
	}
	res, ok := vr.agg.Result()
	if !ok {
		t.Fatal("round did not finish")
	}
	if want := expectedSum(t, rc, in, ids(5)); !slices.Equal(res.Quantized, want) {
		t.Fatal("decrypted sum differs from the plaintext sum of the quantised inputs")
	}
	if len(res.Contributions) != 5 {
		t.Fatalf("%d contributions in the result", len(res.Contributions))
	}
	for _, c := range res.Contributions {
		d, ok := vr.nodes[c.Party].ContributionDigest()
		if !ok || d != c.Digest || !ed25519.Verify(pub[c.Party-1], ContributionMessage(rc.FederationID, rc.Round, rc.ModelVersion, d), c.Signature) {
			t.Fatalf("contribution of party %d does not match the node's signed digest", c.Party)
		}
	}
	decryptors := 0
	for id, nd := range vr.nodes {
		if d, ok := nd.Decryption(); ok {
			decryptors++
			if d.Aggregate != res.Aggregate || d.Round != rc.Round || d.ModelVersion != rc.ModelVersion {
				t.Fatalf("node %d claimed %+v, result aggregate %x", id, d, res.Aggregate)
			}
		}
	}
	if decryptors != 3 || vr.kinds[KindDecryptShare] != 3 || vr.kinds[KindFingerprint] != 5 {
		t.Fatalf("%d decryptors, %d shares, %d fingerprints", decryptors, vr.kinds[KindDecryptShare], vr.kinds[KindFingerprint])
	}
}

// TestVerifiedRecipientNodes runs a verified round whose result only the
// nodes can decrypt.
func TestVerifiedRecipientNodes(t *testing.T) {
	p := mustParams(t, InsecureTestParams())
	f := runSetup(t, SetupConfig{Params: p, FederationID: "fed-vn", Parties: 3, Threshold: 2, CRS: [32]byte{7}, Recipient: RecipientNodes})
	priv, pub := testIdentities(3)
	rc := RoundConfig{FederationID: "fed-vn", Round: 1, Dim: 500, Participants: ids(3), Bound: 1, Identities: pub}
	in := randomInputs(rc.Participants, rc.Dim, 1, 9)
	vr := newVerifiedRound(t, f, rc, priv)
	vr.pump(vr.upload(t, in, ids(3)), nil)
	if vr.aggErr != nil || len(vr.nodeErr) > 0 {
		t.Fatalf("aggregator %v, nodes %v", vr.aggErr, vr.nodeErr)
	}
	r, ok := vr.nodes[3].Result()
	if !ok || !slices.Equal(r.Quantized, expectedSum(t, rc, in, ids(3))) {
		t.Fatal("node 3 did not decrypt the exact sum")
	}
}

// TestVerifiedDecryptorDropout: a decryptor that leaves after the
// verification is replaced: a new attempt asks contributors that were not
// asked before (a node gives at most one share per round).
func TestVerifiedDecryptorDropout(t *testing.T) {
	f, priv, pub := verifiedSetup(t, "fed-vdrop", 5, 2)
	rc := RoundConfig{FederationID: "fed-vdrop", Round: 1, Dim: 700, Participants: ids(5), Bound: 1, Identities: pub}
	in := randomInputs(rc.Participants, rc.Dim, 1, 2)
	vr := newVerifiedRound(t, f, rc, priv)
	vr.pump(vr.upload(t, in, ids(5)), func(m Message) bool {
		k, _ := MessageKind(m.Data)
		return m.To == 2 && k == KindDecryptRequest
	})
	res, ok := vr.agg.Result()
	if !ok {
		t.Fatalf("round did not finish: %v", vr.aggErr)
	}
	if !slices.Equal(res.Quantized, expectedSum(t, rc, in, ids(5))) {
		t.Fatal("wrong sum")
	}
	for id, err := range vr.nodeErr {
		t.Errorf("node %d: %v", id, err)
	}
	if a := vr.agg.Attempt(); a != 2 {
		t.Fatalf("%d attempts, want 2", a)
	}
	// Attempt 1 asked nodes 1 and 2; node 1's share was for a set that
	// cannot complete, so attempt 2 asks two fresh contributors.
	var got []int
	for id := 1; id <= 5; id++ {
		if _, ok := vr.nodes[id].Decryption(); ok {
			got = append(got, id)
		}
	}
	if !slices.Equal(got, []int{1, 3, 4}) {
		t.Fatalf("nodes %v decrypted, want 1, 3 and 4", got)
	}

	// A contributor that leaves before its fingerprint aborts the round:
	// its ciphertext is in the sum and nobody can vouch for it.
	vr = newVerifiedRound(t, f, rc, priv)
	vr.pump(vr.upload(t, in, ids(5)), func(m Message) bool { return m.To == 4 })
	if !errors.Is(vr.aggErr, mpc.ErrTooFewParties) {
		t.Fatalf("contributor gone before the verification: %v", vr.aggErr)
	}
}

// tamperedRound sets up a verified round of 4 participants with threshold 3
// in which nodes 1..3 upload, lets the adversarial aggregator rewrite its
// running sums (coefficient domain), closes the uploads and delivers
// everything. Every contributor is also a decryptor.
func tamperedRound(t *testing.T, fed string, tamper func(a *Aggregator, uploads map[int][]byte)) *verifiedRound {
	t.Helper()
	f, priv, pub := verifiedSetup(t, fed, 4, 3)
	rc := RoundConfig{FederationID: fed, Round: 1, Dim: 900, Participants: ids(4), Bound: 1, MinContributors: 3,
		ModelVersion: [32]byte{9}, Identities: pub}
	in := randomInputs(rc.Participants, rc.Dim, 1, 3)
	vr := newVerifiedRound(t, f, rc, priv)
	ups := vr.upload(t, in, []int{1, 2, 3})
	uploads := map[int][]byte{}
	for _, m := range ups {
		uploads[m.From] = m.Data
		if _, err := vr.agg.Step(m); err != nil {
			t.Fatal(err)
		}
	}
	tamper(vr.agg, uploads)
	out, err := vr.agg.CloseUploads()
	if err != nil {
		t.Fatal(err)
	}
	vr.pump(out, nil)
	return vr
}

// TestAdversarialAggregatorRefused plays an aggregator that deviates after
// honest uploads; every honest decryptor must refuse with a classified error
// and no decryption share may leave a node.
func TestAdversarialAggregatorRefused(t *testing.T) {
	// (a) It "sums" only team 1's ciphertext while naming 3 contributors.
	t.Run("substituted", func(t *testing.T) {
		vr := tamperedRound(t, "fed-adv-a", func(a *Aggregator, uploads map[int][]byte) {
			_, body, _ := parseHeader(uploads[1])
			p := a.p
			for c, ct := range a.sums {
				for j := range 2 {
					off := (2*c + j) * p.qBytes
					if err := p.readPolyQ(ct.Value[j], body[off:off+p.qBytes]); err != nil {
						t.Fatal(err)
					}
				}
			}
		})
		assertRefused(t, vr, ErrAggregateMismatch)
	})
	// (b) It adds 1 to a single coefficient of the summed c1 (a sparse
	// change, which would make decryption reveal key material).
	t.Run("one-coefficient", func(t *testing.T) {
		vr := tamperedRound(t, "fed-adv-b", func(a *Aggregator, _ map[int][]byte) {
			q := a.p.lit.Q[2]
			c := &a.sums[0].Value[1].Coeffs[2][17]
			*c = (*c + 1) % q
		})
		assertRefused(t, vr, ErrAggregateMismatch)
	})
	// (c) It asks twice: after an honest decryption, again in the same round
	// (new attempt), again after a node restart (fresh Node, same ledger),
	// and for the same model version under a new round label.
	t.Run("twice", func(t *testing.T) {
		f, priv, pub := verifiedSetup(t, "fed-adv-c", 3, 3)
		rc := RoundConfig{FederationID: "fed-adv-c", Round: 5, Dim: 400, Participants: ids(3), Bound: 1,
			ModelVersion: [32]byte{4}, Identities: pub}
		in := randomInputs(rc.Participants, rc.Dim, 1, 8)
		vr := newVerifiedRound(t, f, rc, priv)
		var requests []Message
		vr.pump(vr.upload(t, in, ids(3)), func(m Message) bool {
			if k, _ := MessageKind(m.Data); k == KindDecryptRequest {
				requests = append(requests, m)
			}
			return false
		})
		if _, ok := vr.agg.Result(); !ok || len(requests) != 3 {
			t.Fatalf("honest round: %v, %d requests", vr.aggErr, len(requests))
		}
		for _, m := range requests {
			again := slices.Clone(m.Data)
			again[14]++ // the attempt number
			if _, err := vr.nodes[m.To].Step(Message{From: 0, To: m.To, Data: again}); !errors.Is(err, ErrAlreadyDecrypted) || !errors.Is(err, mpc.ErrProtocol) {
				t.Fatalf("node %d answered a second request of the round: %v", m.To, err)
			}
		}
		for _, label := range []struct {
			name  string
			round uint64
		}{{"restart", 5}, {"relabelled", 6}} {
			rc2 := rc
			rc2.Round = label.round
			vr2 := newVerifiedRound(t, f, rc2, priv)
			for id, l := range vr.ledgers {
				vr2.ledgers[id] = l // the nodes' persisted ledgers survive
				vr2.nodes[id].v.ledger = l
			}
			vr2.pump(vr2.upload(t, in, ids(3)), nil)
			if vr2.kinds[KindDecryptShare] != 0 {
				t.Fatalf("%s: %d decryption shares", label.name, vr2.kinds[KindDecryptShare])
			}
			for id := 1; id <= 3; id++ {
				if err := vr2.nodeErr[id]; !errors.Is(err, ErrAlreadyDecrypted) || !errors.Is(err, mpc.ErrProtocol) {
					t.Fatalf("%s: node %d: %v", label.name, id, err)
				}
			}
		}
	})
	// Naming a contributor whose upload it does not have (a forged
	// signature) or too few contributors.
	t.Run("forged-contributor", func(t *testing.T) {
		f, priv, pub := verifiedSetup(t, "fed-adv-d", 4, 2)
		rc := RoundConfig{FederationID: "fed-adv-d", Round: 1, Dim: 100, Participants: ids(4), Bound: 1, MinContributors: 3,
			Identities: pub}
		in := randomInputs(rc.Participants, rc.Dim, 1, 3)
		vr := newVerifiedRound(t, f, rc, priv)
		ups := vr.upload(t, in, []int{1, 2})
		for _, m := range ups {
			if _, err := vr.agg.Step(m); err != nil {
				t.Fatal(err)
			}
		}
		// The aggregator pretends node 3 contributed (no signature) and that
		// 3 contributors are in.
		vr.agg.contributors = append(vr.agg.contributors, 3)
		vr.agg.sigs[2] = make([]byte, sigSize)
		vr.agg.minC = 0
		out, err := vr.agg.CloseUploads()
		if err != nil {
			t.Fatal(err)
		}
		vr.pump(out, nil)
		for _, id := range []int{1, 2} {
			if err := vr.nodeErr[id]; !errors.Is(err, ErrBadSignature) || !errors.Is(err, mpc.ErrProtocol) {
				t.Fatalf("node %d: %v", id, err)
			}
		}
	})
}

func assertRefused(t *testing.T, vr *verifiedRound, want error) {
	t.Helper()
	if n := vr.kinds[KindDecryptShare]; n != 0 {
		t.Fatalf("%d decryption shares left the nodes", n)
	}
	if _, ok := vr.agg.Result(); ok {
		t.Fatal("the aggregator obtained a result")
	}
	for id := 1; id <= 3; id++ {
		err := vr.nodeErr[id]
		var abort *mpc.AbortError
		if !errors.Is(err, want) || !errors.Is(err, mpc.ErrProtocol) || !errors.As(err, &abort) || abort.Party != id {
			t.Fatalf("node %d: %v, want an abort wrapping %v", id, err, want)
		}
		if _, ok := vr.nodes[id].Decryption(); ok {
			t.Fatalf("node %d claimed a decryption", id)
		}
		if want == ErrAggregateMismatch && !strings.Contains(err.Error(), "fingerprint check failed") {
			t.Fatalf("node %d refused before the fingerprint check: %v", id, err)
		}
	}
}
