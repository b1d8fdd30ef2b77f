package data_test

import (
	"fmt"
	"strings"

	"github.com/consort-ml/consort/federated/data"
)

// Load a bundled set, split it, standardise it and deal it to parties.
func Example() {
	ds, err := data.Load("wine", data.LoadOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	train, test, err := data.Split(ds, 0.25, 1)
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := data.Standardize(train, test); err != nil {
		fmt.Println(err)
		return
	}
	part, err := data.ParsePartition("dirichlet:0.5")
	if err != nil {
		fmt.Println(err)
		return
	}
	parts, err := part.Split(train.Y, train.Classes, 3, 1)
	if err != nil {
		fmt.Println(err)
		return
	}
	total := 0
	for _, p := range parts {
		total += train.Subset(p).Len()
	}
	fmt.Println(ds.Len(), ds.Features, ds.Classes)
	fmt.Println(train.Len(), test.Len(), total)
	// Output:
	// 178 13 3
	// 133 45 133
}

// Read a table of one's own, keeping only the declared feature columns.
func ExampleReadCSV() {
	table := "patient,age,bmi,outcome\n" +
		"p1,54,31.2,relapse\n" +
		"p2,61,24.8,remission\n" +
		"p3,47,27.5,remission\n"
	ds, err := data.ReadCSV(strings.NewReader(table), "cohort.csv", data.LoadOptions{
		Label:   "outcome",
		Columns: []string{"age", "bmi"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(ds.FeatureNames, ds.ClassNames, ds.Y)
	fmt.Println(ds.Row(1))
	// Output:
	// [age bmi] [relapse remission] [0 1 1]
	// [61 24.8]
}

// Errors name the file, line and column, never the cell's content.
func ExampleParseError() {
	_, err := data.ReadCSV(strings.NewReader("age,outcome\n54,relapse\nfifty,remission\n"),
		"cohort.csv", data.LoadOptions{Label: "outcome"})
	fmt.Println(err)
	// Output:
	// data: bad data: cohort.csv: line 3, column 1 ("age"): not a number
}

func ExampleParsePartition() {
	for _, s := range []string{"iid", "dirichlet:0.5", "quantity:1", "dirichlet"} {
		p, err := data.ParsePartition(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(p.Kind, p.Alpha)
	}
	// Output:
	// iid 0
	// dirichlet 0.5
	// quantity 1
	// data: invalid argument: partition "dirichlet": want dirichlet:ALPHA, e.g. dirichlet:0.5
}

// Read a table that is not clean as a federation declares it: a
// categorical column one-hot encoded, a missing value imputed, a row with
// a missing label dropped. Errors would name the line and column only.
func ExampleReadCSV_schema() {
	table := "age,smoker,outcome\n" +
		"50,no,healthy\n" +
		"NA,yes,sick\n" +
		"61,yes,\n"
	ds, err := data.ReadCSV(strings.NewReader(table), "team.csv", data.LoadOptions{Schema: &data.Schema{
		Label:       "outcome",
		Features:    []string{"age", "smoker"},
		Categorical: []data.Categorical{{Column: "smoker", Values: []string{"no", "yes"}}},
		Missing: []data.MissingRule{
			{Column: "age", Action: data.MissingImpute, Value: "40"},
			{Column: "outcome", Action: data.MissingDrop},
		},
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(ds.FeatureNames)
	for i := range ds.Len() {
		fmt.Println(ds.Row(i), ds.ClassNames[ds.Y[i]])
	}
	fmt.Println("dropped", ds.Dropped)

	_, err = data.ReadCSV(strings.NewReader("age,smoker,outcome\n50,cigar,sick\n"), "team.csv", data.LoadOptions{Schema: &data.Schema{
		Label: "outcome", Features: []string{"age", "smoker"},
		Categorical: []data.Categorical{{Column: "smoker", Values: []string{"no", "yes"}}},
	}})
	fmt.Println(err)
	// Output:
	// [age smoker=no smoker=yes]
	// [50 1 0] healthy
	// [40 0 1] sick
	// dropped 1
	// data: bad data: team.csv: line 2, column 2 ("smoker"): category not in the declared vocabulary of 2 values (declare it, or unknown = "zero")
}
