package layers

import (
	"fmt"
	"math/rand/v2"

	"gorgonia.org/tensor"
)

// PReLUConfig holds prelu's hyper-parameters. Start from DefaultPReLUConfig.
type PReLUConfig struct {
	// Shared learns one slope for every channel (weight of shape (1,)) instead of one per
	// channel (shape (C,)): PyTorch's num_parameters=1, Caffe's channel_shared.
	Shared bool
	// Init is the slope every weight starts at (PyTorch's init, 0.25).
	Init float64
	// LRMult and DecayMult are Caffe's multipliers for the weight (0 freezes it).
	LRMult, DecayMult float64
}

// DefaultPReLUConfig is one slope per channel (Caffe's default), starting at 0.25 as in
// PyTorch, learned with the base rate and decay.
func DefaultPReLUConfig() PReLUConfig {
	return PReLUConfig{Init: 0.25, LRMult: 1, DecayMult: 1}
}

// PReLU is the parametric rectifier of He et al. (PyTorch's nn.PReLU, Caffe's PReLU):
// y = x for x > 0 and a_c·x otherwise, with a learned slope a_c per channel c of an
// N×C×… input, or one slope for all. The gradient of a slope sums dy·x over the
// elements where x ≤ 0, in a fixed order, so it is the same bit for bit on every run.
type PReLU struct {
	name, prefix string
	cfg          PReLUConfig
	weight       *Param
	dt           tensor.Dtype
	n, c, s      int // batch, channels, elements per channel per image
}

// NewPReLU validates cfg and returns the layer.
func NewPReLU(name string, cfg PReLUConfig) (*PReLU, error) {
	prefix := layerPrefix("prelu", name)
	if !finiteNumber(cfg.Init) {
		return nil, fmt.Errorf("%s: init must be a finite number, got %v", prefix, cfg.Init)
	}
	if !finiteNumber(cfg.LRMult) || cfg.LRMult < 0 || !finiteNumber(cfg.DecayMult) || cfg.DecayMult < 0 {
		return nil, fmt.Errorf("%s: lr_mult and decay_mult must be ≥ 0, got %v and %v", prefix, cfg.LRMult, cfg.DecayMult)
	}
	return &PReLU{name: name, prefix: prefix, cfg: cfg}, nil
}

// Type implements Layer.
func (l *PReLU) Type() string { return "prelu" }

// Params implements Layer: the slopes, after the first Setup.
func (l *PReLU) Params() []*Param {
	if l.weight == nil {
		return nil
	}
	return []*Param{l.weight}
}

// Footprint implements Footprinter: the output and one slope per channel (or one).
func (l *PReLU) Footprint(in []tensor.Shape) (Footprint, error) {
	fp, err := sameShapeFootprint(l.prefix, in, 0)
	if err == nil {
		fp.Params = int64(channelsOf(in[0]))
		if l.cfg.Shared {
			fp.Params = 1
		}
	}
	return fp, err
}

// Setup implements Layer. The input is N×C×… (N×C at least).
func (l *PReLU) Setup(in []tensor.Shape, dt tensor.Dtype) (tensor.Shape, error) {
	n, c, plane, err := setupChannels(l.prefix, in, dt)
	if err != nil {
		return nil, err
	}
	slopes := c
	if l.cfg.Shared {
		slopes = 1
	}
	if l.weight == nil {
		newVec := func() *tensor.Dense { return tensor.New(tensor.WithShape(slopes), tensor.Of(dt)) }
		l.weight = &Param{Name: "weight", Value: newVec(), Grad: newVec(), LRMult: l.cfg.LRMult, DecayMult: l.cfg.DecayMult}
		l.dt = dt
	} else {
		if got := l.weight.Value.Shape()[0]; got != slopes {
			return nil, fmt.Errorf("%s: input has %d channels but the layer was set up for %d (one slope each)", l.prefix, c, got)
		}
		if dt != l.dt {
			return nil, fmt.Errorf("%s: dtype %v but the weight is %v", l.prefix, dt, l.dt)
		}
	}
	l.n, l.c, l.s = n, c, plane
	return in[0].Clone(), nil
}

// Init implements Initializer: every slope at cfg.Init.
func (l *PReLU) Init(*rand.Rand) {
	if l.dt == tensor.Float32 {
		for i := range l.weight.Value.Float32s() {
			l.weight.Value.Float32s()[i] = float32(l.cfg.Init)
		}
		return
	}
	for i := range l.weight.Value.Float64s() {
		l.weight.Value.Float64s()[i] = l.cfg.Init
	}
}

// Forward implements Layer.
func (l *PReLU) Forward(in []*tensor.Dense, out *tensor.Dense) {
	if l.dt == tensor.Float32 {
		preluForward(l, in[0].Float32s(), l.weight.Value.Float32s(), out.Float32s())
		return
	}
	preluForward(l, in[0].Float64s(), l.weight.Value.Float64s(), out.Float64s())
}

// Backward implements Layer: adds into dIn[0] and, unless frozen, the weight's Grad.
func (l *PReLU) Backward(in []*tensor.Dense, out, dOut *tensor.Dense, dIn []*tensor.Dense) {
	learn := !l.weight.Frozen()
	if l.dt == tensor.Float32 {
		var dx []float32
		if dIn[0] != nil {
			dx = dIn[0].Float32s()
		}
		preluBackward(l, in[0].Float32s(), l.weight.Value.Float32s(), dOut.Float32s(), dx, l.weight.Grad.Float32s(), learn)
		return
	}
	var dx []float64
	if dIn[0] != nil {
		dx = dIn[0].Float64s()
	}
	preluBackward(l, in[0].Float64s(), l.weight.Value.Float64s(), dOut.Float64s(), dx, l.weight.Grad.Float64s(), learn)
}

