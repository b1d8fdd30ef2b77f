package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/consort-ml/consort/federated/engine"
	"github.com/consort-ml/consort/mpc/mhe"
	"github.com/consort-ml/consort/mpc/secagg"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/consort-ml/consort/federated/data"
	"github.com/consort-ml/consort/federated/manifest"
	"github.com/consort-ml/consort/federated/model"
	"github.com/consort-ml/consort/transport"
	"github.com/consort-ml/consort/transport/identity"
)

// runManifest implements "consort manifest init|sign|verify".
func runManifest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const synopsis = "manifest init|sign|verify [flags] (run 'consort manifest <subcommand> -h')"
	if len(args) == 0 {
		return usagef("usage: consort %s", synopsis)
	}
	switch args[0] {
	case "init":
		return runManifestInit(args[1:], stdout, stderr, time.Now())
	case "sign":
		return runManifestSign(args[1:], stdout, time.Now())
	case "verify":
		return runManifestVerify(args[1:], stdout, time.Now())
	case "-h", "--help", "help":
		fmt.Fprintf(stdout, "usage: consort %s\n%s", synopsis, manifestHelp)
		return errHelp
	}
	return usagef("unknown subcommand %q (want init, sign or verify)", args[0])
}

const manifestHelp = `
subcommands:
  init    write an unsigned manifest: members, protocols, threshold, model, data, DP
  sign    check a manifest and sign it with the coordinator's key
  verify  check structure, signature and expiry; print a summary (--json for programs)

Every rule the coordinator and the nodes apply is checked by all three, so a
manifest that verifies is one the federation runs.

examples:
  consort manifest init --federation hospitals --coordinator coord=12D3KooW... \
      --member north=12D3KooW... --member south=12D3KooW... \
      --features age,bmi --label readmitted --classes no,yes --out federation.toml
  consort manifest sign --key coord.key --in federation.toml
  consort manifest verify --manifest federation.toml --member 12D3KooW... --json
`

// listFlag collects a repeated flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// parseMember parses NAME=PEERID[:ROLE].
func parseMember(s string, defaultRole manifest.Role) (manifest.Member, error) {
	name, rest, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return manifest.Member{}, usagef("member %q: want NAME=PEERID[:ROLE]", s)
	}
	id, role, hasRole := strings.Cut(rest, ":")
	r := defaultRole
	if hasRole {
		r = manifest.Role(role)
	}
	if _, err := identity.ParsePeerID(id); err != nil {
		return manifest.Member{}, usagef("member %q: %v", name, err)
	}
	return manifest.Member{Name: name, PeerID: id, Role: r}, nil
}

// parseCategorical parses COLUMN=V1|V2|...[:zero|:error].
func parseCategorical(s string) (manifest.Categorical, error) {
	col, rest, ok := strings.Cut(s, "=")
	if !ok || col == "" || rest == "" {
		return manifest.Categorical{}, usagef("--categorical %q: want COLUMN=V1|V2|...[:zero]", s)
	}
	c := manifest.Categorical{Column: col}
	if i := strings.LastIndex(rest, ":"); i >= 0 && (rest[i+1:] == data.UnknownZero || rest[i+1:] == data.UnknownError) {
		rest, c.Unknown = rest[:i], rest[i+1:]
	}
	c.Values = strings.Split(rest, "|")
	return c, nil
}

// parseMissingRule parses error, drop or impute:VALUE for column col.
func parseMissingRule(col, s string) (manifest.MissingRule, error) {
	r := manifest.MissingRule{Column: col, Action: s}
	if v, ok := strings.CutPrefix(s, data.MissingImpute+":"); ok {
		r.Action, r.Value = data.MissingImpute, v
	}
	switch r.Action {
	case data.MissingError, data.MissingDrop, data.MissingImpute:
		return r, nil
	}
	return r, usagef("missing-value rule %q: want error, drop or impute:VALUE", s)
}

// parseTensor parses NAME=D1xD2x... (NAME= alone: a scalar).
func parseTensor(s string) (manifest.Tensor, error) {
	i := strings.LastIndex(s, "=")
	if i <= 0 {
		return manifest.Tensor{}, usagef("--tensor %q: want NAME=D1xD2...", s)
	}
	t := manifest.Tensor{Name: s[:i], Shape: []int{}}
	if dims := s[i+1:]; dims != "" {
		for _, d := range strings.Split(dims, "x") {
			n, err := strconv.Atoi(d)
			if err != nil || n < 1 {
				return manifest.Tensor{}, usagef("--tensor %q: %q is not a positive dimension", s, d)
			}
			t.Shape = append(t.Shape, n)
		}
	}
	return t, nil
}

