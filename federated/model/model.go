package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Model is a classifier whose parameters live in one flat []float32. Create
// one with [New]; train it with [Train]; score it with [Evaluate] and
// [Predict]. The interface is sealed: only this package implements it.
//
// A Model keeps scratch buffers, so it is not safe for concurrent use; give
// each goroutine its own [Model.Clone].
type Model interface {
	// Spec returns the architecture.
	Spec() Spec
	// Features is the number of input columns.
	Features() int
	// Classes is the number of output classes (2 for logistic regression).
	Classes() int
	// NumParams is len(Params()).
	NumParams() int
	// Params returns the live parameter storage: writing into it changes the
	// model (this is how an aggregated global model is loaded). The layout is
	// layer by layer, input side first; each layer is its weight matrix,
	// row-major with one row per input unit (in x out), followed by its out
	// biases. Logistic regression is one layer with out = 1.
	Params() []float32
	// Probabilities appends to dst the class probabilities of the n rows of
	// the row-major n x Features() matrix X, row by row (n x Classes() values).
	Probabilities(dst, X []float32) ([]float32, error)
	// LossGrad returns the mean cross-entropy (natural log) of the model on
	// the n = len(Y) rows of X. If grad is not nil it must have NumParams()
	// entries and is overwritten with the gradient of that mean loss with
	// respect to Params().
	LossGrad(grad, X []float32, Y []int) (float64, error)
	// Clone returns an independent deep copy.
	Clone() Model

	network() *network
}

// chunkRows bounds the rows processed at once, so scratch memory stays
// O(chunkRows x widest layer) whatever the number of rows passed in.
const chunkRows = 512

// network is the one implementation of Model: a stack of fully connected
// layers (ReLU between them) with a sigmoid (one output) or softmax head.
type network struct {
	spec    Spec
	dims    []int // dims[0] = features, dims[len-1] = outputs
	classes int
	params  []float32
	w, b    [][]float32 // per layer l = 1..L (index 0 unused): views into params
	chunk   int         // rows per chunk (chunkRows; tests lower it)

	// scratch, grown on demand to rows x width
	rows int
	acts [][]float32 // acts[l], l = 1..L: layer outputs (post-ReLU for hidden layers)
	dbuf [2][]float32
	gemm gemmScratch
}

var _ Model = (*network)(nil)

// New returns a model of the given architecture for inputs of the given
// number of features and classes. Linear models start at zero (their loss is
// convex); MLP weights are drawn from He-scaled normals, N(0, 2/fan_in), from
// a PCG generator seeded with seed, and biases start at zero. The same
// arguments always give the same parameters.
func New(spec Spec, features, classes int, seed uint64) (Model, error) {
	dims, err := spec.layerDims(features, classes)
	if err != nil {
		return nil, err
	}
	spec.Hidden = slices.Clone(spec.Hidden)
	if spec.Kind == KindMLP && len(spec.Hidden) == 0 {
		spec.Hidden = []int{DefaultHidden}
	}
	m := newNetwork(spec, dims, classes)
	if spec.Kind == KindMLP {
		rng := rand.New(rand.NewPCG(seed, 0x6d6c70696e6974)) // "mlpinit"
		for l := 1; l < len(dims); l++ {
			std := math.Sqrt(2 / float64(dims[l-1]))
			for i := range m.w[l] {
				m.w[l][i] = float32(rng.NormFloat64() * std)
			}
		}
	}
	return m, nil
}

func newNetwork(spec Spec, dims []int, classes int) *network {
	n := 0
	for l := 1; l < len(dims); l++ {
		n += dims[l-1]*dims[l] + dims[l]
	}
	m := &network{
		spec:    spec,
		dims:    dims,
		classes: classes,
		params:  make([]float32, n),
		chunk:   chunkRows,
	}
	m.w, m.b = layerViews(m.params, dims)
	return m
}

// layerViews splits a parameter (or gradient) vector into per-layer weight
// and bias views.
func layerViews(p []float32, dims []int) (w, b [][]float32) {
	w = make([][]float32, len(dims))
	b = make([][]float32, len(dims))
	off := 0
	for l := 1; l < len(dims); l++ {
		nw := dims[l-1] * dims[l]
		w[l] = p[off : off+nw : off+nw]
		off += nw
		b[l] = p[off : off+dims[l] : off+dims[l]]
		off += dims[l]
	}
	return w, b
}

