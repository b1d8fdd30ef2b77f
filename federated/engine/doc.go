// Package engine is consort's one round engine: the coordinator's and the
// node's state machines, the protection plan of every attempt and the
// registry of protection protocols.
//
// The split is etcd raft's: [Coordinator] and [Node] hold all of the round
// logic and own no goroutine, socket, file or clock; a driver (package
// federated: RunCoordinator, RunNode, Simulate) feeds them messages and the
// time and carries out what they ask. The same machines therefore run in
// production over libp2p, in simulations and tests over the in-memory network
// in virtual time, and in the round benchmark, and a fix lands once.
//
// # Driving a state machine
//
//	c, _ := engine.NewCoordinator(engine.CoordinatorConfig{Federation: fed, Seed: 1})
//	c.Start(now)
//	for {
//		rd := c.Ready()
//		// 1. write rd.Checkpoint atomically, 2. append rd.Audit, 3. send rd.Messages
//		if rd.Final != nil || rd.Err != nil { break }
//		// wait for a message or c.Deadline(), then:
//		c.Step(now, in) // or c.Tick(now)
//	}
//
// The order matters: a Ready's messages may only leave once what precedes them
// is durable. The coordinator's checkpoint holds the attempt counter before a
// RoundStart leaves (masks and keys are bound to attempt numbers, never
// reused), and a node's state records a revealed contribution before the
// message that reveals it leaves.
//
// # Decisions
//
//   - One plan ([NewPlan]). Every protocol parameter of an attempt (fewest
//     contributors, dimension and clamp bound, secagg ring, scale, graph and
//     share threshold, mhe round, DP mechanism) is derived in one place from
//     the [Federation] and the RoundStart. The coordinator uses it to build
//     attempts; each node re-derives it from its own manifest and refuses an
//     attempt that does not match (code "manifest"). A federation id longer
//     than a protocol's limit is hashed there, once.
//   - Thresholds. The federation's threshold is the fewest contributors any
//     aggregate has; a SecAgg+ graph never lowers the share threshold below
//     it. Nodes refuse attempts with fewer than min_participants
//     participants.
//   - Selection. The coordinator waits for min_participants live nodes, then
//     up to Grace for more, and starts at once when every node is live.
//   - Retries. An attempt that aborts releases nothing and is retried with
//     the live nodes after a one-second pause. A node that revealed its
//     contribution to a round in an attempt that then aborted refuses the
//     round's retries ("repeat"): the coordinator might hold that aggregate
//     and could difference it against another. The coordinator leaves such
//     nodes out of the round's next attempts and, when too few remain, gives
//     the round up (an aborted report; the model is unchanged).
//   - Evaluation. Contributors report counts on their held-out rows
//     (examples, correct predictions, summed loss): never a row or a score
//     per row. A simulation evaluates on its pooled test set instead.
//   - Refusals. Codes are typed ([RefusalCode]); a code a peer invents is
//     recorded as "other", so no member can create unbounded metric labels.
//
// # Threat model
//
// The coordinator may lie about anything in a RoundStart: the node checks
// every field its manifest determines and releases nothing the manifest and
// its policy do not allow. See docs/threat-model.md for what remains the
// protocols' job (package mpc) and what remains out of scope.
package engine
