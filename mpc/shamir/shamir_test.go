package shamir

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"math/big"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/kat.txt")

func testRand(seed byte) *rand.ChaCha8 {
	var s [32]byte
	s[0] = seed
	return rand.NewChaCha8(s)
}

func holders(n int) []uint16 {
	h := make([]uint16, n)
	for i := range h {
		h[i] = uint16(i + 1)
	}
	return h
}

func bigP() *big.Int { return new(big.Int).SetBytes(pBytes[:]) }

func leToBig(b []byte) *big.Int {
	be := make([]byte, len(b))
	for i := range b {
		be[len(b)-1-i] = b[i]
	}
	return new(big.Int).SetBytes(be)
}

func TestModulusIsPrimeAbove2To256(t *testing.T) {
	p := bigP()
	want := new(big.Int).Add(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(297))
	if p.Cmp(want) != 0 {
		t.Fatalf("p = %x, want 2^256+297", p)
	}
	if !p.ProbablyPrime(64) {
		t.Fatal("p is not prime")
	}
	// No prime between 2^256 and p: p is the smallest.
	for c := int64(1); c < 297; c += 2 {
		q := new(big.Int).Add(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(c))
		if q.ProbablyPrime(20) {
			t.Fatalf("2^256+%d is prime", c)
		}
	}
}

// TestSplitMatchesNaive checks Split against a math/big evaluation of the same
// polynomial: the coefficients are drawn from an identical reader.
func TestSplitMatchesNaive(t *testing.T) {
	p := bigP()
	for _, tc := range []struct{ t, n int }{{1, 1}, {1, 4}, {2, 3}, {3, 5}, {7, 10}, {10, 10}, {20, 50}} {
		s, err := New(tc.t, holders(tc.n))
		if err != nil {
			t.Fatal(err)
		}
		var secret [SecretSize]byte
		testRand(9).Read(secret[:])
		shares, err := s.Split(&secret, testRand(byte(tc.n)))
		if err != nil {
			t.Fatal(err)
		}
		// Naive: redraw the coefficients with the same rejection rule.
		r := testRand(byte(tc.n))
		coef := []*big.Int{leToBig(secret[:])}
		for len(coef) < tc.t {
			var b [ElementSize]byte
			r.Read(b[:])
			b[ElementSize-1] &= 1
			if c := leToBig(b[:]); c.Cmp(p) < 0 {
				coef = append(coef, c)
			}
		}
		for i, sh := range shares {
			x := big.NewInt(int64(i + 1))
			y, xp := new(big.Int), big.NewInt(1)
			for _, c := range coef {
				y.Add(y, new(big.Int).Mul(c, xp))
				xp.Mul(xp, x)
			}
			y.Mod(y, p)
			if got := leToBig(sh.y[:]); got.Cmp(y) != 0 || sh.Index() != uint16(i+1) {
				t.Fatalf("t=%d n=%d share %d: got (%d, %x), want (%d, %x)", tc.t, tc.n, i, sh.Index(), got, i+1, y)
			}
		}
	}
}

// TestAnyTReconstruct: every subset of size >= t, in any order, recovers the
// secret; the first t shares are the ones used.
func TestAnyTReconstruct(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct{ t, n int }{{1, 3}, {2, 3}, {3, 3}, {3, 6}, {5, 9}, {26, 51}} {
		h := holders(tc.n)
		// Non-contiguous holder ids too.
		for i := range h {
			h[i] = uint16(3*i + 7)
		}
		s, err := New(tc.t, h)
		if err != nil {
			t.Fatal(err)
		}
		for trial := range 20 {
			var secret [SecretSize]byte
			testRand(byte(trial)).Read(secret[:])
			if trial == 0 {
				secret = [SecretSize]byte{}
			}
			if trial == 1 {
				for i := range secret {
					secret[i] = 0xff
				}
			}
			shares, err := s.Split(&secret, testRand(byte(100+trial)))
			if err != nil {
				t.Fatal(err)
			}
			k := tc.t + r.IntN(tc.n-tc.t+1)
			perm := r.Perm(tc.n)[:k]
			sub := make([]Share, 0, k)
			for _, i := range perm {
				sub = append(sub, shares[i])
			}
			got, err := s.Combine(sub)
			if err != nil {
				t.Fatalf("t=%d n=%d k=%d: %v", tc.t, tc.n, k, err)
			}
			if got != secret {
				t.Fatalf("t=%d n=%d k=%d: wrong secret", tc.t, tc.n, k)
			}
			if tc.t > 1 {
				if _, err := s.Combine(sub[:tc.t-1]); !errors.Is(err, ErrTooFewShares) {
					t.Fatalf("t-1 shares: err = %v, want ErrTooFewShares", err)
				}
			}
		}
	}
}

