package mhe

import (
	"fmt"
	"io"
	"slices"

	"github.com/consort-ml/consort/mpc"
)

// The protocol contract of package mpc: *SetupNode and *Node are
// mpc.Clients, *SetupAggregatorParty and *AggregatorParty (a
// *SetupAggregator or an *Aggregator with the contract's Advance and
// Result) mpc.Servers. Every message a party
// returns carries Kind = its Kind's name; Step refuses a message whose Kind
// names another kind than its Data.

var (
	_ mpc.Client = (*SetupNode)(nil)
	_ mpc.Server = (*SetupAggregatorParty)(nil)
	_ mpc.Client = (*Node)(nil)
	_ mpc.Server = (*AggregatorParty)(nil)
)

// unexpected wraps mpc.ErrUnexpected with context: a late or repeated
// message, ignored without changing the state.
func unexpected(format string, args ...any) error {
	return fmt.Errorf("mhe: %s: %w", fmt.Sprintf(format, args...), mpc.ErrUnexpected)
}

// withKinds sets each message's Kind from the kind byte of its Data.
func withKinds(out []Message) []Message {
	for i := range out {
		if len(out[i].Data) > 1 {
			out[i].Kind = Kind(out[i].Data[1]).String()
		}
	}
	return out
}

// checkKind refuses a message whose Kind, when set, names another kind than
// its Data. An empty Kind (a driver that predates the contract) is not
// checked; the header decoder still checks the kind itself.
func checkKind(m Message) error {
	if m.Kind == "" || len(m.Data) < 2 {
		return nil
	}
	if k := Kind(m.Data[1]); m.Kind != k.String() {
		return violation("a %q message carries %v", m.Kind, k)
	}
	return nil
}

// Start draws the node's keys and returns its announcement (one message per
// other node, sharing one Data) and its public-key share for the aggregator.
func (s *SetupNode) Start() ([]Message, error) {
	out, err := s.start()
	return withKinds(out), err
}

// Step handles one message addressed to the node and returns the messages
// to send. A message that is malformed or breaks the protocol is rejected
// with an error wrapping mpc.ErrMalformed or mpc.ErrProtocol, a repeated one
// with mpc.ErrUnexpected; a failed key agreement or share decryption aborts
// the setup (*mpc.AbortError).
func (s *SetupNode) Step(m Message) ([]Message, error) {
	if s.err != nil {
		return nil, s.err
	}
	if err := checkKind(m); err != nil {
		return nil, err
	}
	out, err := s.step(m)
	return withKinds(out), err
}

// Advance does nothing: the setup needs every node, and the node waits for
// the driver to end it.
func (s *SetupNode) Advance() ([]Message, error) { return nil, s.err }

// Status reports Done once the key material is complete.
func (s *SetupNode) Status() mpc.Status { return mpc.Status{Done: s.km != nil, Err: s.err} }

// Revealed is always false: the setup involves no node's input.
func (s *SetupNode) Revealed() bool { return false }

// SetupAggregatorParty is a [SetupAggregator] seen through the mpc.Server
// contract: the same state machine, whose messages carry their Kind, whose
// Advance is the driver's deadline and whose Result is an [mpc.Aggregate].
type SetupAggregatorParty struct {
	*SetupAggregator
	err error // set by Advance before the key is formed
}

// NewSetupAggregatorParty returns the aggregator's setup as an mpc.Server.
func NewSetupAggregatorParty(cfg SetupConfig) (*SetupAggregatorParty, error) {
	a, err := NewSetupAggregator(cfg)
	if err != nil {
		return nil, err
	}
	return &SetupAggregatorParty{SetupAggregator: a}, nil
}

// Start returns no message: the aggregator waits for the key shares.
func (a *SetupAggregatorParty) Start() ([]Message, error) { return nil, a.err }

// Step handles a public-key share (see [SetupAggregator.Step]); a repeated
// share is ignored with an error wrapping mpc.ErrUnexpected.
func (a *SetupAggregatorParty) Step(m Message) ([]Message, error) {
	if a.err != nil {
		return nil, a.err
	}
	if err := checkKind(m); err != nil {
		return nil, err
	}
	out, err := a.SetupAggregator.Step(m)
	return withKinds(out), err
}

