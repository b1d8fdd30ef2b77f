package main

import (
	"bytes"
	"context"
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
	// A key readable by others is refused by its users.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := identity.LoadFile(path); !errors.Is(err, identity.ErrPermissions) || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("loading a 0644 key: %v", err)
	}
	// Usage errors.
	for _, args := range [][]string{nil, {"--out"}, {"--bogus"}, {"--out", path, "extra"}} {
		if err := runKeygen(context.Background(), args, &out, &bytes.Buffer{}); !errors.Is(err, errUsage) {
			t.Errorf("keygen %q: %v, want a usage error", args, err)
		}
	}
	if err := runKeygen(context.Background(), []string{"--out", filepath.Join(dir, "missing", "k")}, &out, &bytes.Buffer{}); err == nil || errors.Is(err, errUsage) {
		t.Errorf("keygen into a missing directory: %v", err)
	}
}