func (m *network) network() *network { return m }
func (m *network) Spec() Spec {
	s := m.spec
	s.Hidden = slices.Clone(s.Hidden)
	return s
}
func (m *network) Features() int     { return m.dims[0] }
func (m *network) Classes() int      { return m.classes }
func (m *network) NumParams() int    { return len(m.params) }
func (m *network) Params() []float32 { return m.params }

func (m *network) Clone() Model {
	c := newNetwork(m.Spec(), slices.Clone(m.dims), m.classes)
	copy(c.params, m.params)
	c.chunk = m.chunk
	return c
}

func (m *network) outputs() int { return m.dims[len(m.dims)-1] }

// rowsOf checks that X holds whole rows and returns their number.
func (m *network) rowsOf(X []float32) (int, error) {
	d := m.dims[0]
	if len(X)%d != 0 {
		return 0, fmt.Errorf("%w: %d values is not a whole number of rows of %d features", ErrShape, len(X), d)
	}
	return len(X) / d, nil
}

// checkData validates X against Y and the labels against the classes.
func (m *network) checkData(X []float32, Y []int) error {
	if len(X) != len(Y)*m.dims[0] {
		return fmt.Errorf("%w: %d values for %d labels of %d features", ErrShape, len(X), len(Y), m.dims[0])
	}
	for i, y := range Y {
		if y < 0 || y >= m.classes {
			return fmt.Errorf("%w: row %d has label %d, want 0..%d", ErrLabel, i, y, m.classes-1)
		}
	}
	return nil
}

// reserve grows the scratch buffers to hold rows rows.
func (m *network) reserve(rows int) {
	if rows <= m.rows {
		return
	}
	L := len(m.dims) - 1
	if m.acts == nil {
		m.acts = make([][]float32, L+1)
	}
	widest := 0
	for l := 1; l <= L; l++ {
		m.acts[l] = make([]float32, rows*m.dims[l])
		if l < L {
			widest = max(widest, m.dims[l])
		}
	}
	if widest > 0 {
		m.dbuf[0] = make([]float32, rows*widest)
		m.dbuf[1] = make([]float32, rows*widest)
	}
	m.rows = rows
}

// forward runs the n rows of x through the network and returns the output
// layer's pre-activation (logits), n x outputs, stored in m.acts[L].
func (m *network) forward(x []float32, n int) []float32 {
	m.reserve(n)
	L := len(m.dims) - 1
	in, inW := x, m.dims[0]
	for l := 1; l <= L; l++ {
		dl := m.dims[l]
		out := m.acts[l][:n*dl]
		for r := range n {
			copy(out[r*dl:(r+1)*dl], m.b[l])
		}
		m.gemm.sgemm(false, false, n, dl, inW, 1, in, inW, m.w[l], dl, 1, out, dl)
		if l < L {
			for i, v := range out {
				if v < 0 {
					out[i] = 0
				}
			}
		}
		in, inW = out, dl
	}
	return m.acts[L][:n*m.outputs()]
}

// head turns logits (n x outputs) into the data term of the loss summed over
// the rows and, in place, into dLoss/dlogits scaled by scale. Labels must be
// in range. With y == nil it only converts logits to probabilities in place
// (sigmoid outputs p(class 1)) and returns 0.
func (m *network) head(z []float32, y []int, scale float32) float64 {
	k := m.outputs()
	var loss float64
	if k == 1 {
		for i, v := range z {
			zf := float64(v)
			p := 1 / (1 + math.Exp(-zf))
			if y == nil {
				z[i] = float32(p)
				continue
			}
			t := float64(y[i])
			// log(1+e^z) - t*z, computed without overflow.
			loss += max(zf, 0) + math.Log1p(math.Exp(-math.Abs(zf))) - t*zf
			z[i] = float32(p-t) * scale
		}
		return loss
	}
	n := len(z) / k
	for r := range n {
		row := z[r*k : (r+1)*k]
		mx := row[0]
		for _, v := range row[1:] {
			mx = max(mx, v)
		}
		var sum float64
		for _, v := range row {
			sum += math.Exp(float64(v - mx))
		}
		if y != nil {
			loss += math.Log(sum) - float64(row[y[r]]-mx)
		}
		inv := 1 / sum
		for j, v := range row {
			row[j] = float32(math.Exp(float64(v-mx)) * inv)
		}
		if y != nil {
			row[y[r]] -= 1
			for j := range row {
				row[j] *= scale
			}
		}
	}
	return loss
}

