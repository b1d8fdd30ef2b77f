package federated

import (
	"crypto"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"

	"github.com/consort-ml/consort/kernels"
	"github.com/consort-ml/consort/mpc/secagg"
	"github.com/consort-ml/consort/transport"
)

// Networked secure aggregation: the pure state machines of package
// mpc/secagg, one per participant and one at the aggregator, with each
// secagg step carried as its own transport message type (so each has its own
// size limit).

// netSecAggCompleteMax is the largest participant count that uses the
// complete graph of the original SecAgg; larger rounds use the SecAgg+ graph.
const netSecAggCompleteMax = 40

var netSecAggSteps = []secagg.Step{
	secagg.StepAdvertiseKeys, secagg.StepKeyList, secagg.StepShareKeys, secagg.StepShares,
	secagg.StepMaskedInput, secagg.StepUnmask, secagg.StepUnmaskShares, secagg.StepDone, secagg.StepAbort,
}

func netSecAggType(s secagg.Step) string { return "secagg/" + s.String() }

type secaggProtocol struct{}

func (secaggProtocol) Name() string { return "secagg" }
func (secaggProtocol) Secure() bool { return true }
func (secaggProtocol) ContributionType() string {
	return netSecAggType(secagg.StepMaskedInput)
}
func (secaggProtocol) Types(maxDim, maxParties int) []transport.MessageType {
	p := transport.Protocol{Name: "secagg", Major: 1}
	small := 256*maxParties + 4096
	var out []transport.MessageType
	for _, s := range netSecAggSteps {
		size := small
		if s == secagg.StepMaskedInput {
			size = 8*maxDim + 4096 // 64-bit ring in the statistics phases
		}
		out = append(out, transport.MessageType{Name: netSecAggType(s), Protocol: p, MaxSize: size})
	}
	return out
}

// netSecAggParams derives the round's secagg parameters from what both sides
// agreed in RoundStart. The manifest's threshold T is the fewest contributors
// (MinSurvivors). Up to netSecAggCompleteMax participants the graph is
// complete and a party's secrets are shared T-of-n, so fewer than T colluding
// parties (aggregator included) learn nothing; beyond, k and the share
// threshold come from secagg.Recommend with the dropout fraction (n-T)/n and a
// corruption bound of one third.
func netSecAggParams(p sessionParams, ids []ed25519.PublicKey) (*secagg.Params, uint, error) {
	cfg := secagg.Config{
		FederationID: p.FederationID, Round: p.Attempt, Parties: p.Parties, Dim: p.Dim, Bits: p.bits(),
		Threshold: max(p.Threshold, 2), MinSurvivors: max(p.Threshold, 2), Identities: ids[1:],
	}
	if p.Parties < 2 {
		return nil, 0, fmt.Errorf("%w: secure aggregation needs at least 2 participants", ErrSession)
	}
	if cfg.Threshold > p.Parties {
		cfg.Threshold, cfg.MinSurvivors = p.Parties, p.Parties
	}
	if p.Parties > netSecAggCompleteMax {
		// The graph is sized for the dropouts the threshold tolerates (at
		// most half: beyond, SecAgg+ gains nothing over the complete graph).
		dropout := min(float64(p.Parties-p.Threshold)/float64(p.Parties), 0.5)
		k, t, err := secagg.Recommend(p.Parties, dropout, 1.0/3)
		if err != nil {
			k, t = 0, p.Threshold // the complete graph of the original SecAgg
		}
		// The share threshold never drops below the manifest's: fewer
		// than T colluding parties must learn nothing. A party shares among
		// itself and its k neighbours, so k+1 >= T (k even, or complete).
		t = max(t, p.Threshold)
		if k+1 < t {
			k = t - 1 + (t-1)%2
		}
		if k >= p.Parties-1 {
			k = 0 // complete graph
		}
		cfg.Degree, cfg.Threshold = k, t
		cfg.MinSurvivors = max(p.Threshold, t)
	}
	for i := 1; i < len(ids); i++ {
		if len(ids[i]) != ed25519.PublicKeySize {
			return nil, 0, fmt.Errorf("%w: participant %d has no Ed25519 identity (secagg needs real peer IDs)", ErrSession, i)
		}
	}
	params, err := secagg.NewParams(cfg)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrSession, err)
	}
	frac, err := SecAggFracBits(p.bits(), p.Parties, p.Bound)
	if err != nil {
		return nil, 0, err
	}
	return params, frac, nil
}

func (secaggProtocol) NewServer(p sessionParams, ids []ed25519.PublicKey) (serverSession, error) {
	params, frac, err := netSecAggParams(p, ids)
	if err != nil {
		return nil, err
	}
	s, err := secagg.NewServer(secagg.ServerConfig{Params: params})
	if err != nil {
		return nil, err
	}
	return &netSecAggServer{s: s, frac: frac}, nil
}

