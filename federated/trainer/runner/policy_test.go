package runner

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

func TestPolicyApply(t *testing.T) {
	const file = `
digest            = "` + "ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789" + `"
require_digest    = true
allow_unsandboxed = false
cpu               = "90s"
wall              = "5m"
memory            = "6GiB"
work_dir          = "512 MiB"
max_examples      = 70000
`
	var p Policy
	md, err := toml.Decode(file, &p)
	if err != nil || len(md.Undecoded()) != 0 {
		t.Fatalf("%v %v", err, md.Undecoded())
	}
	var c Command
	if err := p.Apply(&c); err != nil {
		t.Fatal(err)
	}
	want := Limits{CPU: 90 * time.Second, Wall: 5 * time.Minute, Memory: 6 << 30, WorkBytes: 512 << 20, MaxExamples: 70000}
	if c.Limits != want || !c.RequirePin || c.AllowUnsandboxed || c.Pin != strings.ToLower("ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789") {
		t.Fatalf("%+v", c)
	}
	for _, bad := range []Policy{{Digest: "xyz"}, {CPU: "10"}, {Wall: "-1s"}, {Memory: "8 GB!"}, {WorkDir: "0"}} {
		if err := bad.Apply(&Command{}); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: got %v", bad, err)
		}
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "17": 17, "1B": 1, "2KiB": 2048, "3 MiB": 3 << 20, "8GiB": 8 << 30, "1TiB": 1 << 40, "5kB": 5000, "2GB": 2e9} {
		if got, err := ParseBytes(in); err != nil || got != want {
			t.Errorf("%q: %d %v, want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "GiB", "1.5GiB", "1XB", "-1", "9999999999TiB"} {
		if _, err := ParseBytes(bad); !errors.Is(err, ErrConfig) {
			t.Errorf("%q: got %v", bad, err)
		}
	}
}
