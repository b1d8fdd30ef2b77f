package p2p

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/protocol"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	tls "github.com/libp2p/go-libp2p/p2p/security/tls"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	msmux "github.com/multiformats/go-multistream"

	"github.com/consort-ml/consort/transport"
	"github.com/consort-ml/consort/transport/identity"
	"github.com/consort-ml/consort/transport/internal/envelope"
	"github.com/consort-ml/consort/transport/wire"
)

// AllowList decides who may connect and which protocols each peer may
// use. The federation manifest implements it (manifest.Manifest).
type AllowList interface {
	// AllowPeer reports whether id may connect at all. It is consulted at
	// the secured-connection step, before any stream exists.
	AllowPeer(id transport.PeerID) bool
	// AllowProtocol reports whether id may open streams on the protocol
	// with that name (e.g. "secagg"), according to its role.
	AllowProtocol(id transport.PeerID, protocol string) bool
}

// StaticAllowList maps each allowed peer to the protocol names it may
// use; the name "*" allows every protocol.
type StaticAllowList map[transport.PeerID][]string

// AllowPeer implements [AllowList].
func (s StaticAllowList) AllowPeer(id transport.PeerID) bool {
	_, ok := s[id]
	return ok
}

// AllowProtocol implements [AllowList].
func (s StaticAllowList) AllowProtocol(id transport.PeerID, protocol string) bool {
	for _, p := range s[id] {
		if p == "*" || p == protocol {
			return true
		}
	}
	return false
}

// Backoff bounds the waits between reconnection attempts: the first wait
// is Min, each next one doubles up to Max, each with up to 50% random
// jitter.
type Backoff struct {
	Min, Max time.Duration
}

// Secure channels for TCP connections (see [Config.Security]).
const (
	// SecurityTLS is libp2p's TLS 1.3 handshake (/tls/1.0.0). Go's TLS
	// stack encrypts with AES-128-GCM when both peers have AES hardware
	// and with ChaCha20-Poly1305 otherwise.
	SecurityTLS = "tls"
	// SecurityNoise is libp2p's Noise XX handshake (/noise), which
	// encrypts with ChaCha20-Poly1305.
	SecurityNoise = "noise"
)

// MaxStreamsPerPeer bounds [Config.StreamsPerPeer].
const MaxStreamsPerPeer = 64

// Config configures a [Host]. Identity, FederationID, Types and AllowList
// are required.
type Config struct {
	// Identity is the peer's Ed25519 key; its peer ID is the host's.
	Identity *identity.Identity
	// FederationID is stamped on and required of every envelope.
	FederationID string
	// ManifestDigest, when set, must equal the remote's for a stream to
	// be accepted (both peers hold the same signed manifest).
	ManifestDigest []byte
	// Types registers the message types; the host serves their protocols.
	Types *transport.Types
	// AllowList admits peers and their protocols.
	AllowList AllowList
	// ListenAddrs are multiaddrs to listen on. Default: TCP and QUIC on
	// 127.0.0.1 with ports chosen by the system. Production sets e.g.
	// /ip4/0.0.0.0/tcp/4001 and /ip4/0.0.0.0/udp/4001/quic-v1.
	ListenAddrs []string
	// StreamTimeout bounds every stream operation: the hello exchange,
	// writing or reading one frame and waiting for its receipt
	// (default 60 s).
	StreamTimeout time.Duration
	// IdleTimeout closes an inbound stream that carries no frame for
	// this long (default 10 min); the sender reopens it when needed.
	IdleTimeout time.Duration
	// Backoff paces reconnection attempts (default 100 ms to 5 s).
	Backoff Backoff
	// InboxSize is the number of received messages buffered for Recv
	// (default 256); a full inbox slows senders down (back pressure).
	InboxSize int
	// Security lists the secure channels offered on TCP, most preferred
	// first: [SecurityTLS] and/or [SecurityNoise] (default both, TLS
	// first). Two hosts use the first entry of the dialer's list that the
	// listener also offers. QUIC always uses its own TLS 1.3.
	Security []string
	// StreamsPerPeer is the number of streams a host may use at once to
	// send one protocol's messages to one peer (default 4): concurrent
	// Sends to the same peer travel in parallel, each on its own stream
	// with its own receipt, instead of waiting for each other.
	StreamsPerPeer int
	// Logger receives connection-level events (never payloads); default
	// discards.
	Logger *slog.Logger
}

