package trainer

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strings"
)

// Digest is the SHA-256 identity of a trainer's program files: the SHA-256
// of the sha256sum-style listing "<hex sha256>  <name>\n" of every file,
// sorted by name (bytewise). It can be reproduced with coreutils:
//
//	sha256sum train.py consort.py | LC_ALL=C sort -k2 | sha256sum
//
// where the names are the files' base names.
type Digest [sha256.Size]byte

// String returns the lowercase hex form.
func (d Digest) String() string { return hex.EncodeToString(d[:]) }

// ParseDigest parses the hex form (64 hex digits).
func ParseDigest(s string) (Digest, error) {
	var d Digest
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != len(d) {
		return d, fmt.Errorf("%w: a digest is 64 hex digits", ErrConfig)
	}
	copy(d[:], b)
	return d, nil
}

// Equal compares in constant time.
func (d Digest) Equal(o Digest) bool { return subtle.ConstantTimeCompare(d[:], o[:]) == 1 }
