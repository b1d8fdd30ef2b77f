package runner

import (
	"fmt"
	"strings"
)

// ParseArgv splits a command line such as the node's --trainer flag
// ("python3 train.py --data '/srv/my data'") into words the way a POSIX
// shell would, without any expansion: words are separated by blanks;
// single quotes keep everything literally; double quotes keep everything
// but a backslash before ", \ or $; a backslash outside quotes escapes the
// next character. Variables, globs, pipes and redirections are not
// interpreted (the trainer runs without a shell).
func ParseArgv(s string) ([]string, error) {
	var (
		words []string
		cur   strings.Builder
		in    bool // inside a word
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("%w: unterminated single quote in the trainer command", ErrConfig)
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			in = true
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte(`"\$`, s[i+1]) >= 0 {
					i++
				}
				cur.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, fmt.Errorf("%w: unterminated double quote in the trainer command", ErrConfig)
			}
			in = true
		case c == '\\':
			if i+1 >= len(s) {
				return nil, fmt.Errorf("%w: trailing backslash in the trainer command", ErrConfig)
			}
			i++
			cur.WriteByte(s[i])
			in = true
		case c == 0:
			return nil, fmt.Errorf("%w: NUL byte in the trainer command", ErrConfig)
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	if in {
		words = append(words, cur.String())
	}
	if len(words) == 0 {
		return nil, fmt.Errorf("%w: empty trainer command", ErrConfig)
	}
	return words, nil
}
