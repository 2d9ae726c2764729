package layers

import (
	"fmt"
	"unsafe"

	"github.com/fcn-dev/fcn/internal/par"
	"github.com/fcn-dev/fcn/layers/internal/vecmath"
	"gorgonia.org/tensor"
)

// MaxPoolConfig holds maxpool's hyper-parameters. Spatial fields take one value (both
// axes) or an [h, w] pair, as in experiment files.
type MaxPoolConfig struct {
	Kernel []int // required, ≥ 1
	Stride []int // nil: = kernel; else ≥ 1
	Pad    []int // nil: 0; 0 ≤ pad < kernel
	// Ceil rounds the output size up, as Caffe's pooling does (PyTorch's ceil_mode),
	// instead of down; the last window must still start inside the image (+pad).
	Ceil bool
}

// MaxPool is spatial max pooling. Padding acts as −∞: a padded position is never
// selected. Ties go to the first position in row-major window order, as in Caffe.
type MaxPool struct {
	name string
	poolGeometry
	argmax []int32 // per output element: h·W+w of the selected input in its plane
	job32  poolJob[float32]
	job64  poolJob[float64]
	assign bool // Backward overwrites dIn (GradAssigner)
}

// SetAssignGrad implements GradAssigner.
func (l *MaxPool) SetAssignGrad(i int, assign bool) bool {
	l.assign = assign
	return assign
}

// poolGeometry is what maxpool and avgpool share: the window (kernel, stride, padding,
// rounding) and, after Setup, the input and output sizes.
type poolGeometry struct {
	prefix              string
	kernel, stride, pad [2]int
	ceil                bool
	n, c, h, w, oh, ow  int
}

// newPoolGeometry checks a pooling layer's kernel (required), stride (default: the
// kernel) and padding (default 0); each type adds its own rule on padding.
func newPoolGeometry(prefix string, kernel, stride, pad []int, ceil bool) (poolGeometry, error) {
	g := poolGeometry{prefix: prefix, ceil: ceil}
	if kernel == nil {
		return g, fmt.Errorf("%s: kernel is required", prefix)
	}
	var err error
	if g.kernel, err = spatialPair(prefix, "kernel", kernel, [2]int{}, 1); err != nil {
		return g, err
	}
	if g.stride, err = spatialPair(prefix, "stride", stride, g.kernel, 1); err != nil {
		return g, err
	}
	g.pad, err = spatialPair(prefix, "pad", pad, [2]int{}, 0)
	return g, err
}

// setup checks the one NCHW float input and sets the sizes; it returns the output shape
// (PyTorch's pooling_output_shape, Caffe's with ceil).
func (g *poolGeometry) setup(in []tensor.Shape, dt tensor.Dtype) (tensor.Shape, error) {
	if err := checkInputCount(g.prefix, in, 1); err != nil {
		return nil, err
	}
	if err := checkFloatDtype(g.prefix, dt); err != nil {
		return nil, err
	}
	if err := checkNCHW(g.prefix, "input", in[0]); err != nil {
		return nil, err
	}
	n, c, h, w := in[0][0], in[0][1], in[0][2], in[0][3]
	if h+2*g.pad[0] < g.kernel[0] || w+2*g.pad[1] < g.kernel[1] {
		return nil, fmt.Errorf("%s: kernel %d×%d is larger than the padded input %d×%d (input %s, pad %d×%d)",
			g.prefix, g.kernel[0], g.kernel[1], h+2*g.pad[0], w+2*g.pad[1], dimsString(in[0]), g.pad[0], g.pad[1])
	}
	g.n, g.c, g.h, g.w = n, c, h, w
	g.oh = poolOutSize(h, g.kernel[0], g.stride[0], g.pad[0], g.ceil)
	g.ow = poolOutSize(w, g.kernel[1], g.stride[1], g.pad[1], g.ceil)
	return tensor.Shape{n, c, g.oh, g.ow}, nil
}

// CoordMap implements CoordMapper (Caffe's coord_map for pooling).
func (g *poolGeometry) CoordMap() (scale, offset [2]float64) {
	for a := range 2 {
		s, k, p := float64(g.stride[a]), float64(g.kernel[a]), float64(g.pad[a])
		scale[a] = 1 / s
		offset[a] = (p - (k-1)/2) / s
	}
	return scale, offset
}

