package manifest

import (
	"bytes"
	"crypto/rand"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/consort-ml/consort/transport"
	"github.com/consort-ml/consort/transport/identity"
)

var update = flag.Bool("update", false, "rewrite testdata/signed.toml")

// seededReader yields a fixed byte stream, so test keys are reproducible.
type seededReader byte

func (r *seededReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(*r)
		*r++
	}
	return len(p), nil
}

func fixedIdentity(t testing.TB, seed byte) *identity.Identity {
	t.Helper()
	r := seededReader(seed)
	id, err := identity.Generate(&r)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

var notAfter = time.Date(2099, 1, 2, 3, 4, 5, 0, time.UTC)

// sample returns a manifest with every field set, and the keys of its
// coordinator and first node.
func sample(t testing.TB) (*Manifest, *identity.Identity, *identity.Identity) {
	t.Helper()
	coord, n1, n2, n3, agg := fixedIdentity(t, 1), fixedIdentity(t, 2), fixedIdentity(t, 3), fixedIdentity(t, 4), fixedIdentity(t, 5)
	m := &Manifest{
		Version:         Version,
		Federation:      "hospitals-2026",
		Purpose:         "readmission risk",
		NotAfter:        notAfter,
		MinParticipants: 3,
		Threshold:       2,
		Protocols:       []string{"secagg", "mhe"},
		Members: []Member{
			{Name: "coordinator", PeerID: string(coord.PeerID()), Role: RoleCoordinator, Addrs: []string{"/ip4/10.0.0.1/tcp/4001", "/ip4/10.0.0.1/udp/4001/quic-v1"}},
			{Name: "north", PeerID: string(n1.PeerID()), Role: RoleNode},
			{Name: "south", PeerID: string(n2.PeerID()), Role: RoleNode, Addrs: []string{"/dns4/south.example/tcp/4001"}},
			{Name: "east", PeerID: string(n3.PeerID()), Role: RoleNode},
			{Name: "agg", PeerID: string(agg.PeerID()), Role: RoleAggregator},
		},
		Model:    Model{Kind: "mlp", Hidden: []int{64, 32}},
		Training: Training{Rounds: 20, LocalEpochs: 2, LearningRate: 0.05, BatchSize: 32, Strategy: "fedprox", ProxMu: 0.01, ServerLR: 0.001},
		Data:     Data{Dataset: "wine", Features: []string{"alcohol", "malic_acid"}, Label: "class", Classes: []string{"class_0", "class_1", "class_2"}},
		DP:       DP{Clip: 1, NoiseMultiplier: 1.1, Epsilon: 8, Delta: 1e-5},
	}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	return m, coord, n1
}

func TestSignVerifyRoundTrip(t *testing.T) {
	m, coord, _ := sample(t)
	if err := m.Verify(time.Now()); !errors.Is(err, ErrUnsigned) {
		t.Fatalf("unsigned: %v", err)
	}
	if err := m.Sign(coord); err != nil {
		t.Fatal(err)
	}
	if err := m.Verify(time.Now()); err != nil {
		t.Fatal(err)
	}
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	m2, err := Parse(b)
	if err != nil {
		t.Fatalf("parse of marshalled manifest: %v\n%s", err, b)
	}
	if err := m2.Verify(time.Now()); err != nil {
		t.Fatalf("verify after round trip: %v\n%s", err, b)
	}
	if !bytes.Equal(m.Canonical(), m2.Canonical()) || !bytes.Equal(m.Digest(), m2.Digest()) {
		t.Fatal("canonical bytes changed in a TOML round trip")
	}
	path := filepath.Join(t.TempDir(), "m.toml")
	if err := m.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	m3, err := Load(path)
	if err != nil || m3.Verify(time.Now()) != nil {
		t.Fatalf("load: %v", err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o644 {
		t.Fatalf("manifest mode %v", st.Mode())
	}
}

// TestKnownAnswer pins the canonical encoding and signature: a change in
// either fails here. Regenerate with go test -run KnownAnswer -update
// only for an intended format change (and bump Version).
func TestKnownAnswer(t *testing.T) {
	t.Run("v1", func(t *testing.T) { testKnownAnswer(t, sample, "signed.toml") })
	t.Run("extensions", func(t *testing.T) { testKnownAnswer(t, sampleExt, "signed-ext.toml") })
}

func testKnownAnswer(t *testing.T, sample func(testing.TB) (*Manifest, *identity.Identity, *identity.Identity), file string) {
	m, coord, _ := sample(t)
	if err := m.Sign(coord); err != nil {
		t.Fatal(err)
	}
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", file)
	if *update {
		if err := os.WriteFile(golden, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, want) {
		t.Fatalf("signed manifest differs from %s:\n%s", golden, b)
	}
	g, err := Load(golden)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Verify(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
}

// mutateLeaves calls f once per leaf field of v (recursing into structs,
// slices and pointers), after changing that one field, then restores it.
func mutateLeaves(t *testing.T, v reflect.Value, path string, f func(path string)) {
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			old := v.Interface().(time.Time)
			v.Set(reflect.ValueOf(old.Add(time.Second)))
			f(path)
			v.Set(reflect.ValueOf(old))
			return
		}
		for i := range v.NumField() {
			mutateLeaves(t, v.Field(i), path+"."+v.Type().Field(i).Name, f)
		}
	case reflect.Pointer:
		if !v.IsNil() {
			mutateLeaves(t, v.Elem(), path, f)
		}
	case reflect.Slice:
		for i := range v.Len() {
			mutateLeaves(t, v.Index(i), path+"["+string(rune('0'+i))+"]", f)
		}
		old := reflect.ValueOf(v.Interface())
		v.Set(reflect.AppendSlice(reflect.MakeSlice(v.Type(), 0, v.Len()+1), old))
		v.Set(reflect.Append(v, reflect.Zero(v.Type().Elem())))
		f(path + "+append")
		v.Set(old)
	case reflect.String:
		old := v.String()
		v.SetString(old + "x")
		f(path)
		v.SetString(old)
	case reflect.Int:
		old := v.Int()
		v.SetInt(old + 1)
		f(path)
		v.SetInt(old)
	case reflect.Bool:
		old := v.Bool()
		v.SetBool(!old)
		f(path)
		v.SetBool(old)
	case reflect.Float64:
		old := v.Float()
		v.SetFloat(old + 0.5)
		f(path)
		v.SetFloat(old)
	default:
		t.Fatalf("%s: unhandled kind %s", path, v.Kind())
	}
}

// TestTamperingAnyFieldBreaksVerification changes every field of a signed
// manifest in turn (found by reflection, so new fields are covered): each
// change must alter the canonical bytes and fail verification.
func TestTamperingAnyFieldBreaksVerification(t *testing.T) {
	t.Run("v1", func(t *testing.T) { testTampering(t, sample) })
	t.Run("extensions", func(t *testing.T) { testTampering(t, sampleExt) })
}

func testTampering(t *testing.T, sample func(testing.TB) (*Manifest, *identity.Identity, *identity.Identity)) {
	m, coord, _ := sample(t)
	if err := m.Sign(coord); err != nil {
		t.Fatal(err)
	}
	orig := m.Canonical()
	sig := m.Signature
	n := 0
	v := reflect.ValueOf(m).Elem()
	for i := range v.NumField() {
		name := v.Type().Field(i).Name
		if name == "Signature" {
			continue
		}
		mutateLeaves(t, v.Field(i), name, func(path string) {
			n++
			if bytes.Equal(m.Canonical(), orig) {
				t.Errorf("%s: change not covered by the canonical encoding", path)
			}
			err := m.Verify(time.Now())
			if !errors.Is(err, ErrBadSignature) && !errors.Is(err, ErrMalformed) {
				t.Errorf("%s: tampered manifest verifies (err %v)", path, err)
			}
			m.Signature = sig
		})
	}
	if err := m.Verify(time.Now()); err != nil {
		t.Fatalf("restored manifest: %v", err)
	}
	if n < 40 {
		t.Fatalf("only %d mutations", n)
	}
	t.Logf("%d single-field changes all rejected", n)
}

func TestTamperTOMLText(t *testing.T) {
	m, coord, _ := sample(t)
	m.Sign(coord)
	b, _ := m.Marshal()
	for _, r := range [][2]string{
		{"threshold = 2", "threshold = 3"},
		{"epsilon = 8.0", "epsilon = 80.0"},
		{`name = "east"`, `name = "west"`},
		{"2099-01-02T03:04:05Z", "2099-01-02T03:04:06Z"},
	} {
		if !bytes.Contains(b, []byte(r[0])) {
			t.Fatalf("%q not in\n%s", r[0], b)
		}
		m2, err := Parse(bytes.Replace(b, []byte(r[0]), []byte(r[1]), 1))
		if err != nil {
			t.Fatal(err)
		}
		if err := m2.Verify(time.Now()); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s -> %s: %v", r[0], r[1], err)
		}
	}
	// Reformatting and comments do not matter.
	m3, err := Parse(append([]byte("# a comment\n\n"), bytes.ReplaceAll(b, []byte(" = "), []byte("   =   "))...))
	if err != nil || m3.Verify(time.Now()) != nil {
		t.Fatalf("reformatted manifest: %v", err)
	}
}

func TestExpiry(t *testing.T) {
	m, coord, _ := sample(t)
	m.Sign(coord)
	if err := m.Verify(notAfter.Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	for _, now := range []time.Time{notAfter, notAfter.Add(time.Hour)} {
		if err := m.Verify(now); !errors.Is(err, ErrExpired) {
			t.Fatalf("verify at %v: %v", now, err)
		}
	}
}

func TestSignerMustBeCoordinator(t *testing.T) {
	m, _, node := sample(t)
	if err := m.Sign(node); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("node signed: %v", err)
	}
	// A node's valid signature over the right bytes is still refused.
	m.Signature = &Signature{Signer: string(node.PeerID()), Ed25519: b64(node.Sign(m.Canonical()))}
	if err := m.Verify(time.Now()); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("node-signed manifest: %v", err)
	}
	// The coordinator named as signer, but the node's signature.
	m.Signature.Signer = m.Coordinator().PeerID
	if err := m.Verify(time.Now()); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("forged signature: %v", err)
	}
	m.Signature.Ed25519 = "not base64!"
	if err := m.Verify(time.Now()); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("garbage signature: %v", err)
	}
}

