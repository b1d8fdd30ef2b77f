// Command consort is the single binary of the consort federated-training
// runtime.
//
//	consort keygen --out KEYFILE | --show KEYFILE [--json]   identity key (0600); prints the peer ID
//	consort manifest init|sign|verify ...          create, sign and check a federation manifest
//	consort coordinator --manifest M --key K [--listen ADDR] [--state DIR] [--rounds R]
//	consort node --manifest M --key K --data FILE [--label COL] [--state DIR] [--coordinator ADDR] [--policy P]
//	consort predict --model FILE --data FILE       predictions as CSV, accuracy on stderr
//	consort simulate --dataset NAME --parties N --rounds R --protocol plain|secagg|mhe [flags]
//	consort demo [--protocol secagg|mhe|plain] [--dir DIR]   coordinator + 3 nodes as processes over libp2p
//	consort audit verify [--manifest M] [--json] LOG...
//	consort bench kernels|training|secagg|mhe|p2p|round|all [--json]
//	consort plot --metrics STATE/metrics.csv [--out DIR]   PNG charts of a run
//	consort version [--json]
//	consort help [COMMAND|exit-codes]
//
// # Conventions
//
// Results go to stdout (one JSON object with --json), logs and errors to
// stderr. Every error is one line, "consort COMMAND: message", never a
// stack trace; it holds no secret, share or data value. Help (--help)
// lists the flags with two dashes and examples. The conventions and their
// reasons are in docs/cli.md.
//
// # Exit statuses
//
// One table for every command (exitcodes.go; 'consort help exit-codes'):
// 0 ok, 1 failed while running, 2 usage, 3 a file cannot be read or parsed,
// 4 refused by the manifest or a policy, 5 verification failed, 6 a peer
// cannot be reached, 7 busy (state directory or port held by another
// process), 70 internal error, 130 interrupted. The status comes from the
// error's class (the packages' sentinel errors), so the same failure gives
// the same status in every command.
//
// # Threat model and decisions
//
//   - One process per state directory: coordinator, node and demo lock it
//     (internal/statedir, flock) before anything else; two writers would
//     corrupt the audit log's hash chain. Listeners never share a port
//     (transport/p2p sets no SO_REUSEPORT).
//   - Flags are validated against the signed manifest at start (e.g.
//     --rounds at most the manifest's) rather than refused by the nodes later.
//   - demo --dir never deletes or overwrites files it did not create: it uses
//     only new or empty directories or one holding its .consort-demo marker.
//   - On a terminal the coordinator's progress bar is erased before each log
//     line and redrawn after it; elsewhere it prints one line per round.
//
// # Usage
//
// Operators: README.md and docs/operations.md (install, ports, NAT, state,
// node policy, systemd). Every command: consort COMMAND --help.
package main
