package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
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
		{"secagg", "one secure-aggregation round per (parties, dim): wire bytes per value, masking vs AES-CTR keystream", benchSecAgg},
		{"mhe", "multiparty-HE rounds: wire bytes per value, node time vs lattigo's raw encryption", benchMHE},
		{"p2p", "libp2p loopback throughput vs raw TCP", benchP2P},
		{"round", "one networked round, 10 nodes x 2^20 parameters over libp2p: secagg and mhe vs plain", benchRound},
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
		fmt.Fprintln(stdout, "\nRun 'consort bench WORKLOAD --help' for its flags.")
		printExamples(stdout, []string{"consort bench kernels", "consort bench secagg --parties 10 --dims 65536 --json", "consort bench all"})
		if len(args) == 0 {
			return usagef("bench needs a workload: %s or all", strings.Join(benchNames(), ", "))
		}
		return errHelp
	}
	if args[0] == "all" {
		// With --json, one JSON object per workload and nothing else.
		jsonOut := slices.Contains(args[1:], "--json") || slices.Contains(args[1:], "-json")
		for _, w := range benchWorkloads() {
			if !jsonOut {
				fmt.Fprintf(stdout, "== %s\n", w.name)
			}
			if err := w.run(ctx, args[1:], stdout); err != nil {
				return fmt.Errorf("%s: %w", w.name, err)
			}
			if !jsonOut {
				fmt.Fprintln(stdout)
			}
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

// validator is a benchmark configuration.
type validator interface{ Validate() error }

// runValidated validates cfg (a failure is a usage error) and runs the
// workload: its table on stdout, or with --json only its results as one JSON
// object {"workload": NAME, "results": ...}.
func runValidated[R any](cfg validator, run func(io.Writer) (R, error), stdout io.Writer, name string, jsonOut bool) error {
	if err := cfg.Validate(); err != nil {
		return usageError(err)
	}
	if !jsonOut {
		_, err := run(stdout)
		return err
	}
	res, err := run(io.Discard)
	if err != nil {
		return err
	}
	return writeJSON(stdout, struct {
		Workload string `json:"workload"`
		Results  R      `json:"results"`
	}{name, res})
}

// jsonFlag adds a workload's --json flag.
func jsonFlag(fs *flag.FlagSet) *bool {
	return fs.Bool("json", false, "print the results as one JSON object instead of the table")
}

// csvStrings is a comma-separated list flag bound to a []string; it
// replaces the default when given.
type csvStrings struct{ v *[]string }

func (c csvStrings) String() string {
	if c.v == nil {
		return ""
	}
	return strings.Join(*c.v, ",")
}
func (c csvStrings) Set(s string) error { *c.v = strings.Split(s, ","); return nil }

// csvInts is a comma-separated list of positive integers bound to an []int.
type csvInts struct{ v *[]int }

func (c csvInts) String() string {
	if c.v == nil {
		return ""
	}
	parts := make([]string, len(*c.v))
	for i, n := range *c.v {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, ",")
}

func (c csvInts) Set(s string) error {
	var out []int
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v < 1 {
			return fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, v)
	}
	*c.v = out
	return nil
}

func benchKernels(_ context.Context, args []string, stdout io.Writer) error {
	cfg := bench.DefaultKernelConfig()
	fs := newFlagSet("bench kernels", "bench kernels [--kernels a,b] [--duration D]", "consort bench kernels", "consort bench kernels --json")
	fs.Var(csvStrings{&cfg.Kernels}, "kernels", "comma-separated kernels (default all: "+strings.Join(bench.KernelNames(), ", ")+")")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "time spent per kernel and size")
	jsonOut := jsonFlag(fs)
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	return runValidated(cfg, func(w io.Writer) ([]bench.KernelResult, error) { return bench.RunKernels(cfg, w) }, stdout, strings.TrimPrefix(fs.Name(), "bench "), *jsonOut)
}

func benchTraining(_ context.Context, args []string, stdout io.Writer) error {
	cfg := bench.DefaultTrainingConfig()
	fs := newFlagSet("bench training", "bench training [--model mlp:128] [--epochs E]", "consort bench training", "consort bench training --json")
	fs.StringVar(&cfg.Model, "model", cfg.Model, "model spec")
	fs.IntVar(&cfg.Epochs, "epochs", cfg.Epochs, "epochs")
	fs.IntVar(&cfg.BatchSize, "batch", cfg.BatchSize, "batch size")
	fs.DurationVar(&cfg.ReferenceTime, "reference-time", 400*time.Millisecond, "time spent measuring the Dgemm reference")
	jsonOut := jsonFlag(fs)
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	return runValidated(cfg, func(w io.Writer) (bench.TrainingResult, error) { return bench.RunTraining(cfg, w) }, stdout, strings.TrimPrefix(fs.Name(), "bench "), *jsonOut)
}

