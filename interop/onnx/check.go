package onnx

import (
	"fmt"
	"slices"

	"github.com/fcn-dev/fcn/interop/onnx/onnxpb"
)

// Check verifies a model's structure without running it: one opset, every node input
// defined before use (a graph input, an initializer or an earlier node's output), no
// tensor defined twice, every output produced, and the weight initializers' shapes
// agreeing with the attributes of the ops that read them.
func Check(m *onnxpb.ModelProto) error {
	g := m.GetGraph()
	if g == nil {
		return fmt.Errorf("model has no graph")
	}
	if len(m.OpsetImport) != 1 || m.OpsetImport[0].Version == 0 {
		return fmt.Errorf("model must import one opset of the default domain")
	}
	defined := map[string]string{}
	inits := map[string][]int64{}
	def := func(name, by string) error {
		if name == "" {
			return fmt.Errorf("%s defines an empty tensor name", by)
		}
		if prev, dup := defined[name]; dup {
			return fmt.Errorf("tensor %q defined by %s and by %s", name, prev, by)
		}
		defined[name] = by
		return nil
	}
	for _, in := range g.Input {
		if err := def(in.Name, "graph input"); err != nil {
			return err
		}
	}
	for _, t := range g.Initializer {
		if err := def(t.Name, "initializer"); err != nil {
			return err
		}
		n := int64(1)
		for _, d := range t.Dims {
			n *= d
		}
		got := int64(len(t.RawData) / 4)
		if t.DataType == int32(onnxpb.TensorProto_INT64) {
			got = int64(len(t.Int64Data))
		} else if t.RawData == nil {
			got = int64(len(t.FloatData))
		}
		if got != n {
			return fmt.Errorf("initializer %s: %d values for dims %v", t.Name, got, t.Dims)
		}
		inits[t.Name] = t.Dims
	}
	for _, n := range g.Node {
		for i, in := range n.Input {
			if in == "" {
				continue // an omitted optional input
			}
			if _, ok := defined[in]; !ok {
				return fmt.Errorf("node %s (%s): input %d %q is not defined before it", n.Name, n.OpType, i, in)
			}
		}
		if err := checkWeights(n, inits); err != nil {
			return fmt.Errorf("node %s (%s): %w", n.Name, n.OpType, err)
		}
		for _, out := range n.Output {
			if err := def(out, "node "+n.Name); err != nil {
				return err
			}
		}
	}
	for _, out := range g.Output {
		if _, ok := defined[out.Name]; !ok {
			return fmt.Errorf("graph output %q is not produced by any node", out.Name)
		}
	}
	return nil
}

func attrInts(n *onnxpb.NodeProto, name string) []int64 {
	for _, a := range n.Attribute {
		if a.Name == name {
			return a.Ints
		}
	}
	return nil
}

func attrInt(n *onnxpb.NodeProto, name string, def int64) int64 {
	for _, a := range n.Attribute {
		if a.Name == name {
			return a.I
		}
	}
	return def
}

// checkWeights compares the shapes of initializers a node reads with its attributes.
func checkWeights(n *onnxpb.NodeProto, inits map[string][]int64) error {
	shape := func(i int) ([]int64, bool) {
		if i >= len(n.Input) {
			return nil, false
		}
		s, ok := inits[n.Input[i]]
		return s, ok
	}
	switch n.OpType {
	case "Conv", "ConvTranspose":
		w, ok := shape(1)
		if !ok {
			return nil
		}
		if len(w) != 4 {
			return fmt.Errorf("weight %s has dims %v, want 4", n.Input[1], w)
		}
		if k := attrInts(n, "kernel_shape"); k != nil && !slices.Equal(k, w[2:]) {
			return fmt.Errorf("weight %s has dims %v but kernel_shape is %v", n.Input[1], w, k)
		}
		out := w[0]
		if n.OpType == "ConvTranspose" {
			out = w[1] * attrInt(n, "group", 1)
		}
		if b, ok := shape(2); ok && (len(b) != 1 || b[0] != out) {
			return fmt.Errorf("bias %s has dims %v, want [%d]", n.Input[2], b, out)
		}
	case "BatchNormalization":
		var c int64 = -1
		for i := 1; i < 5; i++ {
			s, ok := shape(i)
			if !ok {
				continue
			}
			if len(s) != 1 || (c >= 0 && s[0] != c) {
				return fmt.Errorf("%s has dims %v; scale, bias, mean and var must be one equal length", n.Input[i], s)
			}
			c = s[0]
		}
	}
	return nil
}
