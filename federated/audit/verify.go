package audit

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// Reason classifies the first problem [Verify] finds.
type Reason string

// Verification failure reasons.
const (
	// ReasonSyntax: the line is not a canonical JSON entry (edited by hand,
	// corrupted, or not an audit log).
	ReasonSyntax Reason = "syntax"
	// ReasonTornLine: the last line has no newline: a torn write or a
	// truncation inside an entry.
	ReasonTornLine Reason = "torn-line"
	// ReasonGenesis: the first entry is not a valid genesis entry, or a
	// genesis entry appears later.
	ReasonGenesis Reason = "genesis"
	// ReasonKey: the log was written under another key than the one pinned.
	ReasonKey Reason = "key"
	// ReasonActor: an entry names another writer than the genesis entry.
	ReasonActor Reason = "actor"
	// ReasonSequence: the sequence number is not the line's position:
	// entries were deleted, inserted or reordered.
	ReasonSequence Reason = "sequence"
	// ReasonChain: prev is not the hash of the previous line: the previous
	// line was replaced, or entries were spliced.
	ReasonChain Reason = "chain"
	// ReasonSignature: the entry's signature does not verify: the entry was
	// edited after signing, or forged.
	ReasonSignature Reason = "signature"
	// ReasonTruncated: the signed head records more entries than the log
	// holds: entries were removed from the end.
	ReasonTruncated Reason = "truncated"
	// ReasonHead: the head file is malformed, badly signed, or records a
	// different entry at its sequence number (a forked log).
	ReasonHead Reason = "head"
)

// VerifyError reports the first bad entry of a log. Line is 1-based (0 for
// problems of the head file). Detail never quotes entry content.
type VerifyError struct {
	Line   int
	Reason Reason
	Detail string
}

// Error implements error.
func (e *VerifyError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("audit: %s: %s", e.Reason, e.Detail)
	}
	return fmt.Sprintf("audit: line %d: %s: %s", e.Line, e.Reason, e.Detail)
}

// Is reports whether target is [ErrTampered].
func (e *VerifyError) Is(target error) bool { return target == ErrTampered }

// Report is the outcome of [Verify].
type Report struct {
	// Entries are the verified entries, in order, up to the first bad one.
	Entries []Entry
	// Actor, Role, Federation and PublicKey come from the genesis entry.
	Actor, Role, Federation string
	PublicKey               ed25519.PublicKey
	// Pinned is true when the caller supplied the expected key; false means
	// the key was taken from the log itself (it proves integrity since
	// creation, not authorship).
	Pinned bool
	// HeadChecked is true when a signed head was checked; HeadLag is how many
	// entries the log holds beyond it (a crash between an append and the head
	// update leaves 1).
	HeadChecked bool
	HeadLag     int
	// Closed is true when the last entry is a close entry.
	Closed bool
	// Bad is the first problem, or nil for an intact log.
	Bad *VerifyError
}

// head is the signed sidecar recording the last entry.
type head struct {
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
	Sig  string `json:"sig"`
}

func headSigned(h head) []byte {
	return fmt.Appendf([]byte(headDomain), "%d\n%s", h.Seq, h.Hash)
}

