//go:build !amd64 || purego

package kernels

func addRing16(dst, src []uint16) { addRing16Go(dst, src) }
func subRing16(dst, src []uint16) { subRing16Go(dst, src) }
func addRing32(dst, src []uint32) { addRing32Go(dst, src) }
func subRing32(dst, src []uint32) { subRing32Go(dst, src) }
func addRing64(dst, src []uint64) { addRing64Go(dst, src) }
func subRing64(dst, src []uint64) { subRing64Go(dst, src) }
