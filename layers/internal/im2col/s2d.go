package im2col

import (
	"unsafe"

	"github.com/fcn-dev/fcn/layers/internal/vecmath"
)

// Space to depth: a strided window is a stride-1 window over a rearranged image.
//
// When the kernel is a whole number of strides along both axes (dilation 1), tap
// kh = t·SH + a of window row oh reads image row oh·SH − PadT + kh = (oh+t)·SH + a − PadT.
// Splitting the image into its SH·SW phases,
//
//	Z[(c, a, b), i, j] = X[c, i·SH + a − PadT, j·SW + b − PadL]   (zero outside X),
//
// makes that pixel Z[(c, a, b), oh+t, ow+t']: a KH/SH × KW/SW window at stride 1 and no
// padding over C·SH·SW channels. Z's column matrix holds the very entries of X's, rows
// permuted (SpaceToDepthRow), so a product with it is the product with X's once the
// weight's columns are permuted alike. The point is speed: a stride-1 window packs by
// contiguous runs of image rows, a strided one by a gather per element.

// SpaceToDepthFits reports whether g has a space-to-depth form: a stride above 1,
// dilation 1, and kernel sizes that are multiples of the strides.
func (g Geom) SpaceToDepthFits() bool {
	return (g.SH > 1 || g.SW > 1) && g.DH == 1 && g.DW == 1 && g.SW <= maxS2DStride &&
		g.KH%g.SH == 0 && g.KW%g.SW == 0 && g.KH > 0 && g.KW > 0
}

// SpaceToDepth is the stride-1 geometry of Z (see above) for g, which must fit.
func (g Geom) SpaceToDepth() Geom {
	th, tw := g.KH/g.SH, g.KW/g.SW
	return Geom{
		C: g.C * g.SH * g.SW, H: g.OH + th - 1, W: g.OW + tw - 1,
		KH: th, KW: tw, SH: 1, SW: 1, DH: 1, DW: 1,
		OH: g.OH, OW: g.OW,
	}
}

// SpaceToDepthRow is the row of X's column matrix that row r of Z's is.
func (g Geom) SpaceToDepthRow(r int) int {
	th, tw := g.KH/g.SH, g.KW/g.SW
	t2 := r % tw
	r /= tw
	t := r % th
	r /= th
	b := r % g.SW
	r /= g.SW
	a := r % g.SH
	c := r / g.SH
	return (c*g.KH+t*g.SH+a)*g.KW + t2*g.SW + b
}

// SpaceToDepthImage writes Z for image x of geometry g (which must fit) into z, of
// g.SpaceToDepth().C·H·W elements.
func SpaceToDepthImage[T Float](g Geom, x, z []T) {
	zg := g.SpaceToDepth()
	hw, zhw := g.H*g.W, zg.H*zg.W
	_, _ = x[g.C*hw-1], z[zg.C*zhw-1]
	// Phase b's row j reads image column j·SW + b − PadL, for j in [lo[b], hi[b]).
	var lo, hi [maxS2DStride]int
	for b := range g.SW {
		lo[b], hi[b] = validRange(zg.W, g.SW, b-g.PadL, g.W)
	}
	var zero T
	pairs := unsafe.Sizeof(zero) == 4 && g.SW == 2
	jl, jh := 0, 0 // with pairs: the columns both phases read, in one pass
	if pairs {
		jl, jh = max(lo[0], lo[1]), min(hi[0], hi[1])
		pairs = jl < jh
	}
	for c := range g.C {
		img := x[c*hw : (c+1)*hw]
		for a := range g.SH {
			planes := z[(c*g.SH+a)*g.SW*zhw:][:g.SW*zhw] // phases (a, b) for every b
			// Rows i of the planes read image row i·SH + a − PadT: those in the image,
			// [i0, i1), the others are zero.
			i0, i1 := validRange(zg.H, g.SH, a-g.PadT, g.H)
			for b := range g.SW {
				plane := planes[b*zhw:][:zhw]
				clear(plane[:i0*zg.W])
				clear(plane[i1*zg.W:])
			}
			if i0 >= i1 {
				continue
			}
			if pairs {
				// Even and odd image columns from 2·jl − PadL on, every row of the two
				// phases in one call (vecmath.Deinterleave2Rows, AVX-512 permutes).
				first := (i0*g.SH+a-g.PadT)*g.W + 2*jl - g.PadL
				vecmath.Deinterleave2Rows(f32s(planes[i0*zg.W+jl:]), f32s(planes[zhw+i0*zg.W+jl:]), f32s(img[first:]),
					jh-jl, i1-i0, zg.W, zg.W, g.SH*g.W)
			}
			for i := i0; i < i1; i++ {
				src := img[(i*g.SH+a-g.PadT)*g.W:][:g.W]
				for b := range g.SW {
					row := planes[b*zhw+i*zg.W:][:zg.W]
					l, h := lo[b], hi[b]
					for j := range row[:l] { // a padding's width: stored one by one
						row[j] = 0
					}
					for j := h; j < len(row); j++ {
						row[j] = 0
					}
					if !pairs {
						phaseColumns(row, src, l, h, g.SW, b-g.PadL)
						continue
					}
					// The few columns only this phase reads, one by one.
					for j := l; j < jl; j++ {
						row[j] = src[j*g.SW+b-g.PadL]
					}
					for j := jh; j < h; j++ {
						row[j] = src[j*g.SW+b-g.PadL]
					}
				}
			}
		}
	}
}

// phaseColumns sets row[j] = src[j·s + off] for j in [j0, j1).
func phaseColumns[T Float](row, src []T, j0, j1, s, off int) {
	if j0 < j1 {
		gather(row[j0:j1], src[j0*s+off:], s)
	}
}

// maxS2DStride bounds the strides SpaceToDepthImage handles (FCN's largest is 32).
const maxS2DStride = 64
