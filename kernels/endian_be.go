//go:build !(386 || amd64 || arm || arm64 || loong64 || mips64le || mipsle || ppc64le || riscv64 || wasm)

package kernels

// littleEndian is false on big-endian or unknown targets: the kernels then use
// encoding/binary for every little-endian conversion.
const littleEndian = false
