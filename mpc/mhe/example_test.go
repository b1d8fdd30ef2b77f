package mhe_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/consort-ml/consort/mpc/mhe"
)

// Example runs a federation of four nodes, any two of which can decrypt,
// over an in-memory queue: the setup, then one round in which node 4 drops
// before uploading and node 1 stops answering during the decryption.
func Example() {
	// Tests use the small insecure ring; production uses mhe.ParamSets().
	p, err := mhe.NewParams(mhe.InsecureTestParams())
	if err != nil {
		panic(err)
	}
	cfg := mhe.SetupConfig{Params: p, FederationID: "example", Parties: 4, Threshold: 2, CRS: [32]byte{1}}

	// Setup.
	agg, _ := mhe.NewSetupAggregator(cfg)
	setup := make([]*mhe.SetupNode, 4)
	var queue []mhe.Message
	for i := range setup {
		setup[i], _ = mhe.NewSetupNode(cfg, i+1, nil, rand.Reader)
		out, _ := setup[i].Start()
		queue = append(queue, out...)
	}
	for len(queue) > 0 {
		m := queue[0]
		queue = queue[1:]
		var out []mhe.Message
		if m.To == 0 {
			out, err = agg.Step(m)
		} else {
			out, err = setup[m.To-1].Step(m)
		}
		if err != nil {
			panic(err)
		}
		queue = append(queue, out...)
	}

	// One round.
	rc := mhe.RoundConfig{FederationID: "example", Round: 1, Dim: 3, Participants: []int{1, 2, 3, 4}, Bound: 1, Rounding: mhe.RoundNearest}
	a, _ := mhe.NewAggregator(cfg, rc)
	updates := map[int][]float32{1: {0.5, -0.25, 1}, 2: {0.25, 0.25, -1}, 3: {0.125, 0, 0.5}}
	nodes := map[int]*mhe.Node{}
	for id, u := range updates {
		km, _ := setup[id-1].KeyMaterial()
		nodes[id], _ = mhe.NewNode(km, rc, rand.Reader)
		out, _ := nodes[id].Upload(u)
		queue = append(queue, out...)
	}
	for done := false; len(queue) > 0 || !done; {
		if len(queue) == 0 {
			out, _ := a.CloseUploads() // node 4 never uploaded: the deadline fires
			queue, done = out, true
			continue
		}
		m := queue[0]
		queue = queue[1:]
		var out []mhe.Message
		switch {
		case m.To == 0:
			out, err = a.Step(m)
		case m.To == 1 || nodes[m.To] == nil:
			out, err = a.Dropped(m.To) // its deadline fired
		default:
			out, err = nodes[m.To].Step(m)
		}
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		queue = append(queue, out...)
	}
	res, ok := a.Result()
	fmt.Println(ok, res.Contributors, res.Sum)
	// Output: true [1 2 3] [0.875 0 0.5]
}

// Example_verified runs a verified round: signed uploads, the decryptors'
// fingerprint check, and each node's ledger, which refuses a second
// decryption of the same model version under another round label.
func Example_verified() {
	p, err := mhe.NewParams(mhe.InsecureTestParams())
	if err != nil {
		panic(err)
	}
	const n = 3
	cfg := mhe.SetupConfig{Params: p, FederationID: "example-v", Parties: n, Threshold: 2, CRS: [32]byte{1}}
	keys := make([]ed25519.PrivateKey, n)
	ids := make([]ed25519.PublicKey, n)
	for i := range keys {
		ids[i], keys[i], _ = ed25519.GenerateKey(rand.Reader)
	}
	cfg.Identities = ids // announcements are signed too

	// Setup.
	sa, _ := mhe.NewSetupAggregator(cfg)
	setup := make([]*mhe.SetupNode, n)
	var queue []mhe.Message
	for i := range setup {
		setup[i], _ = mhe.NewSetupNode(cfg, i+1, keys[i], rand.Reader)
		out, _ := setup[i].Start()
		queue = append(queue, out...)
	}
	for len(queue) > 0 {
		m := queue[0]
		queue = queue[1:]
		var out []mhe.Message
		if m.To == 0 {
			out, err = sa.Step(m)
		} else {
			out, err = setup[m.To-1].Step(m)
		}
		if err != nil {
			panic(err)
		}
		queue = append(queue, out...)
	}

	ledgers := make([]mhe.MemoryLedger, n) // a node's durable record in production
	round := func(label uint64) (mhe.Result, []error) {
		rc := mhe.RoundConfig{FederationID: "example-v", Round: label, Dim: 2, Participants: []int{1, 2, 3}, Bound: 1,
			Rounding: mhe.RoundNearest, ModelVersion: [32]byte{7}, Identities: ids}
		a, _ := mhe.NewAggregator(cfg, rc)
		nodes := make([]*mhe.Node, n)
		var queue []mhe.Message
		for i := range nodes {
			km, _ := setup[i].KeyMaterial()
			nrc := rc
			nrc.Signer, nrc.Ledger = keys[i], &ledgers[i]
			nodes[i], _ = mhe.NewNode(km, nrc, rand.Reader)
			out, _ := nodes[i].Upload([]float32{0.25 * float32(i+1), -0.5})
			queue = append(queue, out...)
		}
		var refusals []error
		for len(queue) > 0 {
			m := queue[0]
			queue = queue[1:]
			var out []mhe.Message
			var err error
			if m.To == 0 {
				out, err = a.Step(m)
			} else if out, err = nodes[m.To-1].Step(m); err != nil {
				refusals = append(refusals, err)
			}
			queue = append(queue, out...)
		}
		res, _ := a.Result()
		return res, refusals
	}
	res, _ := round(1)
	fmt.Println(res.Sum, len(res.Contributions))
	_, refusals := round(2) // the same model version, relabelled
	fmt.Println(len(refusals), errors.Is(refusals[0], mhe.ErrAlreadyDecrypted))
	// Output:
	// [1.5 -1.5] 3
	// 2 true
}
