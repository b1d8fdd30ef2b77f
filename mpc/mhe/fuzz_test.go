package mhe

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/consort-ml/consort/mpc"
)

// mutations returns valid, its truncations, its length +/- 1 and bit flips.
func mutations(valid []byte) [][]byte {
	out := [][]byte{valid, {}}
	for _, l := range []int{1, len(valid) / 2, len(valid) - 1} {
		if l >= 0 && l < len(valid) {
			out = append(out, valid[:l])
		}
	}
	out = append(out, append(bytes.Clone(valid), 0))
	for _, pos := range []int{0, 1, len(valid) / 3, len(valid) / 2, len(valid) - 1} {
		if pos >= 0 && pos < len(valid) {
			for _, bit := range []byte{1, 0x80} {
				b := bytes.Clone(valid)
				b[pos] ^= bit
				out = append(out, b)
			}
		}
	}
	return out
}

func addSeeds(f *testing.F, valid ...[]byte) {
	n := 0
	for _, v := range valid {
		for _, m := range mutations(v) {
			f.Add(m)
			n++
		}
	}
	if n == 0 {
		f.Fatal("empty seed corpus")
	}
}

// classified reports whether err is one of the documented failure classes.
func classified(err error) bool {
	var abort *mpc.AbortError
	return errors.Is(err, mpc.ErrMalformed) || errors.Is(err, mpc.ErrProtocol) || errors.Is(err, mpc.ErrUnexpected) ||
		errors.As(err, &abort) || errors.Is(err, ErrState)
}

// fuzzFixture is a completed small federation with captured messages.
type fuzzFixture struct {
	f        *federation
	rc       RoundConfig
	msgs     map[Kind][]byte
	setupMsg map[Kind][]byte
	keyBytes []byte
}

var (
	fixtureOnce sync.Once
	fixture     *fuzzFixture
)

func getFixture(tb testing.TB) *fuzzFixture {
	fixtureOnce.Do(func() {
		p := mustParams(tb, InsecureTestParams())
		fx := &fuzzFixture{msgs: map[Kind][]byte{}, setupMsg: map[Kind][]byte{}}
		cfg := SetupConfig{Params: p, FederationID: "fuzz", Parties: 3, Threshold: 2, CRS: [32]byte{1}, Recipient: RecipientNodes}
		// Capture one setup message of each kind.
		agg, _ := NewSetupAggregator(cfg)
		n1, _ := NewSetupNode(cfg, 1, nil, testRand("fz", 1))
		n2, _ := NewSetupNode(cfg, 2, nil, testRand("fz", 2))
		o1, _ := n1.Start()
		o2, _ := n2.Start()
		for _, m := range append(o1, o2...) {
			k, _ := MessageKind(m.Data)
			fx.setupMsg[k] = m.Data
		}
		for _, m := range o1 {
			if m.To == 2 {
				out, _ := n2.Step(m)
				for _, s := range out {
					k, _ := MessageKind(s.Data)
					fx.setupMsg[k] = s.Data
				}
			}
		}
		_ = agg
		fx.f = runSetup(tb, cfg)
		fx.keyBytes, _ = fx.f.keys[0].MarshalBinary()
		fx.rc = RoundConfig{FederationID: "fuzz", Round: 1, Dim: 1000, Participants: ids(3), Bound: 1}
		in := randomInputs(fx.rc.Participants, fx.rc.Dim, 1, 1)
		_, st, err := runRound(tb, fx.f, fx.rc, in, nil, nil)
		if err != nil {
			tb.Fatal(err)
		}
		fx.msgs[KindCiphertext] = st.ciphertexts[1]
		fx.msgs[KindDecryptShare] = st.shares[1]
		fx.msgs[KindDecryptRequest] = st.requests[0]
		fixture = fx
	})
	if fixture == nil {
		tb.Fatal("fixture failed")
	}
	return fixture
}