// fileSHA256 returns the lowercase hex SHA-256 of a file's contents.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", usageError(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

const manifestInitExamples = `
examples:
  consort manifest init --federation hospitals --coordinator coord=12D3KooW... \
      --member north=12D3KooW... --member south=12D3KooW... --member east=12D3KooW... \
      --features age,bmi,smoker --label readmitted --classes no,yes \
      --categorical 'smoker=no|yes' --missing drop --missing-column bmi=impute:25 --out federation.toml
  consort manifest init --federation demo --coordinator 12D3KooW... --member a=12D3KooW... \
      --member b=12D3KooW... --dataset digits --protocols secagg,mhe
`

func runManifestInit(args []string, stdout, stderr io.Writer, now time.Time) error {
	fs := newFlagSet("manifest init", "manifest init --federation ID --coordinator [NAME=]PEERID --member NAME=PEERID[:ROLE]... [flags]")
	var (
		federation = fs.String("federation", "", "federation id (required)")
		purpose    = fs.String("purpose", "", "what the federation trains, in words")
		coord      = fs.String("coordinator", "", "the coordinator: [NAME=]PEERID (required; it signs the manifest)")
		members    listFlag
		addrs      listFlag
		cats       listFlag
		colRules   listFlag
		tensors    listFlag
		out        = fs.String("out", "", "file to write (default: stdout)")
		force      = fs.Bool("force", false, "overwrite --out if it exists")
		validFor   = fs.Duration("valid-for", 90*24*time.Hour, "validity from now (ignored with --not-after)")
		notAfter   = fs.String("not-after", "", "expiry as RFC 3339, e.g. 2027-01-01T00:00:00Z (must be in the future)")
		protocols  = fs.String("protocols", "secagg", "allowed aggregation protocols, comma separated (plain, secagg, mhe)")
		minPart    = fs.Int("min-participants", 0, "fewest nodes per round (default: max(threshold, ceil(0.8 n)), so rounds go on with a fifth of the nodes away)")
		threshold  = fs.Int("threshold", 0, "fewest contributors per released aggregate (default: ceil(2n/3), at least 2)")
		modelSpec  = fs.String("model", "logistic", "model: logistic, softmax, mlp, mlp:H1,H2, or external (a team's own trainer; give --tensor)")
		rounds     = fs.Int("rounds", 10, "training rounds")
		epochs     = fs.Int("local-epochs", 1, "local epochs per round")
		lr         = fs.Float64("lr", 0.1, "local learning rate")
		batch      = fs.Int("batch-size", 32, "local batch size")
		strategy   = fs.String("strategy", "fedavg", "server strategy: fedavg, fedprox or fedadam")
		dataset    = fs.String("dataset", "", "a bundled data set ("+strings.Join(data.Names(), ", ")+") whose shape every member reads itself (optional)")
		features   = fs.String("features", "", "feature columns in model input order, comma separated (required unless --dataset names a bundled set)")
		label      = fs.String("label", "", "label column")
		classes    = fs.String("classes", "", "label values in model output order, comma separated (required unless --dataset names a bundled set)")
		noHeader   = fs.Bool("no-header", false, "the nodes' CSV files have no header row (give --columns)")
		columns    = fs.String("columns", "", "with --no-header: every column of the files, in file order, comma separated")
		missingDef = fs.String("missing", "", "default missing-value rule of every feature column: error, drop (the row) or impute:VALUE (default: error)")
		missingVal = fs.String("missing-values", "", "cell contents read as missing, comma separated (default: empty, NA, N/A, NaN, null)")
		weights    = fs.String("initial-weights", "", "with --model external: the initial weights file, pinned by its SHA-256")
		clip       = fs.Float64("clip", 0, "DP: L2 clip bound of each update (0: none)")
		noise      = fs.Float64("noise-multiplier", 0, "DP: Gaussian noise multiplier (0: none)")
		epsilon    = fs.Float64("epsilon", 0, "DP: epsilon budget over all rounds (0: none)")
		delta      = fs.Float64("delta", 0, "DP: delta of the budget")
	)
	fs.Var(&members, "member", "a member NAME=PEERID[:ROLE], role node (default) or aggregator; repeat")
	fs.Var(&addrs, "addr", "a listen address NAME=MULTIADDR of a member; repeat")
	fs.Var(&cats, "categorical", "a categorical feature COLUMN=V1|V2|...[:zero], one-hot encoded in that order; :zero encodes an unknown value as zeros instead of refusing the row; repeat")
	fs.Var(&colRules, "missing-column", "a column's own missing-value rule COLUMN=error|drop|impute:VALUE; repeat")
	fs.Var(&tensors, "tensor", "with --model external: a tensor of the layout NAME=D1xD2..., in order; repeat")
	usage := fs.Usage
	fs.Usage = func() { usage(); fmt.Fprint(fs.Output(), manifestInitExamples) }
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if *federation == "" || *coord == "" {
		return usagef("--federation and --coordinator are required")
	}
	cspec := *coord
	if !strings.Contains(cspec, "=") {
		cspec = "coordinator=" + cspec
	}
	c, err := parseMember(cspec, manifest.RoleCoordinator)
	if err != nil {
		return err
	}
	if c.Role != manifest.RoleCoordinator {
		return usagef("--coordinator %q: role must be coordinator", *coord)
	}
	list := []manifest.Member{c}
	for _, s := range members {
		mb, err := parseMember(s, manifest.RoleNode)
		if err != nil {
			return err
		}
		list = append(list, mb)
	}
	for _, s := range addrs {
		name, a, ok := strings.Cut(s, "=")
		found := false
		for i := range list {
			if ok && list[i].Name == name {
				list[i].Addrs = append(list[i].Addrs, a)
				found = true
			}
		}
		if !found {
			return usagef("--addr %q: want NAME=MULTIADDR with NAME a member", s)
		}
	}
	expiry := now.Add(*validFor)
	if *notAfter != "" {
		if expiry, err = time.Parse(time.RFC3339, *notAfter); err != nil {
			return usagef("--not-after: %v", err)
		}
	}
	m := manifest.Template(*federation, list, expiry)
	m.Purpose = *purpose
	m.Protocols = splitList(*protocols)
	nodes := len(m.Nodes())
	minDefault := *minPart == 0
	switch {
	case *threshold != 0 && *minPart != 0:
		m.Threshold, m.MinParticipants = *threshold, *minPart
	case *threshold != 0:
		m.Threshold = *threshold
		m.MinParticipants = manifest.DefaultMinParticipants(nodes, *threshold)
	case *minPart != 0:
		m.MinParticipants = *minPart
		m.Threshold = min(m.Threshold, *minPart)
	}
	if *modelSpec == manifest.KindExternal {
		m.Model = manifest.Model{Kind: manifest.KindExternal}
	} else {
		spec, err := model.ParseSpec(*modelSpec)
		if err != nil {
			return usagef("--model: %v", err)
		}
		m.Model = manifest.Model{Kind: spec.Kind, Hidden: spec.Hidden}
	}
	for _, s := range tensors {
		t, err := parseTensor(s)
		if err != nil {
			return err
		}
		m.Model.Tensors = append(m.Model.Tensors, t)
	}
	if *weights != "" {
		if m.Model.InitialWeightsSHA256, err = fileSHA256(*weights); err != nil {
			return err
		}
	}
	m.Training = manifest.Training{Rounds: *rounds, LocalEpochs: *epochs, LearningRate: *lr, BatchSize: *batch, Strategy: *strategy}
	m.Data = manifest.Data{Dataset: *dataset, Features: splitList(*features), Label: *label, Classes: splitList(*classes),
		NoHeader: *noHeader, Columns: splitList(*columns)}
	if *missingVal != "" {
		m.Data.MissingValues = strings.Split(*missingVal, ",")
	}
	for _, s := range cats {
		c, err := parseCategorical(s)
		if err != nil {
			return err
		}
		m.Data.Categorical = append(m.Data.Categorical, c)
	}
	if *missingDef != "" {
		r, err := parseMissingRule("", *missingDef)
		if err != nil {
			return err
		}
		m.Data.Missing = append(m.Data.Missing, r)
	}
	for _, s := range colRules {
		col, rule, ok := strings.Cut(s, "=")
		if !ok || col == "" {
			return usagef("--missing-column %q: want COLUMN=error|drop|impute:VALUE", s)
		}
		r, err := parseMissingRule(col, rule)
		if err != nil {
			return err
		}
		m.Data.Missing = append(m.Data.Missing, r)
	}
	m.DP = manifest.DP{Clip: *clip, NoiseMultiplier: *noise, Epsilon: *epsilon, Delta: *delta}
	if err := m.ValidateAt(now); err != nil {
		// The manifest comes from the flags: a usage error whatever its class.
		return withCode(usageError(err), exitUsage)
	}
	// State the participation rule: it decides whether the federation goes
	// on when nodes are away.
	how := "as given"
	if minDefault {
		how = "the default max(threshold, ceil(0.8 n))"
	}
	note := fmt.Sprintf("min_participants %d of %d nodes (%s): rounds start while up to %d nodes are away; threshold %d contributors per released aggregate",
		m.MinParticipants, nodes, how, nodes-m.MinParticipants, m.Threshold)
	if *out == "" {
		b, err := m.Marshal()
		if err != nil {
			return err
		}
		if _, err = stdout.Write(b); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "consort manifest: %s\n", note)
		return nil
	}
	if !*force {
		if _, err := os.Stat(*out); err == nil {
			return fmt.Errorf("%s exists (use --force to overwrite)", *out)
		} else if !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if err := m.WriteFile(*out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote unsigned manifest %s for federation %q (%d members); sign it with: consort manifest sign --key KEY --in %s\n",
		*out, m.Federation, len(m.Members), *out)
	fmt.Fprintln(stdout, note)
	return nil
}

