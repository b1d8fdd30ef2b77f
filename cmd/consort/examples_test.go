package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/consort-ml/consort/federated/policy"
)

// TestOperatorExamples keeps the operator examples of docs/operations.md
// working: the node policy parses with the values its comments describe,
// and the systemd unit uses only flags that 'consort node' has and exit
// statuses from the table.
func TestOperatorExamples(t *testing.T) {
	p, err := policy.Load("../../examples/node/policy.toml")
	if err != nil {
		t.Fatal(err)
	}
	if p.MinContributors != 3 || p.MaxRounds != 50 || p.MaxEpsilon != 8 || p.Delta != 1e-5 || len(p.Protocols) != 2 {
		t.Errorf("examples/node/policy.toml: %+v", p)
	}

	unit, err := os.ReadFile("../../examples/node/consort-node.service")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(unit), "\\\n", " ")
	exec := regexp.MustCompile(`(?m)^ExecStart=/usr/local/bin/consort node (.*)$`).FindStringSubmatch(text)
	if exec == nil {
		t.Fatal("no ExecStart running consort node")
	}
	var help bytes.Buffer
	if code := run(context.Background(), []string{"node", "--help"}, &help, &bytes.Buffer{}); code != 0 {
		t.Fatalf("node --help: %d", code)
	}
	flags := regexp.MustCompile(`--[a-z-]+`).FindAllString(exec[1], -1)
	if len(flags) < 5 {
		t.Fatalf("ExecStart flags %v", flags)
	}
	for _, f := range flags {
		if !regexp.MustCompile(`(?m)^  ` + f + `( |$)`).MatchString(help.String()) {
			t.Errorf("the unit uses %s, which consort node does not have", f)
		}
	}
	known := map[int]bool{}
	for _, c := range exitCodes {
		known[c.code] = true
	}
	for _, key := range []string{"RestartPreventExitStatus", "SuccessExitStatus"} {
		m := regexp.MustCompile(`(?m)^` + key + `=(.*)$`).FindStringSubmatch(text)
		if m == nil {
			t.Fatalf("no %s", key)
		}
		for _, f := range strings.Fields(m[1]) {
			n, err := strconv.Atoi(f)
			if err != nil || !known[n] || n == exitOK || n == exitFailure || n == exitNetwork {
				t.Errorf("%s lists %q: not a non-retryable status of the table", key, f)
			}
		}
	}
}
