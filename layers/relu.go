package layers

import (
	"unsafe"

	"github.com/fcn-dev/fcn/internal/par"
	"github.com/fcn-dev/fcn/layers/internal/vecmath"
	"gorgonia.org/tensor"
)

// ReLUConfig holds relu's hyper-parameters: there are none yet.
type ReLUConfig struct{}

// ReLU is max(x, 0), element-wise, on a tensor of any shape.
type ReLU struct {
	name, prefix string
	size         int
	job32        reluJob[float32]
	job64        reluJob[float64]
	assign       bool // Backward overwrites dIn (GradAssigner)
}

// SetAssignGrad implements GradAssigner.
func (l *ReLU) SetAssignGrad(i int, assign bool) bool {
	l.assign = assign
	return assign
}

// NewReLU returns the layer.
func NewReLU(name string, cfg ReLUConfig) (*ReLU, error) {
	return &ReLU{name: name, prefix: layerPrefix("relu", name)}, nil
}

// Name is the layer's node name.
func (l *ReLU) Name() string { return l.name }

// Type implements Layer.
func (l *ReLU) Type() string { return "relu" }

// Params implements Layer: relu has none.
func (l *ReLU) Params() []*Param { return nil }

// Footprint implements Footprinter: nothing but the output.
func (l *ReLU) Footprint(in []tensor.Shape) (Footprint, error) {
	return sameShapeFootprint(l.prefix, in, 0)
}

// Setup implements Layer.
func (l *ReLU) Setup(in []tensor.Shape, dt tensor.Dtype) (tensor.Shape, error) {
	size, err := setupElementwise(l.prefix, in, dt)
	if err != nil {
		return nil, err
	}
	l.size = size
	return in[0].Clone(), nil
}

// Forward implements Layer. out may be the same tensor as in[0] (in-place), because
// Backward reads only out.
func (l *ReLU) Forward(in []*tensor.Dense, out *tensor.Dense) {
	if isFloat32(out) {
		l.job32.run(floatsOf[float32](in[0])[:l.size], floatsOf[float32](out), nil, nil)
	} else {
		l.job64.run(floatsOf[float64](in[0])[:l.size], floatsOf[float64](out), nil, nil)
	}
}

// Backward implements Layer: the gradient passes where out > 0 (the subgradient at 0 is 0,
// as in Caffe and PyTorch).
func (l *ReLU) Backward(in []*tensor.Dense, out, dOut *tensor.Dense, dIn []*tensor.Dense) {
	if dIn[0] == nil {
		return
	}
	if isFloat32(out) {
		l.job32.assign = l.assign
		l.job32.run(nil, floatsOf[float32](out)[:l.size], floatsOf[float32](dOut), floatsOf[float32](dIn[0]))
	} else {
		l.job64.assign = l.assign
		l.job64.run(nil, floatsOf[float64](out)[:l.size], floatsOf[float64](dOut), floatsOf[float64](dIn[0]))
	}
}

// eltBlock is the number of elements per task of the element-wise layers: large enough
// to amortise taking a task, small enough to share a few megabytes between threads.
const eltBlock = 1 << 15

// eltTasks is the number of eltBlock-sized tasks covering n elements.
func eltTasks(n int) int { return (n + eltBlock - 1) / eltBlock }

// eltRange is task i's element range [lo, hi) of n elements.
func eltRange(i, n int) (lo, hi int) {
	lo = i * eltBlock
	return lo, min(lo+eltBlock, n)
}

// reluJob runs relu's forward (dy == nil: y = relu(x)) or backward (dx += dy·[y > 0])
// over blocks of elements in parallel.
type reluJob[T Float] struct {
	x, y, dy, dx []T
	assign       bool // backward: dx = dy·[y > 0]
}

func (j *reluJob[T]) run(x, y, dy, dx []T) {
	j.x, j.y, j.dy, j.dx = x, y, dy, dx
	n := len(x)
	if dy != nil {
		n = len(y)
	}
	par.Run(eltTasks(n), j)
	j.x, j.y, j.dy, j.dx = nil, nil, nil, nil
}

func (j *reluJob[T]) Do(i int) {
	if j.dy == nil {
		lo, hi := eltRange(i, len(j.x))
		reluForward(j.x[lo:hi], j.y[lo:hi])
		return
	}
	lo, hi := eltRange(i, len(j.y))
	if j.assign {
		reluBackwardAssign(j.y[lo:hi], j.dy[lo:hi], j.dx[lo:hi])
		return
	}
	reluBackward(j.y[lo:hi], j.dy[lo:hi], j.dx[lo:hi])
}

// reluForward uses the builtin max, which compiles without a data-dependent branch
// (random signs made the branchy loop four times slower) and keeps NaN as NaN.
//
// float32 runs on AVX-512 vectors (vecmath.ReLU), with the same results.
func reluForward[T Float](x, y []T) {
	y = y[:len(x)]
	if unsafe.Sizeof(T(0)) == 4 {
		vecmath.ReLU(f32(y), f32(x))
		return
	}
	for i, v := range x {
		y[i] = max(v, 0)
	}
}

// reluBackward multiplies by the 0/1 indicator instead of branching, for the same reason;
// like Caffe's ReLU it therefore turns a non-finite dOut at a dead unit into NaN.
func reluBackward[T Float](y, dy, dx []T) {
	dy, dx = dy[:len(y)], dx[:len(y)]
	for i, v := range y {
		dx[i] += dy[i] * T(b2i(v > 0))
	}
}

// reluBackwardAssign is reluBackward writing dx instead of adding into it.
func reluBackwardAssign[T Float](y, dy, dx []T) {
	dy, dx = dy[:len(y)], dx[:len(y)]
	if unsafe.Sizeof(T(0)) == 4 {
		vecmath.ReLUBackward(f32(dx), f32(y), f32(dy))
		return
	}
	for i, v := range y {
		dx[i] = dy[i] * T(b2i(v > 0))
	}
}

func init() {
	Register(&Type{
		Name:   "relu",
		Doc:    "rectified linear unit, max(x, 0)",
		Inputs: Arity{1, 1},
		Build: func(a BuildArgs) ([]Built, error) {
			l, err := NewReLU(a.Name, ReLUConfig{})
			return single(a, l, err)
		},
		GradCases: func() []GradCase {
			var cs []GradCase
			for i, tc := range []struct {
				name string
				in   tensor.Shape
			}{
				{"odd_5x7", tensor.Shape{1, 1, 5, 7}},
				{"batch2_3ch_7x5", tensor.Shape{2, 3, 7, 5}},
				{"matrix_3x4", tensor.Shape{3, 4}},
			} {
				seed := uint64(400 + i)
				cs = append(cs, GradCase{Name: tc.name, Eps: EpsLinear, In: []tensor.Shape{tc.in}, Seed: seed, Want: []string{"input0"},
					Make:   func() (Layer, error) { return NewReLU("relu", ReLUConfig{}) },
					Inputs: fixedInput(AwayFromZero, seed, tc.in)})
			}
			return cs
		},
		GradVariants: []string{"batch"},
		Caffe:        "ReLU", ONNX: "Relu", Torch: "nn.ReLU",
		CaffeMap: &CaffeMapping{Type: "ReLU", Field: "relu_param",
			Match:     func(f CaffeFields) bool { s, _ := f["negative_slope"].(float64); return s == 0 },
			ToCaffe:   func(Options, int) (CaffeFields, error) { return CaffeFields{}, nil },
			FromCaffe: func(r *CaffeReader, _ *Options) error { r.Ignore("negative_slope", "engine"); return nil }},
		ONNXExport: onnxUnary("Relu"),
	})
}
