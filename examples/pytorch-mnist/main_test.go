package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/consort-ml/consort/federated/trainer"
	"github.com/consort-ml/consort/federated/trainer/runner"
	"github.com/consort-ml/consort/federated/trainer/safetensors"
)

// TestRun federates three sandboxed PyTorch trainers on a non-IID split of
// MNIST through the real runner, and checks that the federated CNN learns
// and that the written model loads back. Skipped only with
// CONSORT_SKIP_TORCH=1; .ci/run installs python3-torch, python3-numpy and
// bubblewrap.
func TestRun(t *testing.T) {
	if os.Getenv("CONSORT_SKIP_TORCH") == "1" {
		t.Skip("CONSORT_SKIP_TORCH=1: skipping the PyTorch example")
	}
	if err := exec.Command("/usr/bin/python3", "-c", "import torch, numpy").Run(); err != nil {
		t.Fatal("python3-torch and python3-numpy are required (apt-get install python3-torch python3-numpy, or set CONSORT_SKIP_TORCH=1)")
	}
	if f := runner.Probe(context.Background()); !f.Sandboxed() {
		t.Fatalf("the sandbox is required (apt-get install bubblewrap): %s", f)
	}
	out := filepath.Join(t.TempDir(), "model.safetensors")
	c := config{
		Dir: ".", Out: out, Parties: 3, Rounds: 2, Alpha: 0.5, TrainLimit: 3000, TestLimit: 1000,
		Settings: trainer.Settings{Epochs: 1, BatchSize: 32, LR: 0.05, Momentum: 0.9},
	}
	var buf bytes.Buffer
	if err := run(context.Background(), c, &buf); err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	t.Log("\n" + buf.String())
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	var fed, central float64
	if _, err := fmt.Sscanf(lines[len(lines)-1], "federated %f, centralised %f", &fed, &central); err != nil {
		t.Fatalf("summary %q: %v", lines[len(lines)-1], err)
	}
	if fed < 0.8 || central < 0.8 {
		t.Fatalf("federated %.4f, centralised %.4f: want both >= 0.8 after two rounds", fed, central)
	}
	if !strings.Contains(buf.String(), "sandboxed true") {
		t.Fatal("the trainers did not run sandboxed")
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	layout, _, err := safetensors.ReadLayout(b, safetensors.Limits{})
	if err != nil || len(layout) != 8 || layout[0].Name != "conv1.weight" {
		t.Fatalf("written model: %v %v", layout, err)
	}
	// PyTorch reads the federated model with the helper (as a team's
	// inference code would) into the same CNN.
	check := exec.Command("/usr/bin/python3", "-c", `
import sys, torch, consort, train
m = train.Net()
m.load_state_dict(consort.load_file(sys.argv[1], as_torch=True))
print("loaded", sum(p.numel() for p in m.parameters()))`, out)
	check.Env = []string{"PYTHONPATH=../../python:.", "PATH=/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE=1"}
	got, err := check.CombinedOutput()
	if err != nil || !strings.Contains(string(got), "loaded 27562") {
		t.Fatalf("PyTorch could not load the model: %v\n%s", err, got)
	}
}