func runManifestSign(args []string, stdout io.Writer, now time.Time) error {
	fs := newFlagSet("manifest sign", "manifest sign --key KEYFILE --in MANIFEST [--out FILE]",
		"consort manifest sign --key coord.key --in federation.toml",
		"consort manifest sign --key coord.key --in draft.toml --out federation.toml")
	key := fs.String("key", "", "the coordinator's identity key file (required)")
	in := fs.String("in", "", "manifest to sign (required)")
	out := fs.String("out", "", "where to write the signed manifest (default: --in, replaced atomically)")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if *key == "" || *in == "" {
		return usagef("--key and --in are required")
	}
	if *out == "" {
		*out = *in
	}
	id, err := identity.LoadFile(*key)
	if err != nil {
		return err
	}
	m, err := manifest.Load(*in)
	if err != nil {
		return err
	}
	// The same rules as verify: never sign what the members would refuse.
	if err := m.ValidateAt(now); err != nil {
		return err
	}
	if err := m.Sign(id); err != nil {
		return err
	}
	if err := m.WriteFile(*out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "signed %s: federation %q, digest %s, signer %s\n", *out, m.Federation, hex.EncodeToString(m.Digest()), id.PeerID())
	return nil
}

// verifyJSON is the --json output of manifest verify.
type verifyJSON struct {
	OK bool `json:"ok"`
	manifest.Summary
	Member *manifest.Member `json:"member,omitempty"`
}

