package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/consort-ml/consort/federated/data"
	"github.com/consort-ml/consort/federated/manifest"
	"github.com/consort-ml/consort/federated/model"
	"github.com/consort-ml/consort/internal/atomicfile"
	"github.com/consort-ml/consort/internal/statedir"
	"github.com/consort-ml/consort/transport/identity"
)

// demoTeams are the demonstration's teams.
var demoTeams = [...]string{"team-a", "team-b", "team-c"}

// runDemo runs the demonstration: in a fresh directory it makes identity keys
// and a signed manifest for a coordinator and three teams, splits a bundled
// data set into three non-IID team files, starts the coordinator and the
// three nodes as separate processes talking libp2p over 127.0.0.1, and ends
// with a summary, a metrics CSV and a plot.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", "demo [--protocol secagg|mhe|plain] [--dataset NAME] [--rounds R] [--dir DIR]",
		"consort demo",
		"consort demo --protocol mhe --rounds 10",
		"consort demo --dataset breast-cancer --dir demo-run   # keeps the files in demo-run/")
	protocol := fs.String("protocol", "secagg", "aggregation protocol: secagg, mhe or plain (insecure)")
	dataset := fs.String("dataset", "digits", "bundled data set: digits, breast-cancer or wine")
	rounds := fs.Int("rounds", 20, "training rounds")
	alpha := fs.Float64("alpha", 0.5, "Dirichlet concentration of the non-IID split (smaller: more skewed)")
	dir := fs.String("dir", "", "working directory: new, empty, or one a previous demo created (default: a new temporary directory)")
	seed := fs.Uint64("seed", 1, "seed of the data split")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up after this long")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if !slicesContains(protocolNames(), *protocol) {
		return usagef("unknown protocol %q (want one of %v)", *protocol, protocolNames())
	}
	if *rounds < 1 {
		return usagef("--rounds must be >= 1")
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	work, lock, err := prepareDemoDir(*dir)
	if err != nil {
		return err
	}
	defer lock.Release()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	t0 := time.Now()
	fmt.Fprintf(stdout, "consort demo: 3 teams + coordinator, protocol %s, %s, %d rounds\n", *protocol, *dataset, *rounds)
	fmt.Fprintf(stdout, "working directory %s\n", work)
	if *protocol == "plain" {
		fmt.Fprintln(stdout, "WARNING: plain is insecure: the coordinator sees every team's update")
	}

	// Data: split off a test set, then deal the rest to the teams (non-IID).
	ds, err := data.Load(*dataset, data.LoadOptions{})
	if err != nil {
		return usageError(err)
	}
	train, test, err := data.Split(ds, 0.25, *seed)
	if err != nil {
		return err
	}
	part, err := data.ParsePartition(fmt.Sprintf("dirichlet:%g", *alpha))
	if err != nil {
		return usageError(err)
	}
	parts, err := part.Split(train.Y, train.Classes, len(demoTeams), *seed)
	if err != nil {
		return err
	}
	features := demoFeatureNames(ds)
	teamData := make([]*data.Dataset, len(demoTeams))
	for i, name := range demoTeams {
		teamData[i] = train.Subset(parts[i])
		if err := writeCSV(filepath.Join(work, name+".csv"), teamData[i], features); err != nil {
			return err
		}
	}
	if err := writeCSV(filepath.Join(work, "test.csv"), test, features); err != nil {
		return err
	}

	// Identities and the signed manifest.
	names := append([]string{"coordinator"}, demoTeams[:]...)
	ids := map[string]*identity.Identity{}
	for _, n := range names {
		id, err := identity.Generate(rand.Reader)
		if err != nil {
			return err
		}
		path := filepath.Join(work, n+".key")
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		if err := identity.WriteFile(path, id); err != nil {
			return err
		}
		ids[n] = id
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	members := []manifest.Member{{Name: "coordinator", PeerID: string(ids["coordinator"].PeerID()), Role: manifest.RoleCoordinator,
		Addrs: []string{fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port)}}}
	for _, n := range demoTeams {
		members = append(members, manifest.Member{Name: n, PeerID: string(ids[n].PeerID()), Role: manifest.RoleNode})
	}
	m := manifest.Template("consort-demo", members, time.Now().Add(24*time.Hour))
	m.Purpose = "consort demonstration on the bundled " + *dataset + " data set"
	m.Protocols = []string{*protocol}
	kind := "softmax"
	if ds.Classes == 2 {
		kind = "logistic"
	}
	m.Model = manifest.Model{Kind: kind}
	m.Training.Rounds = *rounds
	m.Data = manifest.Data{Dataset: *dataset, Features: features, Label: "label", Classes: ds.ClassNames}
	if err := m.Sign(ids["coordinator"]); err != nil {
		return err
	}
	mpath := filepath.Join(work, "manifest.toml")
	if err := m.WriteFile(mpath); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "keys, signed manifest and team data written (%d/%d/%d training rows; %d test rows)\n",
		teamData[0].Len(), teamData[1].Len(), teamData[2].Len(), test.Len())

	// The processes.
	logs := filepath.Join(work, "logs")
	if err := os.MkdirAll(logs, 0o700); err != nil {
		return err
	}
	stepTimeout := "10s"
	coordState := filepath.Join(work, "coordinator")
	var procs []*exec.Cmd
	start := func(name string, args []string, progress io.Writer) (*exec.Cmd, error) {
		logf, err := os.Create(filepath.Join(logs, name+".log"))
		if err != nil {
			return nil, err
		}
		cmd := exec.CommandContext(ctx, exe, args...)
		cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
		cmd.WaitDelay = 10 * time.Second
		cmd.Stderr = logf
		if progress != nil {
			cmd.Stdout = progress
		} else {
			cmd.Stdout = logf
		}
		if err := cmd.Start(); err != nil {
			logf.Close()
			return nil, err
		}
		procs = append(procs, cmd)
		return cmd, nil
	}
	pr, pw := io.Pipe()
	var relay sync.WaitGroup
	relay.Go(func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, "round ") {
				fmt.Fprintf(stdout, "  %s\n", line)
			}
		}
	})
	coord, err := start("coordinator", []string{"coordinator", "--manifest", mpath, "--key", filepath.Join(work, "coordinator.key"),
		"--state", coordState, "--step-timeout", stepTimeout}, pw)
	if err != nil {
		return err
	}
	var nodes []*exec.Cmd
	for _, n := range demoTeams {
		c, err := start(n, []string{"node", "--manifest", mpath, "--key", filepath.Join(work, n+".key"),
			"--data", filepath.Join(work, n+".csv"), "--state", filepath.Join(work, n)}, nil)
		if err != nil {
			cancel() // stops the processes already started
			for _, p := range procs {
				_ = p.Wait()
			}
			pw.Close()
			relay.Wait()
			return err
		}
		nodes = append(nodes, c)
	}
	fmt.Fprintf(stdout, "started coordinator (pid %d) and %d nodes on 127.0.0.1:%d\n", coord.Process.Pid, len(nodes), port)
	cerr := coord.Wait()
	if cerr != nil {
		cancel() // the nodes would wait for a restarted coordinator
	}
	pw.Close()
	relay.Wait()
	var nerrs []error
	for i, c := range nodes {
		if err := c.Wait(); err != nil {
			nerrs = append(nerrs, fmt.Errorf("%s: %w", demoTeams[i], err))
		}
	}
	if ctx.Err() != nil {
		return fmt.Errorf("demo stopped: %w (logs in %s)", ctx.Err(), logs)
	}
	if cerr != nil {
		return fmt.Errorf("coordinator failed: %v (see %s)", cerr, filepath.Join(logs, "coordinator.log"))
	}
	if len(nerrs) > 0 {
		return fmt.Errorf("%w (logs in %s)", errors.Join(nerrs...), logs)
	}
	if err := demoSummary(stdout, work, coordState, *protocol, teamData, train, test, *rounds, *seed, time.Since(t0)); err != nil {
		return err
	}
	// Every process kept a signed, hash-chained audit log: check them all,
	// with keys pinned by the manifest, and cross-check nodes against the
	// coordinator.
	logsToCheck := []string{"--manifest", mpath, filepath.Join(coordState, "audit.log")}
	for _, n := range demoTeams {
		logsToCheck = append(logsToCheck, filepath.Join(work, n, "audit.log"))
	}
	var out strings.Builder
	if err := runAuditVerify(ctx, logsToCheck, &out); err != nil {
		return fmt.Errorf("audit verification of the demo run failed: %w", err)
	}
	fmt.Fprintf(stdout, "audit logs verified and cross-checked (consort audit verify --manifest %s %s/*/audit.log)\n", mpath, work)
	return nil
}

