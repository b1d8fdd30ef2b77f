package secagg

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the known-answer vectors in testdata/")

// katVector is one pinned run: every seed is fixed (identities, party
// randomness, inputs, drops) and delivery is in order (no delay).
type katVector struct {
	name  string
	n     int
	dim   int
	bits  uint
	thr   int
	deg   int
	drop  []dropPoint
	seed  uint64
	check bool // the consistency check
}

var katVectors = []katVector{
	{name: "ring32-complete-drops", n: 6, dim: 8, bits: 32, thr: 3,
		drop: []dropPoint{dropNone, dropNone, dropNone, dropBeforeUnmask, dropBeforeMasked, dropBeforeShare}, seed: 1},
	{name: "ring64-complete", n: 4, dim: 5, bits: 64, thr: 2,
		drop: []dropPoint{dropNone, dropBeforeMasked, dropNone, dropNone}, seed: 2},
	{name: "ring20-sparse-drops", n: 9, dim: 7, bits: 20, thr: 3, deg: 4,
		drop: []dropPoint{dropNone, dropBeforeAdvert, dropNone, dropNone, dropBeforeMasked, dropNone, dropNone, dropBeforeUnmask, dropNone}, seed: 3},
	{name: "ring16-sparse-drops", n: 9, dim: 70, bits: 16, thr: 3, deg: 4,
		drop: []dropPoint{dropNone, dropNone, dropBeforeMasked, dropNone, dropNone, dropBeforeUnmask, dropNone, dropNone, dropNone}, seed: 5},
	{name: "ring16-sparse-check", n: 9, dim: 20, bits: 16, thr: 3, deg: 4, check: true,
		drop: []dropPoint{dropNone, dropNone, dropBeforeMasked, dropNone, dropBeforeConfirmations, dropNone, dropNone, dropNone, dropNone}, seed: 6},
	{name: "abort-below-threshold", n: 4, dim: 3, bits: 32, thr: 3,
		drop: []dropPoint{dropNone, dropBeforeMasked, dropBeforeMasked, dropNone}, seed: 4},
}

// transcript runs v and renders every delivered message (index, step, from,
// to, length, SHA-256) and the outcome.
func (v katVector) transcript(t *testing.T) string {
	p, sk := testParamsCheck(t, v.n, v.dim, v.bits, v.thr, v.deg, 0, v.check)
	in32, in64 := randomInputs(p, v.seed)
	s := newSim(t, p, sk, in32, in64, v.drop, netConfig{Seed: v.seed})
	s.run()
	var b strings.Builder
	fmt.Fprintf(&b, "vector %s parties=%d dim=%d bits=%d threshold=%d degree=%d seed=%d\n",
		v.name, v.n, v.dim, v.bits, v.thr, p.Degree(), v.seed)
	fmt.Fprintf(&b, "drops %v\n", v.drop)
	for i, m := range s.delivered {
		h := sha256.Sum256(m.Data)
		fmt.Fprintf(&b, "msg %d %s %d->%d len=%d sha256=%s\n", i, Step(m.Data[1]), m.From, m.To, len(m.Data), hex.EncodeToString(h[:]))
	}
	if res, ok := s.srv.Result(); ok {
		var sum []byte
		for _, x := range res.Sum32 {
			sum = binary.LittleEndian.AppendUint32(sum, x)
		}
		for _, x := range res.Sum64 {
			sum = binary.LittleEndian.AppendUint64(sum, x)
		}
		fmt.Fprintf(&b, "contributors %v\nsum %s\n", res.Contributors, hex.EncodeToString(sum))
		w32, w64 := plainSum(p, in32, in64, res.Contributors)
		if fmt.Sprint(w32, w64) != fmt.Sprint(res.Sum32, res.Sum64) {
			t.Fatalf("%s: sum differs from the plaintext sum", v.name)
		}
	} else {
		fmt.Fprintf(&b, "aborted %v\n", s.srv.Err())
	}
	return b.String()
}

// TestKnownAnswers pins every message of every round of fixed-seed runs, so a
// wire or derivation change fails at the exact message. Regenerate with
// -update, and say why in the commit.
func TestKnownAnswers(t *testing.T) {
	for _, v := range katVectors {
		t.Run(v.name, func(t *testing.T) {
			got := v.transcript(t)
			if again := v.transcript(t); again != got {
				t.Fatal("run is not deterministic")
			}
			path := filepath.Join("testdata", v.name+".txt")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
			for i := range max(len(gl), len(wl)) {
				var g, w string
				if i < len(gl) {
					g = gl[i]
				}
				if i < len(wl) {
					w = wl[i]
				}
				if g != w {
					t.Fatalf("line %d differs:\n got %s\nwant %s", i+1, g, w)
				}
			}
			if !strings.Contains(string(want), "msg 0 ") {
				t.Fatal("vector pins no message")
			}
		})
	}
}
