package data

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Missing-value actions of a [MissingRule].
const (
	// MissingError refuses a row with a missing value (the default).
	MissingError = "error"
	// MissingDrop drops a row with a missing value.
	MissingDrop = "drop"
	// MissingImpute replaces a missing value by the rule's constant.
	MissingImpute = "impute"
)

// Rules for a category outside a [Categorical] column's vocabulary.
const (
	// UnknownError refuses a row with an unknown category (the default).
	UnknownError = "error"
	// UnknownZero encodes an unknown category as all-zero indicators.
	UnknownZero = "zero"
)

// Limits on a schema (a manifest is public input, so a schema is bounded
// before any table is read).
const (
	// MaxColumns bounds the columns of a schema and the one-hot width of
	// its features.
	MaxColumns = 1 << 16
	// MaxCategories bounds the vocabulary of one categorical column.
	MaxCategories = 1 << 12
	// maxToken bounds a missing-value marker.
	maxToken = 64
)

// DefaultMissingTokens returns the cell contents read as a missing value
// when a schema declares none: an empty cell, NA, N/A, NaN and null,
// compared case-insensitively after trimming spaces. The slice is a fresh
// copy.
func DefaultMissingTokens() []string { return []string{"", "NA", "N/A", "NaN", "null"} }

// Schema declares how a table is read, so that every node of a federation
// reads its own file the same way. A manifest's [data] section fills one;
// the zero value (plus a Label) reads a headered, clean, numeric table.
type Schema struct {
	// Label is the label column. Its values may be numbers or strings.
	Label string
	// Features are the input columns, in model input order. Empty: every
	// column but the label and Keep (not allowed with Categorical, whose
	// one-hot layout must be fixed in advance).
	Features []string
	// NoHeader says the file has no header row; Columns then names the
	// file's columns in order. A file whose first row is all numbers is
	// refused unless NoHeader is set, so a headerless file never silently
	// loses its first row.
	NoHeader bool
	// Columns names every column of a headerless file, in file order
	// (required with NoHeader, not allowed without it).
	Columns []string
	// Categorical lists the feature columns holding categories, each
	// one-hot encoded with a declared vocabulary.
	Categorical []Categorical
	// Missing lists missing-value rules: at most one without a Column (the
	// default for every feature column) and at most one per column. A
	// column without a rule, with no default, refuses missing values.
	Missing []MissingRule
	// MissingTokens are the cell contents read as missing, compared
	// case-insensitively after trimming spaces (nil: DefaultMissingTokens).
	MissingTokens []string
}

// Categorical declares a one-hot encoded feature column.
type Categorical struct {
	// Column is a feature column.
	Column string
	// Values is the vocabulary in indicator order: value i sets input i of
	// the column's block to 1 and the others to 0.
	Values []string
	// Unknown is UnknownError (or empty) or UnknownZero.
	Unknown string
}

// MissingRule says what a missing value in a column becomes.
type MissingRule struct {
	// Column is the column the rule is for; empty: every feature column
	// without its own rule. The label column may have a rule too (drop or
	// error only).
	Column string
	// Action is MissingError (or empty), MissingDrop or MissingImpute.
	Action string
	// Value is the constant of MissingImpute: a number for a numeric
	// column, a vocabulary entry for a categorical one.
	Value string
}

// Validate checks the schema on its own (a table is checked against it
// when read): names non-empty and distinct, the label not a feature,
// Columns exactly with NoHeader and covering every named column,
// categorical columns among the features with a non-empty vocabulary of
// distinct values that are not missing-value markers, known rules, and
// impute constants that parse for their column. An empty Label is allowed
// here (a table to score may have none); the loaders that need one say so.
// Errors wrap [ErrInvalidArgument].
func (s *Schema) Validate() error {
	if len(s.Features) > MaxColumns || len(s.Columns) > MaxColumns || len(s.Categorical) > MaxColumns || len(s.Missing) > MaxColumns+1 {
		return badSchema("more than %d columns", MaxColumns)
	}
	feats, err := s.validateFeatures()
	if err != nil {
		return err
	}
	if err := s.validateColumns(); err != nil {
		return err
	}
	tokens := s.missingTokens()
	if len(tokens) > 64 {
		return badSchema("%d missing-value markers, at most 64", len(tokens))
	}
	for _, t := range tokens {
		if len(t) > maxToken {
			return badSchema("missing-value marker longer than %d bytes", maxToken)
		}
	}
	cats, width, err := s.validateCategorical(feats, tokens)
	if err != nil {
		return err
	}
	width += len(s.Features)
	if width > MaxColumns {
		return badSchema("%d model inputs after one-hot encoding, at most %d", width, MaxColumns)
	}
	inputs := make(map[string]bool, width)
	for _, n := range s.InputNames() {
		if inputs[n] {
			return badSchema("model input %q arises twice (a feature is named like a one-hot input)", n)
		}
		inputs[n] = true
	}
	return s.validateRules(feats, cats)
}

