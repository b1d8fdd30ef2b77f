package bench

import (
	"crypto/ed25519"
	crand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/consort-ml/consort/mpc/mhe"
)

// ErrMHEConfig marks an invalid [MHEConfig].
var ErrMHEConfig = errors.New("bench: bad mhe config")

// MHEAutoParams in MHEConfig.ParamSets picks, for each point, the set
// mhe.ChooseParams sizes to the job.
const MHEAutoParams = "auto"

// Targets of the multiparty-HE benchmark (issue 4).
const (
	// MHEWireTarget bounds the bytes per value a decrypting node sends (its
	// ciphertext plus its decryption share) at 32-bit quantisation: four
	// times a float32. At 16-bit quantisation the target is half.
	MHEWireTarget = 16.0
	// MHENodeTarget bounds a decrypting node's compute (encryption plus
	// decryption share) as a multiple of lattigo's raw public-key
	// encryption of the same number of ciphertexts, measured in the same run.
	MHENodeTarget = 1.2
)

// MHEConfig describes the multiparty-HE benchmark: rounds of package mpc/mhe
// per (parties, dimension), every party a separate state machine exchanging
// encoded messages in process, after a one-time key setup.
type MHEConfig struct {
	// Parties and Dims are the sizes to run (default 3 and 10 parties, 2^20
	// values).
	Parties []int
	Dims    []int
	// QuantBits is the quantisation width, 32 (default) or 16.
	QuantBits uint
	// ParamSets names the mhe parameter sets to run; an empty name or
	// MHEAutoParams picks the set sized to the job (mhe.ChooseParams: the fewest ciphertext
	// bytes for the dimension among the sets that support the parties).
	// Default: N14-T256 and N15-T512 (see DefaultMHEConfig).
	ParamSets []string
	// InsecureTestParams uses the small test ring (tests of this package).
	InsecureTestParams bool
	// Repeats is the number of rounds per size (default 3).
	Repeats int
	// Verified also runs, alternating with every unverified round, a
	// verified round (mhe.RoundConfig.Identities set: signed uploads and the
	// decryptors' fingerprint check) and reports its cost against the
	// unverified round of the same run.
	Verified bool
}

// DefaultMHEConfig returns the grid: 3 and 10 parties, 2^20 values,
// 32-bit quantisation, on the two sets meant for large models. N14-T256
// meets both targets (about 15.5 B/value); N15-T512 sends fewer bytes (13.8
// B/value, the set mhe.ChooseParams picks at 2^20 values) but its node work
// per value beyond encryption (plaintext embedding into 10 primes, smudging,
// packing) grows with the number of primes while lattigo's encryption per
// value shrinks, so its node/raw ratio is higher.
func DefaultMHEConfig() MHEConfig {
	return MHEConfig{Parties: []int{3, 10}, Dims: []int{1 << 20}, QuantBits: 32, ParamSets: []string{"N14-T256", "N15-T512"}, Repeats: 3}
}

func (c MHEConfig) withDefaults() MHEConfig {
	d := DefaultMHEConfig()
	if len(c.Parties) == 0 {
		c.Parties = d.Parties
	}
	if len(c.Dims) == 0 {
		c.Dims = d.Dims
	}
	if c.QuantBits == 0 {
		c.QuantBits = d.QuantBits
	}
	if c.Repeats == 0 {
		c.Repeats = d.Repeats
	}
	if len(c.ParamSets) == 0 {
		if c.InsecureTestParams {
			c.ParamSets = []string{""}
		} else {
			c.ParamSets = d.ParamSets
		}
	}
	return c
}

// Validate checks the sizes.
func (c MHEConfig) Validate() error {
	for _, n := range c.Parties {
		if n < 2 || n > 256 {
			return fmt.Errorf("%w: %d parties (want 2..256)", ErrMHEConfig, n)
		}
	}
	for _, d := range c.Dims {
		if d < 1 || d > 1<<24 {
			return fmt.Errorf("%w: dimension %d (want 1..2^24)", ErrMHEConfig, d)
		}
	}
	if (c.QuantBits != 0 && c.QuantBits != 16 && c.QuantBits != 32) || c.Repeats < 0 {
		return fmt.Errorf("%w: quantisation %d bits, repeats %d", ErrMHEConfig, c.QuantBits, c.Repeats)
	}
	for _, name := range c.ParamSets {
		if name == "" || name == MHEAutoParams {
			continue
		}
		if _, err := mhe.LookupParams(name); err != nil {
			return fmt.Errorf("%w: %w", ErrMHEConfig, err)
		}
	}
	return nil
}