// NewMaxPool validates cfg and returns the layer.
func NewMaxPool(name string, cfg MaxPoolConfig) (*MaxPool, error) {
	g, err := newPoolGeometry(layerPrefix("maxpool", name), cfg.Kernel, cfg.Stride, cfg.Pad, cfg.Ceil)
	if err != nil {
		return nil, err
	}
	for a := range 2 {
		if g.pad[a] >= g.kernel[a] {
			// A window could then lie entirely in the padding and select nothing.
			return nil, fmt.Errorf("%s: pad %v must be smaller than kernel %v", g.prefix, g.pad, g.kernel)
		}
	}
	return &MaxPool{name: name, poolGeometry: g}, nil
}

// Name is the layer's node name.
func (l *MaxPool) Name() string { return l.name }

// Type implements Layer.
func (l *MaxPool) Type() string { return "maxpool" }

// Params implements Layer: maxpool has none.
func (l *MaxPool) Params() []*Param { return nil }

// poolOutSize is Caffe's pooling output size. Floor: ⌊(in+2p−k)/s⌋+1. Ceil:
// ⌈(in+2p−k)/s⌉+1, minus one if the last window would start at or beyond in+p
// (Caffe applies that rule only when p > 0, PyTorch always; with p = 0 it can only
// fire when s > k, where Caffe's window would be empty, so PyTorch's rule is used).
func poolOutSize(in, k, s, p int, ceil bool) int {
	span := in + 2*p - k
	var out int
	if ceil {
		out = (span+s-1)/s + 1
		if (out-1)*s >= in+p {
			out--
		}
	} else {
		out = span/s + 1
	}
	return out
}

// Footprint implements Footprinter: the pooled output and the index of each output's
// selected input.
func (l *MaxPool) Footprint(in []tensor.Shape) (Footprint, error) {
	out, err := l.poolGeometry.footprintShape(in)
	if err != nil {
		return Footprint{}, err
	}
	n, err := elems(l.prefix, out)
	return Footprint{Out: out, Scratch: n}, err
}

// footprintShape is setup's output shape without changing g, its sizes checked first.
func (g poolGeometry) footprintShape(in []tensor.Shape) (tensor.Shape, error) {
	if err := checkDims(g.prefix, in); err != nil {
		return nil, err
	}
	for _, v := range [][2]int{g.kernel, g.stride, g.pad} {
		if v[0] > MaxDim/4 || v[1] > MaxDim/4 {
			return nil, fmt.Errorf("%s: kernel %v, stride %v, pad %v: beyond any image", g.prefix, g.kernel, g.stride, g.pad)
		}
	}
	return g.setup(in, tensor.Float32)
}

// Setup implements Layer.
func (l *MaxPool) Setup(in []tensor.Shape, dt tensor.Dtype) (tensor.Shape, error) {
	out, err := l.setup(in, dt)
	if err != nil {
		return nil, err
	}
	l.argmax = growSlice(l.argmax, l.n*l.c*l.oh*l.ow)
	return out, nil
}

// Forward implements Layer.
func (l *MaxPool) Forward(in []*tensor.Dense, out *tensor.Dense) {
	if isFloat32(out) {
		l.job32.run(l, floatsOf[float32](in[0]), floatsOf[float32](out), false)
	} else {
		l.job64.run(l, floatsOf[float64](in[0]), floatsOf[float64](out), false)
	}
}

// Backward implements Layer: each output's gradient goes to the input it selected.
func (l *MaxPool) Backward(in []*tensor.Dense, out, dOut *tensor.Dense, dIn []*tensor.Dense) {
	if dIn[0] == nil {
		return
	}
	if isFloat32(dOut) {
		l.job32.run(l, floatsOf[float32](dIn[0]), floatsOf[float32](dOut), true)
	} else {
		l.job64.run(l, floatsOf[float64](dIn[0]), floatsOf[float64](dOut), true)
	}
}

