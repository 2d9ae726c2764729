package onnx

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/fcn-dev/fcn/autodiff"
	"github.com/fcn-dev/fcn/configs"
	"github.com/fcn-dev/fcn/interop/onnx/onnxpb"
	"github.com/fcn-dev/fcn/train"
	"gorgonia.org/tensor"
)

// Model is an experiment's network built for export, in evaluation mode, with its
// weights: the graph to export and to run fcn's own forward on a sample.
type Model struct {
	Exp     *configs.Experiment
	Graph   *autodiff.Graph
	Weights string // the file the weights came from; "" for fresh initialisation
}

// BuildModel builds exp's model for 1×3×h×w inputs and loads weights (a safetensors
// file, a checkpoint or a run folder; train.LoadModelWeights), or, with weights "",
// initialises it afresh from the experiment's train.seed.
func BuildModel(exp *configs.Experiment, weights string, h, w int) (*Model, error) {
	g, err := train.BuildModel(exp, 1, h, w, tensor.Float32)
	if err != nil {
		return nil, fmt.Errorf("model for a %d×%d input: %w", h, w, err)
	}
	src := ""
	if weights == "" {
		g.Init(rand.New(rand.NewPCG(exp.Train.Seed, 0x6f6e6e78)))
	} else if src, err = train.LoadModelWeights(g, weights); err != nil {
		return nil, err
	}
	g.SetTraining(false)
	return &Model{Exp: exp, Graph: g, Weights: src}, nil
}

// Export converts the model (see the package-level Export).
func (m *Model) Export(opt Options) (*onnxpb.ModelProto, error) {
	state, err := train.ModelState(m.Graph)
	if err != nil {
		return nil, err
	}
	return Export(m.Graph, state, train.ScoresNode(m.Exp), opt)
}

// Forward runs fcn's own forward on a 1×3×h×w input (of the size the model was built
// for) and returns the scores and their shape.
func (m *Model) Forward(ctx context.Context, input []float32) ([]float32, []int, error) {
	in := m.Graph.Inputs()
	if len(in) < 2 || len(in[0].Shape) != 4 {
		return nil, nil, fmt.Errorf("model graph has no image input")
	}
	xs, ls := in[0].Shape, in[1].Shape
	if xs.TotalSize() != len(input) {
		return nil, nil, fmt.Errorf("forward: %d values for an input of %v", len(input), xs)
	}
	x := tensor.New(tensor.WithShape(xs...), tensor.WithBacking(append([]float32(nil), input...)))
	y := tensor.New(tensor.WithShape(ls...), tensor.WithBacking(make([]int32, ls.TotalSize())))
	if err := m.Graph.Forward(ctx, x, y); err != nil {
		return nil, nil, err
	}
	s := m.Graph.Value(train.ScoresNode(m.Exp))
	return append([]float32(nil), s.Data().([]float32)...), append([]int(nil), s.Shape()...), nil
}

// SampleInput is a fixed pseudo-random input of 1×3×h×w, values in [−2, 2) (roughly a
// normalised image), the same for the same seed.
func SampleInput(h, w int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 0x73616d70))
	x := make([]float32, 3*h*w)
	for i := range x {
		x[i] = float32(4*r.Float64() - 2)
	}
	return x
}
