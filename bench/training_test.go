package bench

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/consort-ml/consort/federated/model"
)

// TestRunTrainingSmall runs the training benchmark on a small shape and
// checks the report and that training learned the teacher's labels.
func TestRunTrainingSmall(t *testing.T) {
	cfg := DefaultTrainingConfig()
	cfg.Examples, cfg.Features, cfg.Model, cfg.BatchSize, cfg.Epochs = 2000, 20, "mlp:32", 32, 3
	cfg.ReferenceTime = 20 * time.Millisecond
	var out bytes.Buffer
	res, err := RunTraining(cfg, &out)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(out.String())
	for _, want := range []string{"training mlp:32", "gonum Dgemm", "ratio training/Dgemm"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	if res.Params != 20*32+32+32*10+10 {
		t.Errorf("params %d", res.Params)
	}
	// Per example: forward 2*(20*32+32*10), weight gradients the same again,
	// input gradient of the second layer only 2*32*10.
	wantFLOPs := float64(cfg.Examples*cfg.Epochs) * (2*2*(20*32+32*10) + 2*32*10)
	if res.FLOPs != wantFLOPs {
		t.Errorf("FLOPs %v, want %v", res.FLOPs, wantFLOPs)
	}
	for name, v := range map[string]float64{"GFLOPS": res.GFLOPS, "Dgemm": res.DgemmGFLOPS, "Sgemm": res.SgemmGFLOPS, "ratio": res.Ratio} {
		if !(v > 0) || math.IsInf(v, 0) {
			t.Errorf("%s = %v, want a positive rate", name, v)
		}
	}
	if res.Accuracy < 0.5 {
		t.Errorf("training accuracy %.3f on a 10-class linear teacher, want >= 0.5", res.Accuracy)
	}
}

func TestTrainingDataDeterministic(t *testing.T) {
	cfg := DefaultTrainingConfig()
	cfg.Examples, cfg.Features = 500, 30
	X1, Y1, err := TrainingData(cfg)
	if err != nil {
		t.Fatal(err)
	}
	X2, Y2, _ := TrainingData(cfg)
	if !model.ParamsEqual(X1, X2) {
		t.Fatal("same seed, different features")
	}
	seen := make([]int, cfg.Classes)
	for i, y := range Y1 {
		if y != Y2[i] {
			t.Fatal("same seed, different labels")
		}
		seen[y]++
	}
	for c, n := range seen {
		if n == 0 {
			t.Errorf("class %d never occurs: %v", c, seen)
		}
	}
}

func TestTrainingConfigErrors(t *testing.T) {
	for name, mod := range map[string]func(*TrainingConfig){
		"examples=0": func(c *TrainingConfig) { c.Examples = 0 },
		"classes=1":  func(c *TrainingConfig) { c.Classes = 1 },
		"model":      func(c *TrainingConfig) { c.Model = "cnn" },
		"huge":       func(c *TrainingConfig) { c.Examples, c.Features = 1<<20, 1<<20 },
	} {
		cfg := DefaultTrainingConfig()
		mod(&cfg)
		if _, err := RunTraining(cfg, &bytes.Buffer{}); !errors.Is(err, ErrTrainingConfig) {
			t.Errorf("%s: %v, want ErrTrainingConfig", name, err)
		}
	}
}

// BenchmarkTrainingEpoch times one epoch of MLP training on MNIST-shaped
// synthetic data (6000 rows with -short) and reports the achieved GFLOP/s, gonum's
// Dgemm rate on the first layer's GEMM shape measured in the same process,
// and their ratio (target >= 0.5).
func BenchmarkTrainingEpoch(b *testing.B) {
	for _, hidden := range []string{"mlp:128", "mlp:256"} {
		b.Run(hidden, func(b *testing.B) {
			cfg := DefaultTrainingConfig()
			cfg.Model = hidden
			if testing.Short() {
				cfg.Examples = 6000
			}
			X, Y, err := TrainingData(cfg)
			if err != nil {
				b.Fatal(err)
			}
			spec, _ := model.ParseSpec(cfg.Model)
			gm, gn, gk := referenceShape(cfg, spec)
			dgemm := gemmRate(gm, gn, gk, true, 200*time.Millisecond)
			tc := model.TrainConfig{Epochs: 1, BatchSize: cfg.BatchSize, LR: cfg.LR, Momentum: cfg.Momentum, Seed: cfg.Seed}
			b.SetBytes(int64(len(X)) * 4)
			b.ReportAllocs()
			var flops float64
			b.ResetTimer()
			for b.Loop() {
				m, err := model.New(spec, cfg.Features, cfg.Classes, cfg.Seed)
				if err != nil {
					b.Fatal(err)
				}
				st, err := model.Train(m, X, Y, tc)
				if err != nil {
					b.Fatal(err)
				}
				flops += st.FLOPs
			}
			b.StopTimer()
			dgemm = (dgemm + gemmRate(gm, gn, gk, true, 200*time.Millisecond)) / 2
			rate := flops / b.Elapsed().Seconds() / 1e9
			b.ReportMetric(rate, "GFLOP/s")
			b.ReportMetric(dgemm, "dgemm-GFLOP/s")
			b.ReportMetric(rate/dgemm, "ratio-to-dgemm")
		})
	}
}
