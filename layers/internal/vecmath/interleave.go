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
	i := vectorPart(n)
	if i > 0 {
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
	i := vectorPart(n)
	if i > 0 {
		deinterleave2x16(&even[0], &odd[0], &src[0], i)
	}
	for ; i < n; i++ {
		even[i], odd[i] = src[2*i], src[2*i+1]
	}
}

// Interleave2Rows is Interleave2 on rows rows of n elements of a and b: row r reads
// a[r·aStride:] and b[r·bStride:] and writes dst[r·dstStride:] (strides in elements).
// One call for a whole plane of a transposed convolution's sub-pixel outputs; the
// rows' last n mod 16 elements go under masks.
func Interleave2Rows(dst, a, b []float32, bias float32, n, rows, dstStride, aStride, bStride int) {
	if n <= 0 || rows <= 0 {
		return
	}
	_, _, _ = dst[(rows-1)*dstStride+2*n-1], a[(rows-1)*aStride+n-1], b[(rows-1)*bStride+n-1]
	if !hasAVX512 {
		for r := range rows {
			Interleave2(dst[r*dstStride:], a[r*aStride:r*aStride+n], b[r*bStride:], bias)
		}
		return
	}
	t := n % 16
	interleave2Rows16(&dst[0], &a[0], &b[0], bias, n, rows, 4*dstStride, 4*aStride, 4*bStride,
		lanes(min(2*t, 16)), lanes(2*t-16), lanes(t))
}

// Deinterleave2Rows is Deinterleave2 on rows rows of n even and odd elements: row r
// reads src[r·srcStride:] and writes even[r·evenStride:] and odd[r·oddStride:]
// (strides in elements); the rows' last n mod 16 elements go under masks.
func Deinterleave2Rows(even, odd, src []float32, n, rows, evenStride, oddStride, srcStride int) {
	if n <= 0 || rows <= 0 {
		return
	}
	_, _, _ = even[(rows-1)*evenStride+n-1], odd[(rows-1)*oddStride+n-1], src[(rows-1)*srcStride+2*n-1]
	if !hasAVX512 {
		for r := range rows {
			Deinterleave2(even[r*evenStride:r*evenStride+n], odd[r*oddStride:], src[r*srcStride:])
		}
		return
	}
	t := n % 16
	deinterleave2Rows16(&even[0], &odd[0], &src[0], n, rows, 4*evenStride, 4*oddStride, 4*srcStride,
		lanes(min(2*t, 16)), lanes(2*t-16), lanes(t))
}

// lanes is the mask of the first n of 16 lanes (none for n ≤ 0).
func lanes(n int) uint16 { return uint16(1<<min(max(n, 0), 16) - 1) }
