package engine

import (
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/consort-ml/consort/kernels"
	"github.com/consort-ml/consort/mpc"
	"github.com/consort-ml/consort/mpc/mhe"
	"github.com/consort-ml/consort/mpc/plain"
	"github.com/consort-ml/consort/mpc/secagg"
	"github.com/consort-ml/consort/transport"
)

// The protocol registry: each protection protocol's two sides behind the
// mpc contract (mpc.Server, mpc.Client), built from a Plan. Engine messages
// number parties as the plan does: 0 the aggregator, 1..n the participants
// in RoundStart order; an adapter maps them to the protocol's own ids.

// ErrSession marks a protocol message that does not fit the running instance.
var ErrSession = errors.New("engine: protocol session error")

// Protocol describes one protection protocol to the engine and its drivers.
type Protocol struct {
	// Name is the protocol's name in manifests and RoundStart.
	Name string
	// Secure reports whether the protocol hides individual updates.
	Secure bool
	// Contribution is the kind of the message that carries a participant's
	// protected update (its digest goes into the audit logs).
	Contribution string

	// Kinds lists the message kinds with their size limits for models of
	// up to maxDim parameters and up to maxParties participants.
	Kinds func(maxDim, maxParties int) []mpc.Kind
}

// protocols is the one list of protection protocols.
var protocols = []Protocol{
	{Name: "plain", Secure: false, Contribution: plainKind, Kinds: func(maxDim, _ int) []mpc.Kind {
		// A header (at most 13 bytes and a 255-byte federation id), then
		// the float32 update.
		return []mpc.Kind{{Name: plainKind, MaxSize: 4*maxDim + 13 + 255}}
	}},
	{Name: "secagg", Secure: true, Contribution: secagg.StepMaskedInput.String(), Kinds: secaggKinds},
	{Name: "mhe", Secure: true, Contribution: mhe.KindCiphertext.String(), Kinds: mheKinds},
}

// Protocols returns the protection protocols, insecure baseline first.
func Protocols() []Protocol { return slices.Clone(protocols) }

// ProtocolNames lists the protocols' names.
func ProtocolNames() []string {
	out := make([]string, len(protocols))
	for i, p := range protocols {
		out[i] = p.Name
	}
	return out
}

func lookup(name string) (Protocol, error) {
	for _, p := range protocols {
		if p.Name == name {
			return p, nil
		}
	}
	return Protocol{}, fmt.Errorf("%w: unknown protocol %q (want one of %v)", ErrConfig, name, ProtocolNames())
}

// secrets is what a party brings to an instance beyond the plan.
type secrets struct {
	self   int           // participant index (clients)
	signer crypto.Signer // identity key (clients)
	rand   io.Reader     // private randomness (clients)
	mhe    *mheFed       // the federation's mhe setup and, at a node, its key material
	ledger mhe.Ledger    // a node's durable record of its mhe decryptions
	// floats is the contribution; ring, when set, is it already encoded in
	// Z_2^32 at the plan's scale with DP noise added in the ring.
	floats []float32
	ring   []uint32
}

func newServer(pl *Plan, s secrets) (mpc.Server, error) {
	switch pl.Protocol {
	case "plain":
		return plain.NewServer(plainConfig(pl))
	case "secagg":
		params, err := secagg.NewParams(*pl.SecAgg)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrPlan, err)
		}
		return secagg.NewServerParty(secagg.ServerConfig{Params: params, Frac: pl.Frac})
	case "mhe":
		return newMHEServer(pl, s.mhe)
	}
	return nil, fmt.Errorf("%w: unknown protocol %q", ErrPlan, pl.Protocol)
}

func newClient(pl *Plan, s secrets) (mpc.Client, error) {
	if !pl.Setup() && len(s.floats) != pl.Dim {
		return nil, fmt.Errorf("%w: contribution of %d values, want %d", ErrSession, len(s.floats), pl.Dim)
	}
	switch pl.Protocol {
	case "plain":
		return plain.NewClient(plainConfig(pl), s.self, s.floats)
	case "secagg":
		return newSecaggClient(pl, s)
	case "mhe":
		return newMHEClient(pl, s)
	}
	return nil, fmt.Errorf("%w: unknown protocol %q", ErrPlan, pl.Protocol)
}

// ---- plain: the insecure baseline ----

const plainKind = "update"

func plainConfig(pl *Plan) plain.Config {
	return plain.Config{FederationID: pl.Binding, Round: pl.Attempt, Parties: pl.Parties(), Threshold: pl.Threshold, Dim: pl.Dim, Bound: pl.Bound}
}

