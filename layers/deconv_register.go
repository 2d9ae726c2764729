package layers

import (
	"fmt"

	"gorgonia.org/tensor"
)

// The deconv layer type as experiment files write it: conv's options plus
// output_padding, same and the upsampling mode.

// UpsampleModes are a deconv's modes (DeconvConfig.Mode), and model.upsample's values.
var UpsampleModes = []string{"learned", "frozen", "random", "resize_conv", "bilinear"}

func init() {
	opts := append(convOptions(deconvInits, ", bilinear (FCN's upsampling; the default)"),
		Option{Key: "output_padding", Kind: KindPair, Default: [2]int{0, 0}, Check: atLeast(0),
			Doc: "rows/columns added at the bottom/right of the output (PyTorch's output_padding)"},
		Option{Key: "same", Kind: KindBool, Default: false,
			Doc: "output = input·stride with TensorFlow's SAME padding; pad and output_padding must be 0"},
		Option{Key: "mode", Kind: KindString, Choices: UpsampleModes, ModelKey: "upsample",
			Doc: "upsampling mode, overriding init and learn: learned, frozen, random, resize_conv (resize + conv), bilinear (fixed, no parameters)"},
		optLRMult, optDecayMult, optLearn)
	Register(&Type{
		Name:    "deconv",
		Doc:     "transposed convolution, FCN's upsampling (PyTorch's ConvTranspose2d, Caffe's Deconvolution)",
		Inputs:  Arity{1, 1},
		Options: opts,
		Check:   deconvProblems,
		Build: func(a BuildArgs) ([]Built, error) {
			if a.Options.String("mode") == "resize_conv" {
				return resizeConv(a)
			}
			o := a.Options
			l, err := NewDeconv(a.Name, DeconvConfig{
				ConvConfig:    convConfigOf(a),
				OutputPadding: sliceOf(o.Pair("output_padding")),
				Same:          o.Bool("same"),
				Mode:          o.String("mode"),
			})
			return single(a, l, err)
		},
		GradCases:    deconvGradCases,
		GradVariants: []string{"same", "odd_total", "even_total", "output_padding", "groups", "dilation", "stride", "learned_bilinear", "frozen"},
		Caffe:        "Deconvolution", ONNX: "ConvTranspose", Torch: "nn.ConvTranspose2d",
		CaffeMap: &CaffeMapping{Type: "Deconvolution", Field: "convolution_param", Blobs: []string{"weight", "bias"}, Dims: []int{4, 1},
			ToCaffe: deconvToCaffe, FromCaffe: deconvFromCaffe},
		ONNXExport: onnxDeconv,
	})
}

func deconvProblems(a BuildArgs) []Problem {
	ps := convProblems(a, true)
	o := a.Options
	op, s, d := o.Pair("output_padding"), o.Pair("stride"), o.Pair("dilation")
	for ax := range 2 {
		if op[ax] >= s[ax] && op[ax] >= d[ax] {
			ps = append(ps, Problem{Key: "output_padding", Msg: fmt.Sprintf("%s must be smaller than the stride %s or the dilation %s",
				PairString(op), PairString(s), PairString(d))})
			break
		}
	}
	if o.Bool("same") && (o.Pair("pad") != [2]int{} || op != [2]int{}) {
		ps = append(ps, Problem{Key: "same", Msg: "computes its own padding: pad and output_padding must be 0"})
	}
	return ps
}

