package manifest

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/consort-ml/consort/transport"
	"github.com/consort-ml/consort/transport/identity"
)

// Errors of this package; every error returned wraps one of them.
var (
	// ErrMalformed marks a file that does not parse or breaks a rule of
	// [Manifest.Validate].
	ErrMalformed = errors.New("manifest: malformed")
	// ErrUnsigned marks a manifest without a signature.
	ErrUnsigned = errors.New("manifest: not signed")
	// ErrBadSignature marks a signature that is not the coordinator's
	// over the canonical bytes.
	ErrBadSignature = errors.New("manifest: bad signature")
	// ErrExpired marks a manifest past its not_after time.
	ErrExpired = errors.New("manifest: expired")
	// ErrUnknownMember marks a peer that is not a member.
	ErrUnknownMember = errors.New("manifest: unknown member")
)

// Role is what a member does in the federation.
type Role string

// Roles.
const (
	RoleCoordinator Role = "coordinator"
	RoleNode        Role = "node"
	RoleAggregator  Role = "aggregator"
)

// Protocol names. The aggregation protocols are those a manifest may
// allow; ControlProtocol carries the round control messages.
const (
	ProtocolPlain   = "plain"
	ProtocolSecAgg  = "secagg"
	ProtocolMHE     = "mhe"
	ControlProtocol = "train"
)

// Version is the manifest format version this package reads and writes.
const Version = 1

// Limits on a manifest.
const (
	MaxFileSize = 1 << 20
	MaxMembers  = 10000
	maxName     = 64
	maxText     = 1024
	maxAddrs    = 16
	maxFeatures = 1 << 16
)

// Member is one peer of the federation.
type Member struct {
	// Name is unique: 1..64 characters of letters, digits, '-', '_', '.'.
	Name string `toml:"name"`
	// PeerID is the libp2p peer ID of the member's Ed25519 key.
	PeerID string `toml:"peer_id"`
	// Role is coordinator (exactly one), node or aggregator.
	Role Role `toml:"role"`
	// Addrs are multiaddrs where the member listens (may be empty for
	// nodes that only dial out).
	Addrs []string `toml:"addrs,omitempty"`
}

// Model is the model every node trains.
type Model struct {
	// Kind is logistic, softmax or mlp (built in), or external: a team's
	// own trainer whose tensors Tensors declares.
	Kind string `toml:"kind"`
	// Hidden lists an MLP's hidden widths, input side first.
	Hidden []int `toml:"hidden,omitempty"`
	// Tensors is the model layout an external trainer must return, in
	// order (required with kind external, refused with the built-in kinds,
	// which define their own layout).
	Tensors []Tensor `toml:"tensors,omitempty"`
	// InitialWeightsSHA256 is the lowercase hex SHA-256 of the initial
	// weights file the coordinator sends in the first round; every node
	// checks it (optional; kind external only).
	InitialWeightsSHA256 string `toml:"initial_weights_sha256,omitempty"`
}

// Tensor is one named tensor of an external trainer's model.
type Tensor struct {
	// Name is the tensor's name (as in a PyTorch state_dict).
	Name string `toml:"name"`
	// Shape lists the dimensions, outermost first (empty: a scalar).
	Shape []int `toml:"shape"`
}

// Elements returns the number of values of the tensor.
func (t Tensor) Elements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Training holds the hyper-parameters of the federation's rounds.
type Training struct {
	Rounds       int     `toml:"rounds"`
	LocalEpochs  int     `toml:"local_epochs"`
	LearningRate float64 `toml:"learning_rate"`
	BatchSize    int     `toml:"batch_size"`
	// Strategy is fedavg, fedprox or fedadam.
	Strategy string `toml:"strategy"`
	// ProxMu is FedProx's proximal coefficient (0: the default).
	ProxMu float64 `toml:"prox_mu,omitempty"`
	// ServerLR is FedAdam's server learning rate (0: the default).
	ServerLR float64 `toml:"server_lr,omitempty"`
}

// Data names the columns every node's data must have.
type Data struct {
	// Dataset optionally names the data set (a bundled set, or a source
	// such as "csv:PATH" understood by the nodes).
	Dataset string `toml:"dataset,omitempty"`
	// Features are the feature columns, in model input order (empty: all
	// columns but the label).
	Features []string `toml:"features,omitempty"`
	// Label is the label column.
	Label string `toml:"label,omitempty"`
	// Classes lists the label values in class order, so class i means the
	// same value at every node whatever labels a node's own file contains.
	Classes []string `toml:"classes,omitempty"`
	// NoHeader says the nodes' files have no header row; Columns then
	// names their columns in file order.
	NoHeader bool     `toml:"no_header,omitempty"`
	Columns  []string `toml:"columns,omitempty"`
	// MissingValues lists the cell contents read as missing (any case;
	// empty: an empty cell, NA, N/A, NaN, null).
	MissingValues []string `toml:"missing_values,omitempty"`
	// Categorical declares the one-hot encoded feature columns.
	Categorical []Categorical `toml:"categorical,omitempty"`
	// Missing declares what a missing value becomes: one rule without a
	// column (the default) and rules for single columns.
	Missing []MissingRule `toml:"missing,omitempty"`
}