// ---- secagg ----

var secaggSteps = []secagg.Step{
	secagg.StepAdvertiseKeys, secagg.StepKeyList, secagg.StepShareKeys, secagg.StepShares,
	secagg.StepMaskedInput, secagg.StepUnmask, secagg.StepConfirm, secagg.StepConfirmations,
	secagg.StepUnmaskShares, secagg.StepDone, secagg.StepAbort,
}

func secaggKinds(maxDim, maxParties int) []mpc.Kind {
	small := 256*maxParties + 4096
	out := make([]mpc.Kind, 0, len(secaggSteps))
	for _, s := range secaggSteps {
		size := small
		if s == secagg.StepMaskedInput {
			size = 8*maxDim + 4096 // the 64-bit ring of the statistics phases
		}
		out = append(out, mpc.Kind{Name: s.String(), MaxSize: size})
	}
	return out
}

func newSecaggClient(pl *Plan, s secrets) (mpc.Client, error) {
	if s.signer == nil {
		return nil, fmt.Errorf("%w: secagg needs the node's identity key", ErrConfig)
	}
	params, err := secagg.NewParams(*pl.SecAgg)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPlan, err)
	}
	var seed [32]byte
	if _, err := io.ReadFull(s.rand, seed[:]); err != nil {
		return nil, err
	}
	cc := secagg.ClientConfig{Params: params, ID: s.self, Signer: s.signer}
	switch {
	case s.ring != nil:
		if pl.SecAgg.Bits != 32 || len(s.ring) != pl.Dim {
			return nil, fmt.Errorf("%w: ring contribution of %d values for a %d-bit instance of %d", ErrSession, len(s.ring), pl.SecAgg.Bits, pl.Dim)
		}
		cc.Input32 = s.ring
	case pl.SecAgg.Bits == 64:
		cc.Input64 = make([]uint64, pl.Dim)
		kernels.EncodeStochastic64(cc.Input64, s.floats, pl.Frac, seed)
	default:
		cc.Input32 = make([]uint32, pl.Dim)
		kernels.EncodeStochastic32(cc.Input32, s.floats, pl.Frac, seed)
	}
	return secagg.NewClient(cc, s.rand)
}

// ---- mhe ----

var mheKindList = []mhe.Kind{mhe.KindAnnounce, mhe.KindKeyShare, mhe.KindShamirShare, mhe.KindPublicKey,
	mhe.KindCiphertext, mhe.KindAggregate, mhe.KindChallenge, mhe.KindChallengeSet, mhe.KindFingerprint,
	mhe.KindDecryptRequest, mhe.KindDecryptShare, mhe.KindResult}

func mheKinds(maxDim, maxParties int) []mpc.Kind {
	// Bounds over every parameter set, from the literals (building the
	// rings costs tens of milliseconds each); the state machines check the
	// exact sizes for the agreed parameters before decoding.
	var ctBytes, polyBytes, keyBytes int
	for _, lit := range append(mhe.ParamSets(), mhe.InsecureTestParams()) {
		for _, bits := range []uint{16, 32} {
			ctBytes = max(ctBytes, lit.Ciphertexts(maxDim, bits)*lit.CiphertextBytes())
		}
		polyBytes = max(polyBytes, lit.PolyBytes())
		keyBytes = max(keyBytes, lit.KeyShareBytes())
	}
	out := make([]mpc.Kind, 0, len(mheKindList))
	for _, k := range mheKindList {
		size := 4*polyBytes + 64*maxParties + 4096
		switch k {
		case mhe.KindCiphertext, mhe.KindDecryptRequest, mhe.KindDecryptShare, mhe.KindResult:
			size = ctBytes + 64*maxParties + 4096
		case mhe.KindPublicKey: // every party's public-key share
			size = keyBytes*maxParties + 4096
		}
		out = append(out, mpc.Kind{Name: k.String(), MaxSize: min(size, transport.MaxMessageSize)})
	}
	return out
}

func mheKindOf(data []byte) string {
	k, err := mhe.MessageKind(data)
	if err != nil {
		return "invalid"
	}
	return k.String()
}

// mheFed is a federation's multiparty-HE setting, the same at the
// coordinator and every node: party ids are manifest positions + 1.
type mheFed struct {
	setup   mhe.SetupConfig
	members []transport.PeerID
	km      *mhe.KeyMaterial // node only, once the setup completed
}

