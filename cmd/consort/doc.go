// Command consort is the single binary of the consort federated-training
// runtime.
//
//	consort keygen --out KEYFILE                   identity key (0600); prints the peer ID
//	consort manifest init|sign|verify ...          create, sign and check a federation manifest
//	consort coordinator --manifest M --key K [--listen ADDR] [--state DIR] [--rounds R]
//	consort node --manifest M --key K --data FILE [--label COL] [--state DIR] [--coordinator ADDR] [--policy P]
//	consort predict --model FILE --data FILE       predictions as CSV, accuracy on stderr
//	consort simulate --dataset NAME --parties N --rounds R --protocol plain|secagg|mhe [flags]
//	consort demo [--protocol secagg|mhe|plain]     coordinator + 3 nodes as processes over libp2p
//	consort audit verify [--manifest M] LOG...
//	consort bench kernels|training|secagg|p2p|round|all
//
// Exit status: 0 on success, 2 for bad input (flags, files, data), 1 for a
// failure while running, 130 when interrupted (Ctrl-C). Every error is one
// line on stderr; a stack trace is never printed.
package main