// badSchema returns a schema error wrapping [ErrInvalidArgument].
func badSchema(format string, args ...any) error {
	return fmt.Errorf("%w: schema: "+format, append([]any{ErrInvalidArgument}, args...)...)
}

// validateFeatures checks the feature names (non-empty, distinct, not the
// label) and returns their set.
func (s *Schema) validateFeatures() (map[string]bool, error) {
	feats := make(map[string]bool, len(s.Features))
	for _, f := range s.Features {
		switch {
		case strings.TrimSpace(f) == "":
			return nil, badSchema("empty feature name")
		case f == s.Label && f != "":
			return nil, badSchema("feature %q is the label column", f)
		case feats[f]:
			return nil, badSchema("feature %q listed twice", f)
		}
		feats[f] = true
	}
	return feats, nil
}

// validateColumns checks that Columns goes with NoHeader exactly and, for a
// headerless file, names the label and every feature.
func (s *Schema) validateColumns() error {
	if s.NoHeader != (len(s.Columns) > 0) {
		if s.NoHeader {
			return badSchema("no_header needs the file's column names (columns)")
		}
		return badSchema("columns names a headerless file's columns: set no_header too")
	}
	if !s.NoHeader {
		return nil
	}
	cols := make(map[string]bool, len(s.Columns))
	for _, c := range s.Columns {
		if strings.TrimSpace(c) == "" || cols[c] {
			return badSchema("column name %q empty or listed twice", c)
		}
		cols[c] = true
	}
	if s.Label != "" && !cols[s.Label] {
		return badSchema("label %q is not among the columns", s.Label)
	}
	for _, f := range s.Features {
		if !cols[f] {
			return badSchema("feature %q is not among the columns", f)
		}
	}
	return nil
}

// validateCategorical checks the categorical columns against the features
// feats and the missing-value markers tokens; it returns them by column and
// the extra model inputs their one-hot encoding adds.
func (s *Schema) validateCategorical(feats map[string]bool, tokens []string) (map[string]*Categorical, int, error) {
	width := 0
	cats := make(map[string]*Categorical, len(s.Categorical))
	for i := range s.Categorical {
		c := &s.Categorical[i]
		switch {
		case len(s.Features) == 0:
			return nil, 0, badSchema("categorical columns need the features listed (the one-hot layout is fixed in advance)")
		case !feats[c.Column]:
			return nil, 0, badSchema("categorical column %q is not a feature", c.Column)
		case cats[c.Column] != nil:
			return nil, 0, badSchema("categorical column %q declared twice", c.Column)
		case len(c.Values) == 0 || len(c.Values) > MaxCategories:
			return nil, 0, badSchema("categorical column %q: %d values, want 1..%d", c.Column, len(c.Values), MaxCategories)
		case c.Unknown != "" && c.Unknown != UnknownError && c.Unknown != UnknownZero:
			return nil, 0, badSchema("categorical column %q: unknown = %q, want %q or %q", c.Column, c.Unknown, UnknownError, UnknownZero)
		}
		seen := make(map[string]bool, len(c.Values))
		for _, v := range c.Values {
			if v != strings.TrimSpace(v) || seen[v] {
				return nil, 0, badSchema("categorical column %q: a value is repeated or has surrounding spaces", c.Column)
			}
			if isMissing(v, tokens) {
				return nil, 0, badSchema("categorical column %q: a value is a missing-value marker", c.Column)
			}
			seen[v] = true
		}
		cats[c.Column] = c
		width += len(c.Values) - 1
	}
	return cats, width, nil
}

