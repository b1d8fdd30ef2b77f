package federated

import (
	"crypto/ed25519"
	"fmt"
	"io"

	"github.com/consort-ml/consort/transport"
)

// Signer signs protocol messages with a party's identity key (the libp2p
// Ed25519 key, so signatures are bound to the peer ID).
type Signer interface {
	PublicKey() ed25519.PublicKey
	Sign(msg []byte) []byte
}

// netProtocol builds the two sides of a protection protocol for networked
// rounds.
type netProtocol interface {
	// Name is the protocol's name in manifests and RoundStart.
	Name() string
	// Secure reports whether the protocol hides individual updates.
	Secure() bool
	// ContributionType is the message type that carries a participant's
	// protected update (its digest goes into the audit logs).
	ContributionType() string
	// Types are the message types the protocol sends.
	Types(maxDim, maxParties int) []transport.MessageType
	// NewServer starts the aggregator side of one attempt; ids holds the
	// participants' identity keys (index 0 unused).
	NewServer(p sessionParams, ids []ed25519.PublicKey) (serverSession, error)
	// NewClient starts participant id's side of one attempt with its input.
	NewClient(p sessionParams, ids []ed25519.PublicKey, id int, input []float32, self Signer, rand io.Reader) (clientSession, error)
}

type plainProtocol struct{}

func (plainProtocol) Name() string             { return "plain" }
func (plainProtocol) Secure() bool             { return false }
func (plainProtocol) ContributionType() string { return typePlainUpdate }
func (plainProtocol) Types(maxDim, _ int) []transport.MessageType {
	return plainTypes(maxDim)
}
func (plainProtocol) NewServer(p sessionParams, _ []ed25519.PublicKey) (serverSession, error) {
	return newPlainServer(p), nil
}
func (plainProtocol) NewClient(p sessionParams, _ []ed25519.PublicKey, _ int, input []float32, _ Signer, _ io.Reader) (clientSession, error) {
	if len(input) != p.Dim {
		return nil, fmt.Errorf("%w: input of %d values, want %d", ErrSession, len(input), p.Dim)
	}
	return &plainClient{input: input}, nil
}

// lookupProtocol returns the networked protocol called name.
func lookupProtocol(name string) (netProtocol, error) {
	switch name {
	case "plain":
		return plainProtocol{}, nil
	case "secagg":
		return secaggProtocol{}, nil
	case "mhe":
		// Without federation state: enough for the type registry; the
		// drivers use their own mheProtocol with the federation's setup.
		return mheProtocol{}, nil
	}
	return nil, fmt.Errorf("%w: unknown protocol %q", ErrBadConfig, name)
}

// Control message types of the training protocol.
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
	for _, name := range ProtocolNames() {
		p, err := lookupProtocol(name)
		if err != nil {
			return nil, err
		}
		types = append(types, p.Types(maxDim, maxParties)...)
	}
	return transport.NewTypes(types...)
}

// ProtocolNames lists the protocols of networked rounds.
func ProtocolNames() []string { return []string{"plain", "secagg", "mhe"} }
