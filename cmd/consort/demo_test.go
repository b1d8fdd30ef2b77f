package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// TestDemoDir runs the real binary's demo in a directory: a non-empty
// directory the demo did not create is refused (files untouched); a new one
// is marked, and a second run in it replaces only the demo's own outputs.
// The plots it writes decode as PNGs of the documented size.
func TestDemoDir(t *testing.T) {
	bin := e2eBuild(t)
	user := t.TempDir()
	notes := filepath.Join(user, "notes.txt")
	if err := os.WriteFile(notes, []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := e2eStart(t, "demo in a user directory", bin, "demo", "--dir", user, "--rounds", "2")
	if code := p.wait(t, 30*time.Second); code != exitUsage || p.stderr.String() != "consort demo: --dir "+user+" is not empty and was not created by consort demo (no .consort-demo file): give a new or empty directory\n" {
		t.Errorf("demo in a non-empty directory: exit %d, stderr %q", code, p.stderr.String())
	}
	if entries, _ := os.ReadDir(user); len(entries) != 1 {
		t.Errorf("the refused demo changed the directory: %v", entries)
	}

	dir := filepath.Join(t.TempDir(), "demo")
	for run := range 2 {
		p := e2eStart(t, fmt.Sprintf("demo run %d", run+1), bin, "demo", "--dir", dir, "--rounds", "3", "--dataset", "breast-cancer")
		p.waitExit0(t, 2*time.Minute)
		out := p.stdout.String()
		for _, want := range []string{
			`(?m)^  accuracy on the test set, \d+ rows \(no team trained on it\):$`,
			`(?m)^run directory \S+/run: model.consort, metrics.csv, accuracy.png, (loss.png, )?bytes.png, charts.json \(logs in \S+/logs\)$`,
			`(?m)^audit logs verified and cross-checked`,
		} {
			if !regexp.MustCompile(want).MatchString(out) {
				t.Errorf("run %d: stdout does not match %q:\n%s", run+1, want, out)
			}
		}
		for _, name := range []string{"accuracy.png", "bytes.png"} {
			checkPNG(t, filepath.Join(dir, "run", name))
		}
		checkDemoAgreement(t, out, filepath.Join(dir, "run"))
		if run == 0 {
			// A file of the user's beside the demo's is kept by the rerun.
			if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "notes.txt")); err != nil || string(b) != "mine" {
		t.Errorf("the rerun touched the user's file: %v %q", err, b)
	}
}

// checkDemoAgreement checks the numbers behind the demo's accuracy chart
// (charts.json) against its summary: every test-set number of the summary is
// on the chart with the same value and a label naming the same test set,
// and the per-round line is labelled with the held-out data it comes from
// and matches metrics.csv.
func checkDemoAgreement(t *testing.T, summary, run string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(run, "charts.json"))
	if err != nil {
		t.Fatal(err)
	}
	var charts []plotChart
	if err := json.Unmarshal(b, &charts); err != nil {
		t.Fatal(err)
	}
	if len(charts) == 0 || filepath.Base(charts[0].File) != "accuracy.png" {
		t.Fatalf("charts.json: %s", b)
	}
	testSet := regexp.MustCompile(`(?m)^  accuracy on the (test set, \d+ rows) `).FindStringSubmatch(summary)
	if testSet == nil {
		t.Fatalf("summary names no test set:\n%s", summary)
	}
	value := func(line string) string {
		m := regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(line) + ` +accuracy (\d\.\d{4})$`).FindStringSubmatch(summary)
		if m == nil {
			t.Fatalf("summary has no %q line:\n%s", line, summary)
		}
		return m[1]
	}
	want := map[string]string{
		"federated final model, on the " + testSet[1]:         value("federated model (3 teams)"),
		"centralised (all data pooled), on the " + testSet[1]: value("centralised (all data pooled)"),
		"team-a alone, on the " + testSet[1]:                  value("team-a alone"),
	}
	found := 0
	for _, s := range charts[0].Series {
		if v, ok := want[s.Label]; ok {
			found++
			if got := fmt.Sprintf("%.4f", s.Points[len(s.Points)-1][1]); got != v {
				t.Errorf("chart %q = %s, summary says %s", s.Label, got, v)
			}
			continue
		}
		if s.Label != "federated model, on each team's held-out 20%" {
			t.Errorf("chart series %q names no data set the summary knows", s.Label)
			continue
		}
		m, err := readMetricsFile(filepath.Join(run, "metrics.csv"))
		if err != nil {
			t.Fatal(err)
		}
		if pts := series(m.Round, m.Accuracy, 1); len(pts) != len(s.Points) || pts[len(pts)-1].Y != s.Points[len(pts)-1][1] {
			t.Errorf("held-out series %v differs from metrics.csv %v", s.Points, pts)
		}
	}
	if found != len(want) {
		t.Errorf("chart has %d of the summary's %d test-set numbers: %+v", found, len(want), charts[0].Series)
	}
}
