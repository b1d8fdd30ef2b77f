package secagg

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"fmt"
	"slices"

	"github.com/consort-ml/consort/kernels"
	"github.com/consort-ml/consort/mpc"
	"github.com/consort-ml/consort/mpc/shamir"
)

// ServerConfig configures the server (aggregator) of one round.
type ServerConfig struct {
	// Params are the round's public parameters.
	Params *Params
	// Frac is the fixed-point scale exponent the parties encoded their
	// inputs with. The protocol never reads it; [ServerParty.Result]
	// reports it in the aggregate.
	Frac uint
}

// Result is the outcome of a finished round.
type Result struct {
	// Sum32 (Bits <= 32) or Sum64 (Bits > 32) is the sum of the
	// contributors' inputs in Z_{2^Bits}.
	Sum32 []uint32
	Sum64 []uint64
	// Contributors lists the ids whose inputs are in the sum, increasing.
	Contributors []int
}

type serverPhase uint8

const (
	sAdvertise serverPhase = iota
	sShareKeys
	sMasked
	sConfirm // consistency check: collecting confirmations of U3
	sUnmask
	sDone
	sAborted
)

// Server is the aggregator's state machine. It keeps one O(Dim) accumulator
// (plus one O(Dim) scratch vector for decoding) whatever the number of
// parties. It is not safe for concurrent use.
type Server struct {
	p     *Params
	phase serverPhase
	err   error

	keys   map[uint16]*advertise // U1 while collecting, then frozen
	u1     []uint16
	g      *graph
	inbox  map[uint16][]ctEntry // receiver -> ciphertexts addressed to it
	u2     map[uint16]bool
	u3     map[uint16]bool
	u3bits []byte                // consistency check: U3 as sent
	u4     map[uint16]*confirm   // consistency check: verified confirmations
	tagsTo map[uint16][]tagEntry // consistency check: receiver -> tags for it
	acc    vec
	tmp    vec
	asked  map[uint16]bool // parties asked for unmasking shares (U3, or U4 with the check)
	u5     map[uint16]bool
	bShare map[uint16][]shamir.Share // survivors' self-mask shares
	sShare map[uint16][]shamir.Share // dropped parties' key shares
	result Result
}

// NewServer returns the server of one round.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Params == nil {
		return nil, fmt.Errorf("%w: params are required", ErrInput)
	}
	return &Server{p: cfg.Params, keys: make(map[uint16]*advertise)}, nil
}

// Err returns the abort error (an *mpc.AbortError with Party 0) once the
// server aborted, and nil otherwise.
func (s *Server) Err() error { return s.err }

// Result returns the sum once the round finished. After an abort there is
// no result and the accumulator has been discarded.
func (s *Server) Result() (Result, bool) {
	if s.phase != sDone {
		return Result{}, false
	}
	r := Result{Contributors: slices.Clone(s.result.Contributors)}
	r.Sum32, r.Sum64 = s.result.Sum32, s.result.Sum64
	return r, true
}

// Waiting returns the step the server is collecting and the parties it is
// still waiting for (nil once it is done or aborted). A driver calls Advance
// when its deadline for these parties expires.
func (s *Server) Waiting() (Step, []int) {
	var want map[uint16]bool
	var got func(uint16) bool
	var step Step
	switch s.phase {
	case sAdvertise:
		step, got = StepAdvertiseKeys, func(u uint16) bool { return s.keys[u] != nil }
		want = make(map[uint16]bool, s.p.n)
		for i := 1; i <= s.p.n; i++ {
			want[uint16(i)] = true
		}
	case sShareKeys:
		step, got = StepShareKeys, func(u uint16) bool { return s.u2[u] }
		want = make(map[uint16]bool, len(s.u1))
		for _, u := range s.u1 {
			want[u] = true
		}
	case sMasked:
		step, want, got = StepMaskedInput, s.u2, func(u uint16) bool { return s.u3[u] }
	case sConfirm:
		step, want, got = StepConfirm, s.u3, func(u uint16) bool { return s.u4[u] != nil }
	case sUnmask:
		step, want, got = StepUnmaskShares, s.asked, func(u uint16) bool { return s.u5[u] }
	default:
		return 0, nil
	}
	var out []int
	for u := range want {
		if !got(u) {
			out = append(out, int(u))
		}
	}
	slices.Sort(out)
	return step, out
}

