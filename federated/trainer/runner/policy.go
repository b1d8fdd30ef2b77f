package runner

import (
	"fmt"
	"github.com/consort-ml/consort/federated/trainer"
	"math"
	"strconv"
	"strings"
	"time"
)

// Policy is the trainer part of a node's policy, in the plain form a TOML
// or JSON file holds (durations like "10m", sizes like "8GiB"); the policy
// package embeds it and [Policy.Apply] turns it into a [Command]'s pin,
// sandbox rule and [Limits]. Its TOML form, as a [trainer] table:
//
//	digest            = "9f2c..."   # the approved Digest of the program files; empty: any
//	require_digest    = true        # refuse to run a trainer without a digest pin
//	allow_unsandboxed = false       # run without the sandbox where it is missing (logged, audited)
//	cpu               = "10m"       # CPU time per call (all processes)
//	wall              = "30m"       # wall time per call
//	start             = "2m"        # time to the trainer's hello
//	memory            = "8GiB"      # address space per process and resident memory of the tree
//	work_dir          = "1GiB"      # working directory size
//	max_stderr        = "1MiB"      # standard error kept for the node's log
//	max_examples      = 1000000     # the largest example count a trainer may claim
//
// Empty fields keep the [Limits] defaults.
type Policy struct {
	// Digest is the approved [trainer.Digest] of the program files, in hex (empty: any).
	Digest string `toml:"digest" json:"digest,omitempty"`
	// RequireDigest refuses to run a trainer when Digest is empty.
	RequireDigest bool `toml:"require_digest" json:"require_digest,omitempty"`
	// AllowUnsandboxed runs the trainer without the sandbox where it is missing.
	AllowUnsandboxed bool `toml:"allow_unsandboxed" json:"allow_unsandboxed,omitempty"`
	// CPU, Wall and Start are durations: [Limits.CPU], [Limits.Wall], [Limits.Start].
	CPU   string `toml:"cpu" json:"cpu,omitempty"`
	Wall  string `toml:"wall" json:"wall,omitempty"`
	Start string `toml:"start" json:"start,omitempty"`
	// Memory, WorkDir and MaxStderr are sizes: [Limits.Memory],
	// [Limits.WorkBytes], [Limits.MaxStderr].
	Memory    string `toml:"memory" json:"memory,omitempty"`
	WorkDir   string `toml:"work_dir" json:"work_dir,omitempty"`
	MaxStderr string `toml:"max_stderr" json:"max_stderr,omitempty"`
	// MaxExamples is [Limits.MaxExamples].
	MaxExamples uint64 `toml:"max_examples" json:"max_examples,omitempty"`
}

// Apply validates p and sets c's Pin, RequirePin, AllowUnsandboxed and
// Limits from it. It returns [ErrConfig] naming the first bad field.
func (p Policy) Apply(c *Command) error {
	if p.Digest != "" {
		if _, err := trainer.ParseDigest(p.Digest); err != nil {
			return fmt.Errorf("%w: trainer digest: a digest is 64 hex digits", ErrConfig)
		}
	}
	var l Limits
	for _, d := range []struct {
		name string
		s    string
		dst  *time.Duration
	}{{"cpu", p.CPU, &l.CPU}, {"wall", p.Wall, &l.Wall}, {"start", p.Start, &l.Start}} {
		if d.s == "" {
			continue
		}
		v, err := time.ParseDuration(d.s)
		if err != nil || v <= 0 {
			return fmt.Errorf("%w: trainer %s %q: want a positive duration such as \"10m\"", ErrConfig, d.name, d.s)
		}
		*d.dst = v
	}
	for _, b := range []struct {
		name string
		s    string
		dst  *int64
	}{{"memory", p.Memory, &l.Memory}, {"work_dir", p.WorkDir, &l.WorkBytes}, {"max_stderr", p.MaxStderr, &l.MaxStderr}} {
		if b.s == "" {
			continue
		}
		v, err := ParseBytes(b.s)
		if err != nil || v <= 0 {
			return fmt.Errorf("%w: trainer %s %q: want a positive size such as \"8GiB\"", ErrConfig, b.name, b.s)
		}
		*b.dst = v
	}
	l.MaxExamples = p.MaxExamples
	l.CPUTotal, l.MaxHeader = c.Limits.CPUTotal, c.Limits.MaxHeader
	c.Limits = l
	c.Pin = strings.ToLower(strings.TrimSpace(p.Digest))
	c.RequirePin = p.RequireDigest
	c.AllowUnsandboxed = p.AllowUnsandboxed
	return nil
}

// ParseBytes parses a size: an integer with an optional unit B, KiB, MiB,
// GiB, TiB (powers of 1024) or kB, MB, GB, TB (powers of 1000), e.g.
// "8GiB", "512 MiB", "1000000".
func ParseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: size %q", ErrConfig, s)
	}
	mult := map[string]int64{
		"": 1, "B": 1,
		"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
		"kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
	}[strings.TrimSpace(s[i:])]
	if mult == 0 {
		return 0, fmt.Errorf("%w: size %q: unknown unit (B, KiB, MiB, GiB, TiB, kB, MB, GB, TB)", ErrConfig, s)
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%w: size %q overflows", ErrConfig, s)
	}
	return n * mult, nil
}
