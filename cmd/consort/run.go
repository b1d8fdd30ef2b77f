package main

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/consort-ml/consort/federated"
	"github.com/consort-ml/consort/federated/audit"
	"github.com/consort-ml/consort/federated/data"
	"github.com/consort-ml/consort/federated/engine"
	"github.com/consort-ml/consort/federated/manifest"
	"github.com/consort-ml/consort/federated/model"
	"github.com/consort-ml/consort/federated/strategy"
	"github.com/consort-ml/consort/internal/ratelog"
	"github.com/consort-ml/consort/internal/statedir"
	"github.com/consort-ml/consort/transport"
	"github.com/consort-ml/consort/transport/identity"
	"github.com/consort-ml/consort/transport/p2p"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// peerSetup is what the coordinator and node commands share: the verified
// manifest, the identity, the model shape and the libp2p host.
type peerSetup struct {
	m        *manifest.Manifest
	id       *identity.Identity
	self     manifest.Member
	spec     model.Spec
	features int
	classes  []string
	host     *p2p.Host
}

// loadPeer loads and checks the key and the manifest for the given role.
func loadPeer(keyPath, manifestPath string, role manifest.Role) (*peerSetup, error) {
	if keyPath == "" || manifestPath == "" {
		return nil, usagef("--key and --manifest are required")
	}
	id, err := identity.LoadFile(keyPath)
	if err != nil {
		return nil, usageError(err)
	}
	m, err := manifest.Load(manifestPath)
	if err != nil {
		return nil, usageError(err)
	}
	self, err := m.VerifyMember(time.Now(), id.PeerID())
	if err != nil {
		return nil, usageError(err)
	}
	if self.Role != role {
		return nil, withCode(fmt.Errorf("this key is the manifest's %s %q, not a %s", self.Role, self.Name, role), exitRefused)
	}
	ps := &peerSetup{m: m, id: id, self: self}
	ps.spec = model.Spec{Kind: m.Model.Kind, Hidden: m.Model.Hidden}
	if err := ps.spec.Validate(); err != nil {
		return nil, usageError(err)
	}
	ps.features = m.Data.InputWidth()
	ps.classes = m.Data.Classes
	if (ps.features == 0 || len(ps.classes) == 0) && m.Data.Dataset != "" && !strings.HasPrefix(m.Data.Dataset, "csv:") {
		// A bundled data set is public: its shape can be read from it.
		ds, err := data.Load(m.Data.Dataset, data.LoadOptions{})
		if err != nil {
			return nil, usageError(err)
		}
		if ps.features == 0 {
			ps.features = ds.Features
		}
		if len(ps.classes) == 0 {
			ps.classes = ds.ClassNames
		}
	}
	if ps.features == 0 || len(ps.classes) < 2 {
		return nil, usagef("the manifest must declare data.features and data.classes (at least 2)")
	}
	return ps, nil
}

// startHost starts the libp2p host with the manifest as its allow list.
func (ps *peerSetup) startHost(listen []string, logger *slog.Logger) error {
	mod, err := model.New(ps.spec, ps.features, len(ps.classes), 0)
	if err != nil {
		return usageError(err)
	}
	types, err := engine.MessageTypes(mod.NumParams(), len(ps.m.Nodes()))
	if err != nil {
		return err
	}
	h, err := p2p.New(p2p.Config{
		Identity: ps.id, FederationID: ps.m.Federation, ManifestDigest: ps.m.Digest(),
		Types: types, AllowList: ps.m, ListenAddrs: listen, Logger: logger,
	})
	if err != nil {
		return err
	}
	ps.host = h
	return nil
}

