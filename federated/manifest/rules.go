package manifest

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"github.com/consort-ml/consort/federated/engine"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/consort-ml/consort/federated/data"
	"github.com/consort-ml/consort/federated/model"
	"github.com/consort-ml/consort/mpc/mhe"
	"github.com/consort-ml/consort/mpc/secagg"
)

// KindExternal is the model kind of a team's own trainer (see
// [Model].Tensors).
const KindExternal = "external"

// Limits on an external trainer's model layout.
const (
	// MaxTensors bounds the tensors of a layout.
	MaxTensors = 4096
	// MaxTensorElements bounds the values of a whole layout (1 GiB of
	// float32, the bound of a model file).
	MaxTensorElements = 1 << 28
	// maxTensorDims bounds the dimensions of one tensor.
	maxTensorDims = 8
)

func bad(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

// ValidateAt is [Manifest.Validate] plus the expiry: a manifest whose
// not_after is not after now is refused ([ErrExpired]). consort manifest
// init and sign call it, so nobody writes or signs a manifest the nodes
// would refuse; [Manifest.Verify] applies the same rules.
func (m *Manifest) ValidateAt(now time.Time) error {
	if err := m.Validate(); err != nil {
		return err
	}
	return m.checkExpiry(now)
}

func (m *Manifest) checkExpiry(now time.Time) error {
	if !now.Before(m.NotAfter) {
		return fmt.Errorf("%w: not_after %s", ErrExpired, m.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// DefaultMinParticipants is the min_participants [Template] and consort
// manifest init choose for n nodes and a threshold: max(threshold,
// ceil(0.8 n)), at most n. Requiring every node (the earlier default)
// stalls the federation for good as soon as one node is down; 80% lets
// rounds go on while a fifth of the nodes are away, and never goes below
// the threshold an aggregate needs anyway.
func DefaultMinParticipants(nodes, threshold int) int {
	return min(nodes, max(threshold, (4*nodes+4)/5))
}

// DefaultThreshold is the threshold [Template] chooses for n nodes:
// ceil(2n/3), at least 2, at most n.
func DefaultThreshold(nodes int) int {
	return min(nodes, max(2, (2*nodes+2)/3))
}

// secureProtocol reports whether p protects individual updates.
func secureProtocol(p string) bool { return p == ProtocolSecAgg || p == ProtocolMHE }

// MHEMaxNodes returns the most nodes the mhe protocol can serve: the
// largest party count any of its secure parameter sets' noise budget
// covers.
func MHEMaxNodes() int {
	n := 0
	for _, l := range mhe.ParamSets() {
		n = max(n, l.MaxParties)
	}
	return n
}

// validateProtection applies the protocol rules: member counts each
// allowed protocol can serve and the threshold rules.
func (m *Manifest) validateProtection(nodes int) error {
	for _, p := range m.Protocols {
		if !secureProtocol(p) {
			continue
		}
		if nodes < 2 {
			return bad("protocol %s needs at least 2 nodes: the aggregate of a single node's update is that update (%d listed)", p, nodes)
		}
		if m.Threshold < 2 {
			return bad("threshold %d with protocol %s: an aggregate of one contributor is that contributor's update; want at least 2", m.Threshold, p)
		}
		switch p {
		case ProtocolMHE:
			if max := MHEMaxNodes(); nodes > max {
				return bad("protocol mhe cannot serve %d nodes: the noise budget of its largest parameter set covers %d parties (allow secagg only, or split the federation)", nodes, max)
			}
		case ProtocolSecAgg:
			if nodes > secagg.MaxParties {
				return bad("protocol secagg cannot serve %d nodes: party ids are 16-bit (at most %d)", nodes, secagg.MaxParties)
			}
			if err := checkSecAggThreshold(nodes, m.Threshold); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkSecAggThreshold applies secagg's rule against a malicious
// aggregator to a round with every node, on the graph the round engine uses
// (engine.SecAggGraph): each secret's holders must be fewer than twice the
// threshold (the complete graph needs t > n/2).
func checkSecAggThreshold(nodes, threshold int) error {
	if threshold > nodes {
		return bad("threshold %d above the %d nodes", threshold, nodes)
	}
	degree, share := engine.SecAggGraph(nodes, threshold)
	if err := secagg.CheckMaliciousThreshold(nodes, share, degree); err != nil {
		return bad("threshold %d of %d nodes does not hold against a malicious coordinator with secagg (it needs a majority of each secret's holders: threshold > %d): %v", threshold, nodes, nodes/2, err)
	}
	return nil
}

// validateModel checks the model section: a built-in kind with its
// hidden layers, or an external trainer's tensor layout.
func (m *Manifest) validateModel() error {
	md := m.Model
	if md.Kind == KindExternal {
		if len(md.Hidden) > 0 {
			return bad("model: hidden applies to kind mlp only")
		}
		if len(md.Tensors) == 0 {
			return bad("model: kind external needs its tensor layout (model.tensors)")
		}
	} else {
		if err := (model.Spec{Kind: md.Kind, Hidden: md.Hidden}).Validate(); err != nil {
			return bad("model: %v (or %q with model.tensors)", err, KindExternal)
		}
		if len(md.Tensors) > 0 || md.InitialWeightsSHA256 != "" {
			return bad("model: tensors and initial_weights_sha256 apply to kind %s (built-in kinds define their own layout)", KindExternal)
		}
	}
	if len(md.Tensors) > MaxTensors {
		return bad("model: %d tensors, at most %d", len(md.Tensors), MaxTensors)
	}
	names := make(map[string]bool, len(md.Tensors))
	total := 0
	for i, t := range md.Tensors {
		if t.Name == "" || len(t.Name) > 256 || !validText(t.Name) {
			return bad("model: tensor %d: name must be 1..256 printable characters", i+1)
		}
		if names[t.Name] {
			return bad("model: tensor %q listed twice", t.Name)
		}
		names[t.Name] = true
		if len(t.Shape) > maxTensorDims {
			return bad("model: tensor %q: %d dimensions, at most %d", t.Name, len(t.Shape), maxTensorDims)
		}
		n := 1
		for _, d := range t.Shape {
			if d < 1 || d > MaxTensorElements || n > MaxTensorElements/d {
				return bad("model: tensor %q: shape %v (dimensions >= 1, at most %d values)", t.Name, t.Shape, MaxTensorElements)
			}
			n *= d
		}
		if total += n; total > MaxTensorElements {
			return bad("model: the tensors hold more than %d values", MaxTensorElements)
		}
	}
	if h := md.InitialWeightsSHA256; h != "" {
		if b, err := hex.DecodeString(h); err != nil || len(b) != 32 || h != strings.ToLower(h) {
			return bad("model: initial_weights_sha256 must be 64 lowercase hex digits")
		}
	}
	return nil
}

// bundledShape reports whether a data set name is one whose shape every
// member can read from the binary itself (so features and classes may be
// omitted).
func bundledShape(name string) bool { return slices.Contains(data.Names(), name) }

func (m *Manifest) validateData() error { return m.Data.Validate() }

// Validate checks the data section on its own (as [Manifest.Validate]
// does): names, the declared shape the runtime needs (features and
// classes, unless Dataset is bundled), and the schema for tables that are
// not clean. Errors wrap [ErrMalformed].
func (d Data) Validate() error {
	if len(d.Dataset) > maxText || !validText(d.Dataset) || len(d.Label) > maxText || !validText(d.Label) {
		return bad("data: dataset or label name")
	}
	if len(d.Features) > maxFeatures || len(d.Columns) > maxFeatures {
		return bad("data: more than %d features or columns", maxFeatures)
	}
	for _, f := range append(slices.Clip(d.Features), d.Columns...) {
		if f == "" || len(f) > maxText || !validText(f) {
			return bad("data: column name %q empty or not printable", f)
		}
	}
	if len(d.Classes) > maxFeatures {
		return bad("data: %d classes, at most %d", len(d.Classes), maxFeatures)
	}
	classes := map[string]bool{}
	for _, c := range d.Classes {
		if c == "" || len(c) > maxText || !validText(c) || classes[c] {
			return bad("data: class %q empty or repeated", c)
		}
		classes[c] = true
	}
	for _, c := range d.Categorical {
		for _, v := range append([]string{c.Column, c.Unknown}, c.Values...) {
			if len(v) > maxText || !validText(v) {
				return bad("data: categorical column %q: a name or value is too long or not printable", c.Column)
			}
		}
	}
	for _, r := range d.Missing {
		for _, v := range []string{r.Column, r.Action, r.Value} {
			if len(v) > maxText || !validText(v) {
				return bad("data: a missing-value rule is too long or not printable")
			}
		}
	}
	for _, v := range d.MissingValues {
		if !validText(v) {
			return bad("data: a missing-value marker is not printable")
		}
	}
	bundled := bundledShape(d.Dataset)
	if !bundled {
		// The model's input and output sizes are fixed before any node
		// reads its data: they must be declared.
		if len(d.Features) == 0 {
			return bad("data: features are required (the model's input layout is fixed by the manifest; only a bundled dataset, one of %s, may omit them)", strings.Join(data.Names(), ", "))
		}
		if len(d.Classes) < 2 {
			return bad("data: classes must list the label values, at least 2 (only a bundled dataset may omit them)")
		}
	} else if d.NoHeader || len(d.Columns) > 0 || len(d.Categorical) > 0 || len(d.Missing) > 0 || len(d.MissingValues) > 0 {
		return bad("data: no_header, columns, categorical and missing apply to CSV data, not to the bundled set %q", d.Dataset)
	}
	s := d.Schema()
	if err := s.Validate(); err != nil {
		msg := strings.TrimPrefix(err.Error(), data.ErrInvalidArgument.Error()+": schema: ")
		return bad("data: %s", msg)
	}
	if w := s.Width(); w > maxFeatures {
		return bad("data: %d model inputs after one-hot encoding, at most %d", w, maxFeatures)
	}
	return nil
}

// Schema returns the table schema the [data] section declares, for
// [data.LoadCSV] and [data.ReadTable] (a fresh copy each call).
func (d Data) Schema() *data.Schema {
	s := &data.Schema{
		Label:    d.Label,
		Features: slices.Clone(d.Features),
		NoHeader: d.NoHeader,
		Columns:  slices.Clone(d.Columns),
	}
	if len(d.MissingValues) > 0 {
		s.MissingTokens = slices.Clone(d.MissingValues)
	}
	for _, c := range d.Categorical {
		s.Categorical = append(s.Categorical, data.Categorical{Column: c.Column, Values: slices.Clone(c.Values), Unknown: c.Unknown})
	}
	for _, r := range d.Missing {
		s.Missing = append(s.Missing, data.MissingRule{Column: r.Column, Action: r.Action, Value: r.Value})
	}
	return s
}

// InputWidth returns the number of model inputs the section declares:
// the features after one-hot encoding of the categorical columns, or 0
// when no features are listed (a bundled set, whose shape is its own).
func (d Data) InputWidth() int { return d.Schema().Width() }

// InputNames returns the names of the model inputs (see
// [data.Schema.InputNames]), nil when no features are listed.
func (d Data) InputNames() []string { return d.Schema().InputNames() }

// LoadData reads a [data] section from a TOML file: a whole manifest
// (parsed and validated as by [Load]; it need not be signed) or a file
// holding only a [data] table (validated by [Data.Validate]). It is how a
// simulation or a scoring run reads a federation's data declaration
// without joining it. Errors wrap [ErrMalformed] or are I/O errors.
func LoadData(path string) (Data, error) {
	f, err := os.Open(path)
	if err != nil {
		return Data{}, fmt.Errorf("manifest: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return Data{}, fmt.Errorf("manifest: reading %s: %w", path, err)
	}
	d, err := ParseData(b)
	if err != nil {
		return Data{}, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

// ParseData is [LoadData] on bytes: a whole manifest or a TOML file
// holding only a [data] table. Unknown keys are refused; errors wrap
// [ErrMalformed].
func ParseData(b []byte) (Data, error) {
	if len(b) > MaxFileSize {
		return Data{}, fmt.Errorf("%w: %d bytes, limit %d", ErrMalformed, len(b), MaxFileSize)
	}
	var only struct {
		Data Data `toml:"data"`
	}
	md, err := toml.NewDecoder(bytes.NewReader(b)).Decode(&only)
	if err != nil {
		return Data{}, fmt.Errorf("%w: %s", ErrMalformed, oneLine(err.Error()))
	}
	if md.IsDefined("federation") || md.IsDefined("members") {
		m, err := Parse(b)
		if err != nil {
			return Data{}, err
		}
		return m.Data, nil
	}
	if und := md.Undecoded(); len(und) > 0 {
		return Data{}, fmt.Errorf("%w: unknown key %q", ErrMalformed, und[0].String())
	}
	if !md.IsDefined("data") {
		return Data{}, fmt.Errorf("%w: no [data] section", ErrMalformed)
	}
	if err := only.Data.Validate(); err != nil {
		return Data{}, err
	}
	return only.Data, nil
}
