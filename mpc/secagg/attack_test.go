package secagg

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/consort-ml/consort/mpc"
	"github.com/consort-ml/consort/mpc/shamir"
)

// The attack of issue 11: a malicious server tells some parties that every
// party survived and the others that party 1 dropped, hoping to collect
// party 1's self-mask shares from the first group and its key shares from
// the second, which together unmask party 1's input. The server here runs
// the honest Server up to the masked inputs, then deviates: it controls
// which survivor set each party sees, which confirmations it forwards, and
// the secrets of the colluding parties (their identity keys and everything
// their Client holds).

// splitView is the adversary's record of one attack.
type splitView struct {
	p        *Params
	sk       []ed25519.PrivateKey
	clients  []*Client
	srv      *Server
	y1       []byte            // party 1's masked input body
	corrupt  map[uint16]bool   // colluding parties
	group    map[uint16][]byte // honest party -> the survivor set it was told
	shares   map[uint16]map[uint8][]shamir.Share
	aborted  map[uint16]error
	revealed map[uint16]bool
}

// runSplitView runs the attack: parties in groupB are told that party 1
// dropped, every other honest party that all n survived. Corrupt parties
// confirm both sets. deg 0 is the complete graph.
func runSplitView(t *testing.T, n, thr, deg int, groupB, corrupt []uint16) *splitView {
	t.Helper()
	p, sk := testParamsCheck(t, n, 40, 32, thr, deg, 0, true)
	in32, _ := randomInputs(p, 77)
	a := &splitView{p: p, sk: sk, corrupt: map[uint16]bool{}, group: map[uint16][]byte{},
		shares: map[uint16]map[uint8][]shamir.Share{}, aborted: map[uint16]error{}, revealed: map[uint16]bool{}}
	for _, c := range corrupt {
		a.corrupt[c] = true
	}
	srv, err := NewServer(ServerConfig{Params: p})
	if err != nil {
		t.Fatal(err)
	}
	a.srv = srv
	a.clients = make([]*Client, n)
	var queue []Message
	for i := range n {
		a.clients[i], err = NewClient(ClientConfig{Params: p, ID: i + 1, Signer: sk[i], Input32: in32[i]}, clientRand(77, i+1))
		if err != nil {
			t.Fatal(err)
		}
		out, err := a.clients[i].Start()
		if err != nil {
			t.Fatal(err)
		}
		queue = append(queue, out...)
	}
	// Honest phases, until the server asks for unmasking.
	for len(queue) > 0 {
		m := queue[0]
		queue = queue[1:]
		if m.To != 0 && Step(m.Data[1]) == StepUnmask {
			continue // the adversary replaces these
		}
		var out []Message
		if m.To == 0 {
			if Step(m.Data[1]) == StepMaskedInput && m.From == 1 {
				_, body, _ := p.parseHeader(m.Data)
				a.y1 = slices.Clone(body)
			}
			out, err = srv.Step(m)
		} else {
			out, err = a.clients[m.To-1].Step(m)
		}
		if err != nil {
			t.Fatalf("honest phase: %v", err)
		}
		queue = append(queue, out...)
	}
	if srv.phase != sConfirm {
		t.Fatalf("server in phase %d, want the consistency check", srv.phase)
	}
	all := make([]uint16, n)
	for i := range all {
		all[i] = uint16(i + 1)
	}
	full := p.appendBitmap(nil, all)
	minus := p.appendBitmap(nil, all[1:])
	inB := map[uint16]bool{}
	for _, b := range groupB {
		inB[b] = true
	}
	// Deviation 1: two survivor sets.
	confirms := map[uint16]confirm{}
	for _, u := range all {
		if a.corrupt[u] {
			continue
		}
		view := full
		if inB[u] {
			view = minus
		}
		a.group[u] = view
		data := p.appendHeader(nil, StepUnmask, 0, u)
		out, err := a.clients[u-1].Step(Message{From: 0, To: int(u), Data: append(data, view...)})
		if err != nil {
			a.aborted[u] = err
			continue
		}
		if len(out) != 1 || Step(out[0].Data[1]) != StepConfirm {
			t.Fatalf("party %d answered the survivor set with %v", u, out)
		}
		_, body, _ := p.parseHeader(out[0].Data)
		cf, err := p.decodeConfirm(body, u)
		if err != nil {
			t.Fatal(err)
		}
		confirms[u] = cf
	}
	// Deviation 2: forward to each honest party every confirmation valid
	// for the set it was told: the tags of the honest parties told the same
	// set, and signatures and tags forged with the colluders' keys.
	for _, w := range all {
		if a.corrupt[w] || a.aborted[w] != nil {
			continue
		}
		view := a.group[w]
		cf := confirmations{u3: view}
		for _, u := range all {
			switch {
			case u == w:
			case a.corrupt[u]:
				sig := ed25519.Sign(a.sk[u-1], p.consistencySigned(view))
				cf.sigs = append(cf.sigs, sigEntry{id: u, sig: [SignatureSize]byte(sig)})
				if pk := a.clients[u-1].peers[w]; pk != nil {
					cf.tags = append(cf.tags, tagEntry{peer: u, tag: p.confirmTag(&pk.confirm, u, w, view)})
				}
			case string(a.group[u]) == string(view) && a.aborted[u] == nil:
				cf.sigs = append(cf.sigs, sigEntry{id: u, sig: confirms[u].sig})
				for _, e := range confirms[u].tags {
					if e.peer == w {
						cf.tags = append(cf.tags, tagEntry{peer: u, tag: e.tag})
					}
				}
			}
		}
		data := cf.append(p.appendHeader(nil, StepConfirmations, 0, w))
		out, err := a.clients[w-1].Step(Message{From: 0, To: int(w), Data: data})
		if err != nil {
			a.aborted[w] = err
			continue
		}
		_, body, _ := p.parseHeader(out[0].Data)
		es, err := p.decodeUnmaskShares(body)
		if err != nil {
			t.Fatal(err)
		}
		a.revealed[w] = true
		for _, e := range es {
			sh, err := shamir.ParseShare(w, e.value[:])
			if err != nil {
				t.Fatal(err)
			}
			a.addShare(e.owner, e.kind, sh)
		}
	}
	// The colluders hand over every share they hold.
	for c := range a.corrupt {
		cl := a.clients[c-1]
		for v, sh := range cl.heldB {
			a.addShare(v, kindSelf, sh)
		}
		for v, sh := range cl.heldS {
			a.addShare(v, kindKey, sh)
		}
		a.addShare(c, kindSelf, cl.ownB)
		a.addShare(c, kindKey, cl.ownS)
	}
	return a
}

