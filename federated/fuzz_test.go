package federated

import (
	"bytes"
	"errors"
	"testing"

	"github.com/consort-ml/consort/federated/data"
	"github.com/consort-ml/consort/federated/model"
	"github.com/consort-ml/consort/federated/trainpb"
	"google.golang.org/protobuf/proto"
)

// FuzzModelFile checks the model-file decoder: no panic, every error is
// ErrBadFile, and an accepted file re-encodes to the same bytes.
func FuzzModelFile(f *testing.F) {
	mf := &ModelFile{Spec: model.Spec{Kind: "logistic"}, Features: 2, Classes: 2, Mean: []float32{1, 2}, Std: []float32{3, 4},
		FeatureNames: []string{"a", "b"}, Label: "y", Round: 3, Params: []float32{0.5, -1, 2}}
	good, err := mf.MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	seeds := [][]byte{good, good[:len(good)-1], append(bytes.Clone(good), 0), {}}
	for i := 0; i < len(good); i += 7 {
		b := bytes.Clone(good)
		b[i] ^= 0x10
		seeds = append(seeds, b)
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m ModelFile
		if err := m.UnmarshalBinary(b); err != nil {
			if !errors.Is(err, ErrBadFile) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		again, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var m2 ModelFile
		if err := m2.UnmarshalBinary(again); err != nil || !model.ParamsEqual(m.Params, m2.Params) || m.Round != m2.Round {
			t.Fatalf("accepted file does not round-trip: %v", err)
		}
	})
}

// FuzzNodeRoundStart feeds arbitrary RoundStart payloads from the
// coordinator to a node: it must refuse or start a session, never panic, and
// never start one for parameters that do not fit its model.
func FuzzNodeRoundStart(f *testing.F) {
	ds := &data.Dataset{Name: "t", Features: 2, Classes: 2, X: []float32{0, 1, 1, 0, 1, 1, 0, 0}, Y: []int{0, 1, 1, 0}, ClassNames: []string{"0", "1"}}
	spec := model.Spec{Kind: "logistic"}
	valid := &trainpb.RoundStart{Attempt: 1, Round: 1, Phase: trainpb.Phase_PHASE_TRAIN, Protocol: "plain",
		Participants: []string{"me", "other"}, Threshold: 2, TotalExamples: 8, Bound: 4, Dim: 3, Params: f32bytes([]float32{0, 0, 0})}
	for _, rs := range []*trainpb.RoundStart{valid,
		{Attempt: 2, Phase: trainpb.Phase_PHASE_STATS_MEAN, Protocol: "plain", Participants: []string{"me"}, Threshold: 1, TotalExamples: 4, Bound: 1, Dim: 2},
		{Attempt: 3, Phase: trainpb.Phase_PHASE_STATS_VAR, Protocol: "plain", Participants: []string{"me"}, Threshold: 1, TotalExamples: 4, Bound: 1, Dim: 2, Mean: f32bytes([]float32{1, 2})},
		{Attempt: 4, Phase: trainpb.Phase_PHASE_TRAIN, Protocol: "secagg", Participants: []string{"me", "x"}, Threshold: 2, TotalExamples: 1, Bound: 4, Dim: 1 << 30},
	} {
		b, err := proto.Marshal(rs)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var rs trainpb.RoundStart
		if proto.Unmarshal(b, &rs) != nil {
			return
		}
		n, err := NewNode(NodeConfig{FederationID: "f", Coordinator: "c", Train: ds, Model: spec, Features: 2, Classes: 2})
		if err != nil {
			t.Fatal(err)
		}
		s, outs, err := n.begin(&rs, "me")
		if err != nil {
			return
		}
		if s == nil || (rs.Phase == trainpb.Phase_PHASE_TRAIN && rs.Dim != 3) {
			t.Fatalf("started a session for %v", &rs)
		}
		for _, o := range outs {
			if o.Peer != 0 {
				t.Fatalf("a node sent to party %d", o.Peer)
			}
		}
	})
}
