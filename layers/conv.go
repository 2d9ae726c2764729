package layers

import (
	"fmt"
	"math/rand/v2"

	"github.com/fcn-dev/fcn/layers/internal/gemm"
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
// Each image is lowered with im2col into a column buffer allocated in Setup and reused,
// then multiplied per group with gemm; a 1×1, stride-1, unpadded convolution skips
// im2col because the image already is its column matrix.
type Conv struct {
	sp           convSpec
	weight, bias *Param

	// Set by Setup.
	n         int
	inShape   tensor.Shape
	outShape  tensor.Shape
	geom      im2col.Geom // one image: C_in×H×W read by the kernel at H_out×W_out positions
	pointwise bool        // 1×1, stride 1, pad 0: no im2col needed
	col       any         // []float32 or []float64, geom.Rows()·geom.Cols()
}

var convInits = []string{"he", "xavier", "gaussian", "zero"}

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
	if !l.pointwise {
		l.col = convGrowBuf(l.col, dt, l.geom.Rows()*l.geom.Cols())
	}
	return l.outShape.Clone(), nil
}

// Init implements Initializer: the weight by the configured init, the bias to zero.
func (l *Conv) Init(rng *rand.Rand) {
	if l.weight == nil {
		panic(l.sp.prefix + ": Init before Setup")
	}
	convInitWeight(l.weight.Value, l.sp.init, l.sp.std, rng)
	if l.bias != nil {
		convZero(l.bias.Value)
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
	switch in[0].Dtype() {
	case tensor.Float32:
		convForward(l, convData[float32](in[0]), convData[float32](out), convBuf[float32](l.col))
	case tensor.Float64:
		convForward(l, convData[float64](in[0]), convData[float64](out), convBuf[float64](l.col))
	default:
		panic(fmt.Sprintf("%s: unsupported dtype %v", l.sp.prefix, in[0].Dtype()))
	}
}

// Backward implements Layer. The weight gradient dY·colᵀ is accumulated straight into
// the weight's Grad; frozen parameters (LRMult 0) get no gradient, as in Caffe.
func (l *Conv) Backward(in []*tensor.Dense, out, dOut *tensor.Dense, dIn []*tensor.Dense) {
	convMustShape(l.sp.prefix, "input", in[0], l.inShape)
	convMustShape(l.sp.prefix, "output gradient", dOut, l.outShape)
	var dx *tensor.Dense
	if len(dIn) > 0 {
		dx = dIn[0]
		convMustShape(l.sp.prefix, "input gradient", dx, l.inShape)
	}
	switch in[0].Dtype() {
	case tensor.Float32:
		convBackward(l, convData[float32](in[0]), convData[float32](dOut), convData[float32](dx), convBuf[float32](l.col))
	case tensor.Float64:
		convBackward(l, convData[float64](in[0]), convData[float64](dOut), convData[float64](dx), convBuf[float64](l.col))
	default:
		panic(fmt.Sprintf("%s: unsupported dtype %v", l.sp.prefix, in[0].Dtype()))
	}
}

// convForward runs one batch: per image, im2col then one GEMM per group, then the bias.
func convForward[T Float](l *Conv, x, y, col []T) {
	g, G := l.geom, l.sp.groups
	K := g.Rows() / G // (C_in/G)·kh·kw: the reduction length
	M := l.sp.out / G // output channels per group
	P := g.Cols()     // output pixels per image
	w := convData[T](l.weight.Value)
	var b []T
	if l.bias != nil {
		b = convData[T](l.bias.Value)
	}
	inSz, outSz := g.C*g.H*g.W, l.sp.out*P
	for n := range l.n {
		xn, yn := x[n*inSz:(n+1)*inSz], y[n*outSz:(n+1)*outSz]
		cols := xn
		if !l.pointwise {
			im2col.Im2Col(g, xn, col)
			cols = col
		}
		for gi := range G {
			gemm.Gemm(false, false, M, P, K,
				1, w[gi*M*K:(gi+1)*M*K], K,
				cols[gi*K*P:(gi+1)*K*P], P,
				0, yn[gi*M*P:(gi+1)*M*P], P)
		}
		if b != nil {
			convAddBias(yn, b, P)
		}
	}
}

// convBackward adds the bias, weight and (if dx != nil) input gradients of one batch.
func convBackward[T Float](l *Conv, x, dy, dx, col []T) {
	g, G := l.geom, l.sp.groups
	K, M, P := g.Rows()/G, l.sp.out/G, g.Cols()
	w := convData[T](l.weight.Value)
	var dw, db []T
	if !l.weight.Frozen() {
		dw = convData[T](l.weight.Grad)
	}
	if l.bias != nil && !l.bias.Frozen() {
		db = convData[T](l.bias.Grad)
	}
	inSz, outSz := g.C*g.H*g.W, l.sp.out*P
	for n := range l.n {
		xn, dyn := x[n*inSz:(n+1)*inSz], dy[n*outSz:(n+1)*outSz]
		if db != nil {
			convBiasGrad(db, dyn, P)
		}
		if dw != nil {
			// dW_g += dY_g · col_gᵀ
			cols := xn
			if !l.pointwise {
				im2col.Im2Col(g, xn, col)
				cols = col
			}
			for gi := range G {
				gemm.Gemm(false, true, M, K, P,
					1, dyn[gi*M*P:(gi+1)*M*P], P,
					cols[gi*K*P:(gi+1)*K*P], P,
					1, dw[gi*M*K:(gi+1)*M*K], K)
			}
		}
		if dx == nil {
			continue
		}
		dxn := dx[n*inSz : (n+1)*inSz]
		if l.pointwise {
			// The image is its own column matrix: add W_gᵀ·dY_g into it directly.
			for gi := range G {
				gemm.Gemm(true, false, K, P, M,
					1, w[gi*M*K:(gi+1)*M*K], K,
					dyn[gi*M*P:(gi+1)*M*P], P,
					1, dxn[gi*K*P:(gi+1)*K*P], P)
			}
			continue
		}
		// dX += col2im(W_gᵀ · dY_g); the column buffer is free again once dW is done.
		for gi := range G {
			gemm.Gemm(true, false, K, P, M,
				1, w[gi*M*K:(gi+1)*M*K], K,
				dyn[gi*M*P:(gi+1)*M*P], P,
				0, col[gi*K*P:(gi+1)*K*P], P)
		}
		im2col.Col2Im(g, col, dxn)
	}
}

// convBuf returns the column buffer as []T (nil when the layer needs none).
func convBuf[T Float](buf any) []T {
	b, _ := buf.([]T)
	return b
}
