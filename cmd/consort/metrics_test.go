package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/consort-ml/consort/federated"
)

// TestMetricsServer: --metrics serves /healthz and the metrics, build info
// included.
func TestMetricsServer(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr := fmt.Sprintf("127.0.0.1:%d", e2eFreePort(t))
	if err := serveMetrics(ctx, addr, federated.NewMetrics("node"), slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	get := func(path string) (int, string) {
		c := http.Client{Timeout: 5 * time.Second}
		resp, err := c.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, "consort_build_info{") || !strings.Contains(body, `role="node"`) {
		t.Fatalf("/metrics: %d, no build info", code)
	}
}
