package bench

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"text/tabwriter"
	"time"

	"github.com/consort-ml/consort/kernels"
	"github.com/consort-ml/consort/mpc/secagg"
)

// ErrSecAggConfig marks an invalid [SecAggConfig].
var ErrSecAggConfig = errors.New("bench: bad secagg config")

// Targets of the secure aggregation benchmark (issues 3, 11 and 14).
const (
	// SecAggWireTarget bounds a node's upload per value at D >= 2^20 as a
	// multiple of the packed element size Bits/8 (4.1 bytes per value at 32
	// bits, 2.05 at 16).
	SecAggWireTarget = 1.025
	// SecAggKeystreamTarget bounds the node's masking time as a multiple of
	// the AES-CTR keystream time for the mask bytes a k-bit ring needs:
	// (Degree+1) masks of PackedLen(Dim, Bits) bytes.
	SecAggKeystreamTarget = 2.0
	// SecAggCheckTarget bounds the node time of the consistency check as a
	// fraction of its whole round at D >= 2^20.
	SecAggCheckTarget = 0.05
)

// FlowerClientSeconds is the reference for a node's round: the hot path of
// Flower's SecAgg+ client (flwr secaggplus_mod: num_shares = neighbours+1,
// reconstruction_threshold = the same t as consort, modulus_range 2^32,
// int64 upload), re-implemented with numpy and measured on this machine
// kind at 0.09-0.11 s with 10 neighbours and about 0.2 s with 28 at 2^20
// values (issue 14). The reference is the straight line through (10, 0.10 s)
// and (28, 0.20 s), scaled linearly in the dimension; the threshold changes
// only the Shamir sharing of two secrets, which is negligible next to mask
// expansion at these sizes, so it is not a parameter of the line. It is
// called with consort's own degree: both sides at the same neighbours and
// threshold.
func FlowerClientSeconds(neighbours, dim int) float64 {
	perNeighbour := (0.20 - 0.10) / 18
	return (0.10 + perNeighbour*float64(neighbours-10)) * float64(dim) / (1 << 20)
}

// SecAggConfig describes the secure aggregation benchmark: one full round of
// package mpc/secagg per (parties, dimension), every party a separate state
// machine exchanging encoded messages in process, with party 1 timed.
type SecAggConfig struct {
	// Parties and Dims are the sizes to run (default 10 and 100 parties,
	// 2^16 and 2^20 values).
	Parties []int
	Dims    []int
	// Bits are the ring widths to run, 1..64 (default 16 and 32).
	Bits []int
	// NoCheck runs the rounds without the consistency check (default: with
	// it, and its cost reported).
	NoCheck bool
	// Dropout and Corrupt size the SecAgg+ graph through secagg.Recommend
	// (default 0.05 and 0.05: at 100 parties a node has 28 neighbours).
	Dropout, Corrupt float64
	// Repeats is the number of rounds per size; the best node times are
	// kept, which filters out interference from other processes (default 3).
	Repeats int
}

// DefaultSecAggConfig returns the grid: 10 and 100 parties, 2^16 and
// 2^20 values, 16- and 32-bit rings.
func DefaultSecAggConfig() SecAggConfig {
	return SecAggConfig{Parties: []int{10, 100}, Dims: []int{1 << 16, 1 << 20}, Bits: []int{16, 32}, Dropout: 0.05, Corrupt: 0.05, Repeats: 3}
}

func (c SecAggConfig) withDefaults() SecAggConfig {
	d := DefaultSecAggConfig()
	if len(c.Parties) == 0 {
		c.Parties = d.Parties
	}
	if len(c.Dims) == 0 {
		c.Dims = d.Dims
	}
	if len(c.Bits) == 0 {
		c.Bits = d.Bits
	}
	if c.Dropout == 0 && c.Corrupt == 0 {
		c.Dropout, c.Corrupt = d.Dropout, d.Corrupt
	}
	if c.Repeats == 0 {
		c.Repeats = d.Repeats
	}
	return c
}

