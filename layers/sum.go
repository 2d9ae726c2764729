package layers

import (
	"fmt"
	"math"

	"gorgonia.org/tensor"
)

// SumConfig holds sum's hyper-parameters.
type SumConfig struct {
	// Coeffs scales each input (Caffe's Eltwise coeff), e.g. FCN-8s at-once's
	// [1, 0.01] for pool4 and [1, 0.0001] for pool3. nil means all 1; otherwise one per input.
	Coeffs []float64
	// InputNames, if set (one per input), name the inputs in error messages instead of
	// "input 0", "input 1", ...; the graph fills them with node names.
	InputNames []string
}

// Sum is the element-wise weighted sum Σ coeff_i·in_i of two or more inputs of exactly
// the same shape.
type Sum struct {
	name, prefix string
	given        []float64 // coeffs as configured (nil: all 1)
	coeffs       []float64 // one per input of the last Setup
	names        []string
	size         int
}

// NewSum validates cfg and returns the layer. The number of inputs is checked by Setup.
func NewSum(name string, cfg SumConfig) (*Sum, error) {
	prefix := layerPrefix("sum", name)
	for i, c := range cfg.Coeffs {
		if math.IsNaN(c) || math.IsInf(c, 0) {
			return nil, fmt.Errorf("%s: coeffs[%d] is %v, want a finite number", prefix, i, c)
		}
	}
	if cfg.Coeffs != nil && len(cfg.Coeffs) < 2 {
		return nil, fmt.Errorf("%s: coeffs has %d value(s), a sum needs at least 2 inputs", prefix, len(cfg.Coeffs))
	}
	return &Sum{
		name: name, prefix: prefix,
		given: append([]float64(nil), cfg.Coeffs...),
		names: append([]string(nil), cfg.InputNames...),
	}, nil
}

// Name is the layer's node name.
func (l *Sum) Name() string { return l.name }

// Type implements Layer.
func (l *Sum) Type() string { return "sum" }

// Params implements Layer: sum has none.
func (l *Sum) Params() []*Param { return nil }

// Coeffs returns the coefficient of every input (all 1 if none were given), as of the last Setup.
func (l *Sum) Coeffs() []float64 { return append([]float64(nil), l.coeffs...) }

func (l *Sum) inputName(i int) string {
	if i < len(l.names) && l.names[i] != "" {
		return l.names[i]
	}
	return fmt.Sprintf("input %d", i)
}

// Footprint implements Footprinter: the output, input 0's shape (Setup checks the others
// agree).
func (l *Sum) Footprint(in []tensor.Shape) (Footprint, error) {
	for k := 1; k < len(in); k++ {
		if !in[k].Eq(in[0]) {
			return Footprint{}, fmt.Errorf("%s: input %d is %s but input 0 is %s", l.prefix, k, dimsString(in[k]), dimsString(in[0]))
		}
	}
	return sameShapeFootprint(l.prefix, in, 0)
}

// Setup implements Layer.
func (l *Sum) Setup(in []tensor.Shape, dt tensor.Dtype) (tensor.Shape, error) {
	if len(in) < 2 {
		return nil, fmt.Errorf("%s: needs at least 2 inputs, got %d", l.prefix, len(in))
	}
	if err := checkFloatDtype(l.prefix, dt); err != nil {
		return nil, err
	}
	if l.given != nil && len(l.given) != len(in) {
		return nil, fmt.Errorf("%s: %d coeffs for %d inputs", l.prefix, len(l.given), len(in))
	}
	l.coeffs = l.coeffs[:0]
	for i := range in {
		c := 1.0
		if l.given != nil {
			c = l.given[i]
		}
		l.coeffs = append(l.coeffs, c)
	}
	if l.names != nil && len(l.names) != len(in) {
		return nil, fmt.Errorf("%s: %d input names for %d inputs", l.prefix, len(l.names), len(in))
	}
	for i := 1; i < len(in); i++ {
		if !in[i].Eq(in[0]) {
			a, b := in[0], in[i]
			// Same batch: show C×H×W as users think of feature maps.
			if len(a) == 4 && len(b) == 4 && a[0] == b[0] {
				a, b = a[1:], b[1:]
			}
			return nil, fmt.Errorf("%s: %s is %s but %s is %s", l.prefix, l.inputName(0), dimsString(a), l.inputName(i), dimsString(b))
		}
	}
	l.size = in[0].TotalSize()
	return in[0].Clone(), nil
}

// Forward implements Layer.
func (l *Sum) Forward(in []*tensor.Dense, out *tensor.Dense) {
	if isFloat32(out) {
		y := floatsOf[float32](out)
		for i, x := range in {
			sumAxpy(float32(l.coeffs[i]), floatsOf[float32](x), y[:l.size], i == 0)
		}
	} else {
		y := floatsOf[float64](out)
		for i, x := range in {
			sumAxpy(l.coeffs[i], floatsOf[float64](x), y[:l.size], i == 0)
		}
	}
}

