package layers

import (
	"fmt"
	"math/rand/v2"

	"github.com/fcn-dev/fcn/internal/par"
	"github.com/fcn-dev/fcn/layers/internal/im2col"
	"gorgonia.org/tensor"
)

// Conv is a 2-D convolution (cross-correlation, as every framework computes it) with
// stride, zero padding, dilation and groups, and an optional per-channel bias:
//
//	y[n,o,i,j] = b[o] + Σ_{c,u,v} W[o,c,u,v] · x[n, g·C_in/G + c, i·s − p + u·d, j·s − p + v·d]
//
// for output channel o in group g. Weight (C_out, C_in/groups, kh, kw) and bias (C_out)
// are laid out as PyTorch's Conv2d, so weights transfer. Output size per axis is
// floor((H + 2p − d(k−1) − 1)/s) + 1.
//
// The batch is lowered with im2col one block of columns at a time (see convChunks: a
// cache-sized run of rows of one image, or several small images side by side), into a
// buffer allocated in Setup and reused, and multiplied per group with gemm. The bias is
// written first and the product added onto it. A 1×1, stride-1, unpadded convolution
// skips im2col because the image already is its column matrix. The weight gradient
// dY·colᵀ is accumulated straight into the weight's Grad, block after block in a fixed
// order. For stride 1 the input gradient is itself a convolution — of dY with the
// flipped, transposed weight — so it is computed as one (im2col of dY, which only
// copies, and a GEMM adding into dX) instead of a GEMM followed by col2im, and the same
// column block of dY gives the weight gradient too (convBackwardFlipped). Small
// products run one image per task instead (conv_images.go). Setup chooses among these
// ways once, as named paths (ComputePath).
type Conv struct {
	sp           convSpec
	weight, bias *Param

	// Set by Setup.
	n         int
	inShape   tensor.Shape
	outShape  tensor.Shape
	geom      im2col.Geom // one image: C_in×H×W read by the kernel at H_out×W_out positions
	pointwise bool        // 1×1, stride 1, pad 0: no im2col needed
	fwd       convChunks  // blocks of output positions (forward, weight gradient)
	flipped   bool        // stride 1: the input gradient can be a convolution of dY
	geomT     im2col.Geom // dY (C_out×H_out×W_out) read by the flipped kernel at the H×W input positions
	bwd       convChunks  // blocks of input positions for the flipped convolution
	fwdPath   computePath
	bwdPath   computePath
	k         convKernel // buffers and jobs for the dtype of the first Setup

	force     [2]computePath // forward and backward paths Setup must take (tests only)
	assignDx  bool           // Backward writes the input gradient instead of adding (GradAssigner)
	fusedReLU bool           // the output is max(y, 0) (ReLUFuser)
	bf16      bool           // float32 products on bf16 operands (SetPrecision)
}

var convInits = []string{"he", "xavier", "gaussian", "zero", "pytorch"}

// NewConv validates cfg and returns a conv layer; errors name the layer.
func NewConv(name string, cfg ConvConfig) (*Conv, error) {
	sp, err := cfg.check("conv", name, convInits)
	if err != nil {
		return nil, err
	}
	return &Conv{sp: sp}, nil
}

// Type implements Layer.
func (l *Conv) Type() string { return "conv" }

// Name is the layer's name in the model.
func (l *Conv) Name() string { return l.sp.name }

// Params implements Layer: weight, then bias if there is one. Empty before Setup.
func (l *Conv) Params() []*Param {
	switch {
	case l.weight == nil:
		return nil
	case l.bias == nil:
		return []*Param{l.weight}
	}
	return []*Param{l.weight, l.bias}
}

