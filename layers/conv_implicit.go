package layers

import (
	"github.com/fcn-dev/fcn/internal/par"
	"github.com/fcn-dev/fcn/layers/internal/gemm"
	"github.com/fcn-dev/fcn/layers/internal/im2col"
)

// The implicit forward (pathImplicit): y_g = W_g·im2col(x)_g (+ bias) with no column
// matrix at all. The GEMM packs its B slivers straight from the image
// (im2col.Source), so the column matrix is neither written by im2col nor read back by
// the packing, and the layer holds no column buffer. With several images, one task
// per image, each product on its own goroutine (gemm.GemmSource serial); a single
// image's products are split among the threads. The products are the other forward
// paths' element for element (only the packing differs), so outputs are bit-identical.

// implicitFits reports whether the implicit forward suits the shapes: any window
// (the packing gathers runs of image rows, or single elements by AVX-512 gathers where
// the window positions do not fall in runs), in fp32 or fp64 (bf16 products convert B
// while packing it from a matrix, gemm.GemmBF16, which a source does not offer), with
// the AVX-512 kernel's 32-column slivers (elsewhere the packing would go element by
// element, slower than im2col's row copies).
func (l *Conv) implicitFits() bool {
	return !l.pointwise && sourcePacks(l.bf16, l.geom.KH*l.geom.KW)
}

// sourcePacks reports whether products of a kernel of taps taps are better packed
// straight from the image (im2col.Source) than through im2col: fp32 or fp64 products,
// the AVX-512 kernel's 32-column slivers, and tap tables that fit the gathers'.
func sourcePacks(bf16 bool, taps int) bool {
	return !bf16 && gemm.SourceSliverWidth() == 32 && taps <= 64
}

// mustNotBF16 panics when bf16 was set after Setup chose an implicit path, whose
// products are fp32: SetPrecision comes before Setup (PrecisionSetter), and bf16 never
// falls back silently.
func mustNotBF16(prefix string, bf16 bool) {
	if bf16 {
		panic(prefix + ": SetPrecision(bf16) after Setup chose an fp32 implicit path: call Setup again")
	}
}

// convImplicitJob runs the implicit forward of one batch.
type convImplicitJob[T Float] struct {
	l          *Conv
	x, y, w, b []T
	src        []im2col.Source[T] // one per image and group, reused: no allocation per call
	tsrc       []im2col.TransposedSource[T]
	serial     bool
	mode       implicitMode
	// The backward: dX (+)= W'·im2col'(dY) and dY for the weight gradient's slots; gt is
	// one group's geometry for the task at hand (the flipped one for the input gradient).
	dx, dy   []T
	dxBeta   T
	gt       im2col.Geom
	partials slotPartials[T]   // the weight gradient's per-slot sums (implicitWeightSlots)
	pa       []gemm.PackedA[T] // the weight per group, packed once for all images
}

// implicitMode is what a convImplicitJob's tasks do.
type implicitMode int

const (
	implicitForward     implicitMode = iota // y = W·im2col(x) (+ bias), per image
	implicitInputGrad                       // dX (+)= W'·im2col'(dY), per image
	implicitWeightSlots                     // part_s += dY·im2col(x)ᵀ over slot s's images
)

func convForwardImplicit[T Float](l *Conv, x, y []T, j *convImplicitJob[T]) {
	mustNotBF16(l.sp.prefix, l.bf16)
	j.x, j.y, j.b = x, y, paramValue[T](l.bias)
	j.runImages(l, floatsOf[T](l.weight.Value))
	j.x, j.y, j.b = nil, nil, nil
}

// runImages runs Do for every image: in parallel, each product on one goroutine, with
// several images; a single image's products split among the threads.
func (j *convImplicitJob[T]) runImages(l *Conv, w []T) {
	G := l.sp.groups
	if len(j.src) < l.n*G {
		j.src = make([]im2col.Source[T], l.n*G)
	}
	j.l, j.w = l, w
	j.serial = l.n >= 2
	// Every image's product has the same A, the weight (flipped for the input
	// gradient): packed once here, not once per image.
	rows, k := l.sp.out/G, l.geom.Rows()/G
	if j.mode == implicitInputGrad {
		rows, k = l.geom.C/G, j.gt.Rows()
	}
	if len(j.pa) < G {
		j.pa = make([]gemm.PackedA[T], G)
	}
	for gi := range G {
		j.pa[gi].Pack(false, rows, k, w[gi*rows*k:], k)
	}
	if j.serial {
		par.Run(l.n, j)
	} else {
		for i := range l.n {
			j.Do(i)
		}
	}
	for i := range j.src {
		j.src[i].X = nil // keep no reference to the batch
	}
	j.l, j.w = nil, nil
}

