package main

import (
	"errors"

	"github.com/consort-ml/consort/federated"
	"github.com/consort-ml/consort/federated/data"
)

func protocolNames() []string { return []string{"plain", "secagg", "mhe"} }

// newAggregator returns the aggregation protocol called name for a simulation.
func newAggregator(name string, cfg federated.SimConfig) (federated.Aggregator, error) {
	switch name {
	case "plain":
		return federated.Plain{}, nil
	case "secagg":
		return federated.NewSecAgg(federated.SecAggConfig{Dropout: max(cfg.Dropout, 0.05)}), nil
	case "mhe":
		a, err := federated.NewMHE(federated.MHEConfig{})
		if err != nil {
			return nil, usageError(err)
		}
		return a, nil
	default:
		return nil, usagef("unknown protocol %q (want one of %v)", name, protocolNames())
	}
}

// classify marks errors caused by bad input as usage errors (exit status 2).
func classify(err error) error {
	if errors.Is(err, data.ErrBadData) || errors.Is(err, federated.ErrBadConfig) || errors.Is(err, federated.ErrBadRound) {
		return usageError(err)
	}
	return err
}
