package secagg

import (
	"bytes"
	"errors"
	"testing"

	"github.com/consort-ml/consort/kernels"
	"github.com/consort-ml/consort/mpc"
)

// decoded is any message, decoded with the production decoders.
type decoded struct {
	h      header
	adv    advertise
	keys   []keyEntry
	cts    []ctEntry
	masked vec
	ids    []uint16
	shares []unmaskShare
	reason uint8
	conf   confirm
	confs  confirmations
}

func decodeAny(p *Params, data []byte) (decoded, error) {
	var d decoded
	h, body, err := p.parseHeader(data)
	if err != nil {
		return d, err
	}
	d.h = h
	switch h.step {
	case StepAdvertiseKeys:
		d.adv, err = decodeAdvertise(body)
	case StepKeyList:
		d.keys, err = p.decodeKeyList(body)
	case StepShareKeys:
		d.cts, err = p.decodeCiphertexts(body, h.from)
	case StepShares:
		d.cts, err = p.decodeCiphertexts(body, h.to)
	case StepMaskedInput:
		d.masked = newVec(p)
		switch {
		case d.masked.v16 != nil:
			err = kernels.Unpack16(d.masked.v16, body, p.bits)
		case p.Wide():
			err = kernels.Unpack64(d.masked.v64, body, p.bits)
		default:
			err = kernels.Unpack32(d.masked.v32, body, p.bits)
		}
		if err != nil {
			err = errors.Join(mpc.ErrMalformed, err)
		}
	case StepUnmask, StepDone:
		d.ids, err = p.decodeBitmap(body)
	case StepUnmaskShares:
		d.shares, err = p.decodeUnmaskShares(body)
	case StepAbort:
		d.reason, err = decodeAbort(body)
	case StepConfirm:
		d.conf, err = p.decodeConfirm(body, h.from)
	case StepConfirmations:
		d.confs, err = p.decodeConfirmations(body, h.to)
	}
	return d, err
}

func (d decoded) encode(p *Params) []byte {
	b := p.appendHeader(nil, d.h.step, d.h.from, d.h.to)
	switch d.h.step {
	case StepAdvertiseKeys:
		return d.adv.append(b)
	case StepKeyList:
		return appendKeyList(b, d.keys)
	case StepShareKeys, StepShares:
		return appendCiphertexts(b, d.cts)
	case StepMaskedInput:
		return d.masked.pack(b)
	case StepUnmask, StepDone:
		return p.appendBitmap(b, d.ids)
	case StepUnmaskShares:
		return appendUnmaskShares(b, d.shares)
	case StepAbort:
		return append(b, d.reason)
	case StepConfirm:
		return d.conf.append(b)
	case StepConfirmations:
		return d.confs.append(b)
	}
	return nil
}

// fuzzParams are the parameters every fuzz target decodes under: 5 parties,
// threshold 2, a complete graph, a 13-bit ring (so packing has padding bits),
// the consistency check on (so its two steps are decoded too).
func fuzzParams(t testing.TB) *Params {
	p, _ := testParamsCheck(t, 5, 11, 13, 2, 0, 0, true)
	return p
}

// fuzzCorpus runs a round with drops and an aborting round under fuzzParams
// and returns every message of the given step.
func fuzzCorpus(t testing.TB, step Step) [][]byte {
	p := fuzzParams(t)
	sk, _ := testIdentities(5, 1)
	var out [][]byte
	for _, drop := range [][]dropPoint{
		{dropNone, dropBeforeShare, dropNone, dropBeforeMasked, dropBeforeUnmask},
		{dropNone, dropBeforeAdvert, dropBeforeAdvert, dropBeforeAdvert, dropBeforeAdvert},
	} {
		in32, _ := randomInputs(p, 1)
		s := newSim(t, p, sk, in32, nil, drop, netConfig{Seed: 1})
		s.run()
		for _, m := range s.delivered {
			if Step(m.Data[1]) == step {
				out = append(out, m.Data)
			}
		}
	}
	return out
}

