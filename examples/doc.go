// Package examples holds runnable programs that use consort's public API, each
// in its own directory with a main_test.go that runs it:
//
//   - federate: three teams train a model on the bundled breast cancer data
//     and compare it with a centralised model.
package examples
