package layers

import (
	"fmt"

	"gorgonia.org/tensor"
)

// AvgPoolConfig holds avgpool's hyper-parameters. Spatial fields take one value (both
// axes) or an [h, w] pair, as in experiment files.
type AvgPoolConfig struct {
	Kernel []int // required, ≥ 1
	Stride []int // nil: = kernel; else ≥ 1
	Pad    []int // nil: 0; 0 ≤ pad ≤ kernel/2 (PyTorch's rule)
	// Ceil rounds the output size up (Caffe; PyTorch's ceil_mode); the last window must
	// still start inside the input or the left padding.
	Ceil bool
	// CountIncludePad divides by the window clipped to the padded input (PyTorch's
	// default, Caffe's AVE) instead of by the input positions it covers.
	CountIncludePad bool
}

// AvgPool is spatial average pooling with PyTorch's AvgPool2d output size and divisor
// (divisor_override unset). Padding counts as zeros.
type AvgPool struct {
	name string
	poolGeometry
	includePad bool
}

// NewAvgPool validates cfg and returns the layer.
func NewAvgPool(name string, cfg AvgPoolConfig) (*AvgPool, error) {
	g, err := newPoolGeometry(layerPrefix("avgpool", name), cfg.Kernel, cfg.Stride, cfg.Pad, cfg.Ceil)
	if err != nil {
		return nil, err
	}
	for a := range 2 {
		if g.pad[a] > g.kernel[a]/2 {
			return nil, fmt.Errorf("%s: pad %v must be at most half the kernel %v (PyTorch's rule)", g.prefix, g.pad, g.kernel)
		}
	}
	return &AvgPool{name: name, poolGeometry: g, includePad: cfg.CountIncludePad}, nil
}

// Name is the layer's node name.
func (l *AvgPool) Name() string { return l.name }

// Type implements Layer.
func (l *AvgPool) Type() string { return "avgpool" }

// Params implements Layer: avgpool has none.
func (l *AvgPool) Params() []*Param { return nil }

// Footprint implements Footprinter: the pooled output.
func (l *AvgPool) Footprint(in []tensor.Shape) (Footprint, error) {
	out, err := l.poolGeometry.footprintShape(in)
	return Footprint{Out: out}, err
}

// Setup implements Layer.
func (l *AvgPool) Setup(in []tensor.Shape, dt tensor.Dtype) (tensor.Shape, error) {
	return l.setup(in, dt)
}

// window is output index o's input range [lo, hi) along axis a, clipped to the input,
// and the number of positions its divisor counts along that axis: as PyTorch, the
// window clipped to the padded extent (includePad) or to the input.
func (l *AvgPool) window(a, o, size int) (lo, hi, count int) {
	lo = o*l.stride[a] - l.pad[a]
	hi = min(lo+l.kernel[a], size+l.pad[a])
	count = hi - lo
	lo, hi = max(lo, 0), min(hi, size)
	if !l.includePad {
		count = hi - lo
	}
	return lo, hi, count
}

// Forward implements Layer.
func (l *AvgPool) Forward(in []*tensor.Dense, out *tensor.Dense) {
	if isFloat32(out) {
		avgpoolRun(l, floatsOf[float32](in[0]), floatsOf[float32](out), false)
	} else {
		avgpoolRun(l, floatsOf[float64](in[0]), floatsOf[float64](out), false)
	}
}

// Backward implements Layer: each output's gradient, over its divisor, goes to every
// input position of its window.
func (l *AvgPool) Backward(in []*tensor.Dense, out, dOut *tensor.Dense, dIn []*tensor.Dense) {
	if dIn[0] == nil {
		return
	}
	if isFloat32(out) {
		avgpoolRun(l, floatsOf[float32](dIn[0]), floatsOf[float32](dOut), true)
	} else {
		avgpoolRun(l, floatsOf[float64](dIn[0]), floatsOf[float64](dOut), true)
	}
}

// avgpoolRun computes y from x (forward) or adds y's gradient into x (backward).
func avgpoolRun[T Float](l *AvgPool, x, y []T, backward bool) {
	plane, oplane := l.h*l.w, l.oh*l.ow
	for p := range l.n * l.c {
		xp, yp := x[p*plane:(p+1)*plane], y[p*oplane:(p+1)*oplane]
		for oy := range l.oh {
			y0, y1, cy := l.window(0, oy, l.h)
			for ox := range l.ow {
				x0, x1, cx := l.window(1, ox, l.w)
				inv := 1 / T(cy*cx)
				if backward {
					g := yp[oy*l.ow+ox] * inv
					for iy := y0; iy < y1; iy++ {
						row := xp[iy*l.w : (iy+1)*l.w]
						for ix := x0; ix < x1; ix++ {
							row[ix] += g
						}
					}
					continue
				}
				var sum T
				for iy := y0; iy < y1; iy++ {
					for _, v := range xp[iy*l.w+x0 : iy*l.w+x1] {
						sum += v
					}
				}
				yp[oy*l.ow+ox] = sum * inv
			}
		}
	}
}

