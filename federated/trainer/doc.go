// Package trainer is the boundary between a consort node and the code that
// trains its model: the [Trainer] interface, its types, and the checks every
// result passes before the node uses it. It is pure (no files, processes or
// clocks), so the round engine can depend on it; package
// federated/trainer/runner runs a team's own training program (PyTorch or
// anything else) as a sandboxed, quota-bound child process behind the same
// interface, and package federated/model (model.NewTrainer) makes the
// built-in models one more implementation.
//
// The node calls a Trainer once per round with the global model and the
// round's [Settings], and gets back the locally trained tensors (not the
// update) and count-only [Metrics]. The node, not the trainer, then
// computes the update, clips it, adds its DP noise share, encodes and
// protects it: nothing a trainer returns can raise the clip, skip the noise
// or add a tensor, because only tensors of the declared layout, checked by
// [Check], ever leave this package.
//
// # Tensors and layouts
//
// A model layout is an ordered []TensorSpec (name and shape); [Tensors]
// holds a model as one flat float32 vector in layout order, which is what
// the round engine aggregates. For an external trainer the layout comes
// from the federation manifest, never from the trainer: [ReadInitial]
// checks the initial weights file against the manifest's SHA-256 and
// derives the layout from it.
//
// # Threat model
//
// A trainer's output is untrusted input: the trainer may be buggy,
// compromised by a dependency or replaced. [Check] and [Metrics.Check]
// refuse anything but the declared tensors (names, shapes, order), finite
// values and plausible counts, naming the offending tensor and never a
// value; [Checked] applies them to every call of any implementation. The
// finite scan tests two float32 per 64-bit word (about 0.2 ms per million
// values). [Digest] identifies approved trainer code and compares in
// constant time.
//
// # Usage
//
//	t := trainer.Checked(impl, maxExamples)     // model.NewTrainer(...) or runner.Start(...)
//	local, m, err := t.Train(ctx, trainer.Round{Round: r, Global: global, Settings: s, Seed: seed})
//	// the node: update = local.Data - global.Data, then clip, noise, encode, protect
//	held, err := t.Evaluate(ctx, global)        // counts on the held-out split
package trainer
