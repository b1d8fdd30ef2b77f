package main

import (
	"context"
	"io"
)

// runBench runs the benchmark workloads of package bench.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("bench needs a workload: %v", benchNames())
	}
	return usagef("unknown workload %q (want one of %v)", args[0], benchNames())
}

func benchNames() []string { return []string{} }