func init() {
	Register(&Type{
		Name:   "avgpool",
		Doc:    "spatial average pooling with PyTorch's AvgPool2d sizes and divisors; ceil rounds the output size up as Caffe does",
		Inputs: Arity{1, 1},
		Options: []Option{
			{Key: "kernel", Kind: KindPair, Required: true, Check: atLeast(1), Doc: "window size"},
			{Key: "stride", Kind: KindPair, DefaultFrom: "kernel", Check: atLeast(1), Doc: "step between windows (default: the kernel)"},
			{Key: "pad", Kind: KindPair, Default: [2]int{0, 0}, Check: atLeast(0), Doc: "zero padding on each side, at most half the kernel"},
			{Key: "ceil", Kind: KindBool, Default: false, Doc: "round the output size up (Caffe; PyTorch's ceil_mode)"},
			{Key: "count_include_pad", Kind: KindBool, Default: true,
				Doc: "divide by the window clipped to the padded input (PyTorch's default, Caffe's AVE), not by its input positions"},
		},
		Check: func(a BuildArgs) []Problem {
			o := a.Options
			if k, p := o.Pair("kernel"), o.Pair("pad"); o.Has("kernel") && o.Has("pad") && (p[0] > k[0]/2 || p[1] > k[1]/2) {
				return []Problem{{Key: "pad", Msg: fmt.Sprintf("%s must be at most half the kernel %s", PairString(p), PairString(k))}}
			}
			return nil
		},
		Build: func(a BuildArgs) ([]Built, error) {
			o := a.Options
			l, err := NewAvgPool(a.Name, AvgPoolConfig{Kernel: sliceOf(o.Pair("kernel")), Stride: sliceOf(o.Pair("stride")),
				Pad: sliceOf(o.Pair("pad")), Ceil: o.Bool("ceil"), CountIncludePad: o.Bool("count_include_pad")})
			return single(a, l, err)
		},
		GradCases:    avgpoolGradCases,
		GradVariants: []string{"ceil", "floor", "pad", "stride", "exclude_pad", "batch"},
		Caffe:        "Pooling", ONNX: "AveragePool", Torch: "nn.AvgPool2d",
		CaffeMap: &CaffeMapping{Type: "Pooling", Field: "pooling_param",
			Match:   func(f CaffeFields) bool { p, _ := f["pool"].(string); return p == "AVE" },
			ToCaffe: avgpoolToCaffe, FromCaffe: poolFromCaffe},
		ONNXExport: onnxAvgPool,
	})
}

func avgpoolGradCases() []GradCase {
	type cfg = AvgPoolConfig
	var cs []GradCase
	for i, tc := range []struct {
		name string
		cfg  cfg
		in   tensor.Shape
	}{
		{"k2_stride2_floor_odd", cfg{Kernel: ints(2), CountIncludePad: true}, tensor.Shape{1, 2, 7, 9}},
		{"k2_stride2_ceil_odd_batch2", cfg{Kernel: ints(2), Ceil: true, CountIncludePad: true}, tensor.Shape{2, 3, 7, 5}},
		{"k3_stride2_pad1_ceil", cfg{Kernel: ints(3), Stride: ints(2), Pad: ints(1), Ceil: true, CountIncludePad: true}, tensor.Shape{2, 2, 8, 7}},
		{"k3_stride2_pad1_ceil_exclude_pad", cfg{Kernel: ints(3), Stride: ints(2), Pad: ints(1), Ceil: true}, tensor.Shape{2, 2, 8, 7}},
		{"k3_stride1_pad1_overlap", cfg{Kernel: ints(3), Stride: ints(1), Pad: ints(1), CountIncludePad: true}, tensor.Shape{1, 2, 5, 6}},
		{"k2x3_stride1x2_pad1x0_ceil", cfg{Kernel: ints(2, 3), Stride: ints(1, 2), Pad: ints(1, 0), Ceil: true, CountIncludePad: true}, tensor.Shape{2, 1, 5, 8}},
	} {
		seed := uint64(1700 + i)
		cs = append(cs, GradCase{Name: tc.name, Eps: EpsLinear, In: []tensor.Shape{tc.in}, Seed: seed, Want: []string{"input0"},
			Make:   func() (Layer, error) { return NewAvgPool("pool", tc.cfg) },
			Inputs: fixedInput(DistinctValues, seed, tc.in)})
	}
	return cs
}

// avgpoolToCaffe is pooling_param AVE; Caffe divides by the window clipped to the padded
// input, which is count_include_pad.
func avgpoolToCaffe(o Options, classes int) (CaffeFields, error) {
	if !o.Bool("count_include_pad") {
		return nil, fmt.Errorf("count_include_pad: false; Caffe's AVE pooling counts the padding")
	}
	return poolToCaffe("AVE")(o, classes)
}

func onnxAvgPool(a ONNXArgs) (ONNXOut, error) {
	l, err := onnxLayer[*AvgPool](a)
	if err != nil {
		return ONNXOut{}, err
	}
	b := func(v bool) int {
		if v {
			return 1
		}
		return 0
	}
	return ONNXOut{Nodes: []ONNXNode{{Op: "AveragePool", Inputs: a.Inputs[:1], Outputs: []string{a.Name}, Attrs: map[string]any{
		"kernel_shape":      []int{l.kernel[0], l.kernel[1]},
		"strides":           []int{l.stride[0], l.stride[1]},
		"pads":              []int{l.pad[0], l.pad[1], l.pad[0], l.pad[1]},
		"ceil_mode":         b(l.ceil),
		"count_include_pad": b(l.includePad),
	}}}}, nil
}
