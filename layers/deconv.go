package layers

import (
	"fmt"
	"math/rand/v2"
	"unsafe"

	"github.com/fcn-dev/fcn/internal/par"
	"github.com/fcn-dev/fcn/layers/internal/im2col"
	"github.com/fcn-dev/fcn/layers/internal/vecmath"
	"gorgonia.org/tensor"
)

// DeconvConfig configures a deconv layer: every conv option, plus the ones below.
// Init defaults to "bilinear" here.
type DeconvConfig struct {
	ConvConfig
	// OutputPadding adds rows/columns at the bottom/right of the output (PyTorch's
	// output_padding); each must be < stride or < dilation. Defaults to 0.
	OutputPadding []int
	// Same reproduces TensorFlow's conv2d_transpose with padding 'SAME': output =
	// input·stride, and the total crop P = (in−1)·s + k_eff − out is taken ⌊P/2⌋ at the
	// top/left and the rest at the bottom/right. Pad and OutputPadding must then be 0.
	Same bool
	// Mode is the upsampling mode, overriding Init and Learn when set (a model-wide
	// switch flips every deconv at once):
	//   "learned"  bilinear init, trained;
	//   "frozen"   bilinear init, every parameter frozen (LRMult and DecayMult 0);
	//   "random"   random init (Init if it names one, else "he"), trained;
	//   "bilinear" fixed bilinear interpolation: no parameters at all (no bias either).
	// "resize_conv" is not a deconv: the model builder replaces the layer by a resize and
	// a conv, so NewDeconv rejects it. "" keeps Init and Learn as given.
	Mode string
}

// Deconv is a transposed convolution ("deconvolution", FCN's learned upsampling): the
// adjoint of a Conv with the same weights, geometry and groups, mapping C_in channels
// of H_in×W_in to C_out channels of
//
//	H_out = (H_in−1)·s − 2p + d·(k−1) + output_padding + 1
//
// (or H_in·s with Same). Weight (C_in, C_out/groups, kh, kw) and bias (C_out) are laid
// out as PyTorch's ConvTranspose2d and Caffe's Deconvolution, so weights transfer.
//
// Forward is col2im(W_gᵀ·x_g) per group, as in Caffe; backward-data is the ordinary
// convolution W_g·im2col(dY)_g; the weight gradient is the conv's with input and output
// roles swapped, x_g·im2col(dY)_gᵀ. Like Conv, the batch is processed in blocks of input
// positions (a run of rows of one image, or several small images side by side) through
// a column buffer allocated in Setup, and the weight gradient is accumulated straight
// into Grad in a fixed block order.
//
// When the config fixes the weight at the bilinear channel-diagonal kernel (mode
// "bilinear" or "frozen", or learn: false after a bilinear init), Forward and Backward
// take a separable path instead (see bilinear_fast.go): each channel is upsampled on
// its own, along rows and then columns, at O(C·H·W·k) rather than O(C²·H·W·k²), with
// the same result up to rounding. The first Forward after each Setup, Init and
// ParamsChanged checks once that the weight is still exactly that kernel (weights loaded
// from a checkpoint) and takes the general path if not: whoever writes the weight from
// outside calls ParamsChanged (the graph's, which train.SetModelState calls).
type Deconv struct {
	sp      convSpec
	op      [2]int // output_padding
	same    bool
	mode    string
	noParam bool // mode "bilinear": the weight is fixed and not listed by Params
	weight  *Param
	bias    *Param
	pad     [2]int // top/left crop: p, or ⌊P/2⌋ with Same

	// Set by Setup.
	n           int
	inShape     tensor.Shape
	outShape    tensor.Shape
	geom        im2col.Geom   // one output image C_out×H_out×W_out, windows at H_in×W_in positions
	pointwise   bool          // 1×1, stride 1, no crop, same size: the output is the column matrix
	chunks      convChunks    // blocks of input positions
	subpixel    bool          // dilation 1: the forward can go by phases, not GEMM + col2im
	phaseSource bool          // the image-parallel phases pack their products straight from x (sourcePacks)
	phases      []deconvPhase // the sub-pixel forward's phases
	pchunks     convChunks    // its blocks: whole images
	rowPhase    []int32       // output row oy: its phase a and window row m, interleaved
	phaseIdx    []int32       // index in phases of phase (a, b), a·s_w + b
	phaseCol    int           // a sub-pixel-image-parallel task's buffer: its largest phase's column matrix,
	phaseZ      int           // then every phase's output
	backRows    int           // window rows of an image-parallel backward task's column block
	s2d         bool          // the implicit backward reads dY in its space-to-depth form (s2dGeom)
	s2dGeom     im2col.Geom   // one group of dY as space to depth: a stride-1 window
	s2dRow      []int32       // row r of its column matrix is row s2dRow[r] of dY's
	bilinear    bool          // the config fixes the weight at the bilinear kernel
	fwdPath     computePath
	bwdPath     computePath
	chosen      [2]computePath // the paths Setup chose, bilinear-frozen ones included
	general     [2]computePath // the paths for a weight that is not the bilinear kernel
	recheck     bool           // compare the weight with the bilinear kernel at the next Forward
	k           deconvKernel   // buffers and jobs for the dtype of the first Setup

	force [2]computePath // forward and backward paths Setup must take (tests only)
	bf16  bool           // float32 products on bf16 operands (SetPrecision)
}