// backward accumulates into the gradient views gw, gb the gradient for the n
// rows of x, given dLoss/dlogits in m.acts[L]. With first it overwrites the
// gradient instead of adding to it.
func (m *network) backward(x []float32, n int, gw, gb [][]float32, first bool) {
	L := len(m.dims) - 1
	dz := m.acts[L][:n*m.dims[L]]
	beta := float32(1)
	if first {
		beta = 0
	}
	for l := L; l >= 1; l-- {
		dl, din := m.dims[l], m.dims[l-1]
		in := x
		if l > 1 {
			in = m.acts[l-1][:n*din]
		}
		// dW_l = in^T * dz  (din x n)(n x dl)
		m.gemm.sgemm(true, false, din, dl, n, 1, in, din, dz, dl, beta, gw[l], dl)
		g := gb[l]
		if first {
			clear(g)
		}
		for r := range n {
			row := dz[r*dl : (r+1)*dl]
			for j, v := range row {
				g[j] += v
			}
		}
		if l == 1 {
			break
		}
		// d(in) = dz * W_l^T  (n x dl)(dl x din), then through the ReLU.
		prev := m.dbuf[l&1][:n*din]
		m.gemm.sgemm(false, true, n, din, dl, 1, dz, dl, m.w[l], dl, 0, prev, din)
		for i, a := range in {
			if a <= 0 {
				prev[i] = 0
			}
		}
		dz = prev
	}
}

// lossGrad is LossGrad on validated data.
func (m *network) lossGrad(grad, X []float32, Y []int) float64 {
	n := len(Y)
	if n == 0 {
		clear(grad)
		return 0
	}
	var gw, gb [][]float32
	if grad != nil {
		gw, gb = layerViews(grad, m.dims)
	}
	d := m.dims[0]
	scale := float32(1 / float64(n))
	var loss float64
	for lo := 0; lo < n; lo += m.chunk {
		hi := min(lo+m.chunk, n)
		x := X[lo*d : hi*d]
		z := m.forward(x, hi-lo)
		loss += m.head(z, Y[lo:hi], scale)
		if grad != nil {
			m.backward(x, hi-lo, gw, gb, lo == 0)
		}
	}
	return loss / float64(n)
}

func (m *network) LossGrad(grad, X []float32, Y []int) (float64, error) {
	if err := m.checkData(X, Y); err != nil {
		return 0, err
	}
	if grad != nil && len(grad) != len(m.params) {
		return 0, fmt.Errorf("%w: gradient has %d entries, model has %d parameters", ErrShape, len(grad), len(m.params))
	}
	return m.lossGrad(grad, X, Y), nil
}

func (m *network) Probabilities(dst, X []float32) ([]float32, error) {
	n, err := m.rowsOf(X)
	if err != nil {
		return dst, err
	}
	d, k := m.dims[0], m.classes
	dst = slices.Grow(dst, n*k)
	for lo := 0; lo < n; lo += m.chunk {
		hi := min(lo+m.chunk, n)
		z := m.forward(X[lo*d:hi*d], hi-lo)
		m.head(z, nil, 1)
		if m.outputs() == 1 {
			for _, p := range z {
				dst = append(dst, 1-p, p)
			}
		} else {
			dst = append(dst, z...)
		}
	}
	return dst, nil
}

// evaluate returns the summed loss and the number of correct predictions
// (argmax, ties to the lower class) over validated data.
func (m *network) evaluate(X []float32, Y []int) (loss float64, correct int) {
	d, k := m.dims[0], m.outputs()
	n := len(Y)
	for lo := 0; lo < n; lo += m.chunk {
		hi := min(lo+m.chunk, n)
		z := m.forward(X[lo*d:hi*d], hi-lo)
		for r := range hi - lo {
			if argmaxLogits(z[r*k:(r+1)*k]) == Y[lo+r] {
				correct++
			}
		}
		loss += m.head(z, Y[lo:hi], 1)
	}
	return loss, correct
}

// argmaxLogits returns the predicted class from one row of logits; a single
// logit is the log-odds of class 1.
func argmaxLogits(z []float32) int {
	if len(z) == 1 {
		if z[0] > 0 {
			return 1
		}
		return 0
	}
	best := 0
	for j, v := range z {
		if v > z[best] {
			best = j
		}
	}
	return best
}