func runManifestVerify(args []string, stdout io.Writer, now time.Time) error {
	fs := newFlagSet("manifest verify", "manifest verify --manifest FILE [--member PEERID] [--json]",
		"consort manifest verify --manifest federation.toml",
		"consort manifest verify --manifest federation.toml --member 12D3KooW... --json")
	path := fs.String("manifest", "", "manifest to verify (required)")
	member := fs.String("member", "", "also require this peer ID to be a member")
	jsonOut := fs.Bool("json", false, "print the summary as one JSON object")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if *path == "" {
		return usagef("--manifest is required")
	}
	m, err := manifest.Load(*path)
	if err != nil {
		return err
	}
	if err := m.Verify(now); err != nil {
		return err
	}
	var mb *manifest.Member
	if *member != "" {
		x, err := m.Member(transport.PeerID(*member))
		if err != nil {
			return err
		}
		mb = &x
	}
	s := m.Summary()
	if *jsonOut {
		return json.NewEncoder(stdout).Encode(verifyJSON{OK: true, Summary: s, Member: mb})
	}
	c := m.Coordinator()
	fmt.Fprintf(stdout, "ok: federation %q, %d nodes, %d members, coordinator %s (%s), protocols %s, expires %s, digest %s\n",
		m.Federation, len(m.Nodes()), len(m.Members), c.Name, c.PeerID, strings.Join(m.Protocols, ","),
		m.NotAfter.UTC().Format(time.RFC3339), s.Digest)
	printSummary(stdout, s)
	if mb != nil {
		fmt.Fprintf(stdout, "member %s: %s, role %s\n", mb.PeerID, mb.Name, mb.Role)
	}
	return nil
}