// poolJob runs maxpool's forward (x → y) or backward (dy into x, the input gradient)
// over runs of whole planes in parallel; planes are independent, so the result does
// not depend on how the runs are shared out.
type poolJob[T Float] struct {
	l      *MaxPool
	x, y   []T
	back   bool
	planes int // per task
}

func (j *poolJob[T]) run(l *MaxPool, x, y []T, back bool) {
	j.l, j.x, j.y, j.back = l, x, y, back
	j.planes = max(1, eltBlock/(l.h*l.w))
	par.Run((l.n*l.c+j.planes-1)/j.planes, j)
	j.l, j.x, j.y = nil, nil, nil
}

func (j *poolJob[T]) Do(i int) {
	l := j.l
	nc0 := i * j.planes
	nc1 := min(nc0+j.planes, l.n*l.c)
	plane, oplane := l.h*l.w, l.oh*l.ow
	for nc := nc0; nc < nc1; nc++ {
		x := j.x[nc*plane : (nc+1)*plane]
		y := j.y[nc*oplane : (nc+1)*oplane]
		arg := l.argmax[nc*oplane : (nc+1)*oplane]
		if j.back {
			if l.assign {
				clear(x)
			}
			for o, g := range y {
				x[arg[o]] += g
			}
		} else {
			maxPoolPlane(l, x, y, arg)
		}
	}
}

// maxPoolPlane pools one plane x into y, recording each selected input in arg.
func maxPoolPlane[T Float](l *MaxPool, x, y []T, arg []int32) {
	kh, kw, sh, sw, ph, pw := l.kernel[0], l.kernel[1], l.stride[0], l.stride[1], l.pad[0], l.pad[1]
	// FCN's 2×2 stride-2 pooling without padding: windows lying wholly inside the
	// plane take the fast path below; the rest (a ceil-mode edge) the general loop.
	fast2x2 := kh == 2 && kw == 2 && sh == 2 && sw == 2 && ph == 0 && pw == 0
	for oh := 0; oh < l.oh; oh++ {
		h0 := oh*sh - ph
		h1 := min(h0+kh, l.h)
		h0 = max(h0, 0)
		ow0 := 0
		if fast2x2 && h1-h0 == 2 {
			ow0 = min(l.ow, l.w/2)
			pool2x2Row(x[h0*l.w:][:2*ow0], x[(h0+1)*l.w:][:2*ow0], y[oh*l.ow:][:ow0], arg[oh*l.ow:][:ow0], int32(h0*l.w), int32(l.w))
		}
		for ow := ow0; ow < l.ow; ow++ {
			w0 := ow*sw - pw
			w1 := min(w0+kw, l.w)
			w0 = max(w0, 0)
			// Setup's size rules guarantee a non-empty window.
			best := h0*l.w + w0
			m := x[best]
			for ih := h0; ih < h1; ih++ {
				row := ih * l.w
				for iw := w0; iw < w1; iw++ {
					// v != v: a NaN wins and sticks, so NaNs propagate as in PyTorch.
					if v := x[row+iw]; v > m || (v != v && m == m) {
						m, best = v, row+iw
					}
				}
			}
			y[oh*l.ow+ow] = m
			arg[oh*l.ow+ow] = int32(best)
		}
	}
}

// pool2x2Row pools rows r0 and r1 (the top and bottom of a row of 2×2 windows) into y,
// with the general loop's rules: the first maximum in row-major order wins, a NaN wins
// and sticks. It takes the maximum first and then finds its position, with no branch
// that depends on the data, since the data decides a branch half the time.
// at is the plane offset of r0[0], w the plane's row length.
//
// float32 pools its first multiples of 16 windows on AVX-512 vectors
// (vecmath.MaxPool2x2), to the same values and positions.
func pool2x2Row[T Float](r0, r1, y []T, arg []int32, at, w int32) {
	r0, r1 = r0[:2*len(y)], r1[:2*len(y)]
	arg = arg[:len(y)]
	o0 := 0
	if unsafe.Sizeof(y[0]) == 4 && len(y) > 0 {
		o0 = vecmath.MaxPool2x2(f32(y), arg, f32(r0), f32(r1), at, w)
		at += 2 * int32(o0)
	}
	for o := o0; o < len(y); o++ {
		a, b, c, d := r0[2*o], r0[2*o+1], r1[2*o], r1[2*o+1]
		m := max(max(a, b), max(c, d))
		if m != m { // a NaN: the first one wins
			switch {
			case a != a:
				arg[o] = at
			case b != b:
				arg[o] = at + 1
			case c != c:
				arg[o] = at + w
			default:
				arg[o] = at + w + 1
			}
			y[o] = m
			at += 2
			continue
		}
		k := w + 1
		if c == m {
			k = w
		}
		if b == m {
			k = 1
		}
		if a == m {
			k = 0
		}
		y[o] = m
		arg[o] = at + k
		at += 2
	}
}

