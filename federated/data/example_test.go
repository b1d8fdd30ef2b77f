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