func (secaggProtocol) NewClient(p sessionParams, ids []ed25519.PublicKey, id int, input []float32, self Signer, rand io.Reader) (clientSession, error) {
	if self == nil {
		return nil, fmt.Errorf("%w: secagg needs the node's identity key", ErrBadConfig)
	}
	if len(input) != p.Dim {
		return nil, fmt.Errorf("%w: input of %d values, want %d", ErrSession, len(input), p.Dim)
	}
	params, frac, err := netSecAggParams(p, ids)
	if err != nil {
		return nil, err
	}
	var seed [32]byte
	if _, err := io.ReadFull(rand, seed[:]); err != nil {
		return nil, err
	}
	cc := secagg.ClientConfig{Params: params, ID: id, Signer: cryptoSigner{self}}
	switch {
	case p.Ring32 != nil:
		if p.Wide || len(p.Ring32) != p.Dim {
			return nil, fmt.Errorf("%w: ring contribution of %d values for a %d-bit round of %d", ErrSession, len(p.Ring32), p.bits(), p.Dim)
		}
		cc.Input32 = p.Ring32
	case p.Wide:
		cc.Input64 = make([]uint64, p.Dim)
		kernels.EncodeStochastic64(cc.Input64, input, frac, seed)
	default:
		cc.Input32 = make([]uint32, p.Dim)
		kernels.EncodeStochastic32(cc.Input32, input, frac, seed)
	}
	c, err := secagg.NewClient(cc, rand)
	if err != nil {
		return nil, err
	}
	return &netSecAggClient{c: c}, nil
}

// cryptoSigner adapts a Signer to crypto.Signer (Ed25519 signs the message
// itself, not a digest).
type cryptoSigner struct{ s Signer }

func (c cryptoSigner) Public() crypto.PublicKey { return c.s.PublicKey() }
func (c cryptoSigner) Sign(_ io.Reader, msg []byte, _ crypto.SignerOpts) ([]byte, error) {
	return c.s.Sign(msg), nil
}

func toNet(ms []secagg.Message) []netMsg {
	out := make([]netMsg, 0, len(ms))
	for _, m := range ms {
		if len(m.Data) < 2 {
			continue
		}
		out = append(out, netMsg{Peer: m.To, Type: netSecAggType(secagg.Step(m.Data[1])), Step: uint32(m.Data[1]), Payload: m.Data})
	}
	return out
}

// checkStepType makes sure a message's transport type matches its secagg
// step, so each step's size limit applies to it.
func checkStepType(m netMsg) error {
	if len(m.Payload) < 2 || m.Type != netSecAggType(secagg.Step(m.Payload[1])) {
		return fmt.Errorf("%w: secagg message under type %s", ErrSession, m.Type)
	}
	return nil
}

type netSecAggServer struct {
	s    *secagg.Server
	frac uint
}

func (s *netSecAggServer) Handle(from int, m netMsg) ([]netMsg, error) {
	if err := checkStepType(m); err != nil {
		return nil, err
	}
	out, err := s.s.Step(secagg.Message{From: from, To: 0, Data: m.Payload})
	if errors.Is(err, secagg.ErrUnexpected) {
		return nil, nil
	}
	return toNet(out), err
}

func (s *netSecAggServer) Advance() ([]netMsg, error) {
	out, err := s.s.Advance()
	return toNet(out), err
}

func (s *netSecAggServer) Result() ([]float32, []int, bool) {
	res, ok := s.s.Result()
	if !ok {
		return nil, nil, false
	}
	if res.Sum64 != nil {
		sum := make([]float32, len(res.Sum64))
		kernels.Decode64(sum, res.Sum64, s.frac)
		return sum, res.Contributors, true
	}
	sum := make([]float32, len(res.Sum32))
	kernels.Decode32(sum, res.Sum32, s.frac)
	return sum, res.Contributors, true
}

func (s *netSecAggServer) Failed() error {
	if err := s.s.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrTooFewContributors, err)
	}
	return nil
}

type netSecAggClient struct {
	c        *secagg.Client
	revealed bool
}

func (c *netSecAggClient) Start() ([]netMsg, error) {
	out, err := c.c.Start()
	return toNet(out), err
}

func (c *netSecAggClient) Handle(m netMsg) ([]netMsg, error) {
	if err := checkStepType(m); err != nil {
		return nil, err
	}
	out, err := c.c.Step(secagg.Message{From: 0, To: c.c.ID(), Data: m.Payload})
	if errors.Is(err, secagg.ErrUnexpected) {
		return nil, nil
	}
	if err == nil && len(out) > 0 && secagg.Step(m.Payload[1]) == secagg.StepUnmask {
		c.revealed = true
	}
	return toNet(out), err
}

func (c *netSecAggClient) Revealed() bool { return c.revealed }

// bits is the ring width of a session.
func (p sessionParams) bits() uint {
	if p.Wide {
		return 64
	}
	return 32
}
