package trainer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

func TestCheck(t *testing.T) {
	good := testGlobal()
	if err := Check(good, testLayout); err != nil {
		t.Fatal(err)
	}
	nan := Tensors{Layout: testLayout, Data: slices.Clone(good.Data)}
	nan.Data[7] = float32(math.Inf(-1))
	extra := Tensors{Layout: append(slices.Clone(testLayout), TensorSpec{Name: "evil", Shape: []int{1}}), Data: append(slices.Clone(good.Data), 0)}
	shape := Tensors{Layout: []TensorSpec{{Name: "fc.weight", Shape: []int{2, 3}}, testLayout[1]}, Data: good.Data}
	missing := Tensors{Layout: testLayout[:1], Data: good.Data[:6]}
	order := Tensors{Layout: []TensorSpec{testLayout[1], testLayout[0]}, Data: good.Data}
	short := Tensors{Layout: testLayout, Data: good.Data[:7]}
	for name, c := range map[string]struct {
		t    Tensors
		text string
	}{
		"inf":     {nan, `tensor "fc.bias" has a non-finite value at index 1`},
		"extra":   {extra, `extra tensor "evil"`},
		"shape":   {shape, `shape [2 3], want [3 2]`},
		"missing": {missing, `missing tensor "fc.bias"`},
		"order":   {order, "out of layout order"},
		"short":   {short, "7 values"},
	} {
		if err := Check(c.t, testLayout); !errors.Is(err, ErrInvalidOutput) || !strings.Contains(err.Error(), c.text) {
			t.Errorf("%s: got %v, want %q", name, err, c.text)
		}
	}
}

func TestMetricsCheck(t *testing.T) {
	if err := (Metrics{Examples: 10, Correct: 10, LossSum: 2}).Check(0); err != nil {
		t.Fatal(err)
	}
	for _, m := range []Metrics{
		{Examples: 10, Correct: 11},
		{Examples: 10, LossSum: math.NaN()},
		{Examples: 10, LossSum: math.Inf(1)},
		{Examples: 10, LossSum: -1},
		{Examples: 0, LossSum: 1},
		{Examples: 101},
	} {
		if err := m.Check(100); !errors.Is(err, ErrInvalidOutput) {
			t.Errorf("%+v: got %v", m, err)
		}
	}
	if a := (Metrics{Examples: 4, Correct: 3}).Accuracy(); a != 0.75 {
		t.Fatal(a)
	}
}

func TestSettingsValidate(t *testing.T) {
	if err := testSettings.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, s := range []Settings{
		{Epochs: 0, BatchSize: 1, LR: 1},
		{Epochs: 1, BatchSize: 0, LR: 1},
		{Epochs: 1, BatchSize: 1, LR: 0},
		{Epochs: 1, BatchSize: 1, LR: math.NaN()},
		{Epochs: 1, BatchSize: 1, LR: 1, Momentum: 1},
		{Epochs: 1, BatchSize: 1, LR: 1, WeightDecay: -1},
		{Epochs: 1, BatchSize: 1, LR: 1, ProxMu: math.Inf(1)},
	} {
		if err := s.Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: got %v", s, err)
		}
	}
}

// fakeTrainer returns fixed results, to test Checked.
type fakeTrainer struct {
	out Tensors
	m   Metrics
}

func (f fakeTrainer) Layout() []TensorSpec { return testLayout }
func (f fakeTrainer) Train(context.Context, Round) (Tensors, Metrics, error) {
	return f.out, f.m, nil
}
func (f fakeTrainer) Evaluate(context.Context, Tensors) (Metrics, error) { return f.m, nil }
func (f fakeTrainer) Close() error                                       { return nil }

func TestChecked(t *testing.T) {
	r := Round{Global: testGlobal(), Settings: testSettings}
	ok := Checked(fakeTrainer{testGlobal(), Metrics{Examples: 3, Correct: 1, LossSum: 1}}, 0)
	if _, _, err := ok.Train(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	bad := testGlobal()
	bad.Data = slices.Clone(bad.Data)
	bad.Data[0] = float32(math.NaN())
	if _, _, err := Checked(fakeTrainer{bad, Metrics{}}, 0).Train(context.Background(), r); !errors.Is(err, ErrInvalidOutput) {
		t.Fatalf("NaN passed: %v", err)
	}
	if _, err := Checked(fakeTrainer{testGlobal(), Metrics{Examples: 1, Correct: 2}}, 0).Evaluate(context.Background(), testGlobal()); !errors.Is(err, ErrInvalidOutput) {
		t.Fatalf("implausible metrics passed: %v", err)
	}
	if _, _, err := ok.Train(context.Background(), Round{Global: bad, Settings: testSettings}); !errors.Is(err, ErrConfig) {
		t.Fatalf("bad global passed: %v", err)
	}
}

func TestCommandValidate(t *testing.T) {
	base := Command{Argv: []string{"python3", "hostile.py"}, Dir: "testdata", Files: []string{"hostile.py"}, Layout: testLayout}
	if _, err := base.validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*Command){
		"no-argv":    func(c *Command) { c.Argv = nil },
		"no-files":   func(c *Command) { c.Files = nil },
		"dup-files":  func(c *Command) { c.Files = []string{"hostile.py", "x/hostile.py"} },
		"no-layout":  func(c *Command) { c.Layout = nil },
		"bad-pin":    func(c *Command) { c.Pin = "abc" },
		"env-path":   func(c *Command) { c.Env = []string{"PATH=/tmp"} },
		"deny-work":  func(c *Command) { c.WorkRoot = "testdata"; c.Deny = []string{"testdata"} },
		"data-above": func(c *Command) { c.Data = []string{"."}; c.Deny = []string{"testdata/hostile.py"} },
		"data-root":  func(c *Command) { c.Data = []string{"/"} },
	} {
		c := base
		mut(&c)
		if _, err := c.validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: got %v", name, err)
		}
	}
	c := base
	c.RequirePin = true
	if _, err := c.validate(); !errors.Is(err, ErrNotPinned) {
		t.Errorf("require-pin: %v", err)
	}
}

