package autodiff

import (
	"fmt"
	"math"

	"github.com/fcn-dev/fcn/layers"
	"gorgonia.org/tensor"
)

// LayerMemory is one node's share of a graph's memory, in elements of the graph's dtype.
type LayerMemory struct {
	Name, Type  string
	Out         tensor.Shape
	Activations int64 // the output, and in training its gradient
	Params      int64 // learnable elements (their gradients and momenta are in Memory's bytes)
	Buffers     int64
	Scratch     int64
}

// Memory is an estimate of what running a graph holds, worked out from shapes alone
// (layers.Footprinter), before anything is allocated.
type Memory struct {
	Layers   []LayerMemory
	Training bool
	// Bytes is the total: parameters (×3 in training: value, gradient, SGD momentum),
	// buffers, working memory and activations (×2 in training: values and gradients),
	// at the dtype's size.
	Bytes int64
	// Largest names the node that holds the most, for messages.
	Largest string
	// LargestBytes is what that node holds.
	LargestBytes int64
}

// EstimateMemory works out the memory a graph of these inputs and nodes would hold,
// without building it: the same wiring checks as Build, then each layer's Footprint in
// topological order. Sizes that overflow are errors naming the node.
func EstimateMemory(inputs []InputSpec, nodes []Node, dt tensor.Dtype, training bool) (*Memory, error) {
	for _, in := range inputs {
		for _, d := range in.Shape {
			if d < 1 || d > layers.MaxDim {
				return nil, fmt.Errorf("autodiff: input %q is %s: each dimension must be in [1, %d]", in.Name, formatShape(in.Shape), layers.MaxDim)
			}
		}
	}
	g, err := wire(inputs, nodes, dt)
	if err != nil {
		return nil, err
	}
	size := int64(dt.Size())
	shapes := make([]tensor.Shape, len(g.specs)+len(g.nodes))
	for i, s := range g.specs {
		shapes[i] = s.Shape
	}
	m := &Memory{Training: training}
	var total float64 // float64 against overflow of the sum; each term is checked below
	for _, i := range g.order {
		n := g.nodes[i]
		fpr, ok := n.Layer.(layers.Footprinter)
		if !ok {
			return nil, fmt.Errorf("%s: layer %s has no memory estimate", n.Name, n.Layer.Type())
		}
		// Crop offsets come from the layers' coordinate maps, as Build works them out:
		// the crop's footprint then checks the real window.
		if n.crop != nil && n.crop.auto && !n.crop.done {
			if err := g.autoCrop(n); err != nil {
				return nil, err
			}
		}
		in := make([]tensor.Shape, len(n.srcs))
		for k, s := range n.srcs {
			in[k] = shapes[s]
		}
		n.inShapes = in
		fp, err := fpr.Footprint(in)
		if err != nil {
			return nil, g.setupError(n, err) // named as Build names them: "fuse: a is … but b is …"
		}
		shapes[len(g.specs)+i] = fp.Out
		// The coordinate maps of later crops walk through pass-through layers by shape.
		n.inShapes, n.outShape = in, fp.Out
		out := int64(1)
		for _, d := range fp.Out {
			if d < 1 || int64(d) > math.MaxInt64/out {
				return nil, fmt.Errorf("%s: output %s overflows a 64-bit count", n.Name, formatShape(fp.Out))
			}
			out *= int64(d)
		}
		lm := LayerMemory{Name: n.Name, Type: n.Layer.Type(), Out: fp.Out, Activations: out, Params: fp.Params, Buffers: fp.Buffers, Scratch: fp.Scratch}
		params, acts := float64(fp.Params), float64(out)
		if training {
			params, acts = 3*params, 2*acts
			lm.Activations = 2 * out
		}
		b := float64(size) * (params + acts + float64(fp.Buffers) + float64(fp.Scratch))
		if b > float64(math.MaxInt64/2) {
			return nil, fmt.Errorf("%s: %.3g bytes: beyond any machine", n.Name, b)
		}
		if int64(b) > m.LargestBytes {
			m.Largest, m.LargestBytes = n.Name, int64(b)
		}
		total += b
		m.Layers = append(m.Layers, lm)
	}
	if total > float64(math.MaxInt64/2) {
		return nil, fmt.Errorf("autodiff: %.3g bytes in all: beyond any machine", total)
	}
	m.Bytes = int64(total)
	return m, nil
}