// Advance aborts the setup (an *mpc.AbortError wrapping
// mpc.ErrTooFewParties) unless the public key has been formed: the
// collective key needs every node's share.
func (a *SetupAggregatorParty) Advance() ([]Message, error) {
	if a.done || a.err != nil {
		return nil, a.err
	}
	a.err = &mpc.AbortError{Party: mpc.ServerID, Round: 0,
		Err: fmt.Errorf("mhe: %d of %d key shares: %w", a.nGot, a.cfg.Parties, mpc.ErrTooFewParties)}
	return nil, a.err
}

// Status reports Done once the public key has been formed and sent.
func (a *SetupAggregatorParty) Status() mpc.Status { return mpc.Status{Done: a.done, Err: a.err} }

// Result returns, once the public key is sent, an aggregate without values
// whose Contributors are every node (the collective key sums all their
// shares); [SetupAggregator.PublicKeyDigest] identifies the key.
func (a *SetupAggregatorParty) Result() (mpc.Aggregate, bool) {
	if !a.done {
		return mpc.Aggregate{}, false
	}
	ids := make([]int, a.cfg.Parties)
	for i := range ids {
		ids[i] = i + 1
	}
	return mpc.Aggregate{Contributors: ids}, true
}

// NewNodeClient is [NewNode] for a node that uploads update in Start (the
// mpc.Client contract). The update is read in Start and never modified.
func NewNodeClient(km *KeyMaterial, rc RoundConfig, update []float32, rand io.Reader) (*Node, error) {
	if len(update) != rc.Dim {
		return nil, fmt.Errorf("%w: update of %d values, round dimension %d", ErrConfig, len(update), rc.Dim)
	}
	nd, err := NewNode(km, rc, rand)
	if err != nil {
		return nil, err
	}
	nd.input = update
	return nd, nil
}

// Start uploads the update given to [NewNodeClient]: it returns the
// ciphertext message for the aggregator. A Node from NewNode has none (it
// calls Upload) and fails with ErrState.
func (nd *Node) Start() ([]Message, error) {
	if nd.err != nil {
		return nil, nd.err
	}
	if nd.input == nil {
		return nil, fmt.Errorf("%w: no update to upload (NewNodeClient takes one)", ErrState)
	}
	return nd.Upload(nd.input)
}

// Upload quantises and encrypts the update under the collective public key
// and returns the ciphertext message for the aggregator. It can be called
// once.
func (nd *Node) Upload(update []float32) ([]Message, error) {
	out, err := nd.upload(update)
	return withKinds(out), err
}

// Step handles a message from the aggregator: a decryption request (answered
// with the node's decryption share, once per attempt; a repeated request
// wraps mpc.ErrUnexpected) or, when the nodes are the recipients, the
// re-encrypted result. A request for an aggregate of fewer than the minimum
// number of contributors, or with a malformed decryption set, aborts the
// node's round: it would reveal too much. Once the result has arrived every
// message is ignored (mpc.ErrUnexpected).
func (nd *Node) Step(m Message) ([]Message, error) {
	if nd.err != nil {
		return nil, nd.err
	}
	if nd.result != nil {
		// Done: a stale decryption request is not answered.
		return nil, unexpected("message for a round whose result has arrived")
	}
	if err := checkKind(m); err != nil {
		return nil, err
	}
	out, err := nd.step(m)
	return withKinds(out), err
}

// Advance does nothing: the node answers decryption requests until the
// driver ends the round.
func (nd *Node) Advance() ([]Message, error) { return nil, nd.err }

// Status reports Done once the result has arrived, when the nodes are the
// recipients. With the aggregator as the recipient the round has no closing
// message, so a node never knows it is over (the aggregator may ask it for
// a share in a later attempt): its Status stays pending until the driver
// ends the round.
func (nd *Node) Status() mpc.Status { return mpc.Status{Done: nd.result != nil, Err: nd.err} }

// Revealed reports whether the node sent a decryption share, or received a
// result that includes its input.
func (nd *Node) Revealed() bool {
	return len(nd.answered) > 0 || nd.result != nil && slices.Contains(nd.result.Contributors, int(nd.km.id))
}

