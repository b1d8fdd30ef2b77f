package federated

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/consort-ml/consort/mpc"
	"github.com/consort-ml/consort/mpc/mhe"
)

// MHEConfig configures the multiparty homomorphic-encryption aggregator
// ([NewMHE]). The zero value is usable.
type MHEConfig struct {
	// ParamSet names one of mhe.ParamSets. Empty picks, for each federation,
	// the set with the fewest ciphertext bytes for the update length among
	// those that support the number of parties.
	ParamSet string
	// InsecureTestParams uses mhe.InsecureTestParams, a small ring without
	// lattice security, to make tests fast. Never set it outside tests.
	InsecureTestParams bool
	// QuantBits is the quantisation width: 32 (default) or 16.
	QuantBits uint
	// NodesLearnResult makes the nodes the only recipients of the aggregate
	// (mhe.RecipientNodes): the aggregator never sees the sum, and the
	// simulation reads it at a live node.
	NodesLearnResult bool
	// StateDir, if set, keeps each simulated node's key material in a file
	// of mode 0600 (WriteMHEKey) and reuses it in later runs of the same
	// federation, party count, threshold and parameter set.
	StateDir string
	// Rand supplies the private randomness of key generation and smudging
	// (nil: crypto/rand). The fixed-point rounding seeds are derived from
	// RoundSpec.Seed, so simulations repeat exactly.
	Rand io.Reader
}

// NewMHE returns the mhe [Aggregator]: threshold multiparty homomorphic
// aggregation (package mpc/mhe) on lattigo. Each participant and the
// aggregator run as separate state machines that exchange encoded messages in
// process, so BytesUp and BytesDown are the real wire sizes.
//
// The federation key is set up once per federation id, number of
// participants and threshold, on the first round that needs it, and cached
// (and persisted under StateDir); that round's byte counts include the setup
// traffic. The threshold t is RoundSpec.Threshold when set and otherwise
// [MHEThreshold]: any t participants can decrypt, fewer learn nothing. A participant with DropBeforeUpload sends no ciphertext; one
// with DropAfterUpload never answers a decryption request, so the aggregator
// moves on to another decryption set. Fewer than t live contributors abort
// the round with ErrTooFewContributors (wrapping the protocol's
// *mpc.AbortError).
//
// The decoded sum equals the sum of the contributors' quantised inputs
// exactly; it differs from their float sum by less than contributors *
// 2^-frac per coordinate (stochastic rounding), with frac from
// mhe.RoundConfig.Quantization, plus the float32 rounding of the result.
func NewMHE(cfg MHEConfig) (Aggregator, error) {
	if cfg.QuantBits != 0 && cfg.QuantBits != 16 && cfg.QuantBits != 32 {
		return nil, fmt.Errorf("%w: mhe quantisation of %d bits (want 16 or 32)", ErrBadConfig, cfg.QuantBits)
	}
	if cfg.ParamSet != "" {
		lit, err := mhe.LookupParams(cfg.ParamSet)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadConfig, err)
		}
		if lit.InsecureTestOnly {
			return nil, fmt.Errorf("%w: parameter set %s is insecure; use InsecureTestParams", ErrBadConfig, lit.Name)
		}
	}
	return &mheAgg{cfg: cfg, feds: map[mheFedKey]*mheFed{}}, nil
}

type mheAgg struct {
	cfg  MHEConfig
	mu   sync.Mutex
	feds map[mheFedKey]*mheFed
}

type mheFedKey struct {
	fed    string
	n, t   int
	params string
}

// mheFed is a federation whose key setup is done.
type mheFed struct {
	setup mhe.SetupConfig
	keys  []*mhe.KeyMaterial
	// setup traffic, reported with the first round
	setupUp, setupDown []int64
	reported           bool
}

// Name implements [Aggregator].
func (*mheAgg) Name() string { return "mhe" }

