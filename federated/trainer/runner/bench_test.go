package runner

import (
	"context"
	"github.com/consort-ml/consort/federated/trainer"
	"io"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"
)

// benchLayout is a 1.07M-parameter model.
var benchLayout = []trainer.TensorSpec{
	{Name: "fc1.weight", Shape: []int{1024, 1000}},
	{Name: "fc1.bias", Shape: []int{1000}},
	{Name: "fc2.weight", Shape: []int{1000, 48}},
	{Name: "fc2.bias", Shape: []int{48}},
}

// pipeCopy returns the time to move b through an OS pipe once: one write
// and one read of len(b) bytes.
func pipeCopy(b, dst []byte) (time.Duration, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer r.Close()
	start := time.Now()
	go func() {
		w.Write(b)
		w.Close()
	}()
	_, err = io.ReadFull(r, dst)
	return time.Since(start), err
}

// catEcho is a child process (cat) that echoes what it reads: the
// cross-process cost of moving bytes there and back, with no protocol.
type catEcho struct {
	cmd     *exec.Cmd
	in, out *os.File
}

func newCatEcho() (*catEcho, error) {
	inR, inW, _ := os.Pipe()
	outR, outW, _ := os.Pipe()
	growPipe(inW)
	growPipe(outR)
	cmd := exec.Command("/bin/cat")
	cmd.Stdin, cmd.Stdout = inR, outW
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	inR.Close()
	outW.Close()
	return &catEcho{cmd, inW, outR}, nil
}

func (c *catEcho) roundTrip(b, dst []byte) (time.Duration, error) {
	start := time.Now()
	go c.in.Write(b)
	_, err := io.ReadFull(c.out, dst)
	return time.Since(start), err
}

func (c *catEcho) close() { c.in.Close(); c.cmd.Wait(); c.out.Close() }

// BenchmarkExternalOverhead measures one Train call to a sandboxed trainer
// that does no compute (testdata/echo.py: it returns the tensors it
// receives), i.e. the external path's overhead for a 1M-parameter model,
// and reports it next to the time to copy the same tensor bytes once
// through a pipe, measured in the same run (target ratio <= 3; a call moves
// the tensors twice, node to trainer and back).
func BenchmarkExternalOverhead(b *testing.B) {
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		b.Skip("no /usr/bin/python3")
	}
	if !Probe(context.Background()).Sandboxed() {
		b.Skip("sandbox unavailable")
	}
	n, _ := trainer.Elements(benchLayout)
	p, err := Start(context.Background(), Command{
		Argv: []string{"/usr/bin/python3", "echo.py"}, Dir: "testdata",
		Files: []string{"echo.py", "../../../../python/consort.py"}, WorkRoot: b.TempDir(),
		Layout: benchLayout, Limits: Limits{Start: time.Minute},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	global := trainer.Tensors{Layout: benchLayout, Data: make([]float32, n)}
	for i := range global.Data {
		global.Data[i] = float32(i%1000) / 1000
	}
	r := trainer.Round{Global: global, Settings: trainer.Settings{Epochs: 1, BatchSize: 1, LR: 1}}
	raw, dst := make([]byte, 4*n), make([]byte, 4*n)
	echo, err := newCatEcho()
	if err != nil {
		b.Fatal(err)
	}
	defer echo.close()
	var calls, copies, echoes []time.Duration
	b.SetBytes(int64(4 * n))
	b.ResetTimer()
	for b.Loop() {
		// Interleave the limit and the call so both see the same load.
		d, err := pipeCopy(raw, dst)
		if err != nil {
			b.Fatal(err)
		}
		copies = append(copies, d)
		if d, err = echo.roundTrip(raw, dst); err != nil {
			b.Fatal(err)
		}
		echoes = append(echoes, d)
		start := time.Now()
		out, _, err := p.Train(context.Background(), r)
		calls = append(calls, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
		if !slices.Equal(out.Data, global.Data) {
			b.Fatal("echo changed the tensors")
		}
	}
	call, cp, ec := medianDur(calls), medianDur(copies), medianDur(echoes)
	b.ReportMetric(float64(call.Microseconds())/1000, "call-ms")
	b.ReportMetric(float64(cp.Microseconds())/1000, "pipe-copy-ms")
	b.ReportMetric(float64(ec.Microseconds())/1000, "cat-echo-ms")
	b.ReportMetric(float64(call)/float64(cp), "ratio")
	b.ReportMetric(float64(call)/float64(ec), "ratio-to-echo")
}

func medianDur(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
