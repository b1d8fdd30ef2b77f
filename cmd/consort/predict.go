package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/consort-ml/consort/federated"
	"github.com/consort-ml/consort/federated/data"
	"github.com/consort-ml/consort/federated/model"
)

// runPredict applies a trained model file to a CSV file: predictions as CSV
// (row, predicted label, true label) on stdout or --out, accuracy on stderr.
func runPredict(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("predict", "predict --model FILE --data FILE [--label COLUMN] [--out FILE]")
	modelPath := fs.String("model", "", "model file written by a coordinator or node (required)")
	dataPath := fs.String("data", "", "CSV file with a header row (required)")
	label := fs.String("label", "", "label column (default: the model's)")
	out := fs.String("out", "", "write predictions here instead of stdout")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if *modelPath == "" || *dataPath == "" {
		return usagef("--model and --data are required")
	}
	mf, err := federated.ReadModelFile(*modelPath)
	if err != nil {
		return usageError(err)
	}
	m, err := mf.Model()
	if err != nil {
		return usageError(err)
	}
	lab := *label
	if lab == "" {
		lab = mf.Label
	}
	if lab == "" {
		return usagef("the model names no label column: give --label")
	}
	ds, err := data.LoadCSV(*dataPath, data.LoadOptions{Label: lab, Columns: mf.FeatureNames})
	if err != nil {
		return usageError(err)
	}
	if ds.Features != mf.Features {
		return usagef("%s has %d feature columns, the model takes %d", *dataPath, ds.Features, mf.Features)
	}
	if err := federated.AlignClasses(ds, mf.ClassNames); err != nil {
		return usageError(err)
	}
	if len(mf.Mean) > 0 {
		if err := (&data.Scaler{Mean: mf.Mean, Std: mf.Std}).Transform(ds); err != nil {
			return err
		}
	}
	pred, err := model.Predict(m, ds.X)
	if err != nil {
		return err
	}
	w := stdout
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			return usageError(err)
		}
		defer f.Close()
		w = f
	}
	cw := csv.NewWriter(w)
	name := func(c int) string {
		if c < len(ds.ClassNames) {
			return ds.ClassNames[c]
		}
		return strconv.Itoa(c)
	}
	correct := 0
	_ = cw.Write([]string{"row", "prediction", lab})
	for i, p := range pred {
		if p == ds.Y[i] {
			correct++
		}
		_ = cw.Write([]string{strconv.Itoa(i + 1), name(p), name(ds.Y[i])})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "accuracy %.4f (%d of %d)\n", float64(correct)/float64(len(pred)), correct, len(pred))
	return nil
}
