package secagg_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/consort-ml/consort/mpc/secagg"
)

// Example runs one round among three parties in process: every message is
// encoded bytes, as it would cross a network.
func Example() {
	const n = 3
	keys := make([]ed25519.PrivateKey, n)
	ids := make([]ed25519.PublicKey, n)
	for i := range keys {
		ids[i], keys[i], _ = ed25519.GenerateKey(rand.Reader)
	}
	p, err := secagg.NewParams(secagg.Config{FederationID: "example", Round: 1,
		Parties: n, Dim: 4, Threshold: 2, Identities: ids})
	if err != nil {
		panic(err)
	}
	server, _ := secagg.NewServer(secagg.ServerConfig{Params: p})
	clients := make([]*secagg.Client, n)
	var queue []secagg.Message
	for i := range clients {
		input := []uint32{uint32(i + 1), 10, 100, 0xffffffff} // -1 in two's complement
		clients[i], err = secagg.NewClient(secagg.ClientConfig{Params: p, ID: i + 1,
			Signer: keys[i], Input32: input}, rand.Reader)
		if err != nil {
			panic(err)
		}
		out, _ := clients[i].Start()
		queue = append(queue, out...)
	}
	for len(queue) > 0 {
		m := queue[0]
		queue = queue[1:]
		var out []secagg.Message
		if m.To == 0 {
			out, err = server.Step(m)
		} else {
			out, err = clients[m.To-1].Step(m)
		}
		// ErrUnexpected marks a straggler the round no longer needs (here the
		// last unmasking answer: the server finishes with t of them).
		if err != nil && !errors.Is(err, secagg.ErrUnexpected) {
			fmt.Println("error:", err)
		}
		queue = append(queue, out...)
	}
	res, ok := server.Result()
	fmt.Println(ok, res.Contributors, res.Sum32[:3], int32(res.Sum32[3]))
	// Output: true [1 2 3] [6 30 300] -3
}
