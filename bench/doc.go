// Package bench holds consort's benchmark workloads, each as a Config type
// with documented defaults and a Run function that measures, writes a
// human-readable report to an io.Writer and returns the numbers. The
// consort command binds the Config fields to flags (consort bench ...), and
// the package's Benchmark functions run the same workloads under go test
// -bench.
//
// Every workload reports a ratio to a limit measured in the same process
// (AES-CTR keystream, memory copy, GEMM), because absolute times on a shared
// machine mean little.
//
// # Usage
//
//	res, err := bench.RunKernels(bench.DefaultKernelConfig(), os.Stdout)
//	if err != nil { ... }
//	for _, r := range res {
//		if !r.Pass { ... } // below its target ratio
//	}
package bench