// Categorical declares a categorical feature column and its vocabulary.
type Categorical struct {
	Column string   `toml:"column"`
	Values []string `toml:"values"`
	// Unknown is "error" (default) or "zero" (all-zero indicators).
	Unknown string `toml:"unknown,omitempty"`
}

// MissingRule says what a missing value in Column (empty: any feature
// column without its own rule) becomes: Action "error" (default), "drop"
// (the row) or "impute" (Value, a number or a category).
type MissingRule struct {
	Column string `toml:"column,omitempty"`
	Action string `toml:"action"`
	Value  string `toml:"value,omitempty"`
}

// DP holds the differential-privacy settings.
type DP struct {
	// Clip is the L2 bound of each node's update (0: no clipping).
	Clip float64 `toml:"clip"`
	// NoiseMultiplier is the Gaussian noise's standard deviation over Clip
	// (0: no noise).
	NoiseMultiplier float64 `toml:"noise_multiplier"`
	// Epsilon is the privacy budget over all rounds at Delta (0: none).
	Epsilon float64 `toml:"epsilon"`
	// Delta is the budget's delta.
	Delta float64 `toml:"delta"`
}

// Signature is the coordinator's Ed25519 signature over the canonical
// encoding.
type Signature struct {
	// Signer is the coordinator's peer ID.
	Signer string `toml:"signer"`
	// Ed25519 is the base64 (standard, padded) signature.
	Ed25519 string `toml:"ed25519"`
}

// Manifest is a federation's signed charter. Load or Parse it, then call
// [Manifest.Verify] before trusting anything in it. The fields may be
// edited (consort manifest init does), but any change after signing makes
// Verify fail.
type Manifest struct {
	Version    int    `toml:"version"`
	Federation string `toml:"federation"`
	// Purpose is a free-text statement of what the federation trains.
	Purpose string `toml:"purpose"`
	// NotAfter is when the manifest expires (a TOML offset date-time).
	NotAfter time.Time `toml:"not_after"`
	// MinParticipants is the fewest nodes a round may start with.
	MinParticipants int `toml:"min_participants"`
	// Threshold is the fewest contributors an aggregate may be released
	// for; in the threshold protocols, coalitions smaller than this learn
	// nothing.
	Threshold int `toml:"threshold"`
	// Protocols lists the aggregation protocols the federation allows.
	Protocols []string   `toml:"protocols"`
	Members   []Member   `toml:"members"`
	Model     Model      `toml:"model"`
	Training  Training   `toml:"training"`
	Data      Data       `toml:"data"`
	DP        DP         `toml:"dp"`
	Signature *Signature `toml:"signature,omitempty"`
}

// Load reads and parses a manifest file (it does not verify it).
func Load(path string) (*Manifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("manifest: reading %s: %w", path, err)
	}
	m, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// Parse decodes a TOML manifest and checks its structure