// abort discards everything, and tells the given parties.
func (s *Server) abort(cause error, reason uint8, tell []uint16) ([]Message, error) {
	s.phase = sAborted
	s.err = &mpc.AbortError{Party: 0, Round: s.p.round, Err: cause}
	s.acc, s.tmp = vec{}, vec{}
	s.bShare, s.sShare, s.inbox = nil, nil, nil
	out := make([]Message, 0, len(tell))
	for _, u := range tell {
		data := s.p.appendHeader(make([]byte, 0, s.p.MessageSize(StepAbort, 0)), StepAbort, 0, u)
		out = append(out, Message{From: 0, To: int(u), Data: append(data, reason)})
	}
	return out, s.err
}

// step processes one message from a party (Step in party.go checks and sets
// the messages' Kind). An error wrapping ErrUnexpected, mpc.ErrMalformed or
// mpc.ErrProtocol that is not an *mpc.AbortError means the message was
// rejected and ignored (its sender is then treated as having dropped at this
// step); an *mpc.AbortError means the round is over, and the returned
// messages tell the live parties.
func (s *Server) step(m Message) ([]Message, error) {
	if s.phase == sAborted {
		return nil, s.err
	}
	h, body, err := s.p.parseHeader(m.Data)
	if err != nil {
		return nil, err
	}
	if h.to != 0 || m.To != 0 || int(h.from) != m.From {
		return nil, fmt.Errorf("%w: secagg: sender %d claims to be %d", mpc.ErrProtocol, m.From, h.from)
	}
	u := h.from
	switch {
	case h.step == StepAdvertiseKeys && s.phase == sAdvertise && s.keys[u] == nil:
		a, err := decodeAdvertise(body)
		if err != nil {
			return nil, err
		}
		if !ed25519.Verify(s.p.ids[u-1], s.p.advertiseSigned(u, a.cpk[:], a.spk[:]), a.sig[:]) {
			return nil, fmt.Errorf("%w: secagg: keys of party %d carry a bad signature", mpc.ErrProtocol, u)
		}
		s.keys[u] = &a
		if len(s.keys) == s.p.n {
			return s.Advance()
		}
		return nil, nil
	case h.step == StepShareKeys && s.phase == sShareKeys && s.g.has(u) && !s.u2[u]:
		es, err := s.p.decodeCiphertexts(body, u)
		if err != nil {
			return nil, err
		}
		nb := s.g.neighbours(u)
		if len(es) != len(nb) {
			return nil, fmt.Errorf("%w: secagg: party %d shared with %d of its %d neighbours", mpc.ErrProtocol, u, len(es), len(nb))
		}
		for i := range es {
			if es[i].peer != nb[i] {
				return nil, fmt.Errorf("%w: secagg: party %d shared with a non-neighbour", mpc.ErrProtocol, u)
			}
		}
		for i := range es {
			v := es[i].peer
			s.inbox[v] = append(s.inbox[v], ctEntry{peer: u, ct: es[i].ct})
		}
		s.u2[u] = true
		if len(s.u2) == len(s.u1) {
			return s.Advance()
		}
		return nil, nil
	case h.step == StepMaskedInput && s.phase == sMasked && s.u2[u] && !s.u3[u]:
		if len(body) != s.p.maskedSize() {
			return nil, fmt.Errorf("%w: secagg: masked input of %d bytes, want %d", mpc.ErrMalformed, len(body), s.p.maskedSize())
		}
		if err := s.acc.addPacked(body, s.tmp); err != nil {
			return nil, err
		}
		s.u3[u] = true
		if len(s.u3) == len(s.u2) {
			return s.Advance()
		}
		return nil, nil
	case h.step == StepConfirm && s.phase == sConfirm && s.u3[u] && s.u4[u] == nil:
		cf, err := s.p.decodeConfirm(body, u)
		if err != nil {
			return nil, err
		}
		if !ed25519.Verify(s.p.ids[u-1], s.p.consistencySigned(s.u3bits), cf.sig[:]) {
			return nil, fmt.Errorf("%w: secagg: confirmation of party %d carries a bad signature", mpc.ErrProtocol, u)
		}
		for _, e := range cf.tags {
			if !s.u3[e.peer] || !s.g.adjacent(u, e.peer) {
				return nil, fmt.Errorf("%w: secagg: party %d tagged a party that is not a surviving neighbour", mpc.ErrProtocol, u)
			}
		}
		for _, e := range cf.tags {
			s.tagsTo[e.peer] = append(s.tagsTo[e.peer], tagEntry{peer: u, tag: e.tag})
		}
		cf.tags = nil
		s.u4[u] = &cf
		if len(s.u4) == len(s.u3) {
			return s.Advance()
		}
		return nil, nil
	case h.step == StepUnmaskShares && s.phase == sUnmask && s.asked[u] && !s.u5[u]:
		es, err := s.p.decodeUnmaskShares(body)
		if err != nil {
			return nil, err
		}
		if err := s.checkUnmask(u, es); err != nil {
			return nil, err
		}
		for i := range es {
			sh, err := shamir.ParseShare(u, es[i].value[:])
			if err != nil {
				return nil, fmt.Errorf("%w: secagg: share from party %d", mpc.ErrMalformed, u)
			}
			if es[i].kind == kindSelf {
				s.bShare[es[i].owner] = append(s.bShare[es[i].owner], sh)
			} else {
				s.sShare[es[i].owner] = append(s.sShare[es[i].owner], sh)
			}
		}
		s.u5[u] = true
		if len(s.u5) == len(s.asked) || s.enoughShares() {
			return s.finish()
		}
		return nil, nil
	}
	return nil, fmt.Errorf("%w: secagg: %v from party %d in phase %d", ErrUnexpected, h.step, u, s.phase)
}

