package mhe

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/consort-ml/consort/mpc"
)

func TestRoundExactSmall(t *testing.T) {
	p := mustParams(t, InsecureTestParams())
	cfg := SetupConfig{Params: p, FederationID: "fed-test", Parties: 3, Threshold: 2, CRS: [32]byte{1}}
	f := runSetup(t, cfg)
	rc := RoundConfig{FederationID: "fed-test", Round: 1, Dim: 5000, Participants: ids(3), Bound: 1}
	in := randomInputs(rc.Participants, rc.Dim, 1, 1)
	res, st, err := runRound(t, f, rc, in, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := expectedSum(t, rc, in, []int{1, 2, 3})
	if !slices.Equal(res.Quantized, want) {
		t.Fatalf("decrypted sum differs from the plaintext sum of quantised inputs")
	}
	if !slices.Equal(res.Contributors, []int{1, 2, 3}) {
		t.Fatalf("contributors %v", res.Contributors)
	}
	t.Logf("attempts %d sent %v", st.attempts, st.sent)
	for i := range 10 {
		var s float32
		for _, id := range rc.Participants {
			s += in[id][i]
		}
		if d := res.Sum[i] - s; d > 1e-5 || d < -1e-5 {
			t.Fatalf("sum[%d] = %v, float sum %v", i, res.Sum[i], s)
		}
	}
	_ = errors.New
	_ = fmt.Sprint
	_ = mpc.ErrMalformed
}
