package layers

import (
	"fmt"
	"math/rand/v2"

	"gorgonia.org/tensor"
)

// ScaleConfig holds scale's hyper-parameters. Start from DefaultScaleConfig.
type ScaleConfig struct {
	// PerChannel learns one factor per channel (weight (C,), Caffe's axis 1 num_axes 1)
	// instead of one for the whole tensor (weight (1,), Caffe's num_axes 0).
	PerChannel bool
	// Value is every factor's initial value (Caffe's constant filler).
	Value float64
	// Bias adds a learned bias of the weight's shape, starting at 0 (Caffe's bias_term).
	Bias bool
	// LRMult and DecayMult are Caffe's multipliers of both parameters (0 freezes them).
	LRMult, DecayMult float64
}

// DefaultScaleConfig is one factor per channel starting at 1, no bias, learned.
func DefaultScaleConfig() ScaleConfig {
	return ScaleConfig{PerChannel: true, Value: 1, LRMult: 1, DecayMult: 1}
}

// Scale multiplies an N×C×… input by a learned factor per channel (or one for all)
// and optionally adds a bias of the same shape: Caffe's Scale layer with its factor
// as a parameter. FCN's at-once net scales pool4 by a frozen 0.01 this way.
type Scale struct {
	name, prefix string
	cfg          ScaleConfig
	weight, bias *Param
	dt           tensor.Dtype
	n, c, s      int
}

// NewScale validates cfg and returns the layer.
func NewScale(name string, cfg ScaleConfig) (*Scale, error) {
	prefix := layerPrefix("scale", name)
	if !finiteNumber(cfg.Value) {
		return nil, fmt.Errorf("%s: value must be a finite number, got %v", prefix, cfg.Value)
	}
	if !finiteNumber(cfg.LRMult) || cfg.LRMult < 0 || !finiteNumber(cfg.DecayMult) || cfg.DecayMult < 0 {
		return nil, fmt.Errorf("%s: lr_mult and decay_mult must be ≥ 0, got %v and %v", prefix, cfg.LRMult, cfg.DecayMult)
	}
	return &Scale{name: name, prefix: prefix, cfg: cfg}, nil
}

// Name is the layer's node name.
func (l *Scale) Name() string { return l.name }

// Type implements Layer.
func (l *Scale) Type() string { return "scale" }

// Params implements Layer: weight, then bias if any, after the first Setup.
func (l *Scale) Params() []*Param {
	if l.weight == nil {
		return nil
	}
	if l.bias == nil {
		return []*Param{l.weight}
	}
	return []*Param{l.weight, l.bias}
}

// Footprint implements Footprinter: the output, and one factor (and bias) per channel
// or for the whole tensor.
func (l *Scale) Footprint(in []tensor.Shape) (Footprint, error) {
	fp, err := sameShapeFootprint(l.prefix, in, 0)
	if err == nil {
		fp.Params = 1
		if l.cfg.PerChannel {
			fp.Params = int64(channelsOf(in[0]))
		}
		if l.cfg.Bias {
			fp.Params *= 2
		}
	}
	return fp, err
}

// Setup implements Layer. The input is N×C×… (N×C at least).
func (l *Scale) Setup(in []tensor.Shape, dt tensor.Dtype) (tensor.Shape, error) {
	n, c, plane, err := setupChannels(l.prefix, in, dt)
	if err != nil {
		return nil, err
	}
	k := 1
	if l.cfg.PerChannel {
		k = c
	}
	if l.weight == nil {
		newVec := func() *tensor.Dense { return tensor.New(tensor.WithShape(k), tensor.Of(dt)) }
		l.weight = &Param{Name: "weight", Value: newVec(), Grad: newVec(), LRMult: l.cfg.LRMult, DecayMult: l.cfg.DecayMult}
		if l.cfg.Bias {
			l.bias = &Param{Name: "bias", Value: newVec(), Grad: newVec(), LRMult: l.cfg.LRMult, DecayMult: l.cfg.DecayMult}
		}
		l.dt = dt
	} else {
		if got := l.weight.Value.Shape()[0]; got != k {
			return nil, fmt.Errorf("%s: input has %d channels but the layer was set up for %d factors", l.prefix, c, got)
		}
		if dt != l.dt {
			return nil, fmt.Errorf("%s: dtype %v but the weight is %v", l.prefix, dt, l.dt)
		}
	}
	l.n, l.c, l.s = n, c, plane
	return in[0].Clone(), nil
}