func (c *Config) setDefaults() error {
	if c.Identity == nil {
		return fmt.Errorf("%w: no identity", transport.ErrBadConfig)
	}
	if c.Types == nil || len(c.Types.Protocols()) == 0 {
		return fmt.Errorf("%w: no message types", transport.ErrBadConfig)
	}
	if c.AllowList == nil {
		return fmt.Errorf("%w: no allow list", transport.ErrBadConfig)
	}
	if len(c.ManifestDigest) > wire.MaxDigest {
		return fmt.Errorf("%w: manifest digest of %d bytes", transport.ErrBadConfig, len(c.ManifestDigest))
	}
	if len(c.ListenAddrs) == 0 {
		c.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}
	}
	if c.StreamTimeout <= 0 {
		c.StreamTimeout = 60 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 10 * time.Minute
	}
	if c.Backoff.Min <= 0 {
		c.Backoff.Min = 100 * time.Millisecond
	}
	if c.Backoff.Max < c.Backoff.Min {
		c.Backoff.Max = max(5*time.Second, c.Backoff.Min)
	}
	if c.InboxSize <= 0 {
		c.InboxSize = 256
	}
	if len(c.Security) == 0 {
		c.Security = []string{SecurityTLS, SecurityNoise}
	}
	for i, name := range c.Security {
		if name != SecurityTLS && name != SecurityNoise {
			return fmt.Errorf("%w: security %q (want %q or %q)", transport.ErrBadConfig, name, SecurityTLS, SecurityNoise)
		}
		if slices.Contains(c.Security[:i], name) {
			return fmt.Errorf("%w: security %q listed twice", transport.ErrBadConfig, name)
		}
	}
	if c.StreamsPerPeer <= 0 {
		c.StreamsPerPeer = 4
	}
	if c.StreamsPerPeer > MaxStreamsPerPeer {
		return fmt.Errorf("%w: %d streams per peer (at most %d)", transport.ErrBadConfig, c.StreamsPerPeer, MaxStreamsPerPeer)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// ErrAddrInUse is returned by [New] when a listen address is taken, for
// instance by another consort process on the same port.
var ErrAddrInUse = errors.New("p2p: listen address already in use")

// Host is a [transport.Transport] over libp2p.
type Host struct {
	cfg    Config
	h      host.Host
	self   transport.PeerID
	sealer *envelope.Sealer
	codec  *wire.Codec
	meter  transport.Meter
	floor  transport.RoundFloor
	inbox  chan transport.Incoming
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	out      map[outKey]*outPool
	in       map[outKey]chan struct{}
	closed   bool
	jitterMu sync.Mutex
	jitter   *mrand.Rand
}

type outKey struct {
	peer  peer.ID
	proto string
}

// outPool holds the streams a host uses to send one protocol's messages
// to one peer: up to Config.StreamsPerPeer of them, each used by one Send
// at a time. sem counts the streams in use; idle is a stack, so that a
// lone sender keeps reusing the same stream.
type outPool struct {
	sem  chan struct{}
	mu   sync.Mutex
	idle []*outStream
}

// outStream is one long-lived outbound stream (nil s: not open).
type outStream struct {
	s  network.Stream
	br *bufio.Reader
}

// get waits for a free stream slot.
func (p *outPool) get(ctx, hostCtx context.Context) (*outStream, error) {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-hostCtx.Done():
		return nil, transport.ErrClosed
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.idle); n > 0 {
		st := p.idle[n-1]
		p.idle = p.idle[:n-1]
		return st, nil
	}
	return &outStream{}, nil
}

