package mhe

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"fmt"
	"hash"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/tuneinsight/lattigo/v6/multiparty"
)

var update = flag.Bool("update", false, "rewrite testdata/kat.txt")

func sum256(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// katVectors computes every known-answer vector (see testdata/README.md).
func katVectors(t *testing.T) map[string]string {
	out := map[string]string{}
	out["header"] = hex.EncodeToString(appendHeader(nil, header{kind: KindCiphertext, from: 3, to: 0, round: 0x0102030405060708, attempt: 7, fed: "kat-fed"}))
	n13, err := LookupParams("N13-T128")
	if err != nil {
		t.Fatal(err)
	}
	for _, lit := range []ParamsLiteral{InsecureTestParams(), n13} {
		p := mustParams(t, lit)
		pp := p.p
		for _, b := range []uint{32, 16} {
			r := rand.New(rand.NewPCG(1, uint64(b)))
			clamp := int32((int64(1)<<(b-1) - 1) / 5)
			vals := make([]int32, p.ValuesPerCiphertext(b))
			for i := range vals {
				vals[i] = int32(r.Int64N(2*int64(clamp)+1)) - clamp
			}
			poly := pp.rlwe.RingQ().AtLevel(pp.level).NewPoly()
			var scratch []uint64
			pp.embed(poly, toU32(vals), clamp, b, &scratch)
			out[fmt.Sprintf("embed/%s/b=%d", lit.Name, b)] = sum256(pp.appendPolyQ(nil, poly))
		}
		e := pp.rlwe.RingQ().AtLevel(pp.level).NewPoly()
		newSmudger(pp, [32]byte{1}).sample(e)
		out["smudge/"+lit.Name] = sum256(pp.appendPolyQ(nil, e))
		sk := pp.secretKeyFromSeed([]byte("kat"))
		out["secret-key/"+lit.Name] = sum256(pp.appendPolyQP(nil, sk.Value))
		crp := pp.crp("kat-fed", [32]byte{1})
		out["crp/"+lit.Name] = sum256(pp.appendPolyQP(nil, crp.Value))
		km := &KeyMaterial{p: p, fed: "kat-fed", id: 2, n: 5, t: 3, recipient: RecipientNodes, crs: [32]byte{1}, rseed: [32]byte{2},
			share: multiparty.ShamirSecretShare{Poly: pp.secretKeyFromSeed([]byte("share")).Value},
			pk0:   pp.secretKeyFromSeed([]byte("pk0")).Value}
		kb, err := km.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		out["key-material/"+lit.Name] = sum256(kb)
		msg := appendHeader(nil, header{kind: KindCiphertext, from: 1, round: 1, fed: "kat-fed"})
		msg = pp.appendPolyQ(msg, crp.Value.Q)
		msg = pp.appendPolyQ(msg, sk.Value.Q)
		out["ciphertext-message/"+lit.Name] = sum256(msg)
	}
	// A whole run: setup and one round of three parties, threshold 2, node 1
	// dropping during the decryption; every party's randomness comes from
	// its seeded reader, so every message is pinned (hashed per kind, in
	// delivery order) and so is the decrypted sum.
	{
		p := mustParams(t, InsecureTestParams())
		cfg := SetupConfig{Params: p, FederationID: "kat-run", Parties: 3, Threshold: 2, CRS: [32]byte{7}}
		hashes := map[string]hash.Hash{}
		capture := func(phase string) func(Message) {
			return func(m Message) {
				k, _ := MessageKind(m.Data)
				name := "run/" + phase + "/" + k.String()
				if hashes[name] == nil {
					hashes[name] = sha256.New()
				}
				hashes[name].Write(m.Data)
			}
		}
		f := runSetupCapture(t, cfg, capture("setup"))
		rc := RoundConfig{FederationID: "kat-run", Round: 1, Dim: 5000, Participants: ids(3), Bound: 1}
		res, st, err := runRound(t, f, rc, randomInputs(rc.Participants, rc.Dim, 1, 9), nil, map[int]bool{1: true})
		if err != nil {
			t.Fatal(err)
		}
		round := capture("round1")
		for _, m := range st.delivered {
			round(m)
		}
		for name, h := range hashes {
			out[name] = hex.EncodeToString(h.Sum(nil))
		}
		b := make([]byte, 0, 8*len(res.Quantized))
		for _, v := range res.Quantized {
			b = binary.LittleEndian.AppendUint64(b, uint64(v))
		}
		out["run/round1/sum"] = sum256(b)
	}
	in := make([]float32, 1000)
	r := rand.New(rand.NewPCG(2, 2))
	for i := range in {
		in[i] = (2*r.Float32() - 1) * 3
	}
	for _, c := range []struct {
		rnd  Rounding
		bits uint
	}{{RoundStochastic, 32}, {RoundStochastic, 16}, {RoundNearest, 16}} {
		rnd := c.rnd
		rc := RoundConfig{Participants: ids(7), Bound: 3, Rounding: rnd, QuantBits: c.bits}
		q := make([]int32, len(in))
		if err := rc.Quantize(q, in, [32]byte{3}); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 0, 4*len(q))
		for _, v := range q {
			b = binary.LittleEndian.AppendUint32(b, uint32(v))
		}
		out[fmt.Sprintf("quantize/rounding=%d/b=%d", rnd, c.bits)] = sum256(b)
	}
	return out
}

// TestKnownAnswers pins every encoding: a change in the plaintext packing,
// the wire layout, the key file, the samplers seeded by our own seeds or the
// quantisation fails here. Regenerate with -update and say why in the commit.
func TestKnownAnswers(t *testing.T) {
	got := katVectors(t)
	const path = "testdata/kat.txt"
	if *update {
		keys := make([]string, 0, len(got))
		for k := range got {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		var sb strings.Builder
		for _, k := range keys {
			fmt.Fprintf(&sb, "%s %s\n", k, got[k])
		}
		if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			t.Fatalf("bad line %q", sc.Text())
		}
		want[name] = v
	}
	if len(want) != len(got) || len(want) == 0 {
		t.Fatalf("%d vectors in %s, computed %d", len(want), path, len(got))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %s, want %s", k, got[k], v)
		}
	}
}
