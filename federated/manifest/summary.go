package manifest

import (
	"encoding/hex"
	"time"

	"github.com/consort-ml/consort/federated/model"
)

// Summary is what a member checks before joining, in a form fit for
// people (consort manifest verify) and programs (its --json): who takes
// part, how updates are protected, and what is trained on what.
type Summary struct {
	Federation  string          `json:"federation"`
	Purpose     string          `json:"purpose,omitempty"`
	Digest      string          `json:"digest"`
	NotAfter    time.Time       `json:"not_after"`
	Coordinator MemberSummary   `json:"coordinator"`
	Nodes       []MemberSummary `json:"nodes"`
	Aggregators []MemberSummary `json:"aggregators,omitempty"`
	Protocols   []string        `json:"protocols"`
	// MinParticipants is the fewest nodes a round starts with; Tolerated
	// is how many nodes may be away while rounds still start.
	MinParticipants int `json:"min_participants"`
	Tolerated       int `json:"tolerated_offline_nodes"`
	// Threshold is the fewest contributors of a released aggregate.
	Threshold int          `json:"threshold"`
	Model     ModelSummary `json:"model"`
	Rounds    int          `json:"rounds"`
	Strategy  string       `json:"strategy"`
	Data      DataSummary  `json:"data"`
	// DP is nil when the manifest asks for no differential privacy.
	DP *DP `json:"dp,omitempty"`
}

// MemberSummary names a member.
type MemberSummary struct {
	Name   string `json:"name"`
	PeerID string `json:"peer_id"`
}

// ModelSummary describes the model.
type ModelSummary struct {
	// Spec is the built-in model ("logistic", "mlp:64,32") or "external".
	Spec string `json:"spec"`
	// Tensors and Values count an external trainer's layout.
	Tensors int `json:"tensors,omitempty"`
	Values  int `json:"values,omitempty"`
	// InitialWeightsSHA256 is the pinned initial weights' digest, if any.
	InitialWeightsSHA256 string `json:"initial_weights_sha256,omitempty"`
}

// DataSummary describes the data every node reads.
type DataSummary struct {
	Dataset  string   `json:"dataset,omitempty"`
	Label    string   `json:"label,omitempty"`
	Features []string `json:"features,omitempty"`
	// Inputs is the model's input width after one-hot encoding (0: the
	// bundled data set's own).
	Inputs      int      `json:"inputs"`
	Classes     []string `json:"classes,omitempty"`
	Categorical []string `json:"categorical,omitempty"`
	NoHeader    bool     `json:"no_header,omitempty"`
	// MissingRules counts the declared missing-value rules.
	MissingRules int `json:"missing_rules,omitempty"`
}

// Summary summarises the manifest (call it on a verified manifest).
func (m *Manifest) Summary() Summary {
	ms := func(l []Member) []MemberSummary {
		out := make([]MemberSummary, 0, len(l))
		for _, mb := range l {
			out = append(out, MemberSummary{mb.Name, mb.PeerID})
		}
		return out
	}
	c := m.Coordinator()
	s := Summary{
		Federation: m.Federation, Purpose: m.Purpose, Digest: hex.EncodeToString(m.Digest()),
		NotAfter: m.NotAfter.UTC(), Coordinator: MemberSummary{c.Name, c.PeerID},
		Nodes: ms(m.Nodes()), Aggregators: ms(m.Aggregators()), Protocols: m.Protocols,
		MinParticipants: m.MinParticipants, Tolerated: len(m.Nodes()) - m.MinParticipants, Threshold: m.Threshold,
		Rounds: m.Training.Rounds, Strategy: m.Training.Strategy,
	}
	if m.Model.Kind == KindExternal {
		s.Model = ModelSummary{Spec: KindExternal, Tensors: len(m.Model.Tensors), InitialWeightsSHA256: m.Model.InitialWeightsSHA256}
		for _, t := range m.Model.Tensors {
			s.Model.Values += t.Elements()
		}
	} else {
		s.Model = ModelSummary{Spec: model.Spec{Kind: m.Model.Kind, Hidden: m.Model.Hidden}.String()}
	}
	d := m.Data
	s.Data = DataSummary{
		Dataset: d.Dataset, Label: d.Label, Features: d.Features, Inputs: d.InputWidth(), Classes: d.Classes,
		NoHeader: d.NoHeader, MissingRules: len(d.Missing),
	}
	for _, cat := range d.Categorical {
		s.Data.Categorical = append(s.Data.Categorical, cat.Column)
	}
	if m.DP != (DP{}) {
		dp := m.DP
		s.DP = &dp
	}
	return s
}