// newMHEFed derives the federation's setup: the parameter set sized to a
// model of dim values and the nodes (mhe.ChooseParams), the threshold, and a
// common reference seed fixed by the federation id and its members.
func newMHEFed(fed Federation, dim int) (*mheFed, error) {
	n := len(fed.Nodes)
	var lit mhe.ParamsLiteral
	var err error
	switch {
	case fed.MHEInsecureTestParams:
		lit = mhe.InsecureTestParams()
	case fed.MHEParamSet != "":
		lit, err = mhe.LookupParams(fed.MHEParamSet)
	default:
		// The smallest secure set for the job; only that one is built.
		lit, err = mhe.ChooseParams(n, dim, 32)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if lit.MaxParties < n {
		return nil, fmt.Errorf("%w: mhe parameter set %s serves at most %d parties, not %d", ErrConfig, lit.Name, lit.MaxParties, n)
	}
	best, err := mhe.NewParams(lit)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	ids := make([]ed25519.PublicKey, n)
	h := sha256.New()
	h.Write([]byte("consort/federated/mhe crs\x00" + fed.ID))
	for i, m := range fed.Nodes {
		pk, err := identityKey(m)
		if err != nil {
			return nil, fmt.Errorf("%w: mhe needs real peer IDs: %w", ErrConfig, err)
		}
		ids[i] = pk
		h.Write([]byte{0})
		h.Write([]byte(m))
	}
	cfg := mhe.SetupConfig{
		Params: best, FederationID: fed.ID, Parties: n, Threshold: fed.Threshold,
		CRS: [32]byte(h.Sum(nil)), Identities: ids,
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return &mheFed{setup: cfg, members: fed.Nodes}, nil
}

func (f *mheFed) partyID(p transport.PeerID) int { return slices.Index(f.members, p) + 1 }

// mheIDs maps between participant indices (1..n) and mhe party ids.
type mheIDs struct {
	f  *mheFed
	pl *Plan
}

func (m mheIDs) party(idx int) int {
	if idx < 1 || idx > m.pl.Parties() {
		return 0
	}
	return m.f.partyID(m.pl.Peers[idx-1])
}

func (m mheIDs) index(party int) int {
	if party < 1 || party > len(m.f.members) {
		return 0
	}
	return m.pl.Index(m.f.members[party-1])
}

// out converts protocol messages to engine messages.
func (m mheIDs) out(ms []mhe.Message) []mpc.Message {
	out := make([]mpc.Message, 0, len(ms))
	for _, x := range ms {
		to := 0
		if x.To != 0 {
			if to = m.index(x.To); to == 0 {
				continue
			}
		}
		from := 0
		if x.From != 0 {
			from = m.index(x.From)
		}
		out = append(out, mpc.Message{From: from, To: to, Kind: mheKindOf(x.Data), Data: x.Data})
	}
	return out
}

func (m mheIDs) roundConfig() (mhe.RoundConfig, error) {
	ids := make([]int, m.pl.Parties())
	for i := range ids {
		if ids[i] = m.party(i + 1); ids[i] == 0 {
			return mhe.RoundConfig{}, fmt.Errorf("%w: a participant is not a node of the federation", ErrPlan)
		}
	}
	slices.Sort(ids)
	return mhe.RoundConfig{
		FederationID: m.f.setup.FederationID, Round: m.pl.Attempt, Dim: m.pl.Dim, Participants: ids,
		Bound: m.pl.Bound, QuantBits: 32, MinContributors: m.pl.Threshold,
		// Verified decryption: uploads are signed over the model version,
		// and a decryptor checks that what it decrypts is the sum of the
		// signed contributions before its share leaves, once per round and
		// model version (see package mpc/mhe).
		ModelVersion: m.pl.Version, Identities: m.f.setup.Identities,
	}, nil
}

func newMHEServer(pl *Plan, f *mheFed) (mpc.Server, error) {
	if f == nil {
		return nil, fmt.Errorf("%w: mhe is not configured for this federation", ErrConfig)
	}
	ids := mheIDs{f: f, pl: pl}
	if pl.Setup() {
		a, err := mhe.NewSetupAggregator(f.setup)
		if err != nil {
			return nil, err
		}
		return &mheSetupServer{ids: ids, a: a, relayed: map[[2]int]int{}}, nil
	}
	rc, err := ids.roundConfig()
	if err != nil {
		return nil, err
	}
	a, err := mhe.NewAggregatorParty(f.setup, rc)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPlan, err)
	}
	return &mheRoundServer{ids: ids, p: a}, nil
}