// Backward implements Layer: dIn[i] += coeff_i·dOut.
func (l *Sum) Backward(in []*tensor.Dense, out, dOut *tensor.Dense, dIn []*tensor.Dense) {
	for i, d := range dIn {
		if d == nil {
			continue
		}
		if isFloat32(dOut) {
			sumAxpy(float32(l.coeffs[i]), floatsOf[float32](dOut), floatsOf[float32](d)[:l.size], false)
		} else {
			sumAxpy(l.coeffs[i], floatsOf[float64](dOut), floatsOf[float64](d)[:l.size], false)
		}
	}
}

// sumAxpy is y = a·x (overwrite) or y += a·x. A coefficient of exactly 1 skips the
// multiply, so a plain sum is bit-exact.
func sumAxpy[T Float](a T, x, y []T, overwrite bool) {
	x = x[:len(y)]
	switch {
	case overwrite && a == 1:
		copy(y, x)
	case overwrite:
		for i, v := range x {
			y[i] = a * v
		}
	case a == 1:
		for i, v := range x {
			y[i] += v
		}
	default:
		for i, v := range x {
			y[i] += a * v
		}
	}
}

func init() {
	Register(&Type{
		Name:   "sum",
		Doc:    "element-wise weighted sum of two or more inputs of the same shape (Caffe's Eltwise SUM)",
		Inputs: Arity{2, 0},
		Options: []Option{
			{Key: "coeffs", Kind: KindFloats, DefaultDoc: "1 for every input", Check: func(v any) string {
				for i, c := range v.([]float64) {
					if !finiteNumber(c) {
						return fmt.Sprintf("value %d is %v", i, c)
					}
				}
				return ""
			}, Doc: "one factor per input (Caffe's coeff), e.g. FCN-8s at once's [1, 0.01]"},
		},
		Check: func(a BuildArgs) []Problem {
			if c := a.Options.Floats("coeffs"); c != nil && len(c) != len(a.Inputs) {
				return []Problem{{Key: "coeffs", Msg: fmt.Sprintf("has %d values for %d inputs", len(c), len(a.Inputs))}}
			}
			return nil
		},
		Build: func(a BuildArgs) ([]Built, error) {
			l, err := NewSum(a.Name, SumConfig{Coeffs: a.Options.Floats("coeffs")})
			return single(a, l, err)
		},
		GradCases: func() []GradCase {
			var cs []GradCase
			s := tensor.Shape{2, 3, 5, 7}
			for i, tc := range []struct {
				name   string
				coeffs []float64
				in     []tensor.Shape
				want   []string
			}{
				{"plain_two_inputs", nil, []tensor.Shape{{1, 1, 3, 5}, {1, 1, 3, 5}}, []string{"input0", "input1"}},
				// FCN-8s at once: score_pool4 scaled by 0.01, score_pool3 by 0.0001.
				{"coeffs_1_0.01_0.0001", []float64{1, 0.01, 1e-4}, []tensor.Shape{s, s, s}, []string{"input0", "input1", "input2"}},
				{"coeffs_0.5_-2", []float64{0.5, -2}, []tensor.Shape{s, s}, []string{"input0", "input1"}},
			} {
				cs = append(cs, GradCase{Name: tc.name, Eps: EpsSum, In: tc.in, Seed: uint64(700 + i), Want: tc.want,
					Make: func() (Layer, error) { return NewSum("fuse", SumConfig{Coeffs: tc.coeffs}) }})
			}
			return cs
		},
		GradVariants: []string{"0.01", "0.0001"},
		Caffe:        "Eltwise", ONNX: "Add",
		CaffeMap:   &CaffeMapping{Type: "Eltwise", Field: "eltwise_param", ToCaffe: sumToCaffe, FromCaffe: sumFromCaffe},
		ONNXExport: onnxSum,
	})
}

// sumToCaffe is eltwise_param SUM with the coefficients when set.
func sumToCaffe(o Options, _ int) (CaffeFields, error) {
	f := CaffeFields{"operation": "SUM"}
	if o.Has("coeffs") {
		f["coeff"] = o.Floats("coeffs")
	}
	return f, nil
}

// sumFromCaffe reads eltwise_param; only SUM is a sum.
func sumFromCaffe(r *CaffeReader, o *Options) error {
	if op := r.Str("operation", "SUM"); op != "SUM" {
		return fmt.Errorf("operation: %s; fcn has only SUM", op)
	}
	r.Ignore("stable_prod_grad")
	if c := r.Nums("coeff"); len(c) > 0 {
		return o.Set("coeffs", c)
	}
	return nil
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
