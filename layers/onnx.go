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

func onnxUnary(op string) func(ONNXArgs) (ONNXOut, error) {
	return func(a ONNXArgs) (ONNXOut, error) {
		return ONNXOut{Nodes: []ONNXNode{{Op: op, Inputs: a.Inputs[:1], Outputs: []string{a.Name}}}}, nil
	}
}
