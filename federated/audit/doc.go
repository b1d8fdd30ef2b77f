// Package audit writes and verifies tamper-evident audit logs of federated
// training: append-only JSON lines, hash-chained and signed with the
// writer's Ed25519 identity key.
//
// # Format
//
// A log is a file of JSON lines, one [Entry] per line, in the canonical
// encoding of encoding/json for the Entry struct (field order fixed, no HTML
// escaping, no extra spaces). The first line is a genesis entry whose
// "fields" hold the writer's public key ("pubkey", hex), "role" and
// "federation". Every entry carries:
//
//   - seq: its 0-based position;
//   - prev: the hex SHA-256 of the previous line's bytes (64 zeros for
//     genesis), chaining the entries;
//   - sig: the base64 Ed25519 signature, by the writer, of
//     "consort-audit-entry-v1\n" followed by the entry's canonical line with
//     an empty sig.
//
// Entry kinds: join, round-start, refusal, contribution-sent,
// contribution-received, aggregate, countersign, model-version, epsilon,
// and close (clean shutdown). Entries hold digests (SHA-256 of the bytes
// sent, received or aggregated), peer names, parameters and counts, never
// data values, updates, shares or keys.
//
// Each append is fsynced, then a signed head file (LOG.head: the last
// sequence number and line hash, signed under "consort-audit-head-v1\n") is
// replaced atomically. The log file is created with mode 0600. Reopening a
// log verifies it in full and resumes its chain; a log that does not verify
// is never extended.
//
// # What verification detects
//
// [Verify] reports the first bad line and why ([Reason]):
//
//   - an edited entry: its signature fails (or its encoding is not canonical);
//   - a forged entry or signature: its signature fails under the writer's key;
//   - a deleted, inserted or reordered entry: its sequence number is not its
//     position; a line spliced in from another log of the same writer breaks
//     the hash chain;
//   - removal of the last entries: a valid chain stays behind, which pure
//     chaining cannot tell from a shorter log. The signed head catches it
//     (it records more entries than remain). An attacker who also restores
//     an older copy of the head, or deletes it, is caught only by the other
//     parties' logs: [CrossCheck] finds the coordinator's receipts without
//     the node's sends (or the converse) and aggregates without the
//     contributors' countersignatures.
//
// The writer itself holds its key and can rewrite its own log consistently:
// evidence against the writer comes from the logs and countersignatures of
// the other parties, which is why every contribution is logged on both sides
// and every aggregate digest is countersigned by its contributors. Pin each
// writer's key ([Verify]'s pub argument, from the federation manifest or the
// command line); an unpinned verification proves integrity since the
// genesis entry, not authorship.
//
// # Usage
//
//	l, err := audit.Open("node-a.audit", identityKey, audit.Options{
//		Actor: "node-a", Role: "node", Federation: "fed-1"})
//	...
//	_, err = l.Append(audit.Entry{Kind: audit.KindContributionSent, Round: r,
//		Peer: "coordinator", Digest: audit.Digest(payload)})
//	...
//	_ = l.Close()
//
//	rep, err := audit.VerifyFile("node-a.audit", pinnedKey)
//	findings := audit.CrossCheck(coordReport, []audit.Report{rep}, keys)
package audit