// Validate checks the sizes and fractions.
func (c SecAggConfig) Validate() error {
	for _, n := range c.Parties {
		if n < 2 || n > 1000 {
			return fmt.Errorf("%w: %d parties (want 2..1000)", ErrSecAggConfig, n)
		}
	}
	for _, d := range c.Dims {
		if d < 1 || d > 1<<24 {
			return fmt.Errorf("%w: dimension %d (want 1..2^24)", ErrSecAggConfig, d)
		}
	}
	for _, b := range c.Bits {
		if b < 1 || b > 64 {
			return fmt.Errorf("%w: ring width %d bits (want 1..64)", ErrSecAggConfig, b)
		}
	}
	if c.Repeats < 0 || c.Dropout < 0 || c.Corrupt < 0 || c.Dropout+c.Corrupt >= 1 {
		return fmt.Errorf("%w: repeats %d, dropout %g, corrupt %g", ErrSecAggConfig, c.Repeats, c.Dropout, c.Corrupt)
	}
	return nil
}

// SecAggResult is one row of the secure aggregation benchmark.
type SecAggResult struct {
	Parties, Dim int
	Bits         uint
	// Degree and Threshold are the graph's k and t.
	Degree, Threshold int
	// UploadBytes is what party 1 sent in the round (encoded messages);
	// WirePerValue is UploadBytes / Dim.
	UploadBytes  int64
	WirePerValue float64
	// NodeRound is party 1's compute over the whole round; NodeMask the part
	// that computes its masked input (key agreements, mask expansion,
	// packing). Best of the repeats.
	NodeRound, NodeMask time.Duration
	// Keystream is the time AES-128-CTR XORKeyStream takes for the mask
	// bytes of a k-bit ring, (Degree+1) * PackedLen(Dim, Bits), in cache,
	// measured in this run; KeystreamRatio is NodeMask / Keystream. Widths
	// between lanes (17..31, 33..63) draw their masks at the lane width, so
	// their ratio includes that overhead.
	Keystream      time.Duration
	KeystreamRatio float64
	// Check reports whether the consistency check ran. CheckBytes is what
	// it added to party 1's traffic (its confirmation up, the
	// confirmations down); CheckTime is party 1's compute in its two steps
	// (signing and tagging U3; checking the confirmations and revealing),
	// best of the repeats, and CheckRatio is CheckTime / NodeRound.
	Check      bool
	CheckBytes int64
	CheckTime  time.Duration
	CheckRatio float64
	// ServerRound is the server's compute over the round (best).
	ServerRound time.Duration
	// FlowerSpeedup is FlowerClientSeconds(Degree, Dim) / NodeRound: both
	// sides with the same neighbours and threshold. It is information, not
	// a target.
	FlowerSpeedup float64
	// Pass reports whether the targets that apply hold: wire and check
	// targets at Dim >= 2^20, the keystream target always.
	Pass bool
}

// RunSecAgg runs the benchmark, writes a table to w and returns one result
// per (parties, dimension).
func RunSecAgg(cfg SecAggConfig, w io.Writer) ([]SecAggResult, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	var out []SecAggResult
	for _, n := range cfg.Parties {
		for _, d := range cfg.Dims {
			for _, b := range cfg.Bits {
				r, err := SecAggRound(n, d, uint(b), !cfg.NoCheck, cfg.Dropout, cfg.Corrupt, cfg.Repeats)
				if err != nil {
					return out, err
				}
				out = append(out, r)
			}
		}
	}
	return out, writeSecAggTable(w, out)
}

// SecAggRound measures one (parties, dimension, width) point: repeats full
// rounds, with or without the consistency check, keeping the best node and
// server times.
func SecAggRound(parties, dim int, bits uint, check bool, dropout, corrupt float64, repeats int) (SecAggResult, error) {
	k, t, err := secagg.Recommend(parties, dropout, corrupt)
	if err != nil {
		return SecAggResult{}, err
	}
	res := SecAggResult{Parties: parties, Dim: dim, Bits: bits, Degree: k, Threshold: t, Check: check}
	for rep := range max(repeats, 1) {
		m, err := runSecAggRound(parties, dim, bits, check, k, t, uint64(rep))
		if err != nil {
			return res, err
		}
		res.UploadBytes = m.upload
		res.CheckBytes = m.checkBytes
		if rep == 0 || m.check < res.CheckTime {
			res.CheckTime = m.check
		}
		if rep == 0 || m.node < res.NodeRound {
			res.NodeRound = m.node
		}
		if rep == 0 || m.mask < res.NodeMask {
			res.NodeMask = m.mask
		}
		if rep == 0 || m.server < res.ServerRound {
			res.ServerRound = m.server
		}
	}
	res.WirePerValue = float64(res.UploadBytes) / float64(dim)
	maskBytes := int64(k+1) * int64(kernels.PackedLen(dim, bits))
	res.Keystream = keystreamTime(maskBytes, max(repeats, 1))
	res.KeystreamRatio = res.NodeMask.Seconds() / res.Keystream.Seconds()
	res.CheckRatio = res.CheckTime.Seconds() / res.NodeRound.Seconds()
	res.FlowerSpeedup = FlowerClientSeconds(k, dim) / res.NodeRound.Seconds()
	res.Pass = res.KeystreamRatio <= SecAggKeystreamTarget
	if dim >= 1<<20 {
		res.Pass = res.Pass && res.WirePerValue <= SecAggWireTarget*float64(bits)/8 && res.CheckRatio <= SecAggCheckTarget
	}
	return res, nil
}

