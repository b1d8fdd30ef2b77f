package kernels

import "unsafe"

// The views below reinterpret memory without copying. They are used only
// when [littleEndian] is true, so the byte order they expose is the
// little-endian order the wire format and the mask definition require.
// The []byte -> []uintN direction is applied only to buffers this package
// allocated as []uint64, so alignment always holds.

// bytesOf32 returns the bytes of s.
func bytesOf32(s []uint32) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*4)
}

// bytesOf64 returns the bytes of s.
func bytesOf64(s []uint64) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*8)
}

// words32Of64 views s as twice as many uint32 values.
func words32Of64(s []uint64) []uint32 {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*2)
}

// bytesOf16 returns the bytes of s.
func bytesOf16(s []uint16) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*2)
}

// words16Of64 views s as four times as many uint16 values.
func words16Of64(s []uint64) []uint16 {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*uint16)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*4)
}
