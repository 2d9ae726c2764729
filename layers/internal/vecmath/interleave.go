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
