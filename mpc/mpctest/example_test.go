package mpctest_test

import (
	"fmt"

	"github.com/consort-ml/consort/mpc"
	"github.com/consort-ml/consort/mpc/mpctest"
	"github.com/consort-ml/consort/mpc/plain"
)

// Four participants send plain updates over a network that reorders and
// duplicates messages; participant 3 never starts. The server releases the
// sum of the other three on its deadline.
func Example() {
	cfg := plain.Config{FederationID: "fed", Round: 1, Parties: 4, Threshold: 2, Dim: 2, Bound: 4}
	srv, _ := plain.NewServer(cfg)
	var clients []mpc.Party
	for id := 1; id <= cfg.Parties; id++ {
		c, _ := plain.NewClient(cfg, id, []float32{float32(id), -0.5})
		clients = append(clients, c)
	}
	rep, err := mpctest.Run(mpctest.Config{
		Seed: 1, Reorder: true, Dup: 0.5,
		Drops: []mpctest.Drop{{Party: 3}},
		Kinds: cfg.Kinds(),
	}, srv, clients...)
	if err != nil {
		fmt.Println(err)
		return
	}
	agg, _ := srv.Result()
	fmt.Println("contributors", agg.Contributors, "sum", agg.Floats)
	fmt.Println("deadlines", rep.Deadlines, "server done", rep.Status[0].Done)
	fmt.Println("bytes sent by party 1", rep.Sent[1])
	// Output:
	// contributors [1 2 4] sum [7 -1.5]
	// deadlines 1 server done true
	// bytes sent by party 1 24
}
