package main

import (
	"context"
	"io"
)

// runDemo runs the bundled demonstration: a federation of three teams trained
// on the digits data set with a non-IID split.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", "demo [--protocol P]")
	protocol := fs.String("protocol", "plain", "aggregation protocol")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	return runSimulate(ctx, []string{"--dataset", "digits", "--parties", "3", "--rounds", "20",
		"--partition", "dirichlet:0.5", "--protocol", *protocol}, stdout, stderr)
}