// put returns a stream taken with get. Open streams go on top of the
// stack; closed ones below them.
func (p *outPool) put(st *outStream) {
	p.mu.Lock()
	if st.s != nil {
		p.idle = append(p.idle, st)
	} else {
		p.idle = append([]*outStream{st}, p.idle...)
	}
	p.mu.Unlock()
	<-p.sem
}

var _ transport.Transport = (*Host)(nil)

// New starts a libp2p host: TCP (Noise, yamux) and QUIC (TLS 1.3)
// listeners, the allow-list connection gater, and one stream handler per
// protocol of cfg.Types. Relay, NAT port mapping, hole punching, metrics
// and ping are off; no bootstrap or discovery is configured, so the host
// talks only to peers given by [Host.AddPeer].
func New(cfg Config) (*Host, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	self := cfg.Identity.PeerID()
	codec, err := wire.NewCodec(cfg.Types.MaxSize())
	if err != nil {
		return nil, err
	}
	sealer, err := envelope.New(cfg.FederationID, self, cfg.Types, codec)
	if err != nil {
		codec.Close()
		return nil, err
	}
	var seed [32]byte
	if _, err := rand.Read(seed[:]); err != nil {
		codec.Close()
		return nil, fmt.Errorf("p2p: %w", err)
	}
	x := &Host{
		cfg:    cfg,
		self:   self,
		sealer: sealer,
		codec:  codec,
		inbox:  make(chan transport.Incoming, cfg.InboxSize),
		out:    map[outKey]*outPool{},
		in:     map[outKey]chan struct{}{},
		jitter: mrand.New(mrand.NewChaCha8(seed)),
	}
	x.ctx, x.cancel = context.WithCancel(context.Background())

	limits := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&limits)
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limits.AutoScale()))
	if err != nil {
		codec.Close()
		return nil, fmt.Errorf("p2p: resource manager: %w", err)
	}
	var security []libp2p.Option
	for _, name := range cfg.Security {
		switch name {
		case SecurityTLS:
			security = append(security, libp2p.Security(tls.ID, tls.New))
		case SecurityNoise:
			security = append(security, libp2p.Security(noise.ID, noise.New))
		}
	}
	h, err := libp2p.New(
		libp2p.Identity(cfg.Identity.LibP2PKey()),
		libp2p.NoListenAddrs, // listened on one by one below
		// No SO_REUSEPORT: with it a second process binds the same TCP
		// port without error and the kernel splits incoming connections
		// between the two (a second coordinator would silently take half
		// the nodes). QUIC's UDP sockets never set it.
		libp2p.Transport(tcp.NewTCPTransport, tcp.DisableReuseport()),
		libp2p.Transport(quic.NewTransport),
		libp2p.ChainOptions(security...),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.ConnectionGater(&gater{allow: cfg.AllowList, meter: &x.meter, log: cfg.Logger}),
		libp2p.ResourceManager(rm),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
		libp2p.DisableIdentifyAddressDiscovery(),
		libp2p.Ping(false),
		libp2p.UserAgent("consort"),
	)
	if err != nil {
		codec.Close()
		return nil, fmt.Errorf("p2p: starting host: %w", err)
	}
	// Every listen address must be bound: libp2p alone starts when any one
	// of them is, and a coordinator half-listening is a misconfiguration.
	for _, s := range cfg.ListenAddrs {
		if err := listen(h, s); err != nil {
			h.Close()
			codec.Close()
			return nil, err
		}
	}
	x.h = h
	for _, p := range cfg.Types.Protocols() {
		h.SetStreamHandler(protocol.ID(p.ID()), x.handler(p))
	}
	return x, nil
}

