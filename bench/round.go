package bench

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/consort-ml/consort/federated"
	"github.com/consort-ml/consort/federated/data"
	"github.com/consort-ml/consort/federated/engine"
	"github.com/consort-ml/consort/federated/model"
	"github.com/consort-ml/consort/transport"
	"github.com/consort-ml/consort/transport/identity"
	"github.com/consort-ml/consort/transport/p2p"
)

// Round-benchmark targets (issue 6): a secure round over libp2p within these
// multiples of a plain round.
const (
	RoundSecAggTarget = 2.0
	RoundMHETarget    = 5.0
)

// ErrRoundConfig marks an invalid RoundBenchConfig.
var ErrRoundConfig = errors.New("bench: bad round config")

// RoundBenchConfig describes the networked round benchmark: a coordinator and
// Nodes nodes, each its own libp2p host on 127.0.0.1 (TCP), run the real
// drivers of package federated for one training round of a model with about
// Dim parameters (an MLP Features-Hidden-2), once per protocol. Training is
// on a handful of synthetic rows per node, so the round time is the
// protocol's and the network's.
type RoundBenchConfig struct {
	// Nodes is the number of nodes (default 10).
	Nodes int
	// Features and Hidden size the MLP: Features*Hidden + Hidden + 2*Hidden + 2
	// parameters (default 1024 and 1024: 1,051,650, about 2^20).
	Features, Hidden int
	// Rows is the number of training rows per node (default 16).
	Rows int
	// Protocols to run (default plain, secagg, mhe); plain is the baseline
	// the others are compared with.
	Protocols []string
	// StepTimeout bounds each protocol step (default 2 min).
	StepTimeout time.Duration
	// Logger, if set, receives the drivers' and hosts' logs.
	Logger *slog.Logger
}

// DefaultRoundBenchConfig returns the configuration: 10 nodes and
// 2^20 parameters.
func DefaultRoundBenchConfig() RoundBenchConfig {
	return RoundBenchConfig{Nodes: 10, Features: 1024, Hidden: 1024, Rows: 16,
		Protocols: []string{"plain", "secagg", "mhe"}, StepTimeout: 2 * time.Minute}
}

// Validate checks the configuration.
func (c RoundBenchConfig) Validate() error {
	if c.Nodes < 2 || c.Nodes > 64 || c.Features < 1 || c.Hidden < 1 || c.Rows < 2 || len(c.Protocols) == 0 || c.StepTimeout <= 0 {
		return fmt.Errorf("%w: need 2..64 nodes, positive sizes, rows >= 2, a protocol and a timeout", ErrRoundConfig)
	}
	return nil
}

// RoundBenchResult is one protocol's round.
type RoundBenchResult struct {
	Protocol string
	Params   int
	// Seconds is the training round's duration at the coordinator (from
	// RoundStart to the released aggregate and the nodes' metrics).
	Seconds float64
	// BytesPerNode is the protocol payload a node uploaded in the round.
	BytesPerNode float64
	// Ratio is Seconds over the plain round's (0 without a plain run).
	Ratio  float64
	Target float64
}

// RunRound runs the round benchmark and prints a table.
func RunRound(cfg RoundBenchConfig, w io.Writer) ([]RoundBenchResult, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var out []RoundBenchResult
	var plain float64
	for _, proto := range cfg.Protocols {
		r, err := roundOnce(cfg, proto)
		if err != nil {
			return out, fmt.Errorf("%s: %w", proto, err)
		}
		if proto == "plain" {
			plain = r.Seconds
		}
		switch proto {
		case "secagg":
			r.Target = RoundSecAggTarget
		case "mhe":
			r.Target = RoundMHETarget
		}
		out = append(out, r)
	}
	fmt.Fprintf(w, "%8s %9s %9s %14s %8s %8s %5s\n", "protocol", "params", "round s", "bytes/node", "x plain", "target", "pass")
	for i := range out {
		r := &out[i]
		if plain > 0 {
			r.Ratio = r.Seconds / plain
		}
		target, pass := "-", "-"
		if plain > 0 {
			target, pass = verdict("<=", r.Target, r.Ratio <= r.Target)
		}
		fmt.Fprintf(w, "%8s %9d %9.3f %14.0f %8.2f %8s %5s\n", r.Protocol, r.Params, r.Seconds, r.BytesPerNode, r.Ratio, target, pass)
	}
	fmt.Fprintf(w, "%d nodes and a coordinator, each a libp2p host on 127.0.0.1; one training round after any key setup; ratio to the plain round of this run.\n", cfg.Nodes)
	return out, nil
}

