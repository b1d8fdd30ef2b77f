package kernels

// AddRing32 sets dst[i] += src[i] modulo 2^32. dst and src must have the
// same length.
func AddRing32(dst, src []uint32) {
	mustSameLen(len(dst), len(src))
	addRing32(dst, src)
}

// SubRing32 sets dst[i] -= src[i] modulo 2^32. dst and src must have the
// same length.
func SubRing32(dst, src []uint32) {
	mustSameLen(len(dst), len(src))
	subRing32(dst, src)
}

// AddRing64 sets dst[i] += src[i] modulo 2^64. dst and src must have the
// same length.
func AddRing64(dst, src []uint64) {
	mustSameLen(len(dst), len(src))
	addRing64(dst, src)
}

// SubRing64 sets dst[i] -= src[i] modulo 2^64. dst and src must have the
// same length.
func SubRing64(dst, src []uint64) {
	mustSameLen(len(dst), len(src))
	subRing64(dst, src)
}

// addRing32Go is the portable loop, unrolled by four.
func addRing32Go(dst, src []uint32) {
	src = src[:len(dst)]
	i := 0
	for ; i+4 <= len(dst); i += 4 {
		d := dst[i : i+4 : i+4]
		s := src[i : i+4 : i+4]
		d[0] += s[0]
		d[1] += s[1]
		d[2] += s[2]
		d[3] += s[3]
	}
	for ; i < len(dst); i++ {
		dst[i] += src[i]
	}
}

func subRing32Go(dst, src []uint32) {
	src = src[:len(dst)]
	i := 0
	for ; i+4 <= len(dst); i += 4 {
		d := dst[i : i+4 : i+4]
		s := src[i : i+4 : i+4]
		d[0] -= s[0]
		d[1] -= s[1]
		d[2] -= s[2]
		d[3] -= s[3]
	}
	for ; i < len(dst); i++ {
		dst[i] -= src[i]
	}
}

func addRing64Go(dst, src []uint64) {
	src = src[:len(dst)]
	i := 0
	for ; i+4 <= len(dst); i += 4 {
		d := dst[i : i+4 : i+4]
		s := src[i : i+4 : i+4]
		d[0] += s[0]
		d[1] += s[1]
		d[2] += s[2]
		d[3] += s[3]
	}
	for ; i < len(dst); i++ {
		dst[i] += src[i]
	}
}

func subRing64Go(dst, src []uint64) {
	src = src[:len(dst)]
	i := 0
	for ; i+4 <= len(dst); i += 4 {
		d := dst[i : i+4 : i+4]
		s := src[i : i+4 : i+4]
		d[0] -= s[0]
		d[1] -= s[1]
		d[2] -= s[2]
		d[3] -= s[3]
	}
	for ; i < len(dst); i++ {
		dst[i] -= src[i]
	}
}