// TestTMinusOneRevealNothing: for t-1 shares of secret A and any other secret
// B, the unique polynomial through the t-1 points and (0, B) has degree < t;
// completing the t-1 real shares with its value at a t-th holder reconstructs
// B. So the t-1 shares are consistent with every secret.
func TestTMinusOneRevealNothing(t *testing.T) {
	p := bigP()
	for _, tc := range []struct{ t, n int }{{2, 3}, {3, 5}, {6, 8}} {
		s, err := New(tc.t, holders(tc.n))
		if err != nil {
			t.Fatal(err)
		}
		var a, b [SecretSize]byte
		testRand(1).Read(a[:])
		testRand(2).Read(b[:])
		shares, err := s.Split(&a, testRand(3))
		if err != nil {
			t.Fatal(err)
		}
		known := shares[:tc.t-1]
		// Lagrange-interpolate (0,B) and known, evaluate at x = n.
		xs := []*big.Int{big.NewInt(0)}
		ys := []*big.Int{leToBig(b[:])}
		for _, sh := range known {
			xs = append(xs, big.NewInt(int64(sh.Index())))
			ys = append(ys, leToBig(sh.y[:]))
		}
		target := big.NewInt(int64(tc.n))
		val := new(big.Int)
		for i := range xs {
			num, den := big.NewInt(1), big.NewInt(1)
			for j := range xs {
				if i == j {
					continue
				}
				num.Mul(num, new(big.Int).Sub(target, xs[j]))
				den.Mul(den, new(big.Int).Sub(xs[i], xs[j]))
			}
			num.Mod(num, p)
			den.Mod(den, p)
			den.ModInverse(den, p)
			term := new(big.Int).Mul(ys[i], num)
			term.Mul(term, den)
			val.Add(val, term)
		}
		val.Mod(val, p)
		var forged [ElementSize]byte
		val.FillBytes(forged[:])
		for i, j := 0, ElementSize-1; i < j; i, j = i+1, j-1 {
			forged[i], forged[j] = forged[j], forged[i]
		}
		fs, err := ParseShare(uint16(tc.n), forged[:])
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Combine(append(append([]Share{}, known...), fs))
		if err != nil {
			t.Fatal(err)
		}
		if got != b {
			t.Fatalf("t=%d: t-1 shares of A are not consistent with B", tc.t)
		}
		if got == a {
			t.Fatal("A and B coincide")
		}
	}
}

