package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"

	"github.com/consort-ml/consort/transport/identity"
)

// runKeygen implements "consort keygen --out FILE": it creates an Ed25519
// identity key file (mode 0600, never overwriting) and prints the peer ID.
func runKeygen(_ context.Context, args []string, stdout, _ io.Writer) error {
	fs := newFlagSet("keygen", "keygen --out KEYFILE")
	out := fs.String("out", "", "key file to create (mode 0600; an existing file is never overwritten)")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if *out == "" {
		return usagef("--out is required")
	}
	id, err := identity.Generate(rand.Reader)
	if err != nil {
		return err
	}
	if err := identity.WriteFile(*out, id); err != nil {
		return err
	}
	fmt.Fprintln(stdout, id.PeerID())
	return nil
}
