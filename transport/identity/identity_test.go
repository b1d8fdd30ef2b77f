package identity

import (
	"bytes"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeyFile(t *testing.T) {
	id, err := Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "id.key")
	if err := WriteFile(path, id); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v %v", st.Mode(), err)
	}
	id2, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if id2.PeerID() != id.PeerID() || !bytes.Equal(id2.PublicKey(), id.PublicKey()) {
		t.Fatal("loaded a different key")
	}
	if err := WriteFile(path, id); !errors.Is(err, ErrExists) {
		t.Fatalf("overwrite: %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Fatalf("temporary files left: %v", entries)
	}
	for _, mode := range []os.FileMode{0o640, 0o604, 0o660, 0o644, 0o700 | 0o007} {
		os.Chmod(path, mode)
		_, err := LoadFile(path)
		if !errors.Is(err, ErrPermissions) || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("mode %04o: %v", mode, err)
		}
	}
	os.Chmod(path, 0o400)
	if _, err := LoadFile(path); err != nil {
		t.Errorf("mode 0400: %v", err)
	}
	if _, err := LoadFile(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing file loaded")
	}
	if _, err := LoadFile(t.TempDir()); !errors.Is(err, ErrMalformedKey) {
		t.Errorf("directory: %v", err)
	}
}

func TestStringDoesNotLeakKey(t *testing.T) {
	id, _ := Generate(rand.Reader)
	pem, _ := id.Marshal()
	if s := id.String(); s != string(id.PeerID()) || strings.Contains(string(pem), s) {
		t.Fatalf("String() = %q", s)
	}
}

func TestParseErrors(t *testing.T) {
	id, _ := Generate(rand.Reader)
	good, _ := id.Marshal()
	for name, b := range map[string][]byte{
		"empty":       nil,
		"not pem":     []byte("hello"),
		"wrong type":  bytes.Replace(good, []byte("PRIVATE KEY"), []byte("PUBLIC KEY"), 2),
		"trailing":    append(bytes.Clone(good), "junk"...),
		"bad der":     []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
		"huge":        make([]byte, maxKeyFile+1),
		"ecdsa p-256": []byte("-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgevZzL1gdAFr88hb2\nOF/2NxApJCzGCEDdfSp6VQO30hyhRANCAAQRWz+jn65BtOMvdyHKcvjBeBSDZH2r\n1RTwjmYSi9R/zpBnuQ4EiMnCqfMPWiZqB4QdbAd0E7oH50VpuZ1P087G\n-----END PRIVATE KEY-----\n"),
	} {
		if _, err := Parse(b); !errors.Is(err, ErrMalformedKey) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestPeerIDAndVerify(t *testing.T) {
	id, _ := Generate(rand.Reader)
	pid := id.PeerID()
	if !strings.HasPrefix(string(pid), "12D3KooW") {
		t.Fatalf("peer id %s", pid)
	}
	if got, err := ParsePeerID(string(pid)); err != nil || got != pid {
		t.Fatalf("ParsePeerID: %v", err)
	}
	pub, err := PublicKey(pid)
	if err != nil || !bytes.Equal(pub, id.PublicKey()) {
		t.Fatalf("PublicKey: %v", err)
	}
	msg := []byte("manifest bytes")
	sig := id.Sign(msg)
	if err := Verify(pid, msg, sig); err != nil {
		t.Fatal(err)
	}
	other, _ := Generate(rand.Reader)
	if err := Verify(other.PeerID(), msg, sig); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("wrong key: %v", err)
	}
	if err := Verify(pid, []byte("other"), sig); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("wrong message: %v", err)
	}
	if err := Verify(pid, msg, sig[:10]); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("short signature: %v", err)
	}
	for _, s := range []string{"", "12D3KooW", "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N", strings.Repeat("1", 200), "not base58 0OIl"} {
		if _, err := ParsePeerID(s); !errors.Is(err, ErrPeerID) {
			t.Errorf("ParsePeerID(%q): %v", s, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	id, _ := Generate(rand.Reader)
	good, _ := id.Marshal()
	f.Add(good)
	for i := 0; i < len(good); i += 7 {
		f.Add(good[:i])
		m := bytes.Clone(good)
		m[i] ^= 1
		f.Add(m)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		id, err := Parse(b)
		if err != nil {
			if !errors.Is(err, ErrMalformedKey) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		again, err := id.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		id2, err := Parse(again)
		if err != nil || id2.PeerID() != id.PeerID() {
			t.Fatalf("re-encoded key differs: %v", err)
		}
	})
}
