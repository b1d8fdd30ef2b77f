package audit

import (
	"cmp"
	"crypto/ed25519"
	"fmt"
	"slices"
)

// Finding is one inconsistency between logs found by [CrossCheck].
type Finding struct {
	// Actor is the log the finding is about (a node, or the coordinator).
	Actor string
	// Round is the round concerned.
	Round uint64
	// Seq is the entry concerned in Actor's log, or -1 when the finding is
	// about an entry that is missing there.
	Seq int64
	// Problem is a sentence naming the inconsistency (digests abbreviated,
	// never data).
	Problem string
	// Interrupted marks what a crash explains (a contribution that never
	// reached the coordinator and entered no aggregate; a countersignature
	// missing because the node restarted before it): reported, not a sign
	// of tampering.
	Interrupted bool
}

func finding(actor string, round uint64, seq int64, problem string) Finding {
	return Finding{Actor: actor, Round: round, Seq: seq, Problem: problem}
}

// String formats the finding as one line.
func (f Finding) String() string {
	if f.Interrupted {
		return fmt.Sprintf("%s round %d: interrupted: %s", f.Actor, f.Round, f.Problem)
	}
	if f.Seq < 0 {
		return fmt.Sprintf("%s round %d: %s", f.Actor, f.Round, f.Problem)
	}
	return fmt.Sprintf("%s round %d (seq %d): %s", f.Actor, f.Round, f.Seq, f.Problem)
}

type contribution struct {
	round  uint64
	peer   string
	digest string
}

func short(d string) string {
	if len(d) > 16 {
		return d[:16]
	}
	return d
}

// CrossCheck compares verified logs (each from [Verify]) of one federation:
// the coordinator's and any number of nodes'. It reports:
//
//   - a contribution a node logged as sent whose digest the coordinator did
//     not log as received from that node in that round, and the converse;
//   - an aggregate whose contributors include a node whose log has no
//     countersign entry for that round with the same digest, or that logged
//     a refusal of that round;
//   - for contributors whose logs are not given, a missing or invalid
//     detached countersignature in the coordinator's log (checked with keys,
//     by actor name; a contributor without a key is reported as unverifiable);
//   - a node whose last countersigned aggregate is not in the coordinator's
//     log with the same digest (the coordinator's log was cut short or the
//     aggregate substituted), or whose final model version differs from the
//     coordinator's last one.
//
// Only the verified prefix of each log is used (Report.Entries), so run
// [Verify] first and treat its errors separately. An empty result means the
// logs agree.
func CrossCheck(coordinator Report, nodes []Report, keys map[string]ed25519.PublicKey) []Finding {
	var out []Finding
	coord := coordinator.Actor
	received := map[contribution]bool{}
	receivedFrom := map[string][]contribution{} // by sender, in log order
	type csKey struct {
		round uint64
		peer  string
	}
	detached := map[csKey]Entry{}
	for _, e := range coordinator.Entries {
		switch e.Kind {
		case KindContributionReceived:
			c := contribution{e.Round, e.Peer, e.Digest}
			received[c] = true
			receivedFrom[e.Peer] = append(receivedFrom[e.Peer], c)
		case KindCountersign:
			detached[csKey{e.Round, e.Peer}] = e
		}
	}
	byActor := map[string]Report{}
	for _, n := range nodes {
		byActor[n.Actor] = n
		sent := map[contribution]bool{}
		for _, e := range n.Entries {
			if e.Kind != KindContributionSent || (e.Peer != "" && e.Peer != coord) {
				continue
			}
			c := contribution{e.Round, n.Actor, e.Digest}
			sent[c] = true
			if !received[c] {
				// A contribution lost in a crash or on the network that
				// entered no aggregate is an interruption; one the
				// coordinator replaced, or counted without receiving, is not.
				f := Finding{Actor: n.Actor, Round: e.Round, Seq: int64(e.Seq),
					Problem: fmt.Sprintf("sent contribution %s that %s did not log as received", short(e.Digest), coord)}
				f.Interrupted = !receivedOther(receivedFrom[n.Actor], c) && !inAggregate(coordinator, e.Round, n.Actor)
				out = append(out, f)
			}
		}
		for _, c := range receivedFrom[n.Actor] {
			if !sent[c] {
				out = append(out, finding(coord, c.round, -1,
					fmt.Sprintf("logged contribution %s as received from %s, whose log has no such send", short(c.digest), n.Actor)))
			}
		}
	}
	out = append(out, checkLast(coordinator, nodes)...)
	for _, e := range coordinator.Entries {
		if e.Kind != KindAggregate {
			continue
		}
		for _, c := range e.Contributors {
			if n, ok := byActor[c]; ok {
				out = append(out, checkNodeCountersign(n, e)...)
				continue
			}
			d, ok := detached[csKey{e.Round, c}]
			pub, hasKey := keys[c]
			switch {
			case !ok:
				out = append(out, finding(coord, e.Round, int64(e.Seq),
					fmt.Sprintf("aggregate %s has no countersignature from contributor %s", short(e.Digest), c)))
			case d.Digest != e.Digest:
				out = append(out, finding(coord, e.Round, int64(d.Seq),
					fmt.Sprintf("countersignature of %s is for %s, aggregate is %s", c, short(d.Digest), short(e.Digest))))
			case !hasKey:
				out = append(out, finding(coord, e.Round, int64(d.Seq),
					fmt.Sprintf("countersignature of %s cannot be verified: no key for it", c)))
			case !VerifyCountersign(pub, coordinator.Federation, e.Round, e.Digest, d.Fields["countersig"]):
				out = append(out, finding(coord, e.Round, int64(d.Seq),
					fmt.Sprintf("countersignature of %s does not verify", c)))
			}
		}
	}
	return out
}