// Secure implements [Aggregator].
func (*mheAgg) Secure() bool { return true }

// MHEThreshold returns the default decryption threshold for n participants,
// floor(n/3) + 1 and at least 2 (at most n): coalitions of up to a third of
// the parties learn nothing, the corruption bound secagg assumes by default,
// and up to n - t of them may drop.
func MHEThreshold(n int) int {
	return min(n, max(2, n/3+1))
}

// mheParams picks the parameter set for n parties and dimension d.
func (a *mheAgg) mheParams(n, d int, bits uint) (mhe.Params, error) {
	var lits []mhe.ParamsLiteral
	switch {
	case a.cfg.InsecureTestParams:
		lits = []mhe.ParamsLiteral{mhe.InsecureTestParams()}
	case a.cfg.ParamSet != "":
		lit, err := mhe.LookupParams(a.cfg.ParamSet)
		if err != nil {
			return mhe.Params{}, fmt.Errorf("%w: %w", ErrBadConfig, err)
		}
		lits = []mhe.ParamsLiteral{lit}
	default:
		lits = mhe.ParamSets()
	}
	var best mhe.Params
	bestBytes := -1
	for _, lit := range lits {
		if lit.MaxParties < n {
			continue
		}
		p, err := mhe.NewParams(lit)
		if err != nil {
			return mhe.Params{}, fmt.Errorf("%w: %w", ErrBadConfig, err)
		}
		b := p.Ciphertexts(d, bits) * p.CiphertextBytes()
		if bestBytes < 0 || b < bestBytes {
			best, bestBytes = p, b
		}
	}
	if bestBytes < 0 {
		return mhe.Params{}, fmt.Errorf("%w: no mhe parameter set supports %d parties", ErrBadRound, n)
	}
	return best, nil
}

// mheDerive derives 32 bytes from the round seed, a label and an index.
func mheDerive(spec RoundSpec, label string, i int) [32]byte {
	h := sha256.New()
	h.Write([]byte("consort/federated/mhe simulation " + label))
	var b [24]byte
	binary.LittleEndian.PutUint64(b[:], spec.Seed)
	binary.LittleEndian.PutUint64(b[8:], uint64(i))
	binary.LittleEndian.PutUint64(b[16:], spec.Round)
	h.Write(b[:])
	h.Write([]byte(spec.FederationID))
	return [32]byte(h.Sum(nil))
}

// seeds reads n 32-byte seeds from the configured randomness.
func (a *mheAgg) seeds(n int) ([][32]byte, error) {
	r := a.cfg.Rand
	if r == nil {
		r = crand.Reader
	}
	out := make([][32]byte, n)
	for i := range out {
		if _, err := io.ReadFull(r, out[i][:]); err != nil {
			return nil, fmt.Errorf("federated: mhe randomness: %w", err)
		}
	}
	return out, nil
}

