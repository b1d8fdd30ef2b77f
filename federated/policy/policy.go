package policy

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/consort-ml/consort/federated/trainer/runner"
	"io"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/consort-ml/consort/federated/privacy"
)

var (
	// ErrRefused matches every [*RefusalError] with errors.Is.
	ErrRefused = errors.New("policy: round refused")
	// ErrInvalid marks a policy file that cannot be read or does not validate.
	ErrInvalid = errors.New("policy: invalid policy")
)

// Code is a stable, machine-readable refusal reason. The strings are part of
// the wire and audit-log contract: never rename one.
type Code string

// Refusal reasons.
const (
	// ReasonCoordinator: the coordinator's peer ID is not accepted.
	ReasonCoordinator Code = "coordinator"
	// ReasonPurpose: the federation's declared purpose is not accepted.
	ReasonPurpose Code = "purpose"
	// ReasonProtocol: the aggregation protocol is not accepted.
	ReasonProtocol Code = "protocol"
	// ReasonMinContributors: the aggregate could be released with fewer
	// contributors than the policy requires.
	ReasonMinContributors Code = "min-contributors"
	// ReasonRounds: the round would exceed the maximum number of rounds.
	ReasonRounds Code = "rounds"
	// ReasonEpsilon: taking part would push the node's epsilon, as the node
	// computes it, above its maximum.
	ReasonEpsilon Code = "epsilon"
	// ReasonInvalid: the proposal is malformed (missing or impossible
	// parameters), so no check can pass.
	ReasonInvalid Code = "invalid-proposal"
)

// RefusalError is a node's typed refusal of a round. Reason is stable; Detail
// is a human-readable sentence made of parameters only (never data, updates
// or keys), fit for logs and for the coordinator's report.
type RefusalError struct {
	Reason Code
	Detail string
}

// Error implements error.
func (e *RefusalError) Error() string {
	return fmt.Sprintf("policy: refused (%s): %s", e.Reason, e.Detail)
}

// Is reports whether target is [ErrRefused].
func (e *RefusalError) Is(target error) bool { return target == ErrRefused }

func refuse(reason Code, format string, args ...any) error {
	return &RefusalError{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// maxFileSize bounds a policy file.
const maxFileSize = 1 << 20

// Policy is a node's local policy. Its TOML form:
//
//	purposes         = ["fraud-detection"]     # accepted declared purposes; empty: any
//	protocols        = ["secagg", "mhe"]       # accepted protocols; empty: secagg and mhe
//	min_contributors = 5                       # smallest aggregate the node joins; 0: no minimum
//	max_rounds       = 200                     # 0: no limit
//	coordinators     = ["12D3KooW..."]         # accepted coordinator peer IDs; empty: any in the manifest
//	max_epsilon      = 8.0                     # 0: no epsilon limit (DP not required)
//	delta            = 1e-5                    # required with max_epsilon
type Policy struct {
	Purposes        []string `toml:"purposes"`
	Protocols       []string `toml:"protocols"`
	MinContributors int      `toml:"min_contributors"`
	MaxRounds       int      `toml:"max_rounds"`
	Coordinators    []string `toml:"coordinators"`
	MaxEpsilon      float64  `toml:"max_epsilon"`
	Delta           float64  `toml:"delta"`
	// Trainer is the [trainer] table: the approved digest of an external
	// trainer's program files, whether one may run unsandboxed, and its
	// quotas (see package federated/trainer/runner).
	Trainer runner.Policy `toml:"trainer"`
}

// DefaultProtocols are the protocols accepted when a policy lists none: the
// secure ones. The insecure "plain" baseline is accepted only when listed.
func DefaultProtocols() []string { return []string{"secagg", "mhe"} }

// Load reads and validates a policy file.
func Load(path string) (*Policy, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrInvalid, path, maxFileSize)
	}
	p, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// Parse decodes and validates a policy in TOML. Unknown keys are errors, so
// a misspelt limit cannot silently disable itself.
func Parse(data []byte) (*Policy, error) {
	var p Policy
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&p)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return nil, fmt.Errorf("%w: unknown keys %s", ErrInvalid, strings.Join(keys, ", "))
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &p, nil
}

// Validate checks the limits.
func (p *Policy) Validate() error {
	switch {
	case p.MinContributors < 0:
		return fmt.Errorf("%w: min_contributors %d is negative", ErrInvalid, p.MinContributors)
	case p.MaxRounds < 0:
		return fmt.Errorf("%w: max_rounds %d is negative", ErrInvalid, p.MaxRounds)
	case !(p.MaxEpsilon >= 0) || math.IsInf(p.MaxEpsilon, 0):
		return fmt.Errorf("%w: max_epsilon %v must be finite and non-negative", ErrInvalid, p.MaxEpsilon)
	case p.MaxEpsilon > 0 && !(p.Delta > 0 && p.Delta < 1):
		return fmt.Errorf("%w: max_epsilon needs a delta in (0, 1), got %v", ErrInvalid, p.Delta)
	case p.MaxEpsilon == 0 && p.Delta != 0:
		return fmt.Errorf("%w: delta set without max_epsilon", ErrInvalid)
	}
	for _, s := range [][]string{p.Purposes, p.Protocols, p.Coordinators} {
		for _, v := range s {
			if strings.TrimSpace(v) == "" {
				return fmt.Errorf("%w: empty entry in a list", ErrInvalid)
			}
		}
	}
	return nil
}

