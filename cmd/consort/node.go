package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/consort-ml/consort/internal/atomicfile"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/consort-ml/consort/federated"
	"github.com/consort-ml/consort/federated/data"
	"github.com/consort-ml/consort/federated/engine"
	"github.com/consort-ml/consort/federated/manifest"
	"github.com/consort-ml/consort/federated/model"
	"github.com/consort-ml/consort/federated/policy"
	"github.com/consort-ml/consort/federated/trainer"
	"github.com/consort-ml/consort/federated/trainer/runner"
	"github.com/consort-ml/consort/transport"
)

// runNode runs a team's node beside its data until the federation finishes.
func runNode(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("node", "node --manifest M --key K --data FILE [--label COL] [--state DIR] [--coordinator ADDR] [--policy P]",
		"consort node --manifest manifest.toml --key team-a.key --data team-a.csv --state team-a-state",
		"consort node --manifest manifest.toml --key team-a.key --data team-a.csv --state team-a-state \\\n    --policy policy.toml --coordinator /ip4/203.0.113.7/tcp/4001 --join-timeout 0")
	manifestPath := fs.String("manifest", "", "signed federation manifest (required)")
	keyPath := fs.String("key", "", "this node's identity key file (required)")
	dataPath := fs.String("data", "", "this team's CSV file (header row; required)")
	label := fs.String("label", "", "label column (default: the manifest's)")
	state := fs.String("state", "", "directory for the final model, key material, audit log and resume state (locked while running)")
	coord := fs.String("coordinator", "", "the coordinator's multiaddr(s), comma-separated (default: the manifest's)")
	listen := fs.String("listen", "/ip4/127.0.0.1/tcp/0", "multiaddrs to listen on, comma-separated")
	policyPath := fs.String("policy", "", "node policy file (TOML); rounds that break it are refused")
	testFraction := fs.Float64("test-fraction", 0.2, "share of the team's rows held out to evaluate the global model")
	seed := fs.Uint64("seed", 1, "seed of local shuffling and the held-out split")
	joinTimeout := fs.Duration("join-timeout", time.Minute, "give up if the coordinator cannot be reached within this (0: wait for ever)")
	metrics := fs.String("metrics", "", "serve Prometheus metrics on this address (host:port)")
	auditPath := fs.String("audit", "", "signed, hash-chained audit log (default: STATE/audit.log when --state is set)")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	logJSON := fs.Bool("log-json", false, "structured logs as JSON lines")
	trainerCmd := fs.String("trainer", "", "run the team's own training program, e.g. 'python3 train.py' (sandboxed; see docs/trainer.md)")
	trainerFiles := fs.String("trainer-files", "", "the trainer's program files, comma-separated (hashed, pinned by the policy's [trainer] digest; default: the files named in --trainer)")
	trainerData := fs.String("trainer-data", "", "files and directories the trainer may read, comma-separated")
	testRand := fs.String("insecure-test-rand", "", "INSECURE, tests only (needs CONSORT_INSECURE_TEST=1): SEED:INDEX draws the node's keys, masks and noise like simulated party INDEX of a simulation with SEED")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	log, err := newLogger(stderr, *logLevel, *logJSON)
	if err != nil {
		return err
	}
	ps, err := loadPeer(*keyPath, *manifestPath, manifest.RoleNode)
	if err != nil {
		return err
	}
	if *dataPath == "" {
		return usagef("--data is required")
	}
	lab := *label
	if lab == "" {
		lab = ps.m.Data.Label
	}
	if lab == "" {
		return usagef("--label is required (the manifest names no label column)")
	}
	// Data minimisation: only the columns the manifest declares are read.
	schema := ps.m.Data.Schema()
	schema.Label = lab
	ds, err := data.LoadCSV(*dataPath, data.LoadOptions{Schema: schema})
	if err != nil {
		return usageError(err)
	}
	if ds.Features != ps.features {
		return usagef("%s has %d feature columns, the federation's model takes %d", *dataPath, ds.Features, ps.features)
	}
	if err := data.AlignClasses(ds, ps.classes); err != nil {
		return usageError(err)
	}
	train, test := ds, (*data.Dataset)(nil)
	if *testFraction > 0 {
		if train, test, err = data.Split(ds, *testFraction, *seed); err != nil {
			return usageError(err)
		}
	}
	var pol *policy.Policy
	if *policyPath != "" {
		if pol, err = policy.Load(*policyPath); err != nil {
			return usageError(err)
		}
	}
	// One node process per state directory.
	lock, err := lockState(*state)
	if err != nil {
		return err
	}
	defer lock.Release()
	m := federated.NewMetrics("node")
	if err := serveMetrics(ctx, *metrics, m, log); err != nil {
		return err
	}
	if err := ps.startHost(strings.Split(*listen, ","), log); err != nil {
		return err
	}
	defer ps.host.Close()
	coordinator := ps.m.Coordinator()
	addrs := coordinator.Addrs
	if *coord != "" {
		addrs = strings.Split(*coord, ",")
	}
	if len(addrs) == 0 {
		return usagef("no address for the coordinator: give --coordinator")
	}
	if err := ps.host.AddPeer(transport.PeerID(coordinator.PeerID), addrs...); err != nil {
		return usageError(err)
	}
	alog, err := openAudit(*auditPath, *state, ps, "node")
	if err != nil {
		return err
	}
	if alog != nil {
		defer alog.Close()
	}
	m.ExportTransport(ps.host)
	rnd, err := nodeRand(*testRand, log)
	if err != nil {
		return err
	}
	proc, trInfo, err := startTrainer(ctx, *trainerCmd, *trainerFiles, *trainerData, *keyPath, *state, pol, ps, log)
	if err != nil {
		return err
	}
	var tr trainer.Trainer // nil: the built-in model
	if proc != nil {
		defer proc.Close()
		tr = proc
	}
	nodeState, mheKey, err := federated.LoadNodeFiles(*state)
	if err != nil {
		return usageError(err)
	}
	n, err := engine.NewNode(engine.NodeConfig{
		Federation: ps.federation(), Purpose: ps.m.Purpose, Self: ps.id.PeerID(), Coordinator: transport.PeerID(coordinator.PeerID),
		Signer: ps.id.Signer(), Train: train, Test: test, Seed: *seed, Rand: rnd, Policy: pol,
		State: nodeState, MHEKey: mheKey, Label: lab, Logger: log, Trainer: tr, TrainerInfo: trInfo,
	})
	if err != nil {
		return usageError(err)
	}
	log.Info("node started", "peer", ps.id.PeerID(), "name", ps.self.Name, "examples", train.Len())
	start := time.Now()
	mf, err := federated.RunNode(ctx, n, ps.host, transport.PeerID(coordinator.PeerID), federated.NodeIO{
		StateDir: *state, Audit: alog, Metrics: m, Logger: log, JoinTimeout: *joinTimeout,
		Events: func(e engine.NodeEvent) {
			switch e.Kind {
			case "round-end":
				if e.Aborted {
					fmt.Fprintf(stdout, "round %d aborted (no aggregate released)\n", e.Round)
				} else if e.Round > 0 && e.Accuracy >= 0 {
					fmt.Fprintf(stdout, "round %d done  local held-out accuracy %.4f\n", e.Round, e.Accuracy)
				}
			case "refused":
				fmt.Fprintf(stdout, "refused attempt %d (%s)\n", e.Attempt, e.Code)
			}
		},
	})
	if err != nil {
		return classify(err)
	}
	st := ps.host.Stats()
	secs := time.Since(start).Seconds()
	fmt.Fprintf(stdout, "training done: %d rounds in %.1fs, sent %d bytes in %d messages\n", mf.Round, secs, st.Sent.Bytes, st.Sent.Messages)
	if *state != "" {
		sum, _ := json.Marshal(map[string]any{"name": ps.self.Name, "rounds": mf.Round, "seconds": secs,
			"bytes_sent": st.Sent.Bytes, "messages_sent": st.Sent.Messages, "bytes_received": st.Received.Bytes, "examples": train.Len()})
		if err := atomicfile.Write(filepath.Join(*state, "node-summary.json"), append(sum, '\n'), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "model written to %s; summary in %s\n", filepath.Join(*state, "model.consort"), filepath.Join(*state, "node-summary.json"))
	} else {
		fmt.Fprintln(stdout, "no --state: the final model was not written")
	}
	return nil
}