func (a *splitView) addShare(owner uint16, kind uint8, sh shamir.Share) {
	if a.shares[owner] == nil {
		a.shares[owner] = map[uint8][]shamir.Share{}
	}
	a.shares[owner][kind] = append(a.shares[owner][kind], sh)
}

// unmask tries to recover party 1's input from its masked input and the
// shares collected: both secrets must be reconstructed.
func (a *splitView) unmask(t *testing.T) ([]uint32, bool) {
	p := a.p
	nbrs := a.srv.g.neighbours(1)
	ids := append(slices.Clone(nbrs), 1)
	slices.Sort(ids)
	scheme, err := shamir.New(p.t, ids)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.shares[1][kindSelf]) < p.t || len(a.shares[1][kindKey]) < p.t {
		return nil, false
	}
	b, err := scheme.Combine(a.shares[1][kindSelf][:p.t])
	if err != nil {
		t.Fatal(err)
	}
	skb, err := scheme.Combine(a.shares[1][kindKey][:p.t])
	if err != nil {
		t.Fatal(err)
	}
	sk, err := ecdh.X25519().NewPrivateKey(skb[:])
	if err != nil {
		t.Fatal(err)
	}
	y := vec{bits: p.bits, v32: make([]uint32, p.dim)}
	if err := y.addPacked(a.y1, vec{bits: p.bits, v32: make([]uint32, p.dim)}); err != nil {
		t.Fatal(err)
	}
	seed := p.selfSeed(&b, 1)
	y.maskSub(&seed)
	for _, v := range nbrs {
		ss, err := agree(sk, a.srv.keys[v].spk[:])
		if err != nil {
			t.Fatal(err)
		}
		seed := p.pairSeed(ss, 1, v)
		y.maskSub(&seed) // party 1 < v added +PRG(s_1v)
	}
	return y.v32, true
}

