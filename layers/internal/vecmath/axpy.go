package vecmath

// AXPY adds a·src[i] to dst[i] for i < len(src), the product rounded to float32 before
// the add (no fused multiply-add, whatever GOAMD64 allows), so the AVX-512 lanes and
// the scalar tail give the same bits.
func AXPY(dst, src []float32, a float32) {
	n := len(src)
	if n == 0 {
		return
	}
	_ = dst[n-1]
	i := 0
	if hasAVX512 && n >= 16 {
		i = n &^ 15
		axpy16(&dst[0], &src[0], a, i)
	}
	for ; i < n; i++ {
		dst[i] += float32(a * src[i])
	}
}

// Interp2 sets dst[i] = (init + a·xa[i]) + b·xb[i] for i < len(xa): a row of a
// two-tap interpolation, the bits of filling dst with init and adding AXPY(dst, xa, a)
// then AXPY(dst, xb, b), in one pass.
func Interp2(dst, xa, xb []float32, init, a, b float32) {
	n := len(xa)
	if n == 0 {
		return
	}
	_, _ = dst[n-1], xb[n-1]
	i := 0
	if hasAVX512 && n >= 16 {
		i = n &^ 15
		interp2x16(&dst[0], &xa[0], &xb[0], init, a, b, i)
	}
	for ; i < n; i++ {
		dst[i] = init + float32(a*xa[i]) + float32(b*xb[i])
	}
}

// AXPY2 adds a·src[i] to da[i] and b·src[i] to db[i] for i < len(src), reading src
// once: the bits of AXPY(da, src, a) and AXPY(db, src, b). da and db must not overlap.
func AXPY2(da, db, src []float32, a, b float32) {
	n := len(src)
	if n == 0 {
		return
	}
	_, _ = da[n-1], db[n-1]
	i := 0
	if hasAVX512 && n >= 16 {
		i = n &^ 15
		axpy2x16(&da[0], &db[0], &src[0], a, b, i)
	}
	for ; i < n; i++ {
		da[i] += float32(a * src[i])
		db[i] += float32(b * src[i])
	}
}