// resizeConv replaces a deconv (kernel k, stride s, pad p) by a resize by s followed by a
// 3×3 (or 4×4) stride-1 convolution whose padding makes both the output size and Caffe's
// coordinate map equal to the deconv's, so crops and sums downstream line up unchanged:
// deconv: out = (in−1)·s − 2p + k, offset (k−1)/2 − p; resize+conv (kernel q, pad r):
// out = in·s + 2r − q + 1, offset (s−1)/2 + r − (q−1)/2. Both agree when
// r = (k − s − 2p + q − 1)/2, so q is 3 when k − s − 2p is even and 4 when it is odd.
// The resize is the node `<name>_resize`; the conv carries the deconv's name, so that
// downstream layers and checkpoints see the same name.
func resizeConv(a BuildArgs) ([]Built, error) {
	o := a.Options
	k, s, p := o.Pair("kernel"), o.Pair("stride"), o.Pair("pad")
	if o.Bool("same") || o.Pair("output_padding") != [2]int{} || o.Pair("dilation") != [2]int{1, 1} || o.Int("groups") != 1 {
		return nil, fmt.Errorf("mode resize_conv needs a plain deconv (no same, output_padding, dilation or groups)")
	}
	var q, r [2]int
	for ax := range 2 {
		d := k[ax] - s[ax] - 2*p[ax]
		q[ax] = 3
		if d%2 != 0 {
			q[ax] = 4
		}
		r[ax] = (d + q[ax] - 1) / 2
		if r[ax] < 0 {
			return nil, fmt.Errorf("mode resize_conv: kernel %d, stride %d and pad %d would need a negative padding", k[ax], s[ax], p[ax])
		}
	}
	resizeName := a.Name + "_resize"
	rs, err := NewResize(resizeName, ResizeConfig{Factor: sliceOf(s), Mode: ResizeNearest})
	if err != nil {
		return nil, err
	}
	cfg := convConfigOf(a)
	cfg.Kernel, cfg.Stride, cfg.Pad = sliceOf(q), []int{1, 1}, sliceOf(r)
	if !o.Has("init") || o.String("init") == "bilinear" {
		cfg.Init = convInits[0]
	}
	cfg.Learn = boolPtr(true)
	cv, err := NewConv(a.Name, cfg)
	if err != nil {
		return nil, err
	}
	return []Built{
		{Name: resizeName, Layer: rs, Inputs: a.Inputs},
		{Name: a.Name, Layer: cv, Inputs: []string{resizeName}},
	}, nil
}