// checkLast compares each node's last countersigned aggregate and final
// model version with the coordinator's log.
func checkLast(coordinator Report, nodes []Report) []Finding {
	aggs := map[uint64]string{}
	lastModel := ""
	for _, e := range coordinator.Entries {
		switch e.Kind {
		case KindAggregate:
			aggs[e.Round] = e.Digest
		case KindModelVersion:
			lastModel = e.Digest
		}
	}
	var out []Finding
	for _, n := range nodes {
		var cs, mv *Entry
		for i := range n.Entries {
			switch e := &n.Entries[i]; e.Kind {
			case KindCountersign:
				cs = e
			case KindModelVersion:
				mv = e
			}
		}
		if cs != nil && aggs[cs.Round] != cs.Digest {
			out = append(out, finding(n.Actor, cs.Round, int64(cs.Seq),
				fmt.Sprintf("last countersigned aggregate %s is not in %s's log (cut short or substituted)", short(cs.Digest), coordinator.Actor)))
		}
		if mv != nil && lastModel != "" && mv.Digest != lastModel {
			out = append(out, finding(n.Actor, mv.Round, int64(mv.Seq),
				fmt.Sprintf("final model %s differs from %s's last model version %s", short(mv.Digest), coordinator.Actor, short(lastModel))))
		}
	}
	return out
}

// receivedOther reports whether the coordinator logged a contribution of
// the same sender and round with another digest.
func receivedOther(from []contribution, c contribution) bool {
	for _, r := range from {
		if r.round == c.round && r.digest != c.digest {
			return true
		}
	}
	return false
}

// inAggregate reports whether the coordinator's aggregate of round lists peer.
func inAggregate(coordinator Report, round uint64, peer string) bool {
	for _, e := range coordinator.Entries {
		if e.Kind == KindAggregate && e.Round == round && slices.Contains(e.Contributors, peer) {
			return true
		}
	}
	return false
}

// restartedAfter reports whether node n's log shows a restart (a join after
// its entries of round, with no close before it) before it could
// countersign that round's aggregate.
func restartedAfter(n Report, round uint64) bool {
	last := -1
	for i, e := range n.Entries {
		if e.Round == round && e.Kind != KindJoin {
			last = i
		}
	}
	if last < 0 {
		return false
	}
	for _, e := range n.Entries[last+1:] {
		switch e.Kind {
		case KindClose:
			return false
		case KindJoin:
			return true
		}
	}
	return false
}

// checkNodeCountersign checks that node n countersigned aggregate agg and did
// not refuse its round.
func checkNodeCountersign(n Report, agg Entry) []Finding {
	var out []Finding
	found := false
	for _, e := range n.Entries {
		if e.Round != agg.Round {
			continue
		}
		switch e.Kind {
		case KindRefusal:
			out = append(out, finding(n.Actor, e.Round, int64(e.Seq),
				fmt.Sprintf("refused round %d but is listed as a contributor of its aggregate", e.Round)))
		case KindCountersign:
			if e.Digest == agg.Digest {
				found = true
			} else {
				out = append(out, finding(n.Actor, e.Round, int64(e.Seq),
					fmt.Sprintf("countersigned aggregate %s, coordinator logged %s", short(e.Digest), short(agg.Digest))))
			}
		}
	}
	if !found && len(out) == 0 {
		out = append(out, Finding{Actor: n.Actor, Round: agg.Round, Seq: -1,
			Problem:     fmt.Sprintf("no countersignature of aggregate %s", short(agg.Digest)),
			Interrupted: restartedAfter(n, agg.Round)})
	}
	slices.SortStableFunc(out, func(a, b Finding) int { return cmp.Compare(a.Seq, b.Seq) })
	return out
}