// MHEResult is one row of the benchmark. Times are medians over the
// decrypting nodes of all repeats.
type MHEResult struct {
	// Parties, Threshold and Dim give the size; Params names the parameter
	// set and QuantBits the quantisation width.
	Parties, Threshold, Dim int
	Params                  string
	QuantBits               uint
	// Ciphertexts is the number of ciphertexts an update takes.
	Ciphertexts int
	// UploadBytes and ShareBytes are a decryptor's ciphertext and decryption
	// share messages, DownBytes the decryption request it receives.
	UploadBytes, ShareBytes, DownBytes int64
	// WirePerValue is (UploadBytes + ShareBytes) / Dim.
	WirePerValue float64
	// Encrypt is a node's quantisation, encryption and serialisation;
	// Share its decryption share (decode, key switch, smudging, encode);
	// Node their sum.
	Encrypt, Share, Node time.Duration
	// RawEncrypt is lattigo's Encrypt of Ciphertexts pre-encoded plaintexts
	// at the same parameters (NTT domain, lattigo's default for BGV), timed
	// right before each node's encryption and share; NodeRatio is the median
	// of Node / RawEncrypt per node.
	RawEncrypt time.Duration
	NodeRatio  float64
	// Agg is the aggregator's compute over a round (summing, requests,
	// combining, decoding); Setup the federation's one-time key setup.
	Agg, Setup time.Duration
	// SetupSent and SetupRecv are the mean bytes a node sends and receives
	// during the setup (announcements, key share, Shamir shares and the
	// relayed public-key shares).
	SetupSent, SetupRecv float64
	// SentPerParty is the mean number of bytes a party sends in one
	// unverified round (uploads and decryption shares over all parties).
	SentPerParty float64
	// VerifiedNode is a decryptor's compute in a verified round (signing,
	// hashing, fingerprints, the check, encryption and share);
	// VerifyRatio is VerifiedNode / Node. VerifyUpBytes and VerifyDownBytes
	// are the bytes a decryptor sends and receives beyond the unverified
	// round's; VerifiedSentPerParty is SentPerParty of the verified round.
	// All zero unless MHEConfig.Verified.
	VerifiedNode                   time.Duration
	VerifyRatio                    float64
	VerifyUpBytes, VerifyDownBytes int64
	VerifiedSentPerParty           float64
	// CPUTime reports that Encrypt, Share, Node, RawEncrypt, VerifiedNode
	// and Agg are the measuring thread's CPU time (Linux), not wall time.
	CPUTime bool
	// Exact reports whether every decrypted sum equalled the plaintext sum of
	// the quantised inputs (in both kinds of round).
	Exact bool
	// Pass reports whether the wire and node-ratio targets hold (the wire
	// target only at 32 and 16 bits on sets for large models, dim >= 2^20).
	Pass bool
}

// RunMHE runs the benchmark, writes a table to w and returns one result per
// (parties, dimension).
func RunMHE(cfg MHEConfig, w io.Writer) ([]MHEResult, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	var out []MHEResult
	for _, set := range cfg.ParamSets {
		for _, n := range cfg.Parties {
			for _, d := range cfg.Dims {
				b, err := newMHEBench(cfg, set, n, d)
				if err != nil {
					return out, err
				}
				r, err := b.run(cfg.Repeats)
				if err != nil {
					return out, err
				}
				out = append(out, r)
			}
		}
	}
	return out, writeMHETable(w, out)
}

