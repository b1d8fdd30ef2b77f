package audit

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
)

var (
	// ErrTampered matches every [*VerifyError]: the log is not the intact
	// output of its writer.
	ErrTampered = errors.New("audit: log verification failed")
	// ErrMalformed marks an entry line that is not a canonical entry.
	ErrMalformed = errors.New("audit: malformed entry")
	// ErrKey marks a signer or public key that is not Ed25519, or a log
	// written under another key than the one expected.
	ErrKey = errors.New("audit: wrong key")
	// ErrClosed is returned by appends to a closed [Log].
	ErrClosed = errors.New("audit: log closed")
	// ErrEntry marks an entry the caller asked to append that is not valid
	// (unknown kind, reserved kind, non-finite number).
	ErrEntry = errors.New("audit: invalid entry")
)

// Kind is the type of an audit entry.
type Kind string

// Entry kinds. KindGenesis and KindClose are written by the [Log] itself.
const (
	// KindGenesis is the first entry: the writer's public key and identity.
	KindGenesis Kind = "genesis"
	// KindJoin: the writer joined a federation (Peer: the coordinator).
	KindJoin Kind = "join"
	// KindRoundStart: a round began (Contributors: the participants asked).
	KindRoundStart Kind = "round-start"
	// KindRefusal: a node refused a round (Reason: the policy code).
	KindRefusal Kind = "refusal"
	// KindContributionSent: a node sent its protected update (Digest: SHA-256 of
	// the bytes sent, Peer: the recipient).
	KindContributionSent Kind = "contribution-sent"
	// KindContributionReceived: the coordinator received a protected update
	// (Digest: SHA-256 of the bytes received, Peer: the sender).
	KindContributionReceived Kind = "contribution-received"
	// KindAggregate: the coordinator obtained a round's aggregate (Digest:
	// SHA-256 of the aggregate's encoding, Contributors: whose updates it
	// sums).
	KindAggregate Kind = "aggregate"
	// KindCountersign: a contributor acknowledges an aggregate digest. In a
	// node's log the entry's own signature is the countersignature; in the
	// coordinator's log, Peer names the contributor and the field
	// "countersig" holds its detached signature ([Countersign]).
	KindCountersign Kind = "countersign"
	// KindModelVersion: a new global model (Digest: SHA-256 of its parameters).
	KindModelVersion Kind = "model-version"
	// KindEpsilon: the privacy spent so far (Epsilon at Delta).
	KindEpsilon Kind = "epsilon"
	// KindClose: the writer closed the log cleanly.
	KindClose Kind = "close"
)

// appendable reports whether callers may append entries of kind k.
func appendable(k Kind) bool {
	switch k {
	case KindJoin, KindRoundStart, KindRefusal, KindContributionSent, KindContributionReceived,
		KindAggregate, KindCountersign, KindModelVersion, KindEpsilon:
		return true
	}
	return false
}

// Entry is one line of an audit log. Seq, Time, Actor, Prev and Sig are set
// by [Log.Append]; the caller fills Kind, Round and the kind's fields. No
// field may carry data values, model updates, key material or shares: only
// digests, identities, parameters and counts.
type Entry struct {
	Seq          uint64            `json:"seq"`
	Time         string            `json:"time"`
	Kind         Kind              `json:"kind"`
	Actor        string            `json:"actor"`
	Round        uint64            `json:"round"`
	Peer         string            `json:"peer,omitempty"`
	Digest       string            `json:"digest,omitempty"`
	Contributors []string          `json:"contributors,omitempty"`
	Epsilon      float64           `json:"epsilon,omitempty"`
	Delta        float64           `json:"delta,omitempty"`
	Reason       string            `json:"reason,omitempty"`
	Fields       map[string]string `json:"fields,omitempty"`
	Prev         string            `json:"prev"`
	Sig          string            `json:"sig"`
}

// maxLine bounds one entry line.
const maxLine = 1 << 20

// zeroHash is the prev of the genesis entry.
const zeroHash = "0000000000000000000000000000000000000000000000000000000000000000"

