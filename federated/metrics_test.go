package federated

import (
	"context"
	"strings"
	"testing"

	"github.com/consort-ml/consort/federated/engine"
	"github.com/consort-ml/consort/transport"
	"github.com/consort-ml/consort/transport/mem"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestTransportRejectionsExported: a message for a round the receiver has
// left is dropped by the transport and shows up in
// consort_transport_rejected_total{reason="stale-round"}.
func TestTransportRejectionsExported(t *testing.T) {
	types, err := engine.MessageTypes(10, 2)
	if err != nil {
		t.Fatal(err)
	}
	net, err := mem.New(mem.Config{FederationID: "m", Types: types, Seed: 1, Schedule: mem.FreeRunning})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := net.Join("a")
	b, _ := net.Join("b")
	b.SetRound(5)
	ctx := context.Background()
	if err := a.Send(ctx, "b", transport.Message{Type: "train/metrics", Round: 3, Payload: []byte{1}}); err != nil {
		t.Fatal(err)
	}
	if err := a.Send(ctx, "b", transport.Message{Type: "train/metrics", Round: 5, Payload: []byte{1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Recv(ctx); err != nil {
		t.Fatal(err)
	}
	m := NewMetrics("node")
	m.ExportTransport(b)
	want := `
# HELP consort_transport_rejected_total Connections, streams and messages the transport refused or dropped, by reason.
# TYPE consort_transport_rejected_total counter
consort_transport_rejected_total{reason="stale-round",role="node"} 1
`
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want), "consort_transport_rejected_total"); err != nil {
		t.Fatal(err)
	}
}

// TestBuildInfo: the binary's version is a labelled gauge of value 1.
func TestBuildInfo(t *testing.T) {
	m := NewMetrics("coordinator")
	m.SetBuildInfo("v1.2.3", "abc", "go1.26")
	want := `
# HELP consort_build_info The running binary's version (value 1).
# TYPE consort_build_info gauge
consort_build_info{go="go1.26",revision="abc",role="coordinator",version="v1.2.3"} 1
`
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want), "consort_build_info"); err != nil {
		t.Fatal(err)
	}
}
