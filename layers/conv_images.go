package layers

import (
	"github.com/fcn-dev/fcn/internal/par"
)

// Image-parallel convolution (see images.go): the forward one task per image; the
// flipped backward, or the weight gradient alone (no input gradient wanted, or stride
// ≠ 1), one task per slot of images.

// imagesFit reports whether the per-image paths suit the layer: several images,
// windows that need im2col, products of at most 64 rows (input and output channels
// per group: with more, each column is used often enough that the blocked path's
// packing and memory traffic are paid back; fcn16s-tiny's conv3_x, 128 channels,
// measured no faster per image) and per-slot weight-gradient sums of moderate size.
func (l *Conv) imagesFit() bool {
	G := l.sp.groups
	return l.n >= 2 && !l.pointwise && l.sp.out/G <= 64 && l.geom.C/G <= 64 &&
		l.weight.Value.Shape().TotalSize()*imageSlots <= imageMaxBuf
}

// convImageKind is what a convImageJob's tasks do.
type convImageKind int

const (
	convImageForward    convImageKind = iota // y = W·im2col(x) (+ bias), per image
	convImageFlipped                         // dX, dW' from im2col'(dY), per slot (convBackwardFlipped)
	convImageWeightOnly                      // dW from im2col(x), per slot (convBackward's blocked loop)
)

// convImageJob runs the image-parallel tasks of one conv call.
type convImageJob[T Float] struct {
	l            *Conv
	kind         convImageKind
	x, y, dy, dx []T
	w, b, wt     []T
	dxBeta       T
	partials     slotPartials[T]
	pool         bufPool[T]
}

func convForwardImages[T Float](l *Conv, x, y []T, j *convImageJob[T]) {
	j.l, j.kind, j.x, j.y = l, convImageForward, x, y
	j.w, j.b = floatsOf[T](l.weight.Value), paramValue[T](l.bias)
	par.Run(l.n, j)
	j.x, j.y, j.w, j.b = nil, nil, nil, nil
}

// convBackImages writes (dX: dxBeta 0) or adds (1) the input gradient, if dx != nil, and
// writes the weight gradient in the flipped layout of convBackwardFlipped into dwt, if
// dwt != nil, of a stride-1 convolution.
func convBackImages[T Float](l *Conv, x, dy, dx, dwt, wt []T, dxBeta T, j *convImageJob[T]) {
	j.l, j.kind, j.x, j.dy, j.dx, j.wt, j.dxBeta = l, convImageFlipped, x, dy, dx, wt, dxBeta
	j.runSlots(len(dwt))
	if dwt != nil {
		j.partials.sumInto(dwt, false)
	}
	j.x, j.dy, j.dx, j.wt = nil, nil, nil, nil
}

// convWeightGradImages adds dW_g += dY_g·im2col(x)_gᵀ into dw.
func convWeightGradImages[T Float](l *Conv, x, dy, dw []T, j *convImageJob[T]) {
	j.l, j.kind, j.x, j.dy = l, convImageWeightOnly, x, dy
	j.runSlots(len(dw))
	j.partials.sumInto(dw, true)
	j.x, j.dy = nil, nil
}

func (j *convImageJob[T]) runSlots(wsize int) {
	slots := imageSlotsOf(j.l.n)
	j.partials.reset(slots, wsize)
	par.Run(slots, j)
}

func (j *convImageJob[T]) Do(i int) {
	l := j.l
	g, gt, G := l.geom, l.geomT, l.sp.groups
	K, M, P := g.Rows()/G, l.sp.out/G, g.Cols() // forward: reduction, output channels, pixels per group
	C, KT := g.C/G, M*g.KH*g.KW                 // flipped: input channels, reduction per group
	inSz, outSz := g.C*g.H*g.W, l.sp.out*P
	switch j.kind {
	case convImageForward:
		col := j.pool.get(g.Rows() * imageRows(g.Rows(), g.OW, g.OH) * g.OW)
		eachColumnBlock(g, j.x, inSz, i, 1, i+1, imageRows(g.Rows(), g.OW, g.OH), col, func(img, r0, cols int) {
			ym := j.y[img*outSz+r0*g.OW:]
			for gi := range G {
				mmSerial(l.bf16, false, false, M, cols, K,
					1, j.w[gi*M*K:], K,
					col[gi*K*cols:], cols,
					0, ym[gi*M*P:], P)
			}
			if j.b != nil {
				addBias(ym, l.sp.out, cols, P, j.b) // while the block is in cache
			}
		})
		j.pool.put(col)
	case convImageFlipped:
		// col' = im2col'(dY) by blocks of input rows; dwt_s += x_g·col'_gᵀ, dX_g (+)= W'_g·col'_g.
		part := j.partials.slot(i)
		rows := imageRows(gt.Rows(), gt.OW, gt.OH)
		col := j.pool.get(gt.Rows() * rows * gt.OW)
		eachColumnBlock(gt, j.dy, outSz, i, imageSlotsOf(l.n), l.n, rows, col, func(img, r0, cols int) {
			for gi := range G {
				if part != nil {
					mmSerial(l.bf16, false, true, C, KT, cols,
						1, j.x[img*inSz+gi*C*g.H*g.W+r0*gt.OW:], g.H*g.W,
						col[gi*KT*cols:], cols,
						1, part[gi*C*KT:], KT)
				}
				if j.dx != nil {
					mmSerial(l.bf16, false, false, C, cols, KT,
						1, j.wt[gi*C*KT:], KT,
						col[gi*KT*cols:], cols,
						j.dxBeta, j.dx[img*inSz+gi*C*g.H*g.W+r0*gt.OW:], g.H*g.W)
				}
			}
		})
		j.pool.put(col)
	case convImageWeightOnly:
		// col = im2col(x) by blocks of output rows; part_s += dY_g·col_gᵀ.
		part := j.partials.slot(i)
		rows := imageRows(g.Rows(), g.OW, g.OH)
		col := j.pool.get(g.Rows() * rows * g.OW)
		eachColumnBlock(g, j.x, inSz, i, imageSlotsOf(l.n), l.n, rows, col, func(img, r0, cols int) {
			for gi := range G {
				mmSerial(l.bf16, false, true, M, K, cols,
					1, j.dy[img*outSz+gi*M*P+r0*g.OW:], P,
					col[gi*K*cols:], cols,
					1, part[gi*M*K:], K)
			}
		})
		j.pool.put(col)
	}
}
