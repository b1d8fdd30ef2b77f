package secagg

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/consort-ml/consort/mpc"
	"github.com/consort-ml/consort/mpc/mpctest"
)

// runNetwork runs one round of the contract's parties over mpctest.
func runNetwork(t *testing.T, n, dim int, bits uint, thr, deg int, seed uint64, net mpctest.Config) (*ServerParty, []*Client, mpctest.Report, [][]uint32, [][]uint64) {
	t.Helper()
	p, sk := testParams(t, n, dim, bits, thr, deg, 0)
	in32, in64 := randomInputs(p, seed)
	srv, err := NewServerParty(ServerConfig{Params: p, Frac: 16})
	if err != nil {
		t.Fatal(err)
	}
	clients := make([]*Client, n)
	parties := make([]mpc.Party, n)
	for i := range clients {
		cc := ClientConfig{Params: p, ID: i + 1, Signer: sk[i]}
		if in64 != nil {
			cc.Input64 = in64[i]
		} else {
			cc.Input32 = in32[i]
		}
		if clients[i], err = NewClient(cc, clientRand(seed, i+1)); err != nil {
			t.Fatal(err)
		}
		parties[i] = clients[i]
	}
	net.Kinds = p.Kinds()
	rep, err := mpctest.Run(net, srv, parties...)
	if err != nil {
		t.Fatal(err)
	}
	return srv, clients, rep, in32, in64
}

