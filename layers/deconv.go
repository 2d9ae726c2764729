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
// Forward is col2im(W_gᵀ·x_g) per image and group, as in Caffe; backward-data is the
// ordinary convolution W_g·im2col(dY)_g; the weight gradient is the conv's with input and
// output roles swapped, x_g·im2col(dY)_gᵀ. The column buffer is allocated in Setup.
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
	col       any
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
	if !l.pointwise {
		l.col = convGrowBuf(l.col, dt, l.geom.Rows()*l.geom.Cols())
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
	// A frozen-bilinear fast path (IsFrozenBilinear) slots in here, ahead of the
	// general path, with the same result.
	switch in[0].Dtype() {
	case tensor.Float32:
		deconvForward(l, convData[float32](in[0]), convData[float32](out), convBuf[float32](l.col))
	case tensor.Float64:
		deconvForward(l, convData[float64](in[0]), convData[float64](out), convBuf[float64](l.col))
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
	// The frozen-bilinear fast path's backward-data slots in here too.
	switch in[0].Dtype() {
	case tensor.Float32:
		deconvBackward(l, convData[float32](in[0]), convData[float32](dOut), convData[float32](dx), convBuf[float32](l.col))
	case tensor.Float64:
		deconvBackward(l, convData[float64](in[0]), convData[float64](dOut), convData[float64](dx), convBuf[float64](l.col))
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

// deconvForward: per image, col_g = W_gᵀ·x_g for every group, then y = col2im(col) + b.
func deconvForward[T Float](l *Deconv, x, y, col []T) {
	G := l.sp.groups
	K, M, P := l.dims()
	w := convData[T](l.weight.Value)
	var b []T
	if l.bias != nil {
		b = convData[T](l.bias.Value)
	}
	inSz, outSz := M*G*P, l.geom.C*l.geom.H*l.geom.W
	for n := range l.n {
		xn, yn := x[n*inSz:(n+1)*inSz], y[n*outSz:(n+1)*outSz]
		cols := col
		if l.pointwise {
			cols = yn // the output image is its own column matrix
		}
		for gi := range G {
			gemm.Gemm(true, false, K, P, M,
				1, w[gi*M*K:(gi+1)*M*K], K,
				xn[gi*M*P:(gi+1)*M*P], P,
				0, cols[gi*K*P:(gi+1)*K*P], P)
		}
		if !l.pointwise {
			clear(yn)
			im2col.Col2Im(l.geom, col, yn)
		}
		if b != nil {
			convAddBias(yn, b, l.geom.H*l.geom.W)
		}
	}
}

// deconvBackward: per image, col = im2col(dY); dW_g += x_g·col_gᵀ; dX_g += W_g·col_g.
func deconvBackward[T Float](l *Deconv, x, dy, dx, col []T) {
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
	if dw == nil && db == nil && dx == nil {
		return
	}
	inSz, outSz := M*G*P, l.geom.C*l.geom.H*l.geom.W
	for n := range l.n {
		xn, dyn := x[n*inSz:(n+1)*inSz], dy[n*outSz:(n+1)*outSz]
		if db != nil {
			convBiasGrad(db, dyn, l.geom.H*l.geom.W)
		}
		if dw == nil && dx == nil {
			continue
		}
		cols := dyn
		if !l.pointwise {
			im2col.Im2Col(l.geom, dyn, col)
			cols = col
		}
		for gi := range G {
			wg, cg := w[gi*M*K:(gi+1)*M*K], cols[gi*K*P:(gi+1)*K*P]
			if dw != nil {
				gemm.Gemm(false, true, M, K, P,
					1, xn[gi*M*P:(gi+1)*M*P], P, cg, P,
					1, dw[gi*M*K:(gi+1)*M*K], K)
			}
			if dx != nil {
				gemm.Gemm(false, false, M, P, K,
					1, wg, K, cg, P,
					1, dx[n*inSz+gi*M*P:n*inSz+(gi+1)*M*P], P)
			}
		}
	}
}