// mheSetupServer relays the node-to-node setup messages (which the relay
// can drop but neither read nor substitute) and forms the collective public
// key.
type mheSetupServer struct {
	ids     mheIDs
	a       *mhe.SetupAggregator
	relayed map[[2]int]int // (kind, from) -> messages relayed
	st      mpc.Status
}

func (s *mheSetupServer) Start() ([]mpc.Message, error) { return nil, nil }

func (s *mheSetupServer) Step(m mpc.Message) ([]mpc.Message, error) {
	if s.st.Err != nil {
		return nil, s.st.Err
	}
	if m.Kind != mheKindOf(m.Data) {
		return nil, fmt.Errorf("%w: mhe message under kind %s", mpc.ErrMalformed, m.Kind)
	}
	src := s.ids.party(m.From)
	if m.To == 0 {
		out, err := s.a.Step(mhe.Message{From: src, To: 0, Data: m.Data})
		s.update()
		return s.ids.out(out), err
	}
	k, _ := mhe.MessageKind(m.Data)
	if m.To < 1 || m.To > s.ids.pl.Parties() || m.To == m.From || (k != mhe.KindAnnounce && k != mhe.KindShamirShare) {
		return nil, fmt.Errorf("%w: setup message %s for participant %d", mpc.ErrProtocol, k, m.To)
	}
	key := [2]int{int(k), src}
	if s.relayed[key] >= s.ids.pl.Parties()-1 {
		return nil, fmt.Errorf("%w: too many %s messages from participant %d", mpc.ErrProtocol, k, m.From)
	}
	s.relayed[key]++
	s.update()
	return []mpc.Message{{From: m.From, To: m.To, Kind: m.Kind, Data: m.Data}}, nil
}

// update marks the setup done once every node's announcement and Shamir
// shares reached every other node and the public key was formed.
func (s *mheSetupServer) update() {
	n := s.ids.pl.Parties()
	total := 0
	for _, c := range s.relayed {
		total += c
	}
	if s.a.Done() && total == 2*n*(n-1) {
		s.st.Done = true
	}
}

func (s *mheSetupServer) Advance() ([]mpc.Message, error) {
	if !s.st.Done && s.st.Err == nil {
		s.st.Err = &mpc.AbortError{Party: 0, Round: s.ids.pl.Attempt, Err: fmt.Errorf("%w: the mhe key setup needs every node of the federation", mpc.ErrTooFewParties)}
	}
	return nil, s.st.Err
}

func (s *mheSetupServer) Status() mpc.Status { return s.st }

func (s *mheSetupServer) Result() (mpc.Aggregate, bool) {
	if !s.st.Done {
		return mpc.Aggregate{}, false
	}
	all := make([]int, s.ids.pl.Parties())
	for i := range all {
		all[i] = i + 1
	}
	return mpc.Aggregate{Contributors: all}, true
}

// mheRoundServer is mpc/mhe's aggregator party, seen in participant
// indices.
type mheRoundServer struct {
	ids mheIDs
	p   *mhe.AggregatorParty
}

func (s *mheRoundServer) Start() ([]mpc.Message, error) { return nil, nil }

func (s *mheRoundServer) Step(m mpc.Message) ([]mpc.Message, error) {
	if m.To != 0 {
		return nil, fmt.Errorf("%w: mhe round message for participant %d", mpc.ErrProtocol, m.To)
	}
	out, err := s.p.Step(mhe.Message{From: s.ids.party(m.From), To: 0, Kind: m.Kind, Data: m.Data})
	return s.ids.out(out), err
}

func (s *mheRoundServer) Advance() ([]mpc.Message, error) {
	out, err := s.p.Advance()
	return s.ids.out(out), err
}

func (s *mheRoundServer) Status() mpc.Status { return s.p.Status() }

func (s *mheRoundServer) Result() (mpc.Aggregate, bool) {
	r, ok := s.p.Result()
	if !ok || r.Ints == nil {
		return mpc.Aggregate{}, false
	}
	idx := make([]int, 0, len(r.Contributors))
	for _, id := range r.Contributors {
		if i := s.ids.index(id); i > 0 {
			idx = append(idx, i)
		}
	}
	slices.Sort(idx)
	r.Contributors = idx
	return r, true
}