func deconvGradCases() []GradCase {
	type cfg = ConvConfig
	dc := func(c cfg) DeconvConfig { return DeconvConfig{ConvConfig: c} }
	var cs []GradCase
	for i, tc := range []struct {
		name string
		cfg  DeconvConfig
		in   tensor.Shape
	}{
		{"k4_stride2_pad1_odd5x3_batch2", dc(cfg{Out: 3, Kernel: ints(4), Stride: ints(2), Pad: ints(1), Init: "he"}), tensor.Shape{2, 3, 5, 3}},
		{"k3_stride3_pad1", dc(cfg{Out: 2, Kernel: ints(3), Stride: ints(3), Pad: ints(1), Init: "he"}), tensor.Shape{2, 3, 4, 3}},
		{"k3_stride2_output_padding1", DeconvConfig{ConvConfig: cfg{Out: 3, Kernel: ints(3), Stride: ints(2), Init: "he"}, OutputPadding: ints(1)}, tensor.Shape{2, 2, 5, 4}},
		{"k3_stride3_pad1_output_padding2", DeconvConfig{ConvConfig: cfg{Out: 2, Kernel: ints(3), Stride: ints(3), Pad: ints(1), Init: "he"}, OutputPadding: ints(2)}, tensor.Shape{3, 2, 4, 3}},
		{"k3_dilation2_output_padding1", DeconvConfig{ConvConfig: cfg{Out: 2, Kernel: ints(3), Dilation: ints(2), Pad: ints(1), Init: "he"}, OutputPadding: ints(1)}, tensor.Shape{2, 3, 5, 4}},
		{"same_k3_stride2_odd_total", DeconvConfig{ConvConfig: cfg{Out: 2, Kernel: ints(3), Stride: ints(2), Init: "he"}, Same: true}, tensor.Shape{2, 2, 5, 4}},
		{"same_k4_stride2_even_total", DeconvConfig{ConvConfig: cfg{Out: 2, Kernel: ints(4), Stride: ints(2), Init: "he"}, Same: true}, tensor.Shape{2, 2, 3, 5}},
		{"same_k6_stride3_odd_total", DeconvConfig{ConvConfig: cfg{Out: 2, Kernel: ints(6), Stride: ints(3), Init: "he"}, Same: true}, tensor.Shape{2, 2, 3, 3}},
		{"same_k1_stride2_negative_total", DeconvConfig{ConvConfig: cfg{Out: 2, Kernel: ints(1), Stride: ints(2), Init: "he"}, Same: true}, tensor.Shape{2, 2, 3, 4}},
		{"same_k3x4_stride2x3_dil2x1", DeconvConfig{ConvConfig: cfg{Out: 2, Kernel: ints(3, 4), Stride: ints(2, 3), Dilation: ints(2, 1), Init: "he"}, Same: true}, tensor.Shape{2, 2, 3, 4}},
		{"k3_stride2_groups2", dc(cfg{Out: 6, Kernel: ints(3), Stride: ints(2), Pad: ints(1), Groups: 2, Init: "he"}), tensor.Shape{2, 4, 4, 3}},
		{"k4_stride2_depthwise", dc(cfg{Out: 3, Kernel: ints(4), Stride: ints(2), Pad: ints(1), Groups: 3, Init: "he"}), tensor.Shape{2, 3, 4, 5}},
		{"k3_stride2_dilation2_pad1", dc(cfg{Out: 2, Kernel: ints(3), Stride: ints(2), Dilation: ints(2), Pad: ints(1), Init: "he"}), tensor.Shape{2, 3, 4, 3}},
		{"k2x3_stride2x1_pad0x1", dc(cfg{Out: 3, Kernel: ints(2, 3), Stride: ints(2, 1), Pad: ints(0, 1), Init: "he"}), tensor.Shape{2, 2, 3, 5}},
		{"k1_pointwise_batch3", dc(cfg{Out: 4, Kernel: ints(1), Init: "he"}), tensor.Shape{3, 3, 5, 3}},
	} {
		cs = append(cs, withAndWithoutBias(tc.name, uint64(200+2*i), tc.in, func(bias *bool) (Layer, error) {
			c := tc.cfg
			c.Bias = bias
			return NewDeconv("deconv", c)
		})...)
	}
	if BF16.Supported() == nil { // as for conv: float64 stays exact under bf16
		cs = append(cs, GradCase{Name: "k4_stride2_pad1_precision_bf16", Eps: EpsLinear, In: []tensor.Shape{{2, 3, 5, 3}}, Seed: 250,
			Make: func() (Layer, error) {
				l, err := NewDeconv("deconv", DeconvConfig{ConvConfig: ConvConfig{Out: 3, Kernel: ints(4), Stride: ints(2), Pad: ints(1), Init: "he"}})
				if err != nil {
					return nil, err
				}
				return l, l.SetPrecision(BF16)
			}, Want: wantBias(true)})
	}
	// FCN's upsampling as it starts: bilinear weights on the channel diagonal (kept, not
	// redrawn), learned — weight gradient checked — or frozen, where only the input
	// gradient exists. "bilinear" mode has no parameters at all.
	up := func(mode string, k, s, p int) DeconvConfig {
		return DeconvConfig{ConvConfig: cfg{Out: 3, Kernel: ints(k), Stride: ints(s), Pad: ints(p), Bias: boolPtr(false)}, Mode: mode}
	}
	for i, tc := range []struct {
		name string
		cfg  DeconvConfig
		in   tensor.Shape
		want []string
	}{
		{"learned_bilinear_k4_stride2", up("learned", 4, 2, 0), tensor.Shape{2, 3, 5, 4}, []string{"input0", "weight"}},
		{"learned_bilinear_k16_stride8_pad4", up("learned", 16, 8, 4), tensor.Shape{1, 3, 3, 2}, []string{"input0", "weight"}},
		{"frozen_bilinear_k4_stride2_pad1", up("frozen", 4, 2, 1), tensor.Shape{2, 3, 5, 4}, []string{"input0"}},
		{"frozen_bilinear_k8_stride4", up("frozen", 8, 4, 0), tensor.Shape{2, 3, 3, 3}, []string{"input0"}},
		{"fixed_bilinear_k4_stride2", up("bilinear", 4, 2, 1), tensor.Shape{2, 3, 4, 5}, []string{"input0"}}} {
		cs = append(cs, GradCase{Name: tc.name, Eps: EpsLinear, In: []tensor.Shape{tc.in}, Seed: uint64(250 + i), KeepParams: true, Want: tc.want,
			Make: func() (Layer, error) {
				l, err := NewDeconv("upscore", tc.cfg)
				return trainableOnly{l}, err
			}})
	}
	return cs
}

