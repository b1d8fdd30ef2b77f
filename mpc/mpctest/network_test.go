package mpctest

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/consort-ml/consort/mpc"
)

// A toy protocol: the server pings every client, each client answers with
// its id, the server is done with every answer or, on its deadline, with at
// least threshold answers, and tells the contributors "done".

type pingServer struct {
	n, threshold int
	got          []int
	done         bool
	err          error
	trace        *[]string
}

func (s *pingServer) Start() ([]mpc.Message, error) {
	var out []mpc.Message
	for i := 1; i <= s.n; i++ {
		out = append(out, mpc.Message{From: 0, To: i, Kind: "ping", Data: []byte{byte(i)}})
	}
	return out, nil
}

func (s *pingServer) Step(m mpc.Message) ([]mpc.Message, error) {
	*s.trace = append(*s.trace, fmt.Sprintf("%d>%d:%s", m.From, m.To, m.Kind))
	if s.err != nil {
		return nil, s.err
	}
	if s.done {
		return nil, fmt.Errorf("%w: late", mpc.ErrUnexpected)
	}
	if m.Kind != "pong" || len(m.Data) != 1 || int(m.Data[0]) != m.From {
		return nil, fmt.Errorf("%w: bad pong", mpc.ErrMalformed)
	}
	if slices.Contains(s.got, m.From) {
		return nil, fmt.Errorf("%w: duplicate", mpc.ErrUnexpected)
	}
	s.got = append(s.got, m.From)
	if len(s.got) == s.n {
		return s.finish()
	}
	return nil, nil
}

func (s *pingServer) finish() ([]mpc.Message, error) {
	s.done = true
	slices.Sort(s.got)
	var out []mpc.Message
	for _, id := range s.got {
		out = append(out, mpc.Message{From: 0, To: id, Kind: "done", Data: []byte{0}})
	}
	return out, nil
}

func (s *pingServer) Advance() ([]mpc.Message, error) {
	if s.done || s.err != nil {
		return nil, s.err
	}
	if len(s.got) < s.threshold {
		s.err = &mpc.AbortError{Err: mpc.ErrTooFewParties}
		return nil, s.err
	}
	return s.finish()
}

func (s *pingServer) Status() mpc.Status { return mpc.Status{Done: s.done, Err: s.err} }

type pingClient struct {
	id    int
	pings int
	done  bool
	trace *[]string
	// misbehave, when set, rewrites the answer.
	misbehave func(*mpc.Message)
}

func (c *pingClient) Start() ([]mpc.Message, error) { return nil, nil }

func (c *pingClient) Step(m mpc.Message) ([]mpc.Message, error) {
	*c.trace = append(*c.trace, fmt.Sprintf("%d>%d:%s", m.From, m.To, m.Kind))
	switch m.Kind {
	case "ping":
		c.pings++
		if c.pings > 1 {
			return nil, fmt.Errorf("%w: second ping", mpc.ErrUnexpected)
		}
		out := mpc.Message{From: c.id, To: 0, Kind: "pong", Data: []byte{byte(c.id)}}
		if c.misbehave != nil {
			c.misbehave(&out)
		}
		return []mpc.Message{out}, nil
	case "done":
		c.done = true
		return nil, nil
	}
	return nil, fmt.Errorf("%w: kind %q", mpc.ErrProtocol, m.Kind)
}

func (c *pingClient) Advance() ([]mpc.Message, error) { return nil, nil }
func (c *pingClient) Status() mpc.Status              { return mpc.Status{Done: c.done} }

func ping(n, threshold int) (*pingServer, []mpc.Party, *[]string) {
	trace := new([]string)
	s := &pingServer{n: n, threshold: threshold, trace: trace}
	cs := make([]mpc.Party, n)
	for i := range cs {
		cs[i] = &pingClient{id: i + 1, trace: trace}
	}
	return s, cs, trace
}

func TestFIFOAndAccounting(t *testing.T) {
	s, cs, trace := ping(3, 3)
	rep, err := Run(Config{}, s, cs...)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"0>1:ping", "0>2:ping", "0>3:ping", "1>0:pong", "2>0:pong", "3>0:pong", "0>1:done", "0>2:done", "0>3:done"}
	if !slices.Equal(*trace, want) {
		t.Fatalf("trace %v, want %v", *trace, want)
	}
	for id, st := range rep.Status {
		if !st.Done || st.Err != nil {
			t.Fatalf("party %d: %+v", id, st)
		}
	}
	if !slices.Equal(rep.Sent, []int{6, 1, 1, 1}) || !slices.Equal(rep.Received, []int{3, 2, 2, 2}) {
		t.Fatalf("sent %v received %v", rep.Sent, rep.Received)
	}
	if rep.Delivered != 9 || rep.Deadlines != 0 || rep.Lost+rep.Duplicated+rep.Late+rep.Unexpected+rep.Rejected != 0 {
		t.Fatalf("report %+v", rep)
	}
}

