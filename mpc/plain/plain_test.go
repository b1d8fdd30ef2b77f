package plain

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/consort-ml/consort/mpc"
)

func testConfig() Config {
	return Config{FederationID: "fed", Round: 3, Parties: 4, Threshold: 2, Dim: 5, Bound: 2}
}

func TestValidate(t *testing.T) {
	ok := testConfig()
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*Config){
		"parties=0":     func(c *Config) { c.Parties = 0 },
		"parties=big":   func(c *Config) { c.Parties = MaxParties + 1 },
		"threshold=0":   func(c *Config) { c.Threshold = 0 },
		"threshold>n":   func(c *Config) { c.Threshold = 5 },
		"dim=0":         func(c *Config) { c.Dim = 0 },
		"dim=big":       func(c *Config) { c.Dim = MaxDim + 1 },
		"bound=0":       func(c *Config) { c.Bound = 0 },
		"bound<0":       func(c *Config) { c.Bound = -1 },
		"bound=NaN":     func(c *Config) { c.Bound = float32(math.NaN()) },
		"bound=Inf":     func(c *Config) { c.Bound = float32(math.Inf(1)) },
		"bound=2^51":    func(c *Config) { c.Bound = 1 << 51 }, // 4 × 2^51 = 2^53 leaves f = 9
		"federation-id": func(c *Config) { c.FederationID = string(make([]byte, 256)) },
	} {
		t.Run(name, func(t *testing.T) {
			c := ok
			mut(&c)
			before := c
			if err := c.Validate(); !errors.Is(err, ErrConfig) {
				t.Fatalf("Validate = %v, want ErrConfig", err)
			}
			if c.FederationID != before.FederationID || c.Parties != before.Parties || c.Threshold != before.Threshold ||
				c.Dim != before.Dim || math.Float32bits(c.Bound) != math.Float32bits(before.Bound) {
				t.Fatal("Validate changed the config")
			}
		})
	}
	big := ok
	big.Bound = 1 << 50 // 4 × 2^50 = 2^52: f = 10 exactly
	if err := big.Validate(); err != nil || big.frac() != MinFrac {
		t.Fatalf("bound 2^50: %v, frac %d", err, big.frac())
	}
}

func TestFrac(t *testing.T) {
	for _, c := range []struct {
		n     int
		bound float32
		want  int
	}{{10, 4, 56}, {1, 1, 62}, {2, 1, 61}, {3, 1, 60}, {4, 2, 59}, {4, 3, 58}, {100, 0.5, 56}} {
		cfg := Config{Parties: c.n, Threshold: 1, Dim: 1, Bound: c.bound}
		if got := cfg.frac(); got != c.want {
			t.Errorf("n=%d bound=%v: frac %d, want %d", c.n, c.bound, got, c.want)
		}
		// The sum of n values at the bound fits an int64.
		if m := float64(c.n) * math.Ldexp(float64(c.bound), cfg.frac()); m > math.Ldexp(1, 62) {
			t.Errorf("n=%d bound=%v: %g overflows", c.n, c.bound, m)
		}
	}
}

// run starts every client in ids and feeds its update to the server.
func run(t *testing.T, cfg Config, in [][]float32, ids []int) *Server {
	t.Helper()
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		c, err := NewClient(cfg, id, in[id-1])
		if err != nil {
			t.Fatal(err)
		}
		out, err := c.Start()
		if err != nil {
			t.Fatal(err)
		}
		if !c.Revealed() || !c.Status().Done {
			t.Fatal("client not done after sending its update")
		}
		if len(out) != 1 || out[0].Kind != KindUpdate || out[0].To != mpc.ServerID || len(out[0].Data) != cfg.MessageSize() {
			t.Fatalf("client %d sent %+v", id, out)
		}
		if more, err := s.Step(out[0]); err != nil || more != nil {
			t.Fatalf("server step: %v %v", more, err)
		}
	}
	return s
}