var deconvInits = []string{"bilinear", "he", "xavier", "gaussian", "zero", "pytorch"}

// NewDeconv validates cfg and returns a deconv layer; errors name the layer.
func NewDeconv(name string, cfg DeconvConfig) (*Deconv, error) {
	c := cfg.ConvConfig
	prefix := "deconv"
	if name != "" {
		prefix += " " + name
	}
	noParam := false
	switch cfg.Mode {
	case "":
	case "learned", "frozen":
		c.Init, c.Learn = "bilinear", nil
		if cfg.Mode == "frozen" {
			f := false
			c.Learn = &f
		}
	case "random":
		if c.Init == "" || c.Init == "bilinear" {
			c.Init = convInits[0]
		}
		c.Learn = nil
	case "bilinear":
		f := false
		c.Init, c.Learn, c.Bias = "bilinear", &f, &f
		noParam = true
	case "resize_conv":
		return nil, fmt.Errorf("%s: mode resize_conv is a resize followed by a conv, not a deconv; the model builder must replace the layer", prefix)
	default:
		return nil, fmt.Errorf("%s: unknown mode %q (want learned, frozen, random, bilinear or resize_conv)", prefix, cfg.Mode)
	}
	sp, err := c.check("deconv", name, deconvInits)
	if err != nil {
		return nil, err
	}
	op, err := convPair(sp.prefix, "output_padding", cfg.OutputPadding, 0, 0)
	if err != nil {
		return nil, err
	}
	for a := range 2 {
		// PyTorch's rule: output_padding picks one of the output sizes a strided conv
		// maps back to the same input size, so it must be smaller than the stride (or,
		// for stride 1, than the dilation).
		if op[a] >= sp.s[a] && op[a] >= sp.d[a] {
			return nil, fmt.Errorf("%s: output_padding %v must be smaller than stride %v or dilation %v",
				sp.prefix, op, sp.s, sp.d)
		}
	}
	if cfg.Same && (sp.p != [2]int{} || op != [2]int{}) {
		return nil, fmt.Errorf("%s: same: true computes its own padding; pad (%v) and output_padding (%v) must be 0",
			sp.prefix, sp.p, op)
	}
	l := &Deconv{sp: sp, op: op, same: cfg.Same, mode: cfg.Mode, noParam: noParam, pad: sp.p}
	if cfg.Same {
		// With out = in·s the total crop (in−1)·s + k_eff − out = k_eff − s does not
		// depend on the input size; TensorFlow clamps it at 0 (extra rows get no input).
		ke := sp.keff()
		for a := range 2 {
			l.pad[a] = max(ke[a]-sp.s[a], 0) / 2
		}
	}
	return l, nil
}

// Type implements Layer.
func (l *Deconv) Type() string { return "deconv" }

// Name is the layer's name in the model.
func (l *Deconv) Name() string { return l.sp.name }

// Params implements Layer: weight, then bias if there is one; none in mode "bilinear"
// or before Setup.
func (l *Deconv) Params() []*Param {
	switch {
	case l.weight == nil || l.noParam:
		return nil
	case l.bias == nil:
		return []*Param{l.weight}
	}
	return []*Param{l.weight, l.bias}
}

// Mode is the configured upsampling mode ("" when none was set).
func (l *Deconv) Mode() string { return l.mode }

// Weight is the weight parameter (C_in, C_out/groups, kh, kw), also in mode "bilinear"
// where Params does not list it; nil before Setup.
func (l *Deconv) Weight() *Param { return l.weight }

// Footprint implements Footprinter, with Setup's shape rules in checked arithmetic.
func (l *Deconv) Footprint(in []tensor.Shape) (Footprint, error) {
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
	ke := sp.keff()
	inHW := [2]int{h, w}
	var outHW [2]int
	for a := range 2 {
		if l.same {
			outHW[a] = inHW[a] * sp.s[a]
		} else {
			outHW[a] = (inHW[a]-1)*sp.s[a] - 2*sp.p[a] + ke[a] + l.op[a]
		}
		if outHW[a] < 1 || outHW[a] > MaxDim {
			return Footprint{}, fmt.Errorf("%s: input %d×%d with kernel %v, stride %v, pad %v gives an output side of %d", sp.prefix, h, w, sp.k, sp.s, sp.p, outHW[a])
		}
	}
	weights, err := mulDims(sp.prefix+" weight", c, sp.out/sp.groups, sp.k[0], sp.k[1])
	if err != nil {
		return Footprint{}, err
	}
	params := weights
	if l.noParam {
		params = 0
	} else if sp.bias {
		params += int64(sp.out)
	}
	krows, err := mulDims(sp.prefix, sp.out/sp.groups, sp.k[0], sp.k[1])
	if err != nil || krows > MaxDim {
		return Footprint{}, fmt.Errorf("%s: %d×%d×%d column rows: beyond any real layer", sp.prefix, sp.out/sp.groups, sp.k[0], sp.k[1])
	}
	pos, err := mulDims(sp.prefix, n, h, w)
	if err != nil {
		return Footprint{}, err
	}
	out := tensor.Shape{n, sp.out, outHW[0], outHW[1]}
	fp, err := convFootprint(sp.prefix, out, params, weights, int(krows), int(min(pos, MaxDim)), max(sp.out, c))
	if err != nil {
		return Footprint{}, err
	}
	// The sub-pixel path keeps one image's output per phase block.
	perImage, err := mulDims(sp.prefix, sp.out, outHW[0], outHW[1])
	if err != nil {
		return Footprint{}, err
	}
	if fp.Scratch, err = addElems(sp.prefix, fp.Scratch, perImage); err != nil {
		return Footprint{}, err
	}
	return fp, nil
}

