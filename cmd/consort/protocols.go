package main

import (
	"errors"

	"github.com/consort-ml/consort/federated"
	"github.com/consort-ml/consort/federated/data"
)

func protocolNames() []string { return []string{"plain"} }

// newAggregator returns the aggregation protocol called name.
func newAggregator(name string, cfg federated.SimConfig) (federated.Aggregator, error) {
	switch name {
	case "plain":
		return federated.Plain{}, nil
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
