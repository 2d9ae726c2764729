package layers

import (
	"fmt"

	"gorgonia.org/tensor"
)

// The conv layer type as experiment files write it; deconv (deconv_register.go) shares
// its options.

func init() {
	Register(&Type{
		Name:    "conv",
		Doc:     "2-D convolution with stride, padding, dilation, groups and bias (PyTorch's Conv2d)",
		Inputs:  Arity{1, 1},
		Options: append(convOptions(convInits, ""), optLRMult, optDecayMult, optLearn),
		Check:   func(a BuildArgs) []Problem { return convProblems(a, false) },
		Build: func(a BuildArgs) ([]Built, error) {
			l, err := NewConv(a.Name, convConfigOf(a))
			return single(a, l, err)
		},
		GradCases:    convGradCases,
		GradVariants: []string{"stride2", "stride3", "pad", "dilation", "groups", "batch", "k1", "nobias", "odd"},
		Caffe:        "Convolution", ONNX: "Conv", Torch: "nn.Conv2d",
		CaffeMap: &CaffeMapping{Type: "Convolution", Field: "convolution_param", Blobs: []string{"weight", "bias"}, Dims: []int{4, 1},
			ToCaffe: convToCaffe, FromCaffe: convFromCaffe},
		ONNXExport: onnxConv,
	})
}

// convOptions are the options conv and deconv share, in the order experiment files list
// them; inits[0] is the default initialisation, initDoc documents what the type adds.
func convOptions(inits []string, initDoc string) []Option {
	return []Option{
		{Key: "out", Kind: KindChannels, Required: true, Check: atLeast(1),
			Doc: "output channels, or `classes` for model.classes"},
		{Key: "kernel", Kind: KindPair, Required: true, Check: atLeast(1), Doc: "window size kh×kw"},
		{Key: "stride", Kind: KindPair, Default: [2]int{1, 1}, Check: atLeast(1), Doc: "step between windows"},
		{Key: "pad", Kind: KindPair, Default: [2]int{0, 0}, Check: atLeast(0), Doc: "zero padding on each side"},
		{Key: "dilation", Kind: KindPair, Default: [2]int{1, 1}, Check: atLeast(1), Doc: "spacing between kernel taps"},
		{Key: "groups", Kind: KindInt, Default: 1, Check: atLeast(1),
			Doc: "channel groups convolved separately; divides the input and output channels"},
		{Key: "bias", Kind: KindBool, Default: true, Doc: "add a learned per-channel bias"},
		{Key: "init", Kind: KindString, Default: inits[0], Choices: inits, ModelDefault: "init",
			Doc: "weight initialisation: he (Kaiming normal, fan_in), xavier (Glorot uniform), gaussian (needs std), zero, pytorch (PyTorch's default: weight and bias uniform ±1/√fan_in, fan_in = weight.size(1)·kh·kw)" + initDoc},
		{Key: "std", Kind: KindFloat, Check: positive, Doc: "standard deviation for init: gaussian"},
	}
}

// convProblems checks what involves several conv/deconv options or the class count.
func convProblems(a BuildArgs, deconv bool) []Problem {
	o := a.Options
	var ps []Problem
	if g := o.Int("groups"); o.Has("groups") && g >= 1 {
		if out := o.Channels("out").Count(a.Classes); o.Has("out") && out > 0 && out%g != 0 {
			ps = append(ps, Problem{Key: "groups", Msg: fmt.Sprintf("%d does not divide the %d output channels", g, out)})
		}
	}
	init := o.String("init")
	switch {
	case o.Has("std") && init != "gaussian":
		ps = append(ps, Problem{Key: "std", Msg: fmt.Sprintf("applies only to init: gaussian (init is %s)", init)})
	case !o.Has("std") && init == "gaussian" && !(deconv && o.String("mode") != "" && o.String("mode") != "random"):
		// A deconv mode other than random sets its own init: std is then not needed.
		ps = append(ps, Problem{Key: "std", Msg: "required with init: gaussian"})
	}
	return ps
}

// convConfigOf turns registry options into the constructor's config, defaults filled.
func convConfigOf(a BuildArgs) ConvConfig {
	o := a.Options
	lr, decay := o.Float("lr_mult"), o.Float("decay_mult")
	return ConvConfig{
		Out:       o.Channels("out").Count(a.Classes),
		Kernel:    sliceOf(o.Pair("kernel")),
		Stride:    sliceOf(o.Pair("stride")),
		Pad:       sliceOf(o.Pair("pad")),
		Dilation:  sliceOf(o.Pair("dilation")),
		Groups:    o.Int("groups"),
		Bias:      boolPtr(o.Bool("bias")),
		Init:      o.String("init"),
		Std:       o.Float("std"),
		LRMult:    &lr,
		DecayMult: &decay,
		Learn:     boolPtr(o.Bool("learn")),
	}
}