// checkUnmask verifies that party u's response holds exactly one share per
// expected owner, of the kind the survivor set implies: the server stores no
// share the protocol does not call for.
func (s *Server) checkUnmask(u uint16, es []unmaskShare) error {
	var want []uint16
	for _, v := range append(s.g.neighbours(u), u) {
		if s.u2[v] {
			want = append(want, v)
		}
	}
	slices.Sort(want)
	if len(es) != len(want) {
		return fmt.Errorf("%w: secagg: party %d sent %d shares, want %d", mpc.ErrProtocol, u, len(es), len(want))
	}
	for i := range es {
		kind := uint8(kindKey)
		if s.u3[want[i]] {
			kind = kindSelf
		}
		if es[i].owner != want[i] || es[i].kind != kind {
			return fmt.Errorf("%w: secagg: party %d sent an unexpected share", mpc.ErrProtocol, u)
		}
	}
	return nil
}

// enoughShares reports whether every secret to reconstruct has t shares.
func (s *Server) enoughShares() bool {
	for u := range s.u2 {
		var n int
		if s.u3[u] {
			n = len(s.bShare[u])
		} else {
			n = len(s.sShare[u])
		}
		if n < s.p.t {
			return false
		}
	}
	return true
}

// advance closes the current collection step with the parties heard from so
// far (Advance in party.go sets the messages' Kind).
func (s *Server) advance() ([]Message, error) {
	p := s.p
	switch s.phase {
	case sAdvertise:
		s.u1 = make([]uint16, 0, len(s.keys))
		for u := range s.keys {
			s.u1 = append(s.u1, u)
		}
		slices.Sort(s.u1)
		if len(s.u1) < p.minSur {
			all := make([]uint16, p.n)
			for i := range all {
				all[i] = uint16(i + 1)
			}
			return s.abort(fmt.Errorf("%w: secagg: %d parties advertised keys, need %d", mpc.ErrTooFewParties, len(s.u1), p.minSur), reasonTooFew, all)
		}
		es := make([]keyEntry, len(s.u1))
		for i, u := range s.u1 {
			es[i] = keyEntry{id: u, advertise: *s.keys[u]}
		}
		body := appendKeyList(nil, es)
		s.g = newGraph(s.u1, p.k, p.graphSeed(body))
		s.inbox = make(map[uint16][]ctEntry, len(s.u1))
		s.u2 = make(map[uint16]bool, len(s.u1))
		s.phase = sShareKeys
		out := make([]Message, len(s.u1))
		for i, u := range s.u1 {
			data := p.appendHeader(make([]byte, 0, p.headerSize()+len(body)), StepKeyList, 0, u)
			out[i] = Message{From: 0, To: int(u), Data: append(data, body...)}
		}
		return out, nil
	case sShareKeys:
		u2 := sortedKeys(s.u2)
		if len(u2) < p.minSur {
			return s.abort(fmt.Errorf("%w: secagg: %d parties shared keys, need %d", mpc.ErrTooFewParties, len(u2), p.minSur), reasonTooFew, s.u1)
		}
		s.acc, s.tmp = newVec(p), newVec(p)
		s.u3 = make(map[uint16]bool, len(u2))
		s.phase = sMasked
		out := make([]Message, len(u2))
		for i, v := range u2 {
			in := s.inbox[v]
			// Only parties in U2 appear: every entry came from a party that shared.
			slices.SortFunc(in, func(a, b ctEntry) int { return int(a.peer) - int(b.peer) })
			data := p.appendHeader(make([]byte, 0, p.MessageSize(StepShares, len(in))), StepShares, 0, v)
			out[i] = Message{From: 0, To: int(v), Data: appendCiphertexts(data, in)}
		}
		s.inbox = nil
		return out, nil
	case sMasked:
		u3 := sortedKeys(s.u3)
		if len(u3) < p.minSur {
			return s.abort(fmt.Errorf("%w: secagg: %d masked inputs, need %d", mpc.ErrTooFewParties, len(u3), p.minSur), reasonTooFew, sortedKeys(s.u2))
		}
		s.tmp = vec{}
		if p.check {
			s.u3bits = p.appendBitmap(nil, u3)
			s.u4 = make(map[uint16]*confirm, len(u3))
			s.tagsTo = make(map[uint16][]tagEntry, len(u3))
			s.phase = sConfirm
		} else {
			s.startUnmask()
		}
		out := make([]Message, len(u3))
		for i, v := range u3 {
			data := p.appendHeader(make([]byte, 0, p.MessageSize(StepUnmask, 0)), StepUnmask, 0, v)
			out[i] = Message{From: 0, To: int(v), Data: p.appendBitmap(data, u3)}
		}
		return out, nil
	case sConfirm:
		return s.sendConfirmations()
	case sUnmask:
		if !s.enoughShares() && len(s.u5) < p.t {
			return s.abort(fmt.Errorf("%w: secagg: %d parties answered the unmasking request, threshold %d", mpc.ErrTooFewParties, len(s.u5), p.t), reasonTooFew, sortedKeys(s.u3))
		}
		return s.finish()
	case sAborted:
		return nil, s.err
	}
	return nil, nil
}