// deconvToCaffe is conv's convolution_param, refusing what Caffe's Deconvolution lacks.
func deconvToCaffe(o Options, classes int) (CaffeFields, error) {
	if o.Pair("output_padding") != [2]int{0, 0} || o.Bool("same") {
		return nil, fmt.Errorf("output_padding and same have no Caffe Deconvolution field")
	}
	switch m := o.String("mode"); m {
	case "", "learned", "random":
	case "frozen":
		// Frozen is bilinear and learn false; interop writes learn from the layer's
		// multipliers, which a mode overrides, so it is refused rather than half-written.
		if o.Bool("learn") {
			return nil, fmt.Errorf("mode frozen: write init: bilinear, learn: false instead")
		}
	default:
		return nil, fmt.Errorf("mode %s has no Caffe Deconvolution", m)
	}
	return convToCaffe(o, classes)
}

// deconvFromCaffe is conv's mapping, except that a Deconvolution without a
// weight_filler (FCN's nets) becomes init: bilinear: Caffe would start it at 0, but
// FCN's solve.py always fills these with bilinear weights (surgery.interp) first.
func deconvFromCaffe(r *CaffeReader, o *Options) error {
	if !r.Has("weight_filler.type") {
		r.Fields["weight_filler.type"] = "bilinear"
		r.Note("no weight_filler: init bilinear, as FCN's solve.py sets (surgery.interp); Caffe alone would start at 0")
	}
	return convFromCaffe(r, o)
}

func onnxDeconv(a ONNXArgs) (ONNXOut, error) {
	l, err := onnxLayer[*Deconv](a)
	if err != nil {
		return ONNXOut{}, err
	}
	var out ONNXOut
	in := []string{a.Inputs[0], a.Name + ".weight"}
	if l.noParam {
		// mode bilinear: the fixed kernel is not a model tensor; it goes in as a constant.
		w := l.weight.Value
		data, ok := w.Data().([]float32)
		if !ok {
			return out, fmt.Errorf("%s: ONNX export needs a float32 model", a.Name)
		}
		out.Consts = append(out.Consts, ONNXConst{Name: a.Name + ".weight", Dims: w.Shape(), Floats: append([]float32(nil), data...)})
	}
	if l.bias != nil {
		in = append(in, a.Name+".bias")
	}
	tl, br, op := l.pad, l.sp.p, l.op
	if l.same {
		// TensorFlow's SAME: the total crop P = k_eff − s (output = input·stride) split
		// ⌊P/2⌋ top/left, the rest bottom/right; a negative P is extra output rows.
		for ax := range 2 {
			p := l.sp.d[ax]*(l.sp.k[ax]-1) + 1 - l.sp.s[ax]
			if p < 0 {
				tl[ax], br[ax], op[ax] = 0, 0, -p
				continue
			}
			tl[ax], br[ax] = p/2, p-p/2
		}
	}
	// output_padding only lowers the bottom/right crop, and ONNX Runtime wants it below
	// the stride: write it as a smaller end pad wherever the pad allows.
	for ax := range 2 {
		m := min(op[ax], br[ax])
		op[ax], br[ax] = op[ax]-m, br[ax]-m
		if op[ax] > 0 && op[ax] >= l.sp.s[ax] {
			return out, fmt.Errorf("%s: output_padding %d beyond the end pad needs a stride above it for ONNX (stride %d)", a.Name, op[ax], l.sp.s[ax])
		}
	}
	attrs := onnxConvAttrs(l.sp, tl, br)
	attrs["output_padding"] = []int{op[0], op[1]}
	out.Nodes = []ONNXNode{{Op: "ConvTranspose", Inputs: in, Outputs: []string{a.Name}, Attrs: attrs}}
	return out, nil
}