// Footprint implements Footprinter, with Setup's shape rules in checked arithmetic.
func (l *Conv) Footprint(in []tensor.Shape) (Footprint, error) {
	sp := &l.sp
	if len(in) != 1 || len(in[0]) != 4 {
		return Footprint{}, fmt.Errorf("%s: wants one N×C×H×W input, got %v", sp.prefix, in)
	}
	if err := checkDims(sp.prefix, in); err != nil {
		return Footprint{}, err
	}
	if err := sp.checkSizes(); err != nil {
		return Footprint{}, err
	}
	n, c, h, w := in[0][0], in[0][1], in[0][2], in[0][3]
	if c%sp.groups != 0 {
		return Footprint{}, fmt.Errorf("%s: groups %d does not divide the %d input channels", sp.prefix, sp.groups, c)
	}
	oh := im2col.OutSize(h, sp.k[0], sp.s[0], sp.p[0], sp.d[0])
	ow := im2col.OutSize(w, sp.k[1], sp.s[1], sp.p[1], sp.d[1])
	if oh < 1 || ow < 1 {
		return Footprint{}, fmt.Errorf("%s: input %d×%d is too small for kernel %v with pad %v: output would be %d×%d", sp.prefix, h, w, sp.k, sp.p, oh, ow)
	}
	weights, err := mulDims(sp.prefix+" weight", sp.out, c/sp.groups, sp.k[0], sp.k[1])
	if err != nil {
		return Footprint{}, err
	}
	params := weights
	if sp.bias {
		params += int64(sp.out)
	}
	krows, err := mulDims(sp.prefix, c/sp.groups, sp.k[0], sp.k[1])
	if err != nil || krows > MaxDim {
		return Footprint{}, fmt.Errorf("%s: %d×%d×%d column rows: beyond any real layer", sp.prefix, c/sp.groups, sp.k[0], sp.k[1])
	}
	pos, err := mulDims(sp.prefix, n, oh, ow)
	if err != nil {
		return Footprint{}, err
	}
	return convFootprint(sp.prefix, tensor.Shape{n, sp.out, oh, ow}, params, weights, int(krows), int(min(pos, MaxDim)), max(sp.out, c))
}

// Setup implements Layer.
func (l *Conv) Setup(in []tensor.Shape, dt tensor.Dtype) (tensor.Shape, error) {
	sp := &l.sp
	n, c, h, w, err := convCheckInput(sp.prefix, in, dt)
	if err != nil {
		return nil, err
	}
	if c%sp.groups != 0 {
		return nil, fmt.Errorf("%s: groups %d does not divide the %d input channels", sp.prefix, sp.groups, c)
	}
	oh := im2col.OutSize(h, sp.k[0], sp.s[0], sp.p[0], sp.d[0])
	ow := im2col.OutSize(w, sp.k[1], sp.s[1], sp.p[1], sp.d[1])
	if oh < 1 || ow < 1 {
		return nil, fmt.Errorf("%s: input %d×%d is too small for kernel %v (dilated extent %v) with pad %v: output would be %d×%d",
			sp.prefix, h, w, sp.k, sp.keff(), sp.p, oh, ow)
	}
	if err := sp.setupParams(&l.weight, &l.bias, tensor.Shape{sp.out, c / sp.groups, sp.k[0], sp.k[1]}, dt); err != nil {
		return nil, err
	}
	l.n = n
	l.inShape = tensor.Shape{n, c, h, w}
	l.outShape = tensor.Shape{n, sp.out, oh, ow}
	l.geom = im2col.Geom{
		C: c, H: h, W: w,
		KH: sp.k[0], KW: sp.k[1],
		SH: sp.s[0], SW: sp.s[1],
		PadT: sp.p[0], PadL: sp.p[1],
		DH: sp.d[0], DW: sp.d[1],
		OH: oh, OW: ow,
	}
	l.pointwise = sp.k == [2]int{1, 1} && sp.s == [2]int{1, 1} && sp.p == [2]int{0, 0}
	size := dt.Size()
	l.fwd = planChunks(n, oh, ow, l.geom.Rows(), int(size), sp.out/sp.groups)
	var b convBufSizes
	b.col = l.geom.Rows() * l.fwd.maxCols()
	if l.fwd.nb > 1 {
		b.tmp = sp.out * l.fwd.maxCols()
	}
	// Stride 1: window position (i, j) of dY under the flipped kernel is input pixel
	// (i, j); tap (u', v') = (kh−1−u, kw−1−v) reads dY at i + p − u·d, i.e. a padding of
	// (kh−1)·d − p (negative when p exceeds the dilated kernel's reach).
	l.flipped = !l.pointwise && sp.s == [2]int{1, 1}
	if l.flipped {
		l.geomT = im2col.Geom{
			C: sp.out, H: oh, W: ow,
			KH: sp.k[0], KW: sp.k[1],
			SH: 1, SW: 1,
			PadT: (sp.k[0]-1)*sp.d[0] - sp.p[0], PadL: (sp.k[1]-1)*sp.d[1] - sp.p[1],
			DH: sp.d[0], DW: sp.d[1],
			OH: h, OW: w,
		}
		l.bwd = planChunks(n, h, w, l.geomT.Rows(), int(size), c/sp.groups)
		b.col = max(b.col, l.geomT.Rows()*l.bwd.maxCols())
		if l.bwd.nb > 1 {
			b.tmp = max(b.tmp, c*l.bwd.maxCols())
		}
		b.wt = l.weight.Value.Shape().TotalSize()
	}
	if l.pointwise && l.fwd.nb == 1 {
		b.col = 0 // the image is its own column matrix: no need to cut it either
		l.fwd.rows = oh
	}
	if err := l.choosePaths(); err != nil {
		return nil, err
	}
	b.img = l.geom.Rows() * imageRows(l.geom.Rows(), l.geom.OW, l.geom.OH) * l.geom.OW
	if l.flipped {
		gt := l.geomT
		b.img = max(b.img, gt.Rows()*imageRows(gt.Rows(), gt.OW, gt.OH)*gt.OW)
	}
	if l.fwdPath == pathImplicit && l.bwdPath == pathImplicit {
		b.col, b.tmp, b.img = 0, 0, 0 // no column matrix at all
	}
	if l.k == nil {
		l.k = newConvKernel(dt)
	}
	l.k.resize(b)
	if l.fwdPath == pathImageParallel || l.fwdPath == pathImplicit || l.bwdPath == pathImageDWCol2im || l.bwdPath == pathFlippedImages {
		reserveGemm(dt)
	}
	return l.outShape.Clone(), nil
}

