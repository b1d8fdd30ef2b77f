// Package manifest reads, writes, signs and verifies a federation's
// manifest: the charter every member checks before taking part.
//
// A manifest is a TOML file naming the federation, its members (name,
// libp2p peer ID, role: one coordinator, nodes, optional aggregators, and
// where they listen), the aggregation protocols allowed, min_participants
// and threshold, the model and training settings, the data columns, the
// differential-privacy settings, and an expiry (not_after). The
// coordinator signs it with its Ed25519 identity key; nodes verify the
// signature against the coordinator's peer ID (which embeds the public
// key), that the manifest has not expired and that they are listed, before
// they connect. The manifest is also the transport's allow list
// ([Manifest.AllowPeer], [Manifest.AllowProtocol]): nobody else can even
// complete a connection.
//
// # File format
//
//	version = 1
//	federation = "hospitals-2026"
//	purpose = "readmission risk model"
//	not_after = 2026-12-31T00:00:00Z          # an offset is required
//	min_participants = 3
//	threshold = 2
//	protocols = ["secagg"]                    # plain, secagg, mhe
//
//	[[members]]
//	name = "coordinator"
//	peer_id = "12D3KooW..."
//	role = "coordinator"                      # coordinator, node, aggregator
//	addrs = ["/ip4/10.0.0.1/tcp/4001"]
//
//	[model]
//	kind = "mlp"                              # logistic, softmax, mlp, external
//	hidden = [64]
//	# kind = "external" (a team's own trainer) declares its layout instead:
//	# initial_weights_sha256 = "9f86d0..."    # 64 lowercase hex digits, optional
//	# [[model.tensors]]
//	# name = "fc.weight"
//	# shape = [10, 784]
//
//	[training]
//	rounds = 20
//	local_epochs = 1
//	learning_rate = 0.1
//	batch_size = 32
//	strategy = "fedavg"                       # fedavg, fedprox, fedadam
//
//	[data]
//	features = ["age", "bmi", "smoker"]       # required unless dataset is bundled
//	label = "readmitted"
//	classes = ["no", "yes"]                   # label values, in model output order
//	no_header = true                          # optional: files without a header row,
//	columns = ["id", "age", "bmi", "smoker", "readmitted"] # ... and their columns
//	missing_values = ["", "NA", "?"]          # optional (default "", NA, N/A, NaN, null)
//
//	[[data.categorical]]                      # one-hot: smoker=no, smoker=yes
//	column = "smoker"
//	values = ["no", "yes"]
//	unknown = "zero"                          # or "error" (default)
//
//	[[data.missing]]                          # the default rule
//	action = "drop"                           # error (default), drop, impute
//	[[data.missing]]
//	column = "bmi"
//	action = "impute"
//	value = "25"                              # a number, or a category
//
//	[dp]
//	clip = 1.0
//	noise_multiplier = 1.1
//	epsilon = 8.0
//	delta = 1e-5
//
//	[signature]
//	signer = "12D3KooW..."                    # the coordinator
//	ed25519 = "base64..."
//
// Unknown keys are refused, so nothing unsigned can ride along.
//
// # Validation
//
// [Manifest.Validate] is the one place the rules live, so a manifest
// that consort manifest init writes, sign signs and verify accepts is one
// the coordinator and the nodes accept too: [Parse], [Manifest.Sign] and
// [Manifest.Verify] call it, and [Manifest.ValidateAt] adds the expiry
// (init and sign refuse a not_after in the past). Besides the structure
// it refuses what the runtime would refuse later:
//
//   - a secure protocol (secagg, mhe) with fewer than 2 nodes or a
//     threshold below 2: an aggregate of one contributor is that
//     contributor's update, so the protection would hide nothing (plain,
//     the insecure baseline, is exempt);
//   - more nodes than a protocol can serve, with the reason: mhe's noise
//     budget covers at most [MHEMaxNodes] parties (its largest parameter
//     set), secagg's party ids are 16-bit;
//   - secagg threshold rules against a malicious aggregator: the hook
//     checkSecAggThreshold is where secagg.CheckMaliciousThreshold(n, t,
//     degree) is to be called once mpc/secagg exports it;
//   - no features or fewer than 2 classes, unless data.dataset names a
//     bundled set (the model's input and output sizes are fixed before any
//     node reads its data; consort manifest init's help said features
//     default to "all but the label", which the runtime never supported:
//     the help now says they are required);
//   - a data schema that cannot be applied (see package data, [Data.Schema]):
//     categorical columns that are not features, vocabularies with
//     repeated values or missing-value markers, impute constants that do
//     not parse for their column, a label rule other than drop or error,
//     no_header without the column names; CSV-only settings on a bundled
//     set;
//   - an external model without its tensor layout, a layout on a built-in
//     kind (they define their own), repeated tensor names, empty or
//     oversized shapes (at most [MaxTensorElements] values in all), an
//     initial-weights digest that is not 64 lowercase hex digits.
//
// The defaults of [Template] (and so of consort manifest init): threshold
// [DefaultThreshold], ceil(2n/3) and at least 2; min_participants
// [DefaultMinParticipants], max(threshold, ceil(0.8 n)), so that rounds go
// on while a fifth of the nodes are away (requiring every node, the
// earlier default, stalled a federation for good when one node was lost).
//
// # Canonical encoding
//
// The signature covers [Manifest.Canonical], never the TOML text (which
// may be reformatted or commented freely). It is the magic
// "consort-manifest-v1\x00" followed by every field, always present and
// in this order: version, federation, purpose, not_after,
// min_participants, threshold, protocols, members (per member: name,
// peer_id, role, addrs), model.kind, model.hidden, training.rounds,
// training.local_epochs, training.learning_rate, training.batch_size,
// training.strategy, training.prox_mu, training.server_lr, data.dataset,
// data.features, data.label, data.classes, dp.clip, dp.noise_multiplier,
// dp.epsilon, dp.delta. Then, only when set (not their zero value) and in
// this order, the fields added later: data.no_header (integer 1),
// data.columns, data.missing_values, data.categorical (per entry: column,
// values, unknown), data.missing (per rule: column, action, value),
// model.tensors (per tensor: its name, then its shape as a list of
// integers), model.initial_weights_sha256. Decision: rather than a new
// version, these trailing fields are optional, so a manifest that uses
// none of them encodes exactly as before and every signature made before
// they existed still verifies (testdata/signed.toml checks it); the
// names are distinct and in a fixed order, so the encoding stays
// injective. Each field is its name then its value:
//
//	name, string   uvarint(byte length) || UTF-8 bytes
//	integer        int64, 8 bytes big-endian
//	float          IEEE 754 binary64 bits, 8 bytes big-endian
//	time           Unix seconds (int64) || nanoseconds (uint32), big-endian, UTC
//	list           uvarint(count) || elements (members: their four fields)
//
// Every variable-length item is length-prefixed, so the encoding is
// injective. Member order is significant. The signature is Ed25519 (RFC
// 8032) over these bytes, by the coordinator's key; [Manifest.Digest] is
// their SHA-256.
//
// # Threat model
//
// The manifest is public; its integrity comes from the coordinator's
// signature. A node should pin the coordinator's peer ID out of band (its
// policy file's coordinators list): a manifest signed by some other
// "coordinator" verifies, but names a different federation authority.
// Expired manifests are refused, so a compromised old membership cannot be
// replayed forever.
//
// # Usage
//
//	m, err := manifest.Load("federation.toml")
//	if err != nil { ... }                           // ErrMalformed
//	me, err := m.VerifyMember(time.Now(), id.PeerID())  // ErrUnsigned, ErrBadSignature, ErrExpired, ErrUnknownMember
//	h, err := p2p.New(p2p.Config{Identity: id, FederationID: m.Federation,
//		ManifestDigest: m.Digest(), AllowList: m, Types: types})
//
// Creating one (what consort manifest init and sign do):
//
//	m := manifest.Template("hospitals-2026", members, time.Now().AddDate(0, 6, 0))
//	err := m.Sign(coordinatorIdentity)
//	err = m.WriteFile("federation.toml")
package manifest
