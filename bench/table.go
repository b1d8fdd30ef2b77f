package bench

import "fmt"

// verdict renders the target and pass columns of a result table: "-" for
// both when there is no target (target <= 0).
func verdict(op string, target float64, pass bool) (string, string) {
	if target <= 0 {
		return "-", "-"
	}
	if pass {
		return fmt.Sprintf("%s %.2f", op, target), "yes"
	}
	return fmt.Sprintf("%s %.2f", op, target), "no"
}
