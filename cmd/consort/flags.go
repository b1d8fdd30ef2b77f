package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// newFlagSet returns a flag set whose parse errors come back as one-line
// usage errors instead of being printed with the full flag list. Its help
// (-h, --help) shows the synopsis, the flags written with two dashes (as in
// the docs; Go's flag package accepts one or two) and the examples, one
// command line each.
func newFlagSet(name, synopsis string, examples ...string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "usage: consort %s\n", synopsis)
		printFlags(w, fs)
		printExamples(w, examples)
	}
	return fs
}

// printFlags lists a flag set's flags with two dashes, like PrintDefaults.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	first := true
	fs.VisitAll(func(f *flag.Flag) {
		if first {
			fmt.Fprintln(w, "\nflags:")
			first = false
		}
		typ, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if typ != "" {
			line += " " + typ
		}
		fmt.Fprintln(w, line)
		usage = strings.ReplaceAll(usage, "\n", "\n    \t")
		if d := f.DefValue; d != "" && d != "false" && d != "0" && d != "[]" {
			usage += fmt.Sprintf(" (default %s)", d)
		}
		fmt.Fprintf(w, "    \t%s\n", usage)
	})
}

// printExamples writes an examples section (nothing when there are none).
func printExamples(w io.Writer, examples []string) {
	if len(examples) == 0 {
		return
	}
	fmt.Fprintln(w, "\nexamples:")
	for _, e := range examples {
		for l := range strings.SplitSeq(e, "\n") {
			fmt.Fprintf(w, "  %s\n", l)
		}
	}
}

// parseFlags parses args; -h prints the command's help on stdout and returns
// errHelp, other problems become usage errors (exit status 2).
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(stdout)
		fs.Usage()
		return errHelp
	}
	if err != nil {
		return usageError(flagError(err))
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// flagError rewrites the flag package's messages to name flags with two
// dashes, as the help and the docs do.
func flagError(err error) error {
	msg := err.Error()
	for _, p := range []string{"for flag -", "not defined: -", "needs an argument: -", "for flag: -"} {
		if i := strings.Index(msg, p); i >= 0 && !strings.HasPrefix(msg[i+len(p):], "-") {
			msg = msg[:i+len(p)] + "-" + msg[i+len(p):]
		}
	}
	return errors.New(msg)
}

// subcommand is one line of a command group's help.
type subcommand struct{ name, brief string }

// printGroupHelp writes the help of a command with subcommands (audit,
// manifest): synopsis, the subcommands, where their flags are, examples.
func printGroupHelp(w io.Writer, synopsis string, subs []subcommand, examples []string) {
	fmt.Fprintf(w, "usage: consort %s\n\nsubcommands:\n", synopsis)
	group, _, _ := strings.Cut(synopsis, " ")
	for _, s := range subs {
		fmt.Fprintf(w, "  %-8s %s\n", s.name, s.brief)
	}
	fmt.Fprintf(w, "\nRun 'consort %s <subcommand> --help' for its flags.\n", group)
	printExamples(w, examples)
}
