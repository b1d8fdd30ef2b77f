package federated

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"

	"github.com/consort-ml/consort/mpc"
	"github.com/consort-ml/consort/mpc/mhe"
	"github.com/consort-ml/consort/transport"
	"github.com/consort-ml/consort/transport/identity"
)

// Networked multiparty homomorphic aggregation: the state machines of package
// mpc/mhe over the coordinator and node drivers.
//
// Every node of the manifest has a fixed mhe party id, its position among the
// manifest's nodes (1..n). The federation key is set up once (a
// PHASE_MHE_SETUP attempt with every node), each node keeps its key material
// in STATE/mhe.key (mode 0600) and the coordinator records in its checkpoint
// that the setup is done. Rounds then run with any live subset of ready
// nodes; any t of the contributors decrypt the sum.
//
// Node-to-node setup messages (signed announcements and Shamir shares sealed
// under a node-to-node key) are relayed by the coordinator: on the wire the
// envelope's step field carries the destination party id (0: the aggregator)
// on the way in, and the source party id on the way out. The relay can drop
// them but neither read nor substitute them.

// netMHE is a federation's multiparty-HE setting, the same at the coordinator
// and every node (derived from the manifest).
type netMHE struct {
	setup   mhe.SetupConfig
	members []transport.PeerID // the manifest's nodes; party id = index + 1
	// Node only.
	km      *mhe.KeyMaterial
	keyPath string
}

