package plain

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"github.com/consort-ml/consort/mpc"
)

// fuzzCorpus returns valid updates of fuzzConfig, truncations, one byte more
// and less, bit flips and a NaN.
func fuzzCorpus(cfg Config) [][]byte {
	var out [][]byte
	for id := 1; id <= cfg.Parties; id++ {
		v := make([]float32, cfg.Dim)
		for i := range v {
			v[i] = float32(id*i) - 3.5
		}
		b := cfg.encodeUpdate(uint16(id), v)
		out = append(out, b, b[:len(b)-1], append(bytes.Clone(b), 0))
		for n := 0; n < len(b); n += 5 {
			out = append(out, b[:n])
		}
		for bit := 0; bit < 8*len(b); bit += 7 {
			c := bytes.Clone(b)
			c[bit/8] ^= 1 << (bit % 8)
			out = append(out, c)
		}
		nan := bytes.Clone(b)
		binary.LittleEndian.PutUint32(nan[cfg.headerSize():], math.Float32bits(float32(math.NaN())))
		out = append(out, nan)
	}
	return out
}

func fuzzConfig() Config {
	return Config{FederationID: "fuzz", Round: 7, Parties: 3, Threshold: 1, Dim: 4, Bound: 8}
}

// FuzzDecodeUpdate feeds arbitrary bytes to the update decoder and the
// server: no panic, every error classified, the server unchanged by what it
// rejects, and every accepted message re-encodes to the same bytes.
func FuzzDecodeUpdate(f *testing.F) {
	cfg := fuzzConfig()
	corpus := fuzzCorpus(cfg)
	if len(corpus) == 0 {
		f.Fatal("empty seed corpus")
	}
	for _, c := range corpus {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		from, body, err := cfg.decodeUpdate(data)
		s, _ := NewServer(cfg)
		_, serr := s.Step(mpc.Message{From: int(from), To: mpc.ServerID, Data: data})
		if err != nil {
			if !errors.Is(err, mpc.ErrMalformed) && !errors.Is(err, mpc.ErrProtocol) {
				t.Fatalf("unclassified error: %v", err)
			}
			if serr == nil || s.count != 0 || s.Status() != (mpc.Status{}) {
				t.Fatalf("server accepted what the decoder rejects: %v", serr)
			}
			return
		}
		if serr != nil || s.count != 1 {
			t.Fatalf("server rejected a valid update: %v", serr)
		}
		v := make([]float32, cfg.Dim)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(body[4*i:]))
		}
		if got := cfg.encodeUpdate(from, v); !bytes.Equal(got, data) {
			t.Fatalf("accepted input re-encodes differently:\n in %x\nout %x", data, got)
		}
	})
}
