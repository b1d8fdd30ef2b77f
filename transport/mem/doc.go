// Package mem is an in-memory network for tests and simulation: each
// [Endpoint] is a [transport.Transport], and the [Network] between them
// loses, duplicates, delays and reorders messages, caps bandwidth and
// partitions peers on request, all deterministically for a seed. It plays
// the role of etcd raft's rafttest network, with a virtual clock instead
// of sleeps.
//
// Messages go through the same envelope encoding, size limits, zstd
// compression and envelope checks as transport/p2p, so byte counters in
// [transport.Stats] equal the frame bytes libp2p would carry.
//
// # Determinism
//
// Each directed link has its own random generator (PCG seeded from the
// network seed and the two peer IDs) and draws the same four numbers for
// every message, so the k-th message on a link meets the same fate (lost,
// duplicated, its delay) in every run, however goroutines interleave.
// Delivery times are virtual: a message sent at virtual time t on a link
// with bandwidth B, latency L and jitter J arrives at
// max(t, link busy) + size/B + L + U[0,J) (plus L+J+1ms if reordered).
//
// With the default [Lockstep] schedule the network is a discrete-event
// simulation: it delivers the earliest pending message (ties broken by
// sender, receiver and sequence number), together with every other message
// due at the same virtual instant, only while no endpoint is running, that
// is while every endpoint is blocked in Recv or closed; endpoints woken
// together then run in parallel. An
// endpoint runs from Join until its first Recv and from each Recv's return
// to the next Recv. Given endpoints whose behaviour depends only on what
// they receive, every run with the same seed is identical, including the
// virtual time at which each message arrives. Waits that should end in
// virtual time use [Endpoint.WithTimeout]; Recv returns
// context.DeadlineExceeded when such a timer fires first. When every
// endpoint waits and nothing is in flight, nothing happens until a real
// context ends: that is the simulated equivalent of a deadlock.
//
// Lockstep needs one goroutine per endpoint (an endpoint that only sends
// from a test's main goroutine counts as running and stops the clock). For
// single-goroutine tests use [FreeRunning]: messages are queued at the
// receiver as soon as they are sent and Recv takes them in virtual
// arrival order; fates are still seeded but arrival order across links
// then depends on the order of Send calls.
//
// math/rand/v2's PCG is used because this randomness models the network,
// not secrets; nothing cryptographic depends on it.
//
// # Usage
//
//	net, _ := mem.New(mem.Config{FederationID: "f", Types: types, Seed: 1,
//		Link: mem.Link{Drop: 0.05, Latency: 20 * time.Millisecond, Jitter: 5 * time.Millisecond, Bandwidth: 100 << 20}})
//	a, _ := net.Join("coordinator")
//	b, _ := net.Join("node-1")
//	go node(b)                                // each endpoint in its own goroutine
//	ctx, cancel := a.WithTimeout(ctx, 2*time.Second) // virtual seconds
//	defer cancel()
//	in, err := a.Recv(ctx)
//	fmt.Println(net.Now(), net.Stats().Dropped)
package mem