// Setup implements Layer.
func (l *Deconv) Setup(in []tensor.Shape, dt tensor.Dtype) (tensor.Shape, error) {
	sp := &l.sp
	n, c, h, w, err := convCheckInput(sp.prefix, in, dt)
	if err != nil {
		return nil, err
	}
	if c%sp.groups != 0 {
		return nil, fmt.Errorf("%s: groups %d does not divide the %d input channels", sp.prefix, sp.groups, c)
	}
	if sp.init == "bilinear" && c != sp.out {
		return nil, fmt.Errorf("%s: bilinear init upsamples each channel on its own and needs as many input as output channels, got %d in and out %d (use another init)",
			sp.prefix, c, sp.out)
	}
	ke := sp.keff()
	inHW := [2]int{h, w}
	var outHW [2]int
	for a := range 2 {
		if l.same {
			outHW[a] = inHW[a] * sp.s[a]
		} else {
			outHW[a] = (inHW[a]-1)*sp.s[a] - 2*sp.p[a] + ke[a] + l.op[a]
		}
	}
	if outHW[0] < 1 || outHW[1] < 1 {
		return nil, fmt.Errorf("%s: input %d×%d is too small for pad %v with kernel %v, stride %v: output would be %d×%d",
			sp.prefix, h, w, sp.p, sp.k, sp.s, outHW[0], outHW[1])
	}
	first := l.weight == nil
	if err := sp.setupParams(&l.weight, &l.bias, tensor.Shape{c, sp.out / sp.groups, sp.k[0], sp.k[1]}, dt); err != nil {
		return nil, err
	}
	if first && l.noParam {
		// A fixed interpolation has no Init to wait for.
		if err := FillBilinear(l.weight.Value, sp.groups); err != nil {
			return nil, fmt.Errorf("%s: %w", sp.prefix, err)
		}
	}
	l.n = n
	l.inShape = tensor.Shape{n, c, h, w}
	l.outShape = tensor.Shape{n, sp.out, outHW[0], outHW[1]}
	l.geom = im2col.Geom{
		C: sp.out, H: outHW[0], W: outHW[1],
		KH: sp.k[0], KW: sp.k[1],
		SH: sp.s[0], SW: sp.s[1],
		PadT: l.pad[0], PadL: l.pad[1],
		DH: sp.d[0], DW: sp.d[1],
		OH: h, OW: w,
	}
	l.pointwise = sp.k == [2]int{1, 1} && sp.s == [2]int{1, 1} && l.pad == [2]int{} && outHW == inHW
	l.chunks = planChunks(n, h, w, l.geom.Rows(), int(dt.Size()), c/sp.groups)
	var b deconvBufSizes
	if l.pointwise && l.chunks.nb == 1 {
		l.chunks.rows = h // the output is its own column matrix: no need to cut it
	} else {
		b.col = l.geom.Rows() * l.chunks.maxCols()
	}
	if l.chunks.nb > 1 {
		b.tmp = c * l.chunks.maxCols()
	}
	l.subpixel = !l.pointwise && sp.d == [2]int{1, 1}
	l.phaseCol, l.phaseZ = 0, 0
	if l.subpixel {
		b.col = max(b.col, l.setupPhases(int(dt.Size())))
		for _, ph := range l.phases {
			b.z += sp.out * l.pchunks.nb * ph.geom.Cols()
			l.phaseCol = max(l.phaseCol, ph.geom.Rows()*ph.geom.Cols())
			l.phaseZ += sp.out * ph.geom.Cols()
		}
		b.wsub = l.weight.Value.Shape().TotalSize()
	}
	l.backRows = imageRows(l.geom.Rows(), l.geom.OW, l.geom.OH)
	// The image-parallel sub-pixel forward packs each phase's product straight from x
	// where sources pay (sourcePacks): its tasks need no column block then.
	l.phaseSource = l.subpixel && sourcePacks(l.bf16, sp.k[0]*sp.k[1])
	b.phaseImg, b.backImg = l.phaseCol+l.phaseZ, l.backRows*l.geom.OW*l.geom.Rows()
	if l.phaseSource {
		b.phaseImg = l.phaseZ
	}
	l.bilinear = sp.init == "bilinear" && (l.noParam || l.weight.Frozen())
	if err := l.choosePaths(); err != nil {
		return nil, err
	}
	if l.bwdPath == pathImplicit {
		b.backImg = 0 // no column block either
		if l.setupSpaceToDepth() {
			b.backImg = l.s2dGeom.C * l.s2dGeom.H * l.s2dGeom.W
		}
	}
	if l.k == nil {
		l.k = newDeconvKernel(dt)
	}
	l.k.resize(l, b)
	if l.fwdPath == pathSubPixelImages || l.bwdPath == pathImageParallel || l.bwdPath == pathImplicit {
		reserveGemm(dt)
	}
	return l.outShape.Clone(), nil
}