// ([Manifest.Validate]). Unknown keys are an error: a signature covers
// only the fields this package knows, so nothing else may ride along.
func Parse(b []byte) (*Manifest, error) {
	if len(b) > MaxFileSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrMalformed, len(b), MaxFileSize)
	}
	var m Manifest
	md, err := toml.NewDecoder(bytes.NewReader(b)).Decode(&m)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrMalformed, oneLine(err.Error()))
	}
	if und := md.Undecoded(); len(und) > 0 {
		return nil, fmt.Errorf("%w: unknown key %q", ErrMalformed, und[0].String())
	}
	if !md.IsDefined("not_after") {
		return nil, fmt.Errorf("%w: not_after is required", ErrMalformed)
	}
	// Decoding into time.Time forgets whether the TOML value had an
	// offset; a generic decode keeps the parser's "local" zones.
	var raw map[string]any
	if _, err := toml.NewDecoder(bytes.NewReader(b)).Decode(&raw); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrMalformed, oneLine(err.Error()))
	}
	if t, ok := raw["not_after"].(time.Time); !ok || strings.HasSuffix(t.Location().String(), "-local") {
		return nil, fmt.Errorf("%w: not_after must be a date-time with a time zone offset (e.g. 2027-01-01T00:00:00Z)", ErrMalformed)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

func oneLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// Validate checks everything about the manifest but its signature and
// expiry: the structure, and every rule the runtime would otherwise apply
// later (see the package documentation, "Validation"). It is the one place
// these rules live: [Parse], [Manifest.Sign], [Manifest.Verify] and
// [Manifest.ValidateAt] call it.
func (m *Manifest) Validate() error {
	if m.Version != Version {
		return bad("version %d, want %d", m.Version, Version)
	}
	if !transport.ValidFederationID(m.Federation) {
		return bad("federation id must be 1..%d printable characters without spaces", transport.MaxFederationID)
	}
	if len(m.Purpose) > maxText || !validText(m.Purpose) {
		return bad("purpose must be at most %d printable characters", maxText)
	}
	if m.NotAfter.IsZero() {
		return bad("not_after is required")
	}
	nodes, err := m.validateMembers()
	if err != nil {
		return err
	}
	if m.MinParticipants < 1 || m.MinParticipants > nodes {
		return bad("min_participants %d not in [1, %d nodes]", m.MinParticipants, nodes)
	}
	if m.Threshold < 1 || m.Threshold > m.MinParticipants {
		return bad("threshold %d not in [1, min_participants %d]", m.Threshold, m.MinParticipants)
	}
	// The protocol rules (member counts, thresholds) need the protocol
	// list, checked below in validateProtection.
	if err := m.validateProtocols(); err != nil {
		return err
	}
	if err := m.validateModel(); err != nil {
		return err
	}
	if err := m.validateProtection(nodes); err != nil {
		return err
	}
	if err := m.validateTraining(); err != nil {
		return err
	}
	if err := m.validateData(); err != nil {
		return err
	}
	if err := m.validateDP(); err != nil {
		return err
	}
	if s := m.Signature; s != nil {
		if len(s.Signer) > transport.MaxPeerID || len(s.Ed25519) > 128 {
			return bad("signature too long")
		}
	}
	return nil
}

// validateMembers checks the member list (its size, each member, exactly
// one coordinator and at least one node) and returns the number of nodes.
func (m *Manifest) validateMembers() (nodes int, err error) {
	if len(m.Members) == 0 || len(m.Members) > MaxMembers {
		return 0, bad("%d members, want 1..%d", len(m.Members), MaxMembers)
	}
	names := map[string]bool{}
	ids := map[string]bool{}
	coordinators := 0
	for i, mb := range m.Members {
		if err := validateMember(i, mb, names, ids); err != nil {
			return 0, err
		}
		switch mb.Role {
		case RoleCoordinator:
			coordinators++
		case RoleNode:
			nodes++
		}
	}
	if coordinators != 1 {
		return 0, bad("%d coordinators, want exactly 1", coordinators)
	}
	if nodes == 0 {
		return 0, bad("no nodes")
	}
	return nodes, nil
}

// validateMember checks member mb, the i-th (0-based): its name, peer id,
// role and addresses. names and ids hold the names and peer ids of the
// members before it; validateMember adds mb's.
func validateMember(i int, mb Member, names, ids map[string]bool) error {
	if !validName(mb.Name) {
		return bad("member %d: name %q must be 1..%d letters, digits, '-', '_' or '.'", i+1, mb.Name, maxName)
	}
	if names[mb.Name] {
		return bad("member name %q listed twice", mb.Name)
	}
	names[mb.Name] = true
	if _, err := identity.ParsePeerID(mb.PeerID); err != nil {
		return bad("member %q: %v", mb.Name, err)
	}
	if ids[mb.PeerID] {
		return bad("member %q: peer id listed twice", mb.Name)
	}
	ids[mb.PeerID] = true
	switch mb.Role {
	case RoleCoordinator, RoleNode, RoleAggregator:
	default:
		return bad("member %q: role %q (want coordinator, node or aggregator)", mb.Name, mb.Role)
	}
	if len(mb.Addrs) > maxAddrs {
		return bad("member %q: %d addresses, at most %d", mb.Name, len(mb.Addrs), maxAddrs)
	}
	for _, a := range mb.Addrs {
		if len(a) > 256 {
			return bad("member %q: address too long", mb.Name)
		}
		if _, err := ma.NewMultiaddr(a); err != nil {
			return bad("member %q: address %q is not a multiaddr", mb.Name, a)
		}
	}
	return nil
}

// validateProtocols checks the protocol list: non-empty, known protocols,
// none twice.
func (m *Manifest) validateProtocols() error {
	if len(m.Protocols) == 0 {
		return bad("no protocols")
	}
	seen := map[string]bool{}
	for _, p := range m.Protocols {
		switch p {
		case ProtocolPlain, ProtocolSecAgg, ProtocolMHE:
		default:
			return bad("protocol %q (want plain, secagg or mhe)", p)
		}
		if seen[p] {
			return bad("protocol %q listed twice", p)
		}
		seen[p] = true
	}
	return nil
}

// validateTraining checks the training parameters: positive and bounded
// counts, a positive learning rate, a known strategy and finite,
// non-negative strategy parameters.
func (m *Manifest) validateTraining() error {
	t := m.Training
	if t.Rounds < 1 || t.LocalEpochs < 1 || t.BatchSize < 1 || t.Rounds > 1<<20 || t.LocalEpochs > 1<<20 || t.BatchSize > 1<<24 {
		return bad("training: rounds, local_epochs and batch_size must be positive")
	}
	if !(t.LearningRate > 0) || math.IsInf(t.LearningRate, 0) {
		return bad("training: learning_rate must be positive")
	}
	switch t.Strategy {
	case "fedavg", "fedprox", "fedadam":
	default:
		return bad("training: strategy %q (want fedavg, fedprox or fedadam)", t.Strategy)
	}
	for _, v := range []float64{t.ProxMu, t.ServerLR} {
		if !(v >= 0) || math.IsInf(v, 0) {
			return bad("training: prox_mu and server_lr must be finite and non-negative")
		}
	}
	return nil
}

// validateDP checks the differential-privacy parameters: finite and
// non-negative, delta below 1, noise only with a clip bound, epsilon and
// delta together.
func (m *Manifest) validateDP() error {
	d := m.DP
	for _, v := range []float64{d.Clip, d.NoiseMultiplier, d.Epsilon} {
		if !(v >= 0) || math.IsInf(v, 0) {
			return bad("dp: clip, noise_multiplier and epsilon must be finite and non-negative")
		}
	}
	if !(d.Delta >= 0 && d.Delta < 1) {
		return bad("dp: delta must be in [0, 1)")
	}
	if d.NoiseMultiplier > 0 && d.Clip == 0 {
		return bad("dp: noise needs a clip bound")
	}
	if (d.Epsilon > 0) != (d.Delta > 0) {
		return bad("dp: epsilon and delta go together")
	}
	return nil
}

func validName(s string) bool {
	if len(s) == 0 || len(s) > maxName {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// validText allows printable Unicode and spaces, no control characters.
func validText(s string) bool {
	for _, c := range s {
		if c < ' ' || c == 0x7f || c == '\uFFFD' {
			return false
		}
	}
	return true
}

// Coordinator returns the coordinator's entry.
func (m *Manifest) Coordinator() Member {
	for _, mb := range m.Members {
		if mb.Role == RoleCoordinator {
			return mb
		}
	}
	return Member{}
}

// Nodes returns the members with role node, in file order.
func (m *Manifest) Nodes() []Member { return m.withRole(RoleNode) }

// Aggregators returns the members with role aggregator, in file order.
func (m *Manifest) Aggregators() []Member { return m.withRole(RoleAggregator) }

func (m *Manifest) withRole(r Role) []Member {
	var out []Member
	for _, mb := range m.Members {
		if mb.Role == r {
			out = append(out, mb)
		}
	}
	return out
}

// Member returns the member with that peer ID, or an error wrapping
// [ErrUnknownMember].
func (m *Manifest) Member(id transport.PeerID) (Member, error) {
	for _, mb := range m.Members {
		if mb.PeerID == string(id) {
			return mb, nil
		}
	}
	return Member{}, fmt.Errorf("%w: %s is not listed in federation %q", ErrUnknownMember, id, m.Federation)
}

// AllowPeer reports whether id is a member (transport/p2p's AllowList).
func (m *Manifest) AllowPeer(id transport.PeerID) bool {
	_, err := m.Member(id)
	return err == nil
}

// AllowProtocol reports whether the member id may open streams on the
// named protocol (transport/p2p's AllowList):
//
//   - an aggregation protocol (plain, secagg, mhe): any member, if the
//     manifest lists it in protocols;
//   - the control protocol ("train"): any member;
//   - any other protocol: the coordinator only.
func (m *Manifest) AllowProtocol(id transport.PeerID, protocol string) bool {
	mb, err := m.Member(id)
	if err != nil {
		return false
	}
	switch protocol {
	case ProtocolPlain, ProtocolSecAgg, ProtocolMHE:
		return slices.Contains(m.Protocols, protocol)
	case ControlProtocol:
		return true
	}
	return mb.Role == RoleCoordinator
}

// Allows reports whether the federation allows an aggregation protocol.
func (m *Manifest) Allows(protocol string) bool { return slices.Contains(m.Protocols, protocol) }

// Digest returns the SHA-256 of the canonical encoding: the manifest's
// identity, exchanged in every stream hello and written into checkpoints
// and audit logs. The signature is not part of it (Ed25519 signatures are
// deterministic).
func (m *Manifest) Digest() []byte {
	d := sha256.Sum256(m.Canonical())
	return d[:]
}

// Sign validates the manifest and signs its canonical encoding with the
// coordinator's identity key.
func (m *Manifest) Sign(id *identity.Identity) error {
	if err := m.Validate(); err != nil {
		return err
	}
	if c := m.Coordinator(); c.PeerID != string(id.PeerID()) {
		return fmt.Errorf("%w: key %s is not the coordinator's (%s)", ErrBadSignature, id.PeerID(), c.PeerID)
	}
	sig := id.Sign(m.Canonical())
	m.Signature = &Signature{Signer: string(id.PeerID()), Ed25519: base64.StdEncoding.EncodeToString(sig)}
	return nil
}

// Verify checks, in order: structure ([ErrMalformed]), presence of a
// signature ([ErrUnsigned]), that the coordinator signed the canonical
// encoding ([ErrBadSignature]) and that now is before not_after
// ([ErrExpired]).
func (m *Manifest) Verify(now time.Time) error {
	if err := m.Validate(); err != nil {
		return err
	}
	s := m.Signature
	if s == nil || s.Signer == "" && s.Ed25519 == "" {
		return ErrUnsigned
	}
	c := m.Coordinator()
	if s.Signer != c.PeerID {
		return fmt.Errorf("%w: signed by %s, not by the coordinator %q", ErrBadSignature, s.Signer, c.Name)
	}
	sig, err := base64.StdEncoding.Strict().DecodeString(s.Ed25519)
	if err != nil {
		return fmt.Errorf("%w: signature is not base64", ErrBadSignature)
	}
	if err := identity.Verify(transport.PeerID(c.PeerID), m.Canonical(), sig); err != nil {
		return fmt.Errorf("%w: the signature does not match the manifest's contents", ErrBadSignature)
	}
	return m.checkExpiry(now)
}

// VerifyMember verifies the manifest and checks that id is listed.
func (m *Manifest) VerifyMember(now time.Time, id transport.PeerID) (Member, error) {
	if err := m.Verify(now); err != nil {
		return Member{}, err
	}
	return m.Member(id)
}

// Marshal encodes the manifest as TOML (Parse's input format).
func (m *Manifest) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString("# consort federation manifest. Check it with: consort manifest verify --manifest FILE\n")
	buf.WriteString("# Any edit after signing invalidates the signature; re-sign with: consort manifest sign\n\n")
	c := *m
	c.NotAfter = m.NotAfter.UTC()
	if err := toml.NewEncoder(&buf).Encode(&c); err != nil {
		return nil, fmt.Errorf("manifest: encoding: %w", err)
	}
	return buf.Bytes(), nil
}

// WriteFile writes the manifest atomically (temporary file, fsync,
// rename) with mode 0644: a manifest is public.
func (m *Manifest) WriteFile(path string) error {
	b, err := m.Marshal()
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".consort-manifest-*")
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("manifest: %w", err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("manifest: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("manifest: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// Template returns an unsigned manifest with the given members and
// defaults for everything else: secagg only, threshold
// [DefaultThreshold] (ceil(2n/3), at least 2), min_participants
// [DefaultMinParticipants] (max(threshold, ceil(0.8 n))), a logistic
// model trained 10 rounds of 1 local epoch (learning rate 0.1, batch 32,
// FedAvg), no DP and no data section. Fill in the data section (features
// and classes, or a bundled dataset), edit the rest, then Sign.
func Template(federation string, members []Member, notAfter time.Time) *Manifest {
	m := &Manifest{
		Version:    Version,
		Federation: federation,
		NotAfter:   notAfter.UTC().Truncate(time.Second),
		Protocols:  []string{ProtocolSecAgg},
		Members:    members,
		Model:      Model{Kind: "logistic"},
		Training:   Training{Rounds: 10, LocalEpochs: 1, LearningRate: 0.1, BatchSize: 32, Strategy: "fedavg"},
	}
	n := len(m.Nodes())
	m.Threshold = DefaultThreshold(n)
	m.MinParticipants = DefaultMinParticipants(n, m.Threshold)
	return m
}