// listen binds one listen address, classifying a port held by another
// process as [ErrAddrInUse].
func listen(h host.Host, s string) error {
	a, err := ma.NewMultiaddr(s)
	if err != nil {
		return fmt.Errorf("%w: listen address %q: %w", transport.ErrBadConfig, s, err)
	}
	if err := h.Network().Listen(a); err != nil {
		if errors.Is(err, syscall.EADDRINUSE) || strings.Contains(err.Error(), "address already in use") {
			return fmt.Errorf("%w: %s", ErrAddrInUse, s)
		}
		return fmt.Errorf("p2p: listen on %s: %w", s, err)
	}
	return nil
}

// Self implements [transport.Transport].
func (x *Host) Self() transport.PeerID { return x.self }

// Addrs returns the host's listen addresses with its /p2p/ component,
// ready for another host's AddPeer.
func (x *Host) Addrs() []string {
	var out []string
	for _, a := range x.h.Addrs() {
		out = append(out, a.String()+"/p2p/"+string(x.self))
	}
	return out
}

// AddPeer records addresses for a peer (multiaddrs, with or without the
// /p2p/ component). Send dials them when it has no connection.
func (x *Host) AddPeer(id transport.PeerID, addrs ...string) error {
	pid, err := peer.Decode(string(id))
	if err != nil {
		return fmt.Errorf("p2p: %w: %w", identity.ErrPeerID, err)
	}
	for _, s := range addrs {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return fmt.Errorf("p2p: address %q: %w", s, err)
		}
		t, last := ma.SplitLast(a)
		if last != nil && last.Protocol().Code == ma.P_P2P {
			if last.Value() != string(id) {
				return fmt.Errorf("p2p: address %q names another peer", s)
			}
			a = t
		}
		x.h.Peerstore().AddAddr(pid, a, peerstore.PermanentAddrTTL)
	}
	return nil
}

// Connect dials a peer now (Send dials on demand anyway).
func (x *Host) Connect(ctx context.Context, id transport.PeerID) error {
	pid, err := peer.Decode(string(id))
	if err != nil {
		return fmt.Errorf("p2p: %w: %w", identity.ErrPeerID, err)
	}
	return x.h.Connect(ctx, peer.AddrInfo{ID: pid})
}

// Transports returns, per connected peer, the transport of the first
// connection ("tcp" or "quic-v1").
func (x *Host) Transports() map[transport.PeerID]string {
	out := map[transport.PeerID]string{}
	for _, c := range x.h.Network().Conns() {
		id := transport.PeerID(c.RemotePeer().String())
		if _, ok := out[id]; !ok {
			out[id] = c.ConnState().Transport
		}
	}
	return out
}

