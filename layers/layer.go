// Package layers holds fcn's layers: one layer a file, each with its shape set-up,
// its forward pass and its backward pass side by side, in the style of Caffe and llm.c.
//
// Tensors are NCHW. Training runs in float32; the very same kernels run in float64 for
// gradient checks, because every kernel is generic over Float and each layer dispatches
// on the dtype of the tensors it is handed.
//
// Errors versus panics: Setup validates hyper-parameters and shapes and returns errors
// that name the layer and what was expected. Forward and Backward trust shapes already
// checked by Setup and panic only on programmer error (a tensor of the wrong shape).
package layers

import (
	"math/rand/v2"

	"gorgonia.org/tensor"
)

// Float is the element type of every kernel.
type Float interface{ ~float32 | ~float64 }

// Param is a learnable tensor of a layer, with Caffe's per-parameter multipliers.
type Param struct {
	Name      string        // "weight", "bias", ... as PyTorch names them
	Value     *tensor.Dense // PyTorch's layout, e.g. conv weight (C_out, C_in/groups, kh, kw)
	Grad      *tensor.Dense // same shape; Backward adds into it
	LRMult    float64       // 0 freezes the parameter (Caffe's lr_mult)
	DecayMult float64       // weight-decay multiplier (Caffe's decay_mult)
}

// Frozen reports whether the optimiser must leave the parameter alone.
func (p *Param) Frozen() bool { return p.LRMult == 0 }

// Layer is one node's computation.
type Layer interface {
	// Type is the layer's type name as written in experiment files, e.g. "conv".
	Type() string
	// Setup checks input shapes and returns the output shape. It allocates parameters
	// (dtype dt, zero-valued) on the first call and internal buffers for these shapes.
	// It may be called again with other shapes (other batch size or H×W): parameters
	// are kept, buffers resized; a change that would change a parameter's shape is an error.
	Setup(in []tensor.Shape, dt tensor.Dtype) (tensor.Shape, error)
	// Forward writes out from in.
	Forward(in []*tensor.Dense, out *tensor.Dense)
	// Backward adds into dIn[i] (skipped where dIn[i] is nil: no gradient wanted)
	// and into every parameter's Grad. out is the output Forward wrote.
	Backward(in []*tensor.Dense, out, dOut *tensor.Dense, dIn []*tensor.Dense)
	// Params lists the learnable tensors (nil or empty if none), in a fixed order.
	Params() []*Param
}

// Initializer is implemented by layers with parameters: Init sets their initial values
// (He, bilinear, zero, ...) from rng. The graph calls it once, in node order.
type Initializer interface {
	Init(rng *rand.Rand)
}

// TrainingSetter is implemented by layers that behave differently in training and
// evaluation (dropout, batchnorm).
type TrainingSetter interface {
	SetTraining(training bool)
}

// ParamWatcher is implemented by layers that decide something from their parameters'
// values (a frozen bilinear deconv takes its separable path only while the weight is the
// bilinear kernel). Whoever writes parameter values from outside — loading a checkpoint —
// calls ParamsChanged afterwards, so the decision is made again, once.
type ParamWatcher interface {
	ParamsChanged()
}

// Stochastic is implemented by layers that draw random numbers in Forward (dropout).
// The graph calls SetSeed before every training forward with a seed derived from the
// run seed, the step and the node, so a resumed run draws the same numbers.
type Stochastic interface {
	SetSeed(seed uint64)
}

// CoordMapper is implemented by layers whose output coordinates are an affine function
// of their input coordinates, as in Caffe's coord_map.py: output = scale·input + offset,
// per spatial axis (H, W). Pass-through layers (relu, dropout, sum, batchnorm)
// need not implement it: the graph treats them as scale 1, offset 0.
// conv/maxpool: scale 1/s, offset (p − (k_eff−1)/2)/s; deconv: scale s, offset (k_eff−1)/2 − p.
type CoordMapper interface {
	CoordMap() (scale, offset [2]float64)
}

// MACCounter is implemented by layers that do multiply-accumulates worth reporting;
// MACs is the count for one forward pass at the shapes of the last Setup.
type MACCounter interface {
	MACs() int64
}

// GradAssigner is implemented by layers whose Backward can write an input's gradient
// instead of adding into it. The graph turns assignment on for an input whose gradient
// has no other contributor and then need not zero that buffer before the backward pass:
// one pass fewer over every large activation gradient per step.
type GradAssigner interface {
	// SetAssignGrad makes later Backward calls overwrite dIn[i] (assign) or add into it
	// (the default). It reports whether Backward will overwrite dIn[i]: false if the
	// layer cannot for that input (a wrapper, say, whose inner layer cannot).
	SetAssignGrad(i int, assign bool) bool
}

// ReLUFuser is implemented by layers that can apply a following ReLU themselves (conv),
// as Caffe's in-place ReLU and PyTorch's ReLU(inplace=True) share one blob: the graph
// turns it on for a ReLU that is the layer's only reader, and the ReLU then shares the
// layer's output and gradient tensors and does not run. The output is max(y, 0), written
// while each image's products are still in cache, and Backward zeroes dOut where the
// output is not positive (in place) before its own gradients: a pass over the output
// fewer each way, and no tensors of the ReLU's own.
type ReLUFuser interface {
	// SetFusedReLU turns the fused ReLU on or off and reports whether it is on.
	SetFusedReLU(on bool) bool
}

// PathReporter is implemented by layers that compute by one of several paths (conv
// and deconv: blocked, image-parallel, pointwise, ...).
type PathReporter interface {
	// ComputePath is the name of the compute path chosen in the last Setup, as
	// "fwd F / bwd B" when the forward and backward passes take different ones.
	ComputePath() string
}
