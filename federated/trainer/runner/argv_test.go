package runner

import (
	"errors"
	"slices"
	"testing"
)

func TestParseArgv(t *testing.T) {
	for in, want := range map[string][]string{
		"python3 train.py":                       {"python3", "train.py"},
		"  python3   train.py\t--x 1 ":           {"python3", "train.py", "--x", "1"},
		`python3 train.py --data '/srv/my data'`: {"python3", "train.py", "--data", "/srv/my data"},
		`a "b c" d`:                              {"a", "b c", "d"},
		`a "say \"hi\" \$HOME \n"`:               {"a", `say "hi" $HOME \n`},
		`a b\ c`:                                 {"a", "b c"},
		`a ''`:                                   {"a", ""},
		`a'b'"c"d`:                               {"abcd"},
		`echo $HOME *.py`:                        {"echo", "$HOME", "*.py"},
	} {
		got, err := ParseArgv(in)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%q: got %q %v, want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "   ", "a 'b", `a "b`, `a \`, "a\x00b"} {
		if _, err := ParseArgv(bad); !errors.Is(err, ErrConfig) {
			t.Errorf("%q: got %v", bad, err)
		}
	}
}