// choosePaths sets the forward and backward paths for the shapes of Setup: pointwise
// for a 1×1 kernel, the image-parallel ones where imagesFit, else the blocked ones;
// flipped backward at stride 1. A forced path must apply to the shapes.
func (l *Conv) choosePaths() error {
	fwd, bwd := pathIm2colBlocked, pathCol2imBlocked
	switch {
	case l.pointwise:
		fwd, bwd = pathPointwise, pathPointwise
	case l.imagesFit() && l.flipped:
		fwd, bwd = pathImageParallel, pathFlippedImages
	case l.imagesFit():
		fwd, bwd = pathImageParallel, pathImageDWCol2im
	case l.flipped:
		bwd = pathFlippedBlocked
	}
	var err error
	if l.implicitFits() {
		fwd = pathImplicit
	}
	if l.implicitBackFits() {
		bwd = pathImplicit
	}
	if l.fwdPath, err = pickPath(l.sp.prefix, "forward", fwd, l.force[0], func(p computePath) bool {
		return p == pathPointwise && l.pointwise || (p == pathIm2colBlocked || p == pathImageParallel || p == pathImplicit && !l.bf16) && !l.pointwise
	}); err != nil {
		return err
	}
	l.bwdPath, err = pickPath(l.sp.prefix, "backward", bwd, l.force[1], func(p computePath) bool {
		switch p {
		case pathPointwise:
			return l.pointwise
		case pathCol2imBlocked, pathImageDWCol2im:
			return !l.pointwise
		case pathFlippedBlocked, pathFlippedImages:
			return l.flipped
		case pathImplicit:
			return l.flipped && !l.bf16
		}
		return false
	})
	return err
}

// ComputePath implements PathReporter: "pointwise", or "fwd F / bwd B" with F one of
// im2col-blocked, image-parallel and implicit and B one of col2im-blocked,
// image-parallel-dw+col2im, flipped-blocked, flipped-image-parallel and implicit.
func (l *Conv) ComputePath() string { return pathName(l.fwdPath, l.bwdPath) }

// Init implements Initializer: the weight by the configured init, the bias to zero
// (uniform(±1/√fan_in) for init "pytorch").
func (l *Conv) Init(rng *rand.Rand) {
	if l.weight == nil {
		panic(l.sp.prefix + ": Init before Setup")
	}
	convInitWeight(l.weight.Value, l.sp.init, l.sp.std, rng)
	if l.bias != nil {
		convInitBias(l.bias.Value, l.weight.Value, l.sp.init, rng)
	}
}

// CoordMap implements CoordMapper as Caffe's coord_map: scale 1/s, offset (p − (k_eff−1)/2)/s.
func (l *Conv) CoordMap() (scale, offset [2]float64) {
	ke := l.sp.keff()
	for a := range 2 {
		s := float64(l.sp.s[a])
		scale[a] = 1 / s
		offset[a] = (float64(l.sp.p[a]) - float64(ke[a]-1)/2) / s
	}
	return scale, offset
}

