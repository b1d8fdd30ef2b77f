package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/consort-ml/consort/federated"
	"github.com/consort-ml/consort/federated/data"
	"github.com/consort-ml/consort/federated/manifest"
	"github.com/consort-ml/consort/federated/model"
)

// simFlags binds the flags of `consort simulate` to a SimConfig.
type simFlags struct {
	cfg                            federated.SimConfig
	modelName, hidden              string
	lr, momentum, wd, mu, serverLR float64
	jsonOut, noCentral             bool
	schema                         string
}

func bindSimFlags(fs *flag.FlagSet, f *simFlags) {
	c := &f.cfg
	fs.StringVar(&c.Dataset, "dataset", "", "data set: breast-cancer, digits, wine, mnist (found through $"+data.MNISTDirEnv+" or the GoMNIST module), csv:PATH, or idx:IMAGES,LABELS (IDX files such as Fashion-MNIST) (required)")
	fs.StringVar(&c.Label, "label", "", "label column of a csv: data set (default with --schema: the schema's)")
	fs.StringVar(&f.schema, "schema", "", "a manifest, or a TOML file with a [data] section, declaring how a csv: file is read: categorical columns, missing values, no header")
	fs.IntVar(&c.Parties, "parties", 3, "number of simulated teams")
	fs.IntVar(&c.Rounds, "rounds", 20, "federated rounds")
	fs.StringVar(&c.Protocol, "protocol", "plain", "aggregation protocol: "+strings.Join(protocolNames(), ", ")+" (plain is INSECURE: the aggregator sees every update)")
	fs.StringVar(&f.modelName, "model", "", "model: logistic, softmax or mlp (default: logistic for 2 classes, softmax otherwise)")
	fs.StringVar(&f.hidden, "hidden", "", "MLP hidden layer sizes, comma-separated, one or two layers (default 128)")
	fs.StringVar(&c.Partition, "partition", "iid", "how data is split among parties: iid, dirichlet:ALPHA or quantity:ALPHA")
	fs.IntVar(&c.Train.LocalEpochs, "local-epochs", 1, "local epochs per round")
	fs.IntVar(&c.Train.BatchSize, "batch", 32, "mini-batch size")
	fs.Float64Var(&f.lr, "lr", 0.1, "local learning rate")
	fs.Float64Var(&f.momentum, "momentum", 0.9, "SGD momentum")
	fs.Float64Var(&f.wd, "weight-decay", 0, "L2 weight decay")
	fs.StringVar(&c.Strategy.Name, "strategy", "fedavg", "server strategy: fedavg, fedprox or fedadam")
	fs.Float64Var(&f.mu, "mu", 0.01, "FedProx proximal coefficient")
	fs.Float64Var(&f.serverLR, "server-lr", 0.01, "FedAdam server learning rate")
	fs.Float64Var(&c.Fraction, "fraction", 1, "fraction of parties selected per round")
	fs.Float64Var(&c.Dropout, "dropout", 0, "probability that a selected party drops during a round")
	fs.IntVar(&c.Threshold, "threshold", 0, "minimum contributors per aggregate (0: a majority, floor(parties/2)+1)")
	fs.Float64Var(&c.DP.Clip, "dp-clip", 0, "differential privacy: L2 clip norm C of each party's update (0: no DP)")
	fs.Float64Var(&c.DP.NoiseMultiplier, "dp-noise", 0, "differential privacy: noise multiplier z (aggregate noise std z*C)")
	fs.Float64Var(&c.DP.Delta, "dp-delta", 1e-5, "differential privacy: delta at which epsilon is reported")
	fs.Float64Var(&c.DP.EpsilonBudget, "dp-epsilon-budget", 0, "differential privacy: stop before a round would exceed this epsilon (0: no limit)")
	fs.Uint64Var(&c.Seed, "seed", 1, "seed of the whole run")
	fs.BoolVar(&f.jsonOut, "json", false, "print one JSON summary object on stdout")
	fs.BoolVar(&f.noCentral, "no-centralized", false, "skip the centralised baseline")
}

// config finishes the SimConfig from the parsed flags.
func (f *simFlags) config() (federated.SimConfig, error) {
	c := f.cfg
	if c.Dataset == "" {
		return c, usagef("--dataset is required (breast-cancer, digits, wine, mnist or csv:PATH)")
	}
	if strings.HasPrefix(c.Dataset, "csv:") && c.Label == "" && f.schema == "" {
		return c, usagef("--label is required with a csv: data set")
	}
	if f.schema != "" && !strings.HasPrefix(c.Dataset, "csv:") {
		return c, usagef("--schema applies to csv: data sets")
	}
	c.Train.LR, c.Train.Momentum, c.Train.WeightDecay = float32(f.lr), float32(f.momentum), float32(f.wd)
	c.Strategy.Mu, c.Strategy.ServerLR = float32(f.mu), float32(f.serverLR)
	c.Model.Kind = f.modelName
	if f.hidden != "" {
		for _, s := range strings.Split(f.hidden, ",") {
			h, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || h < 1 {
				return c, usagef("--hidden: %q is not a positive layer size", s)
			}
			c.Model.Hidden = append(c.Model.Hidden, h)
		}
	}
	if _, err := model.ParseSpec(c.Model.String()); c.Model.Kind != "" && err != nil {
		return c, usageError(err)
	}
	c.Centralized = !f.noCentral
	if !c.DP.Enabled() {
		c.DP.Delta = 0
	}
	if err := c.Validate(); err != nil {
		return c, usageError(err)
	}
	return c, nil
}

