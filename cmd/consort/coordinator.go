package main

import (
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/consort-ml/consort/federated"
	"github.com/consort-ml/consort/federated/engine"
	"github.com/consort-ml/consort/federated/manifest"
)

// runCoordinator runs a federation's coordinator until all rounds are done.
func runCoordinator(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("coordinator", "coordinator --manifest M --key K [--listen ADDR] [--state DIR] [--rounds R]",
		"consort coordinator --manifest manifest.toml --key coordinator.key --state coord-state",
		"consort coordinator --manifest manifest.toml --key coordinator.key --state coord-state \\\n    --listen /ip4/0.0.0.0/tcp/4001 --metrics 127.0.0.1:9090 --rounds 10")
	manifestPath := fs.String("manifest", "", "signed federation manifest (required)")
	keyPath := fs.String("key", "", "the coordinator's identity key file (required)")
	listen := fs.String("listen", "", "multiaddrs to listen on, comma-separated (default: the manifest's addresses for this member)")
	state := fs.String("state", "", "directory for the checkpoint, audit log, metrics.csv and final model (resumes from it; locked while running)")
	rounds := fs.Int("rounds", 0, "training rounds, at least 1 and at most the manifest's (default: the manifest's)")
	protocol := fs.String("protocol", "", "aggregation protocol (default: the manifest's first)")
	stepTimeout := fs.Duration("step-timeout", 30*time.Second, "deadline of each protocol step")
	metrics := fs.String("metrics", "", "serve Prometheus metrics on this address (host:port)")
	auditPath := fs.String("audit", "", "signed, hash-chained audit log (default: STATE/audit.log when --state is set)")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	logJSON := fs.Bool("log-json", false, "structured logs as JSON lines")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	roundsSet := false
	fs.Visit(func(f *flag.Flag) { roundsSet = roundsSet || f.Name == "rounds" })
	if roundsSet && *rounds < 1 {
		return usagef("--rounds must be at least 1 (got %d)", *rounds)
	}
	bar, logOut := newProgress(stdout, stderr)
	log, err := newLogger(logOut, *logLevel, *logJSON)
	if err != nil {
		return err
	}
	ps, err := loadPeer(*keyPath, *manifestPath, manifest.RoleCoordinator)
	if err != nil {
		return err
	}
	proto, err := ps.protocolFor(*protocol)
	if err != nil {
		return err
	}
	r := ps.m.Training.Rounds
	if roundsSet {
		if r > 0 && *rounds > r {
			// Nodes refuse rounds beyond the signed manifest's: say so now,
			// not after the manifest's rounds have run.
			return withCode(fmt.Errorf("--rounds %d is more than the manifest's %d rounds (nodes refuse rounds beyond it)", *rounds, r), exitRefused)
		}
		r = *rounds
	}
	if r < 1 {
		return usagef("the manifest sets no training rounds: give --rounds")
	}
	// One coordinator per state directory, then one per port.
	lock, err := lockState(*state)
	if err != nil {
		return err
	}
	defer lock.Release()
	m := federated.NewMetrics("coordinator")
	if err := serveMetrics(ctx, *metrics, m, log); err != nil {
		return err
	}
	addrs := ps.self.Addrs
	if *listen != "" {
		addrs = strings.Split(*listen, ",")
	}
	if err := ps.startHost(addrs, log); err != nil {
		return err
	}
	defer ps.host.Close()
	log.Info("coordinator listening", "peer", ps.id.PeerID(), "addrs", strings.Join(ps.host.Addrs(), ","), "protocol", proto)
	m.ExportTransport(ps.host)
	alog, err := openAudit(*auditPath, *state, ps, "coordinator")
	if err != nil {
		return err
	}
	if alog != nil {
		defer alog.Close()
	}
	if *state != "" {
		bar.Println(fmt.Sprintf("state directory %s (checkpoint, audit.log, metrics.csv, model.consort)", *state))
	} else {
		bar.Println("no --state: no checkpoint, metrics.csv or final model will be written")
	}
	fed := ps.federation()
	fed.Protocol, fed.Rounds = proto, r
	resume, err := federated.LoadCheckpoint(*state)
	if err != nil {
		return usageError(err)
	}
	c, err := engine.NewCoordinator(engine.CoordinatorConfig{
		Federation: fed, ManifestDigest: hex.EncodeToString(ps.m.Digest()), Seed: 1, StepTimeout: *stepTimeout,
		FeatureNames: ps.m.Data.InputNames(), ClassNames: ps.classes, Label: ps.m.Data.Label,
		Resume: resume, Logger: log,
	})
	if err != nil {
		return usageError(err)
	}
	if c.Round() > 0 {
		bar.Println(fmt.Sprintf("resuming after round %d", c.Round()))
	}
	mf, err := federated.RunCoordinator(ctx, c, ps.host, federated.CoordinatorIO{
		StateDir: *state, Audit: alog, Metrics: m, Logger: log, Queued: true, SendTimeout: *stepTimeout,
		Progress: func(rep *engine.RoundReport) {
			bar.Round(*rep)
			if *state != "" {
				if err := appendMetricsCSV(filepath.Join(*state, "metrics.csv"), *rep); err != nil {
					log.Warn("metrics.csv", "err", err)
				}
			}
		},
	})
	if err != nil {
		return classify(err)
	}
	if s := c.Stopped(); s != "" {
		bar.Println(s)
	}
	bar.Println(fmt.Sprintf("training done: %d rounds, %d parameters", mf.Round, len(mf.Params)))
	if *state != "" {
		bar.Println(fmt.Sprintf("model written to %s; metrics in %s", filepath.Join(*state, "model.consort"), filepath.Join(*state, "metrics.csv")))
	}
	return nil
}

// appendMetricsCSV appends one round to the coordinator's metrics file
// (header written when the file is new).
func appendMetricsCSV(path string, r engine.RoundReport) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() == 0 {
		fmt.Fprintln(f, "round,participants,contributors,accuracy,loss,bytes_up,seconds,epsilon")
	}
	_, err = fmt.Fprintf(f, "%d,%d,%d,%.6f,%.6f,%d,%.4f,%.6g\n", r.Round, r.Participants, r.Contributors, r.Accuracy, r.Loss, r.BytesUp, r.Seconds, r.Epsilon)
	if err != nil {
		return err
	}
	return f.Sync()
}