// startUnmask prepares the collection of unmasking shares from the parties
// asked: U3, or with the consistency check the parties that confirmed it
// (U4).
func (s *Server) startUnmask() {
	n := len(s.u3)
	s.asked = s.u3
	if s.p.check {
		s.asked = make(map[uint16]bool, len(s.u4))
		for u := range s.u4 {
			s.asked[u] = true
		}
	}
	s.u5 = make(map[uint16]bool, n)
	s.bShare = make(map[uint16][]shamir.Share, n)
	s.sShare = make(map[uint16][]shamir.Share)
	s.phase = sUnmask
}

// sendConfirmations closes the consistency check with the confirmations
// received (U4) and forwards to each member of U4 what it needs: the tags
// its neighbours addressed to it, and the signatures of the other share
// holders of its neighbours' secrets. It aborts when too few confirmed for
// some secret to be rebuilt: only confirmed parties reveal shares.
func (s *Server) sendConfirmations() ([]Message, error) {
	p := s.p
	u3 := sortedKeys(s.u3)
	u4 := make([]uint16, 0, len(s.u4))
	for u := range s.u4 {
		u4 = append(u4, u)
	}
	slices.Sort(u4)
	if len(u4) < p.minSur {
		return s.abort(fmt.Errorf("%w: secagg: %d parties confirmed the survivors, need %d", mpc.ErrTooFewParties, len(u4), p.minSur), reasonTooFew, u3)
	}
	for _, v := range sortedKeys(s.u2) {
		n := 0
		if s.u4[v] != nil {
			n++
		}
		for _, w := range s.g.neighbours(v) {
			if s.u4[w] != nil {
				n++
			}
		}
		if n < p.t {
			return s.abort(fmt.Errorf("%w: secagg: %d of party %d's share holders confirmed the survivors, threshold %d", mpc.ErrUnrecoverable, n, v, p.t), reasonUnrecoverable, u3)
		}
	}
	out := make([]Message, 0, len(u4))
	for _, w := range u4 {
		cf := confirmations{u3: s.u3bits, tags: s.tagsTo[w]}
		slices.SortFunc(cf.tags, func(a, b tagEntry) int { return int(a.peer) - int(b.peer) })
		if !p.Complete() {
			// Holders of the neighbours' secrets that are not neighbours
			// themselves (in the Harary graph, positions at distance
			// k/2+1..k) can only confirm by signature.
			far := make(map[uint16]bool)
			for _, v := range s.g.neighbours(w) {
				for _, x := range append(s.g.neighbours(v), v) {
					if x != w && s.u4[x] != nil && !s.g.adjacent(w, x) {
						far[x] = true
					}
				}
			}
			for _, x := range sortedKeys(far) {
				cf.sigs = append(cf.sigs, sigEntry{id: x, sig: s.u4[x].sig})
			}
		}
		data := p.appendHeader(make([]byte, 0, p.MessageSize(StepConfirmations, len(cf.sigs))), StepConfirmations, 0, w)
		out = append(out, Message{From: 0, To: int(w), Data: cf.append(data)})
	}
	s.tagsTo = nil
	s.startUnmask()
	return out, nil
}

