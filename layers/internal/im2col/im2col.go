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
// read zeros (Im2Col) or are dropped (Col2Im). A negative padding starts the windows
// inside the image.
//
// The Part variants work on a block of the column matrix — the rows of a range of
// channels and the columns of a range of window rows — stored with any leading
// dimension, so a caller can keep a slab of the column matrix in cache while it is
// multiplied, place several images side by side, or share the work of one image among
// goroutines (different channels never touch the same rows or, in Col2Im, the same
// image plane).
//
// Source and TransposedSource never write the column matrix at all: they are the matrix
// and its transpose as a gemm.BSource, packing the GEMM's slivers straight from the
// image (source.go), which fcn's convolutions use where the AVX-512 kernel runs.
// SpaceToDepthImage rearranges an image read by a strided window whose kernel is whole
// strides into the image of an equivalent stride-1 window (s2d.go), whose column matrix
// is the strided one's with its rows permuted, so the sources pack it by runs.
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

// clampRange intersects [lo, hi) with [a, b), returning an empty range at a when they
// do not meet.
func clampRange(lo, hi, a, b int) (int, int) {
	lo, hi = max(lo, a), min(hi, b)
	if lo >= hi {
		return a, a
	}
	return lo, hi
}

// Im2Col writes the column matrix of im (C×H×W) into col (Rows()×Cols()), overwriting it.
func Im2Col[T Float](g Geom, im, col []T) {
	Im2ColPart(g, im, col, g.Cols(), 0, g.C, 0, g.OH)
}

// Im2ColPart writes the block of the column matrix of im made of the rows of channels
// [c0, c1) and the columns of window rows [oh0, oh1): entry (r, (oh−oh0)·OW + ow) goes to
// col[r·ld + (oh−oh0)·OW + ow], r being the row's index in the whole matrix. Other
// entries of col are not touched. ld ≥ (oh1−oh0)·OW.
func Im2ColPart[T Float](g Geom, im, col []T, ld, c0, c1, oh0, oh1 int) {
	if c0 >= c1 || oh0 >= oh1 {
		return
	}
	hw := g.H * g.W
	kk := g.KH * g.KW
	ncol := (oh1 - oh0) * g.OW
	_ = im[c1*hw-1]
	_ = col[(c1*kk-1)*ld+ncol-1]
	// Stride 1 along both axes and rows as long as the image's: consecutive window rows
	// read consecutive image rows, so a kernel tap's whole block is one contiguous run of
	// the image, shifted, with the columns that fall off the left or right edge zeroed.
	contiguous := g.SH == 1 && g.SW == 1 && g.OW == g.W
	for c := c0; c < c1; c++ {
		img := im[c*hw : (c+1)*hw]
		for kh := 0; kh < g.KH; kh++ {
			offH := kh*g.DH - g.PadT
			ohLo, ohHi := validRange(g.OH, g.SH, offH, g.H)
			ohLo, ohHi = clampRange(ohLo, ohHi, oh0, oh1)
			for kw := 0; kw < g.KW; kw++ {
				offW := kw*g.DW - g.PadL
				owLo, owHi := validRange(g.OW, g.SW, offW, g.W)
				r := (c*g.KH+kh)*g.KW + kw
				dst := col[r*ld : r*ld+ncol]
				if owLo == owHi || ohLo == ohHi {
					clear(dst)
					continue
				}
				clear(dst[:(ohLo-oh0)*g.OW])
				clear(dst[(ohHi-oh0)*g.OW:])
				if contiguous {
					seg := dst[(ohLo-oh0)*g.OW : (ohHi-oh0)*g.OW]
					start := (ohLo+offH)*g.W + offW // image index of seg[0]
					// Entries whose image index falls outside the plane lie in the
					// edge columns, which are zeroed below.
					lo, hi := max(0, -start), min(len(seg), hw-start)
					copy(seg[lo:hi], img[start+lo:start+hi])
					if owLo > 0 || owHi < g.OW {
						// A padding's worth of elements per row: stored one by one,
						// cheaper than a call to clear for each.
						for o := 0; o < len(seg); o += g.OW {
							row := seg[o : o+g.OW]
							for i := range row[:owLo] {
								row[i] = 0
							}
							for i := owHi; i < len(row); i++ {
								row[i] = 0
							}
						}
					}
					continue
				}
				if g.SH > 1 && g.DH == 1 && kh >= g.SH {
					// Tap kh reads, at window row oh, the image row tap kh−SH reads at
					// window row oh+1: the block of row r−SH·KW moved up by one window
					// row, and only the last window row is read from the image.
					prev := col[(r-g.SH*g.KW)*ld : (r-g.SH*g.KW)*ld+ncol]
					copy(dst[:ncol-g.OW], prev[g.OW:])
					im2colRow(g, img, dst[ncol-g.OW:], oh1-1, offH, offW, owLo, owHi)
					continue
				}
				if g.SW > 1 && g.DW == 1 && kw >= g.SW {
					// Likewise along the columns, from row r−SW moved left by one.
					prev := col[(r-g.SW)*ld : (r-g.SW)*ld+ncol]
					for oh := ohLo; oh < ohHi; oh++ {
						o := (oh - oh0) * g.OW
						row := dst[o : o+g.OW]
						copy(row[:g.OW-1], prev[o+1:o+g.OW])
						row[g.OW-1] = 0
						if owHi == g.OW {
							row[g.OW-1] = img[(oh*g.SH+offH)*g.W+(g.OW-1)*g.SW+offW]
						}
					}
					continue
				}
				for oh := ohLo; oh < ohHi; oh++ {
					im2colRow(g, img, dst[(oh-oh0)*g.OW:(oh-oh0+1)*g.OW], oh, offH, offW, owLo, owHi)
				}
			}
		}
	}
}