// demoSummary compares the federated model with one team alone and with a
// centralised model, and writes the run directory.
func demoSummary(w io.Writer, work, coordState, protocol string, teams []*data.Dataset, train, test *data.Dataset, rounds int, seed uint64, elapsed time.Duration) error {
	mf, err := model.ReadFile(filepath.Join(coordState, "model.consort"))
	if err != nil {
		return err
	}
	fed, err := mf.Model()
	if err != nil {
		return err
	}
	fedTest := test.Subset(seqInts(test.Len()))
	if err := (&data.Scaler{Mean: mf.Mean, Std: mf.Std}).Transform(fedTest); err != nil {
		return err
	}
	_, fedAcc := model.Evaluate(fed, fedTest.X, fedTest.Y)
	local := func(ds *data.Dataset) (float64, error) {
		tr, te := ds.Subset(seqInts(ds.Len())), test.Subset(seqInts(test.Len()))
		if _, err := data.Standardize(tr, te); err != nil {
			return 0, err
		}
		m, err := model.New(mf.Spec, mf.Features, mf.Classes, seed)
		if err != nil {
			return 0, err
		}
		if _, err := model.Train(m, tr.X, tr.Y, model.TrainConfig{Epochs: rounds, BatchSize: 32, LR: 0.1, Momentum: 0.9, Seed: seed}); err != nil {
			return 0, err
		}
		_, acc := model.Evaluate(m, te.X, te.Y)
		return acc, nil
	}
	aloneAcc, err := local(teams[0])
	if err != nil {
		return err
	}
	centralAcc, err := local(train)
	if err != nil {
		return err
	}
	run := filepath.Join(work, "run")
	if err := os.MkdirAll(run, 0o755); err != nil {
		return err
	}
	b, err := os.ReadFile(filepath.Join(coordState, "metrics.csv"))
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(run, "metrics.csv"), b, 0o644); err != nil {
		return err
	}
	hist, err := parseMetricsCSV(b)
	if err != nil {
		return err
	}
	if err := model.WriteFile(filepath.Join(run, "model.consort"), mf); err != nil {
		return err
	}
	table, err := parseMetrics("metrics.csv", bytes.NewReader(b))
	if err != nil {
		return err
	}
	testSet := fmt.Sprintf("test set, %d rows", test.Len())
	charts, err := renderPlots(run, table, plotOptions{
		Title:      "consort demo (" + protocol + ")",
		AccuracyOn: "each team's held-out 20%",
		Baselines: []plotBaseline{
			{Label: "centralised (all data pooled), on the " + testSet, Value: centralAcc},
			{Label: "team-a alone, on the " + testSet, Value: aloneAcc},
		},
		FinalLabel: "federated final model, on the " + testSet,
		Final:      fedAcc,
	})
	if err != nil {
		return err
	}
	var roundSecs float64
	for _, h := range hist {
		roundSecs += h[6]
	}
	fmt.Fprintf(w, "\nsummary (%s, %d rounds, %.1fs in all)\n", protocol, len(hist), elapsed.Seconds())
	fmt.Fprintf(w, "  accuracy on the %s (no team trained on it):\n", testSet)
	fmt.Fprintf(w, "  federated model (3 teams)       accuracy %.4f\n", fedAcc)
	fmt.Fprintf(w, "  team-a alone                    accuracy %.4f\n", aloneAcc)
	fmt.Fprintf(w, "  centralised (all data pooled)   accuracy %.4f\n", centralAcc)
	fmt.Fprintf(w, "  time per round                  %.3fs (mean)\n", roundSecs/float64(max(len(hist), 1)))
	for _, n := range demoTeams {
		var s struct {
			BytesSent int64 `json:"bytes_sent"`
			Examples  int   `json:"examples"`
		}
		if b, err := os.ReadFile(filepath.Join(work, n, "node-summary.json")); err == nil && json.Unmarshal(b, &s) == nil {
			fmt.Fprintf(w, "  %s sent                     %d bytes (%d per round, %d examples)\n", n, s.BytesSent, s.BytesSent/int64(max(len(hist), 1)), s.Examples)
		}
	}
	names := []string{"model.consort", "metrics.csv"}
	for _, c := range charts {
		names = append(names, filepath.Base(c.File))
	}
	names = append(names, "charts.json")
	fmt.Fprintf(w, "run directory %s: %s (logs in %s)\n", run, strings.Join(names, ", "), filepath.Join(work, "logs"))
	return nil
}

