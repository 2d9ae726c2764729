package im2col

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
	return (g.SH > 1 || g.SW > 1) && g.DH == 1 && g.DW == 1 &&
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
	for c := range g.C {
		img := x[c*hw : (c+1)*hw]
		for a := range g.SH {
			for b := range g.SW {
				plane := z[((c*g.SH+a)*g.SW+b)*zhw:][:zhw]
				// Columns j with 0 ≤ j·SW + b − PadL < W.
				lo, hi := validRange(zg.W, g.SW, b-g.PadL, g.W)
				for i := range zg.H {
					row := plane[i*zg.W : (i+1)*zg.W]
					ih := i*g.SH + a - g.PadT
					if ih < 0 || ih >= g.H || lo == hi {
						clear(row)
						continue
					}
					clear(row[:lo])
					clear(row[hi:])
					gather(row[lo:hi], img[ih*g.W+lo*g.SW+b-g.PadL:], g.SW)
				}
			}
		}
	}
}
