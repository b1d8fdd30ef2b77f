// Package policy is a node's own rulebook for joining federated rounds.
//
// A team's node does not take the coordinator's word for anything that
// affects its data: before each round it checks the round's parameters
// against a local policy file and refuses, with a typed [*RefusalError], a
// round that breaks it. The reason codes ([ReasonCoordinator],
// [ReasonPurpose], [ReasonProtocol], [ReasonMinContributors], [ReasonRounds],
// [ReasonEpsilon], [ReasonInvalid]) are stable strings, sent to the
// coordinator in the refusal message and written to the node's audit log.
//
// The epsilon check is the node's own arithmetic: it recomputes the privacy
// loss with the RDP accountant of package privacy from the proposal's noise
// multiplier, clip norm, threshold, sampling rate and the number of rounds,
// where the round count is the larger of the coordinator's round number and
// the node's own count of past rounds (from its audit log), so a coordinator
// that under-reports rounds or epsilon is still refused.
//
// # Threat model
//
// The coordinator may be curious and may lie about round numbers or its
// epsilon figure; the node trusts only the signed manifest (checked by the
// caller before building a [RoundProposal]), the authenticated peer ID of the
// coordinator and its own records. The policy file itself is trusted local
// configuration.
//
// # Usage
//
//	p, err := policy.Load("/etc/consort/policy.toml")
//	...
//	err = p.Check(policy.RoundProposal{
//		Coordinator: peerID, Purpose: manifest.Purpose, Protocol: "secagg",
//		Round: start.Round, PastRounds: joined, MinContributors: start.Threshold,
//		NoiseMultiplier: 1.1, Clip: 1, SamplingRate: 1,
//	})
//	var refusal *policy.RefusalError
//	if errors.As(err, &refusal) {
//		// send refusal.Reason and refusal.Detail to the coordinator, log it
//	}
package policy
