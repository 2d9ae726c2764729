// Package onnx writes fcn models as ONNX files, with code generated from ONNX's schema
// (package onnxpb). How each layer type maps to ONNX operators is the layer registry's
// (layers.Type.ONNXExport); this package turns those neutral nodes into protos, adds
// the weights as initializers under fcn's tensor names, and checks the result.
package onnx

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/fcn-dev/fcn/autodiff"
	"github.com/fcn-dev/fcn/checkpoints"
	"github.com/fcn-dev/fcn/interop/onnx/onnxpb"
	"github.com/fcn-dev/fcn/layers"
	"google.golang.org/protobuf/proto"
)

// Opsets fcn can write: every operator it uses (Resize with scales, Slice with inputs,
// ArgMax, ...) has the form used here from opset 13 on.
const (
	DefaultOpset = 17
	MinOpset     = 13
	MaxOpset     = 21
)

// Graph tensor names of the exported model.
const (
	InputName  = "data"   // N×3×H×W float32, normalised as fcn's evaluation does
	LabelsName = "labels" // N×H×W int64: argmax over the classes (with Options.Labels)
)

// Options tune an export.
type Options struct {
	Opset    int  // 0: DefaultOpset
	Labels   bool // add the ArgMax output LabelsName
	Producer string
}

// irVersion is the lowest IR version that carries the opset.
func irVersion(opset int) int64 {
	switch {
	case opset <= 14:
		return 7
	case opset <= 18:
		return 8
	case opset <= 20:
		return 9
	}
	return 10
}

// Export converts a built model graph (train.BuildModel, eval mode) with its state
// (train.ModelState) into an ONNX model whose output is the node `scores` (the loss is
// dropped). Batch and spatial sizes are symbolic.
func Export(g *autodiff.Graph, state []checkpoints.Tensor, scores string, opt Options) (*onnxpb.ModelProto, error) {
	if opt.Opset == 0 {
		opt.Opset = DefaultOpset
	}
	if opt.Opset < MinOpset || opt.Opset > MaxOpset {
		return nil, fmt.Errorf("opset %d is not supported: fcn writes opsets %d to %d (default %d)", opt.Opset, MinOpset, MaxOpset, DefaultOpset)
	}
	if g.Layer(scores) == nil {
		return nil, fmt.Errorf("the model has no node %q for its scores", scores)
	}
	needed := ancestors(g, scores)
	alias := map[string]string{}
	resolve := func(name string) string {
		for {
			a, ok := alias[name]
			if !ok {
				return name
			}
			name = a
		}
	}
	gp := &onnxpb.GraphProto{Name: "fcn"}
	consts := map[string]bool{}
	for _, name := range g.Order() {
		if !needed[name] {
			continue
		}
		l := g.Layer(name)
		typ, ok := layers.Lookup(l.Type())
		if !ok || typ.ONNXExport == nil {
			return nil, fmt.Errorf("layer %s: type %s has no ONNX mapping", name, l.Type())
		}
		ins := g.NodeInputs(name)
		shapes := make([][]int, len(ins))
		for i, in := range ins {
			shapes[i] = g.Shape(in)
			ins[i] = resolve(in)
		}
		out, err := typ.ONNXExport(layers.ONNXArgs{Name: name, Inputs: ins, Layer: l, InShapes: shapes, Opset: opt.Opset})
		if err != nil {
			return nil, fmt.Errorf("layer %s (%s): %w", name, l.Type(), err)
		}
		if out.Alias != "" {
			alias[name] = out.Alias
			continue
		}
		for _, c := range out.Consts {
			if consts[c.Name] {
				return nil, fmt.Errorf("layer %s: constant %s defined twice", name, c.Name)
			}
			consts[c.Name] = true
			gp.Initializer = append(gp.Initializer, constTensor(c))
		}
		for i, n := range out.Nodes {
			np, err := nodeProto(n, fmt.Sprintf("%s/%d", name, i))
			if err != nil {
				return nil, fmt.Errorf("layer %s: %w", name, err)
			}
			if len(out.Nodes) == 1 {
				np.Name = name
			}
			gp.Node = append(gp.Node, np)
		}
	}
	// Weights: every model tensor a node reads, under its fcn name.
	used := map[string]bool{}
	for _, n := range gp.Node {
		for _, in := range n.Input {
			used[in] = true
		}
	}
	for _, t := range state {
		if !used[t.Name] || consts[t.Name] {
			continue
		}
		if t.Data == nil {
			return nil, fmt.Errorf("model tensor %s holds no float32 data", t.Name)
		}
		gp.Initializer = append(gp.Initializer, floatTensor(t.Name, t.Shape, t.Data))
		consts[t.Name] = true
	}
	out := resolve(scores)
	classes := 0
	if s := g.Shape(scores); len(s) == 4 {
		classes = s[1]
	}
	gp.Input = []*onnxpb.ValueInfoProto{valueInfo(InputName, onnxpb.TensorProto_FLOAT, "N", 3, "H", "W")}
	gp.Output = []*onnxpb.ValueInfoProto{valueInfo(out, onnxpb.TensorProto_FLOAT, "N", classes, "out_H", "out_W")}
	if opt.Labels {
		gp.Node = append(gp.Node, &onnxpb.NodeProto{Name: LabelsName, OpType: "ArgMax", Input: []string{out}, Output: []string{LabelsName},
			Attribute: []*onnxpb.AttributeProto{intAttr("axis", 1), intAttr("keepdims", 0)}})
		gp.Output = append(gp.Output, valueInfo(LabelsName, onnxpb.TensorProto_INT64, "N", "out_H", "out_W"))
	}
	m := &onnxpb.ModelProto{
		IrVersion:    irVersion(opt.Opset),
		OpsetImport:  []*onnxpb.OperatorSetIdProto{{Domain: "", Version: int64(opt.Opset)}},
		ProducerName: "fcn", ProducerVersion: opt.Producer,
		Graph: gp,
	}
	if err := Check(m); err != nil {
		return nil, fmt.Errorf("exported graph: %w", err)
	}
	return m, nil
}