// Do computes image i's output or input gradient, or slot i's weight-gradient sum.
func (j *convImplicitJob[T]) Do(i int) {
	l := j.l
	g, G := l.geom, l.sp.groups
	switch j.mode {
	case implicitWeightSlots:
		K, M, P := g.Rows()/G, l.sp.out/G, g.Cols()
		C, plane := g.C/G, g.H*g.W
		// The slot's first image writes its sum (beta 0), the others add to it.
		part, slots := j.partials.slotUnzeroed(i), j.partials.slots
		for img := i; img < l.n; img += slots {
			beta := T(1)
			if img == i {
				beta = 0
			}
			for gi := range G {
				src := &j.tsrc[i*G+gi]
				src.G, src.X = j.gt, j.x[img*g.C*plane+gi*C*plane:][:C*plane]
				gemm.GemmSource(true, false, M, K, P, 1, j.dy[img*l.sp.out*P+gi*M*P:], P, src, beta, part[gi*M*K:], K)
			}
		}
		for gi := range G {
			j.tsrc[i*G+gi].X = nil
		}
		return
	case implicitInputGrad:
		// dX_g (+)= W'_g·im2col'(dY_g): C rows, the input's pixels, M·kh·kw reduction
		// (W'_g packed in j.pa).
		C, plane := g.C/G, g.H*g.W
		outSz := l.sp.out * g.Cols()
		for gi := range G {
			src := &j.src[i*G+gi]
			src.G, src.X, src.ReLU, src.Bias = j.gt, j.dy[i*outSz+gi*j.gt.C*g.Cols():][:j.gt.C*g.Cols()], false, nil
			gemm.GemmSourcePacked(j.serial, &j.pa[gi], plane, 1, src, j.dxBeta, j.dx[i*g.C*plane+gi*C*plane:], plane)
		}
		return
	}
	// y_g = W_g·im2col(x)_g (W_g packed in j.pa).
	M, P := l.sp.out/G, g.Cols()
	C := g.C / G
	inSz, outSz := g.C*g.H*g.W, l.sp.out*P
	ym := j.y[i*outSz : (i+1)*outSz]
	gg := g
	gg.C = C
	for gi := range G {
		src := &j.src[i*G+gi]
		src.G, src.X = gg, j.x[i*inSz+gi*C*g.H*g.W:][:C*g.H*g.W]
		// The bias and the fused ReLU, applied by the product block by block, while
		// each is in cache.
		src.Bias, src.ReLU = nil, l.fusedReLU
		if j.b != nil {
			src.Bias = j.b[gi*M : (gi+1)*M]
		}
		gemm.GemmSourcePacked(j.serial, &j.pa[gi], P, 1, src, 0, ym[gi*M*P:], P)
		src.Bias = nil
	}
}

// implicitBackFits reports whether the implicit backward suits the shapes: at stride
// 1, where the input gradient is the convolution of dY with the flipped kernel (the
// weight gradient's packing takes any window positions), for images of fewer than 2³¹
// elements.
func (l *Conv) implicitBackFits() bool {
	g := l.geom
	// The weight gradient's gathers address a whole image in int32.
	return l.implicitFits() && l.flipped && int64(g.C/l.sp.groups)*int64(g.H)*int64(g.W) < 1<<31
}

// convBackwardImplicit adds the weight gradient, dW_g += dY_g·im2col(x)_gᵀ with B
// packed straight from x (im2col.TransposedSource): per slot of images (a fixed number
// from the shapes), each product on one goroutine, the slots' sums added in slot order,
// so the sum runs in one order whatever the thread count (a single image's products are
// split among the threads instead); and writes (dxBeta 0) or adds (1) the input gradient of a stride-1 convolution as the
// convolution of dY with the flipped weight (see convBackwardFlipped), dX_g = W'_g·
// im2col'(dY)_g with B packed straight from dY, one task per image.
func convBackwardImplicit[T Float](l *Conv, w, x, dy, dx, dw []T, dxBeta T, s *convState[T]) {
	mustNotBF16(l.sp.prefix, l.bf16)
	g, G := l.geom, l.sp.groups
	K, M, P := g.Rows()/G, l.sp.out/G, g.Cols()
	C, plane := g.C/G, g.H*g.W
	inSz, outSz := g.C*plane, l.sp.out*P
	j := &s.impl
	if len(j.tsrc) < G {
		j.tsrc = make([]im2col.TransposedSource[T], G)
	}
	gg := g
	gg.C = C
	if wsize := len(dw); dw != nil && l.n >= 2 {
		// One task per slot of images, each product on one goroutine, the slots' sums
		// added in slot order: as many slots as images up to imageSlots, fewer (but
		// two) for large weights, whose partial sums would not fit imageMaxBuf, and a
		// power of two, so that 2 or 4 threads share them evenly (3 slots on 2 threads
		// left one idle a third of the time). The count follows from the shapes alone,
		// so the sum's order does too.
		slots := 2
		for 2*slots <= min(imageSlotsOf(l.n), imageMaxBuf/wsize) {
			slots *= 2
		}
		if len(j.tsrc) < slots*G {
			j.tsrc = make([]im2col.TransposedSource[T], slots*G)
		}
		j.partials.reset(slots, wsize)
		j.l, j.x, j.dy, j.gt, j.mode = l, x, dy, gg, implicitWeightSlots
		par.Run(slots, j)
		j.partials.sumInto(dw, true)
		j.l, j.x, j.dy, j.mode = nil, nil, nil, implicitForward
	} else if dw != nil {
		// One image: its products split among the threads.
		for img := range l.n {
			for gi := range G {
				src := &j.tsrc[gi]
				src.G, src.X = gg, x[img*inSz+gi*C*plane:][:C*plane]
				gemm.GemmSource(false, false, M, K, P, 1, dy[img*outSz+gi*M*P:], P, src, 1, dw[gi*M*K:], K)
			}
		}
		for i := range j.tsrc {
			j.tsrc[i].X = nil
		}
	}
	if dx == nil {
		return
	}
	fj := &s.job.flip
	fj.l, fj.w, fj.wt, fj.back = l, w, s.wt, false
	par.Run(fj.tasks(), fj)
	fj.l, fj.w, fj.wt = nil, nil, nil
	gt := l.geomT
	gt.C = M
	j.mode = implicitInputGrad
	j.dx, j.dy, j.dxBeta, j.gt = dx, dy, dxBeta, gt
	j.runImages(l, s.wt)
	j.dx, j.dy = nil, nil
	j.mode = implicitForward
}
