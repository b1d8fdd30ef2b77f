// Command consort is the one binary of consort: simulate, benchmark, and run
// nodes and coordinators of a federation. See the package documentation in
// doc.go and the README for the commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// errUsage marks errors caused by the user's command line (flags,
// arguments): they exit with status 2 unless the error's class says
// otherwise (see exitcodes.go).
var errUsage = errors.New("usage")

// usageError wraps err so that it exits with status 2.
func usageError(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w%w", err, usageMark{})
}

// usageMark lets errors.Is(err, errUsage) hold without changing the message.
type usageMark struct{}

func (usageMark) Error() string        { return "" }
func (usageMark) Is(target error) bool { return target == errUsage }

// usagef formats a usage error.
func usagef(format string, args ...any) error {
	return usageError(fmt.Errorf(format, args...))
}

type command struct {
	name  string
	brief string
	run   func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"keygen", "create an identity key file and print its peer ID", runKeygen},
		{"manifest", "create, sign and verify a federation manifest", runManifest},
		{"coordinator", "run a federation's coordinator", runCoordinator},
		{"node", "run a team's node beside its data", runNode},
		{"simulate", "train a federation in process (research and testing)", runSimulate},
		{"demo", "run the bundled demonstration", runDemo},
		{"bench", "run benchmarks and print ratios to measured limits", runBench},
		{"audit", "verify signed, hash-chained audit logs", runAudit},
		{"predict", "apply a trained model file to a CSV file", runPredict},
		{"data", "export a bundled data set as CSV, check a team's file against a manifest", runData},
		{"plot", "render a run's metrics.csv as PNG charts", runPlot},
		{"version", "print the version, VCS revision and Go version", runVersion},
	}
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: consort <command> [flags]")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.brief)
	}
	fmt.Fprintln(w, "\nRun 'consort <command> --help' for the flags and examples of a command,")
	fmt.Fprintln(w, "'consort help exit-codes' for the exit statuses (the same for every command).")
}

// run executes one command line and returns the process exit status (the
// table is in exitcodes.go). An error is printed as one line on stderr; a
// panic is reported the same way, never as a stack trace.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (code int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "consort: internal error: %s\n", oneLine(fmt.Sprint(r)))
			code = exitInternal
		}
	}()
	if len(args) == 0 {
		printUsage(stderr)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "-h", "--help":
		printUsage(stdout)
		return exitOK
	case "help":
		return runHelp(ctx, args[1:], stdout, stderr)
	case "--version", "-version":
		name, args = "version", []string{"version"}
	}
	for _, c := range commands() {
		if c.name != name {
			continue
		}
		err := c.run(ctx, args[1:], stdout, stderr)
		switch {
		case err == nil:
			return exitOK
		case ctx.Err() != nil && errors.Is(err, context.Canceled):
			fmt.Fprintf(stderr, "consort %s: interrupted\n", name)
			return exitInterrupted
		case errors.Is(err, errHelp):
			return exitOK
		}
		fmt.Fprintf(stderr, "consort %s: %s\n", name, oneLine(err.Error()))
		return exitCode(err)
	}
	fmt.Fprintf(stderr, "consort: unknown command %q (run 'consort help')\n", name)
	return exitUsage
}

// runHelp implements 'consort help [COMMAND|exit-codes]'.
func runHelp(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	switch {
	case len(args) == 0:
		printUsage(stdout)
		return exitOK
	case len(args) == 1 && args[0] == "exit-codes":
		printExitCodes(stdout)
		return exitOK
	case len(args) == 1:
		for _, c := range commands() {
			if c.name == args[0] {
				return run(ctx, []string{c.name, "--help"}, stdout, stderr)
			}
		}
	}
	fmt.Fprintf(stderr, "consort help: unknown help topic %q (want a command or exit-codes)\n", strings.Join(args, " "))
	return exitUsage
}

// errHelp is returned when -h was given: the flag set already printed help.
var errHelp = errors.New("help requested")

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	s = strings.ReplaceAll(s, "\r", " ")
	return strings.ReplaceAll(s, "\n", "; ")
}
