package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/consort-ml/consort/federated"
)

// TestProgressTerminal: on a terminal, a log line erases the bar, is
// written on a line of its own, and the bar is drawn again; the last round
// ends the bar's line.
func TestProgressTerminal(t *testing.T) {
	var screen bytes.Buffer // stdout and stderr on the same terminal
	p := &progress{out: &screen, tty: true}
	logw := &barClearingWriter{p: p, w: &screen}
	rep := func(k int) federated.RoundReport {
		return federated.RoundReport{Round: k, Rounds: 2, Participants: 3, Contributors: 3, Accuracy: 0.5, Seconds: 0.25}
	}
	logw.Write([]byte("level=INFO msg=before\n"))
	p.Round(rep(1))
	logw.Write([]byte("level=INFO msg=during\n"))
	p.Round(rep(2))
	logw.Write([]byte("level=INFO msg=after\n"))
	bar1 := "[############............] round 1/2  contributors 3/3  accuracy 0.5000  0.25s"
	bar2 := "[########################] round 2/2  contributors 3/3  accuracy 0.5000  0.25s"
	want := "level=INFO msg=before\n" +
		eraseLine + bar1 +
		eraseLine + "level=INFO msg=during\n" + bar1 +
		eraseLine + bar2 + "\n" +
		"level=INFO msg=after\n"
	if screen.String() != want {
		t.Errorf("terminal output\n%q\nwant\n%q", screen.String(), want)
	}
	// What the terminal shows: the log lines and the final bar, none sharing a line.
	shown := renderTerminal(screen.String())
	if strings.Join(shown, "|") != "level=INFO msg=before|level=INFO msg=during|"+bar2+"|level=INFO msg=after" {
		t.Errorf("terminal shows %q", shown)
	}
}

// TestProgressPlain: not on a terminal, one plain line per round.
func TestProgressPlain(t *testing.T) {
	var out bytes.Buffer
	p := &progress{out: &out}
	p.Round(federated.RoundReport{Round: 1, Rounds: 2, Participants: 3, Contributors: 2, Accuracy: -1, Seconds: 1, Epsilon: 0.5})
	p.Println("training done")
	if want := "round 1/2  contributors 2/3  accuracy n/a  1.00s  epsilon 0.500\ntraining done\n"; out.String() != want {
		t.Errorf("%q, want %q", out.String(), want)
	}
}

// renderTerminal interprets \r, ESC[K and \n as a terminal would.
func renderTerminal(s string) []string {
	var lines []string
	var cur []rune
	col := 0
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "\x1b[K"):
			cur = cur[:col]
			i += 3
		case s[i] == '\r':
			col = 0
			i++
		case s[i] == '\n':
			lines = append(lines, string(cur))
			cur, col = nil, 0
			i++
		default:
			r := rune(s[i])
			if col < len(cur) {
				cur[col] = r
			} else {
				cur = append(cur, r)
			}
			col++
			i++
		}
	}
	if len(cur) > 0 {
		lines = append(lines, string(cur))
	}
	return lines
}
