package deps

import (
	"bytes"
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/consort-ml/consort"

// layer returns the top-level component of a package of this module
// ("federated" for federated/data), or "" for packages outside it.
func layer(pkg string) string {
	if pkg == module {
		return "root"
	}
	rest, ok := strings.CutPrefix(pkg, module+"/")
	if !ok {
		return ""
	}
	if strings.HasPrefix(rest, "internal/") {
		return rest // each internal package is its own layer
	}
	top, _, _ := strings.Cut(rest, "/")
	return top
}

// allowed lists, for each layer, the layers of this module it may import.
// Imports within one layer (federated -> federated/data) are always allowed.
var allowed = map[string][]string{
	"cmd":                 {"federated", "mpc", "transport", "kernels", "bench", "internal/atomicfile", "internal/ratelog", "internal/statedir"},
	"federated":           {"mpc", "transport", "kernels", "internal/atomicfile"},
	"bench":               {"federated", "mpc", "transport", "kernels", "internal/atomicfile"},
	"internal/atomicfile": {}, // the standard library only
	"internal/ratelog":    {}, // the standard library only
	"internal/statedir":   {}, // a leaf: file locking only, usable by any command
	"examples":            {"federated", "mpc", "transport", "kernels"},
	"mpc":                 {"kernels"}, // never transport: protocols are transport-agnostic state machines
	"transport":           {"kernels"}, // never mpc: transport moves opaque bytes
	"kernels":             {},          // the bottom layer
	"internal/deps":       {},
	"proto":               {},
}

// bannedStd lists, for layers that must stay pure, import-path prefixes they
// may not use, with the reason.
var bannedStd = map[string]map[string]string{
	"kernels": {
		"net":                "kernels are pure computation",
		"os":                 "kernels are pure computation",
		"time":               "kernels are pure computation; benchmarks live in bench",
		"syscall":            "kernels are pure computation",
		"github.com/libp2p/": "kernels know nothing of the network",
	},
	"mpc": {
		"net":                "protocols are pure state machines: the network is injected",
		"os":                 "protocols are pure state machines: persistence belongs to federated",
		"time":               "protocols are pure state machines: the clock is injected by federated",
		"syscall":            "protocols are pure state machines",
		"github.com/libp2p/": "protocols are transport-agnostic",
	},
}

// bannedPkg lists, for packages (and their sub-packages), imports they may
// not use although their layer could, with the reason.
var bannedPkg = map[string]map[string]string{
	module: {
		"github.com/tuneinsight/lattigo/": "only mpc/mhe imports lattigo: every peer byte is size-checked there before lattigo sees it",
	},
	module + "/federated/engine": {
		module + "/transport/p2p":            "the engine is pure: drivers move its messages over a transport",
		module + "/transport/mem":            "the engine is pure: drivers move its messages over a transport",
		"net":                                "the engine is pure: no sockets",
		"os":                                 "the engine is pure: files belong to the drivers",
		module + "/federated/trainer/runner": "the engine takes a trainer.Trainer; starting processes belongs to the drivers",
	},
	module + "/federated/trainer": {
		"os":      "the trainer contract is pure: processes and files belong to package runner",
		"net":     "the trainer contract is pure",
		"os/exec": "the trainer contract is pure: processes belong to package runner",
	},
}

// bannedFor returns the package-specific bans that apply to pkg.
func bannedFor(pkg string) map[string]string {
	out := map[string]string{}
	for prefix, bans := range bannedPkg {
		if !hasPathPrefix(pkg, prefix) {
			continue
		}
		if prefix == module && hasPathPrefix(pkg, module+"/mpc/mhe") {
			continue // the one package that may import lattigo
		}
		if prefix == module+"/federated/trainer" && hasPathPrefix(pkg, module+"/federated/trainer/runner") {
			continue // the runner starts the processes
		}
		for imp, why := range bans {
			out[imp] = why
		}
	}
	return out
}

type pkgInfo struct {
	ImportPath string
	Imports    []string
}

func listPackages(t *testing.T) []pkgInfo {
	t.Helper()
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports", module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v: %s", err, stderr.String())
	}
	var pkgs []pkgInfo
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkgInfo
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 3 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

func hasPathPrefix(path, prefix string) bool {
	if strings.HasSuffix(prefix, "/") {
		return strings.HasPrefix(path, prefix)
	}
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}

func TestImportDirection(t *testing.T) {
	for _, p := range listPackages(t) {
		from := layer(p.ImportPath)
		ok, known := allowed[from]
		if !known {
			t.Errorf("%s: layer %q is not in the allowed table; add it with its reason", p.ImportPath, from)
			continue
		}
		for _, imp := range p.Imports {
			if to := layer(imp); to != "" {
				if to == from {
					continue
				}
				permitted := false
				for _, a := range ok {
					if a == to {
						permitted = true
					}
				}
				if !permitted {
					t.Errorf("%s imports %s: %s may not import %s", p.ImportPath, imp, from, to)
				}
				continue
			}
			for prefix, why := range bannedStd[from] {
				if hasPathPrefix(imp, prefix) {
					t.Errorf("%s imports %s: %s", p.ImportPath, imp, why)
				}
			}
			for prefix, why := range bannedFor(p.ImportPath) {
				if hasPathPrefix(imp, prefix) {
					t.Errorf("%s imports %s: %s", p.ImportPath, imp, why)
				}
			}
		}
	}
}

// TestRulesCatchViolations makes sure the checker itself can fail.
func TestRulesCatchViolations(t *testing.T) {
	if layer(module+"/mpc/secagg") != "mpc" || layer(module+"/federated/data") != "federated" || layer("os") != "" {
		t.Fatal("layer mapping is wrong")
	}
	for _, a := range allowed["mpc"] {
		if a == "transport" {
			t.Fatal("mpc must not be allowed to import transport")
		}
	}
	if !hasPathPrefix("net/http", "net") || hasPathPrefix("netip", "net") || !hasPathPrefix("github.com/libp2p/go-libp2p", "github.com/libp2p/") {
		t.Fatal("prefix matching is wrong")
	}
	if _, ok := bannedFor(module + "/federated")["github.com/tuneinsight/lattigo/"]; !ok {
		t.Fatal("federated must not import lattigo")
	}
	if _, ok := bannedFor(module + "/mpc/mhe")["github.com/tuneinsight/lattigo/"]; ok {
		t.Fatal("mpc/mhe must be allowed to import lattigo")
	}
	if _, ok := bannedFor(module + "/federated/engine")[module+"/transport/p2p"]; !ok {
		t.Fatal("the engine must not import transport/p2p")
	}
	if _, ok := bannedStd["mpc"]["time"]; !ok {
		t.Fatal("mpc must not import time")
	}
}