// mheBench is one (parties, dimension) point with its federation set up.
type mheBench struct {
	cfg      MHEConfig
	p        mhe.Params
	setup    mhe.SetupConfig
	keys     []*mhe.KeyMaterial
	inputs   [][]float32
	baseline *mhe.Baseline
	res      MHEResult
	round    uint64
	sent     []float64 // bytes sent per party, per unverified round
	cpu      bool      // times are the thread's CPU time (see now)
	start    time.Time

	// Verified rounds.
	signers    []ed25519.PrivateKey
	identities []ed25519.PublicKey
	vsamples   []time.Duration
	vsent      []float64
	vUp, vDown int64
}

func mheParamsFor(cfg MHEConfig, set string, n, d int) (mhe.Params, error) {
	var lit mhe.ParamsLiteral
	var err error
	switch {
	case cfg.InsecureTestParams:
		lit = mhe.InsecureTestParams()
	case set != "" && set != MHEAutoParams:
		lit, err = mhe.LookupParams(set)
	default:
		// Sized to the job; only the chosen set is built.
		lit, err = mhe.ChooseParams(n, d, cfg.QuantBits)
	}
	if err != nil {
		return mhe.Params{}, fmt.Errorf("%w: %w", ErrMHEConfig, err)
	}
	if lit.MaxParties < n {
		return mhe.Params{}, fmt.Errorf("%w: %s supports at most %d parties", ErrMHEConfig, lit.Name, lit.MaxParties)
	}
	return mhe.NewParams(lit)
}

// newMHEBench picks the parameters, runs the key setup (timed) and draws
// the inputs.
func newMHEBench(cfg MHEConfig, set string, n, d int) (*mheBench, error) {
	p, err := mheParamsFor(cfg, set, n, d)
	if err != nil {
		return nil, err
	}
	t := min(n, max(2, n/3+1)) // a third of the parties learn nothing
	b := &mheBench{cfg: cfg, p: p, start: time.Now()}
	b.setup = mhe.SetupConfig{Params: p, FederationID: "bench", Parties: n, Threshold: t, CRS: [32]byte{'b'}}
	b.res = MHEResult{Parties: n, Threshold: t, Dim: d, Params: p.Name(), QuantBits: cfg.QuantBits, Ciphertexts: p.Ciphertexts(d, cfg.QuantBits), Exact: true}
	t0 := time.Now()
	if b.keys, b.res.SetupSent, b.res.SetupRecv, err = mheSetup(b.setup); err != nil {
		return nil, err
	}
	b.res.Setup = time.Since(t0)
	r := rand.New(rand.NewPCG(uint64(n), uint64(d)))
	b.inputs = make([][]float32, n)
	for i := range b.inputs {
		in := make([]float32, d)
		for j := range in {
			in[j] = 2*r.Float32() - 1
		}
		b.inputs[i] = in
	}
	if b.baseline, err = mhe.NewBaseline(p); err != nil {
		return nil, err
	}
	return b, nil
}

// mheSetup runs the key setup over a FIFO queue and returns the keys and
// the mean bytes a node sent and received.
func mheSetup(cfg mhe.SetupConfig) (keys []*mhe.KeyMaterial, sent, recv float64, err error) {
	agg, err := mhe.NewSetupAggregator(cfg)
	if err != nil {
		return nil, 0, 0, err
	}
	var up, down int
	nodes := make([]*mhe.SetupNode, cfg.Parties)
	var queue []mhe.Message
	for i := range nodes {
		if nodes[i], err = mhe.NewSetupNode(cfg, i+1, nil, crand.Reader); err != nil {
			return nil, 0, 0, err
		}
		out, err := nodes[i].Start()
		if err != nil {
			return nil, 0, 0, err
		}
		queue = append(queue, out...)
	}
	for len(queue) > 0 {
		m := queue[0]
		queue = queue[1:]
		if m.From > 0 {
			up += len(m.Data)
		}
		if m.To > 0 {
			down += len(m.Data)
		}
		var out []mhe.Message
		if m.To == 0 {
			out, err = agg.Step(m)
		} else {
			out, err = nodes[m.To-1].Step(m)
		}
		if err != nil {
			return nil, 0, 0, err
		}
		queue = append(queue, out...)
	}
	keys = make([]*mhe.KeyMaterial, len(nodes))
	for i, nd := range nodes {
		km, ok := nd.KeyMaterial()
		if !ok {
			return nil, 0, 0, fmt.Errorf("bench: mhe setup of node %d did not complete", i+1)
		}
		keys[i] = km
	}
	n := float64(cfg.Parties)
	return keys, float64(up) / n, float64(down) / n, nil
}

