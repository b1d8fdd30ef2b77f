package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/consort-ml/consort/federated/manifest"
	"github.com/consort-ml/consort/transport/identity"
)

func keygen(t *testing.T, dir, name string) (path, peerID string) {
	t.Helper()
	path = filepath.Join(dir, name+".key")
	var out bytes.Buffer
	if err := runKeygen(context.Background(), []string{"--out", path}, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	return path, strings.TrimSpace(out.String())
}

func manifestCmd(args ...string) (string, error) {
	var out bytes.Buffer
	err := runManifest(context.Background(), args, &out, &bytes.Buffer{})
	return out.String(), err
}

func TestManifestInitSignVerify(t *testing.T) {
	dir := t.TempDir()
	ckey, cid := keygen(t, dir, "coord")
	nkey, n1 := keygen(t, dir, "n1")
	_, n2 := keygen(t, dir, "n2")
	_, n3 := keygen(t, dir, "n3")
	_, stranger := keygen(t, dir, "stranger")
	mpath := filepath.Join(dir, "federation.toml")

	out, err := manifestCmd("init", "--federation", "demo-fed", "--coordinator", cid,
		"--member", "north="+n1, "--member", "south="+n2+":node", "--member", "agg="+n3+":aggregator",
		"--addr", "coordinator=/ip4/127.0.0.1/tcp/4001", "--protocols", "secagg,mhe",
		"--model", "mlp:16", "--rounds", "3", "--features", "a,b", "--label", "y", "--classes", "no,yes",
		"--clip", "1", "--noise-multiplier", "0.5", "--epsilon", "4", "--delta", "1e-5",
		"--out", mpath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "consort manifest sign") {
		t.Errorf("init output %q", out)
	}
	if _, err := manifestCmd("verify", "--manifest", mpath); !errors.Is(err, manifest.ErrUnsigned) {
		t.Fatalf("verify unsigned: %v", err)
	}
	if _, err := manifestCmd("init", "--federation", "x", "--coordinator", cid, "--member", "n="+n1, "--out", mpath); err == nil {
		t.Fatal("init overwrote an existing manifest")
	}
	// Only the coordinator's key signs.
	if _, err := manifestCmd("sign", "--key", nkey, "--in", mpath); !errors.Is(err, manifest.ErrBadSignature) {
		t.Fatalf("sign with a node key: %v", err)
	}
	out, err = manifestCmd("sign", "--key", ckey, "--in", mpath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "digest ") {
		t.Errorf("sign output %q", out)
	}
	out, err = manifestCmd("verify", "--manifest", mpath, "--member", n1)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "ok: federation \"demo-fed\", 2 nodes, 4 members") || !strings.Contains(out, "role node") {
		t.Errorf("verify output %q", out)
	}
	m, err := manifest.Load(mpath)
	if err != nil {
		t.Fatal(err)
	}
	if m.Model.Kind != "mlp" || len(m.Model.Hidden) != 1 || len(m.Data.Classes) != 2 || m.Training.Rounds != 3 || m.DP.Epsilon != 4 ||
		len(m.Protocols) != 2 || m.Members[0].Addrs[0] != "/ip4/127.0.0.1/tcp/4001" || m.Threshold != 2 || m.MinParticipants != 2 {
		t.Errorf("manifest fields: %+v", m)
	}

	// Failure paths, each with its reason and exit status 1.
	if _, err := manifestCmd("verify", "--manifest", mpath, "--member", stranger); !errors.Is(err, manifest.ErrUnknownMember) || errors.Is(err, errUsage) {
		t.Errorf("unknown member: %v", err)
	}
	b, _ := os.ReadFile(mpath)
	tampered := filepath.Join(dir, "tampered.toml")
	os.WriteFile(tampered, bytes.Replace(b, []byte("rounds = 3"), []byte("rounds = 30"), 1), 0o644)
	if _, err := manifestCmd("verify", "--manifest", tampered); !errors.Is(err, manifest.ErrBadSignature) || !strings.Contains(err.Error(), "signature") {
		t.Errorf("tampered: %v", err)
	}
	garbage := filepath.Join(dir, "garbage.toml")
	os.WriteFile(garbage, []byte("this is = = not toml"), 0o644)
	if _, err := manifestCmd("verify", "--manifest", garbage); !errors.Is(err, manifest.ErrMalformed) {
		t.Errorf("malformed: %v", err)
	}
	// init and sign refuse a past expiry; with their clock in 2000 they
	// write and sign a manifest that has expired today.
	expired := filepath.Join(dir, "expired.toml")
	oldArgs := []string{"--federation", "old", "--coordinator", cid, "--member", "n=" + n1, "--member", "s=" + n2,
		"--features", "a", "--classes", "no,yes", "--not-after", "2001-01-01T00:00:00Z", "--out", expired}
	if _, err := manifestCmd(append([]string{"init"}, oldArgs...)...); !errors.Is(err, manifest.ErrExpired) || !errors.Is(err, errUsage) {
		t.Fatalf("init with a past expiry: %v", err)
	}
	y2k := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := runManifestInit(oldArgs, &bytes.Buffer{}, &bytes.Buffer{}, y2k); err != nil {
		t.Fatal(err)
	}
	if _, err := manifestCmd("sign", "--key", ckey, "--in", expired); !errors.Is(err, manifest.ErrExpired) {
		t.Fatalf("sign of an expired manifest: %v", err)
	}
	if err := runManifestSign([]string{"--key", ckey, "--in", expired}, &bytes.Buffer{}, y2k); err != nil {
		t.Fatal(err)
	}
	if _, err := manifestCmd("verify", "--manifest", expired); !errors.Is(err, manifest.ErrExpired) {
		t.Errorf("expired: %v", err)
	}
	if err := runManifestVerify([]string{"--manifest", expired}, &bytes.Buffer{}, time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Errorf("expired manifest before its expiry: %v", err)
	}
	// A world-readable key is refused when signing.
	os.Chmod(ckey, 0o640)
	if _, err := manifestCmd("sign", "--key", ckey, "--in", mpath); !errors.Is(err, identity.ErrPermissions) {
		t.Errorf("sign with a 0640 key: %v", err)
	}
}

func TestManifestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	_, cid := keygen(t, dir, "coord")
	_, n1 := keygen(t, dir, "n1")
	for _, args := range [][]string{
		nil,
		{"frobnicate"},
		{"init"},
		{"init", "--federation", "f"},
		{"init", "--federation", "f", "--coordinator", cid, "--member", "nopeer"},
		{"init", "--federation", "f", "--coordinator", cid, "--member", "n=12D3KooWbad"},
		{"init", "--federation", "f", "--coordinator", cid, "--member", "n=" + n1, "--model", "cnn"},
		{"init", "--federation", "f", "--coordinator", cid, "--member", "n=" + n1, "--threshold", "5"},
		{"init", "--federation", "f", "--coordinator", cid, "--member", "n=" + n1, "--not-after", "tomorrow"},
		{"init", "--federation", "f", "--coordinator", cid, "--member", "n=" + n1, "--addr", "ghost=/ip4/1.2.3.4/tcp/1"},
		{"init", "--federation", "f", "--coordinator", cid}, // no nodes
		{"sign", "--in", "x"},
		{"verify"},
		{"verify", "--manifest", "m", "extra"},
	} {
		if _, err := manifestCmd(args...); !errors.Is(err, errUsage) {
			t.Errorf("manifest %q: %v, want a usage error", args, err)
		}
	}
	// init to stdout.
	_, n2 := keygen(t, dir, "n2")
	out, err := manifestCmd("init", "--federation", "f", "--coordinator", "boss="+cid, "--member", "n="+n1, "--member", "m="+n2, "--dataset", "wine")
	if err != nil {
		t.Fatal(err)
	}
	if m, err := manifest.Parse([]byte(out)); err != nil || m.Coordinator().Name != "boss" {
		t.Fatalf("init to stdout: %v\n%s", err, out)
	}
}

// TestManifestInitRefusesOversizedMHE: a federation larger than mhe's
// parameter sets can serve is refused at init, with the reason, in one
// line and exit status 2 (secagg alone accepts it).
func TestManifestInitRefusesOversizedMHE(t *testing.T) {
	peer := func(i int) string {
		var seed [32]byte
		binary.LittleEndian.PutUint64(seed[:], uint64(i))
		id, err := identity.Generate(rand.NewChaCha8(seed))
		if err != nil {
			t.Fatal(err)
		}
		return string(id.PeerID())
	}
	n := manifest.MHEMaxNodes() + 1
	args := []string{"manifest", "init", "--federation", "big", "--coordinator", peer(1 << 30), "--dataset", "digits", "--protocols", "secagg,mhe"}
	for i := range n {
		args = append(args, "--member", "n"+strconv.Itoa(i)+"="+peer(i))
	}
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	want := "consort manifest: manifest: malformed: protocol mhe cannot serve " + strconv.Itoa(n) +
		" nodes: the noise budget of its largest parameter set covers " + strconv.Itoa(n-1) + " parties (allow secagg only, or split the federation)\n"
	if code != 2 || errb.String() != want {
		t.Fatalf("exit %d, stderr %q, want 2, %q", code, errb.String(), want)
	}
	args[9] = "secagg"
	if args[8] != "--protocols" {
		t.Fatal("argument layout changed")
	}
	out.Reset()
	errb.Reset()
	if code := run(context.Background(), args, &out, &errb); code != 0 || !strings.Contains(errb.String(), "min_participants 206 of 257 nodes") {
		t.Fatalf("secagg alone: exit %d, stderr %q", code, errb.String())
	}
}