// choosePaths sets the paths for the shapes of Setup. A frozen bilinear weight takes
// bilinear-frozen. Otherwise the forward goes by phases (dilation 1) or GEMM and
// col2im, one image per task where the per-task buffer is small enough; the backward
// image-parallel where its buffers are small enough, else by blocks; a 1×1 deconv is
// pointwise. A forced path must apply to the shapes.
func (l *Deconv) choosePaths() error {
	images := l.n >= 2 && !l.pointwise
	fwd, bwd := pathCol2imBlocked, pathIm2colBlocked
	switch {
	case l.pointwise:
		fwd, bwd = pathPointwise, pathPointwise
	case l.subpixel && images && l.phaseCol+l.phaseZ <= imageMaxBuf:
		fwd = pathSubPixelImages
	case l.subpixel:
		fwd = pathSubPixel
	}
	if images && l.backRows*l.geom.OW*l.geom.Rows() <= imageMaxBuf && l.weight.Value.Shape().TotalSize()*imageSlots <= imageMaxBuf {
		bwd = pathImageParallel
		if l.implicitFits() {
			bwd = pathImplicit
		}
	}
	l.general = [2]computePath{fwd, bwd}
	if l.bilinear {
		fwd, bwd = pathBilinearFrozen, pathBilinearFrozen
	}
	applies := func(fwd bool) func(computePath) bool {
		return func(p computePath) bool {
			switch p {
			case pathBilinearFrozen:
				return l.bilinear
			case pathPointwise:
				return l.pointwise
			case pathCol2imBlocked:
				return fwd && !l.pointwise
			case pathSubPixel, pathSubPixelImages:
				return fwd && l.subpixel
			case pathIm2colBlocked, pathImageParallel:
				return !fwd && !l.pointwise
			case pathImplicit:
				return !fwd && !l.pointwise && !l.bf16
			}
			return false
		}
	}
	var err error
	if fwd, err = pickPath(l.sp.prefix, "forward", fwd, l.force[0], applies(true)); err != nil {
		return err
	}
	if bwd, err = pickPath(l.sp.prefix, "backward", bwd, l.force[1], applies(false)); err != nil {
		return err
	}
	l.chosen = [2]computePath{fwd, bwd}
	l.fwdPath, l.bwdPath = fwd, bwd
	l.recheck = fwd == pathBilinearFrozen || bwd == pathBilinearFrozen
	return nil
}

// implicitFits reports whether the implicit backward suits the shapes: dY's column
// matrix packed by AVX-512 gathers (any window) in fp32 or fp64, as the conv's
// (Conv.implicitFits).
func (l *Deconv) implicitFits() bool {
	g := l.geom
	return !l.pointwise && sourcePacks(l.bf16, g.KH*g.KW) &&
		int64(g.C/l.sp.groups)*int64(g.H)*int64(g.W) < 1<<31 // gathers address dY in int32
}

// setupSpaceToDepth decides whether the implicit backward reads dY as space to depth
// (im2col's SpaceToDepth): at a stride above 1 with a kernel of whole strides (FCN's
// k = 2s upsamplings), dY's column matrix is then a stride-1 window's, which the
// sources pack by runs of image rows instead of a gather per element; each task
// rearranges one group of one image of dY first, an extra pass over dY. It reports
// the decision and sets the geometry and row permutation.
func (l *Deconv) setupSpaceToDepth() bool {
	g := l.geom
	g.C /= l.sp.groups
	l.s2d = false
	if !g.SpaceToDepthFits() {
		return false
	}
	zg := g.SpaceToDepth()
	if sz := int64(zg.C) * int64(zg.H) * int64(zg.W); sz > imageMaxBuf || !sourcePacks(l.bf16, zg.KH*zg.KW) {
		return false
	}
	l.s2d, l.s2dGeom = true, zg
	l.s2dRow = l.s2dRow[:0]
	for r := range zg.Rows() {
		l.s2dRow = append(l.s2dRow, int32(g.SpaceToDepthRow(r)))
	}
	return true
}

// checkWeight takes the paths Setup chose if the weight is exactly the bilinear kernel,
// else the general ones in place of bilinear-frozen.
func (l *Deconv) checkWeight() {
	l.recheck = false
	l.fwdPath, l.bwdPath = l.chosen[0], l.chosen[1]
	if l.IsFrozenBilinear() {
		return
	}
	if l.fwdPath == pathBilinearFrozen {
		l.fwdPath = l.general[0]
	}
	if l.bwdPath == pathBilinearFrozen {
		l.bwdPath = l.general[1]
	}
}

// ComputePath implements PathReporter: "bilinear-frozen", "pointwise", or "fwd F / bwd
// B" with F one of col2im-blocked, sub-pixel and sub-pixel-image-parallel and B one of
// im2col-blocked and image-parallel. Before the first Forward it names what Setup chose
// from the config; that Forward may find a weight that is no longer bilinear.
func (l *Deconv) ComputePath() string { return pathName(l.fwdPath, l.bwdPath) }