func TestSplitViewAttackFails(t *testing.T) {
	for _, c := range []struct {
		n, thr, deg int
		groupB      []uint16
		corrupt     []uint16
	}{
		// t > n/2, no colluder: whichever group is larger, the other lacks
		// t confirmations.
		{n: 5, thr: 3, groupB: []uint16{4, 5}},
		{n: 5, thr: 3, groupB: []uint16{2, 3, 4}},
		// t = 5 of 7 tolerates one colluder (MaliciousColluders = 2).
		{n: 7, thr: 5, groupB: []uint16{5, 6}, corrupt: []uint16{7}},
		{n: 7, thr: 5, groupB: []uint16{3, 4, 5}, corrupt: []uint16{6, 7}},
		// SecAgg+ (k = 4, 5 holders per secret, t = 3): half of the parties
		// told that party 1 dropped, and one colluder with t = 4.
		{n: 16, thr: 3, deg: 4, groupB: []uint16{2, 4, 6, 8, 10, 12, 14, 16}},
		{n: 16, thr: 3, deg: 4, groupB: []uint16{2, 3, 4, 5, 6, 7, 8}},
		{n: 16, thr: 4, deg: 4, groupB: []uint16{9, 10, 11, 12, 13, 14, 15}, corrupt: []uint16{16}},
	} {
		t.Run(fmt.Sprintf("parties=%d/t=%d/k=%d/groupB=%v/corrupt=%v", c.n, c.thr, c.deg, c.groupB, c.corrupt), func(t *testing.T) {
			if err := CheckMaliciousThreshold(c.n, c.thr, c.deg); err != nil || MaliciousColluders(c.n, c.thr, c.deg) < len(c.corrupt) {
				t.Fatalf("case outside the bound: %v", err)
			}
			a := runSplitView(t, c.n, c.thr, c.deg, c.groupB, c.corrupt)
			// No owner's secrets were revealed in both kinds by honest
			// parties, and party 1's input stays hidden.
			for owner, kinds := range a.shares {
				honest := map[uint8]int{}
				for kind, shs := range kinds {
					for _, sh := range shs {
						if !a.corrupt[sh.Index()] {
							honest[kind]++
						}
					}
				}
				if honest[kindSelf] > 0 && honest[kindKey] > 0 {
					t.Errorf("honest parties revealed both a self-mask share and a key share of party %d", owner)
				}
			}
			if _, ok := a.unmask(t); ok {
				t.Fatal("the server holds threshold shares of both of party 1's secrets")
			}
			// The honest parties that did not reveal aborted with a
			// protocol violation, and some did abort.
			if len(a.aborted) == 0 {
				t.Fatal("no honest party refused")
			}
			for u, err := range a.aborted {
				var ae *mpc.AbortError
				if !errors.As(err, &ae) || ae.Party != int(u) || !errors.Is(err, mpc.ErrProtocol) {
					t.Errorf("party %d: %v, want an abort for a protocol violation", u, err)
				}
				if a.clients[u-1].Err() == nil {
					t.Errorf("party %d: Err() is nil after aborting", u)
				}
			}
		})
	}
}

// TestSplitViewAttackBelowBound: at t <= n/2 both groups gather t
// confirmations and the attack unmasks party 1's input exactly, even with
// the consistency check; CheckMaliciousThreshold refuses such thresholds.
func TestSplitViewAttackBelowBound(t *testing.T) {
	const n, thr = 4, 2
	if err := CheckMaliciousThreshold(n, thr, 0); !errors.Is(err, ErrParams) {
		t.Fatalf("CheckMaliciousThreshold(4, 2) = %v, want ErrParams", err)
	}
	a := runSplitView(t, n, thr, 0, []uint16{3, 4}, nil)
	got, ok := a.unmask(t)
	if !ok {
		t.Fatal("the attack failed below the bound: the test no longer demonstrates the bound")
	}
	in32, _ := randomInputs(a.p, 77)
	if !slices.Equal(got, in32[0]) {
		t.Fatal("the unmasked vector is not party 1's input")
	}
	if len(a.aborted) != 0 {
		t.Fatalf("parties aborted: %v", a.aborted)
	}
}