func newMHEClient(pl *Plan, s secrets) (mpc.Client, error) {
	f := s.mhe
	if f == nil {
		return nil, fmt.Errorf("%w: mhe is not configured for this federation", ErrConfig)
	}
	ids := mheIDs{f: f, pl: pl}
	self := ids.party(s.self)
	if self == 0 {
		return nil, fmt.Errorf("%w: this node has no mhe party id", ErrSession)
	}
	if pl.Setup() {
		if s.signer == nil {
			return nil, fmt.Errorf("%w: the mhe key setup needs the node's identity key", ErrConfig)
		}
		sn, err := mhe.NewSetupNode(f.setup, self, s.signer, s.rand)
		if err != nil {
			return nil, err
		}
		return &mheSetupClient{ids: ids, s: sn, self: self}, nil
	}
	if f.km == nil {
		return nil, fmt.Errorf("%w: this node has no mhe key material (the setup did not complete here)", ErrSession)
	}
	rc, err := ids.roundConfig()
	if err != nil {
		return nil, err
	}
	rc.Signer, rc.Ledger = s.signer, s.ledger
	nd, err := mhe.NewNodeClient(f.km, rc, s.floats, s.rand)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPlan, err)
	}
	return &mheRoundClient{ids: ids, nd: nd, self: self}, nil
}

type mheSetupClient struct {
	ids  mheIDs
	s    *mhe.SetupNode
	self int
}

func (c *mheSetupClient) Start() ([]mpc.Message, error) {
	out, err := c.s.Start()
	return c.ids.out(out), err
}

func (c *mheSetupClient) Step(m mpc.Message) ([]mpc.Message, error) {
	if m.Kind != mheKindOf(m.Data) {
		return nil, fmt.Errorf("%w: mhe message under kind %s", mpc.ErrMalformed, m.Kind)
	}
	from := 0
	if m.From != 0 {
		if from = c.ids.party(m.From); from == 0 {
			return nil, fmt.Errorf("%w: setup message from participant %d", mpc.ErrProtocol, m.From)
		}
	}
	out, err := c.s.Step(mhe.Message{From: from, To: c.self, Data: m.Data})
	return c.ids.out(out), err
}

func (c *mheSetupClient) Advance() ([]mpc.Message, error) { return nil, nil }

func (c *mheSetupClient) Status() mpc.Status {
	_, ok := c.s.KeyMaterial()
	return mpc.Status{Done: ok}
}

func (c *mheSetupClient) Revealed() bool { return false }

// keyMaterial returns the completed setup's key material.
func (c *mheSetupClient) keyMaterial() (*mhe.KeyMaterial, bool) { return c.s.KeyMaterial() }

// mheRoundClient is mpc/mhe's node, seen in participant indices.
type mheRoundClient struct {
	ids  mheIDs
	nd   *mhe.Node
	self int
}

func (c *mheRoundClient) Start() ([]mpc.Message, error) {
	out, err := c.nd.Start()
	return c.ids.out(out), err
}

func (c *mheRoundClient) Step(m mpc.Message) ([]mpc.Message, error) {
	if m.From != 0 {
		return nil, fmt.Errorf("%w: mhe round message from participant %d", mpc.ErrProtocol, m.From)
	}
	out, err := c.nd.Step(mhe.Message{From: 0, To: c.self, Kind: m.Kind, Data: m.Data})
	return c.ids.out(out), err
}

func (c *mheRoundClient) Advance() ([]mpc.Message, error) { return nil, nil }
func (c *mheRoundClient) Status() mpc.Status              { return c.nd.Status() }
func (c *mheRoundClient) Revealed() bool                  { return c.nd.Revealed() }

// decodeAggregate turns an aggregate into float32 values, the same way on
// every side, so the released model is bit-identical whichever driver ran
// the round.
func decodeAggregate(a mpc.Aggregate, dim int) ([]float32, error) {
	out := make([]float32, dim)
	switch {
	case dim == 0:
	case a.Floats != nil && len(a.Floats) == dim:
		for i, v := range a.Floats {
			out[i] = float32(v)
		}
	case a.Ring != nil && len(a.Ring) == dim:
		if a.Bits == 64 {
			kernels.Decode64(out, a.Ring, a.Frac)
		} else {
			r := make([]uint32, dim)
			for i, v := range a.Ring {
				r[i] = uint32(v)
			}
			kernels.Decode32(out, r, a.Frac)
		}
	case a.Ints != nil && len(a.Ints) == dim:
		scale := math.Ldexp(1, -int(a.Frac))
		for i, v := range a.Ints {
			out[i] = float32(float64(v) * scale)
		}
	default:
		return nil, fmt.Errorf("%w: aggregate does not match the dimension %d", ErrSession, dim)
	}
	return out, nil
}
