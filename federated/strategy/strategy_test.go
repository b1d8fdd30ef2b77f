package strategy

import (
	"errors"
	"testing"
)

func TestStrategies(t *testing.T) {
	g := []float32{1, 2}
	avg, _ := New(Config{})
	avg.Apply(g, []float32{0.5, -1})
	if g[0] != 1.5 || g[1] != 1 || avg.Name() != "fedavg" || avg.ProxMu() != 0 {
		t.Fatalf("fedavg: %v", g)
	}
	prox, _ := New(Config{Name: "fedprox"})
	if prox.ProxMu() != 0.01 {
		t.Fatalf("fedprox default mu %v", prox.ProxMu())
	}
	adam, _ := New(Config{Name: "fedadam", ServerLR: 0.1})
	g = []float32{0}
	adam.Apply(g, []float32{1})
	// m = 0.1, v = 0.01, step = 0.1 * 0.1 / (0.1 + 1e-3)
	if want := float32(0.1 * 0.1 / (0.1 + 1e-3)); g[0] < want*0.999 || g[0] > want*1.001 {
		t.Fatalf("fedadam step %v, want %v", g[0], want)
	}
	st := adam.(Stateful).State()
	fresh, _ := New(Config{Name: "fedadam", ServerLR: 0.1})
	if err := fresh.(Stateful).Restore(st); err != nil {
		t.Fatal(err)
	}
	a, b := []float32{0}, []float32{0}
	adam.Apply(a, []float32{1})
	fresh.Apply(b, []float32{1})
	if a[0] != b[0] {
		t.Fatalf("restored state steps %v, original %v", b[0], a[0])
	}
	if _, err := New(Config{Name: "sgd"}); !errors.Is(err, ErrConfig) {
		t.Fatalf("unknown strategy: %v", err)
	}
	if _, err := New(Config{Name: "fedadam", Beta1: 1}); !errors.Is(err, ErrConfig) {
		t.Fatalf("beta1 = 1: %v", err)
	}
}
