// Package safetensors reads and writes the safetensors tensor file format
// (Hugging Face, https://huggingface.co/docs/safetensors), restricted to what
// consort exchanges: little-endian float32 ("F32") tensors of a layout known
// in advance.
//
// # Format
//
// A file is an 8-byte little-endian unsigned header length N, then N bytes of
// UTF-8 JSON, then the raw tensor bytes. The JSON is one object mapping each
// tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets
// relative to the first data byte) and an optional "__metadata__" object of
// string to string. The JSON may be padded at its end with spaces (0x20).
//
// # Threat model and checks
//
// The bytes come from a trainer process the node does not trust to be
// correct (it may be buggy or hostile), so [Decode] checks everything before
// it allocates or copies, and returns [ErrMalformed] (wrapped, with a reason
// that never quotes tensor values) on the first violation:
//   - the header length is at most [Limits.MaxHeader] and within the input;
//     the header starts with '{', is valid UTF-8 JSON, has no duplicate keys
//     and no unknown fields;
//   - every dtype is "F32" (no other dtype is accepted: the node's update
//     pipeline is float32 end to end);
//   - every shape dimension is non-negative and the element count fits the
//     declared layout ([Decode] takes the expected layout, so an unknown,
//     missing or extra tensor, or a wrong shape, is refused by name);
//   - data offsets are in bounds, each tensor's span is exactly its shape's
//     byte size, and the spans, sorted by offset, tile the data section from
//     0 to its end with no gap and no overlap (the safetensors rule "the byte
//     buffer needs to be entirely indexed, and cannot contain holes");
//   - no byte follows the data section;
//   - metadata has at most [Limits.MaxMetadata] entries.
//
// Value checks (finite, plausible) are the caller's: package trainer rejects
// NaN and infinities.
//
// [Encode] writes the canonical form: tensors in layout order with contiguous
// offsets, keys in layout order, metadata first, header padded with spaces to
// a multiple of 8 bytes so the data is 8-byte aligned (as the reference
// implementation does). Decode(Encode(x)) == x, and a decoded file re-encodes
// to the same bytes when it was canonical.
//
// # Usage
//
//	b, err := safetensors.Encode(layout, data, map[string]string{"format": "pt"})
//	f, err := safetensors.Decode(b, layout, safetensors.Limits{})
//	f.Data     // float32 values, flat, in layout order
//	f.Metadata // the "__metadata__" map
//
// The package does no file I/O: callers write a model with [WriteTo] (the
// runner's WriteModel does it atomically) and read one with [ReadLayout]
// or [Decode], so teams load the federated model with
// `safetensors.torch.load_file` or numpy in their own inference code.
package safetensors
