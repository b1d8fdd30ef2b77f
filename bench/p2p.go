package bench

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"text/tabwriter"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/consort-ml/consort/transport"
	"github.com/consort-ml/consort/transport/identity"
	"github.com/consort-ml/consort/transport/p2p"
)

// ErrP2PConfig marks an invalid [P2PConfig].
var ErrP2PConfig = errors.New("bench: bad p2p config")

// P2PTarget is the throughput ratio to raw TCP that transport/p2p should
// reach for messages of at least P2PTargetSize bytes.
const (
	P2PTarget     = 0.7
	P2PTargetSize = 16 << 20
)

// P2PConfig describes the transport benchmark: one libp2p host sends
// messages of each size to another over loopback, through the full stack
// (envelope, Noise or QUIC encryption, yamux, one receipt per message),
// and the same bytes go over a plain TCP loopback connection in the same
// process, in alternating batches.
type P2PConfig struct {
	// Sizes are the payload sizes in bytes (default 64 KiB and 16 MiB).
	Sizes []int
	// Transports are "tcp" (the host's default secure channel, TLS 1.3
	// preferred, and yamux), "tcp-tls", "tcp-noise" (one secure channel
	// only) and "quic" (default tcp).
	Transports []string
	// Duration is the time spent per transport and size (default 2 s).
	Duration time.Duration
	// Windows are the numbers of Sends under way at once (default 1 and
	// 4): 1 is a lone sender waiting for each receipt; more keep several
	// messages in flight, each on its own stream.
	Windows []int
	// Batch is the length of one timed batch (default 100 ms; at least
	// one message).
	Batch time.Duration
}

// DefaultP2PConfig returns 64 KiB and 16 MiB over TCP.
func DefaultP2PConfig() P2PConfig {
	return P2PConfig{
		Sizes:      []int{64 << 10, 16 << 20},
		Transports: []string{"tcp"},
		Windows:    []int{1, 4},
		Duration:   2 * time.Second,
		Batch:      100 * time.Millisecond,
	}
}

func (c P2PConfig) withDefaults() P2PConfig {
	d := DefaultP2PConfig()
	if len(c.Sizes) == 0 {
		c.Sizes = d.Sizes
	}
	if len(c.Transports) == 0 {
		c.Transports = d.Transports
	}
	if len(c.Windows) == 0 {
		c.Windows = d.Windows
	}
	if c.Duration == 0 {
		c.Duration = d.Duration
	}
	if c.Batch == 0 {
		c.Batch = d.Batch
	}
	return c
}

// Validate checks the configuration (zero fields take their defaults).
func (c P2PConfig) Validate() error {
	for _, s := range c.Sizes {
		if s < 1 || s > transport.MaxMessageSize {
			return fmt.Errorf("%w: size %d not in [1, %d]", ErrP2PConfig, s, transport.MaxMessageSize)
		}
	}
	for _, t := range c.Transports {
		if !slices.Contains(p2pTransports(), t) {
			return fmt.Errorf("%w: transport %q (want one of %v)", ErrP2PConfig, t, p2pTransports())
		}
	}
	for _, w := range c.Windows {
		if w < 1 || w > p2p.MaxStreamsPerPeer {
			return fmt.Errorf("%w: window %d not in [1, %d]", ErrP2PConfig, w, p2p.MaxStreamsPerPeer)
		}
	}
	if c.Duration < 0 || c.Batch < 0 {
		return fmt.Errorf("%w: negative duration", ErrP2PConfig)
	}
	return nil
}

// p2pTransports are the transports P2PConfig accepts: tcp with the
// host's default secure channel (TLS 1.3 preferred), tcp with Noise or TLS
// only, and QUIC.
func p2pTransports() []string { return []string{"tcp", "tcp-tls", "tcp-noise", "quic"} }

