package main

import (
	"bytes"
	"errors"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testMetrics = `round,participants,contributors,accuracy,loss,bytes_up,seconds,epsilon
1,3,3,0.500000,1.200000,9211,0.0794,0.5
2,3,2,-1.000000,-1.000000,9000,0.0841,0.9
3,3,3,0.900000,0.400000,9211,0.07,1.2
`

// TestParseMetrics checks the numbers behind the charts: columns found by
// name, -1 ("none reported") as a missing value, and one-line errors that
// name the file, line and column.
func TestParseMetrics(t *testing.T) {
	m, err := parseMetrics("m.csv", strings.NewReader(testMetrics))
	if err != nil {
		t.Fatal(err)
	}
	acc := series(m.Round, m.Accuracy, 1)
	if len(acc) != 2 || acc[0].X != 1 || acc[0].Y != 0.5 || acc[1].X != 3 || acc[1].Y != 0.9 {
		t.Errorf("accuracy series %v: want (1,0.5) (3,0.9), round 2 missing", acc)
	}
	kib := series(m.Round, m.BytesUp, 1.0/1024)
	if len(kib) != 3 || math.Abs(kib[1].Y-9000.0/1024) > 1e-12 {
		t.Errorf("bytes series %v", kib)
	}
	if !hasValues(m.Loss, false) || !hasValues(m.Epsilon, true) {
		t.Error("loss or epsilon not found")
	}
	// Reordered and extra columns; no epsilon column.
	m, err = parseMetrics("m.csv", strings.NewReader("accuracy,extra,round\n0.7,x,5\n"))
	if err != nil || m.Round[0] != 5 || m.Accuracy[0] != 0.7 || !math.IsNaN(m.Epsilon[0]) || hasValues(m.Epsilon, true) {
		t.Errorf("reordered columns: %v %+v", err, m)
	}
	for in, want := range map[string]string{
		"":                                  "metrics: m.csv: no header row",
		"accuracy\n0.5\n":                   "metrics: m.csv: no \"round\" column",
		"round,accuracy\n":                  "metrics: m.csv: no rounds",
		"round,accuracy\n1,0.5\n2\n":        "metrics: m.csv line 3: 1 fields, the header has 2",
		"round,accuracy\n1,0.5\n2,secret\n": "metrics: m.csv line 3 column \"accuracy\": not a number",
		"round,accuracy\n,0.5\n":            "metrics: m.csv line 2: no round number",
		"round,accuracy\n1,\"0.5\n":         "metrics: m.csv line 2: not CSV",
	} {
		_, err := parseMetrics("m.csv", strings.NewReader(in))
		if !errors.Is(err, errMetrics) || err.Error() != want {
			t.Errorf("parseMetrics(%q): %v, want %q", in, err, want)
		}
	}
}

// TestRenderPlots: the charts exist, decode as PNGs of the documented size,
// and only the charts with data are drawn.
func TestRenderPlots(t *testing.T) {
	m, err := parseMetrics("m.csv", strings.NewReader(testMetrics))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	charts, err := renderPlots(dir, m, plotOptions{Title: "test", Baselines: []plotBaseline{{"centralised, test set", 0.95}},
		FinalLabel: "final model, test set", Final: 0.93})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range charts {
		names = append(names, filepath.Base(c.File))
		checkPNG(t, c.File)
	}
	if strings.Join(names, ",") != "accuracy.png,loss.png,bytes.png,epsilon.png" {
		t.Errorf("charts %v", names)
	}
	// Without losses or DP: accuracy and bytes only.
	m, _ = parseMetrics("m.csv", strings.NewReader("round,accuracy,loss,bytes_up,epsilon\n1,0.5,-1,10,0\n"))
	charts, err = renderPlots(filepath.Join(dir, "b"), m, plotOptions{})
	if err != nil || len(charts) != 2 {
		t.Fatalf("%v %v", err, charts)
	}
	if _, err := os.Stat(filepath.Join(dir, "b", "loss.png")); err == nil {
		t.Error("loss.png drawn without losses")
	}
	if plotPixels != [2]int{975, 600} {
		t.Errorf("plot size %v, documented as 975x600", plotPixels)
	}
}

// checkPNG fails the test unless path is a PNG of plotPixels.
func checkPNG(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Error(err)
		return
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		t.Errorf("%s: %v", path, err)
		return
	}
	if cfg.Width != plotPixels[0] || cfg.Height != plotPixels[1] {
		t.Errorf("%s is %dx%d, want %dx%d", path, cfg.Width, cfg.Height, plotPixels[0], plotPixels[1])
	}
	if _, err := png.Decode(bytes.NewReader(b)); err != nil {
		t.Errorf("%s: %v", path, err)
	}
	if strings.Contains(path, "accuracy") && len(b) < 10000 {
		t.Errorf("%s is only %d bytes: an empty chart?", path, len(b))
	}
}

// metricsSeeds are the seed corpus of FuzzParseMetrics: a real file, its
// truncations and bit flips, and the error cases.
func metricsSeeds() []string {
	seeds := []string{testMetrics, "", "round\n", "round,accuracy\n1,0.5\n", "round,accuracy\n1,\"0.5\n",
		"accuracy,round\nNaN,1\n", "round,epsilon\n1,Inf\n", "round,bytes_up\n1,1e309\n",
		"round,accuracy\n100000000,0.5\n100000001,0.6\n", "round,loss\n1,1e300\n2,1e-300\n"}
	for _, n := range []int{1, 10, len(testMetrics) / 2, len(testMetrics) - 1} {
		seeds = append(seeds, testMetrics[:n])
	}
	for _, i := range []int{0, 7, 80, len(testMetrics) - 2} {
		b := []byte(testMetrics)
		b[i] ^= 0x20
		seeds = append(seeds, string(b))
	}
	return seeds
}

// FuzzParseMetrics: no panic on any file; every error is classified; what
// is accepted has one value per round in every column and renders.
func FuzzParseMetrics(f *testing.F) {
	seeds := metricsSeeds()
	if len(seeds) == 0 {
		f.Fatal("empty seed corpus")
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		m, err := parseMetrics("m.csv", strings.NewReader(in))
		if err != nil {
			if !errors.Is(err, errMetrics) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("unclassified or multi-line error: %q", err)
			}
			return
		}
		n := len(m.Round)
		if n == 0 || len(m.Accuracy) != n || len(m.Loss) != n || len(m.BytesUp) != n || len(m.Epsilon) != n {
			t.Fatalf("ragged table: %+v", m)
		}
		for _, r := range m.Round {
			if r != math.Trunc(r) || r < 0 || r > maxRound {
				t.Fatalf("round %v accepted", r)
			}
		}
	})
}

// TestRenderPlotsExtremes: tables the parser accepts but no run writes
// (one round, huge or tiny values, far-apart rounds) still render, quickly.
func TestRenderPlotsExtremes(t *testing.T) {
	for _, in := range []string{
		"round,accuracy\n7,0.5\n",
		"round,accuracy,loss,bytes_up,epsilon\n1,1e300,1e308,1e308,1e308\n2,0,1e-300,1e-300,1e-300\n",
		"round,accuracy\n0,0.1\n1073741824,0.9\n",
		"round,accuracy\n5,0.5\n5,0.6\n",
	} {
		m, err := parseMetrics("m.csv", strings.NewReader(in))
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		charts, err := renderPlots(t.TempDir(), m, plotOptions{})
		if err != nil || len(charts) == 0 {
			t.Errorf("%q: %v %v", in, err, charts)
		}
	}
}