// MACs implements MACCounter: N·C_out·H_out·W_out·(C_in/groups)·kh·kw.
func (l *Conv) MACs() int64 {
	if l.outShape == nil {
		return 0
	}
	return int64(l.n) * int64(l.sp.out) * int64(l.geom.Cols()) * int64(l.geom.Rows()/l.sp.groups)
}

// Forward implements Layer.
func (l *Conv) Forward(in []*tensor.Dense, out *tensor.Dense) {
	convMustShape(l.sp.prefix, "input", in[0], l.inShape)
	convMustShape(l.sp.prefix, "output", out, l.outShape)
	l.k.forward(l, in[0], out)
}

// SetFusedReLU implements ReLUFuser: every path can apply it.
func (l *Conv) SetFusedReLU(on bool) bool {
	l.fusedReLU = on
	return on
}

// SetAssignGrad implements GradAssigner for the input.
func (l *Conv) SetAssignGrad(i int, assign bool) bool {
	if i != 0 {
		return false
	}
	l.assignDx = assign
	return assign
}

// Backward implements Layer. The weight gradient dY·colᵀ is accumulated straight into
// the weight's Grad; frozen parameters (LRMult 0) get no gradient, as in Caffe.
func (l *Conv) Backward(in []*tensor.Dense, out, dOut *tensor.Dense, dIn []*tensor.Dense) {
	x, dy, dx := convBackwardArgs(l.sp.prefix, in, dOut, dIn, l.inShape, l.outShape)
	var y *tensor.Dense // the fused ReLU's output, which masks dy
	if l.fusedReLU {
		convMustShape(l.sp.prefix, "output", out, l.outShape)
		y = out
	}
	l.k.backward(l, x, dy, dx, y)
}

// convKernel is a conv's state for the dtype of its first Setup: Forward and Backward
// pass through it once per call, and it runs the path Setup chose.
type convKernel interface {
	resize(b convBufSizes)
	forward(l *Conv, x, y *tensor.Dense)
	backward(l *Conv, x, dy, dx, y *tensor.Dense) // y non-nil: first dy ·= [y > 0] (fused ReLU)
}

// convBufSizes are the element counts of a conv's buffers at the shapes of Setup.
type convBufSizes struct {
	col, tmp int // a column block; several images side by side
	wt       int // the weight (and its gradient) in the flipped layout
	img      int // an image-parallel task's column block
}

// convState is the convKernel of element type T.
type convState[T Float] struct {
	col     []T // one column block
	tmp     []T // outputs or gradients of several images side by side
	wt, dwt []T // the flipped weight and its gradient
	job     colJob[T]
	img     convImageJob[T] // the image-parallel paths (conv_images.go)
	impl    convImplicitJob[T]
	relu    reluJob[T] // the fused ReLU of the paths that compute whole outputs first
	bias    biasJob[T] // the blocked forward's bias, after each block's product
}

func newConvKernel(dt tensor.Dtype) convKernel {
	if dt == tensor.Float32 {
		return &convState[float32]{}
	}
	return &convState[float64]{}
}

func (s *convState[T]) resize(b convBufSizes) {
	s.col, s.tmp = growSlice(s.col, b.col), growSlice(s.tmp, b.tmp)
	s.wt, s.dwt = growSlice(s.wt, b.wt), growSlice(s.dwt, b.wt)
	s.img.pool.setSize(b.img)
}

func (s *convState[T]) forward(l *Conv, x, y *tensor.Dense) {
	switch l.fwdPath {
	case pathImageParallel:
		convForwardImages(l, floatsOf[T](x), floatsOf[T](y), &s.img)
	case pathImplicit:
		// The products apply the fused ReLU (im2col.Source.Finish).
		convForwardImplicit(l, floatsOf[T](x), floatsOf[T](y), &s.impl)
		return
	default:
		convForward(l, floatsOf[T](x), floatsOf[T](y), s)
	}
	if l.fusedReLU {
		ys := floatsOf[T](y)
		s.relu.run(ys, ys, nil, nil)
	}
}

func (s *convState[T]) backward(l *Conv, x, dy, dx, y *tensor.Dense) {
	var ys []T
	if y != nil {
		ys = floatsOf[T](y)
		if paramGrad[T](l.bias) == nil {
			// No bias gradient to fold the mask into: a pass of its own.
			s.relu.assign = true
			d := floatsOf[T](dy)
			s.relu.run(nil, ys, d, d)
			ys = nil
		}
	}
	convBackward(l, floatsOf[T](x), floatsOf[T](dy), floatsOf[T](dx), ys, s)
}