func init() {
	Register(&Type{
		Name:   "maxpool",
		Doc:    "spatial max pooling; padding never wins; ceil rounds the output size up as Caffe does",
		Inputs: Arity{1, 1},
		Options: []Option{
			{Key: "kernel", Kind: KindPair, Required: true, Check: atLeast(1), Doc: "window size"},
			{Key: "stride", Kind: KindPair, DefaultFrom: "kernel", Check: atLeast(1), Doc: "step between windows (default: the kernel)"},
			{Key: "pad", Kind: KindPair, Default: [2]int{0, 0}, Check: atLeast(0), Doc: "padding on each side, smaller than the kernel"},
			{Key: "ceil", Kind: KindBool, Default: false, Doc: "round the output size up (Caffe; PyTorch's ceil_mode)"},
		},
		Check: func(a BuildArgs) []Problem {
			o := a.Options
			if k, p := o.Pair("kernel"), o.Pair("pad"); o.Has("kernel") && o.Has("pad") && (p[0] >= k[0] || p[1] >= k[1]) {
				return []Problem{{Key: "pad", Msg: fmt.Sprintf("%s must be smaller than the kernel %s", PairString(p), PairString(k))}}
			}
			return nil
		},
		Build: func(a BuildArgs) ([]Built, error) {
			o := a.Options
			l, err := NewMaxPool(a.Name, MaxPoolConfig{Kernel: sliceOf(o.Pair("kernel")), Stride: sliceOf(o.Pair("stride")),
				Pad: sliceOf(o.Pair("pad")), Ceil: o.Bool("ceil")})
			return single(a, l, err)
		},
		GradCases:    maxpoolGradCases,
		GradVariants: []string{"ceil", "floor", "pad", "stride"},
		Caffe:        "Pooling", ONNX: "MaxPool", Torch: "nn.MaxPool2d",
		CaffeMap: &CaffeMapping{Type: "Pooling", Field: "pooling_param",
			Match:   func(f CaffeFields) bool { p, _ := f["pool"].(string); return p == "" || p == "MAX" },
			ToCaffe: poolToCaffe("MAX"), FromCaffe: poolFromCaffe},
		ONNXExport: onnxMaxPool,
	})
}

func maxpoolGradCases() []GradCase {
	type cfg = MaxPoolConfig
	var cs []GradCase
	for i, tc := range []struct {
		name string
		cfg  cfg
		in   tensor.Shape
	}{
		{"k2_stride2_floor_odd", cfg{Kernel: ints(2)}, tensor.Shape{1, 2, 7, 9}},
		{"k2_stride2_ceil_odd_batch2", cfg{Kernel: ints(2), Ceil: true}, tensor.Shape{2, 3, 7, 5}},
		{"k3_stride2_pad1_ceil", cfg{Kernel: ints(3), Stride: ints(2), Pad: ints(1), Ceil: true}, tensor.Shape{2, 2, 9, 7}},
		{"k3_stride2_pad1_floor", cfg{Kernel: ints(3), Stride: ints(2), Pad: ints(1)}, tensor.Shape{2, 2, 8, 7}},
		{"k3_stride1_pad1_overlap", cfg{Kernel: ints(3), Stride: ints(1), Pad: ints(1)}, tensor.Shape{1, 2, 5, 6}},
		{"k2x3_stride1x2_pad1x0_ceil", cfg{Kernel: ints(2, 3), Stride: ints(1, 2), Pad: ints(1, 0), Ceil: true}, tensor.Shape{2, 1, 5, 8}},
		{"k3_stride3_pad2_ceil", cfg{Kernel: ints(3), Stride: ints(3), Pad: ints(2), Ceil: true}, tensor.Shape{1, 2, 7, 5}},
	} {
		seed := uint64(300 + i)
		cs = append(cs, GradCase{Name: tc.name, Eps: EpsLinear, In: []tensor.Shape{tc.in}, Seed: seed, Want: []string{"input0"},
			Make:   func() (Layer, error) { return NewMaxPool("pool", tc.cfg) },
			Inputs: fixedInput(DistinctValues, seed, tc.in)})
	}
	return cs
}

