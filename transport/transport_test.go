package transport

import (
	"errors"
	"sync"
	"testing"
)

func TestNewTypes(t *testing.T) {
	p := Protocol{Name: "secagg", Major: 1}
	types, err := NewTypes(
		MessageType{Name: "secagg/masked-input", Protocol: p, MaxSize: 1 << 20},
		MessageType{Name: "secagg/keys", Protocol: p, MaxSize: 4096},
		MessageType{Name: "train/start", Protocol: Protocol{Name: "train", Major: 2}, MaxSize: 100, Compress: true},
	)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.ID(); got != "/consort/secagg/1" {
		t.Fatalf("ID = %q", got)
	}
	if mt, ok := types.Lookup("train/start"); !ok || !mt.Compress || mt.Protocol.Major != 2 {
		t.Fatalf("lookup: %+v %v", mt, ok)
	}
	if ps := types.Protocols(); len(ps) != 2 || ps[0].Name != "secagg" || ps[1].Name != "train" {
		t.Fatalf("protocols %v", ps)
	}
	if types.MaxSize() != 1<<20 || len(types.Names()) != 3 || types.Names()[0] != "secagg/keys" {
		t.Fatal("MaxSize or Names")
	}
	if _, err := types.Check(Message{Type: "secagg/keys", Payload: make([]byte, 4097)}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized: %v", err)
	}
	if _, err := types.Check(Message{Type: "nope"}); !errors.Is(err, ErrUnknownType) {
		t.Fatalf("unknown: %v", err)
	}
	for name, mts := range map[string][]MessageType{
		"empty name":      {{Name: "", Protocol: p, MaxSize: 1}},
		"upper case":      {{Name: "Secagg/x", Protocol: p, MaxSize: 1}},
		"leading slash":   {{Name: "/x", Protocol: p, MaxSize: 1}},
		"long name":       {{Name: string(make([]byte, 65)), Protocol: p, MaxSize: 1}},
		"duplicate":       {{Name: "a", Protocol: p, MaxSize: 1}, {Name: "a", Protocol: p, MaxSize: 1}},
		"two majors":      {{Name: "a", Protocol: p, MaxSize: 1}, {Name: "b", Protocol: Protocol{Name: "secagg", Major: 2}, MaxSize: 1}},
		"major 0":         {{Name: "a", Protocol: Protocol{Name: "x"}, MaxSize: 1}},
		"protocol slash":  {{Name: "a", Protocol: Protocol{Name: "x/y", Major: 1}, MaxSize: 1}},
		"zero max":        {{Name: "a", Protocol: p, MaxSize: 0}},
		"max above 1 GiB": {{Name: "a", Protocol: p, MaxSize: MaxMessageSize + 1}},
	} {
		if _, err := NewTypes(mts...); !errors.Is(err, ErrBadConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestValidFederationID(t *testing.T) {
	for s, want := range map[string]bool{"fed-1": true, "": false, "a b": false, "tab\t": false, "ünï": false, string(make([]byte, 129)): false} {
		if ValidFederationID(s) != want {
			t.Errorf("ValidFederationID(%q) != %v", s, want)
		}
	}
}

func TestMeter(t *testing.T) {
	var m Meter
	if s := m.Snapshot(); s.SentTo == nil || s.Rejected == nil {
		t.Fatal("nil maps in the zero snapshot")
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				m.CountSent("b", "t/x", 10)
				m.CountReceived("c", "t/y", 5)
				m.CountRejected(RejectStale)
			}
		}()
	}
	wg.Wait()
	s := m.Snapshot()
	if s.Sent != (Counter{800, 8000}) || s.SentTo["b"] != (Counter{800, 8000}) || s.SentByType["t/x"].Bytes != 8000 {
		t.Fatalf("sent %+v", s)
	}
	if s.Received != (Counter{800, 4000}) || s.ReceivedFrom["c"].Messages != 800 || s.Rejected[RejectStale] != 800 {
		t.Fatalf("received %+v", s)
	}
	s.SentTo["b"] = Counter{}
	if m.Snapshot().SentTo["b"].Messages != 800 {
		t.Fatal("snapshot shares maps with the meter")
	}
}

func TestRoundFloor(t *testing.T) {
	var f RoundFloor
	if f.Stale(0) {
		t.Fatal("zero floor refuses round 0")
	}
	f.Set(5)
	f.Set(3)
	if f.Get() != 5 || !f.Stale(4) || f.Stale(5) || f.Stale(6) {
		t.Fatalf("floor %d", f.Get())
	}
}
