package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestRunP2PSmall(t *testing.T) {
	var out bytes.Buffer
	res, err := RunP2P(P2PConfig{Sizes: []int{4 << 10}, Transports: []string{"tcp", "quic"}, Duration: 50 * time.Millisecond, Batch: 10 * time.Millisecond}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 {
		t.Fatalf("%d results", len(res))
	}
	for _, r := range res {
		if r.Messages < 3 || r.MBps <= 0 || r.RawMBps <= 0 || r.Ratio <= 0 || r.CipherMBps <= 0 || r.Target != 0 || !r.Pass {
			t.Errorf("result %+v", r)
		}
		// Frame and envelope headers only: well under 1% at 4 KiB.
		if r.WireOverhead <= 0 || r.WireOverhead > 0.05 {
			t.Errorf("%s: frame overhead %.4f", r.Transport, r.WireOverhead)
		}
	}
	if !strings.Contains(out.String(), "raw TCP MB/s") || !strings.Contains(out.String(), "quic") {
		t.Errorf("table:\n%s", out.String())
	}
	t.Log("\n" + out.String())
}

func TestP2PConfigErrors(t *testing.T) {
	for _, c := range []P2PConfig{
		{Sizes: []int{0}},
		{Sizes: []int{2 << 30}},
		{Transports: []string{"udp"}},
		{Duration: -1},
	} {
		if _, err := RunP2P(c, &bytes.Buffer{}); !errors.Is(err, ErrP2PConfig) {
			t.Errorf("%+v: %v", c, err)
		}
	}
}

// BenchmarkP2P reports transport/p2p throughput over loopback TCP (Noise,
// yamux) and, measured in the same process, the ratio to a raw loopback
// TCP transfer of the same messages (metric x-rawtcp; target >= 0.7 at
// 16 MiB) and to one core running the Noise cipher (x-chacha20).
func BenchmarkP2P(b *testing.B) {
	for _, size := range []int{64 << 10, 16 << 20} {
		b.Run("size="+sizeString(size), func(b *testing.B) {
			pair, err := newP2PPair("tcp", size)
			if err != nil {
				b.Fatal(err)
			}
			defer pair.Close()
			raw, err := newRawTCP(size)
			if err != nil {
				b.Fatal(err)
			}
			defer raw.Close()
			payload := make([]byte, size)
			rand.Read(payload)
			ctx := context.Background()
			if err := pair.transfer(ctx, payload, 1); err != nil {
				b.Fatal(err)
			}
			if err := raw.transfer(payload, 1); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			if err := pair.transfer(ctx, payload, b.N); err != nil {
				b.Fatal(err)
			}
			p2pRate := float64(size) * float64(b.N) / time.Since(start).Seconds()
			b.StopTimer()
			start = time.Now()
			if err := raw.transfer(payload, b.N); err != nil {
				b.Fatal(err)
			}
			rawRate := float64(size) * float64(b.N) / time.Since(start).Seconds()
			cipherRate, err := cipherMBps("tcp", 100*time.Millisecond)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(rawRate/1e6, "rawtcp-MB/s")
			b.ReportMetric(p2pRate/rawRate, "x-rawtcp")
			b.ReportMetric(p2pRate/1e6/cipherRate, "x-chacha20")
		})
	}
}