// RoundProposal is what a node knows about a round it is asked to join:
// parameters from the coordinator's RoundStart (checked against the signed
// manifest by the caller) plus the node's own count of past rounds.
type RoundProposal struct {
	// Coordinator is the authenticated peer ID of the coordinator asking.
	Coordinator string
	// Purpose is the federation's declared purpose (from the manifest).
	Purpose string
	// Protocol is the aggregation protocol: "plain", "secagg" or "mhe".
	Protocol string
	// Round is the 1-based number of this round as the coordinator states it.
	Round uint64
	// PastRounds is how many rounds of this federation this node has already
	// taken part in, counted by the node itself (its audit log), never taken
	// from the coordinator: the node accounts max(Round, PastRounds+1) rounds.
	PastRounds int
	// MinContributors is the smallest number of contributors the protocol
	// will release an aggregate for (its threshold).
	MinContributors int
	// Noise, NoiseMultiplier and Clip describe the distributed DP noise; a
	// zero NoiseMultiplier means no DP.
	Noise           privacy.Noise
	NoiseMultiplier float64
	Clip            float64
	// SamplingRate is the probability that a node is asked in a round (1
	// when every node takes part in every round).
	SamplingRate float64
	// FracBits and Dim size the Skellam quantisation (ring noise only).
	FracBits uint
	Dim      int
	// ClaimedEpsilon is the coordinator's own figure after this round; it is
	// informational only and quoted in refusals.
	ClaimedEpsilon float64
}

// rounds is the number of rounds the node accounts for if it joins.
func (r RoundProposal) rounds() int {
	n := r.PastRounds + 1
	if r.Round > uint64(n) {
		if r.Round > math.MaxInt32 {
			return math.MaxInt32
		}
		n = int(r.Round)
	}
	return n
}

// Epsilon computes, with the node's own accountant, the epsilon at delta the
// node will have spent after joining this round: max(Round, PastRounds+1)
// rounds of the proposal's mechanism at its sampling rate. It returns +Inf
// for a proposal without noise.
func Epsilon(r RoundProposal, delta float64) (float64, error) {
	if r.NoiseMultiplier == 0 {
		return math.Inf(1), nil
	}
	if !(r.SamplingRate > 0 && r.SamplingRate <= 1) {
		return 0, fmt.Errorf("sampling rate %v outside (0, 1]", r.SamplingRate)
	}
	t := max(r.MinContributors, 1)
	m := privacy.Mechanism{Clip: r.Clip, NoiseMultiplier: r.NoiseMultiplier, MinContributors: t, Noise: r.Noise, FracBits: r.FracBits}
	if err := m.Validate(); err != nil {
		return 0, err
	}
	acc, err := privacy.NewAccountant(nil)
	if err != nil {
		return 0, err
	}
	curve, err := m.Curve(acc.Orders(), r.SamplingRate, r.Dim)
	if err != nil {
		return 0, err
	}
	if err := acc.Compose(curve, r.rounds()); err != nil {
		return 0, err
	}
	return acc.Epsilon(delta)
}

// Check decides whether the node joins the round. It returns nil to join or
// a [*RefusalError] naming the first broken rule, in the order coordinator,
// purpose, protocol, min-contributors, rounds, epsilon.
func (p *Policy) Check(r RoundProposal) error {
	if len(p.Coordinators) > 0 && !slices.Contains(p.Coordinators, r.Coordinator) {
		return refuse(ReasonCoordinator, "coordinator %q is not in the policy's accepted list", r.Coordinator)
	}
	if len(p.Purposes) > 0 && !slices.Contains(p.Purposes, r.Purpose) {
		return refuse(ReasonPurpose, "declared purpose %q is not accepted", r.Purpose)
	}
	protocols := p.Protocols
	if len(protocols) == 0 {
		protocols = DefaultProtocols()
	}
	if !slices.Contains(protocols, r.Protocol) {
		return refuse(ReasonProtocol, "protocol %q is not accepted (policy: %s)", r.Protocol, strings.Join(protocols, ", "))
	}
	if r.MinContributors < p.MinContributors {
		return refuse(ReasonMinContributors, "aggregates may be released with %d contributors, policy requires at least %d", r.MinContributors, p.MinContributors)
	}
	n := r.rounds()
	if p.MaxRounds > 0 && n > p.MaxRounds {
		return refuse(ReasonRounds, "joining would make %d rounds, policy allows %d", n, p.MaxRounds)
	}
	if p.MaxEpsilon > 0 {
		if r.NoiseMultiplier == 0 {
			return refuse(ReasonEpsilon, "round has no differential-privacy noise, policy limits epsilon to %g at delta %g", p.MaxEpsilon, p.Delta)
		}
		eps, err := Epsilon(r, p.Delta)
		if err != nil {
			return refuse(ReasonInvalid, "cannot account the round: %v", err)
		}
		if eps > p.MaxEpsilon {
			claim := ""
			if r.ClaimedEpsilon > 0 {
				claim = fmt.Sprintf(" (coordinator claimed %.4g)", r.ClaimedEpsilon)
			}
			return refuse(ReasonEpsilon, "after %d rounds epsilon would be %.4g at delta %g%s, policy allows %g", n, eps, p.Delta, claim, p.MaxEpsilon)
		}
	}
	return nil
}

// RefusalCode returns the stable reason code, as sent to the coordinator.
func (e *RefusalError) RefusalCode() string { return string(e.Reason) }
