// Package deps holds the import-direction test of consort: the layering of
// DESIGN.md written down as a table and checked against `go list`.
//
// The rule, top to bottom:
//
//	cmd ─> federated ─┬─> mpc ─────┐
//	                  └─> transport │──> kernels ──> gonum, x/crypto, std
//	bench ─> federated, mpc, transport, kernels
//	examples ─> public API only (no cmd, no internal)
//
// mpc and transport never import each other, and kernels and mpc import no
// networking, no os and no time, so protocol code stays a pure state machine
// that runs unchanged in tests, in simulation and over libp2p.
//
// # Usage
//
//	go test ./internal/deps/
package deps