// P2PResult is the outcome for one transport and size.
type P2PResult struct {
	Transport string
	Size      int
	// Window is the number of Sends under way at once.
	Window int
	// Messages is the number of messages sent through p2p.
	Messages int
	// MBps is the payload rate through transport/p2p (Send to Recv).
	MBps float64
	// RawMBps is the rate of the same bytes over plain loopback TCP.
	RawMBps float64
	// Ratio is the median of the per-batch ratios MBps/RawMBps.
	Ratio float64
	// CipherMBps is the rate of the connection's AEAD sealing the same
	// bytes in this process (ChaCha20-Poly1305 in 64 KiB Noise frames for
	// tcp, AES-128-GCM in 1252-byte packets for quic): the cost every byte
	// pays on each side, which raw TCP does not.
	CipherMBps float64
	// CipherRatio is MBps/CipherMBps.
	CipherRatio float64
	// WireOverhead is frame bytes counted by the transport over payload
	// bytes, minus 1 (envelope and frame headers; before encryption).
	WireOverhead float64
	// Target is P2PTarget for sizes >= P2PTargetSize, else 0.
	Target float64
	// Pass reports Ratio >= Target.
	Pass bool
}

const benchFederation = "bench"

var benchProtocol = transport.Protocol{Name: "bench", Major: 1}

// p2pPair is a sender and a receiver host on loopback.
type p2pPair struct {
	a, b *p2p.Host
}

// newP2PPair starts two hosts that send each other up to window messages
// at once.
func newP2PPair(transportName string, maxSize, window int) (*p2pPair, error) {
	types, err := transport.NewTypes(transport.MessageType{Name: "bench/blob", Protocol: benchProtocol, MaxSize: maxSize})
	if err != nil {
		return nil, err
	}
	listen := "/ip4/127.0.0.1/tcp/0"
	var security []string
	switch transportName {
	case "quic":
		listen = "/ip4/127.0.0.1/udp/0/quic-v1"
	case "tcp-noise":
		security = []string{p2p.SecurityNoise}
	case "tcp-tls":
		security = []string{p2p.SecurityTLS}
	}
	ida, err := identity.Generate(rand.Reader)
	if err != nil {
		return nil, err
	}
	idb, err := identity.Generate(rand.Reader)
	if err != nil {
		return nil, err
	}
	allow := p2p.StaticAllowList{ida.PeerID(): {"*"}, idb.PeerID(): {"*"}}
	mk := func(id *identity.Identity) (*p2p.Host, error) {
		return p2p.New(p2p.Config{Identity: id, FederationID: benchFederation, Types: types, AllowList: allow, ListenAddrs: []string{listen}, Security: security, StreamsPerPeer: window})
	}
	a, err := mk(ida)
	if err != nil {
		return nil, err
	}
	b, err := mk(idb)
	if err != nil {
		a.Close()
		return nil, err
	}
	if err := a.AddPeer(b.Self(), b.Addrs()...); err != nil {
		a.Close()
		b.Close()
		return nil, err
	}
	return &p2pPair{a: a, b: b}, nil
}

func (p *p2pPair) Close() {
	p.a.Close()
	p.b.Close()
}

// transfer sends n messages of payload from a to b, with up to window
// Sends under way at once, and waits until b has received them all.
func (p *p2pPair) transfer(ctx context.Context, payload []byte, n, window int) error {
	window = max(1, min(window, n))
	errc := make(chan error, window)
	next := make(chan struct{}, n)
	for range n {
		next <- struct{}{}
	}
	close(next)
	for range window {
		go func() {
			for range next {
				if err := p.a.Send(ctx, p.b.Self(), transport.Message{Type: "bench/blob", Payload: payload}); err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
	}
	for range n {
		in, err := p.b.Recv(ctx)
		if err != nil {
			return err
		}
		if len(in.Payload) != len(payload) {
			return fmt.Errorf("bench: received %d bytes, sent %d", len(in.Payload), len(payload))
		}
	}
	for range window {
		if err := <-errc; err != nil {
			return err
		}
	}
	return nil
}

// rawTCP is a loopback TCP connection that carries length-prefixed
// messages.
type rawTCP struct {
	ln       net.Listener
	src, dst net.Conn
	buf      []byte
}

func newRawTCP(maxSize int) (*rawTCP, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	acc := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			acc <- nil
			return
		}
		acc <- c
	}()
	src, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		ln.Close()
		return nil, err
	}
	dst := <-acc
	if dst == nil {
		src.Close()
		ln.Close()
		return nil, errors.New("bench: raw tcp accept failed")
	}
	return &rawTCP{ln: ln, src: src, dst: dst, buf: make([]byte, maxSize)}, nil
}

