package federated

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/consort-ml/consort/federated/audit"
	"github.com/consort-ml/consort/federated/model"
)

// TestNetworkAbortBelowThresholdReleasesNothing: threshold 3 of 3, and node
// 2 crashes right after sending its protected update in the first training
// attempt, then restarts from its state directory. The attempt cannot
// finish (secagg cannot unmask, mhe cannot decrypt without it) and aborts
// with no aggregate, before anyone revealed anything (secagg's consistency
// check, mhe's verification need every contributor), so round 1 is retried
// with fresh keys and all three, and rounds 2 and 3 follow. With mhe the restarted node takes
// part with the key share it persisted (mode 0600), with no new key setup.
func TestNetworkAbortBelowThresholdReleasesNothing(t *testing.T) {
	for _, p := range []string{"secagg", "mhe"} {
		t.Run(p, func(t *testing.T) {
			first := uint64(3)
			if p == "mhe" {
				first = 4
			}
			dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
			audits := t.TempDir()
			r := runNetwork(t, netConfig{protocol: p, dataset: "wine", nodes: 3, minPart: 3, threshold: 3, rnds: 3,
				auditDir: audits, nodeState: func(i int) string { return dirs[i] }, restart: true,
				kill: func(i int, attempt uint64, typ string) bool {
					return i == 1 && attempt == first && typ == contributionType(p)
				}})
			if r.coordErr != nil {
				t.Fatal(r.coordErr)
			}
			if len(r.hist) != 3 || r.aborted < 1 {
				t.Fatalf("history %+v (%d aborted attempts), want round 1 retried", r.hist, r.aborted)
			}
			if c := contributors(r.hist); !slices.Equal(c, []int{3, 3, 3}) {
				t.Errorf("contributors %v, want [3 3 3]: nobody revealed in the aborted attempt", c)
			}
			for i := range r.nodes {
				if r.nodes[i] == nil || !model.ParamsEqual(r.nodes[i].Params, r.coord.Params) {
					t.Errorf("node %d did not end with the final model: %v", i, r.errs[i])
				}
			}
			coord, err := audit.VerifyFile(filepath.Join(audits, "coordinator.log"), nil)
			if err != nil {
				t.Fatal(err)
			}
			setups, aggs := 0, map[uint64]bool{}
			for _, e := range coord.Entries {
				switch {
				case e.Kind == audit.KindAggregate:
					aggs[e.Round] = true
				case e.Kind == audit.KindRoundStart && e.Fields["phase"] == "PHASE_MHE_SETUP":
					setups++
				}
			}
			if len(aggs) != 3 || aggs[first] {
				t.Errorf("aggregates for attempts %v; none may exist for the aborted attempt %d", aggs, first)
			}
			if want := map[string]int{"secagg": 0, "mhe": 1}[p]; setups != want {
				t.Errorf("%d mhe key setups, want %d", setups, want)
			}
			// What the nodes persisted: node 2 crashed before it revealed
			// anything of round 1 (secagg: its unmasking answer; mhe: its
			// decryption share), so only the others hold round 1 released;
			// node 2's releases of its first life (the statistics) survived
			// its crash.
			for i, d := range dirs {
				st, _, err := LoadNodeFiles(d)
				if err != nil || st == nil {
					t.Fatalf("node %d state: %v", i+1, err)
				}
				if !slices.Contains(st.Released, "round/1") || st.PastRounds != 3 || !slices.Contains(st.Released, "phase/PHASE_STATS_VAR") {
					t.Errorf("node %d state %+v", i+1, st)
				}
			}
			_, key, err := LoadNodeFiles(dirs[1])
			if err != nil {
				t.Fatal(err)
			}
			if p != "mhe" {
				return
			}
			fi, err := os.Stat(MHEKeyPath(dirs[1]))
			if err != nil || fi.Mode().Perm() != 0o600 || len(key) == 0 {
				t.Fatalf("mhe key file: %v, %v", fi, err)
			}
			if err := os.Chmod(MHEKeyPath(dirs[1]), 0o640); err != nil {
				t.Fatal(err)
			}
			if _, _, err := LoadNodeFiles(dirs[1]); !errors.Is(err, ErrKeyFile) {
				t.Errorf("group-readable key file: %v, want ErrKeyFile", err)
			}
		})
	}
}

// TestNetworkMHEKeysReusedAfterRestart: a finished mhe federation's
// coordinator and nodes restart from their state directories for two more
// rounds: the coordinator's checkpoint says the key setup is done and every
// node reloads its key share, so training goes on without a new setup.
func TestNetworkMHEKeysReusedAfterRestart(t *testing.T) {
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	cfg := netConfig{protocol: "mhe", dataset: "wine", nodes: 3, minPart: 3, threshold: 2, rnds: 2,
		coordState: t.TempDir(), nodeState: func(i int) string { return dirs[i] }}
	first := runNetwork(t, cfg)
	if first.coordErr != nil {
		t.Fatal(first.coordErr)
	}
	keys := make([][]byte, 3)
	for i, d := range dirs {
		_, k, err := LoadNodeFiles(d)
		if err != nil || len(k) == 0 {
			t.Fatalf("node %d key: %v", i, err)
		}
		keys[i] = k
	}
	// The federation is extended to four rounds; the coordinator resumes
	// from its final checkpoint.
	cfg.rnds, cfg.resumeFrom, cfg.auditDir = 4, cfg.coordState, t.TempDir()
	r := runNetwork(t, cfg)
	if r.coordErr != nil {
		t.Fatal(r.coordErr)
	}
	if len(r.hist) != 4 || len(r.reported) != 2 || r.reported[0].Round != 3 || r.hist[3].Contributors != 3 {
		t.Fatalf("history %+v, reported %+v", r.hist, r.reported)
	}
	coord, err := audit.VerifyFile(filepath.Join(cfg.auditDir, "coordinator.log"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range coord.Entries {
		if e.Kind == audit.KindRoundStart && e.Fields["phase"] != "PHASE_TRAIN" {
			t.Errorf("the resumed federation ran a %s attempt", e.Fields["phase"])
		}
	}
	for i, d := range dirs {
		_, k, err := LoadNodeFiles(d)
		if err != nil || string(k) != string(keys[i]) {
			t.Errorf("node %d key material changed: %v", i, err)
		}
	}
	if r.hist[3].Accuracy < 0.85 {
		t.Errorf("accuracy %.4f", r.hist[3].Accuracy)
	}
}
