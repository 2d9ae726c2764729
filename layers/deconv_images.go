package layers

import (
	"github.com/fcn-dev/fcn/internal/par"
	"github.com/fcn-dev/fcn/layers/internal/gemm"
	"github.com/fcn-dev/fcn/layers/internal/im2col"
)

// Image-parallel deconvolution (see images.go): the sub-pixel forward one task per
// image, the backward one task per slot of images. On the 2-core benchmark machine W3
// (k4 s2, 64 channels, 8 images of 32×32) went from 26–30 ms forward+backward blocked to
// 21–25 ms, and from 52–60 to 66–81 GFLOP per CPU-second.

// phaseImageJob is the sub-pixel forward, one task per image.
type phaseImageJob[T Float] struct {
	l          *Deconv
	x, y       []T
	wsub, bias []T
	colN, zN   int // per-task buffer: the largest phase's column matrix, then every phase's output
	pool       bufPool[T]
	src        []im2col.Source[T] // per image and group (fp32, fp64: no column matrix)
	pa         []gemm.PackedA[T]  // with src: per phase and group, the weight packed once
}

func deconvForwardImages[T Float](l *Deconv, x, y []T, s *deconvState[T]) {
	j := &s.img
	j.l, j.x, j.y, j.colN, j.zN = l, x, y, l.phaseCol, l.phaseZ
	if l.phaseSource {
		mustNotBF16(l.sp.prefix, l.bf16)
		j.colN = 0 // the phases' products pack straight from x
	}
	j.wsub, j.bias = deconvPhaseWeights(l, s.wsub), paramValue[T](l.bias)
	zoff := 0
	for i := range l.phases {
		ph := &l.phases[i]
		ph.ld, ph.zoff = ph.geom.Cols(), zoff
		zoff += l.sp.out * ph.ld
	}
	if len(j.src) < l.n*l.sp.groups {
		j.src = make([]im2col.Source[T], l.n*l.sp.groups)
	}
	if l.phaseSource {
		// Each phase's weight matrices, packed once for every image's products.
		G := l.sp.groups
		Og, Cg := l.sp.out/G, l.inShape[1]/G
		if n := len(l.phases) * G; len(j.pa) < n {
			j.pa = make([]gemm.PackedA[T], n)
		}
		for i, ph := range l.phases {
			Kp := Cg * ph.geom.KH * ph.geom.KW
			for gi := range G {
				j.pa[i*G+gi].Pack(false, Og, Kp, j.wsub[ph.woff+gi*Og*Kp:], Kp)
			}
		}
	}
	par.Run(l.n, j)
	j.x, j.y, j.wsub, j.bias = nil, nil, nil, nil
}

func (j *phaseImageJob[T]) Do(n int) {
	l := j.l
	G := l.sp.groups
	Og := l.sp.out / G
	cin := l.inShape[1]
	Cg := cin / G
	inSz := cin * l.inShape[2] * l.inShape[3]
	buf := j.pool.get(j.colN + j.zN)
	col, z := buf[:j.colN], buf[j.colN:]
	for i := range l.phases {
		ph := &l.phases[i]
		th, tw := ph.geom.KH, ph.geom.KW
		if th == 0 || tw == 0 {
			continue // bias only
		}
		Kp := Cg * th * tw
		P := ph.geom.Cols()
		if l.phaseSource {
			// The phase's column matrix packed straight from x (im2col.Source): the
			// same products, no column buffer pass.
			gg := ph.geom
			gg.C = Cg
			plane := gg.H * gg.W
			for gi := range G {
				src := &j.src[n*G+gi]
				src.G, src.X = gg, j.x[n*inSz+gi*Cg*plane:][:Cg*plane]
				gemm.GemmSourcePacked(true, &j.pa[i*G+gi], P, 1, src, 0, z[ph.zoff+gi*Og*P:], P)
				src.X = nil
			}
			continue
		}
		im2col.Im2ColPart(ph.geom, j.x[n*inSz:], col, P, 0, cin, 0, ph.geom.OH)
		for gi := range G {
			mmSerial(l.bf16, false, false, Og, P, Kp,
				1, j.wsub[ph.woff+gi*Og*Kp:], Kp,
				col[gi*Kp*P:], P,
				0, z[ph.zoff+gi*Og*P:], P)
		}
	}
	il := phaseInterleave[T]{l: l, z: z, y: j.y, bias: j.bias, n0: n, cnt: 1}
	for o := range l.sp.out {
		il.Do(o)
	}
	j.pool.put(buf)
}

// backImageJob is the backward, one task per slot: slot s takes images s, s+S, … in
// order and accumulates their weight gradient into its own partial sum.
type backImageJob[T Float] struct {
	l            *Deconv
	x, dy, dx, w []T
	rows         int // window rows per column block
	partials     slotPartials[T]
	pool         bufPool[T]
	// The implicit backward (pathImplicit): dY's column matrix and its transpose
	// packed straight from dY, per slot and group.
	implicit bool
	src      []im2col.Source[T]
	tsrc     []im2col.TransposedSource[T]
	wperm    []T               // with space to depth: W_g's columns permuted as dY's column matrix rows
	pa       []gemm.PackedA[T] // the input gradient's weight per group, packed once
}

