package secagg

import (
	"bytes"
	"errors"
	"testing"

	"github.com/consort-ml/consort/mpc"
)

// TestServerView records every message the server receives in rounds with
// drops at every step and checks that no party's self-mask share and key
// share both reach it, and that the shares it holds at the end are of one
// kind per party.
func TestServerView(t *testing.T) {
	for seed := uint64(1); seed <= 6; seed++ {
		const n = 12
		p, sk := testParams(t, n, 8, 32, 4, 0, 0)
		in32, _ := randomInputs(p, seed)
		s := newSim(t, p, sk, in32, nil, pickDrops(n, 6, numDropPoints, seed), netConfig{Seed: seed, MaxDelay: 3, Dup: 0.1})
		s.run()
		if _, ok := s.srv.Result(); !ok {
			t.Fatalf("seed %d: %v", seed, s.srv.Err())
		}
		kinds := map[uint16]map[uint8]bool{}
		revealed := 0
		for _, m := range s.delivered {
			if m.To != 0 || Step(m.Data[1]) != StepUnmaskShares {
				continue
			}
			_, body, err := p.parseHeader(m.Data)
			if err != nil {
				t.Fatal(err)
			}
			es, err := p.decodeUnmaskShares(body)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range es {
				if kinds[e.owner] == nil {
					kinds[e.owner] = map[uint8]bool{}
				}
				kinds[e.owner][e.kind] = true
				revealed++
			}
		}
		if revealed == 0 {
			t.Fatal("no shares observed")
		}
		for owner, k := range kinds {
			if len(k) != 1 {
				t.Fatalf("seed %d: the server saw both kinds of shares of party %d", seed, owner)
			}
		}
	}
}

// TestMaskedInputUniform: a masked all-zero input and a masked constant input
// pass a chi-square test on their bytes (255 degrees of freedom; the bound 330
// is the 0.999 quantile).
func TestMaskedInputUniform(t *testing.T) {
	const n, dim = 5, 1 << 13
	p, sk := testParams(t, n, dim, 32, 3, 0, 0)
	in32 := make([][]uint32, n)
	for i := range in32 {
		in32[i] = make([]uint32, dim)
		if i == 1 {
			for j := range in32[i] {
				in32[i][j] = 0x01020304
			}
		}
	}
	s := newSim(t, p, sk, in32, nil, nil, netConfig{Seed: 5})
	s.run()
	res, ok := s.srv.Result()
	if !ok {
		t.Fatal(s.srv.Err())
	}
	for _, x := range res.Sum32 {
		if x != 0x01020304 {
			t.Fatal("wrong sum")
		}
	}
	checked := 0
	for _, m := range s.delivered {
		if m.To != 0 || Step(m.Data[1]) != StepMaskedInput || m.From > 2 {
			continue
		}
		body := m.Data[p.headerSize():]
		var hist [256]float64
		for _, b := range body {
			hist[b]++
		}
		exp := float64(len(body)) / 256
		chi := 0.0
		for _, h := range hist {
			chi += (h - exp) * (h - exp) / exp
		}
		if chi > 330 {
			t.Fatalf("party %d: masked input chi-square %.1f > 330", m.From, chi)
		}
		checked++
	}
	if checked != 2 {
		t.Fatalf("checked %d masked inputs", checked)
	}
}

// stepper runs a round by hand, FIFO, so tests can intercept messages.
type stepper struct {
	t       *testing.T
	p       *Params
	srv     *Server
	clients []*Client
	toSrv   []Message
}

func newStepper(t *testing.T, n, thr int) *stepper {
	p, sk := testParams(t, n, 6, 32, thr, 0, 0)
	in32, _ := randomInputs(p, 1)
	s := newSim(t, p, sk, in32, nil, nil, netConfig{Seed: 1})
	st := &stepper{t: t, p: p, srv: s.srv, clients: s.clients}
	for _, c := range st.clients {
		out, err := c.Start()
		if err != nil {
			t.Fatal(err)
		}
		st.toSrv = append(st.toSrv, out...)
	}
	return st
}

// serverRound delivers every pending party message to the server and
// returns what it sends.
func (st *stepper) serverRound() []Message {
	var out []Message
	for _, m := range st.toSrv {
		o, err := st.srv.Step(m)
		if err != nil && !errors.Is(err, ErrUnexpected) { // late answers after an early finish
			st.t.Fatalf("server: %v", err)
		}
		out = append(out, o...)
	}
	st.toSrv = nil
	return out
}

// clientRound delivers the server's messages, each after edit.
func (st *stepper) clientRound(msgs []Message, edit func(*Message)) []error {
	errs := make([]error, len(st.clients))
	for _, m := range msgs {
		if edit != nil {
			edit(&m)
		}
		o, err := st.clients[m.To-1].Step(m)
		errs[m.To-1] = err
		st.toSrv = append(st.toSrv, o...)
	}
	return errs
}

func wantAbort(t *testing.T, err error, party int, class error) {
	t.Helper()
	var ae *mpc.AbortError
	if !errors.As(err, &ae) || ae.Party != party || !errors.Is(err, class) {
		t.Fatalf("party %d: err = %v, want abort with %v", party, err, class)
	}
}

