// Command consort is the single binary of the consort federated-training
// runtime.
//
//	consort simulate --dataset NAME --parties N --rounds R --protocol plain|secagg|mhe [flags]
//	consort demo
//	consort bench WORKLOAD [flags]
//
// Exit status: 0 on success, 2 for bad input (flags, files, data), 1 for a
// failure while running. Every error is one line on stderr; a stack trace is
// never printed.
package main