// Init implements Initializer: the weight by the configured init (bilinear on the
// channel diagonal, see FillBilinear), the bias to zero.
func (l *Deconv) Init(rng *rand.Rand) {
	if l.weight == nil {
		panic(l.sp.prefix + ": Init before Setup")
	}
	if l.sp.init == "bilinear" {
		if err := FillBilinear(l.weight.Value, l.sp.groups); err != nil {
			panic(fmt.Sprintf("%s: %v", l.sp.prefix, err)) // Setup checked the shapes
		}
	} else {
		convInitWeight(l.weight.Value, l.sp.init, l.sp.std, rng)
	}
	if l.bias != nil {
		convInitBias(l.bias.Value, l.weight.Value, l.sp.init, rng)
	}
	// Whatever the weight held, it is the kernel again; weights loaded after Init are
	// checked at the next Forward.
	l.ParamsChanged()
}

// ParamsChanged implements ParamWatcher: the next Forward checks the weight against the
// bilinear kernel again, once, before it takes the separable path.
func (l *Deconv) ParamsChanged() {
	l.fwdPath, l.bwdPath = l.chosen[0], l.chosen[1]
	l.recheck = l.fwdPath == pathBilinearFrozen || l.bwdPath == pathBilinearFrozen
}

// IsFrozenBilinear reports whether the weight is frozen (LRMult 0, or mode "bilinear")
// and holds exactly the bilinear channel-diagonal pattern FillBilinear writes — the
// case where a separable per-channel upsampling gives the same result as the general
// path. It compares the whole weight. It says nothing about the bias, which any path
// adds the same way.
func (l *Deconv) IsFrozenBilinear() bool {
	if l.weight == nil || !(l.noParam || l.weight.Frozen()) || l.weight.Value.Shape()[0] != l.sp.out {
		return false
	}
	return l.k.isBilinear(l.weight.Value)
}

// FastBilinear reports whether Forward and Backward, called now, take the separable
// per-channel path of a frozen bilinear weight rather than the general GEMM path (false
// before Setup).
func (l *Deconv) FastBilinear() bool {
	return l.outShape != nil && l.fwdPath == pathBilinearFrozen && (!l.recheck || l.IsFrozenBilinear())
}

// CoordMap implements CoordMapper as Caffe's coord_map: scale s, offset (k_eff−1)/2 − p,
// with p the top/left crop (⌊P/2⌋ in Same mode).
func (l *Deconv) CoordMap() (scale, offset [2]float64) {
	ke := l.sp.keff()
	for a := range 2 {
		scale[a] = float64(l.sp.s[a])
		offset[a] = float64(ke[a]-1)/2 - float64(l.pad[a])
	}
	return scale, offset
}

// MACs implements MACCounter: N·C_in·H_in·W_in·(C_out/groups)·kh·kw.
func (l *Deconv) MACs() int64 {
	if l.outShape == nil {
		return 0
	}
	return int64(l.n) * int64(l.inShape[1]) * int64(l.geom.Cols()) * int64(l.geom.Rows()/l.sp.groups)
}

// Forward implements Layer.
func (l *Deconv) Forward(in []*tensor.Dense, out *tensor.Dense) {
	convMustShape(l.sp.prefix, "input", in[0], l.inShape)
	convMustShape(l.sp.prefix, "output", out, l.outShape)
	if l.recheck {
		l.checkWeight()
	}
	l.k.forward(l, in[0], out)
}

// Backward implements Layer. Frozen parameters (LRMult 0, mode "bilinear") get no
// gradient, as in Caffe.
func (l *Deconv) Backward(in []*tensor.Dense, out, dOut *tensor.Dense, dIn []*tensor.Dense) {
	x, dy, dx := convBackwardArgs(l.sp.prefix, in, dOut, dIn, l.inShape, l.outShape)
	l.k.backward(l, x, dy, dx)
}

// deconvKernel is a deconv's state for the dtype of its first Setup: Forward and
// Backward pass through it once per call, and it runs the path Setup chose.
type deconvKernel interface {
	resize(l *Deconv, b deconvBufSizes)
	forward(l *Deconv, x, y *tensor.Dense)
	backward(l *Deconv, x, dy, dx *tensor.Dense)
	isBilinear(w *tensor.Dense) bool
}

// deconvBufSizes are the element counts of a deconv's buffers at the shapes of Setup.
type deconvBufSizes struct {
	col, tmp          int // a column block; several images side by side
	wsub, z           int // the phases' weight matrices and outputs of one block
	phaseImg, backImg int // an image-parallel forward and backward task's buffer
}

// deconvState is the deconvKernel of element type T.
type deconvState[T Float] struct {
	col, tmp []T
	wsub     []T // the phases' weight matrices
	zbuf     []T // the phases' outputs of one block
	job      colJob[T]
	il       phaseInterleave[T]
	img      phaseImageJob[T] // the image-parallel forward and backward (deconv_images.go)
	back     backImageJob[T]
	bil      bilinearPlan[T] // the separable path of a frozen bilinear weight
}

func newDeconvKernel(dt tensor.Dtype) deconvKernel {
	if dt == tensor.Float32 {
		return &deconvState[float32]{}
	}
	return &deconvState[float64]{}
}