const (
	entryDomain       = "consort-audit-entry-v1\n"
	headDomain        = "consort-audit-head-v1\n"
	countersignDomain = "consort-audit-countersign-v1\n"
)

// Digest returns the hex SHA-256 of b, the form of every digest in a log.
func Digest(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// lineHash is the chain hash of an entry line (without its newline).
func lineHash(line []byte) string { return Digest(line) }

// encode returns the canonical line of e (without newline).
func encode(e *Entry) ([]byte, error) {
	if math.IsNaN(e.Epsilon) || math.IsInf(e.Epsilon, 0) || math.IsNaN(e.Delta) || math.IsInf(e.Delta, 0) {
		return nil, fmt.Errorf("%w: non-finite epsilon or delta", ErrEntry)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEntry, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// signedBytes is what an entry's signature covers: the domain label and the
// canonical line with an empty sig.
func signedBytes(e Entry) ([]byte, error) {
	e.Sig = ""
	line, err := encode(&e)
	if err != nil {
		return nil, err
	}
	return append([]byte(entryDomain), line...), nil
}

func sign(s crypto.Signer, msg []byte) (string, error) {
	sig, err := s.Sign(rand.Reader, msg, crypto.Hash(0))
	if err != nil {
		return "", fmt.Errorf("audit: signing: %w", err)
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

func verifySig(pub ed25519.PublicKey, msg []byte, sig string) bool {
	raw, err := base64.StdEncoding.Strict().DecodeString(sig)
	if err != nil || len(raw) != ed25519.SignatureSize || base64.StdEncoding.EncodeToString(raw) != sig {
		return false
	}
	return ed25519.Verify(pub, msg, raw)
}

// ParseEntry decodes one log line (without its newline). It accepts only
// the canonical encoding that [Log.Append] writes: unknown fields, duplicate
// keys, other spacing or escaping are [ErrMalformed], so an accepted line
// re-encodes to the same bytes. It does not check the signature or chain
// (see [Verify]).
func ParseEntry(line []byte) (Entry, error) {
	var e Entry
	if len(line) > maxLine {
		return e, fmt.Errorf("%w: line longer than %d bytes", ErrMalformed, maxLine)
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return Entry{}, fmt.Errorf("%w: %s", ErrMalformed, jsonErrorClass(err))
	}
	if dec.More() {
		return Entry{}, fmt.Errorf("%w: trailing data", ErrMalformed)
	}
	again, err := encode(&e)
	if err != nil || !bytes.Equal(again, line) {
		return Entry{}, fmt.Errorf("%w: not in canonical form", ErrMalformed)
	}
	return e, nil
}

// jsonErrorClass describes a JSON error without quoting the input.
func jsonErrorClass(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return "JSON syntax error at byte " + strconv.FormatInt(syn.Offset, 10)
	case errors.As(err, &typ):
		return "wrong type for field " + strconv.Quote(typ.Field)
	}
	return "not a JSON entry"
}

// CountersignMessage is the message a contributor signs to acknowledge the
// aggregate of a round: a domain label, the federation, the round and the
// aggregate digest.
func CountersignMessage(federation string, round uint64, digest string) []byte {
	return fmt.Appendf([]byte(countersignDomain), "%s\n%d\n%s", federation, round, digest)
}

// Countersign returns a contributor's detached countersignature (base64) of
// a round's aggregate digest, to send to the coordinator, which records it in
// a [KindCountersign] entry's "countersig" field.
func Countersign(s crypto.Signer, federation string, round uint64, digest string) (string, error) {
	if _, ok := s.Public().(ed25519.PublicKey); !ok {
		return "", fmt.Errorf("%w: signer is not Ed25519", ErrKey)
	}
	return sign(s, CountersignMessage(federation, round, digest))
}

// VerifyCountersign checks a detached countersignature.
func VerifyCountersign(pub ed25519.PublicKey, federation string, round uint64, digest, sig string) bool {
	if len(pub) != ed25519.PublicKeySize {
		return false
	}
	return verifySig(pub, CountersignMessage(federation, round, digest), sig)
}