// TestNetwork runs rounds over mpctest with dropouts at every step (before
// the keys, on the key list, on the shares, on the unmasking request, on the
// final announcement), loss, duplication, reordering and stragglers. A
// released sum equals the ring sum of exactly the contributors' inputs, and
// the contributors are the parties whose masked input was sent; otherwise
// the round aborts with mpc.ErrTooFewParties (or mpc.ErrUnrecoverable under
// loss) at the server and at every live party that heard of it.
func TestNetwork(t *testing.T) {
	kinds := []string{"", StepKeyList.String(), StepShares.String(), StepUnmask.String(), StepDone.String()}
	type tc struct {
		name   string
		n, deg int
		bits   uint
		thr    int
		drops  []mpctest.Drop
		net    mpctest.Config
		abort  error
	}
	var cases []tc
	for _, g := range []struct {
		n, deg, thr int
		bits        uint
	}{{6, 0, 3, 32}, {8, 4, 3, 64}, {7, 0, 4, 13}} {
		for _, k := range kinds {
			for _, count := range []int{1, 2} {
				var drops []mpctest.Drop
				for i := range count {
					drops = append(drops, mpctest.Drop{Party: 2 + 3*i, Kind: k})
				}
				cases = append(cases, tc{name: fmt.Sprintf("n=%d/k=%d/bits=%d/drop=%s/count=%d", g.n, g.deg, g.bits, k, count),
					n: g.n, deg: g.deg, bits: g.bits, thr: g.thr, drops: drops})
			}
		}
	}
	cases = append(cases,
		tc{name: "too-few/advertise", n: 6, thr: 3, bits: 32, abort: mpc.ErrTooFewParties,
			drops: []mpctest.Drop{{Party: 1}, {Party: 2}, {Party: 3}, {Party: 4}}},
		tc{name: "too-few/masked-input", n: 6, thr: 3, bits: 32, abort: mpc.ErrTooFewParties,
			drops: []mpctest.Drop{{Party: 1, Kind: "shares"}, {Party: 2, Kind: "shares"}, {Party: 5, Kind: "shares"}, {Party: 6, Kind: "shares"}}},
		tc{name: "too-few/unmask", n: 6, thr: 3, bits: 32, abort: mpc.ErrTooFewParties,
			drops: []mpctest.Drop{{Party: 1, Kind: "unmask"}, {Party: 3, Kind: "unmask"}, {Party: 4, Kind: "unmask"}, {Party: 6, Kind: "unmask"}}},
		tc{name: "reorder+dup", n: 8, deg: 4, thr: 3, bits: 32, net: mpctest.Config{Seed: 3, Reorder: true, Dup: 0.3}},
		tc{name: "reorder+drops", n: 8, deg: 4, thr: 3, bits: 32, net: mpctest.Config{Seed: 4, Reorder: true, Dup: 0.1},
			drops: []mpctest.Drop{{Party: 1, Kind: "shares"}, {Party: 7, Kind: "unmask"}}},
	)
	// Loss and stragglers: a round may then finish or abort (a straggler's
	// unmasking shares can arrive after the deadline); each outcome is checked
	// exactly, and every family must finish at least once. Stragglers with
	// dropouts abort in most seeds: k = 4 leaves one spare share holder.
	for seed := range uint64(6) {
		cases = append(cases,
			tc{name: fmt.Sprintf("loss/seed=%d", seed), n: 10, thr: 4, bits: 32, net: mpctest.Config{Seed: seed, Reorder: true, Loss: 0.05, Dup: 0.05}},
			tc{name: fmt.Sprintf("late/seed=%d", seed), n: 10, deg: 6, thr: 4, bits: 64, net: mpctest.Config{Seed: seed, Reorder: true, Late: 0.05}},
			tc{name: fmt.Sprintf("late+drops/seed=%d", seed), n: 8, deg: 4, thr: 3, bits: 32, net: mpctest.Config{Seed: seed, Reorder: true, Late: 0.04},
				drops: []mpctest.Drop{{Party: 1, Kind: "shares"}, {Party: 7, Kind: "unmask"}}},
		)
	}
	finished := map[string]bool{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			net := c.net
			net.Drops = c.drops
			srv, clients, rep, in32, in64 := runNetwork(t, c.n, 5, c.bits, c.thr, c.deg, 1, net)
			lossy := net.Loss > 0 || net.Late > 0
			dropped := map[int]string{}
			for _, d := range c.drops {
				dropped[d.Party] = d.Kind
			}
			st := srv.Status()
			t.Logf("done %v err %v, %d deliveries, %d lost, %d late, %d deadlines", st.Done, st.Err, rep.Delivered, rep.Lost, rep.Late, rep.Deadlines)
			if st != rep.Status[0] {
				t.Fatal("report and server disagree")
			}
			if st.Err != nil {
				if c.abort == nil && !lossy {
					t.Fatalf("round aborted: %v", st.Err)
				}
				if c.abort != nil && !errors.Is(st.Err, c.abort) ||
					!errors.Is(st.Err, mpc.ErrTooFewParties) && !errors.Is(st.Err, mpc.ErrUnrecoverable) {
					t.Fatalf("abort %v, want %v", st.Err, c.abort)
				}
				if _, ok := srv.Result(); ok {
					t.Fatal("aborted server has a result")
				}
				for i, cl := range clients {
					if _, d := dropped[i+1]; !d && !lossy && !errors.Is(cl.Status().Err, c.abort) {
						t.Fatalf("live party %d: %+v", i+1, cl.Status())
					}
				}
				return
			}
			if c.abort != nil {
				t.Fatalf("round finished, want %v", c.abort)
			}
			family, _, _ := strings.Cut(c.name, "/seed=")
			finished[family] = true
			agg, ok := srv.Result()
			if !ok || !st.Done || agg.Bits != c.bits || agg.Frac != 16 || agg.Ints != nil || agg.Floats != nil {
				t.Fatalf("result %+v %v", st, ok)
			}
			var want []int
			for id := 1; id <= c.n; id++ {
				if k, d := dropped[id]; !d || k == "unmask" || k == "done" {
					want = append(want, id)
				}
			}
			if !lossy && !slices.Equal(agg.Contributors, want) {
				t.Fatalf("contributors %v, want %v", agg.Contributors, want)
			}
			for _, id := range agg.Contributors {
				if !slices.Contains(want, id) {
					t.Fatalf("party %d contributed though it dropped before its masked input", id)
				}
			}
			s32, s64 := plainSum(srv.p, in32, in64, agg.Contributors)
			ring := s64
			if s32 != nil {
				ring = make([]uint64, len(s32))
				for i, v := range s32 {
					ring[i] = uint64(v)
				}
			}
			if !slices.Equal(agg.Ring, ring) {
				t.Fatalf("sum %v, want %v", agg.Ring, ring)
			}
			for i, cl := range clients {
				id := i + 1
				_, d := dropped[id]
				cs := cl.Status()
				if cs.Err != nil || d && cs.Done {
					t.Fatalf("party %d: %+v", id, cs)
				}
				if !d && !lossy && (!cs.Done || !cl.Revealed()) {
					t.Fatalf("live contributor %d: done %v revealed %v", id, cs.Done, cl.Revealed())
				}
				if cl.Revealed() && !slices.Contains(agg.Contributors, id) {
					t.Fatalf("party %d revealed but did not contribute", id)
				}
			}
			if !lossy && rep.Rejected != 0 {
				t.Fatalf("%d rejected messages", rep.Rejected)
			}
		})
	}
	for _, f := range []string{"loss", "late", "late+drops"} {
		if !finished[f] {
			t.Errorf("no %s round finished", f)
		}
	}
}