// roundOnce runs one federation of one round with the given protocol.
func roundOnce(cfg RoundBenchConfig, protocol string) (RoundBenchResult, error) {
	spec := model.Spec{Kind: "mlp", Hidden: []int{cfg.Hidden}}
	m, err := model.New(spec, cfg.Features, 2, 1)
	if err != nil {
		return RoundBenchResult{}, err
	}
	types, err := engine.MessageTypes(m.NumParams(), cfg.Nodes)
	if err != nil {
		return RoundBenchResult{}, err
	}
	ids := make([]*identity.Identity, cfg.Nodes+1)
	allow := p2p.StaticAllowList{}
	var nodes []transport.PeerID
	for i := range ids {
		if ids[i], err = identity.Generate(rand.Reader); err != nil {
			return RoundBenchResult{}, err
		}
		allow[ids[i].PeerID()] = []string{"*"}
		if i > 0 {
			nodes = append(nodes, ids[i].PeerID())
		}
	}
	const fed = "bench-round"
	hosts := make([]*p2p.Host, len(ids))
	for i, id := range ids {
		h, err := p2p.New(p2p.Config{Identity: id, FederationID: fed, Types: types, AllowList: allow,
			ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, StreamTimeout: cfg.StepTimeout, Logger: cfg.Logger})
		if err != nil {
			return RoundBenchResult{}, err
		}
		defer h.Close()
		hosts[i] = h
	}
	for i := 1; i < len(hosts); i++ {
		if err := hosts[i].AddPeer(ids[0].PeerID(), hosts[0].Addrs()...); err != nil {
			return RoundBenchResult{}, err
		}
	}
	state, err := os.MkdirTemp("", "consort-bench-round-*")
	if err != nil {
		return RoundBenchResult{}, err
	}
	defer os.RemoveAll(state)
	threshold := max(2, cfg.Nodes*2/3)
	fedCfg := engine.Federation{
		ID: fed, Nodes: nodes, MinParticipants: cfg.Nodes, Threshold: threshold, Protocol: protocol,
		Rounds: 1, Model: spec, Features: cfg.Features, Classes: 2,
	}
	coord, err := engine.NewCoordinator(engine.CoordinatorConfig{Federation: fedCfg, Seed: 1, StepTimeout: cfg.StepTimeout, Logger: cfg.Logger})
	if err != nil {
		return RoundBenchResult{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*cfg.StepTimeout)
	defer cancel()
	errs := make(chan error, cfg.Nodes)
	for i := 1; i <= cfg.Nodes; i++ {
		train := roundData(cfg, uint64(i))
		n, err := engine.NewNode(engine.NodeConfig{
			Federation: fedCfg, Self: ids[i].PeerID(), Coordinator: ids[0].PeerID(), Signer: ids[i].Signer(),
			Train: train, Test: train, Seed: uint64(i), Rand: rand.Reader, Logger: cfg.Logger,
		})
		if err != nil {
			return RoundBenchResult{}, err
		}
		go func() {
			_, err := federated.RunNode(ctx, n, hosts[i], ids[0].PeerID(), federated.NodeIO{
				StateDir: filepath.Join(state, fmt.Sprint(i)), Logger: cfg.Logger, SendTimeout: cfg.StepTimeout})
			errs <- err
		}()
	}
	if _, err := federated.RunCoordinator(ctx, coord, hosts[0], federated.CoordinatorIO{Logger: cfg.Logger, Queued: true, SendTimeout: cfg.StepTimeout}); err != nil {
		return RoundBenchResult{}, err
	}
	for range cfg.Nodes {
		if err := <-errs; err != nil {
			return RoundBenchResult{}, err
		}
	}
	h := coord.History()
	if len(h) != 1 {
		return RoundBenchResult{}, fmt.Errorf("%d rounds recorded", len(h))
	}
	return RoundBenchResult{Protocol: protocol, Params: m.NumParams(), Seconds: h[0].Seconds,
		BytesPerNode: float64(h[0].BytesUp) / float64(h[0].Participants)}, nil
}

// roundData makes a node's synthetic rows (two Gaussian classes).
func roundData(cfg RoundBenchConfig, seed uint64) *data.Dataset {
	rng := mrand.New(mrand.NewPCG(seed, 7))
	ds := &data.Dataset{Name: "synthetic", Features: cfg.Features, Classes: 2, ClassNames: []string{"0", "1"}}
	for i := range cfg.Rows {
		y := i % 2
		for range cfg.Features {
			ds.X = append(ds.X, float32(rng.NormFloat64()+float64(y)*0.5))
		}
		ds.Y = append(ds.Y, y)
	}
	return ds
}