// Step handles a message from a node: an encrypted update during the upload
// phase (summed at once into the running aggregate; when every participant
// has uploaded, the uploads close by themselves) or a decryption share of
// the current attempt (shares of an abandoned attempt are ignored). A
// malformed or out-of-protocol message is rejected with an error wrapping
// mpc.ErrMalformed or mpc.ErrProtocol, a late or repeated one with
// mpc.ErrUnexpected; either leaves the state unchanged.
func (a *Aggregator) Step(m Message) ([]Message, error) {
	if a.err != nil {
		return nil, a.err
	}
	if err := checkKind(m); err != nil {
		return nil, err
	}
	out, err := a.step(m)
	return withKinds(out), err
}

// CloseUploads ends the upload phase (the driver calls it when the upload
// deadline passes) and returns the first decryption requests. It aborts with
// mpc.ErrTooFewParties when fewer than the minimum number of nodes uploaded.
func (a *Aggregator) CloseUploads() ([]Message, error) {
	out, err := a.closeUploads()
	return withKinds(out), err
}

// Dropped tells the aggregator that node id stopped answering. If it was in
// the current decryption set before sending its share, a new attempt starts
// with the next live contributors (returned as new requests); the round
// aborts with mpc.ErrTooFewParties when fewer than t are left.
func (a *Aggregator) Dropped(id int) ([]Message, error) {
	out, err := a.dropped(id)
	return withKinds(out), err
}

// AggregatorParty is an [Aggregator] seen through the mpc.Server contract:
// the same state machine, whose Advance is the driver's deadline and whose
// Result is an [mpc.Aggregate]. Aggregator's own Result stays reachable as
// p.Aggregator.Result.
type AggregatorParty struct {
	*Aggregator
}

// NewAggregatorParty returns the aggregator's side of a round as an
// mpc.Server.
func NewAggregatorParty(cfg SetupConfig, rc RoundConfig) (*AggregatorParty, error) {
	a, err := NewAggregator(cfg, rc)
	if err != nil {
		return nil, err
	}
	return &AggregatorParty{a}, nil
}

// Start returns no message: the aggregator waits for the ciphertexts.
func (p *AggregatorParty) Start() ([]Message, error) { return nil, p.err }

// Advance is the driver's deadline for the current phase: during the
// uploads it closes them (CloseUploads); during a decryption attempt it
// treats every decryptor that has not answered as dropped and starts one
// new attempt with the next live contributors (aborting with
// mpc.ErrTooFewParties when fewer than t are left).
func (p *AggregatorParty) Advance() ([]Message, error) {
	a := p.Aggregator
	switch {
	case a.err != nil:
		return nil, a.err
	case a.phase == phaseUpload:
		return a.CloseUploads()
	case a.phase == phaseChallenge || a.phase == phaseFingerprint:
		// A verified round needs every contributor's challenge and
		// fingerprint: the first one still silent aborts it.
		for i, c := range a.contributors {
			if (a.phase == phaseChallenge && !a.gotSeed[i]) || (a.phase == phaseFingerprint && a.fps[i] == nil) {
				out, err := a.dropped(int(c))
				return withKinds(out), err
			}
		}
		return nil, nil
	case a.phase != phaseDecrypt:
		return nil, nil
	}
	silent := false
	for i, id := range a.decryptors {
		if !a.answered[i] {
			a.failed[id-1] = true
			silent = true
		}
	}
	if !silent {
		return nil, nil
	}
	out, err := a.startAttempt()
	return withKinds(out), err
}

// Status reports Done once the decryption has completed (when the nodes are
// the recipients: once the re-encrypted sum has been sent), Err once the
// round aborted.
func (p *AggregatorParty) Status() mpc.Status {
	return mpc.Status{Done: p.result != nil, Err: p.err}
}

// Result returns the exact integer sum of the contributors' quantised
// updates (Ints, at scale 2^-Frac) and the contributors. When the nodes are
// the recipients the aggregator never sees the sum: Ints is nil and the
// nodes read it from [Node.Result]. Ints is shared between calls: treat it
// as read-only.
func (p *AggregatorParty) Result() (mpc.Aggregate, bool) {
	r, ok := p.Aggregator.Result()
	if !ok {
		return mpc.Aggregate{}, false
	}
	return mpc.Aggregate{Contributors: r.Contributors, Ints: r.Quantized, Frac: r.Frac}, true
}
