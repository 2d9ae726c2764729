package vecmath

// Interleave2 sets dst[2i] = a[i] + bias and dst[2i+1] = b[i] + bias for i < len(a):
// two phases of a row at stride 2 (a transposed convolution's sub-pixel outputs) woven
// into one, with the bias. len(dst) ≥ 2·len(a), len(b) ≥ len(a).
func Interleave2(dst, a, b []float32, bias float32) {
	n := len(a)
	if n == 0 {
		return
	}
	_, _ = dst[2*n-1], b[n-1]
	i := 0
	if hasAVX512 && n >= 16 {
		i = n &^ 15
		interleave2x16(&dst[0], &a[0], &b[0], bias, i)
	}
	for ; i < n; i++ {
		dst[2*i], dst[2*i+1] = a[i]+bias, b[i]+bias
	}
}

// Deinterleave2 sets even[i] = src[2i] and odd[i] = src[2i+1] for i < len(even): a
// row split into its two phases at stride 2 (space to depth). len(odd) ≥ len(even),
// len(src) ≥ 2·len(even).
func Deinterleave2(even, odd, src []float32) {
	n := len(even)
	if n == 0 {
		return
	}
	_, _ = odd[n-1], src[2*n-1]
	i := 0
	if hasAVX512 && n >= 16 {
		i = n &^ 15
		deinterleave2x16(&even[0], &odd[0], &src[0], i)
	}
	for ; i < n; i++ {
		even[i], odd[i] = src[2*i], src[2*i+1]
	}
}

// Interleave2Rows is Interleave2 on rows rows of n elements of a and b: row r reads
// a[r·aStride:] and b[r·bStride:] and writes dst[r·dstStride:] (strides in elements).
// One call for a whole plane of a transposed convolution's sub-pixel outputs.
func Interleave2Rows(dst, a, b []float32, bias float32, n, rows, dstStride, aStride, bStride int) {
	if n <= 0 || rows <= 0 {
		return
	}
	_, _, _ = dst[(rows-1)*dstStride+2*n-1], a[(rows-1)*aStride+n-1], b[(rows-1)*bStride+n-1]
	n16 := 0
	if hasAVX512 {
		n16 = n &^ 15
	}
	if n16 > 0 {
		interleave2Rows16(&dst[0], &a[0], &b[0], bias, n16, rows, 4*dstStride, 4*aStride, 4*bStride)
	}
	if n16 < n {
		for r := range rows {
			Interleave2(dst[r*dstStride+2*n16:], a[r*aStride+n16:r*aStride+n], b[r*bStride+n16:], bias)
		}
	}
}

// Deinterleave2Rows is Deinterleave2 on rows rows of n even and odd elements: row r
// reads src[r·srcStride:] and writes even[r·evenStride:] and odd[r·oddStride:]
// (strides in elements).
func Deinterleave2Rows(even, odd, src []float32, n, rows, evenStride, oddStride, srcStride int) {
	if n <= 0 || rows <= 0 {
		return
	}
	_, _, _ = even[(rows-1)*evenStride+n-1], odd[(rows-1)*oddStride+n-1], src[(rows-1)*srcStride+2*n-1]
	n16 := 0
	if hasAVX512 {
		n16 = n &^ 15
	}
	if n16 > 0 {
		deinterleave2Rows16(&even[0], &odd[0], &src[0], n16, rows, 4*evenStride, 4*oddStride, 4*srcStride)
	}
	if n16 < n {
		for r := range rows {
			e, o, s := even[r*evenStride+n16:r*evenStride+n], odd[r*oddStride+n16:], src[r*srcStride+2*n16:]
			for i := range e {
				e[i], o[i] = s[2*i], s[2*i+1]
			}
		}
	}
}