// parseMetricsCSV reads the coordinator's metrics.csv into rows of numbers.
func parseMetricsCSV(b []byte) ([][]float64, error) {
	recs, err := csv.NewReader(strings.NewReader(string(b))).ReadAll()
	if err != nil || len(recs) < 1 {
		return nil, fmt.Errorf("metrics.csv: %v", err)
	}
	var out [][]float64
	for _, r := range recs[1:] {
		row := make([]float64, len(r))
		for i, f := range r {
			if row[i], err = strconv.ParseFloat(f, 64); err != nil {
				return nil, fmt.Errorf("metrics.csv: %w", err)
			}
		}
		out = append(out, row)
	}
	return out, nil
}

// demoMarker is the file that marks a directory as created by consort
// demo: only such a directory (or an empty one) is used, and of it only the
// files a demo writes are replaced.
const demoMarker = ".consort-demo"

// demoOutputs are the names a demo run writes in its directory; a rerun
// removes these and nothing else.
func demoOutputs() []string {
	out := []string{"coordinator", "logs", "run", "manifest.toml", "test.csv", "coordinator.key"}
	for _, t := range demoTeams {
		out = append(out, t, t+".csv", t+".key")
	}
	return out
}

// prepareDemoDir returns the demo's working directory, locked: a new
// temporary directory when dir is "", else dir if it is new, empty or marked
// as a previous demo's (whose outputs are then removed). A directory with
// other contents is refused: the demo never deletes or overwrites files it
// did not create.
func prepareDemoDir(dir string) (string, *statedir.Lock, error) {
	if dir == "" {
		work, err := os.MkdirTemp("", "consort-demo-*")
		if err != nil {
			return "", nil, err
		}
		dir = work
	}
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", nil, err
	}
	marked, other := false, false
	for _, e := range entries {
		switch e.Name() {
		case demoMarker:
			marked = true
		case statedir.LockName:
		default:
			other = true
		}
	}
	if other && !marked {
		return "", nil, usagef("--dir %s is not empty and was not created by consort demo (no %s file): give a new or empty directory", dir, demoMarker)
	}
	lock, err := statedir.Acquire(dir)
	if err != nil {
		return "", nil, err
	}
	if marked {
		// A rerun starts over: new keys need new state, audit logs and
		// checkpoints. Only the demo's own outputs are removed.
		for _, name := range demoOutputs() {
			if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
				lock.Release()
				return "", nil, err
			}
		}
	}
	note := []byte("This directory was created by 'consort demo'. A later demo run with --dir here\nreplaces its outputs (" + strings.Join(demoOutputs(), ", ") + ") and nothing else.\n")
	if err := atomicfile.Write(filepath.Join(dir, demoMarker), note, 0o644); err != nil {
		lock.Release()
		return "", nil, err
	}
	return dir, lock, nil
}

// writeCSV writes ds as a CSV file with a header row and a label column.
func writeCSV(path string, ds *data.Dataset, features []string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	_ = w.Write(append(append([]string{}, features...), "label"))
	row := make([]string, len(features)+1)
	for i := range ds.Len() {
		for j, v := range ds.Row(i) {
			row[j] = strconv.FormatFloat(float64(v), 'g', -1, 32)
		}
		row[len(features)] = ds.ClassNames[ds.Y[i]]
		_ = w.Write(row)
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// demoFeatureNames returns column names that are valid in a manifest.
func demoFeatureNames(ds *data.Dataset) []string {
	out := make([]string, ds.Features)
	for i := range out {
		n := ""
		if i < len(ds.FeatureNames) {
			n = strings.Map(func(r rune) rune {
				if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' {
					return r
				}
				return '_'
			}, ds.FeatureNames[i])
		}
		if n == "" {
			n = fmt.Sprintf("f%d", i)
		}
		out[i] = n
	}
	return out
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func seqInts(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
