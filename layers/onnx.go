package layers

import "fmt"

// The neutral ONNX mapping of a layer type: Type.ONNXExport turns one node of a built
// graph into ONNX nodes, with attributes as plain Go values and parameters referred to
// by fcn's tensor names ("conv1_1.weight"), so that package layers needs no protobuf;
// interop/onnx turns these into protos.

// ONNXArgs is one built graph node as the exporter sees it.
type ONNXArgs struct {
	Name     string   // node name, also its output tensor's name
	Inputs   []string // the tensors it reads (graph inputs or node names)
	Layer    Layer    // the layer as the graph set it up (crop offsets resolved)
	InShapes [][]int  // the input shapes of the export's sample build
	Opset    int
}

// ONNXNode is one ONNX operator. Attrs values are int, []int, float64, []float64 or
// string. Inputs name tensors: a node's output, a graph input, a model tensor by its
// fcn name, an ONNXConst of the same export, or "" for an omitted optional input.
type ONNXNode struct {
	Op      string
	Inputs  []string
	Outputs []string
	Attrs   map[string]any
}

// ONNXConst is a constant tensor a mapping adds (shapes, slice bounds, fixed weights):
// Floats (float32) or Ints (int64), with Dims.
type ONNXConst struct {
	Name   string
	Dims   []int
	Floats []float32
	Ints   []int64
}

// ONNXOut is what a mapping returns. Alias, when set, says the node is the identity of
// that tensor (dropout at inference): no ONNX node, readers of the node read Alias.
type ONNXOut struct {
	Nodes  []ONNXNode
	Consts []ONNXConst
	Alias  string
}

func ints64(v ...int) []int64 {
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = int64(x)
	}
	return out
}

// onnxLayer asserts the layer's Go type, for mappings.
func onnxLayer[T Layer](a ONNXArgs) (T, error) {
	l, ok := a.Layer.(T)
	if !ok {
		var zero T
		return zero, fmt.Errorf("%s: ONNX export got a %T layer", a.Name, a.Layer)
	}
	return l, nil
}