// newNetMHE derives the federation's setup: the parameter set with the
// fewest ciphertext bytes for maxDim values among those that support the
// nodes, the threshold, and a common reference seed fixed by the federation
// id and its members.
func newNetMHE(federation string, members []transport.PeerID, threshold, maxDim int) (*netMHE, error) {
	n := len(members)
	p, err := (&mheAgg{}).mheParams(n, maxDim, 32)
	if err != nil {
		return nil, err
	}
	ids := make([]ed25519.PublicKey, n)
	h := sha256.New()
	h.Write([]byte("consort/federated/mhe crs\x00" + federation))
	for i, m := range members {
		pk, err := identity.PublicKey(m)
		if err != nil {
			return nil, fmt.Errorf("%w: mhe needs real peer IDs: %w", ErrBadConfig, err)
		}
		ids[i] = pk
		h.Write([]byte{0})
		h.Write([]byte(m))
	}
	cfg := mhe.SetupConfig{
		Params: p, FederationID: federation, Parties: n, Threshold: threshold,
		CRS: [32]byte(h.Sum(nil)), Identities: ids,
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	return &netMHE{setup: cfg, members: members}, nil
}

// partyID returns the mhe party id of a peer (0 if it is not a node).
func (m *netMHE) partyID(p transport.PeerID) int {
	return slices.Index(m.members, p) + 1
}

// loadKey loads the node's persisted key material, if any.
func (m *netMHE) loadKey() error {
	if m.keyPath == "" {
		return nil
	}
	km, err := ReadMHEKey(m.keyPath, m.setup.Params)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if km.FederationID() != m.setup.FederationID || km.Parties() != m.setup.Parties || km.Threshold() != m.setup.Threshold {
		return fmt.Errorf("%w: %s belongs to another federation setup", ErrBadConfig, m.keyPath)
	}
	m.km = km
	return nil
}

func (m *netMHE) ready() bool { return m.km != nil }

var mheKinds = []mhe.Kind{mhe.KindAnnounce, mhe.KindKeyShare, mhe.KindShamirShare, mhe.KindPublicKey,
	mhe.KindCiphertext, mhe.KindDecryptRequest, mhe.KindDecryptShare, mhe.KindResult}

func mheType(k mhe.Kind) string { return "mhe/" + k.String() }

// mheProtocol is the mhe netProtocol; st is nil in the registry of types.
type mheProtocol struct{ st *netMHE }

func (mheProtocol) Name() string             { return "mhe" }
func (mheProtocol) Secure() bool             { return true }
func (mheProtocol) ContributionType() string { return mheType(mhe.KindCiphertext) }
func (mheProtocol) Types(maxDim, maxParties int) []transport.MessageType {
	// Bounds over every secure parameter set; the state machines check the
	// exact sizes for the agreed parameters before decoding.
	var ctBytes, polyBytes int
	for _, lit := range append(mhe.ParamSets(), mhe.InsecureTestParams()) {
		p, err := mhe.NewParams(lit)
		if err != nil {
			continue
		}
		for _, bits := range []uint{16, 32} {
			ctBytes = max(ctBytes, p.Ciphertexts(maxDim, bits)*p.CiphertextBytes())
		}
		polyBytes = max(polyBytes, p.PolyBytes())
	}
	proto := transport.Protocol{Name: "mhe", Major: 1}
	var out []transport.MessageType
	for _, k := range mheKinds {
		size := 4*polyBytes + 64*maxParties + 4096
		switch k {
		case mhe.KindCiphertext, mhe.KindDecryptRequest, mhe.KindDecryptShare, mhe.KindResult:
			size = ctBytes + 64*maxParties + 4096
		}
		out = append(out, transport.MessageType{Name: mheType(k), Protocol: proto, MaxSize: min(size, transport.MaxMessageSize)})
	}
	return out
}

func (p mheProtocol) state() (*netMHE, error) {
	if p.st == nil {
		return nil, fmt.Errorf("%w: mhe is not configured for this federation", ErrBadConfig)
	}
	return p.st, nil
}

// roundConfig is the mhe round of an attempt.
func (p mheProtocol) roundConfig(sp sessionParams) (mhe.RoundConfig, error) {
	st, err := p.state()
	if err != nil {
		return mhe.RoundConfig{}, err
	}
	ids := make([]int, len(sp.Peers))
	for i, peer := range sp.Peers {
		if ids[i] = st.partyID(peer); ids[i] == 0 {
			return mhe.RoundConfig{}, fmt.Errorf("%w: participant %s is not a node of the federation", ErrSession, peer)
		}
	}
	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	return mhe.RoundConfig{
		FederationID: st.setup.FederationID, Round: sp.Attempt, Dim: sp.Dim, Participants: sorted,
		Bound: sp.Bound, QuantBits: 32, MinContributors: sp.Threshold,
	}, nil
}

func (p mheProtocol) NewServer(sp sessionParams, _ []ed25519.PublicKey) (serverSession, error) {
	st, err := p.state()
	if err != nil {
		return nil, err
	}
	base := mheSession{st: st, sp: sp}
	if sp.Setup {
		a, err := mhe.NewSetupAggregator(st.setup)
		if err != nil {
			return nil, err
		}
		return &mheSetupServer{mheSession: base, a: a}, nil
	}
	rc, err := p.roundConfig(sp)
	if err != nil {
		return nil, err
	}
	a, err := mhe.NewAggregator(st.setup, rc)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSession, err)
	}
	return &mheRoundServer{mheSession: base, a: a, pending: map[int]bool{}}, nil
}

func (p mheProtocol) NewClient(sp sessionParams, _ []ed25519.PublicKey, _ int, input []float32, self Signer, rand io.Reader) (clientSession, error) {
	st, err := p.state()
	if err != nil {
		return nil, err
	}
	base := mheSession{st: st, sp: sp}
	if sp.Setup {
		id := st.partyID(sp.Self)
		if id == 0 || self == nil {
			return nil, fmt.Errorf("%w: this node has no mhe party id or identity", ErrSession)
		}
		s, err := mhe.NewSetupNode(st.setup, id, cryptoSigner{self}, rand)
		if err != nil {
			return nil, err
		}
		return &mheSetupClient{mheSession: base, s: s, id: id}, nil
	}
	if st.km == nil {
		return nil, fmt.Errorf("%w: this node has no mhe key material (the setup did not complete here)", ErrSession)
	}
	rc, err := p.roundConfig(sp)
	if err != nil {
		return nil, err
	}
	nd, err := mhe.NewNode(st.km, rc, rand)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSession, err)
	}
	return &mheRoundClient{mheSession: base, nd: nd, input: input}, nil
}

// mheSession maps between participant indices (1..len(Peers)) and mhe
// party ids.
type mheSession struct {
	st *netMHE
	sp sessionParams
}