// validateRules checks the missing-value rules: one per column at most, on
// a feature or the label, with a known action and a value that parses for
// its column (cats are the categorical columns).
func (s *Schema) validateRules(feats map[string]bool, cats map[string]*Categorical) error {
	ruleFor := make(map[string]bool, len(s.Missing))
	for _, r := range s.Missing {
		what := "the default missing-value rule"
		if r.Column != "" {
			what = fmt.Sprintf("missing-value rule of %q", r.Column)
		}
		if ruleFor[r.Column] {
			return badSchema("%s declared twice", what)
		}
		ruleFor[r.Column] = true
		if r.Column != "" && r.Column != s.Label && len(s.Features) > 0 && !feats[r.Column] {
			return badSchema("%s: not a feature or the label", what)
		}
		switch r.Action {
		case "", MissingError, MissingDrop:
			if r.Value != "" {
				return badSchema("%s: a value goes with action %q only", what, MissingImpute)
			}
		case MissingImpute:
			if err := s.validateImpute(r, what, cats); err != nil {
				return err
			}
		default:
			return badSchema("%s: action %q, want %q, %q or %q", what, r.Action, MissingError, MissingDrop, MissingImpute)
		}
	}
	return nil
}

// validateImpute checks the constant of the impute rule r, described by
// what: a finite number for a numeric column, a vocabulary entry for a
// categorical one, and both for the default rule unless a categorical
// column has its own rule.
func (s *Schema) validateImpute(r MissingRule, what string, cats map[string]*Categorical) error {
	if r.Column == s.Label {
		return badSchema("%s: a label cannot be imputed (use %q)", what, MissingDrop)
	}
	if r.Column == "" {
		if _, reason := parseCell(r.Value); reason != "" {
			return badSchema("%s: value must be a finite number", what)
		}
		for _, c := range cats {
			if !slices.Contains(c.Values, r.Value) && !hasRule(s.Missing, c.Column) {
				return badSchema("%s: value is not in the vocabulary of categorical column %q (give that column its own rule)", what, c.Column)
			}
		}
		return nil
	}
	if c := cats[r.Column]; c != nil {
		if !slices.Contains(c.Values, r.Value) {
			return badSchema("%s: value is not in the column's vocabulary", what)
		}
	} else if _, reason := parseCell(r.Value); reason != "" {
		return badSchema("%s: value must be a finite number", what)
	}
	return nil
}

func hasRule(rules []MissingRule, col string) bool {
	for _, r := range rules {
		if r.Column == col {
			return true
		}
	}
	return false
}

// InputNames returns the model's input names in order: a numeric feature
// keeps its name, a categorical column C with values v1..vk becomes
// "C=v1", ..., "C=vk". It returns nil when Features is empty (the inputs
// are then known only once a header is read).
func (s *Schema) InputNames() []string {
	if len(s.Features) == 0 {
		return nil
	}
	var out []string
	for _, f := range s.Features {
		if c := s.categorical(f); c != nil {
			for _, v := range c.Values {
				out = append(out, f+"="+v)
			}
			continue
		}
		out = append(out, f)
	}
	return out
}

// Width returns the number of model inputs, len(InputNames()).
func (s *Schema) Width() int {
	w := 0
	for _, f := range s.Features {
		if c := s.categorical(f); c != nil {
			w += len(c.Values)
		} else {
			w++
		}
	}
	return w
}

// categorical returns the declaration of column f, or nil.
func (s *Schema) categorical(f string) *Categorical {
	for i := range s.Categorical {
		if s.Categorical[i].Column == f {
			return &s.Categorical[i]
		}
	}
	return nil
}

// rule returns the missing-value rule that applies to column col.
func (s *Schema) rule(col string) MissingRule {
	var def MissingRule
	for _, r := range s.Missing {
		if r.Column == col {
			return r
		}
		if r.Column == "" {
			def = r
		}
	}
	if col == s.Label && def.Action == MissingImpute {
		return MissingRule{Column: col, Action: MissingError}
	}
	return def
}

func (s *Schema) missingTokens() []string {
	if s.MissingTokens != nil {
		return s.MissingTokens
	}
	return DefaultMissingTokens()
}

// isMissing reports whether cell is one of tokens (trimmed, any case).
func isMissing(cell string, tokens []string) bool {
	cell = strings.TrimSpace(cell)
	for _, t := range tokens {
		if strings.EqualFold(cell, strings.TrimSpace(t)) {
			return true
		}
	}
	return false
}

// String describes the schema briefly (for logs; it holds no data).
func (s *Schema) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "label %q, %d features", s.Label, len(s.Features))
	if len(s.Categorical) > 0 {
		fmt.Fprintf(&b, " (%d categorical)", len(s.Categorical))
	}
	if s.NoHeader {
		b.WriteString(", no header (" + strconv.Itoa(len(s.Columns)) + " columns)")
	}
	return b.String()
}
