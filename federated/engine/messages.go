package engine

import (
	"crypto/ed25519"
	"errors"

	"github.com/consort-ml/consort/federated/policy"
	"github.com/consort-ml/consort/transport"
	"github.com/consort-ml/consort/transport/identity"
)

// Control message types of the training protocol (protobuf bodies of package
// trainpb). Protocol messages travel as "<protocol>/<kind>".
const (
	typeHello      = "train/hello"
	typeRoundStart = "train/round-start"
	typeRefusal    = "train/refusal"
	typeRoundEnd   = "train/round-end"
	typeMetrics    = "train/metrics"
	typeDone       = "train/done"
)

// MessageTypes returns the registry of every message type a federation with
// models of up to maxDim parameters and up to maxParties participants uses:
// the control messages and those of every protocol.
func MessageTypes(maxDim, maxParties int) (*transport.Types, error) {
	train := transport.Protocol{Name: "train", Major: 1}
	model := 4*maxDim + 1<<20 // a float32 model plus headers and statistics
	types := []transport.MessageType{
		{Name: typeHello, Protocol: train, MaxSize: 1 << 10},
		{Name: typeRoundStart, Protocol: train, MaxSize: model + 64*maxParties, Compress: true},
		{Name: typeRefusal, Protocol: train, MaxSize: 4 << 10},
		{Name: typeRoundEnd, Protocol: train, MaxSize: model, Compress: true},
		{Name: typeMetrics, Protocol: train, MaxSize: 1 << 10},
		{Name: typeDone, Protocol: train, MaxSize: model, Compress: true},
	}
	for _, p := range protocols {
		tp := transport.Protocol{Name: p.Name, Major: 1}
		for _, k := range p.Kinds(maxDim, maxParties) {
			types = append(types, transport.MessageType{Name: p.Name + "/" + k.Name, Protocol: tp, MaxSize: k.MaxSize})
		}
	}
	return transport.NewTypes(types...)
}

// RefusalCode is the stable reason a node gives for refusing an attempt.
type RefusalCode string

// Refusal codes: the node policy's (package policy) and the engine's own.
const (
	RefuseCoordinator     RefusalCode = RefusalCode(policy.ReasonCoordinator)
	RefusePurpose         RefusalCode = RefusalCode(policy.ReasonPurpose)
	RefuseProtocol        RefusalCode = RefusalCode(policy.ReasonProtocol)
	RefuseMinContributors RefusalCode = RefusalCode(policy.ReasonMinContributors)
	RefuseRounds          RefusalCode = RefusalCode(policy.ReasonRounds)
	RefuseEpsilon         RefusalCode = RefusalCode(policy.ReasonEpsilon)
	RefuseInvalid         RefusalCode = RefusalCode(policy.ReasonInvalid)
	// RefuseRepeat: the node already released a contribution to this
	// content (a relabelled or repeated release).
	RefuseRepeat RefusalCode = "repeat"
	// RefuseManifest: the attempt contradicts the signed manifest.
	RefuseManifest RefusalCode = "manifest"
	// RefuseError: the node could not take part (no key material, ...).
	RefuseError RefusalCode = "error"
	// RefuseOther stands for any code a peer sent that is not listed here,
	// so a member cannot invent unbounded metric labels.
	RefuseOther RefusalCode = "other"
)

// RefusalCodes lists the known codes.
func RefusalCodes() []RefusalCode {
	return []RefusalCode{RefuseCoordinator, RefusePurpose, RefuseProtocol, RefuseMinContributors, RefuseRounds,
		RefuseEpsilon, RefuseInvalid, RefuseRepeat, RefuseManifest, RefuseError, RefuseOther}
}

// RefusalCodeOf maps a code received from a peer to a known code.
func RefusalCodeOf(s string) RefusalCode {
	for _, c := range RefusalCodes() {
		if string(c) == s {
			return c
		}
	}
	return RefuseOther
}

// Refusal is a typed refusal of an attempt by a node. Detail goes to the
// coordinator, so it never contains a data value.
type Refusal struct {
	Code   RefusalCode
	Detail string
}

func (r *Refusal) Error() string { return string(r.Code) + ": " + r.Detail }

// refusalOf classifies an error as a refusal.
func refusalOf(err error) *Refusal {
	var r *Refusal
	if errors.As(err, &r) {
		return r
	}
	var pe *policy.RefusalError
	if errors.As(err, &pe) {
		return &Refusal{Code: RefusalCodeOf(string(pe.Reason)), Detail: pe.Detail}
	}
	if errors.Is(err, ErrPlan) {
		return &Refusal{Code: RefuseManifest, Detail: err.Error()}
	}
	return &Refusal{Code: RefuseError, Detail: err.Error()}
}

// identityKey returns the Ed25519 key of a libp2p peer ID.
func identityKey(p transport.PeerID) (ed25519.PublicKey, error) { return identity.PublicKey(p) }