// convForward runs one batch, block by block: im2col of the block (in parallel), one
// GEMM per group writing the product, then the bias added onto it (in parallel).
// A block of several images goes through tmp, images side by side, and is copied out.
func convForward[T Float](l *Conv, x, y []T, s *convState[T]) {
	g, G := l.geom, l.sp.groups
	K := g.Rows() / G // (C_in/G)·kh·kw: the reduction length
	M := l.sp.out / G // output channels per group
	P := g.Cols()     // output pixels per image
	w, b := floatsOf[T](l.weight.Value), paramValue[T](l.bias)
	col, tmp, job := s.col, s.tmp, &s.job
	inSz, outSz := g.C*g.H*g.W, l.sp.out*P
	for bi := range l.fwd.count() {
		n0, cnt, r0, r1 := l.fwd.block(bi)
		ld := cnt * (r1 - r0) * g.OW
		cm, ldc := tmp, ld
		if cnt == 1 {
			cm, ldc = y[n0*outSz+r0*g.OW:], P
		}
		bm, ldb := col, ld
		if l.pointwise && cnt == 1 {
			bm, ldb = x[n0*inSz+r0*g.OW:], P
		} else {
			job.run(g, x[n0*inSz:], inSz, col, ld, cnt, r0, r1, false)
		}
		for gi := range G {
			mm(l.bf16, false, false, M, ld, K,
				1, w[gi*M*K:], K,
				bm[gi*K*ldb:], ldb,
				0, cm[gi*M*ldc:], ldc)
		}
		if b != nil {
			s.bias.run(cm, l.sp.out, ld, ldc, b)
		}
		if cnt > 1 {
			scatterImages(y[n0*outSz:], tmp, cnt, l.sp.out, P, outSz, false)
		}
	}
}

// convBackward adds the bias, weight and (if dx != nil) input gradients of one batch.
func convBackward[T Float](l *Conv, x, dy, dx, y []T, s *convState[T]) {
	g, G := l.geom, l.sp.groups
	K, M, P := g.Rows()/G, l.sp.out/G, g.Cols()
	w, dw, db := floatsOf[T](l.weight.Value), paramGrad[T](l.weight), paramGrad[T](l.bias)
	col, tmp, job := s.col, s.tmp, &s.job
	inSz, outSz := g.C*g.H*g.W, l.sp.out*P
	if db != nil {
		job.bias.run(db, dy, y, l.n, l.sp.out, P) // y: the fused ReLU's mask first
	}
	if l.bwdPath == pathImplicit {
		beta := T(1)
		if l.assignDx {
			beta = 0
		}
		convBackwardImplicit(l, w, x, dy, dx, dw, beta, s)
		return
	}
	// The flipped paths take one im2col of dY for both gradients (see
	// convBackwardFlipped); otherwise dW_g += dY_g · col_gᵀ, per image or block by block.
	images := l.bwdPath == pathImageDWCol2im || l.bwdPath == pathFlippedImages
	flipped := l.bwdPath == pathFlippedBlocked || l.bwdPath == pathFlippedImages
	switch {
	case dw == nil || flipped && dx != nil:
	case images:
		convWeightGradImages(l, x, dy, dw, &s.img)
	default:
		// A deconv's weight gradient with the roles of x and dY swapped.
		backBlocked(g, l.fwd, G, l.sp.out, dy, x, nil, nil, dw, 1, 0, l.pointwise, col, tmp, job, l.bf16)
	}
	beta := T(1) // dX is added into, unless assigned
	if l.assignDx {
		beta = 0
	}
	switch {
	case dx == nil:
	case l.bwdPath == pathPointwise:
		// The image is its own column matrix: add W_gᵀ·dY_g into it directly.
		for n := range l.n {
			dxn, dyn := dx[n*inSz:(n+1)*inSz], dy[n*outSz:(n+1)*outSz]
			for gi := range G {
				mm(l.bf16, true, false, K, P, M,
					1, w[gi*M*K:], K,
					dyn[gi*M*P:], P,
					beta, dxn[gi*K*P:], P)
			}
		}
	case flipped:
		convBackwardFlipped(l, w, x, dy, dx, dw, beta, s, images)
	default:
		// dX += col2im(W_gᵀ · dY_g), one image's block at a time; col2im adds, and
		// blocks share input rows, so an assigned dX is cleared first.
		if beta == 0 {
			clear(dx)
		}
		for bi := range l.fwd.count() {
			n0, cnt, r0, r1 := l.fwd.block(bi)
			cols := (r1 - r0) * g.OW
			for n := n0; n < n0+cnt; n++ {
				for gi := range G {
					mm(l.bf16, true, false, K, cols, M,
						1, w[gi*M*K:], K,
						dy[n*outSz+gi*M*P+r0*g.OW:], P,
						0, col[gi*K*cols:], cols)
				}
				job.run(g, dx[n*inSz:], inSz, col, cols, 1, r0, r1, true)
			}
		}
	}
}

