package bench

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func TestRunKernelsSmall(t *testing.T) {
	var out bytes.Buffer
	cfg := KernelConfig{Sizes: []int{4 << 10, 64 << 10}, Duration: time.Millisecond, Batch: 100 * time.Microsecond, BeyondCache: 64 << 10}
	res, err := RunKernels(cfg, &out)
	if err != nil {
		t.Fatal(err)
	}
	if want := 2 * len(KernelNames()); len(res) != want {
		t.Fatalf("got %d results, want %d", len(res), want)
	}
	for _, r := range res {
		if !(r.MBps > 0 && r.LimitMBps > 0 && r.Ratio > 0) {
			t.Errorf("%s/%d: non-positive rate: %+v", r.Kernel, r.Size, r)
		}
		wantTarget := 0.0
		switch {
		case strings.HasPrefix(r.Kernel, "mask-add"):
			wantTarget = 0.8
		case strings.HasPrefix(r.Kernel, "ring-add") && r.Size >= cfg.BeyondCache:
			wantTarget = 0.8
		}
		if r.Target != wantTarget {
			t.Errorf("%s/%d: target %g, want %g", r.Kernel, r.Size, r.Target, wantTarget)
		}
		if r.Pass != (r.Target == 0 || r.Ratio >= r.Target) {
			t.Errorf("%s/%d: pass %v inconsistent with ratio %g and target %g", r.Kernel, r.Size, r.Pass, r.Ratio, r.Target)
		}
	}
	text := out.String()
	for _, want := range []string{"kernel", "MB/s", "limit MB/s", "ratio", "target", "pass", "mask-add32", "4KiB", "64KiB", LimitAESCTR, LimitCopy} {
		if !strings.Contains(text, want) {
			t.Errorf("table lacks %q:\n%s", want, text)
		}
	}
	if lines := strings.Count(text, "\n"); lines != len(res)+3 {
		t.Errorf("table has %d lines, want %d:\n%s", lines, len(res)+3, text)
	}
}

func TestRunKernelsSelection(t *testing.T) {
	var out bytes.Buffer
	res, err := RunKernels(KernelConfig{Sizes: []int{1024}, Kernels: []string{"ring-add64", "dot"}, Duration: time.Millisecond, Batch: 100 * time.Microsecond}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].Kernel != "ring-add64" || res[1].Kernel != "dot" || res[0].Size != 1024 {
		t.Fatalf("results = %+v", res)
	}
}

func TestKernelConfigErrors(t *testing.T) {
	for _, cfg := range []KernelConfig{
		{Sizes: []int{63}},
		{Sizes: []int{100}},
		{Sizes: []int{2 << 30}},
		{Kernels: []string{"nope"}},
		{Duration: -1},
		{Batch: -1},
		{BeyondCache: -1},
	} {
		if _, err := RunKernels(cfg, &bytes.Buffer{}); !errors.Is(err, ErrKernelConfig) {
			t.Errorf("RunKernels(%+v): err = %v, want ErrKernelConfig", cfg, err)
		}
	}
}

// BenchmarkKernels runs every kernel at 1 MiB and, without -short, at 64 MiB.
// SetBytes counts bytes as the limit does (see RunKernels), and after the
// timed loop the kernel and its limit (AES-CTR keystream for masks, copy for
// the rest) are timed in alternating batches in this process: ratio-to-limit
// is the median per-pair ratio, limit-MB/s the limit's median rate.
func BenchmarkKernels(b *testing.B) {
	sizes := DefaultKernelConfig().Sizes
	if testing.Short() {
		sizes = sizes[:1]
	}
	r := rand.New(rand.NewPCG(3, 4))
	for _, kc := range kernelCases() {
		for _, size := range sizes {
			b.Run(fmt.Sprintf("%s/size=%s", kc.name, sizeString(size)), func(b *testing.B) {
				op := kc.setup(size, r)
				limit, limitBytes := limitOp(kc.limit, size, r)
				bytesPerOp := kc.traffic * float64(size)
				b.SetBytes(int64(bytesPerOp))
				b.ReportAllocs()
				for b.Loop() {
					op()
				}
				b.StopTimer()
				_, lim, ratio := pairedRates(op, bytesPerOp, limit, limitBytes, 100*time.Millisecond, 2*time.Millisecond)
				b.ReportMetric(ratio, "ratio-to-limit")
				b.ReportMetric(lim, "limit-MB/s")
			})
		}
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		v    []float64
		want float64
	}{{[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(c.v); got != c.want {
			t.Errorf("median = %g, want %g", got, c.want)
		}
	}
}