func (r *rawTCP) Close() {
	r.src.Close()
	r.dst.Close()
	r.ln.Close()
}

// transfer writes n length-prefixed messages and reads them back.
func (r *rawTCP) transfer(payload []byte, n int) error {
	errc := make(chan error, 1)
	go func() {
		var hdr [8]byte
		binary.LittleEndian.PutUint64(hdr[:], uint64(len(payload)))
		for range n {
			if _, err := r.src.Write(hdr[:]); err != nil {
				errc <- err
				return
			}
			if _, err := r.src.Write(payload); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	var hdr [8]byte
	for range n {
		if _, err := io.ReadFull(r.dst, hdr[:]); err != nil {
			return err
		}
		size := binary.LittleEndian.Uint64(hdr[:])
		if size > uint64(len(r.buf)) {
			return errors.New("bench: raw tcp frame too large")
		}
		if _, err := io.ReadFull(r.dst, r.buf[:size]); err != nil {
			return err
		}
	}
	return <-errc
}

// P2PRun measures one transport at one size: alternating batches of p2p
// and raw TCP transfers for about total. It returns the result with the
// rates (medians over batches) and the median per-pair ratio.
func P2PRun(transportName string, size, window int, total, batch time.Duration) (P2PResult, error) {
	pair, err := newP2PPair(transportName, size, window)
	if err != nil {
		return P2PResult{}, err
	}
	defer pair.Close()
	raw, err := newRawTCP(size)
	if err != nil {
		return P2PResult{}, err
	}
	defer raw.Close()
	payload := make([]byte, size)
	rand.Read(payload) // incompressible, like masked vectors
	ctx, cancel := context.WithTimeout(context.Background(), total+time.Minute)
	defer cancel()

	// Warm up (connection, stream, buffers) and size the batches.
	start := time.Now()
	if err := pair.transfer(ctx, payload, 1, 1); err != nil {
		return P2PResult{}, err
	}
	per := time.Since(start)
	if err := raw.transfer(payload, 1); err != nil {
		return P2PResult{}, err
	}
	n := max(window, int(batch/max(per, time.Microsecond)))
	before := pair.a.Stats().Sent

	var rates, raws, ratios []float64
	sent := 0
	start = time.Now()
	for i := 0; i < 3 || time.Since(start) < total; i++ {
		timeIt := func(f func() error) (float64, error) {
			t0 := time.Now()
			if err := f(); err != nil {
				return 0, err
			}
			return float64(size) * float64(n) / time.Since(t0).Seconds() / 1e6, nil
		}
		var r, l float64
		pf := func() error { return pair.transfer(ctx, payload, n, window) }
		rf := func() error { return raw.transfer(payload, n) }
		if i%2 == 0 {
			if l, err = timeIt(rf); err == nil {
				r, err = timeIt(pf)
			}
		} else {
			if r, err = timeIt(pf); err == nil {
				l, err = timeIt(rf)
			}
		}
		if err != nil {
			return P2PResult{}, err
		}
		sent += n
		rates, raws, ratios = append(rates, r), append(raws, l), append(ratios, r/l)
	}
	after := pair.a.Stats().Sent
	cipherRate, err := cipherMBps(transportName, batch)
	if err != nil {
		return P2PResult{}, err
	}
	res := P2PResult{
		CipherMBps: cipherRate, CipherRatio: median(rates) / cipherRate,
		Transport: transportName, Size: size, Window: window, Messages: sent,
		MBps: median(rates), RawMBps: median(raws), Ratio: median(ratios),
		WireOverhead: float64(after.Bytes-before.Bytes)/float64(int64(sent)*int64(size)) - 1,
		Pass:         true,
	}
	if size >= P2PTargetSize {
		res.Target = P2PTarget
		res.Pass = res.Ratio >= P2PTarget
	}
	return res, nil
}

// RunP2P measures every transport and size of cfg, writes a table to w
// and returns the results.
func RunP2P(cfg P2PConfig, w io.Writer) ([]P2PResult, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	var results []P2PResult
	for _, tr := range cfg.Transports {
		for _, size := range slices.Sorted(slices.Values(cfg.Sizes)) {
			for _, win := range cfg.Windows {
				r, err := P2PRun(tr, size, win, cfg.Duration, cfg.Batch)
				if err != nil {
					return results, fmt.Errorf("bench: p2p %s %s window %d: %w", tr, sizeString(size), win, err)
				}
				results = append(results, r)
			}
		}
	}
	return results, writeP2PTable(w, results)
}

func writeP2PTable(w io.Writer, results []P2PResult) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "transport\tsize\twindow\tmessages\tp2p MB/s\traw TCP MB/s\tratio\tcipher MB/s\tp2p/cipher\tframe overhead\ttarget\tpass\t")
	for _, r := range results {
		target, pass := verdict(">=", r.Target, r.Pass)
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.0f\t%.0f\t%.2f\t%.0f\t%.2f\t%.4f%%\t%s\t%s\t\n",
			r.Transport, sizeString(r.Size), r.Window, r.Messages, r.MBps, r.RawMBps, r.Ratio, r.CipherMBps, r.CipherRatio, 100*r.WireOverhead, target, pass)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, "p2p: window Sends under way at once, each on its own stream and waiting for the receiver's receipt; raw TCP: the same bytes streamed over a loopback socket in this process.\n"+
		"cipher: one core sealing the same bytes with the connection's AEAD (each byte is sealed by the sender and opened by the receiver).\n"+
		"Rates are medians over alternating batches; ratio is the median of the per-pair ratios.")
	return err
}