// Aggregate implements [Aggregator].
func (a *mheAgg) Aggregate(ctx context.Context, spec RoundSpec) (RoundResult, error) {
	if err := spec.Validate(); err != nil {
		return RoundResult{}, err
	}
	if err := ctx.Err(); err != nil {
		return RoundResult{}, err
	}
	n, d := len(spec.Inputs), len(spec.Inputs[0])
	bits := a.cfg.QuantBits
	if bits == 0 {
		bits = 32
	}
	t := spec.Threshold
	if t == 0 {
		t = MHEThreshold(n)
	}
	p, err := a.mheParams(n, d, bits)
	if err != nil {
		return RoundResult{}, err
	}
	fedID := spec.FederationID
	if fedID == "" {
		fedID = "simulation"
	}
	if len(fedID) > 64 {
		h := sha256.Sum256([]byte(fedID))
		fedID = fmt.Sprintf("%x", h[:16])
	}
	fed, err := a.federation(ctx, fedID, n, t, p)
	if err != nil {
		return RoundResult{}, err
	}
	res := RoundResult{BytesUp: make([]int64, n), BytesDown: make([]int64, n)}
	a.mu.Lock()
	if !fed.reported {
		fed.reported = true
		copy(res.BytesUp, fed.setupUp)
		copy(res.BytesDown, fed.setupDown)
	}
	a.mu.Unlock()

	participants := make([]int, n)
	for i := range participants {
		participants[i] = i + 1
	}
	rc := mhe.RoundConfig{
		FederationID:    fedID,
		Round:           max(spec.Round, 1),
		Dim:             d,
		Participants:    participants,
		Bound:           spec.Bound,
		QuantBits:       bits,
		MinContributors: spec.Threshold,
	}
	agg, err := mhe.NewAggregator(fed.setup, rc)
	if err != nil {
		return RoundResult{}, fmt.Errorf("%w: %w", ErrBadRound, err)
	}
	private, err := a.seeds(n)
	if err != nil {
		return RoundResult{}, err
	}
	nodes := make([]*mhe.Node, n)
	uploads := make([][]mhe.Message, n)
	err = parallel(ctx, n, func(i int) error {
		if spec.Stage(i) == DropBeforeUpload {
			return nil
		}
		// The rounding seed comes from the round seed (runs repeat); the
		// encryption and smudging randomness from the private seed.
		qseed := mheDerive(spec, "rounding", i)
		rnd := io.MultiReader(bytes.NewReader(qseed[:]), rand.NewChaCha8(private[i]))
		nd, err := mhe.NewNode(fed.keys[i], rc, rnd)
		if err != nil {
			return err
		}
		nodes[i] = nd
		uploads[i], err = nd.Upload(spec.Inputs[i])
		return err
	})
	if err != nil {
		return RoundResult{}, err
	}
	alive := func(id int) bool { return id >= 1 && id <= n && spec.Stage(id-1) == DropNone }
	var queue []mhe.Message
	step := func(out []mhe.Message, err error) error {
		for _, m := range out {
			if m.From > 0 {
				res.BytesUp[m.From-1] += int64(len(m.Data))
			}
		}
		queue = append(queue, out...)
		return err
	}
	for i := range uploads {
		for _, m := range uploads[i] {
			res.BytesUp[i] += int64(len(m.Data))
			if err := step(agg.Step(m)); err != nil {
				return RoundResult{}, mheError(err)
			}
		}
	}
	if len(agg.Contributors()) < n {
		// The upload deadline fires for those who dropped before uploading.
		if err := step(agg.CloseUploads()); err != nil {
			return RoundResult{}, mheError(err)
		}
	}
	var nodeRes *mhe.Result
	for len(queue) > 0 {
		if err := ctx.Err(); err != nil {
			return RoundResult{}, err
		}
		// Deadlines fire for requests addressed to nodes that are gone; a new
		// attempt supersedes the pending requests.
		if i := slices.IndexFunc(queue, func(m mhe.Message) bool { return m.To > 0 && !alive(m.To) }); i >= 0 {
			id := queue[i].To
			queue = slices.DeleteFunc(queue, func(m mhe.Message) bool { return m.To == id })
			out, err := agg.Dropped(id)
			if err != nil {
				return RoundResult{}, mheError(err)
			}
			if len(out) > 0 {
				queue = out
			}
			continue
		}
		batch := queue
		queue = nil
		replies := make([][]mhe.Message, len(batch))
		decode := -1 // the one node that decrypts a result in the simulation
		for j, m := range batch {
			if k, _ := mhe.MessageKind(m.Data); k == mhe.KindResult && decode < 0 {
				decode = j
			}
		}
		err := parallel(ctx, len(batch), func(j int) error {
			m := batch[j]
			if m.To == 0 {
				return nil
			}
			if k, _ := mhe.MessageKind(m.Data); k == mhe.KindResult && j != decode {
				return nil // every live node would decode the same sum
			}
			out, err := nodes[m.To-1].Step(m)
			replies[j] = out
			return err
		})
		if err != nil {
			return RoundResult{}, mheError(err)
		}
		for j, m := range batch {
			if m.To == 0 {
				if err := step(agg.Step(m)); err != nil {
					return RoundResult{}, mheError(err)
				}
				continue
			}
			res.BytesDown[m.To-1] += int64(len(m.Data))
			if j == decode {
				if r, ok := nodes[m.To-1].Result(); ok {
					nodeRes = &r
				}
			}
			for _, out := range replies[j] {
				if out.From > 0 {
					res.BytesUp[out.From-1] += int64(len(out.Data))
				}
				if err := step(agg.Step(out)); err != nil {
					return RoundResult{}, mheError(err)
				}
			}
		}
	}
	r, ok := agg.Result()
	if !ok {
		return RoundResult{}, fmt.Errorf("federated: mhe round did not finish")
	}
	if a.cfg.NodesLearnResult {
		if nodeRes == nil {
			return RoundResult{}, fmt.Errorf("federated: no node decrypted the mhe result")
		}
		r.Sum = nodeRes.Sum
	}
	res.Sum = r.Sum
	res.Contributors = make([]int, len(r.Contributors))
	for i, id := range r.Contributors {
		res.Contributors[i] = id - 1
	}
	return res, nil
}