func (s *deconvState[T]) resize(l *Deconv, b deconvBufSizes) {
	s.col, s.tmp = growSlice(s.col, b.col), growSlice(s.tmp, b.tmp)
	s.wsub, s.zbuf = growSlice(s.wsub, b.wsub), growSlice(s.zbuf, b.z)
	s.img.pool.setSize(b.phaseImg)
	s.back.pool.setSize(b.backImg)
	if l.bilinear {
		s.bil.setup(l)
	}
}

func (s *deconvState[T]) forward(l *Deconv, x, y *tensor.Dense) {
	xs, ys := floatsOf[T](x), floatsOf[T](y)
	switch l.fwdPath {
	case pathBilinearFrozen:
		bilinearForward(l, &s.bil, xs, ys)
	case pathSubPixelImages:
		deconvForwardImages(l, xs, ys, s)
	case pathSubPixel:
		deconvForwardPhases(l, xs, ys, s)
	default:
		deconvForward(l, xs, ys, s)
	}
}

func (s *deconvState[T]) backward(l *Deconv, x, dy, dx *tensor.Dense) {
	xs, dys, dxs := floatsOf[T](x), floatsOf[T](dy), floatsOf[T](dx)
	if l.bwdPath == pathBilinearFrozen {
		bilinearBackward(l, &s.bil, dys, dxs)
		return
	}
	deconvBackward(l, xs, dys, dxs, s)
}

func (s *deconvState[T]) isBilinear(w *tensor.Dense) bool {
	sh := w.Shape()
	return isBilinearDiag(floatsOf[T](w), sh[0], sh[1], sh[2], sh[3])
}

// dims are the GEMM sizes per group: K column rows ((C_out/G)·kh·kw), M input
// channels (C_in/G), P input pixels.
func (l *Deconv) dims() (K, M, P int) {
	G := l.sp.groups
	return l.geom.Rows() / G, l.inShape[1] / G, l.geom.Cols()
}

// deconvForward: per block, col_g = W_gᵀ·x_g for every group, then y += col2im(col)
// in parallel over output channels, onto the bias written when an image's first block
// comes up.
func deconvForward[T Float](l *Deconv, x, y []T, s *deconvState[T]) {
	G := l.sp.groups
	K, M, P := l.dims()
	w, b := floatsOf[T](l.weight.Value), paramValue[T](l.bias)
	col, tmp, job := s.col, s.tmp, &s.job
	g := l.geom
	inSz, outSz, outP := M*G*P, g.C*g.H*g.W, g.H*g.W
	for bi := range l.chunks.count() {
		n0, cnt, r0, r1 := l.chunks.block(bi)
		ld := cnt * (r1 - r0) * g.OW
		bm, ldb := x[n0*inSz+r0*g.OW:], P
		if cnt > 1 {
			gatherImages(tmp, x[n0*inSz:], cnt, M*G, P, inSz)
			bm, ldb = tmp, ld
		}
		if l.pointwise && cnt == 1 {
			// The output image is its own column matrix.
			yn := y[n0*outSz:]
			fillRows(yn, g.C, P, P, b)
			for gi := range G {
				mm(l.bf16, true, false, K, P, M,
					1, w[gi*M*K:], K,
					bm[gi*M*ldb:], ldb,
					1, yn[gi*K*P:], P)
			}
			continue
		}
		for gi := range G {
			mm(l.bf16, true, false, K, ld, M,
				1, w[gi*M*K:], K,
				bm[gi*M*ldb:], ldb,
				0, col[gi*K*ld:], ld)
		}
		if r0 == 0 {
			for n := n0; n < n0+cnt; n++ {
				fillRows(y[n*outSz:], g.C, outP, outP, b)
			}
		}
		job.run(g, y[n0*outSz:], outSz, col, ld, cnt, r0, r1, true)
	}
}

// deconvBackward adds the bias, weight and input gradients: dW_g += x_g·im2col(dY)_gᵀ
// and dX_g += W_g·im2col(dY)_g, per image or block by block.
func deconvBackward[T Float](l *Deconv, x, dy, dx []T, s *deconvState[T]) {
	dw, db := paramGrad[T](l.weight), paramGrad[T](l.bias)
	if db != nil {
		s.job.bias.run(db, dy, nil, l.n, l.sp.out, l.geom.H*l.geom.W)
	}
	switch {
	case dw == nil && dx == nil:
	case l.bwdPath == pathImageParallel || l.bwdPath == pathImplicit:
		deconvBackImages(l, x, dy, dx, dw, &s.back)
	default:
		backBlocked(l.geom, l.chunks, l.sp.groups, l.inShape[1], x, dy, floatsOf[T](l.weight.Value), dx, dw, 1, 1, l.pointwise, s.col, s.tmp, &s.job, l.bf16)
	}
}

// deconvPhase is one output phase of the sub-pixel forward pass. With dilation 1,
// output row oy receives kernel taps u ≡ oy + p (mod s) only: writing a = (oy+p) mod s
// and oy = Y·s + a − p, those are u = a + t·s from input rows Y − t. So the output
// pixels of one phase (a, b) are an ordinary stride-1 convolution of x with the
// sub-kernel W[:, :, a + t·s, b + t'·s], flipped — an im2col of x (contiguous copies)
// and one GEMM. Every output pixel belongs to exactly one phase, so y is written once,
// bias included, by interleaving the phases' outputs row by row, and the col2im of the
// plain path (a scattered add of k²/s² column entries per pixel) disappears.
type deconvPhase struct {
	a, b int         // the phase per axis
	ox0  int         // output column of the phase's first window column
	geom im2col.Geom // x read by the flipped sub-kernel at the phase's OH×OW pixels
	woff int         // offset of the phase's weight matrices in wsub
	zoff int         // offset of its output in zbuf for the block in progress
	ld   int         // and that output's leading dimension
}