// Peers implements [transport.Transport]: connected, allowed peers.
func (x *Host) Peers() []transport.PeerID {
	var out []transport.PeerID
	for _, p := range x.h.Network().Peers() {
		id := transport.PeerID(p.String())
		if x.cfg.AllowList.AllowPeer(id) {
			out = append(out, id)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// SetRound implements [transport.Transport].
func (x *Host) SetRound(round uint64) { x.floor.Set(round) }

// Stats implements [transport.Transport]. Bytes are frame bytes on the
// stream (the Noise or QUIC encryption and yamux headers come on top).
func (x *Host) Stats() transport.Stats { return x.meter.Snapshot() }

// Recv implements [transport.Transport].
func (x *Host) Recv(ctx context.Context) (transport.Incoming, error) {
	for {
		select {
		case in := <-x.inbox:
			if x.floor.Stale(in.Round) {
				x.meter.CountRejected(transport.RejectStale)
				continue
			}
			return in, nil
		case <-ctx.Done():
			return transport.Incoming{}, ctx.Err()
		case <-x.ctx.Done():
			return transport.Incoming{}, transport.ErrClosed
		}
	}
}

// Close implements [transport.Transport]: it closes every connection and
// waits for the stream handlers to return.
func (x *Host) Close() error {
	x.mu.Lock()
	if x.closed {
		x.mu.Unlock()
		return nil
	}
	x.closed = true
	x.mu.Unlock()
	x.cancel()
	err := x.h.Close()
	x.wg.Wait()
	x.codec.Close()
	return err
}

// gater admits only allow-listed peers.
type gater struct {
	allow AllowList
	meter *transport.Meter
	log   *slog.Logger
}

func (g *gater) InterceptPeerDial(p peer.ID) bool {
	return g.allow.AllowPeer(transport.PeerID(p.String()))
}

func (g *gater) InterceptAddrDial(peer.ID, ma.Multiaddr) bool { return true }

func (g *gater) InterceptAccept(network.ConnMultiaddrs) bool { return true }

// InterceptSecured runs once the handshake has authenticated the remote
// key, in both directions: a peer outside the allow list never gets a
// muxer, let alone a stream.
func (g *gater) InterceptSecured(dir network.Direction, p peer.ID, addrs network.ConnMultiaddrs) bool {
	if g.allow.AllowPeer(transport.PeerID(p.String())) {
		return true
	}
	g.meter.CountRejected(transport.RejectPeer)
	g.log.Warn("p2p: refused connection from a peer outside the allow list", "peer", p.String(), "remote", addrs.RemoteMultiaddr().String(), "direction", dir.String())
	return false
}

func (g *gater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }

// ErrStream marks a stream-level failure (reset, deadline, connection
// lost) after which Send retried until its context ended.
var ErrStream = errors.New("p2p: stream failed")

// Send implements [transport.Transport]. It reuses one stream per peer
// and protocol, opening it (and the connection) on demand, writes the
// frame and waits for the receiver's receipt. Connection and stream
// failures are retried with backoff until ctx ends; a refusal by the
// receiver ([transport.ErrRefused]) is returned at once.
func (x *Host) Send(ctx context.Context, to transport.PeerID, msg transport.Message) error {
	head, payload, mt, err := x.sealer.Seal(msg)
	if err != nil {
		return err
	}
	pid, err := peer.Decode(string(to))
	if err != nil {
		return fmt.Errorf("p2p: %w: %w", identity.ErrPeerID, err)
	}
	if !x.cfg.AllowList.AllowPeer(to) {
		return fmt.Errorf("%w: %s is not in the allow list", transport.ErrUnknownPeer, to)
	}
	pool, err := x.outPool(outKey{pid, mt.Protocol.ID()})
	if err != nil {
		return err
	}
	st, err := pool.get(ctx, x.ctx)
	if err != nil {
		return err
	}
	defer pool.put(st)

	wait := time.Duration(0)
	var lastErr error
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			wait = x.nextBackoff(wait)
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("%w: %w (last error: %w)", ErrStream, ctx.Err(), lastErr)
			case <-x.ctx.Done():
				t.Stop()
				return transport.ErrClosed
			}
		}
		if st.s != nil && st.s.Conn().IsClosed() {
			// An idle pooled stream whose connection has gone: drop it
			// without spending an attempt on it.
			st.s.Reset()
			st.s, st.br = nil, nil
		}
		if st.s == nil {
			dctx := ctx
			if attempt > 0 {
				dctx = network.WithForceDirectDial(ctx, "consort reconnect")
			}
			if err := x.openStream(dctx, st, pid, mt.Protocol); err != nil {
				if errors.Is(err, transport.ErrRefused) || errors.Is(err, ErrProtocol) {
					return err
				}
				lastErr = err
				if ctx.Err() != nil {
					return fmt.Errorf("%w: %w (last error: %w)", ErrStream, ctx.Err(), lastErr)
				}
				continue
			}
		}
		status, err := x.exchange(ctx, st, head, payload)
		if err != nil {
			st.s.Reset()
			st.s, st.br = nil, nil
			lastErr = err
			x.cfg.Logger.Debug("p2p: send failed, retrying", "peer", string(to), "type", msg.Type, "err", err)
			continue
		}
		if status != wire.Status_STATUS_OK {
			return fmt.Errorf("%w: message %q: %s", transport.ErrRefused, msg.Type, status)
		}
		x.meter.CountSent(to, msg.Type, len(head)+len(payload))
		return nil
	}
}

