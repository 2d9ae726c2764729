package vecmath

import "fmt"

// AXPY adds a·src[i] to dst[i] for i < len(src), the product rounded to float32 before
// the add (no fused multiply-add, whatever GOAMD64 allows), so the AVX-512 lanes and
// the scalar tail give the same bits.
func AXPY(dst, src []float32, a float32) {
	n := len(src)
	if n == 0 {
		return
	}
	_ = dst[n-1]
	i := vectorPart(n)
	if i > 0 {
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
	i := vectorPart(n)
	if i > 0 {
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
	i := vectorPart(n)
	if i > 0 {
		axpy2x16(&da[0], &db[0], &src[0], a, b, i)
	}
	for ; i < n; i++ {
		da[i] += float32(a * src[i])
		db[i] += float32(b * src[i])
	}
}

// RowPairs is a table of one- or two-tap row sums for InterpRows and ScatterRows:
// per output row r, the offsets (in elements) of the rows it takes, Tab[2r] and
// Tab[2r+1] (−1 for none), and their weights W[2r], W[2r+1], over rows of N elements.
// NewRowPairs checks it once, so a call checks only its slices' lengths.
type RowPairs struct {
	Tab    []int32
	W      []float32
	N      int
	maxOff int // the largest offset
}

// NewRowPairs checks tab and w (offsets ≥ 0, a row's two rows apart by N at least)
// and returns the table.
func NewRowPairs(tab []int32, w []float32, n int) (RowPairs, error) {
	if len(tab)%2 != 0 || len(w) != len(tab) || n <= 0 {
		return RowPairs{}, fmt.Errorf("vecmath: row pairs: %d offsets, %d weights, rows of %d", len(tab), len(w), n)
	}
	p := RowPairs{Tab: tab, W: w, N: n}
	for r := range len(tab) / 2 {
		t0, t1 := int(tab[2*r]), int(tab[2*r+1])
		if t0 < 0 || t1 < -1 || t1 >= 0 && t0 < t1+n && t1 < t0+n {
			return RowPairs{}, fmt.Errorf("vecmath: row pairs: row %d takes offsets %d and %d of rows of %d", r, t0, t1, n)
		}
		p.maxOff = max(p.maxOff, t0, t1)
	}
	return p, nil
}

// Rows is the number of output rows.
func (p *RowPairs) Rows() int { return len(p.Tab) / 2 }

// InterpRows sets row r of dst (rows of p.N elements, one after another) to
// init + W[2r]·src[Tab[2r]:][:N] + W[2r+1]·src[Tab[2r+1]:][:N], the second term left
// out where Tab[2r+1] < 0: each product rounded, the adds in that order (Interp2's
// bits, or init and one AXPY's). A whole plane of a separable interpolation's pass in
// one call.
func InterpRows(dst, src []float32, p *RowPairs, init float32) {
	rows, n := p.Rows(), p.N
	if rows == 0 {
		return
	}
	_, _ = dst[rows*n-1], src[p.maxOff+n-1]
	tab, w := p.Tab, p.W
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

// ScatterRows adds, for each row r of src (rows of p.N elements, one after another, in
// order), W[2r]·src row r into dst[Tab[2r]:][:N] and W[2r+1]·src row r into
// dst[Tab[2r+1]:][:N] where Tab[2r+1] ≥ 0: InterpRows' adjoint, AXPY2's bits (or
// AXPY's).
func ScatterRows(dst, src []float32, p *RowPairs) {
	rows, n := p.Rows(), p.N
	if rows == 0 {
		return
	}
	_, _ = src[rows*n-1], dst[p.maxOff+n-1]
	tab, w := p.Tab, p.W
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
