package secagg

import (
	"container/heap"
	"crypto/ed25519"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/consort-ml/consort/mpc"
)

// dropPoint says where a simulated party stops for good.
type dropPoint uint8

const (
	dropNone         dropPoint = iota
	dropBeforeAdvert           // never advertises keys
	dropBeforeShare            // dies on receiving the key list
	dropBeforeMasked           // dies on receiving the shares (after sharing)
	dropBeforeUnmask           // dies on receiving the unmasking request (after upload)
	numDropPoints
	// dropBeforeConfirmations dies on receiving the confirmations (after
	// confirming U3); it only applies with the consistency check, and is
	// not among the points numDropPoints mixes.
	dropBeforeConfirmations
)

func (d dropPoint) String() string {
	return [...]string{"none", "advertise", "share-keys", "masked-input", "unmask", "mixed", "confirmations"}[d]
}

// dropStep is the server message on whose arrival a party dies.
var dropStep = [...]Step{dropBeforeShare: StepKeyList, dropBeforeMasked: StepShares, dropBeforeUnmask: StepUnmask,
	numDropPoints: 0, dropBeforeConfirmations: StepConfirmations}

// netConfig shapes the simulated network. It is deterministic for Seed.
type netConfig struct {
	Seed      uint64
	MaxDelay  float64 // uniform delay in [0, MaxDelay): reorders messages
	Loss      float64 // probability that a message is lost
	Dup       float64 // probability that a message is delivered twice
	Straggler float64 // probability that a party->server message arrives after the deadline
	Deadline  float64 // the server's per-step deadline
}

type envelope struct {
	at  float64
	seq int
	m   Message
}

type queue []*envelope

func (q queue) Len() int { return len(q) }
func (q queue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q queue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *queue) Push(x any)   { *q = append(*q, x.(*envelope)) }
func (q *queue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// sim is an in-process network between one server and n clients, in the
// manner of raft's rafttest network: loss, duplication, delay (reordering)
// and stragglers, all drawn from a seeded generator.
type sim struct {
	t       testing.TB
	cfg     netConfig
	rng     *rand.Rand
	p       *Params
	srv     *Server
	clients []*Client
	drop    []dropPoint
	dead    []bool
	q       queue
	seq     int
	now     float64
	// delivered records every message handed to a state machine, in order.
	delivered []Message
	// serverErrs counts rejected messages at the server.
	serverErrs int
	bytesUp    []int64
	bytesDown  []int64
}

// testIdentities returns deterministic identity keys for n parties.
func testIdentities(n int, seed byte) ([]ed25519.PrivateKey, []ed25519.PublicKey) {
	sk := make([]ed25519.PrivateKey, n)
	pk := make([]ed25519.PublicKey, n)
	for i := range n {
		var s [32]byte
		s[0], s[1], s[2] = seed, byte(i), byte(i>>8)
		sk[i] = ed25519.NewKeyFromSeed(s[:])
		pk[i] = sk[i].Public().(ed25519.PublicKey)
	}
	return sk, pk
}

func clientRand(seed uint64, id int) *rand.ChaCha8 {
	var s [32]byte
	for i := range 8 {
		s[i] = byte(seed >> (8 * i))
	}
	s[8], s[9] = byte(id), byte(id>>8)
	s[31] = 'c'
	return rand.NewChaCha8(s)
}

func newSim(t testing.TB, p *Params, signers []ed25519.PrivateKey, in32 [][]uint32, in64 [][]uint64, drop []dropPoint, cfg netConfig) *sim {
	t.Helper()
	srv, err := NewServer(ServerConfig{Params: p})
	if err != nil {
		t.Fatal(err)
	}
	s := &sim{t: t, cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, 0x5ec)), p: p, srv: srv,
		clients: make([]*Client, p.n), drop: drop, dead: make([]bool, p.n),
		bytesUp: make([]int64, p.n), bytesDown: make([]int64, p.n)}
	if s.drop == nil {
		s.drop = make([]dropPoint, p.n)
	}
	if cfg.Deadline == 0 {
		s.cfg.Deadline = 10
	}
	for i := range p.n {
		cc := ClientConfig{Params: p, ID: i + 1, Signer: signers[i]}
		if in64 != nil {
			cc.Input64 = in64[i]
		} else {
			cc.Input32 = in32[i]
		}
		c, err := NewClient(cc, clientRand(cfg.Seed, i+1))
		if err != nil {
			t.Fatal(err)
		}
		s.clients[i] = c
	}
	return s
}

func (s *sim) send(out []Message, fromServer bool) {
	for _, m := range out {
		if fromServer {
			s.bytesDown[m.To-1] += int64(len(m.Data))
		} else {
			s.bytesUp[m.From-1] += int64(len(m.Data))
		}
		if s.cfg.Loss > 0 && s.rng.Float64() < s.cfg.Loss {
			continue
		}
		copies := 1
		if s.cfg.Dup > 0 && s.rng.Float64() < s.cfg.Dup {
			copies = 2
		}
		for range copies {
			at := s.now
			if s.cfg.MaxDelay > 0 {
				at += s.rng.Float64() * s.cfg.MaxDelay
			}
			if !fromServer && s.cfg.Straggler > 0 && s.rng.Float64() < s.cfg.Straggler {
				at += 2 * s.cfg.Deadline
			}
			s.seq++
			heap.Push(&s.q, &envelope{at: at, seq: s.seq, m: m})
		}
	}
}

// run drives the round to its end: the server finishes or aborts and no
// message is in flight.
func (s *sim) run() {
	for i, c := range s.clients {
		if s.drop[i] == dropBeforeAdvert {
			s.dead[i] = true
			continue
		}
		out, err := c.Start()
		if err != nil {
			s.t.Fatalf("party %d start: %v", i+1, err)
		}
		s.send(out, false)
	}
	var lastStep Step
	phaseStart := 0.0
	for steps := 0; ; steps++ {
		if steps > 1e6 {
			s.t.Fatal("simulation does not terminate")
		}
		step, _ := s.srv.Waiting()
		if step != lastStep {
			lastStep, phaseStart = step, s.now
		}
		deadline := phaseStart + s.cfg.Deadline
		if step != 0 && (len(s.q) == 0 || s.q[0].at > deadline) {
			s.now = max(s.now, deadline)
			out, err := s.srv.Advance()
			s.checkServerErr(err)
			s.send(out, true)
			continue
		}
		if len(s.q) == 0 {
			return
		}
		e := heap.Pop(&s.q).(*envelope)
		s.now = max(s.now, e.at)
		s.deliver(e.m)
	}
}

func (s *sim) checkServerErr(err error) {
	if err == nil {
		return
	}
	var ae *mpc.AbortError
	if errors.As(err, &ae) || errors.Is(err, ErrUnexpected) {
		return
	}
	s.serverErrs++
}

func (s *sim) deliver(m Message) {
	s.delivered = append(s.delivered, m)
	if m.To == 0 {
		out, err := s.srv.Step(m)
		s.checkServerErr(err)
		s.send(out, true)
		return
	}
	i := m.To - 1
	if s.dead[i] {
		return
	}
	if d := s.drop[i]; d > dropBeforeAdvert && len(m.Data) > 1 && Step(m.Data[1]) == dropStep[d] {
		s.dead[i] = true
		return
	}
	out, err := s.clients[i].Step(m)
	if err != nil && !errors.Is(err, ErrUnexpected) {
		var ae *mpc.AbortError
		if !errors.As(err, &ae) {
			s.t.Fatalf("party %d: unclassified error %v", m.To, err)
		}
	}
	s.send(out, false)
}