// Init implements Initializer: every factor at cfg.Value, the bias at 0.
func (l *Scale) Init(*rand.Rand) {
	if l.dt == tensor.Float32 {
		fillConst(l.weight.Value.Float32s(), float32(l.cfg.Value))
		if l.bias != nil {
			fillConst(l.bias.Value.Float32s(), 0)
		}
		return
	}
	fillConst(l.weight.Value.Float64s(), l.cfg.Value)
	if l.bias != nil {
		fillConst(l.bias.Value.Float64s(), 0)
	}
}

// Forward implements Layer.
func (l *Scale) Forward(in []*tensor.Dense, out *tensor.Dense) {
	if l.dt == tensor.Float32 {
		scaleForward(l, in[0].Float32s(), l.weight.Value.Float32s(), scaleBias[float32](l.bias), out.Float32s())
		return
	}
	scaleForward(l, in[0].Float64s(), l.weight.Value.Float64s(), scaleBias[float64](l.bias), out.Float64s())
}

func scaleBias[T Float](b *Param) []T {
	if b == nil {
		return nil
	}
	return floatsOf[T](b.Value)
}

// Backward implements Layer: adds into dIn[0] and, unless frozen, the parameters' Grads.
// The sums run in a fixed order, so they are the same bit for bit on every run.
func (l *Scale) Backward(in []*tensor.Dense, out, dOut *tensor.Dense, dIn []*tensor.Dense) {
	if l.dt == tensor.Float32 {
		scaleBackward[float32](l, in, dOut, dIn)
		return
	}
	scaleBackward[float64](l, in, dOut, dIn)
}

// factor is the index of channel c's factor.
func (l *Scale) factor(c int) int {
	if l.cfg.PerChannel {
		return c
	}
	return 0
}

func scaleForward[T Float](l *Scale, x, w, b, y []T) {
	for n := range l.n {
		for c := range l.c {
			k := l.factor(c)
			wc := w[k]
			var bc T
			if b != nil {
				bc = b[k]
			}
			off := (n*l.c + c) * l.s
			for i, v := range x[off : off+l.s] {
				y[off+i] = v*wc + bc
			}
		}
	}
}

func scaleBackward[T Float](l *Scale, in []*tensor.Dense, dOut *tensor.Dense, dIn []*tensor.Dense) {
	x, w, dy := floatsOf[T](in[0]), floatsOf[T](l.weight.Value), floatsOf[T](dOut)
	var dx []T
	if dIn[0] != nil {
		dx = floatsOf[T](dIn[0])
	}
	learn := !l.weight.Frozen()
	dw := floatsOf[T](l.weight.Grad)
	var db []T
	if l.bias != nil {
		db = floatsOf[T](l.bias.Grad)
	}
	for n := range l.n {
		for c := range l.c {
			k := l.factor(c)
			wc := w[k]
			off := (n*l.c + c) * l.s
			var gw, gb T
			for i, d := range dy[off : off+l.s] {
				if dx != nil {
					dx[off+i] += wc * d
				}
				gw += d * x[off+i]
				gb += d
			}
			if learn {
				dw[k] += gw
				if db != nil {
					db[k] += gb
				}
			}
		}
	}
}

