package layers

import (
	"fmt"
	"math/rand/v2"

	"github.com/fcn-dev/fcn/layers/internal/gemm"
	"github.com/fcn-dev/fcn/layers/internal/im2col"
	"gorgonia.org/tensor"
)

// DeconvConfig configures a deconv layer: every conv option, plus the ones below.
// Init defaults to "bilinear" here.
type DeconvConfig struct {
	ConvConfig `yaml:",inline" mapstructure:",squash"`
	// OutputPadding adds rows/columns at the bottom/right of the output (PyTorch's
	// output_padding); each must be < stride or < dilation. Defaults to 0.
	OutputPadding []int `yaml:"output_padding" mapstructure:"output_padding"`
	// Same reproduces TensorFlow's conv2d_transpose with padding 'SAME': output =
	// input·stride, and the total crop P = (in−1)·s + k_eff − out is taken ⌊P/2⌋ at the
	// top/left and the rest at the bottom/right. Pad and OutputPadding must then be 0.
	Same bool `yaml:"same" mapstructure:"same"`
	// Mode is the upsampling mode, overriding Init and Learn when set (a model-wide
	// switch flips every deconv at once):
	//   "learned"  bilinear init, trained;
	//   "frozen"   bilinear init, every parameter frozen (LRMult and DecayMult 0);
	//   "random"   random init (Init if it names one, else "he"), trained;
	//   "bilinear" fixed bilinear interpolation: no parameters at all (no bias either).
	// "resize_conv" is not a deconv: the model builder replaces the layer by a resize and
	// a conv, so NewDeconv rejects it. "" keeps Init and Learn as given.
	Mode string `yaml:"mode" mapstructure:"mode"`
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
// When the weight is frozen and holds exactly the bilinear channel-diagonal kernel
// (IsFrozenBilinear: mode "bilinear" or "frozen", or learn: false after a bilinear
// init), Forward and Backward take a separable path instead (see bilinear_fast.go):
// each channel is upsampled on its own, along rows and then columns, at O(C·H·W·k)
// rather than O(C²·H·W·k²), with the same result up to rounding.
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
	n         int
	inShape   tensor.Shape
	outShape  tensor.Shape
	geom      im2col.Geom // one output image C_out×H_out×W_out, windows at H_in×W_in positions
	pointwise bool        // 1×1, stride 1, no crop, same size: the output is the column matrix
	chunks    convChunks  // blocks of input positions
	col       any         // []float32 or []float64: one column block
	tmp       any         // inputs or input gradients of several images side by side

	job32 colJob[float32]
	job64 colJob[float64]
	bil   bilinearPath // the separable path for frozen bilinear weights
}

var deconvInits = []string{"bilinear", "he", "xavier", "gaussian", "zero"}

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
			c.Init = "he"
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
	l.chunks = planChunks(n, h, w, l.geom.Rows(), int(dt.Size()))
	if l.pointwise && l.chunks.nb == 1 {
		l.chunks.rows = h // the output is its own column matrix: no need to cut it
		l.col = convGrowBuf(l.col, dt, 0)
	} else {
		l.col = convGrowBuf(l.col, dt, l.geom.Rows()*l.chunks.maxCols())
	}
	tmpN := 0
	if l.chunks.nb > 1 {
		tmpN = c * l.chunks.maxCols()
	}
	l.tmp = convGrowBuf(l.tmp, dt, tmpN)
	if err := l.bil.setup(l, dt); err != nil {
		return nil, err
	}
	return l.outShape.Clone(), nil
}

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
		convZero(l.bias.Value)
	}
}

// IsFrozenBilinear reports whether the weight is frozen (LRMult 0, or mode "bilinear")
// and holds exactly the bilinear channel-diagonal pattern FillBilinear writes — the
// case where a separable per-channel upsampling gives the same result as the general
// path. It says nothing about the bias, which any path adds the same way.
func (l *Deconv) IsFrozenBilinear() bool {
	if l.weight == nil || !(l.noParam || l.weight.Frozen()) {
		return false
	}
	s := l.weight.Value.Shape()
	if s[0] != l.sp.out {
		return false
	}
	switch l.weight.Value.Dtype() {
	case tensor.Float32:
		return isBilinearDiag(convData[float32](l.weight.Value), s[0], s[1], s[2], s[3])
	case tensor.Float64:
		return isBilinearDiag(convData[float64](l.weight.Value), s[0], s[1], s[2], s[3])
	}
	return false
}

// FastBilinear reports whether Forward and Backward, called now, take the separable
// per-channel path of a frozen bilinear weight rather than the general GEMM path. It is
// IsFrozenBilinear for shapes set up (false before Setup).
func (l *Deconv) FastBilinear() bool {
	return l.outShape != nil && l.bil.usable(l)
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
	fast := l.bil.usable(l)
	switch in[0].Dtype() {
	case tensor.Float32:
		x, y := convData[float32](in[0]), convData[float32](out)
		if fast {
			bilinearForward(l, &l.bil.p32, x, y)
			return
		}
		deconvForward(l, x, y, &l.job32)
	case tensor.Float64:
		x, y := convData[float64](in[0]), convData[float64](out)
		if fast {
			bilinearForward(l, &l.bil.p64, x, y)
			return
		}
		deconvForward(l, x, y, &l.job64)
	default:
		panic(fmt.Sprintf("%s: unsupported dtype %v", l.sp.prefix, in[0].Dtype()))
	}
}