func (x *Host) nextBackoff(prev time.Duration) time.Duration {
	d := min(max(2*prev, x.cfg.Backoff.Min), x.cfg.Backoff.Max)
	x.jitterMu.Lock()
	j := time.Duration(x.jitter.Int64N(int64(d)/2 + 1))
	x.jitterMu.Unlock()
	return d/2 + j
}

func (x *Host) outPool(k outKey) (*outPool, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return nil, transport.ErrClosed
	}
	p := x.out[k]
	if p == nil {
		p = &outPool{sem: make(chan struct{}, x.cfg.StreamsPerPeer)}
		x.out[k] = p
	}
	return p, nil
}

// ErrProtocol marks a peer that does not speak the protocol (stream
// negotiation failed).
var ErrProtocol = errors.New("p2p: protocol not supported by peer")

// openStream opens a stream and runs the hello exchange.
func (x *Host) openStream(ctx context.Context, st *outStream, pid peer.ID, p transport.Protocol) error {
	octx, cancel := context.WithTimeout(ctx, x.cfg.StreamTimeout)
	defer cancel()
	s, err := x.h.NewStream(octx, pid, protocol.ID(p.ID()))
	if err != nil {
		// A dial that failed to negotiate a secure channel or muxer also
		// wraps ErrNotSupported: that is a connection failure (retried),
		// not a peer without our protocol.
		var dialErr *swarm.DialError
		if errors.Is(err, msmux.ErrNotSupported[protocol.ID]{}) && !errors.As(err, &dialErr) {
			return fmt.Errorf("%w: %s: %w", ErrProtocol, p.ID(), err)
		}
		return fmt.Errorf("p2p: opening %s stream: %w", p.ID(), err)
	}
	hello := wire.AppendHello(nil, &wire.Hello{
		FederationId:   x.cfg.FederationID,
		Sender:         string(x.self),
		Protocol:       p.ID(),
		ManifestDigest: x.cfg.ManifestDigest,
	})
	frame := wire.AppendHeader(make([]byte, 0, len(hello)+wire.MaxHeader), wire.KindHello, "", len(hello))
	frame = append(frame, hello...)
	deadline := x.deadline(ctx)
	_ = s.SetDeadline(deadline)
	br := bufio.NewReaderSize(s, 4096)
	if _, err := s.Write(frame); err != nil {
		s.Reset()
		return fmt.Errorf("p2p: writing hello: %w", err)
	}
	f, err := wire.ReadFrame(br, noEnvelopes)
	if err != nil {
		s.Reset()
		return fmt.Errorf("p2p: reading hello reply: %w", err)
	}
	if f.Kind != wire.KindHelloReply {
		s.Reset()
		return fmt.Errorf("p2p: %w: expected a hello reply", wire.ErrMalformed)
	}
	r, err := wire.DecodeHelloReply(f.Body)
	if err != nil {
		s.Reset()
		return fmt.Errorf("p2p: hello reply: %w", err)
	}
	if r.Status != wire.Status_STATUS_OK {
		s.Reset()
		return fmt.Errorf("%w: stream %s: %s", transport.ErrRefused, p.ID(), r.Status)
	}
	st.s, st.br = s, br
	return nil
}

// exchange writes one envelope frame and reads its receipt.
func (x *Host) exchange(ctx context.Context, st *outStream, head, payload []byte) (wire.Status, error) {
	_ = st.s.SetDeadline(x.deadline(ctx))
	if _, err := st.s.Write(head); err != nil {
		return 0, err
	}
	if len(payload) > 0 {
		if _, err := st.s.Write(payload); err != nil {
			return 0, err
		}
	}
	f, err := wire.ReadFrame(st.br, noEnvelopes)
	if err != nil {
		return 0, err
	}
	if f.Kind != wire.KindReceipt {
		return 0, fmt.Errorf("p2p: %w: expected a receipt", wire.ErrMalformed)
	}
	r, err := wire.DecodeReceipt(f.Body)
	if err != nil {
		return 0, err
	}
	return r.Status, nil
}