func init() {
	def := DefaultScaleConfig()
	Register(&Type{
		Name:   "scale",
		Doc:    "multiplies by a learned factor per channel or one for all, plus an optional bias (Caffe's Scale)",
		Inputs: Arity{1, 1},
		Options: []Option{
			{Key: "per_channel", Kind: KindBool, Default: def.PerChannel,
				Doc: "one factor per channel, weight (C,), instead of one for all, weight (1,)"},
			{Key: "value", Kind: KindFloat, Default: def.Value, Check: finite, Doc: "the factors' initial value (Caffe's constant filler)"},
			{Key: "bias", Kind: KindBool, Default: def.Bias, Doc: "add a learned bias of the weight's shape, starting at 0 (Caffe's bias_term)"},
			optLRMult, optDecayMult, optLearn,
		},
		Build: func(a BuildArgs) ([]Built, error) {
			o := a.Options
			lr, decay := multipliers(o)
			l, err := NewScale(a.Name, ScaleConfig{PerChannel: o.Bool("per_channel"), Value: o.Float("value"), Bias: o.Bool("bias"),
				LRMult: lr, DecayMult: decay})
			return single(a, l, err)
		},
		GradCases: func() []GradCase {
			var cs []GradCase
			for i, tc := range []struct {
				name             string
				perChannel, bias bool
				in               tensor.Shape
			}{
				{"per_channel_nobias_batch2_3ch_5x7", true, false, tensor.Shape{2, 3, 5, 7}},
				{"per_channel_bias_odd_1x1x3x5", true, true, tensor.Shape{1, 1, 3, 5}},
				{"scalar_bias_batch3_2ch_3x3", false, true, tensor.Shape{3, 2, 3, 3}},
				{"scalar_nobias_flat_4x3", false, false, tensor.Shape{4, 3}},
			} {
				seed := uint64(1600 + i)
				want := []string{"input0", "weight"}
				if tc.bias {
					want = append(want, "bias")
				}
				cs = append(cs, GradCase{Name: tc.name, Eps: EpsLinear, In: []tensor.Shape{tc.in}, Seed: seed,
					Want: want, Inputs: fixedInput(AwayFromZero, seed, tc.in),
					Make: func() (Layer, error) {
						c := DefaultScaleConfig()
						c.PerChannel, c.Bias = tc.perChannel, tc.bias
						return NewScale("scale", c)
					}})
			}
			return cs
		},
		GradVariants: []string{"per_channel", "scalar", "bias", "batch", "odd"},
		Caffe:        "Scale", ONNX: "Mul", Torch: "— (x * w.view(1, C, 1, 1) + b.view(1, C, 1, 1))",
		CaffeMap: &CaffeMapping{Type: "Scale", Field: "scale_param", Blobs: []string{"weight", "bias"}, Dims: []int{1, 1},
			ToCaffe: scaleToCaffe, FromCaffe: scaleFromCaffe},
		ONNXExport: onnxScale,
	})
}

// scaleToCaffe is scale_param: per channel on axis 1 (Caffe's default) or one factor
// (num_axes 0), a constant filler of the initial value, bias_term.
func scaleToCaffe(o Options, _ int) (CaffeFields, error) {
	f := CaffeFields{"filler.type": "constant", "filler.value": o.Float("value")}
	if !o.Bool("per_channel") {
		f["num_axes"] = 0.0
	}
	if o.Bool("bias") {
		f["bias_term"] = true
	}
	return f, nil
}

// scaleFromCaffe reads scale_param with a learned factor (one bottom; a second bottom,
// Caffe's scale-by-blob, has no fcn type). Without a filler Caffe starts at 1.
func scaleFromCaffe(r *CaffeReader, o *Options) error {
	if ax := r.Num("axis", 1); ax != 1 {
		return fmt.Errorf("axis: %v; fcn scales per channel (axis 1) or all at once", ax)
	}
	switch n := r.Num("num_axes", 1); n {
	case 1:
	case 0:
		if err := o.Set("per_channel", false); err != nil {
			return err
		}
	default:
		return fmt.Errorf("num_axes: %v; fcn has 1 (per channel) or 0 (one factor)", n)
	}
	value := 1.0
	if r.Has("filler.type") || r.Has("filler.value") {
		if t := r.Str("filler.type", "constant"); t != "constant" {
			return fmt.Errorf("filler.type: %s; fcn starts the factors at a constant", t)
		}
		value = r.Num("filler.value", 0)
	}
	if err := o.Set("value", value); err != nil {
		return err
	}
	if t := r.Str("bias_filler.type", "constant"); t != "constant" || r.Num("bias_filler.value", 0) != 0 {
		return fmt.Errorf("bias_filler: fcn starts the bias at 0")
	}
	return o.Set("bias", r.Bool("bias_term", false))
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