func TestKindChecked(t *testing.T) {
	p, sk := testParams(t, 3, 2, 32, 2, 0, 0)
	c, err := NewClient(ClientConfig{Params: p, ID: 1, Signer: sk[0], Input32: make([]uint32, 2)}, clientRand(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Start()
	if err != nil || len(out) != 1 || out[0].Kind != "advertise-keys" {
		t.Fatalf("start: %+v %v", out, err)
	}
	srv, _ := NewServerParty(ServerConfig{Params: p})
	m := out[0]
	m.Kind = "masked-input"
	if _, err := srv.Step(m); !errors.Is(err, mpc.ErrProtocol) || srv.Status() != (mpc.Status{}) {
		t.Fatalf("mislabelled message: %v", err)
	}
	if _, err := srv.Step(out[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Step(out[0]); !errors.Is(err, mpc.ErrUnexpected) || !errors.Is(err, ErrUnexpected) {
		t.Fatalf("duplicate: %v", err)
	}
	for _, k := range p.Kinds() {
		if k.MaxSize < p.headerSize() || k.MaxSize > p.MaxMessageSize() {
			t.Fatalf("kind %+v", k)
		}
	}
}

// TestSimulatorOverMPCTest replays the known-answer vectors over mpctest's
// first-in first-out network, with the drop points as mpctest drops, and
// over the package's own simulator: every delivered message and the outcome
// are the same, message for message (and TestKnownAnswers pins the
// simulator's). mpctest is thus a drop-in replacement for the simulator in
// FIFO runs.
func TestSimulatorOverMPCTest(t *testing.T) {
	render := func(delivered []Message, res Result, ok bool, err error) string {
		var b strings.Builder
		for i, m := range delivered {
			h := sha256.Sum256(m.Data)
			fmt.Fprintf(&b, "msg %d %s %d->%d len=%d sha256=%s\n", i, Step(m.Data[1]), m.From, m.To, len(m.Data), hex.EncodeToString(h[:]))
		}
		if ok {
			var sum []byte
			for _, x := range res.Sum32 {
				sum = binary.LittleEndian.AppendUint32(sum, x)
			}
			for _, x := range res.Sum64 {
				sum = binary.LittleEndian.AppendUint64(sum, x)
			}
			fmt.Fprintf(&b, "contributors %v\nsum %s\n", res.Contributors, hex.EncodeToString(sum))
		} else {
			fmt.Fprintf(&b, "aborted %v\n", err)
		}
		return b.String()
	}
	for _, v := range katVectors {
		t.Run(v.name, func(t *testing.T) {
			var net mpctest.Config
			for i, d := range v.drop {
				switch d {
				case dropNone:
				case dropBeforeAdvert:
					net.Drops = append(net.Drops, mpctest.Drop{Party: i + 1})
				default:
					net.Drops = append(net.Drops, mpctest.Drop{Party: i + 1, Kind: dropStep[d].String()})
				}
			}
			var delivered []Message
			net.Observe = func(m Message) { delivered = append(delivered, m) }
			srv, _, _, _, _ := runNetwork(t, v.n, v.dim, v.bits, v.thr, v.deg, v.seed, net)
			res, ok := srv.Server.Result()
			got := render(delivered, res, ok, srv.Err())

			p, sk := testParams(t, v.n, v.dim, v.bits, v.thr, v.deg, 0)
			in32, in64 := randomInputs(p, v.seed)
			s := newSim(t, p, sk, in32, in64, v.drop, netConfig{Seed: v.seed})
			s.run()
			res, ok = s.srv.Result()
			want := render(s.delivered, res, ok, s.srv.Err())
			if !strings.Contains(want, "msg 0 ") {
				t.Fatal("the simulator delivered nothing")
			}
			if got != want {
				t.Fatalf("over mpctest:\n%s\nsimulator:\n%s", got, want)
			}
		})
	}
}
