package main

import (
	"context"
	"math"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/consort-ml/consort/federated"
)

// TestE2E builds the consort binary once and runs federations of a
// coordinator and three nodes as separate operating-system processes talking
// libp2p over 127.0.0.1: a full training run per protocol, compared with the
// in-process simulation of the same data and seed; nodes and the coordinator
// killed with SIGKILL at chosen points; and a node whose coordinator is
// unreachable.
func TestE2E(t *testing.T) {
	bin := e2eBuild(t)
	for _, protocol := range []string{"secagg", "mhe"} {
		t.Run("train/"+protocol, func(t *testing.T) { e2eTrain(t, bin, protocol) })
	}
	t.Run("kill-node/threshold=2-of-3", func(t *testing.T) { e2eKillNodeRecovers(t, bin) })
	t.Run("kill-node/threshold=3-of-3", func(t *testing.T) { e2eKillNodeAborts(t, bin) })
	t.Run("kill-coordinator", func(t *testing.T) { e2eKillCoordinator(t, bin) })
}

// e2eTolerance bounds |networked accuracy - simulated accuracy| on the 143
// held-out examples (0.035 is 5 examples). The two runs see the same split,
// partition, initial model, learning rate, momentum, batch size and rounds,
// but are not bit-identical: the networked coordinator standardises with
// federation-wide statistics released through the protocol (fixed point with
// stochastic rounding) while the simulation fits them on the pooled training
// set; each node shuffles with its own seed where the simulation seeds per
// party; and stochastic rounding of the updates draws fresh randomness.
const e2eTolerance = 0.035

// e2eTrain runs a federation of three nodes for five rounds with protocol and
// compares the final model with federated.Simulate of the same data and seed.
func e2eTrain(t *testing.T, bin, protocol string) {
	if !slices.Contains(federated.ProtocolNames(), protocol) {
		t.Skipf("consort coordinator --protocol %s is not supported yet (federated.ProtocolNames() = %v)", protocol, federated.ProtocolNames())
	}
	const rounds = 5
	f := e2eNewFed(t, bin, e2eOptions{protocols: protocol + ",plain", rounds: rounds, threshold: 2, model: "logistic"})
	start := time.Now()
	coord := f.coordinator("--protocol", protocol, "--step-timeout", "5s")
	var nodes []*e2eProc
	for i, name := range e2eTeams {
		// Teams b and c train on every row, as in the simulation. Team a
		// holds out 10% of its rows so that the coordinator receives
		// held-out metrics: when no node holds out anything, the round's
		// accuracy is NaN and the coordinator fails to write its checkpoint
		// ("json: unsupported value: NaN"; reported to the lead).
		frac := "0"
		if i == 0 {
			frac = "0.1"
		}
		nodes = append(nodes, f.node(name, "--test-fraction", frac))
	}
	coord.waitExit0(t, 60*time.Second)
	for _, n := range nodes {
		n.waitExit0(t, 10*time.Second)
	}
	t.Logf("%s: %d rounds in %.1fs (coordinator process)", protocol, rounds, coord.elapsed.Seconds())

	lines := e2eProgress(coord.stdout.String())
	if len(lines) != rounds {
		t.Fatalf("coordinator printed %d progress lines, want %d", len(lines), rounds)
	}
	for i, l := range lines {
		if l.round != i+1 || l.rounds != rounds || l.contributors != 3 || l.participants != 3 {
			t.Errorf("progress line %d: %+v, want round %d/%d with 3/3 contributors", i, l, i+1, rounds)
		}
	}
	cm := e2eReadModel(t, f.state("coord")+"/model.consort")
	if cm.Round != rounds || len(cm.Mean) != f.test.Features || cm.Label != e2eLabel || !slices.Equal(cm.ClassNames, f.classes) {
		t.Fatalf("coordinator model: round %d, %d means, label %q, classes %v", cm.Round, len(cm.Mean), cm.Label, cm.ClassNames)
	}
	want := e2eDigest(cm.Params)
	for _, name := range e2eTeams {
		nm := e2eReadModel(t, f.state(name)+"/model.consort")
		if got := e2eDigest(nm.Params); got != want || nm.Round != rounds || !slices.Equal(nm.Mean, cm.Mean) || !slices.Equal(nm.Std, cm.Std) {
			t.Errorf("node %s holds another model than the coordinator (round %d, digest %.12s, want %.12s)", name, nm.Round, got, want)
		}
	}
	acc := f.accuracy(cm)

	// consort predict on the held-out file agrees.
	pred := e2eStart(t, "predict", bin, "predict", "--model", f.state("a")+"/model.consort", "--data", f.testCSV, "--out", f.dir+"/pred.csv")
	pred.waitExit0(t, 30*time.Second)
	m := regexp.MustCompile(`^accuracy ([0-9.]+) \((\d+) of (\d+)\)\n$`).FindStringSubmatch(pred.stderr.String())
	if m == nil {
		t.Fatalf("predict stderr %q", pred.stderr.String())
	}
	if n, _ := strconv.Atoi(m[3]); n != f.test.Len() {
		t.Errorf("predict scored %d rows, want %d", n, f.test.Len())
	}
	if c, _ := strconv.Atoi(m[2]); math.Abs(float64(c)/float64(f.test.Len())-acc) > 1e-9 {
		t.Errorf("predict accuracy %s, model.Evaluate %.4f", m[1], acc)
	}

	agg, err := newAggregator(protocol, f.sim)
	if err != nil {
		t.Fatal(err)
	}
	sim, err := federated.Simulate(context.Background(), f.sim, agg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: networked accuracy %.4f, simulated %.4f (tolerance %.3f); wall %.1fs", protocol, acc, sim.FinalAccuracy, e2eTolerance, time.Since(start).Seconds())
	if math.Abs(acc-sim.FinalAccuracy) > e2eTolerance {
		t.Errorf("networked accuracy %.4f differs from the simulation's %.4f by more than %.3f", acc, sim.FinalAccuracy, e2eTolerance)
	}
	if acc < 0.9 {
		t.Errorf("networked accuracy %.4f is below 0.9 on %s", acc, e2eDataset)
	}
}

func e2eKillNodeRecovers(t *testing.T, bin string) { t.Skip("next") }
func e2eKillNodeAborts(t *testing.T, bin string)   { t.Skip("next") }
func e2eKillCoordinator(t *testing.T, bin string)  { t.Skip("next") }
