package main

// Helpers of the multi-process end-to-end tests (e2e_test.go): building the
// consort binary, laying out a federation on disk (identity keys, a signed
// manifest, one CSV file per team) and running consort processes whose
// output a test can wait on, line by line.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/consort-ml/consort/federated"
	"github.com/consort-ml/consort/federated/data"
	"github.com/consort-ml/consort/federated/model"
)

// e2eDataset is the bundled data set the end-to-end tests split among teams,
// e2eSeed the seed of its train/test split, of the team partition and of the
// model initialisation (the coordinator initialises with seed 1).
const (
	e2eDataset = "breast-cancer"
	e2eSeed    = 1
	e2eLabel   = "diagnosis"
)

// e2eTeams are the node names of every test federation.
var e2eTeams = [...]string{"a", "b", "c"}

// e2eBuild builds the consort binary into a temporary directory of t
// (the package directory is the working directory of a test).
func e2eBuild(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command to build consort: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "consort")
	start := time.Now()
	out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build ./cmd/consort: %v\n%s", err, out)
	}
	t.Logf("built %s in %.1fs", bin, time.Since(start).Seconds())
	return bin
}

// e2eFreePort returns a TCP port of 127.0.0.1 that nobody listened on a moment ago.
func e2eFreePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// output collects what a process writes to stdout or stderr and lets a test
// wait until some text appears.
type e2eOutput struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // closed and replaced on every write
}

func e2eNewOutput() *e2eOutput { return &e2eOutput{changed: make(chan struct{})} }

func (o *e2eOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf.Write(p)
	close(o.changed)
	o.changed = make(chan struct{})
	return len(p), nil
}

func (o *e2eOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

func (o *e2eOutput) snapshot() (string, <-chan struct{}) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String(), o.changed
}

// proc is a consort process started by a test.
type e2eProc struct {
	name           string
	cmd            *exec.Cmd
	stdout, stderr *e2eOutput
	done           chan struct{} // closed when the process has exited
	err            error         // the result of Wait, once done is closed
	started        time.Time
	elapsed        time.Duration
}

// e2eStart starts bin with args; the process is killed (SIGKILL) when the
// test ends if it is still running, and its output is logged if the test failed.
func e2eStart(t *testing.T, name, bin string, args ...string) *e2eProc {
	t.Helper()
	p := &e2eProc{name: name, stdout: e2eNewOutput(), stderr: e2eNewOutput(), done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	p.started = time.Now()
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		p.elapsed = time.Since(p.started)
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("--- %s %s\n--- stdout:\n%s--- stderr:\n%s", name, strings.Join(args, " "), e2eTail(p.stdout.String(), 40), e2eTail(p.stderr.String(), 40))
		}
	})
	return p
}

// tail returns the last n lines of s.
func e2eTail(s string, n int) string {
	lines := strings.SplitAfter(s, "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("[%d lines omitted]\n", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "")
}

// kill sends SIGKILL to the process and waits for it to exit.
func (p *e2eProc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("kill %s: %v", p.name, err)
	}
	<-p.done
}

// exited reports whether the process has exited.
func (p *e2eProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits up to timeout for the process to exit and returns its exit
// status; it fails the test if the process is still running then.
func (p *e2eProc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("%s still running after %v", p.name, timeout)
	}
	var ee *exec.ExitError
	switch {
	case p.err == nil:
		return 0
	case errors.As(p.err, &ee):
		return ee.ExitCode()
	}
	t.Fatalf("%s: %v", p.name, p.err)
	return -1
}

// waitExit0 waits for the process to exit and fails the test unless it exited
// with status 0.
func (p *e2eProc) waitExit0(t *testing.T, timeout time.Duration) {
	t.Helper()
	if code := p.wait(t, timeout); code != 0 {
		t.Fatalf("%s exited with status %d; stderr:\n%s", p.name, code, e2eTail(p.stderr.String(), 20))
	}
}

// e2eWaitFor waits until find, called on the whole output so far, returns true,
// and returns what it extracted. It fails the test if the process exits or
// timeout passes first.
func e2eWaitFor[T any](t *testing.T, p *e2eProc, o *e2eOutput, timeout time.Duration, what string, find func(text string) (T, bool)) T {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		text, changed := o.snapshot()
		if v, ok := find(text); ok {
			return v
		}
		select {
		case <-changed:
		case <-p.done:
			// Output is complete once Wait returned.
			if v, ok := find(o.String()); ok {
				return v
			}
			t.Fatalf("%s exited (%v) before %s appeared", p.name, p.err, what)
		case <-deadline.C:
			t.Fatalf("%s: no %s within %v", p.name, what, timeout)
		}
	}
}