// poolToCaffe is a pooling layer's pooling_param with pool method.
func poolToCaffe(method string) func(o Options, _ int) (CaffeFields, error) {
	return func(o Options, _ int) (CaffeFields, error) {
		k, s, p := o.Pair("kernel"), o.Pair("stride"), o.Pair("pad")
		f := CaffeFields{"pool": method, "kernel_h": float64(k[0]), "kernel_w": float64(k[1]),
			"stride_h": float64(s[0]), "stride_w": float64(s[1])}
		if k[0] == k[1] && s[0] == s[1] {
			f = CaffeFields{"pool": method, "kernel_size": float64(k[0]), "stride": float64(s[0])}
		}
		if p != [2]int{0, 0} {
			f["pad_h"], f["pad_w"] = float64(p[0]), float64(p[1])
		}
		if !o.Bool("ceil") {
			f["round_mode"] = "FLOOR" // Caffe master's; older Caffe always rounds up
		}
		return f, nil
	}
}

// poolFromCaffe reads pooling_param (Caffe rounds output sizes up: ceil).
func poolFromCaffe(r *CaffeReader, o *Options) error {
	r.Str("pool", "MAX")
	r.Ignore("engine")
	if r.Bool("global_pooling", false) {
		return fmt.Errorf("global_pooling: not supported")
	}
	ceil := r.Str("round_mode", "CEIL") == "CEIL"
	pair := func(key string, def float64) ([2]int, error) {
		hk, wk := key+"_h", key+"_w"
		if key == "kernel_size" {
			hk, wk = "kernel_h", "kernel_w"
		}
		v := r.Num(key, def)
		h, w := r.Num(hk, v), r.Num(wk, v)
		a, ok1 := caffeInt(h)
		b, ok2 := caffeInt(w)
		if !ok1 || !ok2 {
			return [2]int{}, fmt.Errorf("%s: not a non-negative integer", key)
		}
		return [2]int{a, b}, nil
	}
	k, err := pair("kernel_size", 0)
	if err != nil {
		return err
	}
	if k[0] < 1 || k[1] < 1 {
		return fmt.Errorf("kernel_size: required, ≥ 1")
	}
	s, err := pair("stride", 1)
	if err != nil {
		return err
	}
	p, err := pair("pad", 0)
	if err != nil {
		return err
	}
	for _, kv := range []struct {
		k string
		v any
	}{{"kernel", k}, {"stride", s}, {"pad", p}, {"ceil", ceil}} {
		if err := o.Set(kv.k, kv.v); err != nil {
			return err
		}
	}
	return nil
}

func onnxMaxPool(a ONNXArgs) (ONNXOut, error) {
	l, err := onnxLayer[*MaxPool](a)
	if err != nil {
		return ONNXOut{}, err
	}
	ceil := 0
	if l.ceil {
		ceil = 1
	}
	return ONNXOut{Nodes: []ONNXNode{{Op: "MaxPool", Inputs: a.Inputs[:1], Outputs: []string{a.Name}, Attrs: map[string]any{
		"kernel_shape": []int{l.kernel[0], l.kernel[1]},
		"strides":      []int{l.stride[0], l.stride[1]},
		"pads":         []int{l.pad[0], l.pad[1], l.pad[0], l.pad[1]},
		"ceil_mode":    ceil,
	}}}}, nil
}
