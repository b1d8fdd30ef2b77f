package audit

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// headSuffix names the signed head sidecar of a log file.
const headSuffix = ".head"

// Options configure [Open].
type Options struct {
	// Actor is the writer's name or peer ID, written into every entry. For
	// a new log it is required; for an existing log it must match the
	// genesis entry (empty adopts it).
	Actor string
	// Role ("coordinator" or "node") and Federation are recorded in the
	// genesis entry of a new log; [CrossCheck] finds the coordinator's log by
	// its role.
	Role, Federation string
	// Now is the clock (nil: time.Now). Times are written in UTC, RFC 3339
	// with nanoseconds.
	Now func() time.Time
}

// Log is an append-only, hash-chained, signed audit log file. Each
// [Log.Append] writes one JSON line, fsyncs it, then atomically replaces the
// signed head file (path + ".head") that records the last sequence number and
// line hash. A Log is safe for concurrent use.
type Log struct {
	mu       sync.Mutex
	f        *os.File
	path     string
	signer   crypto.Signer
	pub      ed25519.PublicKey
	actor    string
	now      func() time.Time
	next     uint64
	prevHash string
	closed   bool
}

// Open opens the log at path for appending, creating it (mode 0600, with a
// genesis entry holding the signer's public key) if it does not exist. An
// existing log is verified in full under the signer's key before the chain is
// resumed; a log that does not verify (including one shorter than its signed
// head, or with a torn last line) is refused with the [*VerifyError], so a
// damaged log is never extended: move it aside and start a new one.
func Open(path string, signer crypto.Signer, opts Options) (*Log, error) {
	pub, ok := signer.Public().(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: signer is not Ed25519", ErrKey)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	l := &Log{path: path, signer: signer, pub: pub, now: now}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	l.f = f
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("audit: %w", err)
	}
	if st.Size() == 0 {
		if _, err := os.Stat(path + headSuffix); err == nil {
			f.Close()
			return nil, fmt.Errorf("audit: refusing to restart %s: %w", path, &VerifyError{Line: 1, Reason: ReasonTruncated,
				Detail: "log is empty but its signed head exists: the log was emptied or replaced"})
		}
		if opts.Actor == "" {
			f.Close()
			return nil, fmt.Errorf("%w: a new log needs an actor", ErrEntry)
		}
		l.actor = opts.Actor
		g := Entry{Kind: KindGenesis, Fields: map[string]string{"pubkey": hex.EncodeToString(pub)}}
		if opts.Role != "" {
			g.Fields["role"] = opts.Role
		}
		if opts.Federation != "" {
			g.Fields["federation"] = opts.Federation
		}
		if _, err := l.write(g); err != nil {
			f.Close()
			return nil, err
		}
		if err := syncDir(filepath.Dir(path)); err != nil {
			f.Close()
			return nil, err
		}
		return l, nil
	}
	if err := l.resume(opts.Actor); err != nil {
		f.Close()
		return nil, err
	}
	return l, nil
}

func (l *Log) resume(actor string) error {
	if _, err := l.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	var hr io.Reader
	hf, err := os.Open(l.path + headSuffix)
	switch {
	case err == nil:
		defer hf.Close()
		hr = hf
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("audit: %w", err)
	}
	rep, err := Verify(l.f, hr, l.pub)
	if err != nil {
		return fmt.Errorf("audit: refusing to extend %s: %w", l.path, err)
	}
	if actor != "" && actor != rep.Actor {
		return fmt.Errorf("%w: log belongs to %q, not %q", ErrKey, rep.Actor, actor)
	}
	l.actor = rep.Actor
	last := rep.Entries[len(rep.Entries)-1]
	line, err := encode(&last)
	if err != nil {
		return err
	}
	l.next = last.Seq + 1
	l.prevHash = lineHash(line)
	if rep.HeadLag > 0 || !rep.HeadChecked {
		return l.writeHead(last.Seq, l.prevHash)
	}
	return nil
}

// PublicKey returns the writer's public key (also in the genesis entry).
func (l *Log) PublicKey() ed25519.PublicKey { return slices.Clone(l.pub) }

// Actor returns the writer's name.
func (l *Log) Actor() string { return l.actor }

// Append signs and writes one entry and returns it as written (with Seq,
// Time, Actor, Prev and Sig filled). Kind must be one of the appendable kinds
// (not genesis or close). The entry is durable (fsynced) when Append returns.
func (l *Log) Append(e Entry) (Entry, error) {
	if !appendable(e.Kind) {
		return Entry{}, fmt.Errorf("%w: kind %q cannot be appended", ErrEntry, e.Kind)
	}
	return l.write(e)
}

// Close appends a close entry, syncs and closes the file. A log that was
// not closed (a crash, or a writer still running) verifies all the same;
// [Report.Closed] tells the difference.
func (l *Log) Close() error {
	_, err := l.write(Entry{Kind: KindClose})
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return err
	}
	l.closed = true
	if cerr := l.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("audit: %w", cerr)
	}
	return err
}

func (l *Log) write(e Entry) (Entry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return Entry{}, ErrClosed
	}
	e.Seq = l.next
	e.Time = l.now().UTC().Format(time.RFC3339Nano)
	e.Actor = l.actor
	e.Prev = l.prevHash
	if e.Seq == 0 {
		e.Prev = zeroHash
	}
	e.Sig = ""
	e.Fields = cloneFields(e.Fields)
	e.Contributors = slices.Clone(e.Contributors)
	msg, err := signedBytes(e)
	if err != nil {
		return Entry{}, err
	}
	if e.Sig, err = sign(l.signer, msg); err != nil {
		return Entry{}, err
	}
	line, err := encode(&e)
	if err != nil {
		return Entry{}, err
	}
	if len(line) > maxLine {
		return Entry{}, fmt.Errorf("%w: entry longer than %d bytes", ErrEntry, maxLine)
	}
	if _, err := l.f.Write(append(line, '\n')); err != nil {
		return Entry{}, fmt.Errorf("audit: %w", err)
	}
	if err := l.f.Sync(); err != nil {
		return Entry{}, fmt.Errorf("audit: %w", err)
	}
	l.next++
	l.prevHash = lineHash(line)
	if err := l.writeHead(e.Seq, l.prevHash); err != nil {
		return Entry{}, err
	}
	return e, nil
}

func cloneFields(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// writeHead atomically replaces the signed head: write a temporary file,
// fsync, rename over the head, fsync the directory.
func (l *Log) writeHead(seq uint64, hash string) error {
	h := head{Seq: seq, Hash: hash}
	var err error
	if h.Sig, err = sign(l.signer, headSigned(h)); err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(h); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	tmp := l.path + headSuffix + ".tmp"
	if err := writeSync(tmp, buf.Bytes()); err != nil {
		return err
	}
	if err := os.Rename(tmp, l.path+headSuffix); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return syncDir(filepath.Dir(l.path))
}

func writeSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("audit: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("audit: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}
