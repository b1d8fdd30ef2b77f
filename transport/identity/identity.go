package identity

import (
	gocrypto "crypto"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/consort-ml/consort/transport"
)

// Errors of this package.
var (
	// ErrPermissions marks a key file that group or others may read.
	ErrPermissions = errors.New("identity: key file permissions too open")
	// ErrMalformedKey marks a key file that is not a PKCS#8 Ed25519 key.
	ErrMalformedKey = errors.New("identity: malformed key file")
	// ErrExists marks an attempt to overwrite an existing key file.
	ErrExists = errors.New("identity: key file exists")
	// ErrPeerID marks a string that is not an Ed25519 libp2p peer ID.
	ErrPeerID = errors.New("identity: invalid peer id")
	// ErrBadSignature marks a signature that does not verify.
	ErrBadSignature = errors.New("identity: bad signature")
)

// maxKeyFile bounds the size of a key file read from disk.
const maxKeyFile = 4096

// Identity is an Ed25519 key pair and the peer ID derived from it. The
// private key never leaves the value except through [Identity.Sign],
// [Identity.LibP2PKey] and [WriteFile]. Identities are not comparable.
type Identity struct {
	_    [0]func()
	key  ed25519.PrivateKey
	id   transport.PeerID
	priv crypto.PrivKey
}

// Generate creates an identity from 32 bytes of rand (use crypto/rand).
func Generate(rand io.Reader) (*Identity, error) {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := io.ReadFull(rand, seed); err != nil {
		return nil, fmt.Errorf("identity: reading randomness: %w", err)
	}
	return fromKey(ed25519.NewKeyFromSeed(seed))
}

func fromKey(k ed25519.PrivateKey) (*Identity, error) {
	priv, err := crypto.UnmarshalEd25519PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedKey, err)
	}
	pid, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedKey, err)
	}
	return &Identity{key: k, id: transport.PeerID(pid.String()), priv: priv}, nil
}

// PeerID returns the libp2p peer ID, e.g. "12D3KooW...".
func (id *Identity) PeerID() transport.PeerID { return id.id }

// PublicKey returns the Ed25519 public key.
func (id *Identity) PublicKey() ed25519.PublicKey {
	return id.key.Public().(ed25519.PublicKey)
}

// Sign signs msg with Ed25519 (RFC 8032, pure mode).
func (id *Identity) Sign(msg []byte) []byte { return ed25519.Sign(id.key, msg) }

// Signer returns the identity as a crypto.Signer (Ed25519 signs the message
// itself: callers pass crypto.Hash(0)); the private key stays inside.
func (id *Identity) Signer() gocrypto.Signer { return signer{id} }

type signer struct{ id *Identity }

func (s signer) Public() gocrypto.PublicKey { return s.id.PublicKey() }

func (s signer) Sign(_ io.Reader, msg []byte, _ gocrypto.SignerOpts) ([]byte, error) {
	return s.id.Sign(msg), nil
}

// LibP2PKey returns the key in libp2p's form, for transport/p2p.
func (id *Identity) LibP2PKey() crypto.PrivKey { return id.priv }

// String returns the peer ID; it never prints the key.
func (id *Identity) String() string { return string(id.id) }

// Marshal returns the PEM "PRIVATE KEY" (PKCS#8) encoding of the key.
func (id *Identity) Marshal() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(id.key)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// Parse decodes a PEM PKCS#8 Ed25519 private key.
func Parse(b []byte) (*Identity, error) {
	if len(b) > maxKeyFile {
		return nil, fmt.Errorf("%w: %d bytes", ErrMalformedKey, len(b))
	}
	blk, rest := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" || len(blk.Headers) != 0 {
		return nil, fmt.Errorf("%w: no PEM PRIVATE KEY block", ErrMalformedKey)
	}
	for _, c := range rest {
		if c != ' ' && c != '\n' && c != '\r' && c != '\t' {
			return nil, fmt.Errorf("%w: trailing data", ErrMalformedKey)
		}
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedKey, err)
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: not an Ed25519 key", ErrMalformedKey)
	}
	return fromKey(ek)
}

// WriteFile writes the key to path with mode 0600, atomically: a
// temporary file in the same directory is written, synced and linked into
// place, so path either does not exist or holds the whole key. It refuses
// to overwrite an existing file ([ErrExists]).
func WriteFile(path string, id *Identity) error {
	pemBytes, err := id.Marshal()
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".consort-key-*")
	if err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("identity: %w", err)
	}
	if _, err := tmp.Write(pemBytes); err != nil {
		tmp.Close()
		return fmt.Errorf("identity: writing key: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("identity: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: %s", ErrExists, path)
		}
		return fmt.Errorf("identity: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// LoadFile reads a key file written by [WriteFile]. Like ssh, it refuses a
// file that group or others may read or write ([ErrPermissions]).
func LoadFile(path string) (*Identity, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrMalformedKey, path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o, want 0600 (chmod 600 %s)", ErrPermissions, path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("identity: reading %s: %w", path, err)
	}
	id, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return id, nil
}

// ParsePeerID checks that s is the peer ID of an Ed25519 key (an identity
// multihash, "12D3KooW...") and returns it.
func ParsePeerID(s string) (transport.PeerID, error) {
	if _, err := PublicKey(transport.PeerID(s)); err != nil {
		return "", err
	}
	return transport.PeerID(s), nil
}

// PublicKey extracts the Ed25519 public key embedded in a peer ID.
func PublicKey(id transport.PeerID) (ed25519.PublicKey, error) {
	if len(id) == 0 || len(id) > transport.MaxPeerID {
		return nil, fmt.Errorf("%w: length %d", ErrPeerID, len(id))
	}
	pid, err := peer.Decode(string(id))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPeerID, err)
	}
	if pid.String() != string(id) {
		return nil, fmt.Errorf("%w: not in canonical form", ErrPeerID)
	}
	pub, err := pid.ExtractPublicKey()
	if err != nil {
		return nil, fmt.Errorf("%w: no embedded key: %w", ErrPeerID, err)
	}
	if pub.Type() != crypto.Ed25519 {
		return nil, fmt.Errorf("%w: not an Ed25519 key", ErrPeerID)
	}
	raw, err := pub.Raw()
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: bad Ed25519 key", ErrPeerID)
	}
	return ed25519.PublicKey(raw), nil
}

// Verify checks an Ed25519 signature by the key of peer id.
func Verify(id transport.PeerID, msg, sig []byte) error {
	pub, err := PublicKey(id)
	if err != nil {
		return err
	}
	if len(sig) != ed25519.SignatureSize || !ed25519.Verify(pub, msg, sig) {
		return ErrBadSignature
	}
	return nil
}