// Backward implements Layer. Frozen parameters (LRMult 0, mode "bilinear") get no
// gradient, as in Caffe.
func (l *Deconv) Backward(in []*tensor.Dense, out, dOut *tensor.Dense, dIn []*tensor.Dense) {
	convMustShape(l.sp.prefix, "input", in[0], l.inShape)
	convMustShape(l.sp.prefix, "output gradient", dOut, l.outShape)
	var dx *tensor.Dense
	if len(dIn) > 0 {
		dx = dIn[0]
		convMustShape(l.sp.prefix, "input gradient", dx, l.inShape)
	}
	fast := l.bil.usable(l)
	switch in[0].Dtype() {
	case tensor.Float32:
		x, dy, dxs := convData[float32](in[0]), convData[float32](dOut), convData[float32](dx)
		if fast {
			bilinearBackward(l, &l.bil.p32, dy, dxs)
			return
		}
		deconvBackward(l, x, dy, dxs, &l.job32)
	case tensor.Float64:
		x, dy, dxs := convData[float64](in[0]), convData[float64](dOut), convData[float64](dx)
		if fast {
			bilinearBackward(l, &l.bil.p64, dy, dxs)
			return
		}
		deconvBackward(l, x, dy, dxs, &l.job64)
	default:
		panic(fmt.Sprintf("%s: unsupported dtype %v", l.sp.prefix, in[0].Dtype()))
	}
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
func deconvForward[T Float](l *Deconv, x, y []T, job *colJob[T]) {
	G := l.sp.groups
	K, M, P := l.dims()
	w := convData[T](l.weight.Value)
	var b []T
	if l.bias != nil {
		b = convData[T](l.bias.Value)
	}
	col, tmp := convBuf[T](l.col), convBuf[T](l.tmp)
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
				gemm.Gemm(true, false, K, P, M,
					1, w[gi*M*K:], K,
					bm[gi*M*ldb:], ldb,
					1, yn[gi*K*P:], P)
			}
			continue
		}
		for gi := range G {
			gemm.Gemm(true, false, K, ld, M,
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

// deconvBackward: per block, col = im2col(dY); dW_g += x_g·col_gᵀ; dX_g += W_g·col_g.
func deconvBackward[T Float](l *Deconv, x, dy, dx []T, job *colJob[T]) {
	G := l.sp.groups
	K, M, P := l.dims()
	w := convData[T](l.weight.Value)
	var dw, db []T
	if !l.noParam && !l.weight.Frozen() {
		dw = convData[T](l.weight.Grad)
	}
	if l.bias != nil && !l.bias.Frozen() {
		db = convData[T](l.bias.Grad)
	}
	g := l.geom
	inSz, outSz, outP := M*G*P, g.C*g.H*g.W, g.H*g.W
	if db != nil {
		for n := range l.n {
			convBiasGrad(db, dy[n*outSz:(n+1)*outSz], outP)
		}
	}
	if dw == nil && dx == nil {
		return
	}
	col, tmp := convBuf[T](l.col), convBuf[T](l.tmp)
	for bi := range l.chunks.count() {
		n0, cnt, r0, r1 := l.chunks.block(bi)
		ld := cnt * (r1 - r0) * g.OW
		cm, ldc := dy[n0*outSz:], P
		if !l.pointwise || cnt > 1 {
			job.run(g, dy[n0*outSz:], outSz, col, ld, cnt, r0, r1, false)
			cm, ldc = col, ld
		}
		if dw != nil {
			am, lda := x[n0*inSz+r0*g.OW:], P
			if cnt > 1 {
				gatherImages(tmp, x[n0*inSz:], cnt, M*G, P, inSz)
				am, lda = tmp, ld
			}
			for gi := range G {
				gemm.Gemm(false, true, M, K, ld,
					1, am[gi*M*lda:], lda,
					cm[gi*K*ldc:], ldc,
					1, dw[gi*M*K:], K)
			}
		}
		if dx != nil {
			dm, ldd, beta := dx[n0*inSz+r0*g.OW:], P, T(1)
			if cnt > 1 {
				dm, ldd, beta = tmp, ld, 0
			}
			for gi := range G {
				gemm.Gemm(false, false, M, ld, K,
					1, w[gi*M*K:], K,
					cm[gi*K*ldc:], ldc,
					beta, dm[gi*M*ldd:], ldd)
			}
			if cnt > 1 {
				scatterImages(dx[n0*inSz:], tmp, cnt, M*G, P, inSz, true)
			}
		}
	}
}