// rawEncrypt times lattigo's encryption of count ciphertexts.
func (b *mheBench) rawEncrypt(count int) (time.Duration, error) {
	t0 := b.now()
	for range count {
		if err := b.baseline.Encrypt(); err != nil {
			return 0, err
		}
	}
	return b.now() - t0, nil
}

// mheSample is one decrypting node's measurement.
type mheSample struct {
	enc, share, raw time.Duration
}

// oneRound runs a round without dropouts, timing every node, the raw
// encryption before each node's encryption and share, and the aggregator.
func (b *mheBench) oneRound() ([]mheSample, time.Duration, error) {
	b.round++
	n, d := b.setup.Parties, b.res.Dim
	chunks := b.res.Ciphertexts
	rc := mhe.RoundConfig{FederationID: "bench", Round: b.round, Dim: d, Participants: make([]int, n), Bound: 1, QuantBits: b.cfg.QuantBits}
	for i := range rc.Participants {
		rc.Participants[i] = i + 1
	}
	agg, err := mhe.NewAggregator(b.setup, rc)
	if err != nil {
		return nil, 0, err
	}
	var aggTime time.Duration
	nodes := make([]*mhe.Node, n)
	enc := make([]time.Duration, n)
	rawA := make([]time.Duration, n)
	seeds := make([][32]byte, n)
	var requests []mhe.Message
	for i := range nodes {
		if rawA[i], err = b.rawEncrypt(chunks); err != nil {
			return nil, 0, err
		}
		seeds[i][0], seeds[i][1] = byte(i), byte(b.round)
		rnd := io.MultiReader(bytesReader(seeds[i][:]), crand.Reader)
		t0 := b.now()
		nodes[i], err = mhe.NewNode(b.keys[i], rc, rnd)
		if err != nil {
			return nil, 0, err
		}
		out, err := nodes[i].Upload(b.inputs[i])
		enc[i] = b.now() - t0
		if err != nil {
			return nil, 0, err
		}
		b.res.UploadBytes = int64(len(out[0].Data))
		t0 = b.now()
		req, err := agg.Step(out[0])
		aggTime += b.now() - t0
		if err != nil {
			return nil, 0, err
		}
		requests = append(requests, req...)
	}
	var samples []mheSample
	var results []mhe.Message
	sent := int64(n) * b.res.UploadBytes
	defer func() { b.sent = append(b.sent, float64(sent)/float64(n)) }()
	for _, m := range requests {
		raw, err := b.rawEncrypt(chunks)
		if err != nil {
			return nil, 0, err
		}
		b.res.DownBytes = int64(len(m.Data))
		t0 := b.now()
		sh, err := nodes[m.To-1].Step(m)
		share := b.now() - t0
		if err != nil {
			return nil, 0, err
		}
		b.res.ShareBytes = int64(len(sh[0].Data))
		sent += b.res.ShareBytes
		samples = append(samples, mheSample{enc: enc[m.To-1], share: share, raw: (rawA[m.To-1] + raw) / 2})
		t0 = b.now()
		out, err := agg.Step(sh[0])
		aggTime += b.now() - t0
		if err != nil {
			return nil, 0, err
		}
		results = append(results, out...)
	}
	res, ok := agg.Result()
	if !ok || len(results) != 0 {
		return nil, 0, fmt.Errorf("bench: mhe round did not finish")
	}
	// Exactness: the decrypted sum against the plaintext sum of what the
	// nodes quantised (their rounding seeds are known here).
	want := make([]int64, d)
	q := make([]int32, d)
	for i := range nodes {
		if err := rc.Quantize(q, b.inputs[i], seeds[i]); err != nil {
			return nil, 0, err
		}
		for j, v := range q {
			want[j] += int64(v)
		}
	}
	if !slices.Equal(res.Quantized, want) {
		b.res.Exact = false
	}
	return samples, aggTime, nil
}