// frame builds a reply frame as a trainer would.
func frame(t testing.TB, layout []TensorSpec, data []float32, meta map[string]string) []byte {
	var b bytes.Buffer
	if err := writeMessage(&b, layout, data, meta); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func protocolSeeds(t testing.TB) [][]byte {
	trained := frame(t, testLayout, testGlobal().Data, map[string]string{keyKind: kindTrained, keyProtocol: "1", keyMetrics: `{"examples":3,"correct":1,"loss_sum":0.5}`})
	hello := frame(t, nil, nil, map[string]string{keyKind: kindHello, keyProtocol: "1"})
	seeds := [][]byte{trained, hello}
	for _, cut := range []int{0, 4, 8, 16, 40, len(trained) - 1} {
		seeds = append(seeds, trained[:cut])
	}
	for _, off := range []int{0, 8} {
		for _, d := range []int64{-1, 1} {
			b := slices.Clone(trained)
			binary.LittleEndian.PutUint64(b[off:], uint64(int64(binary.LittleEndian.Uint64(b[off:]))+d))
			seeds = append(seeds, b)
		}
	}
	for _, i := range []int{20, 50, 90, len(trained) - 3} {
		b := slices.Clone(trained)
		b[i] ^= 0x04
		seeds = append(seeds, b)
	}
	return seeds
}

func TestProtocolSeedsNotEmpty(t *testing.T) {
	if len(protocolSeeds(t)) < 10 {
		t.Fatal("fuzz corpus too small")
	}
	m, err := readMessage(bytes.NewReader(protocolSeeds(t)[0]), testLayout, make([]float32, 8), 4096)
	if err != nil || m.kind != kindTrained || !m.tensors {
		t.Fatalf("%+v %v", m, err)
	}
}

// FuzzReadMessage: a trainer's bytes never panic the reader, every error is
// classified, and an accepted frame re-encodes to one read back the same.
func FuzzReadMessage(f *testing.F) {
	for _, s := range protocolSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		dst := make([]float32, 8)
		m, err := readMessage(bytes.NewReader(b), testLayout, dst, 4096)
		if err != nil {
			if !errors.Is(err, ErrProtocol) && !errors.Is(err, ErrInvalidOutput) && !errors.Is(err, ErrOutputQuota) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("unclassified: %v", err)
			}
			return
		}
		var layout []TensorSpec
		data := []float32(nil)
		if m.tensors {
			layout, data = testLayout, dst
		}
		again := frame(t, layout, data, m.meta)
		dst2 := make([]float32, 8)
		m2, err := readMessage(bytes.NewReader(again), testLayout, dst2, 4096)
		if err != nil || m2.kind != m.kind || m2.tensors != m.tensors || (m.tensors && !bytes.Equal(f32bytes(dst), f32bytes(dst2))) {
			t.Fatalf("re-encoding changed the message: %v", err)
		}
	})
}

func f32bytes(f []float32) []byte {
	b := make([]byte, 0, 4*len(f))
	for _, v := range f {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

// TestFirstNonFinite compares the word-parallel scan with a naive one.
func TestFirstNonFinite(t *testing.T) {
	specials := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), math.Float32frombits(0x7f800001), math.Float32frombits(0xffffffff)}
	finite := []float32{0, -0, 1, -1, math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32, math.Float32frombits(0x7f7fffff), math.Float32frombits(0x807fffff)}
	for _, n := range []int{0, 1, 2, 3, 7, 8, 9, 1023, 1024, 1025, 5000} {
		v := make([]float32, n)
		for i := range v {
			v[i] = finite[i%len(finite)]
		}
		if got := firstNonFinite(v); got != -1 {
			t.Fatalf("n=%d: finite data flagged at %d", n, got)
		}
		for _, at := range []int{0, n / 2, n - 1} {
			if n == 0 {
				continue
			}
			for _, s := range specials {
				w := slices.Clone(v)
				w[at] = s
				if got := firstNonFinite(w); got != at {
					t.Fatalf("n=%d: %x at %d found at %d", n, math.Float32bits(s), at, got)
				}
			}
		}
	}
}

// TestTreeUsage: the tree walk and the parent-scan fallback find the same
// processes (this test binary and the go tool's children are not
// involved: it walks a sleeping child).
func TestTreeUsage(t *testing.T) {
	// The shell says "ready" after forking both children.
	cmd := exec.Command("/bin/sh", "-c", "sleep 30 & sleep 30 & echo ready; wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // one kill ends all three
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); cmd.Wait() }()
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("%q %v", line, err)
	}
	kids, ok := childrenOf("/proc/" + strconv.Itoa(cmd.Process.Pid))
	if !ok {
		t.Skip("kernel without /proc/PID/task/TID/children")
	}
	if len(kids) != 2 {
		t.Fatalf("children %v", kids)
	}
	m := parentMap()
	got := slices.Sorted(slices.Values(m[cmd.Process.Pid]))
	if !slices.Equal(got, slices.Sorted(slices.Values(kids))) {
		t.Fatalf("parent scan %v, children files %v", got, kids)
	}
	u, err := treeUsage(cmd.Process.Pid)
	if err != nil || u.rss <= 0 {
		t.Fatalf("%+v %v", u, err)
	}
}