func (s mheSession) party(idx int) int { return s.st.partyID(s.sp.Peers[idx-1]) }

func (s mheSession) index(party int) int {
	if party < 1 || party > len(s.st.members) {
		return 0
	}
	return slices.Index(s.sp.Peers, s.st.members[party-1]) + 1
}

// toNet turns aggregator messages into driver messages (step = source 0).
func (s mheSession) fromAggregator(ms []mhe.Message) []netMsg {
	out := make([]netMsg, 0, len(ms))
	for _, m := range ms {
		if idx := s.index(m.To); idx > 0 {
			out = append(out, netMsg{Peer: idx, Type: mheKindType(m.Data), Payload: m.Data})
		}
	}
	return out
}

// fromNode turns a node's messages into driver messages for the
// coordinator (step = destination party id).
func fromNode(ms []mhe.Message) []netMsg {
	out := make([]netMsg, 0, len(ms))
	for _, m := range ms {
		out = append(out, netMsg{Peer: 0, Type: mheKindType(m.Data), Step: uint32(m.To), Payload: m.Data})
	}
	return out
}

func mheKindType(data []byte) string {
	k, err := mhe.MessageKind(data)
	if err != nil {
		return "mhe/invalid"
	}
	return mheType(k)
}

// checkMHEType makes sure the transport type matches the mhe kind, so each
// kind's size limit applies to it.
func checkMHEType(m netMsg) error {
	if m.Type != mheKindType(m.Payload) {
		return fmt.Errorf("%w: mhe message under type %s", ErrSession, m.Type)
	}
	return nil
}

// mheSetupServer relays the node-to-node setup messages and forms the
// collective public key.
type mheSetupServer struct {
	mheSession
	a       *mhe.SetupAggregator
	relayed map[[2]int]int // (kind, from) -> messages relayed
	failed  error
}

func (s *mheSetupServer) Handle(from int, m netMsg) ([]netMsg, error) {
	if err := checkMHEType(m); err != nil {
		return nil, err
	}
	src := s.party(from)
	if m.Step == 0 {
		out, err := s.a.Step(mhe.Message{From: src, To: 0, Data: m.Payload})
		return s.fromAggregator(out), err
	}
	dst := s.index(int(m.Step))
	k, _ := mhe.MessageKind(m.Payload)
	if dst == 0 || dst == from || (k != mhe.KindAnnounce && k != mhe.KindShamirShare) {
		return nil, fmt.Errorf("%w: setup message %s for party %d", ErrSession, k, m.Step)
	}
	if s.relayed == nil {
		s.relayed = map[[2]int]int{}
	}
	key := [2]int{int(k), src}
	if s.relayed[key] >= len(s.sp.Peers)-1 {
		return nil, fmt.Errorf("%w: too many %s messages from party %d", ErrSession, k, src)
	}
	s.relayed[key]++
	return []netMsg{{Peer: dst, Type: m.Type, Step: uint32(src), Payload: m.Payload}}, nil
}

// relaysDone reports whether every node's announcement and Shamir shares
// reached every other node through the relay.
func (s *mheSetupServer) relaysDone() bool {
	n := len(s.sp.Peers)
	total := 0
	for _, c := range s.relayed {
		total += c
	}
	return total == 2*n*(n-1)
}

func (s *mheSetupServer) Advance() ([]netMsg, error) {
	if (!s.a.Done() || !s.relaysDone()) && s.failed == nil {
		s.failed = fmt.Errorf("%w: the mhe key setup needs every node of the federation", ErrTooFewContributors)
	}
	return nil, s.failed
}

func (s *mheSetupServer) Result() ([]float32, []int, bool) {
	if !s.a.Done() || !s.relaysDone() {
		return nil, nil, false
	}
	all := make([]int, len(s.sp.Peers))
	for i := range all {
		all[i] = i + 1
	}
	return nil, all, true
}

func (s *mheSetupServer) Failed() error { return s.failed }

type mheSetupClient struct {
	mheSession
	s    *mhe.SetupNode
	id   int
	done bool
}

