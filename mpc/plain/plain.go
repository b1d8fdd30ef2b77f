package plain

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/consort-ml/consort/mpc"
)

// ErrConfig marks an invalid Config or constructor argument (a caller error,
// not a peer's).
var ErrConfig = errors.New("plain: invalid configuration")

// Limits of a round.
const (
	// MaxParties bounds Config.Parties (ids travel as uint16).
	MaxParties = 1<<16 - 1
	// MaxDim bounds Config.Dim, so that an update message stays below 1 GiB.
	MaxDim = 1 << 28
	// MaxFederationID bounds the federation id (one length byte).
	MaxFederationID = 255
	// MinFrac is the coarsest fixed-point resolution (2^-MinFrac) the sum
	// may use; Validate refuses a Bound × Parties that would need a coarser
	// one.
	MinFrac = 10
)

// KindUpdate is the protocol's one message kind: a participant's update.
const KindUpdate = "update"

// Wire constants: version (1) | kind (1) | from (uint16) | round (uint64) |
// len(federation id) (1) | federation id | Dim × float32.
const (
	version     = 1
	kindUpdate  = 1
	headerFixed = 13
)

// Config describes one plain round; the server and every participant use
// the same values. Its zero value is invalid: every field but FederationID
// and Round must be set.
type Config struct {
	// FederationID and Round bind every message (at most 255 bytes; any
	// round number, including 0).
	FederationID string
	Round        uint64
	// Parties is the number of participants n; their ids are 1..n.
	Parties int
	// Threshold is the least number of updates the sum may be released
	// for, 1..Parties.
	Threshold int
	// Dim is the update length, 1..MaxDim.
	Dim int
	// Bound is the largest magnitude of an update value: the server clamps
	// every value to [-Bound, Bound]. It must be positive and finite, and
	// Bound × Parties at most 2^(62-MinFrac).
	Bound float32
}

// Validate checks the configuration without changing it; errors wrap
// [ErrConfig].
func (c Config) Validate() error {
	switch {
	case len(c.FederationID) > MaxFederationID:
		return fmt.Errorf("%w: federation id of %d bytes (max %d)", ErrConfig, len(c.FederationID), MaxFederationID)
	case c.Parties < 1 || c.Parties > MaxParties:
		return fmt.Errorf("%w: %d parties, want 1..%d", ErrConfig, c.Parties, MaxParties)
	case c.Threshold < 1 || c.Threshold > c.Parties:
		return fmt.Errorf("%w: threshold %d of %d parties", ErrConfig, c.Threshold, c.Parties)
	case c.Dim < 1 || c.Dim > MaxDim:
		return fmt.Errorf("%w: dimension %d, want 1..%d", ErrConfig, c.Dim, MaxDim)
	case !(c.Bound > 0) || math.IsInf(float64(c.Bound), 0):
		return fmt.Errorf("%w: bound %v must be positive and finite", ErrConfig, c.Bound)
	case c.frac() < MinFrac:
		return fmt.Errorf("%w: bound %v for %d parties leaves a resolution coarser than 2^-%d", ErrConfig, c.Bound, c.Parties, MinFrac)
	}
	return nil
}

// frac is the fixed-point scale exponent of the server's exact sum: the
// largest f with Parties × Bound × 2^f <= 2^62, so that the sum of n clamped
// values never leaves an int64.
func (c Config) frac() int {
	m := float64(c.Bound) * float64(c.Parties)
	_, e := math.Frexp(m) // 2^(e-1) <= m < 2^e
	f := 62 - e
	if math.Ldexp(m, f+1) <= math.Ldexp(1, 62) { // m is a power of two
		f++
	}
	return f
}

func (c Config) headerSize() int { return headerFixed + len(c.FederationID) }

// MessageSize is the encoded size of an update message.
func (c Config) MessageSize() int { return c.headerSize() + 4*c.Dim }

// Kinds lists the protocol's message kinds with their size limits, for the
// transport registry.
func (c Config) Kinds() []mpc.Kind {
	return []mpc.Kind{{Name: KindUpdate, MaxSize: c.MessageSize()}}
}

// appendHeader writes the header of an update from party from.
func (c Config) appendHeader(dst []byte, from uint16) []byte {
	dst = append(dst, version, kindUpdate)
	dst = binary.LittleEndian.AppendUint16(dst, from)
	dst = binary.LittleEndian.AppendUint64(dst, c.Round)
	dst = append(dst, byte(len(c.FederationID)))
	return append(dst, c.FederationID...)
}

