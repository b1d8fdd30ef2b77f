package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/consort-ml/consort/federated/data"
	"github.com/consort-ml/consort/federated/manifest"
	"github.com/consort-ml/consort/internal/atomicfile"
)

const dataSynopsis = "data export|check [flags] (run 'consort data <subcommand> -h')"

// dataExamples are the examples of 'consort data --help' and 'data check --help'.
var dataExamples = []string{
	"consort data export wine --out wine.csv",
	"consort data check --manifest manifest.toml --data team-a.csv",
	"consort data check --manifest manifest.toml --data team-a.csv --json",
}

// runData implements "consort data export|check".
func runData(_ context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("usage: consort %s", dataSynopsis)
	}
	switch args[0] {
	case "export":
		return runDataExport(args[1:], stdout, stderr)
	case "check":
		return runDataCheck(args[1:], stdout)
	case "-h", "--help", "help":
		fmt.Fprintf(stdout, "usage: consort %s\n\n  export  write a bundled data set as a CSV file\n  check   read a team's CSV file as a manifest's [data] section declares, and report what the node would train on\n", dataSynopsis)
		printExamples(stdout, dataExamples)
		return errHelp
	}
	return usagef("unknown subcommand %q (want export or check)", args[0])
}

const dataExportExamples = `
examples:
  consort data export digits --out digits.csv
  consort data export breast-cancer --out - | head
  consort data export idx:train-images-idx3-ubyte.gz,train-labels-idx1-ubyte.gz --out fashion.csv
`

func runDataExport(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("data export", "data export NAME --out FILE [--label COLUMN] [--force]")
	out := fs.String("out", "", "CSV file to write, or - for stdout (required)")
	label := fs.String("label", "label", "name of the label column")
	force := fs.Bool("force", false, "overwrite --out if it exists")
	usage := fs.Usage
	fs.Usage = func() {
		usage()
		fmt.Fprintf(fs.Output(), "\nNAME is %s, or idx:IMAGES,LABELS.\n", strings.Join(data.Names(), ", "))
		fmt.Fprint(fs.Output(), dataExportExamples)
	}
	// The data set name comes first, the flags after it.
	var name string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if name == "" || *out == "" {
		return usagef("a data set name and --out are required (consort data export NAME --out FILE)")
	}
	if strings.HasPrefix(name, "csv:") {
		return usagef("%s is already a CSV file", strings.TrimPrefix(name, "csv:"))
	}
	ds, err := data.Load(name, data.LoadOptions{})
	if err != nil {
		return usageError(err)
	}
	if *out == "-" {
		return data.WriteCSV(stdout, ds, *label)
	}
	if !*force {
		if _, err := os.Stat(*out); err == nil {
			return withCode(fmt.Errorf("%s exists (use --force to overwrite)", *out), exitInput)
		}
	}
	if err := writeFileAtomic(*out, 0o644, func(w io.Writer) error { return data.WriteCSV(w, ds, *label) }); err != nil {
		if errors.Is(err, data.ErrInvalidArgument) {
			return usageError(err)
		}
		return err
	}
	fmt.Fprintf(stderr, "wrote %s: %d rows, %d features and the label column %q (%d classes)\n", *out, ds.Len(), ds.Features, *label, ds.Classes)
	return nil
}

// checkJSON is the --json output of data check: counts only, never a
// value from the file.
type checkJSON struct {
	File         string         `json:"file"`
	Rows         int            `json:"rows"`
	Dropped      int            `json:"dropped"`
	Inputs       int            `json:"inputs"`
	InputNames   []string       `json:"input_names"`
	Classes      []string       `json:"classes"`
	ClassCounts  map[string]int `json:"class_counts"`
	Undeclared   int            `json:"undeclared_label_rows,omitempty"`
	ManifestPath string         `json:"manifest"`
}

func runDataCheck(args []string, stdout io.Writer) error {
	fs := newFlagSet("data check", "data check --manifest FILE --data FILE [--label COLUMN] [--json]", dataExamples[1:]...)
	mpath := fs.String("manifest", "", "a manifest, or a TOML file with only a [data] section, declaring how the file is read (required)")
	dpath := fs.String("data", "", "the team's CSV file (required)")
	label := fs.String("label", "", "label column (default: the manifest's)")
	jsonOut := fs.Bool("json", false, "print the report as one JSON object")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if *mpath == "" || *dpath == "" {
		return usagef("--manifest and --data are required")
	}
	d, err := manifest.LoadData(*mpath)
	if err != nil {
		return usageError(err)
	}
	s := d.Schema()
	if *label != "" {
		s.Label = *label
	}
	if s.Label == "" {
		return usagef("the manifest names no label column: give --label")
	}
	ds, err := data.LoadCSV(*dpath, data.LoadOptions{Schema: s})
	if err != nil {
		return usageError(err)
	}
	rep := checkJSON{File: *dpath, Rows: ds.Len(), Dropped: ds.Dropped, Inputs: ds.Features, InputNames: ds.FeatureNames,
		Classes: ds.ClassNames, ClassCounts: map[string]int{}, ManifestPath: *mpath}
	for c, n := range ds.ClassCounts() {
		rep.ClassCounts[ds.ClassNames[c]] = n
	}
	if len(d.Classes) > 0 {
		declared := map[string]bool{}
		for _, c := range d.Classes {
			declared[c] = true
		}
		for c, n := range ds.ClassCounts() {
			if !declared[ds.ClassNames[c]] {
				rep.Undeclared += n
			}
		}
		if rep.Undeclared > 0 {
			return usagef("%s: %d rows have a label value the manifest's classes do not list", *dpath, rep.Undeclared)
		}
	}
	if w := d.InputWidth(); w > 0 && w != ds.Features {
		return usagef("%s gives %d model inputs, the manifest declares %d", *dpath, ds.Features, w)
	}
	if *jsonOut {
		return json.NewEncoder(stdout).Encode(rep)
	}
	fmt.Fprintf(stdout, "ok: %s: %d rows (%d dropped by missing-value rules), %d model inputs, %d classes\n",
		*dpath, rep.Rows, rep.Dropped, rep.Inputs, len(rep.Classes))
	for c, n := range ds.ClassCounts() {
		fmt.Fprintf(stdout, "  class %-12s %d rows\n", ds.ClassNames[c], n)
	}
	return nil
}

// writeFileAtomic renders a file in memory and writes it with
// atomicfile.Write: a crash leaves the old file or the new one, never a
// torn one.
func writeFileAtomic(path string, mode os.FileMode, write func(io.Writer) error) error {
	var buf bytes.Buffer
	if err := write(&buf); err != nil {
		return err
	}
	return atomicfile.Write(path, buf.Bytes(), mode)
}