// convBackwardFlipped adds the input gradient of a stride-1 convolution as the
// convolution of dY with the flipped weight: dX_g += W'_g · col'_g, where
// col' = im2col'(dY) reads dY with the flipped kernel at every input position and
// W'_g[c, (o, u', v')] = W[g·M+o, c, kh−1−u', kw−1−v'].
//
// The same column block gives the weight gradient (when dw != nil): entry
// ((o, u', v'), (i, j)) of col' is dY[o, i+p−u·d, j+p−v·d] with u = kh−1−u', so
// dW[g·M+o, c, u, v] = Σ_{i,j} x[c, i, j]·col'[(o, u', v'), (i, j)] = (x_g·col'_gᵀ)[c, (o, u', v')],
// accumulated over the blocks into wt's twin dwt and added, un-flipped, into dw at the
// end. One im2col per backward pass instead of two. dxBeta is 1 to add into dX, 0 to
// overwrite it (the blocks cover every input position once). images takes the
// image-parallel path.
func convBackwardFlipped[T Float](l *Conv, w, x, dy, dx, dw []T, dxBeta T, s *convState[T], images bool) {
	fj := &s.job.flip
	fj.l, fj.w, fj.wt, fj.back = l, w, s.wt, false
	par.Run(fj.tasks(), fj)
	var dwt []T // the weight gradient in the flipped layout, if wanted
	if dw != nil {
		dwt = s.dwt
	}
	if images {
		convBackImages(l, x, dy, dx, dwt, s.wt, dxBeta, &s.img)
	} else {
		// By blocks of input rows: dwt (=, then +=) x·col'ᵀ, dX (+)= W'·col'.
		backBlocked(l.geomT, l.bwd, l.sp.groups, l.geom.C, x, dy, s.wt, dx, dwt, 0, dxBeta, false, s.col, s.tmp, &s.job, l.bf16)
	}
	if dw != nil {
		fj.w, fj.wt, fj.back = dw, s.dwt, true
		par.Run(fj.tasks(), fj)
	}
	fj.l, fj.w, fj.wt = nil, nil, nil
}

// flipJob moves a conv weight to and from the flipped layout of
// convBackwardFlipped, one task per block of flipBlock input channels:
// W'_g[c, (o, u', v')] = W[g·M+o, c, kh−1−u', kw−1−v'] (back: W += the un-flipped W').
// It is a transpose of kh·kw-element blocks; a task reads flipBlock channels' blocks
// of each output channel in a row and writes flipBlock rows of W' side by side, so
// both sides move through memory in runs, and tasks run in parallel.
type flipJob[T Float] struct {
	l     *Conv
	w, wt []T
	back  bool
}

// flipBlock is the input channels per flip task.
const flipBlock = 16

// tasks is the number of flip tasks: blocks of input channels of each group.
func (j *flipJob[T]) tasks() int {
	g, G := j.l.geom, j.l.sp.groups
	return G * ((g.C/G + flipBlock - 1) / flipBlock)
}

func (j *flipJob[T]) Do(i int) {
	g, G := j.l.geom, j.l.sp.groups
	M, C := j.l.sp.out/G, g.C/G
	kk := g.KH * g.KW
	per := (C + flipBlock - 1) / flipBlock
	gi, c0 := i/per, i%per*flipBlock
	c1 := min(c0+flipBlock, C)
	// Tap (u, v) of W is tap (kh−1−u, kw−1−v) of W': index t is kk−1−t, a reversal.
	for o := range M {
		orig := j.w[((gi*M+o)*C+c0)*kk : ((gi*M+o)*C+c1)*kk]
		for c := c0; c < c1; c++ {
			fi := (gi*C+c)*M*kk + o*kk
			flipped, oc := j.wt[fi:fi+kk], orig[(c-c0)*kk:(c-c0+1)*kk]
			if j.back {
				for t, v := range flipped {
					oc[kk-1-t] += v
				}
			} else {
				for t, v := range oc {
					flipped[kk-1-t] = v
				}
			}
		}
	}
}
