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

// ExampleRingBits sizes the ring for a round and runs it with the
// consistency check: 5 parties whose updates are clipped to |v| <= 1 and
// encoded with 8 fractional bits fit a 12-bit ring (5 * 256 < 2^11), and a
// threshold of 3 of 5 is the smallest a malicious server cannot defeat.
func ExampleRingBits() {
	const n, frac = 5, 8
	bits, _ := secagg.RingBitsFixed(n, 1, frac)
	fmt.Println("bits", bits, "check t=2:", secagg.CheckMaliciousThreshold(n, 2, 0) != nil,
		"check t=3:", secagg.CheckMaliciousThreshold(n, 3, 0))
	keys := make([]ed25519.PrivateKey, n)
	ids := make([]ed25519.PublicKey, n)
	for i := range keys {
		ids[i], keys[i], _ = ed25519.GenerateKey(rand.Reader)
	}
	p, _ := secagg.NewParams(secagg.Config{FederationID: "example", Round: 1, Parties: n, Dim: 2,
		Bits: bits, Threshold: 3, Identities: ids, ConsistencyCheck: true})
	server, _ := secagg.NewServer(secagg.ServerConfig{Params: p})
	clients := make([]*secagg.Client, n)
	var queue []secagg.Message
	for i := range clients {
		// Party i contributes 1.0 and -0.5 at 8 fractional bits, reduced
		// modulo 2^bits (two's complement).
		minusHalf := int32(-128)
		input := []uint32{256, uint32(minusHalf) & (1<<bits - 1)}
		clients[i], _ = secagg.NewClient(secagg.ClientConfig{Params: p, ID: i + 1,
			Signer: keys[i], Input32: input}, rand.Reader)
		out, _ := clients[i].Start()
		queue = append(queue, out...)
	}
	for len(queue) > 0 {
		m := queue[0]
		queue = queue[1:]
		var out []secagg.Message
		if m.To == 0 {
			out, _ = server.Step(m)
		} else {
			out, _ = clients[m.To-1].Step(m)
		}
		queue = append(queue, out...)
	}
	res, _ := server.Result()
	// Sign-extend from bit bits-1 and scale back.
	for _, x := range res.Sum32 {
		v := int32(x<<(32-bits)) >> (32 - bits)
		fmt.Print(float64(v)/(1<<frac), " ")
	}
	fmt.Println()
	// Output:
	// bits 12 check t=2: true check t=3: <nil>
	// 5 -2.5
}
