// Package strategy holds the server-side strategies that turn a round's mean
// update into the next global model: FedAvg (McMahan et al., AISTATS 2017),
// FedProx (Li et al., MLSys 2020: the proximal term lives in local training,
// the server step is FedAvg's) and FedAdam (Reddi et al., "Adaptive Federated
// Optimization", ICLR 2021: the mean update is a pseudo-gradient for a
// server-side Adam step).
//
// A strategy is pure computation. [Stateful] strategies (FedAdam) expose
// their state so the coordinator's checkpoint can keep it.
//
// # Usage
//
//	s, err := strategy.New(strategy.Config{Name: "fedadam", ServerLR: 0.01})
//	s.Apply(global, meanUpdate) // global += step
package strategy