// protocolFor picks the protocol: the flag if given (it must be allowed by
// the manifest), else the manifest's first.
func (ps *peerSetup) protocolFor(flagValue string) (string, error) {
	p := flagValue
	if p == "" {
		if len(ps.m.Protocols) == 0 {
			return "", usagef("the manifest allows no protocol")
		}
		p = ps.m.Protocols[0]
	}
	if !ps.m.Allows(p) {
		return "", withCode(fmt.Errorf("the manifest does not allow protocol %q (it allows %s)", p, strings.Join(ps.m.Protocols, ", ")), exitRefused)
	}
	return p, nil
}

// federation derives the engine's federation settings from the signed
// manifest: the one place where manifest fields become round parameters, for
// the coordinator and every node alike.
func (ps *peerSetup) federation() engine.Federation {
	t := ps.m.Training
	return engine.Federation{
		ID: ps.m.Federation, Nodes: peerIDs(ps.m.Nodes()), Threshold: ps.m.Threshold, MinParticipants: ps.m.MinParticipants,
		Protocols: ps.m.Protocols, Rounds: t.Rounds, Model: ps.spec, Features: ps.features, Classes: len(ps.classes),
		Train:    engine.TrainSettings{LocalEpochs: t.LocalEpochs, BatchSize: t.BatchSize, LR: float32(t.LearningRate), Momentum: 0.9},
		Strategy: strategy.Config{Name: t.Strategy, Mu: float32(t.ProxMu), ServerLR: float32(t.ServerLR)},
		DP:       engine.DPConfig{Clip: ps.m.DP.Clip, NoiseMultiplier: ps.m.DP.NoiseMultiplier, Delta: ps.m.DP.Delta, EpsilonBudget: ps.m.DP.Epsilon},
		// Networked federations standardise features with the federation's
		// statistics, released through the protection protocol, except
		// under differential privacy: those releases carry no noise, so a
		// DP federation releases nothing but noised training aggregates
		// (its features must come standardised, or be declared so).
		Standardize: !(ps.m.DP.Clip > 0),
	}
}

// newLogger returns a JSON or text slog logger on w at the given level.
func newLogger(w io.Writer, level string, json bool) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, usagef("--log-level: %v", err)
	}
	o := &slog.HandlerOptions{Level: l}
	var h slog.Handler = slog.NewTextHandler(w, o)
	if json {
		h = slog.NewJSONHandler(w, o)
	}
	// Warnings about peers are rate-limited per peer and message: a member
	// sending garbage cannot fill the disk with log lines.
	return slog.New(ratelog.New(h, ratelog.Options{})), nil
}

// serveMetrics serves the Prometheus registry on addr until ctx ends.
func serveMetrics(ctx context.Context, addr string, m *federated.Metrics, log *slog.Logger) error {
	if addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return withCode(fmt.Errorf("--metrics %s: address already in use", addr), exitBusy)
	}
	if err != nil {
		return usagef("--metrics: %v", err)
	}
	bv := readBuildVersion()
	m.SetBuildInfo(bv.Version, bv.Revision, bv.Go)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		// The process is up and serving: its state machine runs on.
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintln(w, "ok")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("metrics server stopped", "err", err)
		}
	}()
	log.Info("metrics", "addr", ln.Addr().String())
	return nil
}

// lockState takes the advisory lock of a state directory, creating it
// (mode 0700); "" locks nothing. The lock is held until the process exits:
// two processes on one state directory would corrupt its audit log.
func lockState(dir string) (*statedir.Lock, error) {
	if dir == "" {
		return nil, nil
	}
	return statedir.Acquire(dir)
}

// isTerminal reports whether w is a character device (progress bars then).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progressLine renders one round's progress as one line of text.
func progressLine(r federated.RoundReport) string {
	acc := "n/a"
	if r.Accuracy >= 0 {
		acc = fmt.Sprintf("%.4f", r.Accuracy)
	}
	line := fmt.Sprintf("round %d/%d  contributors %d/%d  accuracy %s  %.2fs", r.Round, r.Rounds, r.Contributors, r.Participants, acc, r.Seconds)
	if r.Epsilon > 0 {
		line += fmt.Sprintf("  epsilon %.3f", r.Epsilon)
	}
	return line
}