type roundTimes struct {
	node, mask, server, check time.Duration
	upload, checkBytes        int64
}

// stopwatch times the state machines: the CPU time of the benchmark's
// thread where the platform reports it (see threadTime), wall time
// otherwise.
type stopwatch struct{ cpu bool }

func newStopwatch() stopwatch {
	_, ok := threadTime()
	return stopwatch{cpu: ok}
}

func (s stopwatch) now() time.Duration {
	if s.cpu {
		if t, ok := threadTime(); ok {
			return t
		}
	}
	return time.Duration(time.Now().UnixNano())
}

// runSecAggRound runs one round with all parties in process (FIFO delivery,
// no dropouts) and times party 1 and the server (thread CPU time on Linux).
func runSecAggRound(n, dim int, bits uint, check bool, k, t int, seed uint64) (roundTimes, error) {
	var rt roundTimes
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	clock := newStopwatch()
	keys := make([]ed25519.PrivateKey, n)
	ids := make([]ed25519.PublicKey, n)
	for i := range keys {
		var s [32]byte
		s[0], s[1], s[2] = byte(i), byte(i>>8), 's'
		keys[i] = ed25519.NewKeyFromSeed(s[:])
		ids[i] = keys[i].Public().(ed25519.PublicKey)
	}
	p, err := secagg.NewParams(secagg.Config{FederationID: "bench", Round: seed + 1, Parties: n, Dim: dim,
		Bits: bits, Threshold: t, Degree: k, Identities: ids, ConsistencyCheck: check})
	if err != nil {
		return rt, err
	}
	// One shared read-only input: the parties never modify their inputs.
	r := rand.New(rand.NewPCG(seed, 7))
	var in32 []uint32
	var in64 []uint64
	if p.Wide() {
		in64 = make([]uint64, dim)
		for i := range in64 {
			in64[i] = r.Uint64() >> (64 - bits)
		}
	} else {
		in32 = make([]uint32, dim)
		for i := range in32 {
			in32[i] = r.Uint32() >> (32 - bits)
		}
	}
	srv, err := secagg.NewServer(secagg.ServerConfig{Params: p})
	if err != nil {
		return rt, err
	}
	clients := make([]*secagg.Client, n)
	var queue []secagg.Message
	for i := range clients {
		var rs [32]byte
		rs[0], rs[1], rs[2] = byte(i), byte(i>>8), byte(seed)
		clients[i], err = secagg.NewClient(secagg.ClientConfig{Params: p, ID: i + 1, Signer: keys[i], Input32: in32, Input64: in64}, rand.NewChaCha8(rs))
		if err != nil {
			return rt, err
		}
		t0 := clock.now()
		out, err := clients[i].Start()
		if i == 0 {
			rt.node += clock.now() - t0
		}
		if err != nil {
			return rt, err
		}
		queue = append(queue, out...)
	}
	for len(queue) > 0 {
		m := queue[0]
		queue[0] = secagg.Message{}
		queue = queue[1:]
		step := secagg.Step(m.Data[1])
		if m.From == 1 {
			rt.upload += int64(len(m.Data))
			if step == secagg.StepConfirm {
				rt.checkBytes += int64(len(m.Data))
			}
		}
		if m.To == 1 && step == secagg.StepConfirmations {
			rt.checkBytes += int64(len(m.Data))
		}
		var out []secagg.Message
		t0 := clock.now()
		if m.To == 0 {
			out, err = srv.Step(m)
			rt.server += clock.now() - t0
		} else {
			out, err = clients[m.To-1].Step(m)
			if m.To == 1 {
				d := clock.now() - t0
				rt.node += d
				switch {
				case step == secagg.StepShares:
					rt.mask = d
				case check && (step == secagg.StepUnmask || step == secagg.StepConfirmations):
					rt.check += d
				}
			}
		}
		if err != nil && !errors.Is(err, secagg.ErrUnexpected) {
			return rt, err
		}
		queue = append(queue, out...)
	}
	if _, ok := srv.Result(); !ok {
		return rt, fmt.Errorf("bench: secagg round did not finish: %v", srv.Err())
	}
	return rt, nil
}