// wantBias lists input0, weight and, if bias, bias: what a conv or deconv compares.
func wantBias(bias bool) []string {
	if bias {
		return []string{"input0", "weight", "bias"}
	}
	return []string{"input0", "weight"}
}

// withAndWithoutBias makes two cases of each configuration, with a bias and without.
func withAndWithoutBias(name string, seed uint64, in tensor.Shape, make func(bias *bool) (Layer, error)) []GradCase {
	var cs []GradCase
	for _, bias := range []bool{true, false} {
		n := name
		if !bias {
			n += "_nobias"
		}
		cs = append(cs, GradCase{Name: n, Eps: EpsLinear, In: []tensor.Shape{in}, Seed: seed + uint64(bit(bias)),
			Make: func() (Layer, error) { return make(boolPtr(bias)) }, Want: wantBias(bias)})
	}
	return cs
}

func convGradCases() []GradCase {
	type cfg = ConvConfig
	var cs []GradCase
	for i, tc := range []struct {
		name string
		cfg  cfg
		in   tensor.Shape
	}{
		{"k3_pad1_odd7x5_batch2", cfg{Out: 4, Kernel: ints(3), Pad: ints(1)}, tensor.Shape{2, 3, 7, 5}},
		{"k3_stride2_pad1", cfg{Out: 3, Kernel: ints(3), Stride: ints(2), Pad: ints(1)}, tensor.Shape{2, 2, 9, 7}},
		{"k3x2_stride3_pad1x0", cfg{Out: 2, Kernel: ints(3, 2), Stride: ints(3), Pad: ints(1, 0)}, tensor.Shape{3, 2, 7, 5}},
		{"k3_dilation2_pad2", cfg{Out: 3, Kernel: ints(3), Dilation: ints(2), Pad: ints(2)}, tensor.Shape{2, 2, 7, 5}},
		{"k3_groups2", cfg{Out: 6, Kernel: ints(3), Pad: ints(1), Groups: 2}, tensor.Shape{2, 4, 5, 7}},
		{"k3_depthwise_stride2", cfg{Out: 6, Kernel: ints(3), Stride: ints(2), Pad: ints(1), Groups: 3}, tensor.Shape{2, 3, 7, 5}},
		{"k1_pointwise_batch3", cfg{Out: 5, Kernel: ints(1)}, tensor.Shape{3, 4, 7, 5}},
		{"k1_stride2", cfg{Out: 3, Kernel: ints(1), Stride: ints(2)}, tensor.Shape{2, 2, 7, 5}},
		{"k3x2_stride2x3_pad2x1_dil2x1", cfg{Out: 2, Kernel: ints(3, 2), Stride: ints(2, 3), Pad: ints(2, 1), Dilation: ints(2, 1)}, tensor.Shape{2, 3, 9, 7}},
		{"k5_stride2_pad2_on_3x3", cfg{Out: 2, Kernel: ints(5), Stride: ints(2), Pad: ints(2)}, tensor.Shape{2, 2, 3, 3}},
	} {
		cs = append(cs, withAndWithoutBias(tc.name, uint64(100+2*i), tc.in, func(bias *bool) (Layer, error) {
			c := tc.cfg
			c.Bias = bias
			return NewConv("conv", c)
		})...)
	}
	// Precision bf16 changes float32 products only: a float64 check stays exact.
	if BF16.Supported() == nil {
		cs = append(cs, GradCase{Name: "k3_pad1_precision_bf16", Eps: EpsLinear, In: []tensor.Shape{{2, 3, 7, 5}}, Seed: 150,
			Make: func() (Layer, error) {
				l, err := NewConv("conv", ConvConfig{Out: 4, Kernel: ints(3), Pad: ints(1)})
				if err != nil {
					return nil, err
				}
				return l, l.SetPrecision(BF16)
			}, Want: wantBias(true)})
	}
	return cs
}

func onnxConv(a ONNXArgs) (ONNXOut, error) {
	l, err := onnxLayer[*Conv](a)
	if err != nil {
		return ONNXOut{}, err
	}
	in := []string{a.Inputs[0], a.Name + ".weight"}
	if l.bias != nil {
		in = append(in, a.Name+".bias")
	}
	return ONNXOut{Nodes: []ONNXNode{{Op: "Conv", Inputs: in, Outputs: []string{a.Name}, Attrs: onnxConvAttrs(l.sp, l.sp.p, l.sp.p)}}}, nil
}