// im2colRow writes window row oh of one tap (image offsets offH, offW, valid window
// columns [owLo, owHi)) into row, zeros where the tap falls outside the image.
func im2colRow[T Float](g Geom, img, row []T, oh, offH, offW, owLo, owHi int) {
	ih := oh*g.SH + offH
	if ih < 0 || ih >= g.H || owLo == owHi {
		clear(row)
		return
	}
	src := img[ih*g.W : (ih+1)*g.W]
	clear(row[:owLo])
	clear(row[owHi:])
	if g.SW == 1 {
		copy(row[owLo:owHi], src[owLo+offW:owHi+offW])
		return
	}
	gather(row[owLo:owHi], src[owLo*g.SW+offW:], g.SW)
}

// gather sets dst[i] = src[i·s].
func gather[T Float](dst, src []T, s int) {
	if len(dst) == 0 {
		return
	}
	src = src[:(len(dst)-1)*s+1]
	if s == 2 {
		for i := range dst {
			dst[i] = src[2*i]
		}
		return
	}
	j := 0
	for i := range dst {
		dst[i] = src[j]
		j += s
	}
}

// Col2Im adds the column matrix col (Rows()×Cols()) into im (C×H×W): every entry goes
// to the pixel Im2Col would have read it from; entries for padding are dropped.
// im is accumulated into, not overwritten, so a gradient can be added in place.
func Col2Im[T Float](g Geom, col, im []T) {
	Col2ImPart(g, col, im, g.Cols(), 0, g.C, 0, g.OH)
}

// Col2ImPart adds the block of a column matrix that Im2ColPart with the same arguments
// would write (rows of channels [c0, c1), columns of window rows [oh0, oh1), leading
// dimension ld) into im. Only the planes of channels [c0, c1) are touched, and each
// pixel receives its terms in the same order whatever the block boundaries along
// channels, so splitting the channels among goroutines does not change the result.
func Col2ImPart[T Float](g Geom, col, im []T, ld, c0, c1, oh0, oh1 int) {
	if c0 >= c1 || oh0 >= oh1 {
		return
	}
	hw := g.H * g.W
	kk := g.KH * g.KW
	ncol := (oh1 - oh0) * g.OW
	_ = im[c1*hw-1]
	_ = col[(c1*kk-1)*ld+ncol-1]
	for c := c0; c < c1; c++ {
		img := im[c*hw : (c+1)*hw]
		for kh := 0; kh < g.KH; kh++ {
			offH := kh*g.DH - g.PadT
			ohLo, ohHi := validRange(g.OH, g.SH, offH, g.H)
			ohLo, ohHi = clampRange(ohLo, ohHi, oh0, oh1)
			for kw := 0; kw < g.KW; kw++ {
				offW := kw*g.DW - g.PadL
				owLo, owHi := validRange(g.OW, g.SW, offW, g.W)
				r := (c*g.KH+kh)*g.KW + kw
				if owLo == owHi || ohLo == ohHi {
					continue
				}
				src := col[r*ld : r*ld+ncol]
				for oh := ohLo; oh < ohHi; oh++ {
					row := src[(oh-oh0)*g.OW+owLo : (oh-oh0)*g.OW+owHi]
					dst := img[(oh*g.SH+offH)*g.W : (oh*g.SH+offH+1)*g.W]
					if g.SW == 1 {
						add(dst[owLo+offW:owHi+offW], row)
						continue
					}
					scatterAdd(dst[owLo*g.SW+offW:], row, g.SW)
				}
			}
		}
	}
}

// add sets dst[i] += src[i], four at a time.
func add[T Float](dst, src []T) {
	src = src[:len(dst)]
	i := 0
	for ; i+4 <= len(dst); i += 4 {
		d, s := dst[i:i+4:i+4], src[i:i+4:i+4]
		d[0] += s[0]
		d[1] += s[1]
		d[2] += s[2]
		d[3] += s[3]
	}
	for ; i < len(dst); i++ {
		dst[i] += src[i]
	}
}

// scatterAdd sets dst[i·s] += src[i].
func scatterAdd[T Float](dst, src []T, s int) {
	if len(src) == 0 {
		return
	}
	dst = dst[:(len(src)-1)*s+1]
	j := 0
	for _, v := range src {
		dst[j] += v
		j += s
	}
}