func TestReorderIsSeeded(t *testing.T) {
	traces := map[uint64][]string{}
	for _, seed := range []uint64{1, 1, 2} {
		s, cs, trace := ping(8, 8)
		if _, err := Run(Config{Seed: seed, Reorder: true}, s, cs...); err != nil {
			t.Fatal(err)
		}
		if prev, ok := traces[seed]; ok && !slices.Equal(prev, *trace) {
			t.Fatal("same seed, another order")
		}
		traces[seed] = *trace
	}
	if slices.Equal(traces[1], traces[2]) {
		t.Fatal("seeds 1 and 2 give the same order")
	}
	fifo := slices.Clone(traces[1])
	slices.Sort(fifo)
	s, cs, trace := ping(8, 8)
	if _, err := Run(Config{}, s, cs...); err != nil {
		t.Fatal(err)
	}
	sorted := slices.Clone(*trace)
	slices.Sort(sorted)
	if !slices.Equal(fifo, sorted) || slices.Equal(traces[1], *trace) {
		t.Fatal("reordering lost, added or kept the order of messages")
	}
}

func TestDropsAndDeadline(t *testing.T) {
	for _, c := range []struct {
		name      string
		drops     []Drop
		threshold int
		done      bool
		got       []int
	}{
		{"before-start", []Drop{{Party: 2}}, 2, true, []int{1, 3}},
		{"at-ping", []Drop{{Party: 1, Kind: "ping"}, {Party: 3, Kind: "ping"}}, 1, true, []int{2}},
		{"at-done", []Drop{{Party: 3, Kind: "done"}}, 3, true, []int{1, 2, 3}},
		{"too-few", []Drop{{Party: 1, Kind: "ping"}, {Party: 2, Kind: "ping"}}, 2, false, []int{3}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, cs, _ := ping(3, c.threshold)
			rep, err := Run(Config{Drops: c.drops}, s, cs...)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Status[0].Done != c.done || !slices.Equal(s.got, c.got) {
				t.Fatalf("server %+v got %v", rep.Status[0], s.got)
			}
			if !c.done && !errors.Is(rep.Status[0].Err, mpc.ErrTooFewParties) {
				t.Fatalf("server error %v", rep.Status[0].Err)
			}
			for _, d := range c.drops {
				if !rep.Dropped[d.Party] || rep.Status[d.Party].Done || rep.Sent[d.Party] != 0 && d.Kind != "done" {
					t.Fatalf("party %d: dropped %v status %+v sent %d", d.Party, rep.Dropped[d.Party], rep.Status[d.Party], rep.Sent[d.Party])
				}
			}
			wantDeadlines := 1
			if len(c.got) == 3 {
				wantDeadlines = 0
			}
			if rep.Deadlines != wantDeadlines {
				t.Fatalf("%d deadlines", rep.Deadlines)
			}
		})
	}
}

func TestLossDupLate(t *testing.T) {
	s, cs, _ := ping(50, 1)
	rep, err := Run(Config{Seed: 3, Loss: 0.2, Dup: 0.2, Late: 0.2}, s, cs...)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Lost == 0 || rep.Duplicated == 0 || rep.Late == 0 || rep.Unexpected == 0 || rep.Deadlines == 0 {
		t.Fatalf("the faults did not happen: %+v", rep)
	}
	if !rep.Status[0].Done || len(s.got) == 50 {
		t.Fatalf("server %+v with %d answers", rep.Status[0], len(s.got))
	}
	// Every sent message is lost, delivered once or twice: the server's
	// deliveries and the clients' are all accounted for.
	sent := 0
	for _, b := range rep.Sent {
		sent += b
	}
	recv := 0
	for _, b := range rep.Received {
		recv += b
	}
	if recv != sent-rep.Lost+rep.Duplicated {
		t.Fatalf("sent %d lost %d dup %d received %d", sent, rep.Lost, rep.Duplicated, recv)
	}
	// Every message late: the pings arrive after the first deadline, which
	// aborts the round, and the pongs after it get the server's abort.
	s2, cs2, trace := ping(2, 1)
	rep2, err := Run(Config{Seed: 1, Late: 1}, s2, cs2...)
	if err != nil {
		t.Fatal(err)
	}
	if rep2.Deadlines != 1 || rep2.Unexpected != 0 || rep2.Delivered != 4 || !errors.Is(rep2.Status[0].Err, mpc.ErrTooFewParties) ||
		!slices.Equal(*trace, []string{"0>1:ping", "0>2:ping", "1>0:pong", "2>0:pong"}) {
		t.Fatalf("late messages: %+v %v", rep2, *trace)
	}
}