// keystreamTime measures AES-128-CTR XORKeyStream over a 16 KiB buffer (in
// cache, so the rate is the cipher's alone) and returns the time for total
// bytes at the best rate seen. The rate is sampled over many short runs of
// 1 MiB, so that a run interrupted by another process on a shared machine
// does not lower it: the limit is the cipher's undisturbed speed, which
// makes the ratio to it conservative.
func keystreamTime(total int64, repeats int) time.Duration {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	clock := newStopwatch()
	block, err := aes.NewCipher([]byte("consort-secagg16"))
	if err != nil {
		panic("bench: aes.NewCipher rejected a 16-byte key")
	}
	stream := cipher.NewCTR(block, make([]byte, aes.BlockSize))
	buf := make([]byte, 16<<10)
	const sample = 1 << 20
	best := time.Duration(1<<63 - 1)
	for range 32 * (repeats + 1) {
		t0 := clock.now()
		for n := 0; n < sample; n += len(buf) {
			stream.XORKeyStream(buf, buf)
		}
		best = min(best, clock.now()-t0)
	}
	return time.Duration(float64(best) * float64(total) / sample)
}

func writeSecAggTable(w io.Writer, rs []SecAggResult) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "parties\tdim\tbits\tk\tt\twire-B/value\tnode ms\tmask ms\tkeystream ms\tkeystream-ratio\tcheck B\tcheck ms\tcheck %\tserver ms\tflower s\tvs flower\tpass\t")
	for _, r := range rs {
		pass := "no"
		if r.Pass {
			pass = "yes"
		}
		checkB, checkMS, checkPct := "-", "-", "-"
		if r.Check {
			checkB = fmt.Sprint(r.CheckBytes)
			checkMS = fmt.Sprintf("%.2f", ms(r.CheckTime))
			checkPct = fmt.Sprintf("%.1f", 100*r.CheckRatio)
		}
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%.4f\t%.1f\t%.1f\t%.1f\t%.2f\t%s\t%s\t%s\t%.1f\t%.3g\t%.1fx\t%s\t\n",
			r.Parties, r.Dim, r.Bits, r.Degree, r.Threshold, r.WirePerValue,
			ms(r.NodeRound), ms(r.NodeMask), ms(r.Keystream), r.KeystreamRatio, checkB, checkMS, checkPct,
			ms(r.ServerRound), FlowerClientSeconds(r.Degree, r.Dim), r.FlowerSpeedup, pass)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "times are the benchmark thread's CPU time (Linux CLOCK_THREAD_CPUTIME_ID), so other processes do not inflate them.\n"+
		"node = party 1's compute over the round; mask = its masked-input step; keystream = AES-CTR for (k+1) masks of dim x bits in this run;\n"+
		"check = the consistency round (party 1's bytes up and down, its time, and the share of its round).\n"+
		"flower = Flower's SecAgg+ client hot path at num_shares = k+1 and reconstruction_threshold = t (the same k and t), int64 upload; a\n"+
		"reference measured with numpy on this machine kind, not in this run. consort: k neighbours, t-of-(k+1) shares, bits-bit ring, AES-128-CTR masks.\n"+
		"targets: wire <= %.3f x bits/8 and check <= %.0f%% at dim >= 2^20; keystream-ratio <= %.1f.\n",
		SecAggWireTarget, 100*SecAggCheckTarget, SecAggKeystreamTarget)
	return err
}

func ms(d time.Duration) float64 { return d.Seconds() * 1e3 }
