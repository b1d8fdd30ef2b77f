package federated

import (
	"github.com/consort-ml/consort/transport"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the Prometheus metrics of a coordinator or node. Each process
// creates its own registry (no global default registry).
type Metrics struct {
	// Registry holds every metric below; serve it with promhttp.HandlerFor.
	Registry *prometheus.Registry
	labels   prometheus.Labels

	RoundsCompleted prometheus.Counter
	RoundsAborted   prometheus.Counter
	Participants    prometheus.Gauge
	Contributors    prometheus.Gauge
	Accuracy        prometheus.Gauge
	BytesUp         prometheus.Counter
	LateMessages    prometheus.Counter
	Refusals        *prometheus.CounterVec
	StepSeconds     *prometheus.HistogramVec
	RoundSeconds    prometheus.Histogram
	// Coordinator only.
	Round        prometheus.Gauge
	RoundsTarget prometheus.Gauge
	LiveNodes    prometheus.Gauge
	BackedOff    prometheus.Gauge
	Epsilon      prometheus.Gauge
}

// NewMetrics creates the metrics for a process with the given role
// ("coordinator" or "node") in a fresh registry.
func NewMetrics(role string) *Metrics {
	l := prometheus.Labels{"role": role}
	m := &Metrics{
		Registry:        prometheus.NewRegistry(),
		labels:          l,
		RoundsCompleted: prometheus.NewCounter(prometheus.CounterOpts{Name: "consort_rounds_completed_total", Help: "Training rounds completed.", ConstLabels: l}),
		RoundsAborted:   prometheus.NewCounter(prometheus.CounterOpts{Name: "consort_rounds_aborted_total", Help: "Attempts aborted without releasing an aggregate.", ConstLabels: l}),
		Participants:    prometheus.NewGauge(prometheus.GaugeOpts{Name: "consort_round_participants", Help: "Participants selected for the last round.", ConstLabels: l}),
		Contributors:    prometheus.NewGauge(prometheus.GaugeOpts{Name: "consort_round_contributors", Help: "Contributors to the last released aggregate.", ConstLabels: l}),
		Accuracy:        prometheus.NewGauge(prometheus.GaugeOpts{Name: "consort_model_accuracy", Help: "Held-out accuracy of the global model after the last round.", ConstLabels: l}),
		BytesUp:         prometheus.NewCounter(prometheus.CounterOpts{Name: "consort_protocol_bytes_total", Help: "Protocol payload bytes received from (coordinator) or sent by (node) participants.", ConstLabels: l}),
		LateMessages:    prometheus.NewCounter(prometheus.CounterOpts{Name: "consort_late_messages_total", Help: "Messages for finished attempts, dropped.", ConstLabels: l}),
		Refusals:        prometheus.NewCounterVec(prometheus.CounterOpts{Name: "consort_refusals_total", Help: "Round refusals by reason code.", ConstLabels: l}, []string{"code"}),
		StepSeconds:     prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "consort_step_seconds", Help: "Duration of protocol steps.", ConstLabels: l, Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)}, []string{"protocol"}),
		RoundSeconds:    prometheus.NewHistogram(prometheus.HistogramOpts{Name: "consort_round_seconds", Help: "Duration of training rounds.", ConstLabels: l, Buckets: prometheus.ExponentialBuckets(0.01, 3, 10)}),
		Round:           prometheus.NewGauge(prometheus.GaugeOpts{Name: "consort_round", Help: "Last finished training round.", ConstLabels: l}),
		RoundsTarget:    prometheus.NewGauge(prometheus.GaugeOpts{Name: "consort_rounds_target", Help: "Training rounds the federation runs.", ConstLabels: l}),
		LiveNodes:       prometheus.NewGauge(prometheus.GaugeOpts{Name: "consort_live_nodes", Help: "Nodes that could be selected now.", ConstLabels: l}),
		BackedOff:       prometheus.NewGauge(prometheus.GaugeOpts{Name: "consort_backed_off_nodes", Help: "Nodes sitting out selection after failing to contribute.", ConstLabels: l}),
		Epsilon:         prometheus.NewGauge(prometheus.GaugeOpts{Name: "consort_epsilon_spent", Help: "Privacy spent so far (epsilon at the federation's delta; 0 without DP).", ConstLabels: l}),
	}
	m.Registry.MustRegister(m.RoundsCompleted, m.RoundsAborted, m.Participants, m.Contributors, m.Accuracy,
		m.BytesUp, m.LateMessages, m.Refusals, m.StepSeconds, m.RoundSeconds, m.Round, m.RoundsTarget, m.LiveNodes, m.BackedOff, m.Epsilon)
	return m
}

func (m *Metrics) roundDone(r RoundReport) {
	m.Round.Set(float64(r.Round))
	m.RoundsTarget.Set(float64(r.Rounds))
	m.Epsilon.Set(r.Epsilon)
	if r.Aborted {
		m.RoundsAborted.Inc()
		return
	}
	m.RoundsCompleted.Inc()
	m.Participants.Set(float64(r.Participants))
	m.Contributors.Set(float64(r.Contributors))
	m.Accuracy.Set(r.Accuracy)
	m.BytesUp.Add(float64(r.BytesUp))
	m.RoundSeconds.Observe(r.Seconds)
}

// ExportTransport exports tr's counters with the metrics:
// consort_transport_rejected_total{reason} (refused connections, streams and
// messages) and consort_transport_bytes_total{direction}.
func (m *Metrics) ExportTransport(tr transport.Transport) {
	m.Registry.MustRegister(transportCollector{tr: tr, l: m.labels})
}

var (
	rejectedDesc = func(l prometheus.Labels) *prometheus.Desc {
		return prometheus.NewDesc("consort_transport_rejected_total", "Connections, streams and messages the transport refused or dropped, by reason.", []string{"reason"}, l)
	}
	bytesDesc = func(l prometheus.Labels) *prometheus.Desc {
		return prometheus.NewDesc("consort_transport_bytes_total", "Frame bytes sent and received.", []string{"direction"}, l)
	}
)

type transportCollector struct {
	tr transport.Transport
	l  prometheus.Labels
}

func (c transportCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- rejectedDesc(c.l)
	ch <- bytesDesc(c.l)
}

func (c transportCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.tr.Stats()
	for r, n := range st.Rejected {
		ch <- prometheus.MustNewConstMetric(rejectedDesc(c.l), prometheus.CounterValue, float64(n), string(r))
	}
	ch <- prometheus.MustNewConstMetric(bytesDesc(c.l), prometheus.CounterValue, float64(st.Sent.Bytes), "sent")
	ch <- prometheus.MustNewConstMetric(bytesDesc(c.l), prometheus.CounterValue, float64(st.Received.Bytes), "received")
}

// SetBuildInfo exports consort_build_info{version,revision,go} = 1.
func (m *Metrics) SetBuildInfo(version, revision, goVersion string) {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "consort_build_info", Help: "The running binary's version (value 1).", ConstLabels: m.labels},
		[]string{"version", "revision", "go"})
	g.WithLabelValues(version, revision, goVersion).Set(1)
	m.Registry.MustRegister(g)
}
