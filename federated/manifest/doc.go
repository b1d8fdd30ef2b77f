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
//	kind = "mlp"                              # logistic, softmax, mlp
//	hidden = [64]
//
//	[training]
//	rounds = 20
//	local_epochs = 1
//	learning_rate = 0.1
//	batch_size = 32
//	strategy = "fedavg"                       # fedavg, fedprox, fedadam
//
//	[data]
//	features = ["age", "bmi"]
//	label = "readmitted"
//	classes = ["no", "yes"]                   # label values, in model output order
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
// dp.epsilon, dp.delta. Each field is its name then its value:
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
