//go:build !(amd64 && goexperiment.simd) || purego

package kernels

// Without the SIMD experiment the float and fixed-point kernels are the
// portable Go loops.

func axpy(alpha float32, x, y []float32)                  { axpyGo(alpha, x, y) }
func scale(alpha float32, x []float32)                    { scaleGo(alpha, x) }
func dot64(x, y []float32) float64                        { return dot64Go(x, y) }
func sumSquares(x []float32) float64                      { return sumSquaresGo(x) }
func encodeNearest32(dst []uint32, src []float32, f uint) { encodeNearest32Go(dst, src, f) }
func decode32(dst []float32, src []uint32, f uint)        { decode32Go(dst, src, f) }
