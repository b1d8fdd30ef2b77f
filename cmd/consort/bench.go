package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/consort-ml/consort/bench"
)

// benchWorkload is one `consort bench` workload: it parses its own flags and
// prints a table with ratios to the limits measured in the same run.
type benchWorkload struct {
	name  string
	brief string
	run   func(ctx context.Context, args []string, stdout io.Writer) error
}

func benchWorkloads() []benchWorkload {
	return []benchWorkload{
		{"kernels", "fixed-point, ring, mask-expansion and packing kernels vs AES-CTR keystream and copy", benchKernels},
		{"training", "one MLP epoch on MNIST-shaped data vs gonum Dgemm", benchTraining},
	}
}

func benchNames() []string {
	var out []string
	for _, w := range benchWorkloads() {
		out = append(out, w.name)
	}
	return out
}

// runBench runs the benchmark workloads of package bench.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(stdout, "usage: consort bench WORKLOAD [flags] | consort bench all")
		for _, w := range benchWorkloads() {
			fmt.Fprintf(stdout, "  %-10s %s\n", w.name, w.brief)
		}
		if len(args) == 0 {
			return usagef("bench needs a workload: %s or all", strings.Join(benchNames(), ", "))
		}
		return errHelp
	}
	if args[0] == "all" {
		for _, w := range benchWorkloads() {
			fmt.Fprintf(stdout, "== %s\n", w.name)
			if err := w.run(ctx, args[1:], stdout); err != nil {
				return fmt.Errorf("%s: %w", w.name, err)
			}
			fmt.Fprintln(stdout)
		}
		return nil
	}
	for _, w := range benchWorkloads() {
		if w.name == args[0] {
			return w.run(ctx, args[1:], stdout)
		}
	}
	return usagef("unknown workload %q (want %s or all)", args[0], strings.Join(benchNames(), ", "))
}

func benchKernels(_ context.Context, args []string, stdout io.Writer) error {
	cfg := bench.DefaultKernelConfig()
	fs := newFlagSet("bench kernels", "bench kernels [--kernels a,b] [--min-time D]")
	kernels := fs.String("kernels", "", "comma-separated kernels (default all: "+strings.Join(bench.KernelNames(), ", ")+")")
	fs.DurationVar(&cfg.MinTime, "min-time", cfg.MinTime, "minimum duration of one measurement")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if *kernels != "" {
		cfg.Kernels = strings.Split(*kernels, ",")
	}
	if err := cfg.Validate(); err != nil {
		return usageError(err)
	}
	_, err := bench.RunKernels(cfg, stdout)
	return err
}

func benchTraining(_ context.Context, args []string, stdout io.Writer) error {
	cfg := bench.DefaultTrainingConfig()
	fs := newFlagSet("bench training", "bench training [--model mlp:128] [--epochs E]")
	fs.StringVar(&cfg.Model, "model", cfg.Model, "model spec")
	fs.IntVar(&cfg.Epochs, "epochs", cfg.Epochs, "epochs")
	fs.IntVar(&cfg.BatchSize, "batch", cfg.BatchSize, "batch size")
	fs.DurationVar(&cfg.ReferenceTime, "reference-time", 400*time.Millisecond, "time spent measuring the Dgemm reference")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return usageError(err)
	}
	_, err := bench.RunTraining(cfg, stdout)
	return err
}
