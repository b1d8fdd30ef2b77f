package federated

import (
	"errors"
	"strings"
	"testing"

	"github.com/consort-ml/consort/federated/engine"
	"github.com/consort-ml/consort/federated/model"
	"github.com/consort-ml/consort/transport"
)

// TestNetworkCoordinatorCrashAnywhere crashes the coordinator right after
// each message it sends in turn (one run per message, hellos aside) and
// restarts it from its checkpoint: the federation must end with every node
// holding the final model, for every protocol.
//
// One known exception, by the release rule: a crash after a request that
// makes nodes reveal (secagg's confirmations, which carry the unmasking
// step, or its unmask request; mhe's decryption request) leaves nodes that
// answered it, and they never contribute to the same content (statistics
// phase or model version) again; with 3 nodes and min_participants 3 too few
// remain, and the coordinator stops cleanly (ErrRefused or ErrStalled) instead
// of looping. The test asserts that exception precisely, so that a fix (for
// example letting a node repeat a release over the same survivor set) shows.
func TestNetworkCoordinatorCrashAnywhere(t *testing.T) {
	for _, p := range ProtocolNames() {
		t.Run(p, func(t *testing.T) {
			crashes, limited := 0, 0
			for n := 1; ; n++ {
				k, last := 0, transport.Message{}
				cfg := netConfig{protocol: p, dataset: "wine", nodes: 3, minPart: 3, threshold: 2, rnds: 1, coordState: t.TempDir(),
					crashOnSend: func(_ transport.PeerID, m transport.Message) bool {
						if m.Type != "train/hello" && k < n {
							k++
							last = m
						}
						return k >= n
					}}
				r := runNetwork(t, cfg)
				if r.resumed == nil {
					break // the run ended before the n-th message
				}
				crashes++
				// A request that makes nodes reveal: secagg's unmasking, mhe's
				// decryption.
				reveal := strings.HasSuffix(last.Type, "/unmask") || strings.HasSuffix(last.Type, "/confirmations") ||
					strings.HasSuffix(last.Type, "/decrypt-request")
				if reveal && (errors.Is(r.coordErr, engine.ErrRefused) || errors.Is(r.coordErr, engine.ErrStalled)) {
					limited++
					continue
				}
				if r.coordErr != nil || len(r.hist) != 1 {
					t.Errorf("crash after message %d (%s of attempt %d): %v, %d rounds", n, last.Type, last.Round, r.coordErr, len(r.hist))
					continue
				}
				for i := range r.nodes {
					if r.nodes[i] == nil || !model.ParamsEqual(r.nodes[i].Params, r.coord.Params) {
						t.Errorf("crash after message %d (%s of attempt %d): node %d has no final model (%v)", n, last.Type, last.Round, i, r.errs[i])
					}
				}
			}
			if crashes < 10 {
				t.Fatalf("only %d crash points", crashes)
			}
			if want := map[string]int{"secagg": 9, "mhe": 6}[p]; limited != want {
				t.Errorf("%d crash points stop on the release rule, want %d", limited, want)
			}
			t.Logf("%s: %d crash points, %d stop on the release rule", p, crashes, limited)
		})
	}
}