// now returns the clock the node, raw-encryption and aggregator times are
// read from: the calling thread's CPU time where the OS provides it (the
// goroutine is locked to its thread during run), so that other processes
// on a shared machine do not skew the ratios; wall-clock time otherwise.
func (b *mheBench) now() time.Duration {
	if b.cpu {
		if t, ok := threadCPU(); ok {
			return t
		}
	}
	return time.Since(b.start)
}

// run measures repeats rounds.
func (b *mheBench) run(repeats int) (MHEResult, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	_, b.cpu = threadCPU()
	b.res.CPUTime = b.cpu
	var samples []mheSample
	var aggs []time.Duration
	for range max(repeats, 1) {
		s, a, err := b.oneRound()
		if err != nil {
			return b.res, err
		}
		samples = append(samples, s...)
		aggs = append(aggs, a)
		if b.cfg.Verified {
			if err := b.verifiedRound(); err != nil {
				return b.res, err
			}
		}
	}
	r := b.res
	r.SentPerParty = lowMedian(b.sent)
	var encs, shares, nodes, raws []time.Duration
	var ratios []float64
	for _, s := range samples {
		encs = append(encs, s.enc)
		shares = append(shares, s.share)
		nodes = append(nodes, s.enc+s.share)
		raws = append(raws, s.raw)
		ratios = append(ratios, float64(s.enc+s.share)/float64(s.raw))
	}
	r.Encrypt, r.Share, r.Node, r.RawEncrypt = lowMedian(encs), lowMedian(shares), lowMedian(nodes), lowMedian(raws)
	r.NodeRatio = lowMedian(ratios)
	r.Agg = lowMedian(aggs)
	r.WirePerValue = float64(r.UploadBytes+r.ShareBytes) / float64(r.Dim)
	if b.cfg.Verified {
		r.VerifiedNode = lowMedian(b.vsamples)
		r.VerifyRatio = float64(r.VerifiedNode) / float64(r.Node)
		r.VerifyUpBytes = b.vUp - r.UploadBytes - r.ShareBytes
		r.VerifyDownBytes = b.vDown - r.DownBytes
		r.VerifiedSentPerParty = lowMedian(b.vsent)
	}
	r.Pass = r.Exact && r.NodeRatio <= MHENodeTarget
	if r.Dim >= 1<<20 {
		r.Pass = r.Pass && r.WirePerValue <= MHEWireTarget*float64(r.QuantBits)/32
	}
	return r, nil
}

// lowMedian returns the median of xs (the lower middle for an even count).
func lowMedian[T int64 | float64 | time.Duration](xs []T) T {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}

// sliceReader reads a byte slice once.
type sliceReader struct{ b []byte }

// Read implements io.Reader.
func (r *sliceReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

func bytesReader(b []byte) io.Reader { return &sliceReader{b} }

func writeMHETable(w io.Writer, rs []MHEResult) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "parties\tt\tdim\tparams\tbits\tcts\twire-B/value\tsent-KB/party\tenc ms\tshare ms\tnode ms\traw-enc ms\tnode/raw\tagg ms\tsetup ms\tsetup sent-KB\tsetup recv-KB\tverified node ms\tverified/plain\tverify up-B\tverify down-B\texact\tpass\t")
	for _, r := range rs {
		fmt.Fprintf(tw, "%d\t%d\t%d\t%s\t%d\t%d\t%.2f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.2f\t%.1f\t%.0f\t%.0f\t%.0f\t%.1f\t%.2f\t%d\t%d\t%v\t%v\t\n",
			r.Parties, r.Threshold, r.Dim, r.Params, r.QuantBits, r.Ciphertexts, r.WirePerValue, r.SentPerParty/1000,
			ms(r.Encrypt), ms(r.Share), ms(r.Node), ms(r.RawEncrypt), r.NodeRatio, ms(r.Agg), ms(r.Setup), r.SetupSent/1000, r.SetupRecv/1000,
			ms(r.VerifiedNode), r.VerifyRatio, r.VerifyUpBytes, r.VerifyDownBytes, r.Exact, r.Pass)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	clock := "wall-clock"
	if len(rs) > 0 && rs[0].CPUTime {
		clock = "the measuring thread's CPU"
	}
	_, err := fmt.Fprintf(w, "wire = a decryptor's ciphertext + decryption share per value; node = its encryption + share; raw-enc = lattigo Encrypt of as many ciphertexts in this run; times are %s time.\n"+
		"sent-KB/party = mean bytes a party sends in one round; verified = signed uploads and the decryptors' fingerprint check (--verified), verified/plain = a decryptor's time against the unverified round of the same run.\n"+
		"targets: wire <= %.0f B/value at 32 bits (%.0f at 16) for dim >= 2^20; node/raw <= %.1f; exact decrypted sums.\n",
		clock, MHEWireTarget, MHEWireTarget/2, MHENodeTarget)
	return err
}

