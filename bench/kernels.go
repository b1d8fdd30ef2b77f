package bench

import (
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/consort-ml/consort/kernels"
)

// ErrKernelConfig marks an invalid [KernelConfig].
var ErrKernelConfig = errors.New("bench: bad kernel config")

// Limits the kernels are compared with, measured in the same run.
const (
	// LimitAESCTR is the raw AES-128-CTR keystream rate: crypto/cipher's
	// XORKeyStream over a 16 KiB buffer that stays in L1/L2 cache, so the
	// rate is the cipher's alone. Rates against it count keystream bytes.
	LimitAESCTR = "aes-ctr"
	// LimitCopy is the memory copy bandwidth: the built-in copy of a vector
	// of the same size. Rates against it count bytes read plus bytes written
	// (the STREAM convention: a copy of n bytes moves 2n, an add of two
	// n-byte vectors into one moves 3n).
	LimitCopy = "copy"
)

// KernelConfig describes the kernel benchmark: every selected kernel runs on
// vectors of each size and is compared with its limit (see [LimitAESCTR] and
// [LimitCopy]).
//
// Kernel and limit are timed in alternating batches of about Batch each, so
// that both see the same conditions on a shared machine; the reported rates
// are the medians over the batches and the ratio is the median of the
// per-pair ratios.
type KernelConfig struct {
	// Sizes are the vector sizes in bytes (the size of the kernel's main
	// vector: the ring vector, or the float32 input); each at least 64 and a
	// multiple of 8. Default: 1 MiB (in cache) and 64 MiB (beyond cache).
	Sizes []int
	// Kernels selects kernels by name ([KernelNames]); empty means all.
	Kernels []string
	// Duration is the time spent timing each kernel together with its limit
	// at each size (default 400ms).
	Duration time.Duration
	// Batch is the length of one timed batch of calls (default 5ms; a batch
	// has at least one call).
	Batch time.Duration
	// BeyondCache is the size from which a vector counts as larger than the
	// caches, where the copy-bound targets apply (default 32 MiB).
	BeyondCache int
}

// DefaultKernelConfig returns all kernels at 1 MiB and 64 MiB.
func DefaultKernelConfig() KernelConfig {
	return KernelConfig{
		Sizes:       []int{1 << 20, 64 << 20},
		Duration:    400 * time.Millisecond,
		Batch:       5 * time.Millisecond,
		BeyondCache: 32 << 20,
	}
}

// withDefaults fills zero fields from DefaultKernelConfig.
func (c KernelConfig) withDefaults() KernelConfig {
	d := DefaultKernelConfig()
	if len(c.Sizes) == 0 {
		c.Sizes = d.Sizes
	}
	if c.Duration == 0 {
		c.Duration = d.Duration
	}
	if c.Batch == 0 {
		c.Batch = d.Batch
	}
	if c.BeyondCache == 0 {
		c.BeyondCache = d.BeyondCache
	}
	return c
}

// Validate checks sizes, durations and kernel names.
func (c KernelConfig) Validate() error {
	for _, s := range c.Sizes {
		if s < 64 || s%8 != 0 || s > 1<<30 {
			return fmt.Errorf("%w: size %d is not a multiple of 8 in [64, 1 GiB]", ErrKernelConfig, s)
		}
	}
	if c.Duration < 0 || c.Batch < 0 || c.BeyondCache < 0 {
		return fmt.Errorf("%w: negative duration, batch or cache size", ErrKernelConfig)
	}
	for _, k := range c.Kernels {
		if !slices.Contains(KernelNames(), k) {
			return fmt.Errorf("%w: unknown kernel %q (known: %s)", ErrKernelConfig, k, strings.Join(KernelNames(), ", "))
		}
	}
	return nil
}

// KernelResult is one row of the kernel benchmark.
type KernelResult struct {
	// Kernel is the kernel's name, Size its vector size in bytes.
	Kernel string
	Size   int
	// MBps is the kernel's median rate in 10^6 bytes per second, counted as
	// the limit counts (keystream bytes for [LimitAESCTR], bytes read plus
	// written for [LimitCopy]).
	MBps float64
	// Limit names the limit and LimitMBps is its median rate in the same run.
	Limit     string
	LimitMBps float64
	// Ratio is the median over alternating batches of the kernel's rate over
	// the limit's rate in the adjacent batch (close to MBps / LimitMBps).
	Ratio float64
	// Target is the required ratio, 0 where none applies; Pass reports
	// Ratio >= Target (always true without a target).
	Target float64
	Pass   bool
}

// kernelCase is one benchmarked kernel.
type kernelCase struct {
	name  string
	limit string
	// traffic is the bytes moved per byte of the main vector (STREAM
	// convention) for copy-limited kernels, and 1 for keystream-limited ones.
	traffic float64
	// target is the required ratio; beyondCache restricts it to sizes at
	// or above KernelConfig.BeyondCache.
	target      float64
	beyondCache bool
	// setup allocates and fills the kernel's vectors for size bytes and
	// returns the operation to time.
	setup func(size int, r *rand.Rand) func()
}