// onnxConvAttrs are Conv's and ConvTranspose's shared attributes.
func onnxConvAttrs(sp convSpec, padTL, padBR [2]int) map[string]any {
	return map[string]any{
		"kernel_shape": []int{sp.k[0], sp.k[1]},
		"strides":      []int{sp.s[0], sp.s[1]},
		"pads":         []int{padTL[0], padTL[1], padBR[0], padBR[1]},
		"dilations":    []int{sp.d[0], sp.d[1]},
		"group":        sp.groups,
	}
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

func onnxUnary(op string) func(ONNXArgs) (ONNXOut, error) {
	return func(a ONNXArgs) (ONNXOut, error) {
		return ONNXOut{Nodes: []ONNXNode{{Op: op, Inputs: a.Inputs[:1], Outputs: []string{a.Name}}}}, nil
	}
}

func onnxDropout(a ONNXArgs) (ONNXOut, error) { return ONNXOut{Alias: a.Inputs[0]}, nil }

func onnxPReLU(a ONNXArgs) (ONNXOut, error) {
	l, err := onnxLayer[*PReLU](a)
	if err != nil {
		return ONNXOut{}, err
	}
	// The slope keeps fcn's shape, (C,) or (1,); ONNX broadcasts from the right, so a
	// Reshape makes it (C, 1, 1) against N×C×H×W.
	n := 1
	if !l.cfg.Shared {
		if len(a.InShapes) == 0 || len(a.InShapes[0]) < 2 {
			return ONNXOut{}, fmt.Errorf("%s: ONNX export needs the input shape", a.Name)
		}
		n = a.InShapes[0][1]
	}
	shape, slope := a.Name+"/slope_shape", a.Name+"/slope"
	return ONNXOut{
		Consts: []ONNXConst{{Name: shape, Dims: []int{3}, Ints: []int64{int64(n), 1, 1}}},
		Nodes: []ONNXNode{
			{Op: "Reshape", Inputs: []string{a.Name + ".weight", shape}, Outputs: []string{slope}},
			{Op: "PRelu", Inputs: []string{a.Inputs[0], slope}, Outputs: []string{a.Name}},
		}}, nil
}

func onnxBatchNorm(a ONNXArgs) (ONNXOut, error) {
	l, err := onnxLayer[*BatchNorm](a)
	if err != nil {
		return ONNXOut{}, err
	}
	p := a.Name + "."
	return ONNXOut{Nodes: []ONNXNode{{Op: "BatchNormalization",
		Inputs:  []string{a.Inputs[0], p + "weight", p + "bias", p + "running_mean", p + "running_var"},
		Outputs: []string{a.Name}, Attrs: map[string]any{"epsilon": l.eps}}}}, nil
}

func onnxCrop(a ONNXArgs) (ONNXOut, error) {
	l, err := onnxLayer[*Crop](a)
	if err != nil {
		return ONNXOut{}, err
	}
	oh, ow := l.Offset()
	// The window's end is the offset plus input 1's size, read at run time from its
	// shape, so the model keeps symbolic spatial sizes.
	n := a.Name + "/"
	return ONNXOut{
		Consts: []ONNXConst{
			{Name: n + "offset", Dims: []int{2}, Ints: []int64{int64(oh), int64(ow)}},
			{Name: n + "axes", Dims: []int{2}, Ints: []int64{2, 3}},
			{Name: n + "hw_start", Dims: []int{1}, Ints: []int64{2}},
			{Name: n + "hw_end", Dims: []int{1}, Ints: []int64{4}},
		},
		Nodes: []ONNXNode{
			{Op: "Shape", Inputs: []string{a.Inputs[1]}, Outputs: []string{n + "ref_shape"}},
			{Op: "Slice", Inputs: []string{n + "ref_shape", n + "hw_start", n + "hw_end"}, Outputs: []string{n + "ref_hw"}},
			{Op: "Add", Inputs: []string{n + "ref_hw", n + "offset"}, Outputs: []string{n + "end"}},
			{Op: "Slice", Inputs: []string{a.Inputs[0], n + "offset", n + "end", n + "axes"}, Outputs: []string{a.Name}},
		}}, nil
}

func onnxSum(a ONNXArgs) (ONNXOut, error) {
	l, err := onnxLayer[*Sum](a)
	if err != nil {
		return ONNXOut{}, err
	}
	var out ONNXOut
	terms := make([]string, len(a.Inputs))
	for i, in := range a.Inputs {
		terms[i] = in
		if c := 1.0; l.given != nil {
			c = l.given[i]
			if c != 1 {
				k := fmt.Sprintf("%s/coeff%d", a.Name, i)
				out.Consts = append(out.Consts, ONNXConst{Name: k, Dims: []int{}, Floats: []float32{float32(c)}})
				terms[i] = fmt.Sprintf("%s/term%d", a.Name, i)
				out.Nodes = append(out.Nodes, ONNXNode{Op: "Mul", Inputs: []string{in, k}, Outputs: []string{terms[i]}})
			}
		}
	}
	acc := terms[0]
	for i := 1; i < len(terms); i++ {
		o := a.Name
		if i < len(terms)-1 {
			o = fmt.Sprintf("%s/acc%d", a.Name, i)
		}
		out.Nodes = append(out.Nodes, ONNXNode{Op: "Add", Inputs: []string{acc, terms[i]}, Outputs: []string{o}})
		acc = o
	}
	return out, nil
}

func onnxResize(a ONNXArgs) (ONNXOut, error) {
	l, err := onnxLayer[*Resize](a)
	if err != nil {
		return ONNXOut{}, err
	}
	// fcn's coordinates are PyTorch's align_corners=False: (o+0.5)/f−0.5, clamped at 0,
	// for bilinear (ONNX half_pixel; the clamp is ONNX's too); ⌊o/f⌋ for nearest (ONNX
	// asymmetric with floor).
	attrs := map[string]any{"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
	if l.bilinear {
		attrs = map[string]any{"mode": "linear", "coordinate_transformation_mode": "half_pixel"}
	}
	scales := a.Name + "/scales"
	return ONNXOut{
		Consts: []ONNXConst{{Name: scales, Dims: []int{4}, Floats: []float32{1, 1, float32(l.factor[0]), float32(l.factor[1])}}},
		Nodes:  []ONNXNode{{Op: "Resize", Inputs: []string{a.Inputs[0], "", scales}, Outputs: []string{a.Name}, Attrs: attrs}},
	}, nil
}

func onnxLeakyReLU(a ONNXArgs) (ONNXOut, error) {
	l, err := onnxLayer[*LeakyReLU](a)
	if err != nil {
		return ONNXOut{}, err
	}
	return ONNXOut{Nodes: []ONNXNode{{Op: "LeakyRelu", Inputs: a.Inputs[:1], Outputs: []string{a.Name}, Attrs: map[string]any{"alpha": l.slope}}}}, nil
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

func onnxScale(a ONNXArgs) (ONNXOut, error) {
	l, err := onnxLayer[*Scale](a)
	if err != nil {
		return ONNXOut{}, err
	}
	// Like PReLU's slope: (C,) becomes (C, 1, 1) to broadcast over N×C×H×W; (1,)
	// broadcasts as it is.
	var out ONNXOut
	param := func(p string) string {
		if !l.cfg.PerChannel {
			return a.Name + "." + p
		}
		v := a.Name + "/" + p
		if len(out.Consts) == 0 {
			if len(a.InShapes) == 0 || len(a.InShapes[0]) < 2 {
				return ""
			}
			out.Consts = []ONNXConst{{Name: a.Name + "/weight_shape", Dims: []int{3}, Ints: []int64{int64(a.InShapes[0][1]), 1, 1}}}
		}
		out.Nodes = append(out.Nodes, ONNXNode{Op: "Reshape", Inputs: []string{a.Name + "." + p, a.Name + "/weight_shape"}, Outputs: []string{v}})
		return v
	}
	w := param("weight")
	if w == "" {
		return ONNXOut{}, fmt.Errorf("%s: ONNX export needs the input shape", a.Name)
	}
	if l.bias == nil {
		out.Nodes = append(out.Nodes, ONNXNode{Op: "Mul", Inputs: []string{a.Inputs[0], w}, Outputs: []string{a.Name}})
		return out, nil
	}
	bias := param("bias")
	out.Nodes = append(out.Nodes,
		ONNXNode{Op: "Mul", Inputs: []string{a.Inputs[0], w}, Outputs: []string{a.Name + "/scaled"}},
		ONNXNode{Op: "Add", Inputs: []string{a.Name + "/scaled", bias}, Outputs: []string{a.Name}})
	return out, nil
}
