// Package mpctest is a deterministic in-memory network for testing the
// protocol state machines of package mpc, in the manner of etcd raft's
// rafttest: given a server and n clients (any [mpc.Party]), [Run] moves
// their messages, with seeded loss, duplication, reordering and stragglers,
// lets chosen participants drop at chosen steps, and passes the server's
// deadline whenever nothing is in flight. It returns a [Report]: every
// party's final [mpc.Status], the bytes each sent and received, and what the
// network did.
//
// # Decisions
//
//   - No goroutines and no clocks. Time is reduced to its one effect on a
//     protocol: a deadline passes when no message is in flight and the server
//     is still waiting, and Run then calls the server's Advance. A straggler
//     ([Config.Late]) is a message held back until after the next deadline.
//     Clients never get Advance: in consort a client does not decide that a
//     round is over.
//   - A dropout is "participant i stops when it would receive its first
//     message of kind K" ([Drop]): it does not handle that message, and sends
//     and receives nothing more. Kind "" means it never starts. Listing one
//     drop per kind of a protocol covers a dropout at each step.
//   - The network is the authenticated transport: it refuses (with
//     [ErrContract]) a message whose From is not its sender, one to a party
//     that does not exist, one without a Kind and, when [Config.Kinds] holds
//     the protocol's registry, one of an unknown kind or over its size limit,
//     so every protocol test also checks the sizes drivers give transports.
//     It also refuses a party that returns messages from Step after its
//     Status was final, or whose abort error changes.
//   - Errors from Step are the receiver's business: an abort is its outcome,
//     mpc.ErrUnexpected and rejections are counted ([Report.Unexpected],
//     [Report.Rejected]) and the run goes on, as a driver would. An error from
//     Start or Advance that is not an abort is a broken contract.
//   - The randomness is math/rand/v2's PCG seeded from [Config.Seed]: a run
//     is a pure function of its Config and its parties, and the package is
//     for tests only (it never feeds a protocol's own randomness).
//
// # Usage
//
//	srv, _ := plain.NewServer(cfg)
//	clients := make([]mpc.Party, n)
//	// ... clients[i], _ = plain.NewClient(cfg, i+1, updates[i])
//	rep, err := mpctest.Run(mpctest.Config{
//		Seed: 1, Reorder: true, Dup: 0.1,
//		Drops: []mpctest.Drop{{Party: 3, Kind: ""}},
//		Kinds: cfg.Kinds(),
//	}, srv, clients...)
//	agg, ok := srv.Result()           // rep.Status[0].Done == ok
package mpctest
