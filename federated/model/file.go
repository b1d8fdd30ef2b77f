package model

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/consort-ml/consort/internal/atomicfile"
)

// ErrBadFile marks a model or checkpoint file that does not decode.
var ErrBadFile = errors.New("model: bad file")

// File is a trained model with what is needed to use it on raw data.
//
// On disk (documented format, version 1):
//
//	"CONSORTMODEL1\n"            magic line
//	uint32 little-endian H        length of the JSON header
//	H bytes                       JSON of the header fields below
//	P x float32 little-endian     the parameters (P = header.params)
//	32 bytes                      SHA-256 of everything before it
type File struct {
	// Spec is the architecture.
	Spec Spec `json:"spec"`
	// Features and Classes are the model's input and output sizes.
	Features int `json:"features"`
	Classes  int `json:"classes"`
	// FeatureNames lists the input columns in order (may be empty for the
	// bundled sets); Label names the label column.
	FeatureNames []string `json:"feature_names,omitempty"`
	Label        string   `json:"label,omitempty"`
	// ClassNames maps class ids to label values.
	ClassNames []string `json:"class_names,omitempty"`
	// Mean and Std standardise raw features: x' = (x - Mean) / Std (empty:
	// the model takes raw features).
	Mean []float32 `json:"mean,omitempty"`
	Std  []float32 `json:"std,omitempty"`
	// Federation and Round say where the model comes from.
	Federation string `json:"federation,omitempty"`
	Round      int    `json:"round"`
	// NumParams is len(Params).
	NumParams int `json:"params"`
	// Checkpoint holds a coordinator's resumable state (checkpoint files only).
	Checkpoint json.RawMessage `json:"checkpoint,omitempty"`
	// Params holds the flat parameter vector.
	Params []float32 `json:"-"`
}

const modelMagic = "CONSORTMODEL1\n"

// maxHeader bounds the JSON header of a model or checkpoint file.
const maxHeader = 16 << 20

// maxParams bounds the parameter count of a model file (1 GiB of float32).
const maxParams = 1 << 28

// MarshalBinary encodes the model file.
func (m *File) MarshalBinary() ([]byte, error) {
	m.NumParams = len(m.Params)
	hdr, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.Grow(len(modelMagic) + 4 + len(hdr) + 4*len(m.Params) + sha256.Size)
	buf.WriteString(modelMagic)
	buf.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(hdr))))
	buf.Write(hdr)
	b := buf.AvailableBuffer()
	for _, v := range m.Params {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	buf.Write(b)
	sum := sha256.Sum256(buf.Bytes())
	buf.Write(sum[:])
	return buf.Bytes(), nil
}

// UnmarshalBinary decodes a model file, checking every length first.
func (m *File) UnmarshalBinary(b []byte) error {
	if len(b) < len(modelMagic)+4+sha256.Size || string(b[:len(modelMagic)]) != modelMagic {
		return fmt.Errorf("%w: not a consort model file", ErrBadFile)
	}
	body, tail := b[:len(b)-sha256.Size], b[len(b)-sha256.Size:]
	if sum := sha256.Sum256(body); !bytes.Equal(sum[:], tail) {
		return fmt.Errorf("%w: checksum mismatch (truncated or corrupted)", ErrBadFile)
	}
	rest := body[len(modelMagic):]
	h := binary.LittleEndian.Uint32(rest)
	rest = rest[4:]
	if h > maxHeader || int(h) > len(rest) {
		return fmt.Errorf("%w: header length %d out of range", ErrBadFile, h)
	}
	var out File
	if err := json.Unmarshal(rest[:h], &out); err != nil {
		return fmt.Errorf("%w: header: %w", ErrBadFile, err)
	}
	rest = rest[h:]
	if out.NumParams < 0 || out.NumParams > maxParams || len(rest) != 4*out.NumParams {
		return fmt.Errorf("%w: %d parameter bytes for %d parameters", ErrBadFile, len(rest), out.NumParams)
	}
	out.Params = make([]float32, out.NumParams)
	for i := range out.Params {
		out.Params[i] = math.Float32frombits(binary.LittleEndian.Uint32(rest[4*i:]))
	}
	if (len(out.Mean) != 0 || len(out.Std) != 0) && (len(out.Mean) != out.Features || len(out.Std) != out.Features) {
		return fmt.Errorf("%w: standardisation has %d/%d values for %d features", ErrBadFile, len(out.Mean), len(out.Std), out.Features)
	}
	*m = out
	return nil
}

// Model rebuilds the model and loads the parameters.
func (m *File) Model() (Model, error) {
	mod, err := New(m.Spec, m.Features, m.Classes, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadFile, err)
	}
	if mod.NumParams() != len(m.Params) {
		return nil, fmt.Errorf("%w: %d parameters, the %s model has %d", ErrBadFile, len(m.Params), m.Spec, mod.NumParams())
	}
	copy(mod.Params(), m.Params)
	return mod, nil
}

// WriteFile writes m to path atomically (mode 0644: a model is not a secret
// of the team that wrote it, but see the federation's policy before sharing it).
func WriteFile(path string, m *File) error {
	b, err := m.MarshalBinary()
	if err != nil {
		return err
	}
	return atomicfile.Write(path, b, 0o644)
}

// ReadFile reads and checks a model file.
func ReadFile(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > int64(maxHeader)+4*maxParams+64 {
		return nil, fmt.Errorf("%w: %s is too large", ErrBadFile, path)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	var m File
	if err := m.UnmarshalBinary(b); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &m, nil
}
