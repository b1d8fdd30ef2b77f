package safetensors

import (
	"encoding/binary"
	"unsafe"
)

// nativeLittle reports whether float32 values are stored little-endian in
// memory, so a []float32 can be written and read as safetensors bytes
// without conversion.
var nativeLittle = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// float32Bytes views a []float32 as its bytes (no copy).
func float32Bytes(f []float32) []byte {
	if len(f) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&f[0])), 4*len(f))
}