func TestSumClampsAndIsExact(t *testing.T) {
	cfg := testConfig()
	in := [][]float32{
		{1, -1, 0.5, 3, -7},
		{0.25, 0.25, -0.5, 1, 1},
		{1e-30, 0, 0, -2, 2.5},
		{0.125, 1, 1, 1, 1},
	}
	s := run(t, cfg, in, []int{1, 2, 4, 3})
	if st := s.Status(); !st.Done || st.Err != nil {
		t.Fatalf("status %+v", st)
	}
	agg, ok := s.Result()
	if !ok || !slices.Equal(agg.Contributors, []int{1, 2, 3, 4}) || agg.Ring != nil || agg.Ints != nil {
		t.Fatalf("result %+v", agg)
	}
	// Clamped to ±2; 1e-30 is below 2^-57 and rounds to 0.
	want := []float64{1.375, 0.25, 1, 2, -0.5 + 1 + 2 + 1}
	want[4] = -2 + 1 + 2 + 1
	if !slices.Equal(agg.Floats, want) {
		t.Fatalf("sum %v, want %v", agg.Floats, want)
	}
}

func TestOrderIndependent(t *testing.T) {
	cfg := Config{Parties: 6, Threshold: 6, Dim: 64, Bound: 1}
	r := rand.New(rand.NewPCG(1, 2))
	in := make([][]float32, cfg.Parties)
	for i := range in {
		in[i] = make([]float32, cfg.Dim)
		for j := range in[i] {
			in[i][j] = float32(r.NormFloat64()) * float32(math.Ldexp(1, -r.IntN(30)))
		}
	}
	first, _ := run(t, cfg, in, []int{1, 2, 3, 4, 5, 6}).Result()
	for range 10 {
		ids := []int{1, 2, 3, 4, 5, 6}
		r.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
		got, _ := run(t, cfg, in, ids).Result()
		if !slices.Equal(got.Floats, first.Floats) {
			t.Fatalf("order %v gives another sum", ids)
		}
	}
	// And it is the float64 sum up to the rounding of tiny values.
	for j := range cfg.Dim {
		var ref float64
		for i := range in {
			ref += min(max(float64(in[i][j]), -1), 1)
		}
		if d := math.Abs(first.Floats[j] - ref); d > 1e-15 {
			t.Fatalf("coordinate %d: %g vs float64 sum %g", j, first.Floats[j], ref)
		}
	}
}

func TestServerRejects(t *testing.T) {
	cfg := testConfig()
	good := cfg.encodeUpdate(1, make([]float32, cfg.Dim))
	other := cfg
	other.Round = 4
	otherFed := cfg
	otherFed.FederationID = "feD"
	nan := cfg.encodeUpdate(2, []float32{0, 0, float32(math.NaN()), 0, 0})
	inf := cfg.encodeUpdate(2, []float32{0, float32(math.Inf(-1)), 0, 0, 0})
	for _, c := range []struct {
		name string
		m    mpc.Message
		want error
	}{
		{"short", mpc.Message{From: 1, Data: good[:len(good)-1]}, mpc.ErrMalformed},
		{"long", mpc.Message{From: 1, Data: append(slices.Clone(good), 0)}, mpc.ErrMalformed},
		{"header", mpc.Message{From: 1, Data: good[:5]}, mpc.ErrMalformed},
		{"version", mpc.Message{From: 1, Data: append([]byte{2}, good[1:]...)}, mpc.ErrMalformed},
		{"nan", mpc.Message{From: 2, Data: nan}, mpc.ErrMalformed},
		{"inf", mpc.Message{From: 2, Data: inf}, mpc.ErrMalformed},
		{"round", mpc.Message{From: 1, Data: other.encodeUpdate(1, make([]float32, cfg.Dim))}, mpc.ErrProtocol},
		{"federation", mpc.Message{From: 1, Data: otherFed.encodeUpdate(1, make([]float32, cfg.Dim))}, mpc.ErrProtocol},
		{"spoofed", mpc.Message{From: 2, Data: good}, mpc.ErrProtocol},
		{"party 0", mpc.Message{From: 0, Data: cfg.encodeUpdate(0, make([]float32, cfg.Dim))}, mpc.ErrProtocol},
		{"party n+1", mpc.Message{From: 5, Data: cfg.encodeUpdate(5, make([]float32, cfg.Dim))}, mpc.ErrProtocol},
		{"kind", mpc.Message{From: 1, Kind: "masked-input", Data: good}, mpc.ErrProtocol},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, _ := NewServer(cfg)
			if _, err := s.Step(c.m); !errors.Is(err, c.want) {
				t.Fatalf("err %v, want %v", err, c.want)
			}
			var ae *mpc.AbortError
			if _, err := s.Step(c.m); errors.As(err, &ae) || s.Status() != (mpc.Status{}) || s.count != 0 {
				t.Fatal("a rejected message changed the server")
			}
		})
	}
	s, _ := NewServer(cfg)
	if _, err := s.Step(mpc.Message{From: 1, Kind: KindUpdate, Data: good}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Step(mpc.Message{From: 1, Data: good}); !errors.Is(err, mpc.ErrUnexpected) {
		t.Fatalf("duplicate: %v", err)
	}
}