// finish reconstructs the survivors' self-mask seeds and the dropped parties'
// mask keys, removes their masks from the accumulator and releases the sum.
func (s *Server) finish() ([]Message, error) {
	p := s.p
	u3 := sortedKeys(s.u3)
	// Every mask to remove goes into one set, applied in one pass over the
	// accumulator; the seeds are cleared afterwards.
	var set kernels.MaskSet
	defer func() {
		for _, sd := range append(set.Add, set.Sub...) {
			clear(sd)
		}
	}()
	for _, u := range sortedKeys(s.u2) {
		holders := append(s.g.neighbours(u), u)
		slices.Sort(holders)
		scheme, err := shamir.New(p.t, holders)
		if err != nil {
			return s.abort(fmt.Errorf("%w: secagg: %w", mpc.ErrUnrecoverable, err), reasonUnrecoverable, u3)
		}
		if s.u3[u] {
			b, err := scheme.Combine(s.bShare[u])
			if err != nil {
				return s.abort(fmt.Errorf("%w: secagg: self-mask seed of party %d: %w", mpc.ErrUnrecoverable, u, err), reasonUnrecoverable, u3)
			}
			seed := p.selfSeed(&b, u)
			set.Sub = append(set.Sub, seed[:])
			clear(b[:])
			continue
		}
		skb, err := scheme.Combine(s.sShare[u])
		if err != nil {
			return s.abort(fmt.Errorf("%w: secagg: mask key of party %d: %w", mpc.ErrUnrecoverable, u, err), reasonUnrecoverable, u3)
		}
		sk, err := ecdh.X25519().NewPrivateKey(skb[:])
		clear(skb[:])
		if err != nil || [KeySize]byte(sk.PublicKey().Bytes()) != s.keys[u].spk {
			return s.abort(fmt.Errorf("%w: secagg: reconstructed key of party %d does not match its advertised key", mpc.ErrUnrecoverable, u), reasonUnrecoverable, u3)
		}
		// Survivor v added +PRG(s_uv) if v < u and -PRG(s_uv) otherwise.
		for _, v := range s.g.neighbours(u) {
			if !s.u3[v] {
				continue
			}
			ss, err := agree(sk, s.keys[v].spk[:])
			if err != nil {
				return s.abort(fmt.Errorf("%w: secagg: %w", mpc.ErrUnrecoverable, err), reasonUnrecoverable, u3)
			}
			seed := p.pairSeed(ss, u, v)
			clear(ss)
			if v < u {
				set.Sub = append(set.Sub, seed[:])
			} else {
				set.Add = append(set.Add, seed[:])
			}
		}
	}
	s.acc.applyMasks(set)
	s.result = Result{Contributors: make([]int, len(u3))}
	s.result.Sum32, s.result.Sum64 = s.acc.sums()
	for i, u := range u3 {
		s.result.Contributors[i] = int(u)
	}
	s.acc = vec{}
	s.bShare, s.sShare = nil, nil
	s.phase = sDone
	out := make([]Message, len(u3))
	for i, v := range u3 {
		data := p.appendHeader(make([]byte, 0, p.MessageSize(StepDone, 0)), StepDone, 0, v)
		out[i] = Message{From: 0, To: int(v), Data: p.appendBitmap(data, u3)}
	}
	return out, nil
}
