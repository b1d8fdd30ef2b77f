package federated

import (
	"crypto/ed25519"
	"testing"
)

// The share threshold of a networked secagg round never drops below the
// manifest's, whatever graph SecAgg+ would recommend: fewer than T colluding
// parties (aggregator included) must learn nothing.
func TestNetSecAggThresholdNeverBelowManifest(t *testing.T) {
	for _, c := range []struct{ n, T int }{{3, 2}, {41, 30}, {100, 90}, {100, 20}, {60, 59}} {
		ids := make([]ed25519.PublicKey, c.n+1)
		for i := 1; i <= c.n; i++ {
			seed := make([]byte, ed25519.SeedSize)
			seed[0], seed[1] = byte(i), byte(i>>8)
			ids[i] = ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
		}
		p, _, err := netSecAggParams(sessionParams{FederationID: "f", Attempt: 1, Parties: c.n, Threshold: c.T, Dim: 8, Bound: 1}, ids)
		if err != nil {
			t.Fatalf("n=%d T=%d: %v", c.n, c.T, err)
		}
		if p.Threshold() < c.T || p.MinSurvivors() < c.T {
			t.Errorf("n=%d T=%d: share threshold %d, min survivors %d", c.n, c.T, p.Threshold(), p.MinSurvivors())
		}
		if !p.Complete() && p.Degree()+1 < p.Threshold() {
			t.Errorf("n=%d T=%d: degree %d cannot hold %d shares", c.n, c.T, p.Degree(), p.Threshold())
		}
	}
}
