package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/consort-ml/consort/transport/identity"
)

// keygenResult is what keygen prints with --json.
type keygenResult struct {
	PeerID    string `json:"peer_id"`
	PublicKey string `json:"public_key"` // Ed25519, hex (for audit verify --pubkey)
	File      string `json:"file"`
	Created   bool   `json:"created"`
}

// runKeygen implements "consort keygen --out FILE" and "consort keygen
// --show FILE": it creates an Ed25519 identity key file (mode 0600, never
// overwriting) or reads an existing one, and prints the peer ID.
func runKeygen(_ context.Context, args []string, stdout, _ io.Writer) error {
	fs := newFlagSet("keygen", "keygen --out KEYFILE | --show KEYFILE [--json]",
		"consort keygen --out team-a.key          # new key; prints its peer ID",
		"consort keygen --show team-a.key         # the peer ID of an existing key",
		"consort keygen --show team-a.key --json  # peer ID and public key as JSON")
	out := fs.String("out", "", "key file to create (mode 0600; an existing file is never overwritten)")
	show := fs.String("show", "", "existing key file whose peer ID to print (nothing is written)")
	jsonOut := fs.Bool("json", false, "print one JSON object: peer_id, public_key (hex), file, created")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	var (
		id   *identity.Identity
		file string
		err  error
	)
	switch {
	case *out != "" && *show != "":
		return usagef("--out and --show are exclusive")
	case *show != "":
		file = *show
		if id, err = identity.LoadFile(*show); err != nil {
			return err
		}
	case *out != "":
		file = *out
		if id, err = identity.Generate(rand.Reader); err != nil {
			return err
		}
		if err := identity.WriteFile(*out, id); err != nil {
			return err
		}
	default:
		return usagef("--out or --show is required")
	}
	if *jsonOut {
		return writeJSON(stdout, keygenResult{PeerID: string(id.PeerID()), PublicKey: hex.EncodeToString(id.PublicKey()), File: file, Created: *show == ""})
	}
	fmt.Fprintln(stdout, id.PeerID())
	return nil
}
