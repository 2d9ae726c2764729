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
// out where Tab[2r+1] < 0: each product rounded, the adds in that order (init, then
// one AXPY per tap). A whole plane of a separable interpolation's pass in one call.
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
		row := dst[r*n : (r+1)*n]
		for i := range row {
			row[i] = init
		}
		AXPY(row, src[tab[2*r]:][:n], w[2*r])
		if t := tab[2*r+1]; t >= 0 {
			AXPY(row, src[t:][:n], w[2*r+1])
		}
	}
}

// ScatterRows adds, for each row r of src (rows of p.N elements, one after another, in
// order), W[2r]·src row r into dst[Tab[2r]:][:N] and W[2r+1]·src row r into
// dst[Tab[2r+1]:][:N] where Tab[2r+1] ≥ 0: InterpRows' adjoint, the bits of one AXPY
// per tap, src rows in order.
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
		AXPY(dst[tab[2*r]:][:n], s, w[2*r])
		if t := tab[2*r+1]; t >= 0 {
			AXPY(dst[t:][:n], s, w[2*r+1])
		}
	}
}
