package layers

import (
	"runtime"

	"github.com/fcn-dev/fcn/layers/internal/gemm"
	"github.com/fcn-dev/fcn/layers/internal/im2col"
)

// Image-parallel convolution, as for deconvolution (deconv_images.go): one task per
// image (forward) or per slot of images (backward), each on one goroutine with a column
// block of about 1 MiB that stays in the core's L2 from im2col to the GEMM, instead of
// multi-MiB blocks whose every step is split among the threads. It pays for the small
// products of an FCN's early stages (32–64 output channels over large maps), which the
// blocked path leaves bound by memory traffic. The forward is bit-identical to the
// blocked path; the weight gradient sums deconvImageSlots partials in slot order.

// convImageCols is the target size of a task's column block (elements).
const convImageCols = 1 << 18

// imageRows is the number of window rows per column block of krows rows and ow
// columns per window row.
func imageRows(krows, ow, oh int) int {
	return max(1, min(oh, convImageCols/(krows*ow)))
}

// imagesFit reports whether the per-image paths suit the layer: several images,
// windows that need im2col, products of at most 64 rows (input and output channels
// per group: with more, each column is used often enough that the blocked path's
// packing and memory traffic are paid back; fcn16s-tiny's conv3_1, 64→128, measured
// slower per image) and per-slot weight-gradient sums of moderate size.
func (l *Conv) imagesFit() bool {
	G := l.sp.groups
	return l.n >= 2 && !l.pointwise && l.sp.out/G <= 64 && l.geom.C/G <= 64 &&
		l.weight.Value.Shape().TotalSize()*deconvImageSlots <= deconvImageMaxBuf
}

// convImageJob runs the per-image forward (one task per image) or the flipped
// backward (one task per slot).
type convImageJob[T Float] struct {
	l                 *Conv
	x, y, dy, dx      []T
	w, b, wt, partial []T
	dxBeta            T
	back              bool
	weightOnly        bool // back: the weight gradient alone, from im2col(x) (no flipped path)
	slots             int
	pool              bufPool[T]
	partialStorage    []T
}

func convForwardImages[T Float](l *Conv, x, y []T, j *convImageJob[T]) {
	j.l, j.x, j.y, j.back = l, x, y, false
	j.w, j.b = convData[T](l.weight.Value), nil
	if l.bias != nil {
		j.b = convData[T](l.bias.Value)
	}
	parRun(l.n, j)
	j.x, j.y, j.w, j.b = nil, nil, nil, nil
}

// convBackImages adds the input gradient (dx != nil) and the weight gradient, in the
// flipped layout wt/dwt of convBackwardFlipped, of a stride-1 convolution.
func convBackImages[T Float](l *Conv, x, dy, dx, dwt, wt []T, dxBeta T, j *convImageJob[T]) {
	j.l, j.x, j.dy, j.dx, j.wt, j.dxBeta, j.back, j.weightOnly = l, x, dy, dx, wt, dxBeta, true, false
	j.sumSlots(dwt)
}

// convWeightGradImages adds the weight gradient dW_g += dY_g·im2col(x)_gᵀ alone (the
// input needs no gradient, or the stride is not 1), slot by slot.
func convWeightGradImages[T Float](l *Conv, x, dy, dw []T, j *convImageJob[T]) {
	j.l, j.x, j.dy, j.dx, j.back, j.weightOnly = l, x, dy, nil, true, true
	j.sumSlotsAdd(dw)
}

// sumSlots runs the backward slots and writes the sum of their weight-gradient
// partials into dst (nil: no weight gradient), in slot order.
func (j *convImageJob[T]) sumSlots(dst []T) {
	j.run(len(dst), dst != nil)
	if dst != nil {
		copy(dst, j.partial[:len(dst)])
		for s := 1; s < j.slots; s++ {
			for i, v := range j.partial[s*len(dst) : (s+1)*len(dst)] {
				dst[i] += v
			}
		}
	}
	j.x, j.dy, j.dx, j.wt = nil, nil, nil, nil
}

// sumSlotsAdd is sumSlots adding the sum into dst.
func (j *convImageJob[T]) sumSlotsAdd(dst []T) {
	j.run(len(dst), true)
	for s := range j.slots {
		for i, v := range j.partial[s*len(dst) : (s+1)*len(dst)] {
			dst[i] += v
		}
	}
	j.x, j.dy, j.dx, j.wt = nil, nil, nil, nil
}

func (j *convImageJob[T]) run(wsize int, weights bool) {
	l := j.l
	j.slots = min(l.n, deconvImageSlots)
	j.partial = nil
	if weights {
		if cap(j.partialStorage) < j.slots*wsize {
			j.partialStorage = make([]T, j.slots*wsize)
		}
		j.partial = j.partialStorage[:j.slots*wsize]
	}
	parRun(j.slots, j)
}