// printSummary prints a verified manifest's summary for people.
func printSummary(w io.Writer, s manifest.Summary) {
	names := func(l []manifest.MemberSummary) string {
		out := make([]string, len(l))
		for i, m := range l {
			out[i] = m.Name
		}
		return strings.Join(out, ", ")
	}
	if s.Purpose != "" {
		fmt.Fprintf(w, "  purpose      %s\n", s.Purpose)
	}
	fmt.Fprintf(w, "  nodes        %d (%s); a round starts with at least %d, so up to %d may be away\n",
		len(s.Nodes), names(s.Nodes), s.MinParticipants, s.Tolerated)
	if len(s.Aggregators) > 0 {
		fmt.Fprintf(w, "  aggregators  %s\n", names(s.Aggregators))
	}
	prot := strings.Join(s.Protocols, ", ")
	if slices.Contains(s.Protocols, manifest.ProtocolPlain) {
		prot += " (plain is INSECURE: the aggregator sees every update)"
	}
	fmt.Fprintf(w, "  protection   %s; an aggregate is released only with at least %d contributors\n", prot, s.Threshold)
	if slices.Contains(s.Protocols, "secagg") {
		fmt.Fprintf(w, "  secagg       holds against a malicious coordinator colluding with up to %d nodes (consistency check on)\n",
			secaggColluders(len(s.Nodes), s.Threshold))
	}
	if slices.Contains(s.Protocols, "mhe") {
		fmt.Fprintf(w, "  WARNING      %s\n", mhe.ResidualRisk)
	}
	mdl := s.Model.Spec
	if s.Model.Spec == manifest.KindExternal {
		mdl = fmt.Sprintf("external trainer, %d tensors, %d values", s.Model.Tensors, s.Model.Values)
		if s.Model.InitialWeightsSHA256 != "" {
			mdl += ", initial weights sha256 " + s.Model.InitialWeightsSHA256
		}
	}
	fmt.Fprintf(w, "  model        %s, %d rounds, %s\n", mdl, s.Rounds, s.Strategy)
	d := s.Data
	var parts []string
	if d.Dataset != "" {
		parts = append(parts, "dataset "+d.Dataset)
	}
	if d.Label != "" {
		parts = append(parts, fmt.Sprintf("label %q", d.Label))
	}
	if len(d.Features) > 0 {
		parts = append(parts, fmt.Sprintf("%d features (%d model inputs)", len(d.Features), d.Inputs))
	}
	if len(d.Classes) > 0 {
		parts = append(parts, "classes "+strings.Join(d.Classes, ","))
	}
	if len(d.Categorical) > 0 {
		parts = append(parts, "categorical "+strings.Join(d.Categorical, ","))
	}
	if d.NoHeader {
		parts = append(parts, "files without a header row")
	}
	if d.MissingRules > 0 {
		parts = append(parts, fmt.Sprintf("%d missing-value rules", d.MissingRules))
	}
	fmt.Fprintf(w, "  data         %s\n", strings.Join(parts, ", "))
	if s.DP == nil {
		fmt.Fprintln(w, "  privacy      no differential privacy")
		return
	}
	dp := fmt.Sprintf("DP: clip %g, noise multiplier %g", s.DP.Clip, s.DP.NoiseMultiplier)
	if s.DP.Epsilon > 0 {
		dp += fmt.Sprintf(", budget epsilon %g at delta %g", s.DP.Epsilon, s.DP.Delta)
	}
	fmt.Fprintf(w, "  privacy      %s\n", dp)
}

// secaggColluders is how many colluding nodes secagg tolerates for a round
// with every node, on the round engine's graph.
func secaggColluders(nodes, threshold int) int {
	degree, share := engine.SecAggGraph(nodes, threshold)
	return secagg.MaliciousColluders(nodes, share, degree)
}
