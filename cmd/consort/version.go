package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// buildVersion is what 'consort version' reports.
type buildVersion struct {
	Module   string `json:"module"`
	Version  string `json:"version"`
	Revision string `json:"revision,omitempty"`
	Time     string `json:"time,omitempty"`
	Modified bool   `json:"modified"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

// readBuildVersion reads the module version and the VCS stamp of the
// binary (go build stamps the revision when built inside a git work tree;
// go install pkg@version stamps the module version).
func readBuildVersion() buildVersion {
	v := buildVersion{Module: "github.com/consort-ml/consort", Version: "(devel)",
		Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if bi.Main.Path != "" {
		v.Module = bi.Main.Path
	}
	if bi.Main.Version != "" {
		v.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.time":
			v.Time = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

// runVersion implements 'consort version [--json]'.
func runVersion(_ context.Context, args []string, stdout, _ io.Writer) error {
	fs := newFlagSet("version", "version [--json]", `consort version
consort version --json`)
	jsonOut := fs.Bool("json", false, "print one JSON object (module, version, revision, time, modified, go, platform)")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	v := readBuildVersion()
	if *jsonOut {
		return writeJSON(stdout, v)
	}
	fmt.Fprintf(stdout, "consort %s", v.Version)
	if v.Revision != "" {
		rev := v.Revision
		if len(rev) > 12 {
			rev = rev[:12]
		}
		fmt.Fprintf(stdout, " (%s", rev)
		if v.Modified {
			fmt.Fprint(stdout, ", modified")
		}
		if v.Time != "" {
			fmt.Fprintf(stdout, ", %s", v.Time)
		}
		fmt.Fprint(stdout, ")")
	}
	fmt.Fprintf(stdout, " %s %s\n", v.Go, v.Platform)
	return nil
}

// writeJSON prints v as one indented JSON object and a newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
