package main

import (
	"errors"

	"github.com/consort-ml/consort/federated"
	"github.com/consort-ml/consort/federated/data"
	"github.com/consort-ml/consort/federated/engine"
)

func protocolNames() []string { return federated.ProtocolNames() }

// classify marks errors caused by bad input as usage errors (exit status 2).
func classify(err error) error {
	if errors.Is(err, data.ErrBadData) || errors.Is(err, federated.ErrBadConfig) || errors.Is(err, engine.ErrConfig) || errors.Is(err, engine.ErrPlan) {
		return usageError(err)
	}
	return err
}