// nodeRand returns the node's source of private randomness: crypto/rand,
// or, for tests that compare a networked run with its simulation bit for
// bit, the simulation's deterministic stream (refused unless
// CONSORT_INSECURE_TEST=1).
func nodeRand(spec string, log *slog.Logger) (io.Reader, error) {
	if spec == "" {
		return rand.Reader, nil
	}
	if os.Getenv("CONSORT_INSECURE_TEST") != "1" {
		return nil, usagef("--insecure-test-rand makes every key and mask predictable; it needs CONSORT_INSECURE_TEST=1")
	}
	seedS, idxS, ok := strings.Cut(spec, ":")
	seed, err1 := strconv.ParseUint(seedS, 10, 64)
	idx, err2 := strconv.Atoi(idxS)
	if !ok || err1 != nil || err2 != nil || idx < 0 {
		return nil, usagef("--insecure-test-rand: want SEED:INDEX")
	}
	log.Warn("INSECURE: deterministic node randomness for tests")
	return federated.SimNodeRand(seed, idx), nil
}

// startTrainer starts the team's external trainer, if any, with the policy's
// [trainer] table (digest pin, sandbox rule, quotas); the node's key and state
// directory are never visible to it.
func startTrainer(ctx context.Context, argvFlag, filesFlag, dataFlag, keyPath, stateDir string, pol *policy.Policy, ps *peerSetup, log *slog.Logger) (*runner.Process, map[string]string, error) {
	if argvFlag == "" {
		return nil, nil, nil
	}
	argv, err := runner.ParseArgv(argvFlag)
	if err != nil {
		return nil, nil, usageError(err)
	}
	m, err := model.New(ps.spec, ps.features, len(ps.classes), 0)
	if err != nil {
		return nil, nil, usageError(err)
	}
	c := runner.Command{Argv: argv, Layout: model.Layout(m), Deny: []string{keyPath}, Stderr: os.Stderr}
	if stateDir != "" {
		c.Deny = append(c.Deny, stateDir)
	}
	if filesFlag != "" {
		c.Files = strings.Split(filesFlag, ",")
	} else {
		for _, a := range argv[1:] {
			if _, err := os.Stat(a); err == nil {
				c.Files = append(c.Files, a)
			}
		}
	}
	if dataFlag != "" {
		c.Data = strings.Split(dataFlag, ",")
	}
	if pol != nil {
		if err := pol.Trainer.Apply(&c); err != nil {
			return nil, nil, usageError(err)
		}
	}
	p, err := runner.Start(ctx, c)
	if err != nil {
		return nil, nil, usageError(err)
	}
	info := p.Info()
	digest := hex.EncodeToString(info.Digest[:])
	if info.Sandboxed {
		log.Info("trainer started", "digest", digest, "isolation", info.Isolation)
	} else {
		log.Warn("trainer runs WITHOUT a sandbox (the policy allows it on this machine)", "digest", digest)
	}
	return p, map[string]string{"digest": digest, "sandboxed": fmt.Sprint(info.Sandboxed)}, nil
}
