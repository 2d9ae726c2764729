package layers

import (
	"fmt"

	"gorgonia.org/tensor"
)

// LeakyReLUConfig holds leaky_relu's hyper-parameters.
type LeakyReLUConfig struct {
	// NegativeSlope multiplies the negative inputs (PyTorch's negative_slope, 0.01;
	// Caffe's ReLU negative_slope).
	NegativeSlope float64
}

// LeakyReLU is x for x > 0 and slope·x otherwise, element-wise, on any shape. The
// derivative at exactly 0 is the slope, as in PyTorch (x > 0 ? 1 : slope).
type LeakyReLU struct {
	name, prefix string
	slope        float64
	size         int
}

// NewLeakyReLU validates cfg and returns the layer.
func NewLeakyReLU(name string, cfg LeakyReLUConfig) (*LeakyReLU, error) {
	prefix := layerPrefix("leaky_relu", name)
	if !finiteNumber(cfg.NegativeSlope) {
		return nil, fmt.Errorf("%s: negative_slope must be a finite number, got %v", prefix, cfg.NegativeSlope)
	}
	return &LeakyReLU{name: name, prefix: prefix, slope: cfg.NegativeSlope}, nil
}

// Name is the layer's node name.
func (l *LeakyReLU) Name() string { return l.name }

// Type implements Layer.
func (l *LeakyReLU) Type() string { return "leaky_relu" }

// Params implements Layer: leaky_relu has none.
func (l *LeakyReLU) Params() []*Param { return nil }

// Footprint implements Footprinter: nothing but the output.
func (l *LeakyReLU) Footprint(in []tensor.Shape) (Footprint, error) {
	return sameShapeFootprint(l.prefix, in, 0)
}

// Setup implements Layer.
func (l *LeakyReLU) Setup(in []tensor.Shape, dt tensor.Dtype) (tensor.Shape, error) {
	size, err := setupElementwise(l.prefix, in, dt)
	if err != nil {
		return nil, err
	}
	l.size = size
	return in[0].Clone(), nil
}

// Forward implements Layer. It is not in-place: Backward reads the input (with a
// negative slope the output's sign does not tell x > 0 from x = 0).
func (l *LeakyReLU) Forward(in []*tensor.Dense, out *tensor.Dense) {
	if isFloat32(out) {
		leakyForward(floatsOf[float32](in[0])[:l.size], floatsOf[float32](out), float32(l.slope))
	} else {
		leakyForward(floatsOf[float64](in[0])[:l.size], floatsOf[float64](out), l.slope)
	}
}

// Backward implements Layer: adds dy·(x > 0 ? 1 : slope) into dIn[0].
func (l *LeakyReLU) Backward(in []*tensor.Dense, out, dOut *tensor.Dense, dIn []*tensor.Dense) {
	if dIn[0] == nil {
		return
	}
	if isFloat32(out) {
		leakyBackward(floatsOf[float32](in[0])[:l.size], floatsOf[float32](dOut), floatsOf[float32](dIn[0]), float32(l.slope))
	} else {
		leakyBackward(floatsOf[float64](in[0])[:l.size], floatsOf[float64](dOut), floatsOf[float64](dIn[0]), l.slope)
	}
}

func leakyForward[T Float](x, y []T, slope T) {
	y = y[:len(x)]
	for i, v := range x {
		if v > 0 {
			y[i] = v
		} else {
			y[i] = slope * v
		}
	}
}

func leakyBackward[T Float](x, dy, dx []T, slope T) {
	dy, dx = dy[:len(x)], dx[:len(x)]
	for i, v := range x {
		if v > 0 {
			dx[i] += dy[i]
		} else {
			dx[i] += slope * dy[i]
		}
	}
}

func init() {
	Register(&Type{
		Name:   "leaky_relu",
		Doc:    "leaky rectifier, x > 0 ? x : negative_slope·x (PyTorch's LeakyReLU)",
		Inputs: Arity{1, 1},
		Options: []Option{
			{Key: "negative_slope", Kind: KindFloat, Default: 0.01, Check: finite,
				Doc: "factor of the negative inputs (PyTorch's default 0.01; Caffe's ReLU negative_slope)"},
		},
		Build: func(a BuildArgs) ([]Built, error) {
			l, err := NewLeakyReLU(a.Name, LeakyReLUConfig{NegativeSlope: a.Options.Float("negative_slope")})
			return single(a, l, err)
		},
		GradCases: func() []GradCase {
			var cs []GradCase
			for i, tc := range []struct {
				name  string
				slope float64
				in    tensor.Shape
			}{
				{"slope0.01_odd_5x7", 0.01, tensor.Shape{1, 1, 5, 7}},
				{"slope0.2_batch2_3ch_7x5", 0.2, tensor.Shape{2, 3, 7, 5}},
				{"slope-0.5_matrix_3x4", -0.5, tensor.Shape{3, 4}},
			} {
				seed := uint64(1500 + i)
				cs = append(cs, GradCase{Name: tc.name, Eps: EpsLinear, In: []tensor.Shape{tc.in}, Seed: seed, Want: []string{"input0"},
					Make:   func() (Layer, error) { return NewLeakyReLU("leaky", LeakyReLUConfig{NegativeSlope: tc.slope}) },
					Inputs: fixedInput(AwayFromZero, seed, tc.in)})
			}
			return cs
		},
		GradVariants: []string{"batch", "odd", "slope"},
		Caffe:        "ReLU", ONNX: "LeakyRelu", Torch: "nn.LeakyReLU",
		ONNXExport: onnxLeakyReLU,
		CaffeMap: &CaffeMapping{Type: "ReLU", Field: "relu_param",
			Match: func(f CaffeFields) bool { s, _ := f["negative_slope"].(float64); return s != 0 },
			ToCaffe: func(o Options, _ int) (CaffeFields, error) {
				return CaffeFields{"negative_slope": o.Float("negative_slope")}, nil
			},
			FromCaffe: func(r *CaffeReader, o *Options) error {
				r.Ignore("engine")
				return o.Set("negative_slope", r.Num("negative_slope", 0))
			}},
	})
}

func onnxLeakyReLU(a ONNXArgs) (ONNXOut, error) {
	l, err := onnxLayer[*LeakyReLU](a)
	if err != nil {
		return ONNXOut{}, err
	}
	return ONNXOut{Nodes: []ONNXNode{{Op: "LeakyRelu", Inputs: a.Inputs[:1], Outputs: []string{a.Name}, Attrs: map[string]any{"alpha": l.slope}}}}, nil
}