func TestAbortBelowThreshold(t *testing.T) {
	cfg := testConfig()
	in := make([][]float32, cfg.Parties)
	for i := range in {
		in[i] = make([]float32, cfg.Dim)
	}
	s := run(t, cfg, in, []int{3})
	_, err := s.Advance()
	var ae *mpc.AbortError
	if !errors.As(err, &ae) || ae.Party != 0 || ae.Round != cfg.Round || !errors.Is(err, mpc.ErrTooFewParties) {
		t.Fatalf("advance: %v", err)
	}
	if _, ok := s.Result(); ok || s.Status().Err != err {
		t.Fatal("aborted server has a result")
	}
	if _, err2 := s.Step(mpc.Message{From: 1, Data: cfg.encodeUpdate(1, in[0])}); err2 != err {
		t.Fatalf("step after abort: %v", err2)
	}

	s = run(t, cfg, in, []int{2, 4})
	if _, err := s.Advance(); err != nil {
		t.Fatal(err)
	}
	if agg, ok := s.Result(); !ok || !slices.Equal(agg.Contributors, []int{2, 4}) {
		t.Fatalf("result %+v", agg)
	}
	if _, err := s.Step(mpc.Message{From: 1, Data: cfg.encodeUpdate(1, in[0])}); !errors.Is(err, mpc.ErrUnexpected) {
		t.Fatalf("late update: %v", err)
	}
}

func TestClient(t *testing.T) {
	cfg := testConfig()
	if _, err := NewClient(cfg, 0, make([]float32, 5)); !errors.Is(err, ErrConfig) {
		t.Fatal(err)
	}
	if _, err := NewClient(cfg, 1, make([]float32, 4)); !errors.Is(err, ErrConfig) {
		t.Fatal(err)
	}
	c, _ := NewClient(cfg, 1, []float32{0, 0, float32(math.Inf(1)), 0, 0})
	if _, err := c.Start(); !errors.Is(err, ErrConfig) || c.Revealed() {
		t.Fatalf("non-finite update: %v", err)
	}
	c, _ = NewClient(cfg, 1, make([]float32, 5))
	if c.Status().Done || c.Revealed() {
		t.Fatal("done before start")
	}
	if _, err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Start(); !errors.Is(err, mpc.ErrUnexpected) {
		t.Fatalf("second start: %v", err)
	}
	if out, err := c.Step(mpc.Message{}); out != nil || !errors.Is(err, mpc.ErrUnexpected) {
		t.Fatalf("step: %v", err)
	}
	if out, err := c.Advance(); out != nil || err != nil {
		t.Fatal("advance")
	}
}
