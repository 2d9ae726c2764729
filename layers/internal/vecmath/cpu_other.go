//go:build !amd64

package vecmath

const hasAVX512 = false

func expSubAcc16(dst, x, m *float32, se *float64, n int) { panic("vecmath: no AVX-512 here") }

func relu16(dst, src *float32, n int)      { panic("vecmath: no AVX-512 here") }
func reluBack16(dx, y, dy *float32, n int) { panic("vecmath: no AVX-512 here") }

func axpy16(dst, src *float32, a float32, n int) { panic("vecmath: no AVX-512 here") }

func maxPool2x2x16(y *float32, arg *int32, r0, r1 *float32, at, w int32, n int) {
	panic("vecmath: no AVX-512 here")
}

func addBias16(dst *float32, b float32, n int)     { panic("vecmath: no AVX-512 here") }
func addBiasReLU16(dst *float32, b float32, n int) { panic("vecmath: no AVX-512 here") }

func maskSum16(d, y *float32, mask bool, n int) float32 { panic("vecmath: no AVX-512 here") }

func maxInto16(dst, src *float32, n int) { panic("vecmath: no AVX-512 here") }

func mulWhere16(dst, a, e *float32, accumulate bool, n int) { panic("vecmath: no AVX-512 here") }

func interleave2Rows16(dst, a, b *float32, bias float32, n, rows, dstStride, aStride, bStride int, m1, m2, ms uint16) {
	panic("vecmath: no AVX-512 here")
}

func deinterleave2Rows16(even, odd, src *float32, n, rows, evenStride, oddStride, srcStride int, m1, m2, ms uint16) {
	panic("vecmath: no AVX-512 here")
}

func interpPlane(dst, src *float32, tab *int32, w *float32, n, rows int, init float32, tail uint16) {
	panic("vecmath: no AVX-512 here")
}

func scatterPlane(dst, src *float32, tab *int32, w *float32, n, rows int, tail uint16) {
	panic("vecmath: no AVX-512 here")
}
