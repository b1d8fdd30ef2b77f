package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

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
		return runManifestInit(args[1:], stdout, time.Now())
	case "sign":
		return runManifestSign(args[1:], stdout)
	case "verify":
		return runManifestVerify(args[1:], stdout, time.Now())
	case "-h", "--help", "help":
		printManifestHelp(stdout)
		return errHelp
	}
	return usagef("unknown subcommand %q (want init, sign or verify)", args[0])
}

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

func runManifestInit(args []string, stdout io.Writer, now time.Time) error {
	fs := newFlagSet("manifest init", "manifest init --federation ID --coordinator [NAME=]PEERID --member NAME=PEERID[:ROLE]... [flags]")
	var (
		federation = fs.String("federation", "", "federation id (required)")
		purpose    = fs.String("purpose", "", "what the federation trains, in words")
		coord      = fs.String("coordinator", "", "the coordinator: [NAME=]PEERID (required; it signs the manifest)")
		members    listFlag
		addrs      listFlag
		out        = fs.String("out", "", "file to write (default: stdout)")
		force      = fs.Bool("force", false, "overwrite --out if it exists")
		validFor   = fs.Duration("valid-for", 90*24*time.Hour, "validity from now (ignored with --not-after)")
		notAfter   = fs.String("not-after", "", "expiry as RFC 3339, e.g. 2027-01-01T00:00:00Z")
		protocols  = fs.String("protocols", "secagg", "allowed aggregation protocols, comma separated (plain, secagg, mhe)")
		minPart    = fs.Int("min-participants", 0, "fewest nodes per round (default: all nodes)")
		threshold  = fs.Int("threshold", 0, "fewest contributors per released aggregate (default: ceil(2n/3), at least 2)")
		modelSpec  = fs.String("model", "logistic", "model: logistic, softmax, mlp or mlp:H1,H2")
		rounds     = fs.Int("rounds", 10, "training rounds")
		epochs     = fs.Int("local-epochs", 1, "local epochs per round")
		lr         = fs.Float64("lr", 0.1, "local learning rate")
		batch      = fs.Int("batch-size", 32, "local batch size")
		strategy   = fs.String("strategy", "fedavg", "server strategy: fedavg, fedprox or fedadam")
		dataset    = fs.String("dataset", "", "name of a bundled data set (optional)")
		features   = fs.String("features", "", "feature columns, comma separated (default: all but the label)")
		label      = fs.String("label", "", "label column")
		classes    = fs.String("classes", "", "label values in model output order, comma separated")
		clip       = fs.Float64("clip", 0, "DP: L2 clip bound of each update (0: none)")
		noise      = fs.Float64("noise-multiplier", 0, "DP: Gaussian noise multiplier (0: none)")
		epsilon    = fs.Float64("epsilon", 0, "DP: epsilon budget over all rounds (0: none)")
		delta      = fs.Float64("delta", 0, "DP: delta of the budget")
	)
	fs.Var(&members, "member", "a member NAME=PEERID[:ROLE], role node (default) or aggregator; repeat")
	fs.Var(&addrs, "addr", "a listen address NAME=MULTIADDR of a member; repeat")
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
	if *minPart != 0 {
		m.MinParticipants = *minPart
		if *threshold == 0 {
			m.Threshold = min(m.Threshold, m.MinParticipants)
		}
	}
	if *threshold != 0 {
		m.Threshold = *threshold
	}
	spec, err := model.ParseSpec(*modelSpec)
	if err != nil {
		return usagef("--model: %v", err)
	}
	m.Model = manifest.Model{Kind: spec.Kind, Hidden: spec.Hidden}
	m.Training = manifest.Training{Rounds: *rounds, LocalEpochs: *epochs, LearningRate: *lr, BatchSize: *batch, Strategy: *strategy}
	m.Data = manifest.Data{Dataset: *dataset, Features: splitList(*features), Label: *label, Classes: splitList(*classes)}
	m.DP = manifest.DP{Clip: *clip, NoiseMultiplier: *noise, Epsilon: *epsilon, Delta: *delta}
	if err := m.Validate(); err != nil {
		return usageError(err)
	}
	if *out == "" {
		b, err := m.Marshal()
		if err != nil {
			return err
		}
		_, err = stdout.Write(b)
		return err
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
	return nil
}

func runManifestSign(args []string, stdout io.Writer) error {
	fs := newFlagSet("manifest sign", "manifest sign --key KEYFILE --in MANIFEST [--out FILE]")
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
	if err := m.Sign(id); err != nil {
		return err
	}
	if err := m.WriteFile(*out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "signed %s: federation %q, digest %s, signer %s\n", *out, m.Federation, hex.EncodeToString(m.Digest()), id.PeerID())
	return nil
}

func runManifestVerify(args []string, stdout io.Writer, now time.Time) error {
	fs := newFlagSet("manifest verify", "manifest verify --manifest FILE [--member PEERID]")
	path := fs.String("manifest", "", "manifest to verify (required)")
	member := fs.String("member", "", "also require this peer ID to be a member")
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
	c := m.Coordinator()
	fmt.Fprintf(stdout, "ok: federation %q, %d nodes, %d members, coordinator %s (%s), protocols %s, expires %s, digest %s\n",
		m.Federation, len(m.Nodes()), len(m.Members), c.Name, c.PeerID, strings.Join(m.Protocols, ","),
		m.NotAfter.UTC().Format(time.RFC3339), hex.EncodeToString(m.Digest()))
	if *member != "" {
		mb, err := m.Member(transport.PeerID(*member))
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "member %s: %s, role %s\n", mb.PeerID, mb.Name, mb.Role)
	}
	return nil
}