// cipherMBps measures the AEAD of a transport sealing in its record size
// for about d.
func cipherMBps(transportName string, d time.Duration) (float64, error) {
	var aead cipher.AEAD
	var err error
	key := make([]byte, 32)
	var record int
	switch transportName {
	case "tcp-noise":
		record = 65535 - 16 // a Noise transport message, tag included
		aead, err = chacha20poly1305.New(key)
	default:
		record = 16 << 10 // a TLS 1.3 record
		if transportName == "quic" {
			record = 1252 // a QUIC packet's payload
		}
		var blk cipher.Block
		if blk, err = aes.NewCipher(key[:16]); err == nil {
			aead, err = cipher.NewGCM(blk)
		}
	}
	if err != nil {
		return 0, err
	}
	const total = 4 << 20
	src := make([]byte, record)
	dst := make([]byte, 0, record+aead.Overhead())
	nonce := make([]byte, aead.NonceSize())
	sealAll := func() {
		for n := 0; n < total; n += record {
			binary.LittleEndian.PutUint64(nonce, uint64(n))
			dst = aead.Seal(dst[:0], nonce, src, nil)
		}
	}
	sealAll()
	var rates []float64
	start := time.Now()
	for i := 0; i < 3 || time.Since(start) < d; i++ {
		t0 := time.Now()
		sealAll()
		rates = append(rates, total/time.Since(t0).Seconds()/1e6)
	}
	return median(rates), nil
}