// floorDiv is ⌊a/b⌋ for b > 0.
func floorDiv(a, b int) int {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// setupPhases builds the phases, their blocks and the interleaving tables, and returns
// the column buffer they need.
func (l *Deconv) setupPhases(size int) int {
	sp := &l.sp
	out := [2]int{l.outShape[2], l.outShape[3]}
	l.phases = l.phases[:0]
	l.phaseIdx = l.phaseIdx[:0]
	l.rowPhase = l.rowPhase[:0]
	for o := range out[0] {
		s, p := sp.s[0], l.pad[0]
		a := (o + p) % s
		y0 := -floorDiv(-(p - a), s) // ⌈(p−a)/s⌉: the phase's first Y
		l.rowPhase = append(l.rowPhase, int32(a), int32((o+p-a)/s-y0))
	}
	maxP, maxRows, woff := 1, 1, 0
	for a := range sp.s[0] {
		for b := range sp.s[1] {
			ph := deconvPhase{a: a, b: b, woff: woff}
			var taps, lo, cnt [2]int
			for ax, off := range [2]int{a, b} {
				s, p, k := sp.s[ax], l.pad[ax], sp.k[ax]
				taps[ax] = max(0, (k-off+s-1)/s)
				lo[ax] = -floorDiv(-(p - off), s)  // first Y with Y·s+off−p ≥ 0
				hi := floorDiv(out[ax]-1+p-off, s) // last Y inside the output
				cnt[ax] = hi - lo[ax] + 1
			}
			ph.ox0 = lo[1]*sp.s[1] + b - l.pad[1]
			ph.geom = im2col.Geom{
				C: l.inShape[1], H: l.inShape[2], W: l.inShape[3],
				KH: taps[0], KW: taps[1],
				SH: 1, SW: 1,
				PadT: taps[0] - 1 - lo[0], PadL: taps[1] - 1 - lo[1],
				DH: 1, DW: 1,
				OH: cnt[0], OW: cnt[1],
			}
			if cnt[0] < 1 || cnt[1] < 1 {
				l.phaseIdx = append(l.phaseIdx, -1) // no output pixel has this phase
				continue
			}
			woff += ph.geom.Rows() * (sp.out / sp.groups)
			maxP, maxRows = max(maxP, ph.geom.Cols()), max(maxRows, ph.geom.Rows())
			l.phaseIdx = append(l.phaseIdx, int32(len(l.phases)))
			l.phases = append(l.phases, ph)
		}
	}
	// Whole images, as many side by side as the widest phase allows.
	c := planChunks(l.n, 1, maxP, maxRows, size, sp.out/sp.groups)
	l.pchunks = convChunks{n: l.n, oh: 1, ow: maxP, nb: c.nb, rows: 1}
	return maxRows * l.pchunks.nb * maxP
}

// deconvForwardPhases is the sub-pixel forward: the phases' weight matrices, then per
// block of images, per phase, im2col of x and one GEMM per group into zbuf, and finally
// the block's phases interleaved into y with the bias.
func deconvForwardPhases[T Float](l *Deconv, x, y []T, s *deconvState[T]) {
	sp := &l.sp
	G := sp.groups
	Og := sp.out / G
	wsub, col, z, job, il := deconvPhaseWeights(l, s.wsub), s.col, s.zbuf, &s.job, &s.il
	cin := l.inShape[1]
	Cg := cin / G
	inSz := cin * l.inShape[2] * l.inShape[3]
	il.l, il.y, il.bias = l, y, paramValue[T](l.bias)
	for bi := range l.pchunks.count() {
		n0, cnt, _, _ := l.pchunks.block(bi)
		zoff := 0
		for i := range l.phases {
			ph := &l.phases[i]
			ph.ld = cnt * ph.geom.Cols()
			ph.zoff = zoff
			zoff += sp.out * ph.ld
			th, tw := ph.geom.KH, ph.geom.KW
			if th == 0 || tw == 0 {
				continue // no tap reaches these pixels: bias only
			}
			Kp := Cg * th * tw
			job.run(ph.geom, x[n0*inSz:], inSz, col, ph.ld, cnt, 0, ph.geom.OH, false)
			for gi := range G {
				mm(l.bf16, false, false, Og, ph.ld, Kp,
					1, wsub[ph.woff+gi*Og*Kp:], Kp,
					col[gi*Kp*ph.ld:], ph.ld,
					0, z[ph.zoff+gi*Og*ph.ld:], ph.ld)
			}
		}
		il.z, il.n0, il.cnt = z, n0, cnt
		par.Run(cnt*sp.out, il)
	}
	il.z, il.y, il.bias = nil, nil, nil
}

// deconvPhaseWeights fills and returns wsub with the phases' sub-kernels as GEMM
// weight matrices.
func deconvPhaseWeights[T Float](l *Deconv, wsub []T) []T {
	sp := &l.sp
	G := sp.groups
	Og := sp.out / G
	w := floatsOf[T](l.weight.Value)
	cin, kh, kw := l.inShape[1], sp.k[0], sp.k[1]
	Cg := cin / G
	for _, ph := range l.phases {
		th, tw := ph.geom.KH, ph.geom.KW
		Kp := Cg * th * tw
		// wsub_g[o, (c, t, t')] = W[g·Cg+c, o, a + (th−1−t)·s, b + (tw−1−t')·s]
		for gi := range G {
			for o := range Og {
				for c := range Cg {
					src := w[((gi*Cg+c)*Og+o)*kh*kw:]
					dst := wsub[ph.woff+(gi*Og+o)*Kp+c*th*tw:]
					for t := range th {
						u := ph.a + (th-1-t)*sp.s[0]
						for t2 := range tw {
							dst[t*tw+t2] = src[u*kw+ph.b+(tw-1-t2)*sp.s[1]]
						}
					}
				}
			}
		}
	}
	return wsub
}

// phaseInterleave writes the phases' outputs of a block of images into y, one output
// row at a time, adding the bias. One task per image and channel.
type phaseInterleave[T Float] struct {
	l          *Deconv
	z, y, bias []T
	n0, cnt    int
}

func (il *phaseInterleave[T]) Do(i int) {
	l := il.l
	c := l.sp.out
	j, o := i/c, i%c
	oh, ow := l.outShape[2], l.outShape[3]
	sw := l.sp.s[1]
	var bv T
	if il.bias != nil {
		bv = il.bias[o]
	}
	img := il.y[((il.n0+j)*c+o)*oh*ow : ((il.n0+j)*c+o+1)*oh*ow]
	var woven uint64 // row phases written whole by pairRows
	if sw == 2 && l.sp.s[0] <= 64 {
		for a := range l.sp.s[0] {
			if il.pairRows(img, a, j, o, bv) {
				woven |= 1 << a
			}
		}
	}
	for oy := range oh {
		a, m := int(l.rowPhase[2*oy]), int(l.rowPhase[2*oy+1])
		if woven&(1<<a) != 0 {
			continue
		}
		row := img[oy*ow : (oy+1)*ow]
		for b := range sw {
			pi := l.phaseIdx[a*sw+b]
			if pi < 0 {
				continue
			}
			ph := &l.phases[pi]
			cols := ph.geom.OW
			if ph.geom.KH == 0 || ph.geom.KW == 0 {
				for q := range cols {
					row[ph.ox0+q*sw] = bv
				}
				continue
			}
			src := il.z[ph.zoff+o*ph.ld+j*ph.geom.Cols()+m*cols:][:cols]
			if sw == 1 {
				dst := row[ph.ox0 : ph.ox0+cols]
				for q, v := range src {
					dst[q] = v + bv
				}
				continue
			}
			dst := row[ph.ox0:][:(cols-1)*sw+1]
			k := 0
			for _, v := range src {
				dst[k] = v + bv
				k += sw
			}
		}
	}
}

// pairRows writes every output row of row phase a (image j, channel o) from its two
// column phases at once where they interleave exactly (stride 2, both with taps, first
// columns one apart): the rows oy ≡ a − p (mod s) take window rows m, m+1, … of the
// phases, in one call for the plane (vecmath.Interleave2Rows, AVX-512 permutes), the
// values of Do's loop. It reports whether it did.
func (il *phaseInterleave[T]) pairRows(img []T, a, j, o int, bv T) bool {
	l := il.l
	if unsafe.Sizeof(bv) != 4 {
		return false
	}
	i0, i1 := l.phaseIdx[2*a], l.phaseIdx[2*a+1]
	if i0 < 0 || i1 < 0 {
		return false
	}
	e, od := &l.phases[i0], &l.phases[i1]
	if od.ox0 < e.ox0 {
		e, od = od, e
	}
	if od.ox0 != e.ox0+1 || e.geom.KH == 0 || e.geom.KW == 0 || od.geom.KH == 0 || od.geom.KW == 0 {
		return false
	}
	sh, oh, ow := l.sp.s[0], l.outShape[2], l.outShape[3]
	oy0 := ((a-l.pad[0])%sh + sh) % sh // the first output row of phase a
	if oy0 >= oh {
		return true // no row has this phase
	}
	if int(l.rowPhase[2*oy0]) != a {
		return false // not the row layout setupPhases made
	}
	rows := (oh - oy0 + sh - 1) / sh
	m0 := int(l.rowPhase[2*oy0+1])
	ce, co := e.geom.OW, od.geom.OW
	se := il.z[e.zoff+o*e.ld+j*e.geom.Cols()+m0*ce:]
	so := il.z[od.zoff+o*od.ld+j*od.geom.Cols()+m0*co:]
	n := min(ce, co)
	vecmath.Interleave2Rows(f32(img[oy0*ow+e.ox0:]), f32(se), f32(so), float32(bv), n, rows, sh*ow, ce, co)
	for r := range rows {
		row := img[(oy0+r*sh)*ow:][:ow]
		for q := n; q < ce; q++ {
			row[e.ox0+2*q] = se[r*ce+q] + bv
		}
		for q := n; q < co; q++ {
			row[od.ox0+2*q] = so[r*co+q] + bv
		}
	}
	return true
}
