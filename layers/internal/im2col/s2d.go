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
	for c := range g.C {
		img := x[c*hw : (c+1)*hw]
		for a := range g.SH {
			planes := z[(c*g.SH+a)*g.SW*zhw:][:g.SW*zhw] // phases (a, b) for every b
			for i := range zg.H {
				ih := i*g.SH + a - g.PadT
				if ih < 0 || ih >= g.H {
					for b := range g.SW {
						clear(planes[b*zhw+i*zg.W:][:zg.W])
					}
					continue
				}
				src := img[ih*g.W : (ih+1)*g.W]
				jl, jh := 0, 0 // columns both phases of a pair read
				if pairs {
					jl, jh = max(lo[0], lo[1]), min(hi[0], hi[1])
					if jl < jh {
						// Even and odd image columns from 2·jl − PadL on: the two phases'
						// rows in one pass of AVX-512 permutes (vecmath.Deinterleave2).
						r0, r1 := planes[i*zg.W:][:zg.W], planes[zhw+i*zg.W:][:zg.W]
						vecmath.Deinterleave2(f32s(r0[jl:jh]), f32s(r1[jl:jh]), f32s(src[2*jl-g.PadL:]))
					}
				}
				for b := range g.SW {
					row := planes[b*zhw+i*zg.W:][:zg.W]
					l, h := lo[b], hi[b]
					clear(row[:l])
					clear(row[h:])
					if jl >= jh {
						phaseColumns(row, src, l, h, g.SW, b-g.PadL)
						continue
					}
					phaseColumns(row, src, l, jl, g.SW, b-g.PadL)
					phaseColumns(row, src, jh, h, g.SW, b-g.PadL)
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
