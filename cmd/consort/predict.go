package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"github.com/consort-ml/consort/federated/model"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/consort-ml/consort/federated/data"
	"github.com/consort-ml/consort/federated/manifest"
)

const predictExamples = `
output (CSV): the --id column (or "line", the row's line in the file),
"prediction", one "p_CLASS" probability column per class, and the label
column when the file has one; accuracy is printed on stderr only then.

examples:
  consort predict --model model.consort --data new-patients.csv --id patient_id > scores.csv
  consort predict --model model.consort --data test.csv --json
  consort predict --model model.consort --data messy.csv --manifest federation.toml --out scores.csv
`

// predictRow is one row of predict --json.
type predictRow struct {
	ID            string    `json:"id,omitempty"`
	Line          int       `json:"line"`
	Prediction    string    `json:"prediction"`
	Probabilities []float32 `json:"probabilities"`
	Label         *string   `json:"label,omitempty"`
}

// predictJSON is the --json output of predict.
type predictJSON struct {
	Model   string   `json:"model"`
	Data    string   `json:"data"`
	Classes []string `json:"classes"`
	Rows    int      `json:"rows"`
	Dropped int      `json:"dropped"`
	// Accuracy, Correct and Labelled are present only when the file has
	// the label column (Labelled counts the rows with a label).
	Accuracy    *float64     `json:"accuracy,omitempty"`
	Correct     *int         `json:"correct,omitempty"`
	Labelled    *int         `json:"labelled,omitempty"`
	Predictions []predictRow `json:"predictions"`
}

// runPredict applies a trained model file to a CSV file: per row the
// predicted class and the class probabilities, as CSV or JSON on stdout or
// --out; the accuracy when the file has the label column.
func runPredict(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("predict", "predict --model FILE --data FILE [--id COLUMN] [--label COLUMN] [--manifest FILE] [--json] [--out FILE]")
	modelPath := fs.String("model", "", "model file written by a coordinator or node (required)")
	dataPath := fs.String("data", "", "CSV file of the rows to score (required); the label column is optional")
	label := fs.String("label", "", "label column, used for the accuracy when present (default: the model's)")
	id := fs.String("id", "", "a column copied to the output to identify each row (e.g. a patient id)")
	manifestPath := fs.String("manifest", "", "the federation's manifest (or a TOML [data] section): read the file as it declares (categorical columns, missing values, no header)")
	jsonOut := fs.Bool("json", false, "print one JSON object (predictions, probabilities, accuracy) instead of CSV")
	out := fs.String("out", "", "write the predictions here (atomically) instead of stdout")
	usage := fs.Usage
	fs.Usage = func() { usage(); fmt.Fprint(fs.Output(), predictExamples) }
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if *modelPath == "" || *dataPath == "" {
		return usagef("--model and --data are required")
	}
	mf, err := model.ReadFile(*modelPath)
	if err != nil {
		return usageError(err)
	}
	m, err := mf.Model()
	if err != nil {
		return usageError(err)
	}
	schema := &data.Schema{Features: mf.FeatureNames}
	if *manifestPath != "" {
		d, err := manifest.LoadData(*manifestPath)
		if err != nil {
			return usageError(err)
		}
		schema = d.Schema()
		// The model's inputs must be what the declaration produces.
		if names := mf.FeatureNames; len(names) > 0 && !slices.Equal(names, schema.InputNames()) && !slices.Equal(names, schema.Features) {
			return usagef("the [data] section of %s does not describe this model's inputs", *manifestPath)
		}
	} else if slices.ContainsFunc(mf.FeatureNames, func(n string) bool { return strings.Contains(n, "=") }) ||
		len(mf.FeatureNames) > 0 && len(mf.FeatureNames) != mf.Features {
		return usagef("the model takes one-hot encoded columns: give --manifest with the federation's [data] section")
	}
	lab := *label
	if lab == "" {
		lab = schema.Label
	}
	if lab == "" {
		lab = mf.Label
	}
	schema.Label = lab
	opts := data.LoadOptions{Schema: schema, LabelOptional: true}
	if *id != "" {
		opts.Keep = []string{*id}
	}
	tab, err := data.LoadTable(*dataPath, opts)
	if err != nil {
		return usageError(err)
	}
	if tab.Features != mf.Features {
		return usagef("%s gives %d model inputs, the model takes %d", *dataPath, tab.Features, mf.Features)
	}
	classes := mf.ClassNames
	if len(classes) != mf.Classes {
		classes = make([]string, mf.Classes)
		for i := range classes {
			classes[i] = strconv.Itoa(i)
		}
	}
	// Labels, when the file has them, are checked against the model's
	// classes before anything is written.
	var truth []int
	labelled := 0
	if tab.Labels != nil {
		idx := make(map[string]int, len(classes))
		for i, c := range classes {
			idx[c] = i
		}
		truth = make([]int, len(tab.Labels))
		for i, l := range tab.Labels {
			if l == "" {
				truth[i] = -1
				continue
			}
			c, ok := idx[l]
			if !ok {
				return usageError(&data.ParseError{File: *dataPath, Line: tab.Lines[i], ColumnName: lab,
					Reason: fmt.Sprintf("label value is not one of the model's %d classes", len(classes))})
			}
			truth[i] = c
			labelled++
		}
	}
	if len(mf.Mean) > 0 {
		ds := &data.Dataset{Name: tab.Name, X: tab.X, Y: make([]int, tab.Rows()), Features: tab.Features}
		if err := (&data.Scaler{Mean: mf.Mean, Std: mf.Std}).Transform(ds); err != nil {
			return err
		}
	}
	probs, err := m.Probabilities(nil, tab.X)
	if err != nil {
		return err
	}
	k := len(classes)
	pred := make([]int, tab.Rows())
	correct := 0
	for i := range pred {
		p := probs[i*k : (i+1)*k]
		for c := range p {
			if p[c] > p[pred[i]] {
				pred[i] = c
			}
		}
		if truth != nil && truth[i] == pred[i] {
			correct++
		}
	}
	write := func(w io.Writer) error {
		if *jsonOut {
			return writePredictJSON(w, *modelPath, *dataPath, classes, tab, pred, probs, truth, correct, labelled)
		}
		return writePredictCSV(w, *id, lab, classes, tab, pred, probs)
	}
	if *out == "" {
		err = write(stdout)
	} else {
		err = writeFileAtomic(*out, 0o600, write)
	}
	if err != nil {
		return err
	}
	if tab.Dropped > 0 {
		fmt.Fprintf(stderr, "%d rows dropped by the missing-value rules (not scored)\n", tab.Dropped)
	}
	if !*jsonOut && truth != nil && labelled > 0 {
		fmt.Fprintf(stderr, "accuracy %.4f (%d of %d)\n", float64(correct)/float64(labelled), correct, labelled)
	}
	return nil
}