func TestErrors(t *testing.T) {
	if _, err := New(0, holders(3)); !errors.Is(err, ErrThreshold) {
		t.Errorf("t=0: %v", err)
	}
	if _, err := New(4, holders(3)); !errors.Is(err, ErrThreshold) {
		t.Errorf("t>n: %v", err)
	}
	if _, err := New(1, nil); !errors.Is(err, ErrThreshold) {
		t.Errorf("no holders: %v", err)
	}
	if _, err := New(2, []uint16{1, 2, 1}); !errors.Is(err, ErrDuplicateIndex) {
		t.Errorf("duplicate holder: %v", err)
	}
	if _, err := New(2, []uint16{1, 0}); !errors.Is(err, ErrUnknownIndex) {
		t.Errorf("holder 0: %v", err)
	}
	s, _ := New(2, holders(4))
	var secret [SecretSize]byte
	shares, err := s.Split(&secret, testRand(1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Combine([]Share{shares[1], shares[1]}); !errors.Is(err, ErrDuplicateIndex) {
		t.Errorf("duplicate share: %v", err)
	}
	other, _ := New(2, []uint16{1, 9})
	o, _ := other.Split(&secret, testRand(2))
	if _, err := s.Combine([]Share{shares[0], o[1]}); !errors.Is(err, ErrUnknownIndex) {
		t.Errorf("unknown index: %v", err)
	}
	if _, err := s.Split(&secret, bytes.NewReader(make([]byte, 10))); !errors.Is(err, ErrRandom) {
		t.Errorf("short reader: %v", err)
	}
	// A reader of all ones never yields a value below p.
	if _, err := s.Split(&secret, bytes.NewReader(bytes.Repeat([]byte{0xff}, 257*ElementSize))); !errors.Is(err, ErrRandom) {
		t.Errorf("constant reader: %v", err)
	}
	// A wrong share gives a wrong or inconsistent secret, never the right one.
	var one [SecretSize]byte
	one[0] = 1
	sh, _ := s.Split(&one, testRand(4))
	bad := sh[0]
	bad.y[3] ^= 1
	if got, err := s.Combine([]Share{bad, sh[1]}); err == nil && got == one {
		t.Error("corrupted share reconstructed the secret")
	}
	// Error text names no share bytes.
	var v [ElementSize]byte
	for i := range v {
		v[i] = 0xff
	}
	_, err = ParseShare(3, v[:])
	if !errors.Is(err, ErrMalformed) || strings.Contains(err.Error(), "ff") {
		t.Errorf("non-canonical: %v", err)
	}
}

func TestCanonical(t *testing.T) {
	p := bigP()
	for _, v := range []*big.Int{
		big.NewInt(0), big.NewInt(1),
		new(big.Int).Sub(p, big.NewInt(1)), p, new(big.Int).Add(p, big.NewInt(1)),
		new(big.Int).Lsh(big.NewInt(1), 256), new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 264), big.NewInt(1)),
	} {
		var b [ElementSize]byte
		v.FillBytes(b[:])
		for i, j := 0, ElementSize-1; i < j; i, j = i+1, j-1 {
			b[i], b[j] = b[j], b[i]
		}
		if got, want := canonical(&b), v.Cmp(p) < 0; got != want {
			t.Errorf("canonical(%x) = %v, want %v", v, got, want)
		}
	}
}

// TestKnownAnswer pins the shares of a fixed secret and reader, so any change
// of encoding, field or sampling shows up. Regenerate with -update.
func TestKnownAnswer(t *testing.T) {
	s, err := New(3, holders(5))
	if err != nil {
		t.Fatal(err)
	}
	var secret [SecretSize]byte
	copy(secret[:], "consort shamir known answer 0001")
	shares, err := s.Split(&secret, testRand(42))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("# shamir known answers: t=3, holders 1..5, secret \"consort shamir known answer 0001\",\n")
	b.WriteString("# coefficients from math/rand/v2 ChaCha8 with seed byte 42 (see TestKnownAnswer).\n")
	b.WriteString("# one line per share: ShareSize-byte encoding in hex\n")
	for i := range shares {
		enc, _ := shares[i].MarshalBinary()
		b.WriteString(hex.EncodeToString(enc) + "\n")
	}
	got := b.String()
	path := filepath.Join("testdata", "kat.txt")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Fatalf("known answers changed:\n%s\nwant:\n%s", got, want)
	}
	sum := sha256.Sum256(want)
	if sum == ([32]byte{}) {
		t.Fatal("empty vectors")
	}
	sec, err := s.Combine([]Share{shares[4], shares[2], shares[0]})
	if err != nil || sec != secret {
		t.Fatalf("combine KAT shares: %v", err)
	}
}