// Verify checks an audit log: the genesis entry and key, then for every line
// canonical form, sequence number, hash chain and Ed25519 signature, and
// finally, when headFile is not nil, the signed head (which detects removal
// of the last entries). pub pins the writer's key; nil accepts the key the
// genesis entry declares. The returned Report holds the entries verified
// before the first problem; the error is a [*VerifyError] (matching
// [ErrTampered]) describing that problem, or an I/O error.
//
// What this can and cannot detect: edits, insertions, deletions and
// reordering anywhere, and forged signatures, are detected by anyone holding
// the writer's public key. Removing the last k entries leaves a valid
// shorter chain; it is detected only by the signed head (unless the head was
// rolled back too, to an older copy) and by [CrossCheck] against the logs of
// the other parties, who recorded the same contributions and aggregates.
// A writer holding its own key can rewrite its entire log consistently;
// against the writer itself only the other parties' logs and
// countersignatures give evidence.
func Verify(log io.Reader, headFile io.Reader, pub ed25519.PublicKey) (Report, error) {
	var rep Report
	if pub != nil {
		if len(pub) != ed25519.PublicKeySize {
			return rep, fmt.Errorf("%w: public key has %d bytes", ErrKey, len(pub))
		}
		rep.Pinned = true
	}
	fail := func(line int, reason Reason, format string, args ...any) (Report, error) {
		rep.Bad = &VerifyError{Line: line, Reason: reason, Detail: fmt.Sprintf(format, args...)}
		return rep, rep.Bad
	}
	br := bufio.NewReaderSize(log, 64<<10)
	prev := zeroHash
	var hashes []string
	for lineNo := 1; ; lineNo++ {
		line, err := readLine(br)
		if err == io.EOF {
			break
		}
		if errors.Is(err, errLongLine) {
			return fail(lineNo, ReasonSyntax, "line longer than %d bytes", maxLine)
		}
		if errors.Is(err, errTorn) {
			return fail(lineNo, ReasonTornLine, "last line has no newline (torn write or truncated entry)")
		}
		if err != nil {
			return rep, err
		}
		e, err := ParseEntry(line)
		if err != nil {
			return fail(lineNo, ReasonSyntax, "%v", err)
		}
		if lineNo == 1 {
			if r, d := checkGenesis(&rep, e, pub); r != "" {
				return fail(lineNo, r, "%s", d)
			}
		} else if e.Kind == KindGenesis {
			return fail(lineNo, ReasonGenesis, "genesis entry after the first line")
		}
		if e.Seq != uint64(lineNo-1) {
			return fail(lineNo, ReasonSequence, "sequence number %d at position %d (entries deleted, inserted or reordered)", e.Seq, lineNo-1)
		}
		if e.Actor != rep.Actor {
			return fail(lineNo, ReasonActor, "entry names writer %q, log belongs to %q", e.Actor, rep.Actor)
		}
		if subtle.ConstantTimeCompare([]byte(e.Prev), []byte(prev)) != 1 {
			return fail(lineNo, ReasonChain, "prev does not match the hash of line %d (that line was changed or entries were spliced)", lineNo-1)
		}
		msg, err := signedBytes(e)
		if err != nil || !verifySig(rep.PublicKey, msg, e.Sig) {
			return fail(lineNo, ReasonSignature, "signature does not verify (entry edited or forged)")
		}
		prev = lineHash(line)
		hashes = append(hashes, prev)
		rep.Entries = append(rep.Entries, e)
	}
	if len(rep.Entries) == 0 {
		return fail(1, ReasonGenesis, "empty log")
	}
	rep.Closed = rep.Entries[len(rep.Entries)-1].Kind == KindClose
	if headFile == nil {
		return rep, nil
	}
	data, err := io.ReadAll(io.LimitReader(headFile, 4096))
	if err != nil {
		return rep, err
	}
	var h head
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		return fail(0, ReasonHead, "head file is not valid")
	}
	if !verifySig(rep.PublicKey, headSigned(h), h.Sig) {
		return fail(0, ReasonHead, "head signature does not verify")
	}
	last := uint64(len(rep.Entries) - 1)
	if h.Seq > last {
		return fail(len(rep.Entries)+1, ReasonTruncated, "signed head records %d entries, log holds %d: the last %d were removed", h.Seq+1, last+1, h.Seq-last)
	}
	if subtle.ConstantTimeCompare([]byte(hashes[h.Seq]), []byte(h.Hash)) != 1 {
		return fail(int(h.Seq)+1, ReasonHead, "signed head records a different entry at sequence %d (forked or rewritten log)", h.Seq)
	}
	rep.HeadChecked = true
	rep.HeadLag = int(last - h.Seq)
	return rep, nil
}

// checkGenesis validates the first entry and fills the report's identity.
func checkGenesis(rep *Report, e Entry, pub ed25519.PublicKey) (Reason, string) {
	if e.Kind != KindGenesis || e.Seq != 0 || e.Prev != zeroHash {
		return ReasonGenesis, "first entry is not a genesis entry"
	}
	raw, err := hex.DecodeString(e.Fields["pubkey"])
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return ReasonGenesis, "genesis entry has no valid Ed25519 public key"
	}
	if e.Actor == "" {
		return ReasonGenesis, "genesis entry names no writer"
	}
	key := ed25519.PublicKey(raw)
	if pub != nil && !pub.Equal(key) {
		return ReasonKey, fmt.Sprintf("log was written under key %s, expected %s", Fingerprint(key), Fingerprint(pub))
	}
	rep.PublicKey = key
	rep.Actor, rep.Role, rep.Federation = e.Actor, e.Fields["role"], e.Fields["federation"]
	return "", ""
}

// Fingerprint is a short printable identifier of a public key: the first 16
// hex digits of its SHA-256.
func Fingerprint(pub ed25519.PublicKey) string { return Digest(pub)[:16] }

var (
	errTorn     = errors.New("torn line")
	errLongLine = errors.New("long line")
)

// readLine returns the next newline-terminated line without its newline.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line)+len(chunk) > maxLine+1 {
			return nil, errLongLine
		}
		line = append(line, chunk...)
		switch {
		case err == nil:
			return line[:len(line)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == io.EOF && len(line) == 0:
			return nil, io.EOF
		case err == io.EOF:
			return nil, errTorn
		default:
			return nil, err
		}
	}
}

// VerifyFile verifies the log at path with [Verify], using the signed head
// path+".head" when it exists. A missing head is not an error (the report
// says HeadChecked false).
func VerifyFile(path string, pub ed25519.PublicKey) (Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return Report{}, err
	}
	defer f.Close()
	var hr io.Reader
	if hf, err := os.Open(path + headSuffix); err == nil {
		defer hf.Close()
		hr = hf
	} else if !errors.Is(err, os.ErrNotExist) {
		return Report{}, err
	}
	return Verify(f, hr, pub)
}