// mheError classifies a protocol error: too few live parties becomes
// ErrTooFewContributors.
func mheError(err error) error {
	if errors.Is(err, mpc.ErrTooFewParties) {
		return fmt.Errorf("%w: %w", ErrTooFewContributors, err)
	}
	return fmt.Errorf("federated: mhe round: %w", err)
}

// federation returns the set-up federation, running the setup (or loading
// the persisted keys) the first time.
func (a *mheAgg) federation(ctx context.Context, fedID string, n, t int, p mhe.Params) (*mheFed, error) {
	key := mheFedKey{fed: fedID, n: n, t: t, params: p.Name()}
	a.mu.Lock()
	defer a.mu.Unlock()
	if f, ok := a.feds[key]; ok {
		return f, nil
	}
	crs := sha256.Sum256(fmt.Appendf(nil, "consort/federated/mhe crs %s %d %d", fedID, n, t))
	cfg := mhe.SetupConfig{Params: p, FederationID: fedID, Parties: n, Threshold: t, CRS: crs}
	if a.cfg.NodesLearnResult {
		cfg.Recipient = mhe.RecipientNodes
	}
	f := &mheFed{setup: cfg}
	if a.cfg.StateDir != "" {
		if keys, ok := a.loadKeys(key, cfg); ok {
			f.keys = keys
			f.reported = true
			a.feds[key] = f
			return f, nil
		}
	}
	if err := a.runSetup(ctx, f); err != nil {
		return nil, err
	}
	if a.cfg.StateDir != "" {
		if err := os.MkdirAll(a.cfg.StateDir, 0o700); err != nil {
			return nil, err
		}
		for i, km := range f.keys {
			if err := WriteMHEKey(a.keyPath(key, i+1), km); err != nil {
				return nil, err
			}
		}
	}
	a.feds[key] = f
	return f, nil
}

func (a *mheAgg) keyPath(k mheFedKey, id int) string {
	h := sha256.Sum256([]byte(k.fed))
	return filepath.Join(a.cfg.StateDir, fmt.Sprintf("mhe-%x-n%d-t%d-%s-node%d.key", h[:8], k.n, k.t, k.params, id))
}