// encodeUpdate returns the update message of party from. Values are written
// as they are: the caller checked that they are finite.
func (c Config) encodeUpdate(from uint16, values []float32) []byte {
	b := c.appendHeader(make([]byte, 0, c.headerSize()+4*len(values)), from)
	for _, v := range values {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

// decodeUpdate checks an update message against the round and returns its
// sender and its body of Dim little-endian float32 values (aliasing data).
// Errors wrap mpc.ErrMalformed (bytes that do not decode, a length other
// than the round's, a non-finite value) or mpc.ErrProtocol (a message of
// another federation or round, or from a non-participant).
func (c Config) decodeUpdate(data []byte) (from uint16, body []byte, err error) {
	if len(data) < headerFixed {
		return 0, nil, fmt.Errorf("%w: plain: message of %d bytes, header needs %d", mpc.ErrMalformed, len(data), headerFixed)
	}
	if data[0] != version || data[1] != kindUpdate {
		return 0, nil, fmt.Errorf("%w: plain: version %d kind %d", mpc.ErrMalformed, data[0], data[1])
	}
	from = binary.LittleEndian.Uint16(data[2:])
	round := binary.LittleEndian.Uint64(data[4:])
	fl := int(data[12])
	if len(data) < headerFixed+fl {
		return 0, nil, fmt.Errorf("%w: plain: federation id of %d bytes in a message of %d", mpc.ErrMalformed, fl, len(data))
	}
	if string(data[headerFixed:headerFixed+fl]) != c.FederationID {
		return 0, nil, fmt.Errorf("%w: plain: message for another federation", mpc.ErrProtocol)
	}
	if round != c.Round {
		return 0, nil, fmt.Errorf("%w: plain: message for round %d in round %d", mpc.ErrProtocol, round, c.Round)
	}
	if from < 1 || int(from) > c.Parties {
		return 0, nil, fmt.Errorf("%w: plain: update from unknown party %d", mpc.ErrProtocol, from)
	}
	body = data[headerFixed+fl:]
	if len(body) != 4*c.Dim {
		return 0, nil, fmt.Errorf("%w: plain: update of %d bytes, want %d", mpc.ErrMalformed, len(body), 4*c.Dim)
	}
	for i := 0; i < len(body); i += 4 {
		if v := math.Float32frombits(binary.LittleEndian.Uint32(body[i:])); math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return 0, nil, fmt.Errorf("%w: plain: non-finite value in the update of party %d", mpc.ErrMalformed, from)
		}
	}
	return from, body, nil
}

// checkKind verifies that a message's Kind, when the driver set it, names
// the kind its Data encodes.
func checkKind(m mpc.Message) error {
	if m.Kind != "" && m.Kind != KindUpdate {
		return fmt.Errorf("%w: plain: message of kind %q carries an update", mpc.ErrProtocol, m.Kind)
	}
	return nil
}

// Client is a participant's side: it sends its update, in the clear, in
// [Client.Start], and is then done. It is not safe for concurrent use.
type Client struct {
	cfg    Config
	id     uint16
	update []float32
	sent   bool
}

// NewClient returns the client of participant id (1..cfg.Parties) for the
// given update of cfg.Dim finite values. The update is read in Start and
// never modified; values beyond the bound are sent as they are and clamped
// by the server.
func NewClient(cfg Config, id int, update []float32) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if id < 1 || id > cfg.Parties {
		return nil, fmt.Errorf("%w: party id %d outside 1..%d", ErrConfig, id, cfg.Parties)
	}
	if len(update) != cfg.Dim {
		return nil, fmt.Errorf("%w: update of %d values, round dimension %d", ErrConfig, len(update), cfg.Dim)
	}
	return &Client{cfg: cfg, id: uint16(id), update: update}, nil
}

// Start returns the update message for the server. It fails (wrapping
// ErrConfig, sending nothing) when the update holds a non-finite value, and
// when called twice.
func (c *Client) Start() ([]mpc.Message, error) {
	if c.sent {
		return nil, fmt.Errorf("%w: plain: party %d already started", mpc.ErrUnexpected, c.id)
	}
	for _, v := range c.update {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("%w: non-finite value in the update", ErrConfig)
		}
	}
	c.sent = true
	return []mpc.Message{{From: int(c.id), To: mpc.ServerID, Kind: KindUpdate, Data: c.cfg.encodeUpdate(c.id, c.update)}}, nil
}

// Step rejects every message: the plain server never sends any.
func (c *Client) Step(m mpc.Message) ([]mpc.Message, error) {
	return nil, fmt.Errorf("%w: plain: party %d got a %q message from %d", mpc.ErrUnexpected, c.id, m.Kind, m.From)
}

