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

// InterpRows sets row r of dst (rows of n elements, one after another, len(tab)/2 of
// them) to init + w[2r]·src[tab[2r]:][:n] + w[2r+1]·src[tab[2r+1]:][:n], the second
// term left out where tab[2r+1] < 0: each product rounded, the adds in that order
// (Interp2's bits, or init and one AXPY's). A whole plane of a separable
// interpolation's pass in one call.
func InterpRows(dst, src []float32, tab []int32, w []float32, n int, init float32) {
	rows := len(tab) / 2
	if rows == 0 || n <= 0 {
		return
	}
	_, _ = dst[rows*n-1], w[2*rows-1]
	for r := range rows {
		for k := range 2 {
			if t := int(tab[2*r+k]); t >= 0 || k == 0 {
				_ = src[t : t+n] // every row read lies in src
			}
		}
	}
	if hasAVX512 {
		interpPlane(&dst[0], &src[0], &tab[0], &w[0], n, rows, init, uint16(1<<(n%16)-1))
		return
	}
	for r := range rows {
		row, a := dst[r*n:(r+1)*n], src[tab[2*r]:][:n]
		if t := tab[2*r+1]; t >= 0 {
			Interp2(row, a, src[t:][:n], init, w[2*r], w[2*r+1])
			continue
		}
		for i, v := range a {
			row[i] = init + float32(w[2*r]*v)
		}
	}
}

// ScatterRows adds, for each row r of src (rows of n elements, one after another,
// len(tab)/2 of them, in order), w[2r]·src row r into dst[tab[2r]:][:n] and
// w[2r+1]·src row r into dst[tab[2r+1]:][:n] where tab[2r+1] ≥ 0: InterpRows' adjoint,
// AXPY2's bits (or AXPY's). The two rows a src row reaches must not overlap.
func ScatterRows(dst, src []float32, tab []int32, w []float32, n int) {
	rows := len(tab) / 2
	if rows == 0 || n <= 0 {
		return
	}
	_, _ = src[rows*n-1], w[2*rows-1]
	for r := range rows {
		t0, t1 := int(tab[2*r]), int(tab[2*r+1])
		_ = dst[t0 : t0+n]
		if t1 >= 0 {
			_ = dst[t1 : t1+n]
			if t0 < t1+n && t1 < t0+n {
				panic("vecmath: ScatterRows' two rows overlap")
			}
		}
	}
	if hasAVX512 {
		scatterPlane(&dst[0], &src[0], &tab[0], &w[0], n, rows, uint16(1<<(n%16)-1))
		return
	}
	for r := range rows {
		s := src[r*n : (r+1)*n]
		if t := tab[2*r+1]; t >= 0 {
			AXPY2(dst[tab[2*r]:][:n], dst[t:][:n], s, w[2*r], w[2*r+1])
			continue
		}
		AXPY(dst[tab[2*r]:][:n], s, w[2*r])
	}
}
