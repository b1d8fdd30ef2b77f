package main

import (
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
			`(?m)^run directory \S+/run: model.consort, metrics.csv, accuracy.png, bytes.png \(logs in \S+/logs\)$`,
			`(?m)^audit logs verified and cross-checked`,
		} {
			if !regexp.MustCompile(want).MatchString(out) {
				t.Errorf("run %d: stdout does not match %q:\n%s", run+1, want, out)
			}
		}
		for _, name := range []string{"accuracy.png", "bytes.png"} {
			checkPNG(t, filepath.Join(dir, "run", name))
		}
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
