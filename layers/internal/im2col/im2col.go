// Package im2col lowers 2-D sliding-window operations to matrix products: Im2Col copies
// every window of an image into a column matrix, Col2Im adds a column matrix back into an
// image (its adjoint). Convolution forward is GEMM on Im2Col's output; transposed
// convolution forward and convolution backward-data are GEMM followed by Col2Im.
//
// The column matrix is Caffe's layout: C·KH·KW rows, one per (channel, kernel row,
// kernel column) in that order — the order of a PyTorch weight's trailing dimensions —
// and OH·OW columns, one per window position, row-major.
//
// Padding is given per side for the top and left only; the bottom and right follow from
// the window count OH×OW, so asymmetric padding (TensorFlow's 'SAME', PyTorch's
// output_padding) needs no special case: window positions that fall outside the image
// read zeros (Im2Col) or are dropped (Col2Im).
package im2col

// Float is the element type.
type Float interface{ ~float32 | ~float64 }

// Geom is an image of C channels of H×W read by a KH×KW window with stride SH×SW,
// dilation DH×DW and top/left padding PadT/PadL, at OH×OW window positions.
// Window position (oh, ow), kernel tap (kh, kw) reads image pixel
// (oh·SH − PadT + kh·DH, ow·SW − PadL + kw·DW).
type Geom struct {
	C, H, W    int
	KH, KW     int
	SH, SW     int
	PadT, PadL int
	DH, DW     int
	OH, OW     int
}

// Rows is the column matrix's row count, C·KH·KW.
func (g Geom) Rows() int { return g.C * g.KH * g.KW }

// Cols is the column matrix's column count, OH·OW.
func (g Geom) Cols() int { return g.OH * g.OW }

// OutSize is the number of window positions along one axis for symmetric padding p:
// floor((in + 2p − d(k−1) − 1)/s) + 1, or a value ≤ 0 when not even one window fits.
func OutSize(in, k, s, p, d int) int {
	num := in + 2*p - d*(k-1) - 1
	if num < 0 {
		// Go's division truncates toward zero; floor is what is meant.
		return -((-num + s - 1) / s) + 1
	}
	return num/s + 1
}

// validRange returns the window positions [lo, hi) among n whose tap at offset off
// (= k·D − Pad) lands inside [0, size) with stride s: 0 ≤ o·s + off < size.
func validRange(n, s, off, size int) (lo, hi int) {
	// o·s ≥ −off  ⇔  o ≥ ceil(−off/s)
	if off < 0 {
		lo = (-off + s - 1) / s
	}
	// o·s + off ≤ size−1  ⇔  o ≤ floor((size−1−off)/s)
	last := size - 1 - off
	if last < 0 {
		return 0, 0
	}
	hi = last/s + 1
	if hi > n {
		hi = n
	}
	if lo >= hi {
		return 0, 0 // empty; (0, 0) keeps callers' slice bounds in range
	}
	return lo, hi
}

// Im2Col writes the column matrix of im (C×H×W) into col (Rows()×Cols()), overwriting it.
func Im2Col[T Float](g Geom, im, col []T) {
	hw := g.H * g.W
	ohw := g.OH * g.OW
	_ = im[g.C*hw-1]
	_ = col[g.Rows()*ohw-1]
	r := 0
	for c := 0; c < g.C; c++ {
		img := im[c*hw : (c+1)*hw]
		for kh := 0; kh < g.KH; kh++ {
			offH := kh*g.DH - g.PadT
			ohLo, ohHi := validRange(g.OH, g.SH, offH, g.H)
			for kw := 0; kw < g.KW; kw++ {
				offW := kw*g.DW - g.PadL
				owLo, owHi := validRange(g.OW, g.SW, offW, g.W)
				dst := col[r*ohw : (r+1)*ohw]
				r++
				if owLo == owHi {
					clear(dst)
					continue
				}
				clear(dst[:ohLo*g.OW])
				clear(dst[ohHi*g.OW:])
				for oh := ohLo; oh < ohHi; oh++ {
					row := dst[oh*g.OW : (oh+1)*g.OW]
					src := img[(oh*g.SH+offH)*g.W:]
					clear(row[:owLo])
					clear(row[owHi:])
					if g.SW == 1 {
						copy(row[owLo:owHi], src[owLo+offW:owHi+offW])
						continue
					}
					for ow := owLo; ow < owHi; ow++ {
						row[ow] = src[ow*g.SW+offW]
					}
				}
			}
		}
	}
}

// Col2Im adds the column matrix col (Rows()×Cols()) into im (C×H×W): every entry goes
// to the pixel Im2Col would have read it from; entries for padding are dropped.
// im is accumulated into, not overwritten, so a gradient can be added in place.
func Col2Im[T Float](g Geom, col, im []T) {
	hw := g.H * g.W
	ohw := g.OH * g.OW
	_ = im[g.C*hw-1]
	_ = col[g.Rows()*ohw-1]
	r := 0
	for c := 0; c < g.C; c++ {
		img := im[c*hw : (c+1)*hw]
		for kh := 0; kh < g.KH; kh++ {
			offH := kh*g.DH - g.PadT
			ohLo, ohHi := validRange(g.OH, g.SH, offH, g.H)
			for kw := 0; kw < g.KW; kw++ {
				offW := kw*g.DW - g.PadL
				owLo, owHi := validRange(g.OW, g.SW, offW, g.W)
				src := col[r*ohw : (r+1)*ohw]
				r++
				if owLo == owHi {
					continue
				}
				for oh := ohLo; oh < ohHi; oh++ {
					row := src[oh*g.OW : (oh+1)*g.OW]
					dst := img[(oh*g.SH+offH)*g.W:]
					if g.SW == 1 {
						d := dst[owLo+offW : owHi+offW]
						for i, v := range row[owLo:owHi] {
							d[i] += v
						}
						continue
					}
					for ow := owLo; ow < owHi; ow++ {
						dst[ow*g.SW+offW] += row[ow]
					}
				}
			}
		}
	}
}
