package federated

import "github.com/consort-ml/consort/federated/data"

// AlignClasses renumbers ds's labels to the federation's class list (see data.AlignClasses).
func AlignClasses(ds *data.Dataset, classNames []string) error {
	return data.AlignClasses(ds, classNames)
}