func runSimulate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("simulate", "simulate --dataset NAME [--parties N] [--rounds R] [--protocol P] [flags]",
		"consort simulate --dataset breast-cancer --parties 3 --rounds 20 --protocol plain --json",
		"consort simulate --dataset digits --parties 10 --protocol secagg --dropout 0.2",
		"consort simulate --dataset digits --parties 10 --protocol secagg --dp-clip 1.0 --dp-noise 1.0 --rounds 20",
		"consort simulate --dataset csv:mydata.csv --label outcome --parties 4")
	var f simFlags
	bindSimFlags(fs, &f)
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	cfg, err := f.config()
	if err != nil {
		return err
	}
	name := cfg.Dataset
	if f.schema != "" {
		if err := applySchema(&cfg, f.schema, stdout, f.jsonOut); err != nil {
			return err
		}
	}
	var observe func(federated.RoundReport)
	if !f.jsonOut {
		if cfg.Protocol == "plain" {
			fmt.Fprintf(stdout, "WARNING: protocol %q is insecure: the aggregator sees every update\n", cfg.Protocol)
		}
		fmt.Fprintf(stdout, "simulating %d parties on %s, %d rounds, protocol %s\n", cfg.Parties, name, cfg.Rounds, cfg.Protocol)
		observe = func(r federated.RoundReport) {
			status := ""
			if r.Aborted {
				status = "  ABORTED (too few contributors)"
			}
			eps := ""
			if cfg.DP.Enabled() {
				eps = fmt.Sprintf("  epsilon %.3f", r.Epsilon)
			}
			fmt.Fprintf(stdout, "round %d/%d  participants %d  contributors %d  accuracy %.4f  loss %.4f%s  %.2fs%s\n",
				r.Round, r.Rounds, r.Participants, r.Contributors, r.Accuracy, r.Loss, eps, r.Seconds, status)
		}
	}
	res, err := federated.Simulate(ctx, cfg, observe)
	if err != nil {
		// A data set that cannot be named or found is the user's input too.
		if errors.Is(err, data.ErrInvalidArgument) || errors.Is(err, data.ErrUnknownDataset) || errors.Is(err, os.ErrNotExist) {
			return usageError(err)
		}
		return classify(err)
	}
	res.Dataset = name
	if res.Stopped != "" {
		fmt.Fprintf(stderr, "consort simulate: %s\n", res.Stopped)
	}
	if f.jsonOut {
		enc := json.NewEncoder(stdout)
		return enc.Encode(res)
	}
	fmt.Fprintf(stdout, "\nsummary: %s on %s (%d params), %d parties, %d rounds, protocol %s\n",
		res.Model, res.Dataset, res.Params, res.Parties, res.Rounds, res.Protocol)
	fmt.Fprintf(stdout, "  federated accuracy    %.4f\n", res.FinalAccuracy)
	if cfg.Centralized {
		fmt.Fprintf(stdout, "  centralised accuracy  %.4f\n", res.CentralizedAccuracy)
	}
	fmt.Fprintf(stdout, "  bytes up per node     %.0f per round\n", res.BytesUpPerNode)
	if cfg.DP.Enabled() {
		fmt.Fprintf(stdout, "  privacy               epsilon %.4f at delta %g (team-level, %d rounds)\n", res.Epsilon, res.Delta, len(res.History))
	}
	if res.AbortedRounds > 0 {
		fmt.Fprintf(stdout, "  aborted rounds        %d\n", res.AbortedRounds)
	}
	fmt.Fprintf(stdout, "  time                  %.1fs\n", res.Seconds)
	return nil
}

// applySchema reads the csv: data set of cfg as the [data] section of
// schemaPath declares (one-hot categorical columns, missing-value rules, no
// header) and points cfg at an encoded copy in a private temporary
// directory, which the returned function removes. federated.Prepare loads
// data sets by name (data.Load(cfg.Dataset, {Label})); until SimConfig
// carries a data.Schema, the encoded copy is how the declared reading
// reaches it, exactly (data.WriteCSV round-trips float32).
func applySchema(cfg *federated.SimConfig, schemaPath string, stdout io.Writer, quiet bool) error {
	d, err := manifest.LoadData(schemaPath)
	if err != nil {
		return usageError(err)
	}
	s := d.Schema()
	switch {
	case cfg.Label != "" && s.Label != "" && cfg.Label != s.Label:
		return usagef("--label %q differs from the schema's label %q", cfg.Label, s.Label)
	case s.Label == "":
		s.Label = cfg.Label
	}
	if s.Label == "" {
		return usagef("--label is required (the schema names no label column)")
	}
	path := strings.TrimPrefix(cfg.Dataset, "csv:")
	ds, err := data.LoadCSV(path, data.LoadOptions{Schema: s})
	if err != nil {
		return usageError(err)
	}
	if !quiet {
		fmt.Fprintf(stdout, "read %s as declared in %s: %d rows (%d dropped by missing-value rules), %d model inputs\n",
			path, schemaPath, ds.Len(), ds.Dropped, ds.Features)
	}
	cfg.Schema, cfg.Label = s, s.Label
	return nil
}
