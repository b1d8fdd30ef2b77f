package runner

import (
	"bytes"
	"encoding/binary"
	"io"
	"math"
	"unsafe"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// writeData writes the float32 values little-endian, straight from the
// slice's memory on little-endian machines (no copy).
func writeData(w io.Writer, data []float32) error {
	if binary.NativeEndian.Uint16([]byte{1, 0}) == 1 {
		_, err := w.Write(unsafe.Slice((*byte)(unsafe.Pointer(&data[0])), 4*len(data)))
		return err
	}
	b := make([]byte, 0, 4*len(data))
	for _, v := range data {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	_, err := w.Write(b)
	return err
}
