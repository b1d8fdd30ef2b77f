//go:build 386 || amd64 || arm || arm64 || loong64 || mips64le || mipsle || ppc64le || riscv64 || wasm

package kernels

// littleEndian reports whether the target stores integers least significant
// byte first. When it does, the ring kernels view []uint32 and []uint64 as
// their bytes (and back) with unsafe.Slice instead of decoding each element
// with encoding/binary; the two are then byte-for-byte the same.
const littleEndian = true