// verifiedRound runs one verified round (signed uploads, fingerprint check)
// over a FIFO queue and records each decryptor's compute (every Upload and
// Step of the node) and the bytes it sent and received.
func (b *mheBench) verifiedRound() error {
	n, d := b.setup.Parties, b.res.Dim
	if b.signers == nil {
		b.signers = make([]ed25519.PrivateKey, n)
		b.identities = make([]ed25519.PublicKey, n)
		for i := range b.signers {
			var seed [32]byte
			seed[0], seed[1] = 'v', byte(i)
			b.signers[i] = ed25519.NewKeyFromSeed(seed[:])
			b.identities[i] = b.signers[i].Public().(ed25519.PublicKey)
		}
	}
	b.round++
	rc := mhe.RoundConfig{FederationID: "bench", Round: b.round, Dim: d, Participants: make([]int, n), Bound: 1, QuantBits: b.cfg.QuantBits,
		ModelVersion: [32]byte{byte(b.round), byte(b.round >> 8)}, Identities: b.identities}
	for i := range rc.Participants {
		rc.Participants[i] = i + 1
	}
	agg, err := mhe.NewAggregator(b.setup, rc)
	if err != nil {
		return err
	}
	nodes := make([]*mhe.Node, n)
	busy := make([]time.Duration, n)
	up := make([]int64, n)
	down := make([]int64, n)
	seeds := make([][32]byte, n)
	var queue []mhe.Message
	for i := range nodes {
		nrc := rc
		nrc.Signer = b.signers[i]
		nrc.Ledger = &mhe.MemoryLedger{}
		seeds[i][0], seeds[i][1], seeds[i][2] = byte(i), byte(b.round), 'v'
		t0 := b.now()
		nodes[i], err = mhe.NewNode(b.keys[i], nrc, io.MultiReader(bytesReader(seeds[i][:]), crand.Reader))
		if err != nil {
			return err
		}
		out, err := nodes[i].Upload(b.inputs[i])
		busy[i] += b.now() - t0
		if err != nil {
			return err
		}
		queue = append(queue, out...)
	}
	for len(queue) > 0 {
		m := queue[0]
		queue = queue[1:]
		var out []mhe.Message
		if m.To == 0 {
			up[m.From-1] += int64(len(m.Data))
			out, err = agg.Step(m)
		} else {
			down[m.To-1] += int64(len(m.Data))
			t0 := b.now()
			out, err = nodes[m.To-1].Step(m)
			busy[m.To-1] += b.now() - t0
		}
		if err != nil {
			return err
		}
		queue = append(queue, out...)
	}
	res, ok := agg.Result()
	if !ok {
		return fmt.Errorf("bench: verified mhe round did not finish")
	}
	want := make([]int64, d)
	q := make([]int32, d)
	for i := range nodes {
		if err := rc.Quantize(q, b.inputs[i], seeds[i]); err != nil {
			return err
		}
		for j, v := range q {
			want[j] += int64(v)
		}
	}
	if !slices.Equal(res.Quantized, want) {
		b.res.Exact = false
	}
	var total int64
	for i, nd := range nodes {
		total += up[i]
		if _, ok := nd.Decryption(); ok {
			b.vsamples = append(b.vsamples, busy[i])
			b.vUp, b.vDown = up[i], down[i]
		}
	}
	b.vsent = append(b.vsent, float64(total)/float64(n))
	return nil
}
