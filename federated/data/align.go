package data

import (
	"fmt"
)

// AlignClasses renumbers ds's labels to the federation's class list, so that
// class i means the same label value at every node whatever labels a node's
// own file happens to contain. A label the federation does not declare is an
// error (its value is not quoted: labels can be sensitive).
func AlignClasses(ds *Dataset, classNames []string) error {
	if len(classNames) == 0 {
		return nil
	}
	idx := make(map[string]int, len(classNames))
	for i, c := range classNames {
		idx[c] = i
	}
	remap := make([]int, len(ds.ClassNames))
	for i, c := range ds.ClassNames {
		j, ok := idx[c]
		if !ok {
			return fmt.Errorf("%w: %s has a label value the federation does not declare (class %d of %d in the file)", ErrBadData, ds.Name, i+1, len(ds.ClassNames))
		}
		remap[i] = j
	}
	for i, y := range ds.Y {
		ds.Y[i] = remap[y]
	}
	ds.Classes = len(classNames)
	ds.ClassNames = classNames
	return nil
}