// deconvBackImages adds the input gradient (dx != nil) and the weight gradient
// (dw != nil).
func deconvBackImages[T Float](l *Deconv, x, dy, dx, dw []T, j *backImageJob[T]) {
	j.l, j.x, j.dy, j.dx, j.w, j.rows = l, x, dy, dx, floatsOf[T](l.weight.Value), l.backRows
	slots := imageSlotsOf(l.n)
	j.implicit = l.bwdPath == pathImplicit
	if j.implicit {
		mustNotBF16(l.sp.prefix, l.bf16)
		if n := slots * l.sp.groups; len(j.src) < n {
			j.src, j.tsrc = make([]im2col.Source[T], n), make([]im2col.TransposedSource[T], n)
		}
	}
	if j.implicit && l.s2d && dx != nil {
		// W_g·im2col(dY)_g = Wp_g·im2col(Z)_g, with Wp_g[m, r] = W_g[m, s2dRow[r]].
		j.wperm = growSlice(j.wperm, len(j.w))
		k := len(l.s2dRow)
		for q := 0; q < len(j.w); q += k {
			src, dst := j.w[q:q+k], j.wperm[q:q+k]
			for r, rx := range l.s2dRow {
				dst[r] = src[rx]
			}
		}
	}
	if j.implicit && dx != nil {
		// The input gradient's A, W_g (or its permutation), the same for every image:
		// packed once.
		K, M, _ := l.dims()
		w := j.w
		if l.s2d {
			w = j.wperm
		}
		if len(j.pa) < l.sp.groups {
			j.pa = make([]gemm.PackedA[T], l.sp.groups)
		}
		for gi := range l.sp.groups {
			j.pa[gi].Pack(false, M, K, w[gi*M*K:], K)
		}
	}
	j.partials.reset(slots, len(dw))
	par.Run(slots, j)
	switch {
	case dw != nil && j.implicit && l.s2d:
		j.partials.sumIntoPermuted(dw, l.s2dRow) // the slots summed x_g·im2col(Z)_gᵀ
	case dw != nil:
		j.partials.sumInto(dw, true)
	}
	j.x, j.dy, j.dx, j.w = nil, nil, nil, nil
}

func (j *backImageJob[T]) Do(s int) {
	l := j.l
	g := l.geom
	G := l.sp.groups
	K, M, P := l.dims()
	inSz, outSz := M*G*P, g.C*g.H*g.W
	part := j.partials.slotUnzeroed(s)
	if j.implicit {
		// Per image of the slot: dW_s += x_g·im2col(dY)_gᵀ and dX_g += W_g·im2col(dY)_g,
		// both with dY's column matrix packed straight from dY.
		gg := g
		gg.C = g.C / G
		plane := g.H * g.W
		var z []T
		if l.s2d {
			// Z, dY's space-to-depth form: the same products with the rows of the
			// column matrix permuted (the weight's columns alike, packed in j.pa, and
			// the weight gradient's by sumIntoPermuted).
			z = j.pool.get(l.s2dGeom.C * l.s2dGeom.H * l.s2dGeom.W)
		}
		for img := s; img < l.n; img += imageSlotsOf(l.n) {
			for gi := range G {
				dyg := j.dy[img*outSz+gi*gg.C*plane:][:gg.C*plane]
				sg, sx := gg, dyg
				if z != nil {
					im2col.SpaceToDepthImage(gg, dyg, z)
					sg, sx = l.s2dGeom, z
				}
				if part != nil {
					// The slot's first image writes its sum (beta 0), the others add.
					beta := T(1)
					if img == s {
						beta = 0
					}
					ts := &j.tsrc[s*G+gi]
					ts.G, ts.X = sg, sx
					gemm.GemmSource(true, false, M, K, P, 1, j.x[img*inSz+gi*M*P:], P, ts, beta, part[gi*M*K:], K)
					ts.X = nil
				}
				if j.dx != nil {
					src := &j.src[s*G+gi]
					src.G, src.X = sg, sx
					gemm.GemmSourcePacked(true, &j.pa[gi], P, 1, src, 1, j.dx[img*inSz+gi*M*P:], P)
					src.X = nil
				}
			}
		}
		if z != nil {
			j.pool.put(z)
		}
		return
	}
	clear(part) // the blocks below add onto it
	col := j.pool.get(j.rows * g.OW * g.Rows())
	eachColumnBlock(g, j.dy, outSz, s, imageSlotsOf(l.n), l.n, j.rows, col, func(img, r0, cols int) {
		for gi := range G {
			if part != nil {
				mmSerial(l.bf16, false, true, M, K, cols,
					1, j.x[img*inSz+gi*M*P+r0*g.OW:], P,
					col[gi*K*cols:], cols,
					1, part[gi*M*K:], K)
			}
			if j.dx != nil {
				mmSerial(l.bf16, false, false, M, cols, K,
					1, j.w[gi*M*K:], K,
					col[gi*K*cols:], cols,
					1, j.dx[img*inSz+gi*M*P+r0*g.OW:], P)
			}
		}
	})
	j.pool.put(col)
}
