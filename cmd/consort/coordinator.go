package main

import (
	"context"
	"encoding/hex"
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
	fs := newFlagSet("coordinator", "coordinator --manifest M --key K [--listen ADDR] [--state DIR] [--rounds R]")
	manifestPath := fs.String("manifest", "", "signed federation manifest (required)")
	keyPath := fs.String("key", "", "the coordinator's identity key file (required)")
	listen := fs.String("listen", "", "multiaddrs to listen on, comma-separated (default: the manifest's addresses for this member)")
	state := fs.String("state", "", "directory for the checkpoint and the final model (resumes from it)")
	rounds := fs.Int("rounds", 0, "training rounds (default: the manifest's)")
	protocol := fs.String("protocol", "", "aggregation protocol (default: the manifest's first)")
	stepTimeout := fs.Duration("step-timeout", 30*time.Second, "deadline of each protocol step")
	metrics := fs.String("metrics", "", "serve Prometheus metrics on this address (host:port)")
	auditPath := fs.String("audit", "", "signed, hash-chained audit log (default: STATE/audit.log when --state is set)")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	logJSON := fs.Bool("log-json", false, "structured logs as JSON lines")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	log, err := newLogger(stderr, *logLevel, *logJSON)
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
	if *rounds > 0 {
		r = *rounds
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
	m := federated.NewMetrics("coordinator")
	m.ExportTransport(ps.host)
	if err := serveMetrics(ctx, *metrics, m, log); err != nil {
		return err
	}
	alog, err := openAudit(*auditPath, *state, ps, "coordinator")
	if err != nil {
		return err
	}
	if alog != nil {
		defer alog.Close()
	}
	tty := isTerminal(stdout)
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
		fmt.Fprintf(stdout, "resuming after round %d\n", c.Round())
	}
	mf, err := federated.RunCoordinator(ctx, c, ps.host, federated.CoordinatorIO{
		StateDir: *state, Audit: alog, Metrics: m, Logger: log, Queued: true, SendTimeout: *stepTimeout,
		Progress: func(rep *engine.RoundReport) {
			fmt.Fprint(stdout, progressLine(*rep, tty))
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
		fmt.Fprintln(stdout, s)
	}
	fmt.Fprintf(stdout, "training done: %d rounds, %d parameters\n", mf.Round, len(mf.Params))
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
