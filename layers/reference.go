package layers

// Reference convolutions: the definitions written out as plain loops over float64
// slices, with none of the blocking, lowering or threading of Conv and Deconv, to check
// every compute path of those against (and for anything else that needs the plain
// result).

// ConvGeometry is one convolution or transposed convolution, NCHW: N images of
// InC×InH×InW map to OutC×OutH×OutW. Pad is the zero padding of a convolution, or the
// top/left crop of a transposed one (whose output size already holds any
// output_padding or Same adjustment).
type ConvGeometry struct {
	N                             int
	InC, InH, InW                 int
	OutC, OutH, OutW              int
	Kernel, Stride, Pad, Dilation [2]int
	Groups                        int
}

// Geometry is the layer's geometry at the shapes of the last Setup.
func (l *Conv) Geometry() ConvGeometry {
	return ConvGeometry{N: l.n, InC: l.inShape[1], InH: l.inShape[2], InW: l.inShape[3],
		OutC: l.sp.out, OutH: l.outShape[2], OutW: l.outShape[3],
		Kernel: l.sp.k, Stride: l.sp.s, Pad: l.sp.p, Dilation: l.sp.d, Groups: l.sp.groups}
}

// Geometry is the layer's geometry at the shapes of the last Setup.
func (l *Deconv) Geometry() ConvGeometry {
	return ConvGeometry{N: l.n, InC: l.inShape[1], InH: l.inShape[2], InW: l.inShape[3],
		OutC: l.sp.out, OutH: l.outShape[2], OutW: l.outShape[3],
		Kernel: l.sp.k, Stride: l.sp.s, Pad: l.pad, Dilation: l.sp.d, Groups: l.sp.groups}
}

// ReferenceConv returns y, and the gradients dx, dw, db of L = Σ y·dy, of the
// convolution with weight w (OutC, InC/Groups, kh, kw) and bias b (nil for none):
//
//	y[n,o,i,j] = b[o] + Σ_{c,u,v} w[o,c,u,v] · x[n, g·InC/G + c, i·s−p+u·d, j·s−p+v·d]
//
// for output channel o of group g.
func ReferenceConv(g ConvGeometry, x, w, b, dy []float64) (y, dx, dw, db []float64) {
	cg, og := g.InC/g.Groups, g.OutC/g.Groups
	y, dx, dw, db = g.referenceOutputs(x, w)
	for n := range g.N {
		for o := range g.OutC {
			gi := o / og
			for i := range g.OutH {
				for j := range g.OutW {
					yi := ((n*g.OutC+o)*g.OutH+i)*g.OutW + j
					s := 0.0
					if b != nil {
						s = b[o]
					}
					db[o] += dy[yi]
					for c := range cg {
						for u := range g.Kernel[0] {
							for v := range g.Kernel[1] {
								r, q := i*g.Stride[0]-g.Pad[0]+u*g.Dilation[0], j*g.Stride[1]-g.Pad[1]+v*g.Dilation[1]
								if r < 0 || r >= g.InH || q < 0 || q >= g.InW {
									continue
								}
								xi := ((n*g.InC+gi*cg+c)*g.InH+r)*g.InW + q
								wi := ((o*cg+c)*g.Kernel[0]+u)*g.Kernel[1] + v
								s += w[wi] * x[xi]
								dx[xi] += w[wi] * dy[yi]
								dw[wi] += x[xi] * dy[yi]
							}
						}
					}
					y[yi] = s
				}
			}
		}
	}
	return y, dx, dw, db
}

// ReferenceDeconv is ReferenceConv for the transposed convolution with weight w
// (InC, OutC/Groups, kh, kw): input pixel (i, j) of channel c of group g scatters
// w[c, o', u, v]·x into output pixel (i·s−p+u·d, j·s−p+v·d) of channel g·OutC/G + o',
// where it lies inside the output.
func ReferenceDeconv(g ConvGeometry, x, w, b, dy []float64) (y, dx, dw, db []float64) {
	cg, og := g.InC/g.Groups, g.OutC/g.Groups
	y, dx, dw, db = g.referenceOutputs(x, w)
	for n := range g.N {
		for o := range g.OutC {
			for i := range g.OutH * g.OutW {
				yi := (n*g.OutC+o)*g.OutH*g.OutW + i
				if b != nil {
					y[yi] = b[o]
				}
				db[o] += dy[yi]
			}
		}
		for c := range g.InC {
			gi := c / cg
			for i := range g.InH {
				for j := range g.InW {
					xi := ((n*g.InC+c)*g.InH+i)*g.InW + j
					for o2 := range og {
						o := gi*og + o2
						for u := range g.Kernel[0] {
							for v := range g.Kernel[1] {
								r, q := i*g.Stride[0]-g.Pad[0]+u*g.Dilation[0], j*g.Stride[1]-g.Pad[1]+v*g.Dilation[1]
								if r < 0 || r >= g.OutH || q < 0 || q >= g.OutW {
									continue
								}
								yi := ((n*g.OutC+o)*g.OutH+r)*g.OutW + q
								wi := ((c*og+o2)*g.Kernel[0]+u)*g.Kernel[1] + v
								y[yi] += w[wi] * x[xi]
								dx[xi] += w[wi] * dy[yi]
								dw[wi] += x[xi] * dy[yi]
							}
						}
					}
				}
			}
		}
	}
	return y, dx, dw, db
}

// referenceOutputs allocates the results of a reference, zeroed.
func (g ConvGeometry) referenceOutputs(x, w []float64) (y, dx, dw, db []float64) {
	return make([]float64, g.N*g.OutC*g.OutH*g.OutW), make([]float64, len(x)), make([]float64, len(w)), make([]float64, g.OutC)
}