// slope is the index of channel c's slope.
func (l *PReLU) slope(c int) int {
	if l.cfg.Shared {
		return 0
	}
	return c
}

func preluForward[T Float](l *PReLU, x, a, y []T) {
	for n := range l.n {
		for c := range l.c {
			ac := a[l.slope(c)]
			off := (n*l.c + c) * l.s
			for i, v := range x[off : off+l.s] {
				if v > 0 {
					y[off+i] = v
				} else {
					y[off+i] = ac * v
				}
			}
		}
	}
}

func preluBackward[T Float](l *PReLU, x, a, dy, dx, da []T, learn bool) {
	for n := range l.n {
		for c := range l.c {
			k := l.slope(c)
			ac := a[k]
			off := (n*l.c + c) * l.s
			var g T
			for i, v := range x[off : off+l.s] {
				d := dy[off+i]
				if v > 0 {
					if dx != nil {
						dx[off+i] += d
					}
					continue
				}
				if dx != nil {
					dx[off+i] += ac * d
				}
				g += d * v
			}
			if learn {
				da[k] += g
			}
		}
	}
}

func init() {
	def := DefaultPReLUConfig()
	Register(&Type{
		Name:   "prelu",
		Doc:    "parametric ReLU with a learned negative slope per channel or shared (PyTorch's PReLU)",
		Inputs: Arity{1, 1},
		Options: []Option{
			{Key: "shared", Kind: KindBool, Default: def.Shared,
				Doc: "one slope for all channels, weight (1,), instead of one per channel, weight (C,)"},
			{Key: "init", Kind: KindFloat, Default: def.Init, Check: finite, Doc: "the slopes' initial value"},
			optLRMult, optDecayMult, optLearn,
		},
		Build: func(a BuildArgs) ([]Built, error) {
			o := a.Options
			lr, decay := multipliers(o)
			l, err := NewPReLU(a.Name, PReLUConfig{Shared: o.Bool("shared"), Init: o.Float("init"), LRMult: lr, DecayMult: decay})
			return single(a, l, err)
		},
		GradCases: func() []GradCase {
			var cs []GradCase
			for i, tc := range []struct {
				name   string
				shared bool
				in     tensor.Shape
			}{
				{"per_channel_batch2_3ch_5x7", false, tensor.Shape{2, 3, 5, 7}},
				{"per_channel_odd_1x1x3x5", false, tensor.Shape{1, 1, 3, 5}},
				{"shared_batch3_2ch_3x3", true, tensor.Shape{3, 2, 3, 3}},
				{"per_channel_flat_4x3", false, tensor.Shape{4, 3}},
			} {
				seed := uint64(1200 + i)
				cs = append(cs, GradCase{Name: tc.name, Eps: EpsLinear, In: []tensor.Shape{tc.in}, Seed: seed,
					Want: []string{"input0", "weight"}, Inputs: fixedInput(AwayFromZero, seed, tc.in),
					Make: func() (Layer, error) {
						c := DefaultPReLUConfig()
						c.Shared = tc.shared
						return NewPReLU("prelu", c)
					}})
			}
			return cs
		},
		GradVariants: []string{"per_channel", "shared", "batch", "odd"},
		Caffe:        "PReLU", ONNX: "PRelu", Torch: "nn.PReLU",
		CaffeMap: &CaffeMapping{Type: "PReLU", Field: "prelu_param", Blobs: []string{"weight"}, Dims: []int{1},
			ToCaffe: preluToCaffe, FromCaffe: preluFromCaffe},
		ONNXExport: onnxPReLU,
	})
}

// preluToCaffe is prelu_param with a constant filler of the initial slope.
func preluToCaffe(o Options, _ int) (CaffeFields, error) {
	f := CaffeFields{"filler.type": "constant", "filler.value": o.Float("init")}
	if o.Bool("shared") {
		f["channel_shared"] = true
	}
	return f, nil
}

// preluFromCaffe reads prelu_param (Caffe's default filler is constant 0.25).
func preluFromCaffe(r *CaffeReader, o *Options) error {
	if t := r.Str("filler.type", "constant"); t != "constant" {
		return fmt.Errorf("filler.type: %s; fcn starts PReLU slopes at a constant", t)
	}
	if err := o.Set("init", r.Num("filler.value", 0.25)); err != nil {
		return err
	}
	return o.Set("shared", r.Bool("channel_shared", false))
}

func onnxPReLU(a ONNXArgs) (ONNXOut, error) {
	l, err := onnxLayer[*PReLU](a)
	if err != nil {
		return ONNXOut{}, err
	}
	// The slope keeps fcn's shape, (C,) or (1,); ONNX broadcasts from the right, so a
	// Reshape makes it (C, 1, 1) against N×C×H×W.
	n := 1
	if !l.cfg.Shared {
		if len(a.InShapes) == 0 || len(a.InShapes[0]) < 2 {
			return ONNXOut{}, fmt.Errorf("%s: ONNX export needs the input shape", a.Name)
		}
		n = a.InShapes[0][1]
	}
	shape, slope := a.Name+"/slope_shape", a.Name+"/slope"
	return ONNXOut{
		Consts: []ONNXConst{{Name: shape, Dims: []int{3}, Ints: []int64{int64(n), 1, 1}}},
		Nodes: []ONNXNode{
			{Op: "Reshape", Inputs: []string{a.Name + ".weight", shape}, Outputs: []string{slope}},
			{Op: "PRelu", Inputs: []string{a.Inputs[0], slope}, Outputs: []string{a.Name}},
		}}, nil
}
