package main

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/consort-ml/consort/federated/model"
	"os"
	"path/filepath"
	"testing"

	"github.com/consort-ml/consort/federated"
	"github.com/consort-ml/consort/federated/data"
)

// TestPredictAgreesWithSimulation: a model trained by consort simulate,
// written as a model file with its standardisation, scores the held-out
// rows through consort predict with the accuracy the simulation measured.
func TestPredictAgreesWithSimulation(t *testing.T) {
	dir := t.TempDir()
	cfg := federated.SimConfig{Dataset: "wine", Parties: 3, Rounds: 5, Seed: 1, Protocol: "plain", TestFraction: 0.25}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	res, err := federated.Simulate(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := data.Load("wine", data.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	train, test, err := data.Split(ds, cfg.TestFraction, cfg.Seed)
	if err != nil {
		t.Fatal(err)
	}
	sc := data.FitScaler(train)
	mf := &model.File{Spec: cfg.ModelSpec(ds.Classes), Features: ds.Features, Classes: ds.Classes,
		FeatureNames: ds.FeatureNames, ClassNames: ds.ClassNames, Label: "label", Mean: sc.Mean, Std: sc.Std, Params: res.Global}
	modelPath := filepath.Join(dir, "model.consort")
	if err := model.WriteFile(modelPath, mf); err != nil {
		t.Fatal(err)
	}
	var csvBuf bytes.Buffer
	if err := data.WriteCSV(&csvBuf, test, "label"); err != nil {
		t.Fatal(err)
	}
	testPath := filepath.Join(dir, "test.csv")
	if err := os.WriteFile(testPath, csvBuf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"predict", "--model", modelPath, "--data", testPath, "--json"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var got struct {
		Accuracy    float64 `json:"accuracy"`
		Labelled    int     `json:"labelled"`
		Predictions []struct {
			Probabilities []float64 `json:"probabilities"`
		} `json:"predictions"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Labelled != test.Len() || got.Accuracy != res.FinalAccuracy {
		t.Fatalf("predict: accuracy %v on %d rows, simulate: %v on %d", got.Accuracy, got.Labelled, res.FinalAccuracy, test.Len())
	}
	for i, p := range got.Predictions {
		sum := 0.0
		for _, v := range p.Probabilities {
			sum += v
		}
		if len(p.Probabilities) != 3 || sum < 0.9999 || sum > 1.0001 {
			t.Fatalf("row %d: probabilities %v", i, p.Probabilities)
		}
	}
	t.Logf("predict and simulate agree: accuracy %.4f on %d held-out rows", got.Accuracy, got.Labelled)
}