// mutations returns b, truncations, one byte more and less, bit flips, and
// count fields plus and minus one.
func mutations(b []byte, countAt int) [][]byte {
	out := [][]byte{b}
	for n := 0; n < len(b); n += 1 + len(b)/12 {
		out = append(out, b[:n])
	}
	out = append(out, append(bytes.Clone(b), 0), b[:len(b)-1])
	for i := 0; i < 8*len(b); i += 1 + 8*len(b)/24 {
		c := bytes.Clone(b)
		c[i/8] ^= 1 << (i % 8)
		out = append(out, c)
	}
	if countAt >= 0 && countAt+1 < len(b) {
		for _, d := range []int{-1, 1} {
			c := bytes.Clone(b)
			c[countAt] = byte(int(c[countAt]) + d)
			out = append(out, c)
		}
	}
	return out
}

func fuzzDecoder(f *testing.F, step Step) {
	p := fuzzParams(f)
	corpus := fuzzCorpus(f, step)
	if len(corpus) == 0 {
		f.Fatalf("no %v message in the seed corpus", step)
	}
	countAt := -1
	switch step {
	case StepKeyList, StepShareKeys, StepShares, StepUnmaskShares:
		countAt = p.headerSize()
	case StepConfirm:
		countAt = p.headerSize() + SignatureSize
	case StepConfirmations:
		countAt = p.headerSize() + p.bitmapSize()
	}
	for _, c := range corpus {
		for _, m := range mutations(c, countAt) {
			f.Add(m)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := decodeAny(p, data)
		if err != nil {
			if !errors.Is(err, mpc.ErrMalformed) && !errors.Is(err, mpc.ErrProtocol) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		if got := d.encode(p); !bytes.Equal(got, data) {
			t.Fatalf("accepted input re-encodes differently:\n in %x\nout %x", data, got)
		}
	})
}

func FuzzAdvertiseKeys(f *testing.F) { fuzzDecoder(f, StepAdvertiseKeys) }
func FuzzKeyList(f *testing.F)       { fuzzDecoder(f, StepKeyList) }
func FuzzShareKeys(f *testing.F)     { fuzzDecoder(f, StepShareKeys) }
func FuzzShares(f *testing.F)        { fuzzDecoder(f, StepShares) }
func FuzzMaskedInput(f *testing.F)   { fuzzDecoder(f, StepMaskedInput) }
func FuzzUnmask(f *testing.F)        { fuzzDecoder(f, StepUnmask) }
func FuzzUnmaskShares(f *testing.F)  { fuzzDecoder(f, StepUnmaskShares) }
func FuzzDone(f *testing.F)          { fuzzDecoder(f, StepDone) }
func FuzzAbort(f *testing.F)         { fuzzDecoder(f, StepAbort) }
func FuzzConfirm(f *testing.F)       { fuzzDecoder(f, StepConfirm) }
func FuzzConfirmations(f *testing.F) { fuzzDecoder(f, StepConfirmations) }

// FuzzClientStep feeds arbitrary server bytes to a party waiting for its
// key list: no panic, and every error is classified.
func FuzzClientStep(f *testing.F) {
	p := fuzzParams(f)
	sk, _ := testIdentities(5, 1)
	for _, step := range []Step{StepKeyList, StepAbort, StepShares, StepConfirmations} {
		for _, c := range fuzzCorpus(f, step) {
			for _, m := range mutations(c, p.headerSize()) {
				f.Add(m)
			}
		}
	}
	in := make([]uint32, p.dim)
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := NewClient(ClientConfig{Params: p, ID: 1, Signer: sk[0], Input32: in}, clientRand(1, 1))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Start(); err != nil {
			t.Fatal(err)
		}
		_, err = c.Step(Message{From: 0, To: 1, Data: data})
		if err != nil && !errors.Is(err, mpc.ErrMalformed) && !errors.Is(err, mpc.ErrProtocol) &&
			!errors.Is(err, mpc.ErrTooFewParties) && !errors.Is(err, mpc.ErrUnrecoverable) && !errors.Is(err, ErrUnexpected) {
			t.Fatalf("unclassified error: %v", err)
		}
	})
}