// loadKeys reads every node's persisted key material, if all of it is there
// and agrees with the configuration.
func (a *mheAgg) loadKeys(k mheFedKey, cfg mhe.SetupConfig) ([]*mhe.KeyMaterial, bool) {
	keys := make([]*mhe.KeyMaterial, k.n)
	var digest [32]byte
	for i := range keys {
		km, err := ReadMHEKey(a.keyPath(k, i+1), cfg.Params)
		if err != nil || km.FederationID() != cfg.FederationID || km.PartyID() != i+1 || km.Parties() != k.n || km.Threshold() != k.t || km.Recipient() != cfg.Recipient {
			return nil, false
		}
		if d := km.PublicKeyDigest(); i == 0 {
			digest = d
		} else if d != digest {
			return nil, false
		}
		keys[i] = km
	}
	return keys, true
}

// runSetup runs the key setup of every simulated node and the aggregator,
// one superstep at a time: each node's inbox is processed in parallel, the
// aggregator's in order.
func (a *mheAgg) runSetup(ctx context.Context, f *mheFed) error {
	cfg := f.setup
	n := cfg.Parties
	seeds, err := a.seeds(n)
	if err != nil {
		return err
	}
	agg, err := mhe.NewSetupAggregator(cfg)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadRound, err)
	}
	nodes := make([]*mhe.SetupNode, n)
	outs := make([][]mhe.Message, n+1)
	f.setupUp, f.setupDown = make([]int64, n), make([]int64, n)
	err = parallel(ctx, n, func(i int) error {
		nd, err := mhe.NewSetupNode(cfg, i+1, nil, rand.NewChaCha8(seeds[i]))
		if err != nil {
			return err
		}
		nodes[i] = nd
		outs[i+1], err = nd.Start()
		return err
	})
	if err != nil {
		return err
	}
	for {
		inbox := make([][]mhe.Message, n+1)
		pending := 0
		for _, out := range outs {
			for _, m := range out {
				if m.From > 0 {
					f.setupUp[m.From-1] += int64(len(m.Data))
				}
				if m.To > 0 {
					f.setupDown[m.To-1] += int64(len(m.Data))
				}
				inbox[m.To] = append(inbox[m.To], m)
				pending++
			}
		}
		if pending == 0 {
			break
		}
		outs = make([][]mhe.Message, n+1)
		for _, m := range inbox[0] {
			out, err := agg.Step(m)
			if err != nil {
				return fmt.Errorf("federated: mhe setup: %w", err)
			}
			outs[0] = append(outs[0], out...)
		}
		err := parallel(ctx, n, func(i int) error {
			for _, m := range inbox[i+1] {
				out, err := nodes[i].Step(m)
				if err != nil {
					return fmt.Errorf("federated: mhe setup: %w", err)
				}
				outs[i+1] = append(outs[i+1], out...)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	for i, nd := range nodes {
		km, ok := nd.KeyMaterial()
		if !ok {
			return fmt.Errorf("federated: mhe setup of node %d did not complete", i+1)
		}
		f.keys = append(f.keys, km)
	}
	return nil
}

// ErrKeyFile marks a key file that cannot be used: unreadable, readable by
// group or others, or not decodable.
var ErrKeyFile = errors.New("federated: bad key file")

// WriteMHEKey writes a node's mhe key material to path with mode 0600,
// atomically (WriteFileAtomic).
func WriteMHEKey(path string, km *mhe.KeyMaterial) error {
	b, err := km.MarshalBinary()
	if err != nil {
		return err
	}
	return WriteFileAtomic(path, b, 0o600)
}

// ReadMHEKey reads key material written by [WriteMHEKey] for the parameter
// set p. Like ssh, it refuses a file that group or others may read.
func ReadMHEKey(path string, p mhe.Params) (*mhe.KeyMaterial, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeyFile, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeyFile, err)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o, want 0600", ErrKeyFile, path, perm)
	}
	const maxKeyFile = 1 << 28
	if st.Size() > maxKeyFile {
		return nil, fmt.Errorf("%w: %s has %d bytes", ErrKeyFile, path, st.Size())
	}
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFile))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeyFile, err)
	}
	km, err := mhe.UnmarshalKeyMaterial(p, b)
	clear(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrKeyFile, path, err)
	}
	return km, nil
}
