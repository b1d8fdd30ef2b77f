package mpc

// The protocol contract: every protection protocol (plain, secagg, mhe key
// setup, mhe round) exposes its two sides as the same small state machine, so
// drivers move [Message] values between them without knowing which protocol
// runs, never type-assert, and never compare protocol names.

// ServerID is the party id of the server (the aggregator); participants are
// numbered 1..n.
const ServerID = 0

// Message is one protocol message on its way between two parties of one
// protocol instance. The transport sets From to the authenticated sender; the
// state machines check it against the sender named inside Data, if any.
// Several messages may share one Data slice (a broadcast): it is read-only.
type Message struct {
	// From and To are party ids: ServerID (0) or a participant 1..n.
	From, To int
	// Kind names the message's step within its protocol ("advertise-keys",
	// "ciphertext", ...). Drivers map it to a transport message type, so
	// every kind has its own size limit; a receiving party checks that Kind
	// agrees with what Data encodes (an empty Kind, from a driver that
	// predates the contract, is not checked). Every message a party returns
	// has its Kind set.
	Kind string
	// Data is the encoded message (layout in the protocol package's doc).
	Data []byte
}

// Status is where a party stands.
type Status struct {
	// Done is set once the party has finished successfully: a server holds
	// the released aggregate, a client has done its part.
	Done bool
	// Err is set once the party aborted; it is an *AbortError wrapping one
	// of the package's sentinels. Done and Err are never both set.
	Err error
}

// Party is one side of one protocol instance: a pure state machine without
// sockets, goroutines or clocks. It is not safe for concurrent use. Once its
// Status is final (Done or Err), Step and Advance return no messages.
type Party interface {
	// Start returns the party's first messages (none for parties that
	// wait to be spoken to).
	Start() ([]Message, error)
	// Step processes one message. A message that does not fit the current
	// step (a late or duplicate delivery) is ignored with an error that
	// wraps ErrUnexpected; any other error is the party's abort or a
	// rejected malformed message (ErrMalformed, ErrProtocol).
	Step(m Message) ([]Message, error)
	// Advance tells the party that the driver's deadline for its current
	// step passed: a server treats the silent participants as dropped (and
	// releases, moves on or aborts), a client may give up (the clients of
	// consort's protocols ignore it).
	Advance() ([]Message, error)
	// Status reports whether the party finished or aborted.
	Status() Status
}

// Client is a participant's side. Revealed reports whether the participant
// has sent what lets its input enter a released aggregate (plain: the update
// itself; secagg: its unmasking shares; mhe: a decryption share). A node never
// takes part in another instance over the same content after that.
type Client interface {
	Party
	Revealed() bool
}

// Aggregate is what a server releases: the sum of the contributors' inputs,
// exactly as the protocol computed it.
type Aggregate struct {
	// Contributors lists the ids (1..n) whose inputs are in the sum,
	// increasing.
	Contributors []int
	// At most one of the following is set. Ring holds a sum in Z_{2^Bits}
	// (secagg); Ints an exact integer sum of quantised values (mhe); Floats
	// a float sum (plain, insecure). None is set when the server does not
	// learn the sum: the mhe key setup, and mhe rounds whose recipients are
	// the nodes.
	Ring   []uint64
	Bits   uint
	Ints   []int64
	Floats []float64
	// Frac is the fixed-point scale exponent of Ring and Ints: the value is
	// the integer (two's complement in the ring) divided by 2^Frac.
	Frac uint
}

// Server is the aggregator's side. Result returns the aggregate once Status
// is Done.
type Server interface {
	Party
	Result() (Aggregate, bool)
}

// Kind describes one message kind of a protocol for the transport registry.
// A protocol lists its kinds for an instance (plain.Config.Kinds,
// secagg.Params.Kinds).
type Kind struct {
	// Name is the kind's name (Message.Kind).
	Name string
	// MaxSize bounds the encoded size of a message of this kind.
	MaxSize int
}
