package vecmath

// Interleave2Rows sets dst[2i] = a[i] + bias and dst[2i+1] = b[i] + bias, i < n, on rows
// rows: row r reads a[r·aStride:] and b[r·bStride:] and writes dst[r·dstStride:]
// (strides in elements): two phases of rows at stride 2 (a transposed convolution's
// sub-pixel outputs) woven into one, with the bias.
// One call for a whole plane of a transposed convolution's sub-pixel outputs; the
// rows' last n mod 16 elements go under masks.
func Interleave2Rows(dst, a, b []float32, bias float32, n, rows, dstStride, aStride, bStride int) {
	if n <= 0 || rows <= 0 {
		return
	}
	_, _, _ = dst[(rows-1)*dstStride+2*n-1], a[(rows-1)*aStride+n-1], b[(rows-1)*bStride+n-1]
	if !hasAVX512 {
		for r := range rows {
			d, x, y := dst[r*dstStride:][:2*n], a[r*aStride:][:n], b[r*bStride:][:n]
			for i := range x {
				d[2*i], d[2*i+1] = x[i]+bias, y[i]+bias
			}
		}
		return
	}
	t := n % 16
	interleave2Rows16(&dst[0], &a[0], &b[0], bias, n, rows, 4*dstStride, 4*aStride, 4*bStride,
		lanes(min(2*t, 16)), lanes(2*t-16), lanes(t))
}

// Deinterleave2Rows sets even[i] = src[2i] and odd[i] = src[2i+1], i < n, on rows rows:
// row r reads src[r·srcStride:] and writes even[r·evenStride:] and odd[r·oddStride:]
// (strides in elements): rows split into their two phases at stride 2 (space to depth);
// the rows' last n mod 16 elements go under masks.
func Deinterleave2Rows(even, odd, src []float32, n, rows, evenStride, oddStride, srcStride int) {
	if n <= 0 || rows <= 0 {
		return
	}
	_, _, _ = even[(rows-1)*evenStride+n-1], odd[(rows-1)*oddStride+n-1], src[(rows-1)*srcStride+2*n-1]
	if !hasAVX512 {
		for r := range rows {
			e, o, x := even[r*evenStride:][:n], odd[r*oddStride:][:n], src[r*srcStride:][:2*n]
			for i := range e {
				e[i], o[i] = x[2*i], x[2*i+1]
			}
		}
		return
	}
	t := n % 16
	deinterleave2Rows16(&even[0], &odd[0], &src[0], n, rows, 4*evenStride, 4*oddStride, 4*srcStride,
		lanes(min(2*t, 16)), lanes(2*t-16), lanes(t))
}

// lanes is the mask of the first n of 16 lanes (none for n ≤ 0).
func lanes(n int) uint16 { return uint16(1<<min(max(n, 0), 16) - 1) }