// e2eWaitLine waits until re matches the output and returns its submatches.
func e2eWaitLine(t *testing.T, p *e2eProc, o *e2eOutput, timeout time.Duration, re *regexp.Regexp) []string {
	t.Helper()
	return e2eWaitFor(t, p, o, timeout, fmt.Sprintf("line matching %q", re), func(text string) ([]string, bool) {
		m := re.FindStringSubmatch(text)
		return m, m != nil
	})
}

// e2eOptions describe a test federation.
type e2eOptions struct {
	protocols       string // the manifest's allowed protocols, first is the default
	rounds          int
	threshold       int // 0: the manifest's default
	minParticipants int // 0: all nodes
	model           string
	localEpochs     int
	// slow, if not empty, names the team whose CSV file repeats its
	// examples slowFactor times, so that its local training lasts long
	// enough for a test to kill it in the middle of a round.
	slow       string
	slowFactor int
}

// federation is a coordinator and three teams laid out in a directory: keys,
// a signed manifest naming the coordinator's loopback address, and each
// team's CSV file (raw, unstandardised features).
type e2eFed struct {
	t        *testing.T
	bin, dir string
	port     int
	manifest string
	peers    map[string]string // name -> peer ID
	// test holds the held-out examples (raw features), testCSV the same as a file.
	test    *data.Dataset
	testCSV string
	// classes are the label values in the model's output order.
	classes []string
	// sim is the in-process twin of the federation: the same data split,
	// partition, model, seed and training settings.
	sim federated.SimConfig
	// teamRows counts the examples of each team's file.
	teamRows map[string]int
}