// progressBar renders one round's progress as a bar and its line.
func progressBar(r federated.RoundReport) string {
	const width = 24
	done := min(width*r.Round/max(r.Rounds, 1), width)
	return fmt.Sprintf("[%s%s] %s", strings.Repeat("#", done), strings.Repeat(".", width-done), progressLine(r))
}

// eraseLine returns the cursor to the start of the line and clears it
// (ANSI EL).
const eraseLine = "\r\x1b[K"

// progress prints the coordinator's per-round progress on stdout. When
// stdout is a terminal it is one bar redrawn in place; when stderr (the
// logs) is the same terminal, every log line first erases the bar and the
// bar is drawn again under it, so log lines and the bar never share a line.
// When stdout is not a terminal (a file, a pipe, the demo) it is one plain
// line per round.
type progress struct {
	mu  sync.Mutex
	out io.Writer
	tty bool
	bar string // the bar on screen, "" when none
}

// newProgress returns the progress printer for stdout and the writer the
// logger must use in place of stderr.
func newProgress(stdout, stderr io.Writer) (*progress, io.Writer) {
	p := &progress{out: stdout, tty: isTerminal(stdout)}
	if p.tty && isTerminal(stderr) {
		return p, &barClearingWriter{p: p, w: stderr}
	}
	return p, stderr
}

// Round prints one round.
func (p *progress) Round(r federated.RoundReport) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.tty {
		fmt.Fprintln(p.out, progressLine(r))
		return
	}
	p.bar = progressBar(r)
	fmt.Fprint(p.out, eraseLine+p.bar)
	if r.Round >= r.Rounds {
		fmt.Fprintln(p.out)
		p.bar = ""
	}
}

// Println prints a line of text, below the bar's last state.
func (p *progress) Println(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != "" {
		fmt.Fprintln(p.out)
		p.bar = ""
	}
	fmt.Fprintln(p.out, line)
}

// barClearingWriter writes log lines to the terminal the bar is on: it
// erases the bar, writes the line, and draws the bar again.
type barClearingWriter struct {
	p *progress
	w io.Writer
}

func (b *barClearingWriter) Write(line []byte) (int, error) {
	b.p.mu.Lock()
	defer b.p.mu.Unlock()
	if b.p.bar != "" {
		fmt.Fprint(b.p.out, eraseLine)
	}
	n, err := b.w.Write(line)
	if b.p.bar != "" {
		fmt.Fprint(b.p.out, b.p.bar)
	}
	return n, err
}

// peerIDs lists the peer IDs of members.
func peerIDs(ms []manifest.Member) []transport.PeerID {
	out := make([]transport.PeerID, len(ms))
	for i, m := range ms {
		out[i] = transport.PeerID(m.PeerID)
	}
	return out
}

// openAudit opens the audit log at path, or STATE/audit.log when path is
// empty and a state directory is set; nil when neither is.
func openAudit(path, state string, ps *peerSetup, role string) (*audit.Log, error) {
	if path == "" && state != "" {
		if err := os.MkdirAll(state, 0o700); err != nil {
			return nil, err
		}
		path = filepath.Join(state, "audit.log")
	}
	if path == "" {
		return nil, nil
	}
	l, err := audit.Open(path, auditSigner{ps.id}, audit.Options{Actor: string(ps.id.PeerID()), Role: role, Federation: ps.m.Federation})
	if err != nil {
		return nil, fmt.Errorf("audit log %s: %w", path, err)
	}
	return l, nil
}

// auditSigner adapts an identity to crypto.Signer (Ed25519 signs messages,
// not digests).
type auditSigner struct{ id *identity.Identity }

func (a auditSigner) Public() crypto.PublicKey { return a.id.PublicKey() }
func (a auditSigner) Sign(_ io.Reader, msg []byte, _ crypto.SignerOpts) ([]byte, error) {
	return a.id.Sign(msg), nil
}
