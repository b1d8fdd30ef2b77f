package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 21 {
		t.Fatalf("want 20 round lines and a summary, got %d lines", len(lines))
	}
	var fed, central float64
	if _, err := fmt.Sscanf(lines[20], "federated %f, centralised %f", &fed, &central); err != nil {
		t.Fatalf("summary %q: %v", lines[20], err)
	}
	if fed < 0.93 || central-fed > 0.03 {
		t.Errorf("federated %.3f, centralised %.3f", fed, central)
	}
}