// Marshal encodes the model in ONNX's protobuf wire format.
func Marshal(m *onnxpb.ModelProto) ([]byte, error) {
	return proto.MarshalOptions{Deterministic: true}.Marshal(m)
}

// ancestors are the nodes the scores depend on (the scores included): the loss and
// anything feeding only it are left out.
func ancestors(g *autodiff.Graph, out string) map[string]bool {
	seen := map[string]bool{}
	stack := []string{out}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[n] || g.Layer(n) == nil {
			continue
		}
		seen[n] = true
		stack = append(stack, g.NodeInputs(n)...)
	}
	return seen
}

func nodeProto(n layers.ONNXNode, name string) (*onnxpb.NodeProto, error) {
	np := &onnxpb.NodeProto{Name: name, OpType: n.Op, Input: n.Inputs, Output: n.Outputs}
	keys := make([]string, 0, len(n.Attrs))
	for k := range n.Attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		a := &onnxpb.AttributeProto{Name: k}
		switch v := n.Attrs[k].(type) {
		case int:
			a.Type, a.I = onnxpb.AttributeProto_INT, int64(v)
		case []int:
			a.Type, a.Ints = onnxpb.AttributeProto_INTS, int64s(v)
		case float64:
			a.Type, a.F = onnxpb.AttributeProto_FLOAT, float32(v)
		case []float64:
			a.Type = onnxpb.AttributeProto_FLOATS
			for _, f := range v {
				a.Floats = append(a.Floats, float32(f))
			}
		case string:
			a.Type, a.S = onnxpb.AttributeProto_STRING, []byte(v)
		default:
			return nil, fmt.Errorf("%s attribute %s: unsupported value %T", n.Op, k, v)
		}
		np.Attribute = append(np.Attribute, a)
	}
	return np, nil
}

func intAttr(name string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_INT, I: v}
}

func int64s(v []int) []int64 {
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = int64(x)
	}
	return out
}

// floatTensor stores float32 data as little-endian raw bytes, ONNX's usual form for
// weights.
func floatTensor(name string, dims []int, data []float32) *onnxpb.TensorProto {
	raw := make([]byte, 4*len(data))
	for i, f := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(f))
	}
	return &onnxpb.TensorProto{Name: name, Dims: int64s(dims), DataType: int32(onnxpb.TensorProto_FLOAT), RawData: raw}
}

func constTensor(c layers.ONNXConst) *onnxpb.TensorProto {
	if c.Ints != nil {
		return &onnxpb.TensorProto{Name: c.Name, Dims: int64s(c.Dims), DataType: int32(onnxpb.TensorProto_INT64), Int64Data: slices.Clone(c.Ints)}
	}
	return floatTensor(c.Name, c.Dims, c.Floats)
}

// valueInfo declares a tensor; each dim is an int (fixed) or a string (symbolic).
func valueInfo(name string, et onnxpb.TensorProto_DataType, dims ...any) *onnxpb.ValueInfoProto {
	sh := &onnxpb.TensorShapeProto{}
	for _, d := range dims {
		switch v := d.(type) {
		case int:
			sh.Dim = append(sh.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(v)}})
		case string:
			sh.Dim = append(sh.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: v}})
		}
	}
	return &onnxpb.ValueInfoProto{Name: name, Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
		TensorType: &onnxpb.TypeProto_Tensor{ElemType: int32(et), Shape: sh}}}}
}
