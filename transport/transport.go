package transport

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// PeerID names a peer. Over libp2p it is the peer ID's text form
// ("12D3KooW..."), derived from the peer's Ed25519 identity key; in memory
// it is any non-empty name.
type PeerID string

// Message is one typed message as the protocols see it.
type Message struct {
	// Type is a registered message type name (see [MessageType]).
	Type string
	// Round is the training round the message belongs to.
	Round uint64
	// Step is the protocol step within the round; its meaning belongs to the
	// message's protocol.
	Step uint32
	// Payload is opaque to the transport. Its length is bounded by the
	// type's MaxSize.
	Payload []byte
}

// Incoming is a received message with its authenticated sender.
type Incoming struct {
	// From is the authenticated sender.
	From PeerID
	Message
}

// Transport moves bounded, typed messages between peers.
//
// All methods are safe for concurrent use. A nil error from Send means the
// message left this peer: transport/p2p returns only after the receiver
// acknowledged it (at least once: a retried send may be delivered twice),
// transport/mem may still lose it on purpose. Protocols must therefore
// tolerate both loss and duplicates.
type Transport interface {
	// Self returns this peer's ID.
	Self() PeerID
	// Send delivers msg to peer to, or fails by the context's deadline.
	Send(ctx context.Context, to PeerID, msg Message) error
	// Recv blocks until a message arrives, the context ends or the
	// transport is closed ([ErrClosed]).
	Recv(ctx context.Context) (Incoming, error)
	// Peers lists the peers currently reachable, sorted.
	Peers() []PeerID
	// SetRound sets the current round: from then on, envelopes for earlier
	// rounds are dropped and counted as [RejectStale]. Rounds never go back:
	// a smaller value is ignored.
	SetRound(round uint64)
	// Stats returns a snapshot of the counters.
	Stats() Stats
	// Close releases the transport; pending and later calls fail with
	// [ErrClosed].
	Close() error
}

// Errors shared by the transports.
var (
	// ErrClosed is returned by calls on a closed transport.
	ErrClosed = errors.New("transport: closed")
	// ErrUnknownType marks a message type that is not registered.
	ErrUnknownType = errors.New("transport: unknown message type")
	// ErrTooLarge marks a payload above its type's maximum size.
	ErrTooLarge = errors.New("transport: message too large")
	// ErrUnknownPeer marks a peer that is not part of the network.
	ErrUnknownPeer = errors.New("transport: unknown peer")
	// ErrRefused marks a message or stream the remote peer refused; the
	// wrapping error names the [Reason].
	ErrRefused = errors.New("transport: refused by peer")
	// ErrBadConfig marks an invalid configuration.
	ErrBadConfig = errors.New("transport: bad config")
)

// Protocol is a versioned libp2p protocol that carries a family of
// message types, e.g. {Name: "secagg", Major: 1} is "/consort/secagg/1".
type Protocol struct {
	// Name is lower-case letters, digits and '-' (1..32 characters).
	Name string
	// Major is the incompatible-change version (>= 1).
	Major uint
}

// ID returns the libp2p protocol ID "/consort/<name>/<major>".
func (p Protocol) ID() string { return fmt.Sprintf("/consort/%s/%d", p.Name, p.Major) }

// Validate checks the protocol's name and version.
func (p Protocol) Validate() error {
	if !validName(p.Name, 32, false) {
		return fmt.Errorf("%w: protocol name %q", ErrBadConfig, p.Name)
	}
	if p.Major == 0 {
		return fmt.Errorf("%w: protocol %q has major version 0", ErrBadConfig, p.Name)
	}
	return nil
}

// MaxTypeName bounds the length of a message type name.
const MaxTypeName = 64

// MaxMessageSize is the largest MaxSize a message type may declare (1 GiB).
const MaxMessageSize = 1 << 30