func TestClientRejectsBadKeyList(t *testing.T) {
	t.Run("bad-signature", func(t *testing.T) {
		st := newStepper(t, 4, 3)
		msgs := st.serverRound()
		errs := st.clientRound(msgs, func(m *Message) {
			if m.To == 1 {
				d := bytes.Clone(m.Data)
				// Flip a signature bit of party 2's entry (entry 1).
				d[st.p.headerSize()+2+keyEntrySize+2+2*KeySize+5] ^= 1
				m.Data = d
			}
		})
		wantAbort(t, errs[0], 1, mpc.ErrProtocol)
		if errs[1] != nil {
			t.Fatal(errs[1])
		}
	})
	t.Run("altered-own-keys", func(t *testing.T) {
		st := newStepper(t, 4, 3)
		errs := st.clientRound(st.serverRound(), func(m *Message) {
			if m.To == 1 {
				d := bytes.Clone(m.Data)
				d[st.p.headerSize()+2+2] ^= 1 // party 1's cPK
				m.Data = d
			}
		})
		wantAbort(t, errs[0], 1, mpc.ErrProtocol)
	})
	t.Run("wrong-round", func(t *testing.T) {
		st := newStepper(t, 4, 3)
		errs := st.clientRound(st.serverRound(), func(m *Message) {
			if m.To == 1 {
				d := bytes.Clone(m.Data)
				d[6]++ // round id
				m.Data = d
			}
		})
		var ae *mpc.AbortError
		if !errors.Is(errs[0], mpc.ErrProtocol) || errors.As(errs[0], &ae) {
			t.Fatalf("wrong round: %v (want a rejection without abort)", errs[0])
		}
		if st.clients[0].Err() != nil {
			t.Fatal("client aborted on a stray message")
		}
	})
	t.Run("truncated", func(t *testing.T) {
		st := newStepper(t, 4, 3)
		errs := st.clientRound(st.serverRound(), func(m *Message) {
			if m.To == 1 {
				m.Data = m.Data[:len(m.Data)-1]
			}
		})
		wantAbort(t, errs[0], 1, mpc.ErrMalformed)
	})
}

func TestClientRejectsBadShares(t *testing.T) {
	st := newStepper(t, 4, 3)
	st.clientRound(st.serverRound(), nil)
	errs := st.clientRound(st.serverRound(), func(m *Message) {
		if m.To == 2 {
			d := bytes.Clone(m.Data)
			d[len(d)-3] ^= 0x80 // last ciphertext's tag
			m.Data = d
		}
	})
	wantAbort(t, errs[1], 2, mpc.ErrProtocol)
	for i, err := range errs {
		if i != 1 && err != nil {
			t.Fatalf("party %d: %v", i+1, err)
		}
	}
}

// TestUnmaskAnsweredOnce: a party answers one unmasking request only, so a
// server that asks again with another survivor set learns nothing more; a
// request that leaves the party out, or names too few survivors, aborts.
func TestUnmaskAnsweredOnce(t *testing.T) {
	st := newStepper(t, 5, 3)
	st.clientRound(st.serverRound(), nil)   // key lists
	st.clientRound(st.serverRound(), nil)   // shares
	unmask := st.serverRound()              // unmasking requests
	second := bytes.Clone(unmask[0].Data)   // to party 1
	second[len(second)-1] &^= 1 << 1        // without party 2
	errs := st.clientRound(unmask[:1], nil) // party 1 answers
	if errs[0] != nil || len(st.toSrv) != 1 {
		t.Fatalf("first request: %v, %d answers", errs[0], len(st.toSrv))
	}
	_, err := st.clients[0].Step(Message{From: 0, To: 1, Data: second})
	if !errors.Is(err, ErrUnexpected) {
		t.Fatalf("second request: %v", err)
	}
	// Party 2: a request without itself.
	noSelf := bytes.Clone(unmask[1].Data)
	noSelf[len(noSelf)-1] &^= 1 << 1
	_, err = st.clients[1].Step(Message{From: 0, To: 2, Data: noSelf})
	wantAbort(t, err, 2, mpc.ErrProtocol)
	// Party 3: a request naming fewer than t survivors.
	few := bytes.Clone(unmask[2].Data)
	few[len(few)-1] = 1<<2 | 1
	_, err = st.clients[2].Step(Message{From: 0, To: 3, Data: few})
	wantAbort(t, err, 3, mpc.ErrTooFewParties)
}

// TestServerRejectsWrongShareKind: an answer that reveals a key share of a
// survivor is refused and not stored.
func TestServerRejectsWrongShareKind(t *testing.T) {
	st := newStepper(t, 4, 3)
	st.clientRound(st.serverRound(), nil)
	st.clientRound(st.serverRound(), nil)
	st.clientRound(st.serverRound(), nil)
	ans := st.toSrv[0]
	d := bytes.Clone(ans.Data)
	d[st.p.headerSize()+2+2] = kindKey // first entry: party 1's own share
	if _, err := st.srv.Step(Message{From: ans.From, To: 0, Data: d}); !errors.Is(err, mpc.ErrProtocol) {
		t.Fatalf("wrong kind: %v", err)
	}
	if len(st.srv.sShare) != 0 || st.srv.u5[1] {
		t.Fatal("server stored a refused share")
	}
	// Impersonation: party 2 sending party 1's answer.
	if _, err := st.srv.Step(Message{From: 2, To: 0, Data: ans.Data}); !errors.Is(err, mpc.ErrProtocol) {
		t.Fatalf("impersonation: %v", err)
	}
	st.serverRound()
	if _, ok := st.srv.Result(); !ok {
		t.Fatal(st.srv.Err())
	}
}