func (c *mheSetupClient) Start() ([]netMsg, error) {
	out, err := c.s.Start()
	return fromNode(out), err
}

func (c *mheSetupClient) Handle(m netMsg) ([]netMsg, error) {
	if err := checkMHEType(m); err != nil {
		return nil, err
	}
	out, err := c.s.Step(mhe.Message{From: int(m.Step), To: c.id, Data: m.Payload})
	if err != nil {
		return nil, err
	}
	if km, ok := c.s.KeyMaterial(); ok && !c.done {
		if c.st.keyPath != "" {
			if err := WriteMHEKey(c.st.keyPath, km); err != nil {
				return nil, err
			}
		}
		c.st.km = km
		c.done = true
	}
	return fromNode(out), nil
}

func (c *mheSetupClient) Revealed() bool { return false }

// mheRoundServer aggregates ciphertexts and runs the collective decryption.
type mheRoundServer struct {
	mheSession
	a       *mhe.Aggregator
	closed  bool
	pending map[int]bool // decryptors asked and not yet answered
	failed  error
}

func (s *mheRoundServer) track(out []mhe.Message, err error) ([]netMsg, error) {
	if err != nil {
		if errors.Is(err, mpc.ErrTooFewParties) {
			s.failed = fmt.Errorf("%w: %w", ErrTooFewContributors, err)
			return nil, s.failed
		}
		return nil, err
	}
	for _, m := range out {
		if k, _ := mhe.MessageKind(m.Data); k == mhe.KindDecryptRequest {
			s.closed = true
			s.pending[m.To] = true
		}
	}
	return s.fromAggregator(out), nil
}

func (s *mheRoundServer) Handle(from int, m netMsg) ([]netMsg, error) {
	if err := checkMHEType(m); err != nil {
		return nil, err
	}
	src := s.party(from)
	k, _ := mhe.MessageKind(m.Payload)
	out, err := s.a.Step(mhe.Message{From: src, To: 0, Data: m.Payload})
	if k == mhe.KindDecryptShare && s.pending[src] {
		delete(s.pending, src)
		if err != nil && !errors.Is(err, mpc.ErrTooFewParties) {
			// A share the aggregator rejects counts as no answer: move on
			// to another decryptor now rather than wait for ever.
			return s.track(s.a.Dropped(src))
		}
	}
	return s.track(out, err)
}

func (s *mheRoundServer) Advance() ([]netMsg, error) {
	if s.failed != nil {
		return nil, s.failed
	}
	if !s.closed {
		s.closed = true
		return s.track(s.a.CloseUploads())
	}
	var out []netMsg
	for _, id := range slices.Sorted(maps.Keys(s.pending)) {
		delete(s.pending, id)
		o, err := s.track(s.a.Dropped(id))
		if err != nil {
			return out, err
		}
		out = append(out, o...)
	}
	return out, nil
}

func (s *mheRoundServer) Result() ([]float32, []int, bool) {
	r, ok := s.a.Result()
	if !ok || r.Sum == nil {
		return nil, nil, false
	}
	idx := make([]int, 0, len(r.Contributors))
	for _, id := range r.Contributors {
		if i := s.index(id); i > 0 {
			idx = append(idx, i)
		}
	}
	return r.Sum, idx, true
}

func (s *mheRoundServer) Failed() error { return s.failed }

type mheRoundClient struct {
	mheSession
	nd       *mhe.Node
	input    []float32
	revealed bool
}

func (c *mheRoundClient) Start() ([]netMsg, error) {
	out, err := c.nd.Upload(c.input)
	return fromNode(out), err
}

func (c *mheRoundClient) Handle(m netMsg) ([]netMsg, error) {
	if err := checkMHEType(m); err != nil {
		return nil, err
	}
	out, err := c.nd.Step(mhe.Message{From: 0, To: c.st.partyID(c.sp.Self), Data: m.Payload})
	if k, _ := mhe.MessageKind(m.Payload); err == nil && len(out) > 0 && k == mhe.KindDecryptRequest {
		c.revealed = true
	}
	return fromNode(out), err
}

func (c *mheRoundClient) Revealed() bool { return c.revealed }