// MessageType declares one kind of message.
type MessageType struct {
	// Name is unique, 1..64 characters of lower-case letters, digits, '-',
	// '_', '.' and '/', e.g. "secagg/masked-input".
	Name string
	// Protocol carries the type over libp2p; a peer's role decides which
	// protocols it may use.
	Protocol Protocol
	// MaxSize bounds the payload in bytes (1..MaxMessageSize); larger
	// messages are refused before any buffer is allocated for them.
	MaxSize int
	// Compress asks for zstd compression when it shrinks the payload
	// (model broadcasts; not masked vectors or ciphertexts, which do not
	// compress).
	Compress bool
}

// Types is an immutable registry of message types, built by [NewTypes].
type Types struct {
	byName    map[string]MessageType
	protocols []Protocol
	maxSize   int
}

// NewTypes validates and registers message types. Names must be unique and
// a protocol name must always come with the same major version.
func NewTypes(types ...MessageType) (*Types, error) {
	t := &Types{byName: make(map[string]MessageType, len(types))}
	protos := map[string]Protocol{}
	for _, mt := range types {
		if !validName(mt.Name, MaxTypeName, true) {
			return nil, fmt.Errorf("%w: message type name %q", ErrBadConfig, mt.Name)
		}
		if _, dup := t.byName[mt.Name]; dup {
			return nil, fmt.Errorf("%w: message type %q registered twice", ErrBadConfig, mt.Name)
		}
		if err := mt.Protocol.Validate(); err != nil {
			return nil, fmt.Errorf("message type %q: %w", mt.Name, err)
		}
		if p, ok := protos[mt.Protocol.Name]; ok && p != mt.Protocol {
			return nil, fmt.Errorf("%w: protocol %q registered with majors %d and %d", ErrBadConfig, p.Name, p.Major, mt.Protocol.Major)
		}
		if mt.MaxSize < 1 || mt.MaxSize > MaxMessageSize {
			return nil, fmt.Errorf("%w: message type %q max size %d out of range 1..%d", ErrBadConfig, mt.Name, mt.MaxSize, MaxMessageSize)
		}
		protos[mt.Protocol.Name] = mt.Protocol
		t.byName[mt.Name] = mt
		t.maxSize = max(t.maxSize, mt.MaxSize)
	}
	for _, p := range protos {
		t.protocols = append(t.protocols, p)
	}
	sort.Slice(t.protocols, func(i, j int) bool { return t.protocols[i].Name < t.protocols[j].Name })
	return t, nil
}

// Lookup returns the registered type with that name.
func (t *Types) Lookup(name string) (MessageType, bool) {
	mt, ok := t.byName[name]
	return mt, ok
}

// Protocols lists the protocols of the registered types, sorted by name.
func (t *Types) Protocols() []Protocol { return append([]Protocol(nil), t.protocols...) }

// MaxSize returns the largest MaxSize of any registered type.
func (t *Types) MaxSize() int { return t.maxSize }

// Names lists the registered type names, sorted.
func (t *Types) Names() []string {
	names := make([]string, 0, len(t.byName))
	for n := range t.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Check validates an outgoing message against the registry.
func (t *Types) Check(msg Message) (MessageType, error) {
	mt, ok := t.byName[msg.Type]
	if !ok {
		return MessageType{}, fmt.Errorf("%w: %q", ErrUnknownType, msg.Type)
	}
	if len(msg.Payload) > mt.MaxSize {
		return MessageType{}, fmt.Errorf("%w: %q payload of %d bytes, limit %d", ErrTooLarge, msg.Type, len(msg.Payload), mt.MaxSize)
	}
	return mt, nil
}

func validName(s string, maxLen int, slash bool) bool {
	if len(s) == 0 || len(s) > maxLen {
		return false
	}
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-':
		case slash && (c == '_' || c == '.' || c == '/'):
		default:
			return false
		}
	}
	return !strings.HasPrefix(s, "/") && !strings.HasSuffix(s, "/")
}

// MaxFederationID bounds the length of a federation id.
const MaxFederationID = 128

// MaxPeerID bounds the length of a peer ID.
const MaxPeerID = 128

// ValidFederationID reports whether s may be used as a federation id:
// 1..128 printable ASCII characters without spaces.
func ValidFederationID(s string) bool {
	if len(s) == 0 || len(s) > MaxFederationID {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}