// runToConfirmations runs an honest round with the consistency check until
// the server emits its confirmations, and returns them with the clients.
func runToConfirmations(t *testing.T, n, thr, deg int) (*Params, []*Client, []Message) {
	t.Helper()
	p, sk := testParamsCheck(t, n, 16, 16, thr, deg, 0, true)
	in32, _ := randomInputs(p, 5)
	srv, err := NewServer(ServerConfig{Params: p})
	if err != nil {
		t.Fatal(err)
	}
	clients := make([]*Client, n)
	var queue, held []Message
	for i := range n {
		if clients[i], err = NewClient(ClientConfig{Params: p, ID: i + 1, Signer: sk[i], Input32: in32[i]}, clientRand(5, i+1)); err != nil {
			t.Fatal(err)
		}
		out, err := clients[i].Start()
		if err != nil {
			t.Fatal(err)
		}
		queue = append(queue, out...)
	}
	for len(queue) > 0 {
		m := queue[0]
		queue = queue[1:]
		if m.To != 0 && Step(m.Data[1]) == StepConfirmations {
			held = append(held, m)
			continue
		}
		var out []Message
		if m.To == 0 {
			out, err = srv.Step(m)
		} else {
			out, err = clients[m.To-1].Step(m)
		}
		if err != nil {
			t.Fatal(err)
		}
		queue = append(queue, out...)
	}
	if len(held) != n {
		t.Fatalf("%d confirmations messages for %d parties", len(held), n)
	}
	return p, clients, held
}

// TestConfirmationsTampered: a party refuses confirmations that are not
// exactly what an honest server would forward, and reveals nothing.
func TestConfirmationsTampered(t *testing.T) {
	// k = 6, t = 5: the holders of a neighbour at distance 3 overlap the
	// party's own in 4 places, so one signature of a far holder is needed.
	const n, thr, deg = 20, 5, 6
	edits := map[string]func(p *Params, cf *confirmations){
		"other-survivor-set": func(p *Params, cf *confirmations) {
			u3 := slices.Clone(cf.u3)
			u3[len(u3)-1] &^= 0x08 // drop party 20
			cf.u3 = u3
		},
		"tags-withheld":       func(p *Params, cf *confirmations) { cf.tags = nil },
		"signatures-withheld": func(p *Params, cf *confirmations) { cf.sigs = nil },
		"bad-signature": func(p *Params, cf *confirmations) {
			for i := range cf.sigs {
				cf.sigs[i].sig[5] ^= 1
			}
		},
	}
	for name, edit := range edits {
		t.Run(name, func(t *testing.T) {
			p, clients, held := runToConfirmations(t, n, thr, deg)
			m := held[0]
			h, body, err := p.parseHeader(m.Data)
			if err != nil {
				t.Fatal(err)
			}
			cf, err := p.decodeConfirmations(body, h.to)
			if err != nil {
				t.Fatal(err)
			}
			if len(cf.sigs) == 0 || len(cf.tags) != deg {
				t.Fatalf("party %d got %d signatures and %d tags: the case does not exercise both", h.to, len(cf.sigs), len(cf.tags))
			}
			edit(p, &cf)
			data := cf.append(p.appendHeader(nil, StepConfirmations, 0, h.to))
			out, err := clients[h.to-1].Step(Message{From: 0, To: int(h.to), Data: data})
			if len(out) != 0 || !errors.Is(err, mpc.ErrProtocol) {
				t.Fatalf("tampered confirmations: %d messages out, err %v", len(out), err)
			}
			// The untouched message is accepted by another party.
			m = held[1]
			out, err = clients[m.To-1].Step(m)
			if err != nil || len(out) != 1 || Step(out[0].Data[1]) != StepUnmaskShares {
				t.Fatalf("honest confirmations refused: %v", err)
			}
		})
	}
}