func TestMembersAndAllowList(t *testing.T) {
	m, coord, node := sample(t)
	if _, err := m.Member(node.PeerID()); err != nil {
		t.Fatal(err)
	}
	stranger := fixedIdentity(t, 99)
	if _, err := m.Member(stranger.PeerID()); !errors.Is(err, ErrUnknownMember) {
		t.Fatalf("stranger: %v", err)
	}
	m.Sign(coord)
	if _, err := m.VerifyMember(time.Now(), stranger.PeerID()); !errors.Is(err, ErrUnknownMember) {
		t.Fatalf("VerifyMember(stranger): %v", err)
	}
	if mb, err := m.VerifyMember(time.Now(), node.PeerID()); err != nil || mb.Name != "north" || mb.Role != RoleNode {
		t.Fatalf("VerifyMember(node) = %+v, %v", mb, err)
	}
	if len(m.Nodes()) != 3 || len(m.Aggregators()) != 1 || m.Coordinator().Name != "coordinator" {
		t.Fatal("role accessors")
	}
	c, n := coord.PeerID(), node.PeerID()
	for _, tc := range []struct {
		peer  transport.PeerID
		proto string
		want  bool
	}{
		{c, "train", true}, {n, "train", true},
		{c, "secagg", true}, {n, "secagg", true}, {n, "mhe", true},
		{c, "plain", false}, {n, "plain", false}, // not allowed by the manifest
		{c, "admin", true}, {n, "admin", false}, // coordinator-only
		{stranger.PeerID(), "train", false},
	} {
		if got := m.AllowProtocol(tc.peer, tc.proto); got != tc.want {
			t.Errorf("AllowProtocol(%s, %s) = %v", tc.peer, tc.proto, got)
		}
	}
	if !m.AllowPeer(n) || m.AllowPeer(stranger.PeerID()) {
		t.Error("AllowPeer")
	}
}

