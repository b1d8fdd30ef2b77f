// Package federated runs federations: the drivers that move the round
// engine's messages (package federated/engine) over a transport and do its
// I/O, and simulations that run the same state machines in one process.
//
// # Drivers
//
// [RunCoordinator] and [RunNode] each run one state machine on one goroutine
// over any transport.Transport: transport/p2p (libp2p, [WallClock]) in
// production, transport/mem ([VirtualClock]) in simulations and tests. For
// every Ready of the machine they write its checkpoint or node state
// atomically with fsync (internal/atomicfile), append its audit entries, and
// only then send its messages. The coordinator's driver can queue sends per
// peer (CoordinatorIO.Queued), so a dead peer never stalls the others; over
// the in-memory network sends are direct, which keeps virtual time
// deterministic.
//
// Files: the coordinator keeps STATE/checkpoint (a model file whose header
// carries the engine's Checkpoint) and, at the end, STATE/model.consort; a
// node keeps STATE/node-state.json (its release ledger), STATE/mhe.key (mode
// 0600, refused when group or others can read it) and STATE/model.consort.
// The formats are in docs/file-formats.md.
//
// # Simulation
//
// [Simulate] loads and partitions a data set, then runs the coordinator and
// every party as the engine's machines over a transport/mem network in
// virtual time (step timeouts cost nothing), with every party's private
// randomness and the network seeded from SimConfig.Seed: a run is a
// function of its seed, down to the model digest (SimResult.ModelDigest).
// Dropouts are injected in the parties' drivers: a dropping party ignores the
// RoundStart, or goes silent instead of sending its protected update, or right
// after it (during unmasking or decryption), so the protocols' real recovery
// runs. The global model is evaluated on the pooled test set after each round.
// The default threshold is a majority, floor(n/2)+1, for every protocol, so
// their results compare.
//
// A simulation is not secure against anyone who knows its seed: identities
// and randomness are derived from it.
//
// # Usage
//
//	res, err := federated.Simulate(ctx, federated.SimConfig{Dataset: "breast-cancer", Parties: 3,
//		Rounds: 20, Protocol: "secagg", Centralized: true}, nil)
//	fmt.Println(res.FinalAccuracy, res.CentralizedAccuracy, res.ModelDigest)
package federated