func randomWords32(r *rand.Rand, n int) []uint32 {
	v := make([]uint32, n)
	for i := range v {
		v[i] = r.Uint32()
	}
	return v
}

func randomWords64(r *rand.Rand, n int) []uint64 {
	v := make([]uint64, n)
	for i := range v {
		v[i] = r.Uint64()
	}
	return v
}

func randomFloats32(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

// packWidth is the element width of the packing benchmarks: a 20-bit ring
// (fixed point with 16 fractional bits and headroom for 16 parties).
const packWidth = 20

// kernelCases lists the benchmarked kernels in table order.
func kernelCases() []kernelCase {
	seed16 := []byte("consort-bench-16")
	return []kernelCase{
		{name: "mask-add32", limit: LimitAESCTR, traffic: 1, target: 0.8, setup: func(size int, r *rand.Rand) func() {
			v := randomWords32(r, size/4)
			return func() { _ = kernels.MaskAdd32(v, seed16) }
		}},
		{name: "mask-add64", limit: LimitAESCTR, traffic: 1, target: 0.8, setup: func(size int, r *rand.Rand) func() {
			v := randomWords64(r, size/8)
			return func() { _ = kernels.MaskAdd64(v, seed16) }
		}},
		{name: "ring-add32", limit: LimitCopy, traffic: 3, target: 0.8, beyondCache: true, setup: func(size int, r *rand.Rand) func() {
			a, b := randomWords32(r, size/4), randomWords32(r, size/4)
			return func() { kernels.AddRing32(a, b) }
		}},
		{name: "ring-add64", limit: LimitCopy, traffic: 3, target: 0.8, beyondCache: true, setup: func(size int, r *rand.Rand) func() {
			a, b := randomWords64(r, size/8), randomWords64(r, size/8)
			return func() { kernels.AddRing64(a, b) }
		}},
		{name: "axpy", limit: LimitCopy, traffic: 3, setup: func(size int, r *rand.Rand) func() {
			x, y := randomFloats32(r, size/4), randomFloats32(r, size/4)
			return func() { kernels.Axpy(1e-3, x, y) }
		}},
		{name: "scale", limit: LimitCopy, traffic: 2, setup: func(size int, r *rand.Rand) func() {
			x := randomFloats32(r, size/4)
			return func() { kernels.Scale(-1, x) }
		}},
		{name: "dot", limit: LimitCopy, traffic: 2, setup: func(size int, r *rand.Rand) func() {
			x, y := randomFloats32(r, size/4), randomFloats32(r, size/4)
			return func() { _ = kernels.Dot(x, y) }
		}},
		{name: "norm2", limit: LimitCopy, traffic: 1, setup: func(size int, r *rand.Rand) func() {
			x := randomFloats32(r, size/4)
			return func() { _ = kernels.Norm2(x) }
		}},
		{name: "encode-nearest32", limit: LimitCopy, traffic: 2, setup: func(size int, r *rand.Rand) func() {
			x, q := randomFloats32(r, size/4), make([]uint32, size/4)
			return func() { kernels.EncodeNearest32(q, x, 16) }
		}},
		{name: "encode-stochastic32", limit: LimitCopy, traffic: 2, setup: func(size int, r *rand.Rand) func() {
			x, q := randomFloats32(r, size/4), make([]uint32, size/4)
			return func() { kernels.EncodeStochastic32(q, x, 16, [32]byte{1}) }
		}},
		{name: "decode32", limit: LimitCopy, traffic: 2, setup: func(size int, r *rand.Rand) func() {
			q, x := randomWords32(r, size/4), make([]float32, size/4)
			return func() { kernels.Decode32(x, q, 16) }
		}},
		{name: fmt.Sprintf("pack32-k%d", packWidth), limit: LimitCopy, traffic: 1 + packWidth/32.0, setup: func(size int, r *rand.Rand) func() {
			v := randomWords32(r, size/4)
			for i := range v {
				v[i] &= 1<<packWidth - 1
			}
			out := make([]byte, 0, kernels.PackedLen(len(v), packWidth))
			return func() { out = kernels.Pack32(out[:0], v, packWidth) }
		}},
		{name: fmt.Sprintf("unpack32-k%d", packWidth), limit: LimitCopy, traffic: 1 + packWidth/32.0, setup: func(size int, r *rand.Rand) func() {
			v := randomWords32(r, size/4)
			for i := range v {
				v[i] &= 1<<packWidth - 1
			}
			p := kernels.Pack32(nil, v, packWidth)
			return func() { _ = kernels.Unpack32(v, p, packWidth) }
		}},
	}
}

// KernelNames returns the names of the benchmarked kernels.
func KernelNames() []string {
	var names []string
	for _, c := range kernelCases() {
		names = append(names, c.name)
	}
	return names
}

// limitOp returns the operation and the bytes it counts for a limit at size.
func limitOp(limit string, size int, r *rand.Rand) (op func(), bytes float64) {
	switch limit {
	case LimitAESCTR:
		block, err := aes.NewCipher([]byte("consort-bench-16"))
		if err != nil {
			panic("bench: aes.NewCipher rejected a 16-byte key")
		}
		stream := cipher.NewCTR(block, make([]byte, aes.BlockSize))
		buf := make([]byte, 16<<10)
		return func() {
			for n := size; n > 0; n -= len(buf) {
				b := buf[:min(n, len(buf))]
				stream.XORKeyStream(b, b)
			}
		}, float64(size)
	default:
		src := make([]byte, size)
		for i := range src {
			src[i] = byte(r.Uint32())
		}
		dst := make([]byte, size)
		copy(dst, src) // fault the pages in
		return func() { copy(dst, src) }, 2 * float64(size)
	}
}

// pairedRates times op and limit in alternating batches for about total
// and returns the median rates of each in MB/s (for opBytes and limitBytes
// per call) and the median of the per-pair ratios. Batches hold enough calls
// to last about batch; the order within a pair alternates so that a trend in
// the machine's load affects both alike.
func pairedRates(op func(), opBytes float64, limit func(), limitBytes float64, total, batch time.Duration) (rate, limitRate, ratio float64) {
	opCalls := callsFor(op, batch)
	limitCalls := callsFor(limit, batch)
	timeBatch := func(f func(), calls int, bytes float64) float64 {
		start := time.Now()
		for range calls {
			f()
		}
		return bytes * float64(calls) / time.Since(start).Seconds() / 1e6
	}
	var rates, limits, ratios []float64
	start := time.Now()
	for i := 0; i < 3 || time.Since(start) < total; i++ {
		var r, l float64
		if i%2 == 0 {
			l = timeBatch(limit, limitCalls, limitBytes)
			r = timeBatch(op, opCalls, opBytes)
		} else {
			r = timeBatch(op, opCalls, opBytes)
			l = timeBatch(limit, limitCalls, limitBytes)
		}
		rates, limits, ratios = append(rates, r), append(limits, l), append(ratios, r/l)
	}
	return median(rates), median(limits), median(ratios)
}

// callsFor runs f once to warm up and time it, and returns the number of
// calls that last about d (at least 1).
func callsFor(f func(), d time.Duration) int {
	start := time.Now()
	f()
	one := time.Since(start)
	if one <= 0 {
		one = time.Nanosecond
	}
	return max(1, int(d/one))
}

// median returns the median of v (v is reordered).
func median(v []float64) float64 {
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// RunKernels measures the kernels of cfg at each size against their limits,
// writes a table to w and returns one result per kernel and size.
func RunKernels(cfg KernelConfig, w io.Writer) ([]KernelResult, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	r := rand.New(rand.NewPCG(1, 2))
	var results []KernelResult
	for _, size := range cfg.Sizes {
		limits := map[string]struct {
			op    func()
			bytes float64
		}{}
		for _, kc := range kernelCases() {
			if len(cfg.Kernels) > 0 && !slices.Contains(cfg.Kernels, kc.name) {
				continue
			}
			lim, ok := limits[kc.limit]
			if !ok {
				lim.op, lim.bytes = limitOp(kc.limit, size, r)
				limits[kc.limit] = lim
			}
			op := kc.setup(size, r)
			rate, limitRate, ratio := pairedRates(op, kc.traffic*float64(size), lim.op, lim.bytes, cfg.Duration, cfg.Batch)
			res := KernelResult{
				Kernel: kc.name, Size: size, MBps: rate,
				Limit: kc.limit, LimitMBps: limitRate, Ratio: ratio,
				Pass: true,
			}
			if kc.target > 0 && (!kc.beyondCache || size >= cfg.BeyondCache) {
				res.Target = kc.target
				res.Pass = res.Ratio >= kc.target
			}
			results = append(results, res)
		}
	}
	return results, writeKernelTable(w, results)
}

// writeKernelTable prints results as an aligned table with a legend.
func writeKernelTable(w io.Writer, results []KernelResult) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "kernel\tsize\tMB/s\tlimit\tlimit MB/s\tratio\ttarget\tpass\t")
	for _, r := range results {
		target, pass := verdict(">=", r.Target, r.Pass)
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%s\t%.0f\t%.2f\t%s\t%s\t\n",
			r.Kernel, sizeString(r.Size), r.MBps, r.Limit, r.LimitMBps, r.Ratio, target, pass)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "MB/s against %s counts keystream bytes; against %s, bytes read plus written (copy of n bytes = 2n, ring add = 3n).\n"+
		"Rates are medians over alternating batches of kernel and limit in this process; ratio is the median of the per-pair ratios.\n", LimitAESCTR, LimitCopy)
	return err
}

// sizeString prints a byte count in KiB, MiB or GiB when exact.
func sizeString(n int) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}