func FuzzParseHeader(f *testing.F) {
	fx := getFixture(f)
	var seeds [][]byte
	for _, m := range fx.setupMsg {
		seeds = append(seeds, m[:min(len(m), 64)])
	}
	seeds = append(seeds, appendHeader(nil, header{kind: KindResult, from: 0, to: broadcast, round: 9, attempt: 2, fed: "x"}))
	addSeeds(f, seeds...)
	f.Fuzz(func(t *testing.T, b []byte) {
		h, body, err := parseHeader(b)
		if err != nil {
			if !errors.Is(err, mpc.ErrMalformed) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if re := append(appendHeader(nil, h), body...); !bytes.Equal(re, b) {
			t.Fatal("accepted header does not re-encode identically")
		}
	})
}

func FuzzReadPoly(f *testing.F) {
	fx := getFixture(f)
	pp := fx.f.cfg.Params.p
	r := rand.New(rand.NewPCG(1, 2))
	poly := pp.rlwe.RingQP().NewPoly()
	for k, q := range pp.lit.Q {
		for i := range poly.Q.Coeffs[k] {
			poly.Q.Coeffs[k][i] = r.Uint64N(q)
		}
	}
	for k, q := range pp.lit.P {
		for i := range poly.P.Coeffs[k] {
			poly.P.Coeffs[k][i] = r.Uint64N(q)
		}
	}
	maxed := pp.rlwe.RingQ().NewPoly()
	for k, q := range pp.lit.Q {
		for i := range maxed.Coeffs[k] {
			maxed.Coeffs[k][i] = q - 1
		}
	}
	addSeeds(f, pp.appendPolyQ(nil, poly.Q), pp.appendPolyQP(nil, poly), pp.appendPolyQ(nil, maxed))
	f.Fuzz(func(t *testing.T, b []byte) {
		q := pp.rlwe.RingQ().NewPoly()
		if err := pp.readPolyQ(q, b); err == nil {
			if !bytes.Equal(pp.appendPolyQ(nil, q), b) {
				t.Fatal("accepted polynomial does not re-encode identically")
			}
		} else if !errors.Is(err, mpc.ErrMalformed) {
			t.Fatalf("unclassified error %v", err)
		}
		qp := pp.rlwe.RingQP().NewPoly()
		if err := pp.readPolyQP(qp, b); err == nil {
			if !bytes.Equal(pp.appendPolyQP(nil, qp), b) {
				t.Fatal("accepted QP polynomial does not re-encode identically")
			}
		} else if !errors.Is(err, mpc.ErrMalformed) {
			t.Fatalf("unclassified error %v", err)
		}
	})
}

func FuzzDecodeRequest(f *testing.F) {
	fx := getFixture(f)
	pp := fx.f.cfg.Params.p
	_, body, _ := parseHeader(fx.msgs[KindDecryptRequest])
	small := appendIDs(appendIDs(nil, []uint16{1, 2, 3}), []uint16{2, 3})
	addSeeds(f, body, small)
	chunks := fx.f.cfg.Params.Ciphertexts(fx.rc.Dim, 32)
	f.Fuzz(func(t *testing.T, b []byte) {
		c, d, polys, err := pp.decodeRequest(b, 3, chunks)
		if err != nil {
			if !errors.Is(err, mpc.ErrMalformed) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		re := append(appendIDs(appendIDs(nil, c), d), polys...)
		if !bytes.Equal(re, b) {
			t.Fatal("accepted request does not re-encode identically")
		}
	})
}

func FuzzUnmarshalKeyMaterial(f *testing.F) {
	fx := getFixture(f)
	p := fx.f.cfg.Params
	all := runSetup(f, SetupConfig{Params: p, FederationID: "fuzz-all", Parties: 2, Threshold: 2, CRS: [32]byte{1}})
	additive, err := all.keys[1].MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	addSeeds(f, fx.keyBytes, additive)
	f.Fuzz(func(t *testing.T, b []byte) {
		km, err := UnmarshalKeyMaterial(p, b)
		if err != nil {
			if !errors.Is(err, mpc.ErrMalformed) && !errors.Is(err, ErrParams) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		re, err := km.MarshalBinary()
		if err != nil || !bytes.Equal(re, b) {
			t.Fatal("accepted key material does not re-encode identically")
		}
	})
}

// FuzzStep feeds arbitrary messages to fresh state machines of every kind:
// no panic, every error classified.
func FuzzStep(f *testing.F) {
	fx := getFixture(f)
	var seeds [][]byte
	for _, m := range fx.msgs {
		seeds = append(seeds, m)
	}
	for _, m := range fx.setupMsg {
		seeds = append(seeds, m)
	}
	addSeeds(f, seeds...)
	cfg := fx.f.cfg
	// The machines are built once and reused: an accepted message changes
	// their state, which only widens what later inputs exercise.
	agg, err := NewAggregator(cfg, fx.rc)
	if err != nil {
		f.Fatal(err)
	}
	nd, err := NewNode(fx.f.keys[1], fx.rc, testRand("fuzz-node", 2))
	if err != nil {
		f.Fatal(err)
	}
	sa, _ := NewSetupAggregator(cfg)
	sn, _ := NewSetupNode(cfg, 2, nil, testRand("fuzz-setup", 2))
	if _, err := sn.Start(); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, _, _ := parseHeader(b)
		from := int(h.from)
		if _, err := agg.Step(Message{From: from, To: 0, Data: b}); err != nil && !classified(err) {
			t.Fatalf("aggregator: unclassified error %v", err)
		}
		if _, err := nd.Step(Message{From: from, To: 2, Data: b}); err != nil && !classified(err) {
			t.Fatalf("node: unclassified error %v", err)
		}
		if _, err := sa.Step(Message{From: from, To: 0, Data: b}); err != nil && !classified(err) {
			t.Fatalf("setup aggregator: unclassified error %v", err)
		}
		if _, err := sn.Step(Message{From: from, To: 2, Data: b}); err != nil && !classified(err) {
			t.Fatalf("setup node: unclassified error %v", err)
		}
	})
}

// verifiedFixture captures one message of every kind of a verified round.
func verifiedFixture(f *testing.F) (*federation, RoundConfig, []ed25519.PrivateKey, map[Kind][]byte) {
	p := mustParams(f, InsecureTestParams())
	fed := runSetup(f, SetupConfig{Params: p, FederationID: "fuzz-v", Parties: 3, Threshold: 2, CRS: [32]byte{1}})
	priv, pub := testIdentities(3)
	rc := RoundConfig{FederationID: "fuzz-v", Round: 1, Dim: 1000, Participants: ids(3), Bound: 1, Identities: pub}
	msgs := map[Kind][]byte{}
	agg, err := NewAggregator(fed.cfg, rc)
	if err != nil {
		f.Fatal(err)
	}
	nodes := map[int]*Node{}
	var queue []Message
	for id := 1; id <= 3; id++ {
		nrc := rc
		nrc.Signer = priv[id-1]
		if nodes[id], err = NewNode(fed.keys[id-1], nrc, testRand("fuzz-v", id)); err != nil {
			f.Fatal(err)
		}
		out, err := nodes[id].Upload(randomInputs(ids(3), rc.Dim, 1, 1)[id])
		if err != nil {
			f.Fatal(err)
		}
		queue = append(queue, out...)
	}
	for len(queue) > 0 {
		m := queue[0]
		queue = queue[1:]
		k, _ := MessageKind(m.Data)
		msgs[k] = m.Data
		var out []Message
		if m.To == 0 {
			out, err = agg.Step(m)
		} else {
			out, err = nodes[m.To].Step(m)
		}
		if err != nil {
			f.Fatal(err)
		}
		queue = append(queue, out...)
	}
	if len(msgs) != 7 {
		f.Fatalf("captured %d kinds of messages, want 7", len(msgs))
	}
	return fed, rc, priv, msgs
}

func FuzzDecodeVerifiedRequest(f *testing.F) {
	fed, rc, _, msgs := verifiedFixture(f)
	pp := fed.cfg.Params.p
	_, body, _ := parseHeader(msgs[KindDecryptRequest])
	addSeeds(f, body, appendIDs(nil, []uint16{1, 2}))
	chunks := fed.cfg.Params.Ciphertexts(rc.Dim, 32)
	f.Fuzz(func(t *testing.T, b []byte) {
		d, fps, c1, err := pp.decodeVerifiedRequest(b, 3, 3, chunks)
		if err != nil {
			if !errors.Is(err, mpc.ErrMalformed) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		re := append(append(appendIDs(nil, d), fps...), c1...)
		if !bytes.Equal(re, b) {
			t.Fatal("accepted request does not re-encode identically")
		}
	})
}

// FuzzVerifiedStep feeds arbitrary messages to the state machines of a
// verified round (a node that has uploaded, and an aggregator): no panic,
// every error classified.
func FuzzVerifiedStep(f *testing.F) {
	fed, rc, priv, msgs := verifiedFixture(f)
	var seeds [][]byte
	for _, m := range msgs {
		seeds = append(seeds, m)
	}
	addSeeds(f, seeds...)
	agg, err := NewAggregator(fed.cfg, rc)
	if err != nil {
		f.Fatal(err)
	}
	nrc := rc
	nrc.Signer = priv[1]
	nd, err := NewNode(fed.keys[1], nrc, testRand("fuzz-v", 2))
	if err != nil {
		f.Fatal(err)
	}
	if _, err := nd.Upload(make([]float32, rc.Dim)); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, _, _ := parseHeader(b)
		if _, err := agg.Step(Message{From: int(h.from), To: 0, Data: b}); err != nil && !classified(err) {
			t.Fatalf("aggregator: unclassified error %v", err)
		}
		if _, err := nd.Step(Message{From: int(h.from), To: 2, Data: b}); err != nil && !classified(err) {
			t.Fatalf("node: unclassified error %v", err)
		}
	})
}