// Advance does nothing: a client never decides that the round is over.
func (c *Client) Advance() ([]mpc.Message, error) { return nil, nil }

// Status reports Done once the update has been sent.
func (c *Client) Status() mpc.Status { return mpc.Status{Done: c.sent} }

// Revealed reports whether the update has been sent.
func (c *Client) Revealed() bool { return c.sent }

// Server sums the participants' updates in the clear. It keeps one O(Dim)
// int64 accumulator whatever the number of participants. It is not safe
// for concurrent use.
type Server struct {
	cfg    Config
	frac   int
	acc    []int64
	got    []bool
	count  int
	done   bool
	err    error
	result mpc.Aggregate
}

// NewServer returns the server of one round.
func NewServer(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Server{cfg: cfg, frac: cfg.frac(), acc: make([]int64, cfg.Dim), got: make([]bool, cfg.Parties+1)}, nil
}

// Start returns no message: the server waits for the updates.
func (s *Server) Start() ([]mpc.Message, error) { return nil, s.err }

// Step adds one update to the sum. A malformed update (wrong length,
// non-finite value: mpc.ErrMalformed) or one of another round or from a
// non-participant (mpc.ErrProtocol) is rejected and leaves the state
// unchanged; a second update from a party, or any update once the round is
// over, wraps mpc.ErrUnexpected. When every participant's update is in, the
// sum is released.
func (s *Server) Step(m mpc.Message) ([]mpc.Message, error) {
	if s.err != nil {
		return nil, s.err
	}
	if err := checkKind(m); err != nil {
		return nil, err
	}
	from, body, err := s.cfg.decodeUpdate(m.Data)
	if err != nil {
		return nil, err
	}
	switch {
	case m.To != mpc.ServerID || int(from) != m.From:
		return nil, fmt.Errorf("%w: plain: sender %d claims to be %d", mpc.ErrProtocol, m.From, from)
	case s.done:
		return nil, fmt.Errorf("%w: plain: update from party %d after the release", mpc.ErrUnexpected, from)
	case s.got[from]:
		return nil, fmt.Errorf("%w: plain: second update from party %d", mpc.ErrUnexpected, from)
	}
	bound := float64(s.cfg.Bound)
	for i := range s.acc {
		v := float64(math.Float32frombits(binary.LittleEndian.Uint32(body[4*i:])))
		// Exact: v is a float32 and the scale a power of two; the product
		// stays below 2^62 by the choice of frac.
		s.acc[i] += int64(math.RoundToEven(math.Ldexp(min(max(v, -bound), bound), s.frac)))
	}
	s.got[from] = true
	s.count++
	if s.count == s.cfg.Parties {
		return nil, s.release()
	}
	return nil, nil
}

// Advance closes the round with the updates received so far (the driver's
// deadline passed): it releases their sum, or aborts with an
// *mpc.AbortError wrapping mpc.ErrTooFewParties when fewer than Threshold
// arrived.
func (s *Server) Advance() ([]mpc.Message, error) {
	if s.err != nil || s.done {
		return nil, s.err
	}
	if s.count < s.cfg.Threshold {
		s.acc = nil
		s.err = &mpc.AbortError{Party: mpc.ServerID, Round: s.cfg.Round,
			Err: fmt.Errorf("%w: plain: %d of %d updates, threshold %d", mpc.ErrTooFewParties, s.count, s.cfg.Parties, s.cfg.Threshold)}
		return nil, s.err
	}
	return nil, s.release()
}

func (s *Server) release() error {
	sum := make([]float64, len(s.acc))
	for i, v := range s.acc {
		sum[i] = math.Ldexp(float64(v), -s.frac)
	}
	var contrib []int
	for i := 1; i <= s.cfg.Parties; i++ {
		if s.got[i] {
			contrib = append(contrib, i)
		}
	}
	s.result = mpc.Aggregate{Contributors: contrib, Floats: sum}
	s.acc = nil
	s.done = true
	return nil
}

// Status reports whether the sum was released or the round aborted.
func (s *Server) Status() mpc.Status { return mpc.Status{Done: s.done, Err: s.err} }

// Result returns the released sum (Floats) and its contributors once Status
// is Done. Floats is shared between calls: treat it as read-only.
func (s *Server) Result() (mpc.Aggregate, bool) {
	if !s.done {
		return mpc.Aggregate{}, false
	}
	r := s.result
	r.Contributors = slices.Clone(r.Contributors)
	return r, true
}

var (
	_ mpc.Client = (*Client)(nil)
	_ mpc.Server = (*Server)(nil)
)