func TestObserveAndRejected(t *testing.T) {
	s, cs, _ := ping(3, 2)
	cs[1].(*pingClient).misbehave = func(m *mpc.Message) { m.Data = []byte{9} }
	var seen []string
	rep, err := Run(Config{Observe: func(m mpc.Message) { seen = append(seen, m.Kind) }}, s, cs...)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rejected != 1 || !rep.Status[0].Done || !slices.Equal(s.got, []int{1, 3}) || len(seen) != rep.Delivered {
		t.Fatalf("report %+v got %v seen %v", rep, s.got, seen)
	}
	// A message to a dropped party is seen but not delivered.
	s, cs, _ = ping(3, 2)
	seen = nil
	rep, err = Run(Config{Drops: []Drop{{Party: 2, Kind: "ping"}}, Observe: func(m mpc.Message) { seen = append(seen, m.Kind) }}, s, cs...)
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != rep.Delivered+1 || !slices.Equal(seen[:3], []string{"ping", "ping", "ping"}) {
		t.Fatalf("report %+v got %v seen %v", rep, s.got, seen)
	}
}

func TestContract(t *testing.T) {
	registry := []mpc.Kind{{Name: "ping", MaxSize: 1}, {Name: "pong", MaxSize: 1}, {Name: "done", MaxSize: 1}}
	for _, c := range []struct {
		name  string
		bad   func(*mpc.Message)
		kinds []mpc.Kind
	}{
		{"no-kind", func(m *mpc.Message) { m.Kind = "" }, nil},
		{"spoofed-from", func(m *mpc.Message) { m.From = 3 }, nil},
		{"no-such-party", func(m *mpc.Message) { m.To = 9 }, nil},
		{"to-self", func(m *mpc.Message) { m.To = 2 }, nil},
		{"unregistered", func(m *mpc.Message) { m.Kind = "pang" }, registry},
		{"too-big", func(m *mpc.Message) { m.Data = []byte{2, 0} }, registry},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, cs, _ := ping(3, 2)
			cs[1].(*pingClient).misbehave = c.bad
			if _, err := Run(Config{Kinds: c.kinds}, s, cs...); !errors.Is(err, ErrContract) {
				t.Fatalf("err %v", err)
			}
		})
	}
	// A client that answers a second ping after it is done.
	s, cs, _ := ping(2, 2)
	chatty := &chattyClient{pingClient{id: 2, trace: new([]string)}}
	if _, err := Run(Config{Dup: 1}, s, cs[0], chatty); !errors.Is(err, ErrContract) {
		t.Fatalf("messages after the end: %v", err)
	}
	s, cs, _ = ping(3, 2)
	if _, err := Run(Config{Drops: []Drop{{Party: 4}}}, s, cs...); !errors.Is(err, ErrContract) {
		t.Fatalf("drop of a party that does not exist: %v", err)
	}
}

// chattyClient answers every ping, even once it is done.
type chattyClient struct{ pingClient }

func (c *chattyClient) Step(m mpc.Message) ([]mpc.Message, error) {
	c.done = true // done after its first answer, and answers again
	return []mpc.Message{{From: c.id, To: 0, Kind: "pong", Data: []byte{byte(c.id)}}}, nil
}

// stuck is a server that never finishes.
type stuck struct{ pingServer }

func (s *stuck) Advance() ([]mpc.Message, error) { return nil, nil }

func TestStalled(t *testing.T) {
	_, cs, trace := ping(2, 1)
	s := &stuck{pingServer{n: 3, threshold: 1, trace: trace}}
	rep, err := Run(Config{}, s, append(cs, &pingClient{id: 3, trace: trace})...)
	if err != nil {
		t.Fatalf("a server done by itself: %v", err)
	}
	s = &stuck{pingServer{n: 3, threshold: 1, trace: trace}}
	rep, err = Run(Config{Drops: []Drop{{Party: 1}}}, s, append(cs, &pingClient{id: 3, trace: trace})...)
	if !errors.Is(err, ErrStalled) || rep.Deadlines != maxIdle {
		t.Fatalf("err %v after %d deadlines", err, rep.Deadlines)
	}
}