func benchSecAgg(_ context.Context, args []string, stdout io.Writer) error {
	cfg := bench.DefaultSecAggConfig()
	fs := newFlagSet("bench secagg", "bench secagg [--parties 10,100] [--dims 65536,1048576] [--bits 16,32] [--no-check]", "consort bench secagg", "consort bench secagg --bits 16,32 --json")
	fs.Var(csvInts{&cfg.Parties}, "parties", "comma-separated party counts")
	fs.Var(csvInts{&cfg.Dims}, "dims", "comma-separated vector lengths")
	fs.Var(csvInts{&cfg.Bits}, "bits", "comma-separated ring widths (1..64)")
	fs.BoolVar(&cfg.NoCheck, "no-check", cfg.NoCheck, "run without the consistency check")
	fs.IntVar(&cfg.Repeats, "repeats", cfg.Repeats, "rounds per size (best kept)")
	jsonOut := jsonFlag(fs)
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	return runValidated(cfg, func(w io.Writer) ([]bench.SecAggResult, error) { return bench.RunSecAgg(cfg, w) }, stdout, strings.TrimPrefix(fs.Name(), "bench "), *jsonOut)
}

func benchMHE(_ context.Context, args []string, stdout io.Writer) error {
	cfg := bench.DefaultMHEConfig()
	fs := newFlagSet("bench mhe", "bench mhe [--parties 3,10] [--dims 1048576] [--bits 32|16] [--params N14-T256,N15-T512|auto] [--verified]", "consort bench mhe", "consort bench mhe --params auto --json")
	fs.Var(csvStrings{&cfg.ParamSets}, "params", "comma-separated parameter sets; auto sizes the set to each point")
	fs.Var(csvInts{&cfg.Parties}, "parties", "comma-separated party counts")
	fs.Var(csvInts{&cfg.Dims}, "dims", "comma-separated vector lengths")
	fs.UintVar(&cfg.QuantBits, "bits", 32, "quantisation width: 32 or 16")
	fs.IntVar(&cfg.Repeats, "repeats", cfg.Repeats, "rounds per size")
	fs.BoolVar(&cfg.Verified, "verified", false, "also run verified rounds (signed uploads, decryptors' fingerprint check) and report their cost")
	jsonOut := jsonFlag(fs)
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	return runValidated(cfg, func(w io.Writer) ([]bench.MHEResult, error) { return bench.RunMHE(cfg, w) }, stdout, strings.TrimPrefix(fs.Name(), "bench "), *jsonOut)
}

func benchP2P(_ context.Context, args []string, stdout io.Writer) error {
	cfg := bench.DefaultP2PConfig()
	fs := newFlagSet("bench p2p", "bench p2p [--transports tcp,quic] [--duration D]", "consort bench p2p", "consort bench p2p --json")
	fs.Var(csvStrings{&cfg.Transports}, "transports", "comma-separated transports: tcp, tcp-tls, tcp-noise, quic")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "time spent per transport and size")
	jsonOut := jsonFlag(fs)
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	return runValidated(cfg, func(w io.Writer) ([]bench.P2PResult, error) { return bench.RunP2P(cfg, w) }, stdout, strings.TrimPrefix(fs.Name(), "bench "), *jsonOut)
}

func benchRound(_ context.Context, args []string, stdout io.Writer) error {
	cfg := bench.DefaultRoundBenchConfig()
	fs := newFlagSet("bench round", "bench round [--nodes N] [--protocols plain,secagg,mhe]", "consort bench round", "consort bench round --json")
	fs.IntVar(&cfg.Nodes, "nodes", cfg.Nodes, "nodes")
	fs.IntVar(&cfg.Hidden, "hidden", cfg.Hidden, "hidden units of the MLP (parameters about 1026 x hidden)")
	fs.Var(csvStrings{&cfg.Protocols}, "protocols", "comma-separated protocols")
	jsonOut := jsonFlag(fs)
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	return runValidated(cfg, func(w io.Writer) ([]bench.RoundBenchResult, error) { return bench.RunRound(cfg, w) }, stdout, strings.TrimPrefix(fs.Name(), "bench "), *jsonOut)
}