// e2eNewFed lays out a federation for the test.
func e2eNewFed(t *testing.T, bin string, o e2eOptions) *e2eFed {
	t.Helper()
	if o.localEpochs == 0 {
		o.localEpochs = 1
	}
	f := &e2eFed{t: t, bin: bin, dir: t.TempDir(), port: e2eFreePort(t), peers: map[string]string{}, teamRows: map[string]int{}}
	f.sim = federated.SimConfig{
		FederationID: "sim", Dataset: e2eDataset, Parties: len(e2eTeams), Rounds: o.rounds, Seed: e2eSeed,
		Train:     federated.TrainSettings{LocalEpochs: o.localEpochs, BatchSize: 32, LR: 0.1, Momentum: 0.9},
		Threshold: o.threshold,
	}
	spec, err := model.ParseSpec(o.model)
	if err != nil {
		t.Fatal(err)
	}
	f.sim.Model = spec

	// The same split and partition as federated.Prepare, on raw features.
	ds, err := data.Load(e2eDataset, data.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	train, test, err := data.Split(ds, 0.25, e2eSeed)
	if err != nil {
		t.Fatal(err)
	}
	prep, err := federated.Prepare(f.sim)
	if err != nil {
		t.Fatal(err)
	}
	if prep.Train.Len() != train.Len() || !e2eEqualInts(prep.Train.Y, train.Y) || !e2eEqualInts(prep.Test.Y, test.Y) {
		t.Fatal("federated.Prepare no longer splits like data.Split: the twin simulation would see other data")
	}
	f.test, f.classes = test, ds.ClassNames
	features := make([]string, ds.Features)
	for j := range features {
		features[j] = "f" + strconv.Itoa(j)
	}
	for i, name := range e2eTeams {
		part := train.Subset(prep.Parts[i])
		repeat := 1
		if name == o.slow {
			repeat = o.slowFactor
		}
		f.teamRows[name] = part.Len() * repeat
		e2eWriteCSV(t, filepath.Join(f.dir, name+".csv"), features, part, repeat)
	}
	f.testCSV = filepath.Join(f.dir, "test.csv")
	e2eWriteCSV(t, f.testCSV, features, test, 1)

	for _, name := range append([]string{"coord"}, e2eTeams[:]...) {
		p := f.run("keygen", "--out", f.key(name))
		f.peers[name] = strings.TrimSpace(p)
	}
	f.manifest = filepath.Join(f.dir, "federation.toml")
	args := []string{"manifest", "init", "--federation", "e2e-" + strings.ReplaceAll(t.Name(), "/", "-"),
		"--coordinator", "coord=" + f.peers["coord"],
		"--addr", fmt.Sprintf("coord=/ip4/127.0.0.1/tcp/%d", f.port),
		"--features", strings.Join(features, ","), "--label", e2eLabel, "--classes", strings.Join(f.classes, ","),
		"--model", o.model, "--rounds", strconv.Itoa(o.rounds), "--local-epochs", strconv.Itoa(o.localEpochs),
		"--protocols", o.protocols, "--out", f.manifest}
	for _, name := range e2eTeams {
		args = append(args, "--member", name+"="+f.peers[name])
	}
	if o.threshold > 0 {
		args = append(args, "--threshold", strconv.Itoa(o.threshold))
	}
	if o.minParticipants > 0 {
		args = append(args, "--min-participants", strconv.Itoa(o.minParticipants))
	}
	f.run(args...)
	f.run("manifest", "sign", "--key", f.key("coord"), "--in", f.manifest)
	return f
}

func e2eEqualInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// e2eWriteCSV writes ds with a header row, features as shortest float32 text
// (so they parse back exactly) and the label as its class name; every row is
// written repeat times.
func e2eWriteCSV(t *testing.T, path string, features []string, ds *data.Dataset, repeat int) {
	t.Helper()
	var b strings.Builder
	b.WriteString(strings.Join(features, ",") + "," + e2eLabel + "\n")
	for range repeat {
		for i := range ds.Len() {
			for _, v := range ds.Row(i) {
				b.WriteString(strconv.FormatFloat(float64(v), 'g', -1, 32))
				b.WriteByte(',')
			}
			b.WriteString(ds.ClassNames[ds.Y[i]])
			b.WriteByte('\n')
		}
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (f *e2eFed) key(name string) string   { return filepath.Join(f.dir, name+".key") }
func (f *e2eFed) state(name string) string { return filepath.Join(f.dir, name+"-state") }
func (f *e2eFed) csv(name string) string   { return filepath.Join(f.dir, name+".csv") }

// run runs a short consort command to completion and returns its stdout; any
// failure fails the test.
func (f *e2eFed) run(args ...string) string {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, f.bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		f.t.Fatalf("consort %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// coordinator starts the coordinator with the federation's manifest, key
// and state directory; extra flags follow.
func (f *e2eFed) coordinator(extra ...string) *e2eProc {
	f.t.Helper()
	args := append([]string{"coordinator", "--manifest", f.manifest, "--key", f.key("coord"), "--state", f.state("coord")}, extra...)
	return e2eStart(f.t, "coordinator", f.bin, args...)
}

// node starts team name's node on its CSV file with its state directory;
// extra flags follow.
func (f *e2eFed) node(name string, extra ...string) *e2eProc {
	f.t.Helper()
	args := append([]string{"node", "--manifest", f.manifest, "--key", f.key(name), "--data", f.csv(name), "--state", f.state(name)}, extra...)
	return e2eStart(f.t, "node "+name, f.bin, args...)
}

// e2eReadModel reads a model or checkpoint file.
func e2eReadModel(t *testing.T, path string) *model.File {
	t.Helper()
	mf, err := model.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return mf
}

// e2eDigest is the hex SHA-256 of the parameters as little-endian float32.
func e2eDigest(p []float32) string {
	b := make([]byte, 0, 4*len(p))
	for _, v := range p {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// accuracy evaluates a model file on the federation's held-out examples,
// standardised with the model file's statistics.
func (f *e2eFed) accuracy(mf *model.File) float64 {
	f.t.Helper()
	m, err := mf.Model()
	if err != nil {
		f.t.Fatal(err)
	}
	test := f.test.Subset(e2eSeq(f.test.Len()))
	if len(mf.Mean) == 0 {
		f.t.Fatal("the model file carries no standardisation statistics")
	}
	if err := (&data.Scaler{Mean: mf.Mean, Std: mf.Std}).Transform(test); err != nil {
		f.t.Fatal(err)
	}
	_, acc := model.Evaluate(m, test.X, test.Y)
	return acc
}

func e2eSeq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// e2eProgressRE matches a coordinator's progress line for one training round.
var e2eProgressRE = regexp.MustCompile(`(?m)^round (\d+)/(\d+)  contributors (\d+)/(\d+)  accuracy `)

// e2eRound is one parsed progress line of a coordinator.
type e2eRound struct{ round, rounds, contributors, participants int }

// progress parses the coordinator's progress lines.
func e2eProgress(stdout string) []e2eRound {
	var out []e2eRound
	for _, m := range e2eProgressRE.FindAllStringSubmatch(stdout, -1) {
		var r e2eRound
		r.round, _ = strconv.Atoi(m[1])
		r.rounds, _ = strconv.Atoi(m[2])
		r.contributors, _ = strconv.Atoi(m[3])
		r.participants, _ = strconv.Atoi(m[4])
		out = append(out, r)
	}
	return out
}