// deadline is now+StreamTimeout, or the context's deadline if sooner.
func (x *Host) deadline(ctx context.Context) time.Time {
	d := time.Now().Add(x.cfg.StreamTimeout)
	if cd, ok := ctx.Deadline(); ok && cd.Before(d) {
		return cd
	}
	return d
}

func noEnvelopes(string) (int, bool) { return 0, false }

// handler serves inbound streams of one protocol.
func (x *Host) handler(p transport.Protocol) network.StreamHandler {
	return func(s network.Stream) {
		// Add under the lock that Close takes before Wait, so that no
		// handler starts once Close waits.
		x.mu.Lock()
		if x.closed {
			x.mu.Unlock()
			s.Reset()
			return
		}
		x.wg.Add(1)
		x.mu.Unlock()
		defer x.wg.Done()
		x.serve(s, p)
	}
}

// inSlots returns the semaphore that bounds the streams served at once
// for one peer and protocol.
func (x *Host) inSlots(k outKey) chan struct{} {
	x.mu.Lock()
	defer x.mu.Unlock()
	sem := x.in[k]
	if sem == nil {
		sem = make(chan struct{}, x.cfg.StreamsPerPeer)
		x.in[k] = sem
	}
	return sem
}

func (x *Host) serve(s network.Stream, p transport.Protocol) {
	remote := transport.PeerID(s.Conn().RemotePeer().String())
	// At most StreamsPerPeer streams per peer and protocol are served at
	// once, so that a peer holds at most that many frame buffers here; a
	// further stream waits for a slot (its sender, waiting for the hello
	// reply, is held back) and is reset after StreamTimeout.
	sem := x.inSlots(outKey{s.Conn().RemotePeer(), p.ID()})
	wait := time.NewTimer(x.cfg.StreamTimeout)
	select {
	case sem <- struct{}{}:
		wait.Stop()
	case <-wait.C:
		x.meter.CountRejected(transport.RejectOverflow)
		s.Reset()
		return
	case <-x.ctx.Done():
		wait.Stop()
		s.Reset()
		return
	}
	defer func() { <-sem }()
	br := bufio.NewReaderSize(s, 64<<10)
	_ = s.SetDeadline(time.Now().Add(x.cfg.StreamTimeout))
	f, err := wire.ReadFrame(br, noEnvelopes)
	if err == nil && f.Kind != wire.KindHello {
		err = fmt.Errorf("%w: stream does not start with a hello", wire.ErrMalformed)
	}
	if err != nil {
		if reason := classifyStreamError(err); reason != "" {
			x.meter.CountRejected(reason)
		}
		s.Reset()
		return
	}
	hello, err := wire.DecodeHello(f.Body)
	if err != nil {
		x.meter.CountRejected(transport.RejectMalformed)
		s.Reset()
		return
	}
	status, reason := wire.Status_STATUS_OK, transport.Reason("")
	switch {
	case hello.Protocol != p.ID():
		status, reason = wire.Status_STATUS_MALFORMED, transport.RejectMalformed
	case hello.FederationId != x.cfg.FederationID:
		status, reason = wire.Status_STATUS_WRONG_FEDERATION, transport.RejectFederation
	case hello.Sender != string(remote):
		status, reason = wire.Status_STATUS_SENDER_MISMATCH, transport.RejectSender
	case len(x.cfg.ManifestDigest) > 0 && subtle.ConstantTimeCompare(hello.ManifestDigest, x.cfg.ManifestDigest) != 1:
		// A host bound to a manifest requires the same digest in every
		// hello: one without a digest is refused too.
		status, reason = wire.Status_STATUS_MANIFEST_MISMATCH, transport.RejectManifest
	case !x.cfg.AllowList.AllowProtocol(remote, p.Name):
		status, reason = wire.Status_STATUS_PROTOCOL_REFUSED, transport.RejectProtocol
	}
	if err := x.writeControl(s, wire.KindHelloReply, wire.AppendHelloReply(nil, &wire.HelloReply{Status: status})); err != nil {
		s.Reset()
		return
	}
	if status != wire.Status_STATUS_OK {
		x.meter.CountRejected(reason)
		x.cfg.Logger.Info("p2p: refused stream", "peer", string(remote), "protocol", p.ID(), "status", status.String())
		s.Close()
		return
	}
	for {
		// Wait for the next frame up to the idle timeout, then give the
		// whole frame the stream timeout.
		_ = s.SetReadDeadline(time.Now().Add(x.cfg.IdleTimeout))
		if _, err := br.Peek(1); err != nil {
			if errors.Is(err, io.EOF) {
				s.Close()
			} else {
				s.Reset()
			}
			return
		}
		_ = s.SetDeadline(time.Now().Add(x.cfg.StreamTimeout))
		f, err := wire.ReadFrame(br, x.sealer.Limit)
		if err != nil {
			if reason := classifyStreamError(err); reason != "" {
				x.meter.CountRejected(reason)
				x.cfg.Logger.Info("p2p: resetting stream", "peer", string(remote), "protocol", p.ID(), "reason", string(reason))
			}
			s.Reset()
			return
		}
		in, err := x.sealer.Open(remote, f, &x.floor, p.Name)
		if err != nil {
			var rej *envelope.Rejection
			if !errors.As(err, &rej) {
				s.Reset()
				return
			}
			x.meter.CountRejected(rej.Reason)
			if rej.Hard() {
				x.cfg.Logger.Info("p2p: resetting stream", "peer", string(remote), "protocol", p.ID(), "reason", string(rej.Reason))
				s.Reset()
				return
			}
			if err := x.writeControl(s, wire.KindReceipt, wire.AppendReceipt(nil, &wire.Receipt{Status: rej.Status})); err != nil {
				s.Reset()
				return
			}
			continue
		}
		status := wire.Status_STATUS_OK
		t := time.NewTimer(x.cfg.StreamTimeout)
		select {
		case x.inbox <- in:
			x.meter.CountReceived(remote, in.Type, f.Size)
		case <-t.C:
			status = wire.Status_STATUS_OVERLOADED
			x.meter.CountRejected(transport.RejectOverflow)
		case <-x.ctx.Done():
			t.Stop()
			s.Reset()
			return
		}
		t.Stop()
		if err := x.writeControl(s, wire.KindReceipt, wire.AppendReceipt(nil, &wire.Receipt{Status: status})); err != nil {
			s.Reset()
			return
		}
	}
}

// classifyStreamError returns the reason to count for a failed frame
// read: bad bytes or a missed deadline; "" for a connection that went away.
func classifyStreamError(err error) transport.Reason {
	var ne net.Error
	switch {
	case errors.Is(err, wire.ErrMalformed) || errors.Is(err, wire.ErrTooLarge) || errors.Is(err, wire.ErrUnknownType):
		return envelope.Classify(err).Reason
	case errors.As(err, &ne) && ne.Timeout():
		return transport.RejectTimeout
	}
	return ""
}

func (x *Host) writeControl(s network.Stream, kind wire.Kind, body []byte) error {
	var buf [wire.MaxHeader + 16]byte
	frame := wire.AppendHeader(buf[:0], kind, "", len(body))
	frame = append(frame, body...)
	_ = s.SetWriteDeadline(time.Now().Add(x.cfg.StreamTimeout))
	_, err := s.Write(frame)
	return err
}