// writePredictCSV writes one row per scored row: id (or line), prediction,
// p_CLASS..., and the label column when the file has one.
func writePredictCSV(w io.Writer, id, label string, classes []string, tab *data.Table, pred []int, probs []float32) error {
	cw := csv.NewWriter(w)
	head := []string{"line"}
	if id != "" {
		head[0] = id
	}
	head = append(head, "prediction")
	for _, c := range classes {
		head = append(head, "p_"+c)
	}
	if tab.Labels != nil {
		head = append(head, label)
	}
	if err := cw.Write(head); err != nil {
		return err
	}
	k := len(classes)
	rec := make([]string, 0, len(head))
	for i, p := range pred {
		rec = rec[:0]
		if id != "" {
			rec = append(rec, tab.Kept[0][i])
		} else {
			rec = append(rec, strconv.Itoa(tab.Lines[i]))
		}
		rec = append(rec, classes[p])
		for _, v := range probs[i*k : (i+1)*k] {
			rec = append(rec, strconv.FormatFloat(float64(v), 'g', 6, 32))
		}
		if tab.Labels != nil {
			rec = append(rec, tab.Labels[i])
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func writePredictJSON(w io.Writer, modelPath, dataPath string, classes []string, tab *data.Table, pred []int, probs []float32, truth []int, correct, labelled int) error {
	k := len(classes)
	o := predictJSON{Model: modelPath, Data: dataPath, Classes: classes, Rows: tab.Rows(), Dropped: tab.Dropped,
		Predictions: make([]predictRow, len(pred))}
	for i, p := range pred {
		r := predictRow{Line: tab.Lines[i], Prediction: classes[p], Probabilities: probs[i*k : (i+1)*k]}
		if len(tab.Kept) > 0 {
			r.ID = tab.Kept[0][i]
		}
		if truth != nil && truth[i] >= 0 {
			r.Label = &tab.Labels[i]
		}
		o.Predictions[i] = r
	}
	if truth != nil {
		o.Correct, o.Labelled = &correct, &labelled
		if labelled > 0 {
			acc := float64(correct) / float64(labelled)
			o.Accuracy = &acc
		}
	}
	return json.NewEncoder(w).Encode(o)
}
