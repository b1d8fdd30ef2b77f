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
	cfg := KernelConfig{Sizes: []int{4 << 10, 64 << 10}, MinTime: time.Millisecond, Repeats: 1, BeyondCache: 64 << 10}
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
	res, err := RunKernels(KernelConfig{Sizes: []int{1024}, Kernels: []string{"ring-add64", "dot"}, MinTime: time.Millisecond, Repeats: 1}, &out)
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
		{MinTime: -1},
		{Repeats: -1},
	} {
		if _, err := RunKernels(cfg, &bytes.Buffer{}); !errors.Is(err, ErrKernelConfig) {
			t.Errorf("RunKernels(%+v): err = %v, want ErrKernelConfig", cfg, err)
		}
	}
}

// BenchmarkKernels runs every kernel at 1 MiB and, without -short, at 64 MiB,
// and reports its ratio to the limit measured right after it in the same
// process, before and after it (AES-CTR keystream for masks, copy for the
// rest; see RunKernels).
// SetBytes counts bytes as the limit does.
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
				before := measure(limit, limitBytes, 50*time.Millisecond)
				b.SetBytes(int64(bytesPerOp))
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					op()
				}
				rate := bytesPerOp * float64(b.N) / b.Elapsed().Seconds() / 1e6
				// The best of the limit measured before and after the kernel.
				lim := max(before, measure(limit, limitBytes, 50*time.Millisecond))
				b.ReportMetric(rate/lim, "ratio-to-limit")
				b.ReportMetric(lim, "limit-MB/s")
			})
		}
	}
}