func (j *convImageJob[T]) do(i int) {
	switch {
	case j.back && j.weightOnly:
		j.weightSlot(i)
		return
	case j.back:
		j.backSlot(i)
		return
	}
	l := j.l
	g, G := l.geom, l.sp.groups
	K, M, P := g.Rows()/G, l.sp.out/G, g.Cols()
	inSz, outSz := g.C*g.H*g.W, l.sp.out*P
	rows := imageRows(g.Rows(), g.OW, g.OH)
	col := j.pool.get(g.Rows() * rows * g.OW)
	beta := T(0)
	if j.b != nil {
		beta = 1
	}
	for r0 := 0; r0 < g.OH; r0 += rows {
		r1 := min(r0+rows, g.OH)
		cols := (r1 - r0) * g.OW
		ym := j.y[i*outSz+r0*g.OW:]
		if j.b != nil {
			fillRows(ym, l.sp.out, cols, P, j.b)
		}
		im2col.Im2ColPart(g, j.x[i*inSz:], col, cols, 0, g.C, r0, r1)
		for gi := range G {
			gemm.GemmSerial(false, false, M, cols, K,
				1, j.w[gi*M*K:], K,
				col[gi*K*cols:], cols,
				beta, ym[gi*M*P:], P)
		}
	}
	j.pool.put(col)
}

// backSlot is convBackwardFlipped's work for images s, s+slots, …: col' = im2col'(dY)
// by blocks of input rows, dwt_s += x_g·col'_gᵀ, dX_g (+)= W'_g·col'_g.
func (j *convImageJob[T]) backSlot(s int) {
	l := j.l
	g, gt, G := l.geom, l.geomT, l.sp.groups
	M := l.sp.out / G
	C := g.C / G
	KT := M * g.KH * g.KW
	inSz, outSz, P := g.C*g.H*g.W, gt.C*gt.H*gt.W, g.H*g.W
	var part []T
	if j.partial != nil {
		n := len(j.partial) / j.slots
		part = j.partial[s*n : (s+1)*n]
		clear(part)
	}
	rows := imageRows(gt.Rows(), gt.OW, gt.OH)
	col := j.pool.get(gt.Rows() * rows * gt.OW)
	for n := s; n < l.n; n += j.slots {
		for r0 := 0; r0 < gt.OH; r0 += rows {
			r1 := min(r0+rows, gt.OH)
			cols := (r1 - r0) * gt.OW
			im2col.Im2ColPart(gt, j.dy[n*outSz:], col, cols, 0, gt.C, r0, r1)
			for gi := range G {
				if part != nil {
					gemm.GemmSerial(false, true, C, KT, cols,
						1, j.x[n*inSz+gi*C*P+r0*gt.OW:], P,
						col[gi*KT*cols:], cols,
						1, part[gi*C*KT:], KT)
				}
				if j.dx != nil {
					gemm.GemmSerial(false, false, C, cols, KT,
						1, j.wt[gi*C*KT:], KT,
						col[gi*KT*cols:], cols,
						j.dxBeta, j.dx[n*inSz+gi*C*P+r0*gt.OW:], P)
				}
			}
		}
	}
	j.pool.put(col)
}

// weightSlot is the blocked weight-gradient loop of convBackward for images s,
// s+slots, …: col = im2col(x) by blocks of output rows, part_s += dY_g·col_gᵀ.
func (j *convImageJob[T]) weightSlot(s int) {
	l := j.l
	g, G := l.geom, l.sp.groups
	K, M, P := g.Rows()/G, l.sp.out/G, g.Cols()
	inSz, outSz := g.C*g.H*g.W, l.sp.out*P
	n := len(j.partial) / j.slots
	part := j.partial[s*n : (s+1)*n]
	clear(part)
	rows := imageRows(g.Rows(), g.OW, g.OH)
	col := j.pool.get(g.Rows() * rows * g.OW)
	for img := s; img < l.n; img += j.slots {
		for r0 := 0; r0 < g.OH; r0 += rows {
			r1 := min(r0+rows, g.OH)
			cols := (r1 - r0) * g.OW
			im2col.Im2ColPart(g, j.x[img*inSz:], col, cols, 0, g.C, r0, r1)
			for gi := range G {
				gemm.GemmSerial(false, true, M, K, cols,
					1, j.dy[img*outSz+gi*M*P+r0*g.OW:], P,
					col[gi*K*cols:], cols,
					1, part[gi*M*K:], K)
			}
		}
	}
	j.pool.put(col)
}

// setupImages sizes the per-task buffers for the shapes of the last Setup: the largest
// column block any of the image-parallel tasks uses.
func (l *Conv) setupImages() {
	g := l.geom
	n := g.Rows() * imageRows(g.Rows(), g.OW, g.OH) * g.OW
	if l.flipped {
		gt := l.geomT
		n = max(n, gt.Rows()*imageRows(gt.Rows(), gt.OW, gt.OH)*gt.OW)
	}
	l.img32.pool.setSize(n)
	l.img64.pool.setSize(n)
	gemm.Reserve(2 * runtime.GOMAXPROCS(0)) // the tasks' GemmSerial calls, and a parallel Gemm
}
