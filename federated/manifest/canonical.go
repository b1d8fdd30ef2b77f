package manifest

import (
	"encoding/binary"
	"math"
)

// canonicalMagic starts the canonical encoding (domain separation: these
// bytes are never a valid audit entry or wire message).
const canonicalMagic = "consort-manifest-v1\x00"

// Canonical returns the bytes the signature covers; see the package
// documentation for the format. Every field is always present, in a fixed
// order, so no two different manifests share an encoding.
func (m *Manifest) Canonical() []byte {
	var e enc
	e.b = append(e.b, canonicalMagic...)
	e.int("version", int64(m.Version))
	e.str("federation", m.Federation)
	e.str("purpose", m.Purpose)
	e.name("not_after")
	u := m.NotAfter.UTC()
	e.b = binary.BigEndian.AppendUint64(e.b, uint64(u.Unix()))
	e.b = binary.BigEndian.AppendUint32(e.b, uint32(u.Nanosecond()))
	e.int("min_participants", int64(m.MinParticipants))
	e.int("threshold", int64(m.Threshold))
	e.strs("protocols", m.Protocols)
	e.name("members")
	e.count(len(m.Members))
	for _, mb := range m.Members {
		e.str("name", mb.Name)
		e.str("peer_id", mb.PeerID)
		e.str("role", string(mb.Role))
		e.strs("addrs", mb.Addrs)
	}
	e.str("model.kind", m.Model.Kind)
	e.name("model.hidden")
	e.count(len(m.Model.Hidden))
	for _, h := range m.Model.Hidden {
		e.b = binary.BigEndian.AppendUint64(e.b, uint64(int64(h)))
	}
	t := m.Training
	e.int("training.rounds", int64(t.Rounds))
	e.int("training.local_epochs", int64(t.LocalEpochs))
	e.float("training.learning_rate", t.LearningRate)
	e.int("training.batch_size", int64(t.BatchSize))
	e.str("training.strategy", t.Strategy)
	e.float("training.prox_mu", t.ProxMu)
	e.float("training.server_lr", t.ServerLR)
	e.str("data.dataset", m.Data.Dataset)
	e.strs("data.features", m.Data.Features)
	e.str("data.label", m.Data.Label)
	e.strs("data.classes", m.Data.Classes)
	e.float("dp.clip", m.DP.Clip)
	e.float("dp.noise_multiplier", m.DP.NoiseMultiplier)
	e.float("dp.epsilon", m.DP.Epsilon)
	e.float("dp.delta", m.DP.Delta)
	m.canonicalExtensions(&e)
	return e.b
}

// canonicalExtensions appends the fields added after the first release of
// the v1 encoding, in this fixed order and each only when it is set (not
// its zero value): a manifest that uses none of them encodes exactly as
// before, so signatures made before they existed still verify. Each is
// tagged by its name, and the names are distinct and in a fixed order, so
// the encoding stays injective.
func (m *Manifest) canonicalExtensions(e *enc) {
	d := m.Data
	if d.NoHeader {
		e.int("data.no_header", 1)
	}
	if len(d.Columns) > 0 {
		e.strs("data.columns", d.Columns)
	}
	if len(d.MissingValues) > 0 {
		e.strs("data.missing_values", d.MissingValues)
	}
	if len(d.Categorical) > 0 {
		e.name("data.categorical")
		e.count(len(d.Categorical))
		for _, c := range d.Categorical {
			e.str("column", c.Column)
			e.strs("values", c.Values)
			e.str("unknown", c.Unknown)
		}
	}
	if len(d.Missing) > 0 {
		e.name("data.missing")
		e.count(len(d.Missing))
		for _, r := range d.Missing {
			e.str("column", r.Column)
			e.str("action", r.Action)
			e.str("value", r.Value)
		}
	}
	if len(m.Model.Tensors) > 0 {
		e.name("model.tensors")
		e.count(len(m.Model.Tensors))
		for _, t := range m.Model.Tensors {
			e.bytes(t.Name)
			e.count(len(t.Shape))
			for _, s := range t.Shape {
				e.b = binary.BigEndian.AppendUint64(e.b, uint64(int64(s)))
			}
		}
	}
	if m.Model.InitialWeightsSHA256 != "" {
		e.str("model.initial_weights_sha256", m.Model.InitialWeightsSHA256)
	}
}

type enc struct{ b []byte }

func (e *enc) count(n int) { e.b = binary.AppendUvarint(e.b, uint64(n)) }

func (e *enc) bytes(s string) {
	e.count(len(s))
	e.b = append(e.b, s...)
}

func (e *enc) name(n string) { e.bytes(n) }

func (e *enc) str(n, v string) {
	e.name(n)
	e.bytes(v)
}

func (e *enc) strs(n string, v []string) {
	e.name(n)
	e.count(len(v))
	for _, s := range v {
		e.bytes(s)
	}
}

func (e *enc) int(n string, v int64) {
	e.name(n)
	e.b = binary.BigEndian.AppendUint64(e.b, uint64(v))
}

func (e *enc) float(n string, v float64) {
	e.name(n)
	e.b = binary.BigEndian.AppendUint64(e.b, math.Float64bits(v))
}
