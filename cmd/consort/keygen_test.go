package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/consort-ml/consort/transport/identity"
)

func TestKeygen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "node.key")
	var out bytes.Buffer
	if err := runKeygen(context.Background(), []string{"--out", path}, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	peerID := strings.TrimSpace(out.String())
	if !strings.HasPrefix(peerID, "12D3KooW") || strings.Count(out.String(), "\n") != 1 {
		t.Fatalf("keygen printed %q, want one peer ID line", out.String())
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %04o, want 0600", st.Mode().Perm())
	}
	id, err := identity.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(id.PeerID()) != peerID {
		t.Fatalf("printed %s, key is %s", peerID, id.PeerID())
	}
	// Never overwrites.
	before, _ := os.ReadFile(path)
	if err := runKeygen(context.Background(), []string{"--out", path}, &out, &bytes.Buffer{}); !errors.Is(err, identity.ErrExists) {
		t.Fatalf("second keygen: %v", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("key file changed")
	}
	// --show prints the same peer ID, --json adds the public key.
	out.Reset()
	if err := runKeygen(context.Background(), []string{"--show", path}, &out, &bytes.Buffer{}); err != nil || out.String() != peerID+"\n" {
		t.Fatalf("keygen --show: %v %q, want %s", err, out.String(), peerID)
	}
	out.Reset()
	if err := runKeygen(context.Background(), []string{"--show", path, "--json"}, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	var js keygenResult
	if err := json.Unmarshal(out.Bytes(), &js); err != nil || js.PeerID != peerID || js.PublicKey != hex.EncodeToString(id.PublicKey()) || js.Created || js.File != path {
		t.Fatalf("keygen --show --json: %v %+v", err, js)
	}
	// A key readable by others is refused by its users.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := identity.LoadFile(path); !errors.Is(err, identity.ErrPermissions) || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("loading a 0644 key: %v", err)
	}
	// Usage errors.
	if err := runKeygen(context.Background(), []string{"--show", path}, &out, &bytes.Buffer{}); !errors.Is(err, identity.ErrPermissions) || exitCode(err) != exitInput {
		t.Fatalf("keygen --show of a 0644 key: %v (exit %d)", err, exitCode(err))
	}
	for _, args := range [][]string{nil, {"--out"}, {"--bogus"}, {"--out", path, "extra"}, {"--out", path, "--show", path}} {
		if err := runKeygen(context.Background(), args, &out, &bytes.Buffer{}); !errors.Is(err, errUsage) {
			t.Errorf("keygen %q: %v, want a usage error", args, err)
		}
	}
	if err := runKeygen(context.Background(), []string{"--out", filepath.Join(dir, "missing", "k")}, &out, &bytes.Buffer{}); err == nil || errors.Is(err, errUsage) {
		t.Errorf("keygen into a missing directory: %v", err)
	}
}
