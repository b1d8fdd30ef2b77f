package runner

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"github.com/consort-ml/consort/federated/trainer"
	"io"
	"math"
	"os/exec"
	"slices"
	"strconv"
	"syscall"
	"testing"
)

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
func frame(t testing.TB, layout []trainer.TensorSpec, data []float32, meta map[string]string) []byte {
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
		var layout []trainer.TensorSpec
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