func TestParseErrors(t *testing.T) {
	m, coord, _ := sample(t)
	m.Sign(coord)
	good, _ := m.Marshal()
	edit := func(old, new string) []byte {
		if !bytes.Contains(good, []byte(old)) {
			t.Fatalf("%q not in manifest", old)
		}
		return bytes.Replace(good, []byte(old), []byte(new), 1)
	}
	nodeID := m.Members[1].PeerID
	for name, b := range map[string][]byte{
		"not toml":          []byte("federation = "),
		"unknown key":       edit("threshold = 2", "threshold = 2\nextra = 1"),
		"local datetime":    edit("2099-01-02T03:04:05Z", "2099-01-02T03:04:05"),
		"no not_after":      edit("not_after = 2099-01-02T03:04:05Z", ""),
		"version":           edit("version = 1", "version = 2"),
		"bad peer id":       edit(nodeID, "12D3KooWnotapeer"),
		"two coordinators":  edit(`role = "node"`, `role = "coordinator"`),
		"bad role":          edit(`role = "node"`, `role = "observer"`),
		"threshold > min":   edit("threshold = 2", "threshold = 4"),
		"min > nodes":       edit("min_participants = 3", "min_participants = 4"),
		"unknown protocol":  edit(`"secagg"`, `"sekagg"`),
		"bad model":         edit(`kind = "mlp"`, `kind = "transformer"`),
		"bad strategy":      edit(`"fedprox"`, `"fedsgd"`),
		"negative lr":       edit("learning_rate = 0.05", "learning_rate = -0.05"),
		"nan clip":          edit("clip = 1.0", "clip = nan"),
		"delta 1":           edit("delta = 1e-05", "delta = 1.0"),
		"bad addr":          edit("/ip4/10.0.0.1/tcp/4001", "10.0.0.1:4001"),
		"duplicate name":    edit(`name = "south"`, `name = "north"`),
		"duplicate member":  edit(m.Members[2].PeerID, nodeID),
		"federation space":  edit(`federation = "hospitals-2026"`, `federation = "hospitals 2026"`),
		"feature is label":  edit(`"malic_acid"`, `"class"`),
		"duplicate class":   edit(`"class_1"`, `"class_0"`),
		"control character": edit(`purpose = "readmission risk"`, `purpose = "readmission\u0007risk"`),
	} {
		if _, err := Parse(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		} else if strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: multi-line error %q", name, err)
		}
	}
	if _, err := Parse(make([]byte, MaxFileSize+1)); !errors.Is(err, ErrMalformed) {
		t.Errorf("huge file: %v", err)
	}
}

func TestTemplate(t *testing.T) {
	ids := []*identity.Identity{fixedIdentity(t, 10), fixedIdentity(t, 11), fixedIdentity(t, 12), fixedIdentity(t, 13)}
	members := []Member{{Name: "c", PeerID: string(ids[0].PeerID()), Role: RoleCoordinator}}
	for i, id := range ids[1:] {
		members = append(members, Member{Name: "n" + string(rune('1'+i)), PeerID: string(id.PeerID()), Role: RoleNode})
	}
	m := Template("fed", members, time.Now().Add(time.Hour))
	if err := m.Validate(); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "features are required") {
		t.Fatalf("template without data: %v", err)
	}
	m.Data = Data{Features: []string{"a"}, Label: "y", Classes: []string{"0", "1"}}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	if m.MinParticipants != 3 || m.Threshold != 2 {
		t.Fatalf("min %d threshold %d", m.MinParticipants, m.Threshold)
	}
	if err := m.Sign(ids[0]); err != nil {
		t.Fatal(err)
	}
	if err := m.Verify(time.Now()); err != nil {
		t.Fatal(err)
	}
	_ = rand.Reader
}
