package layers

import (
	"fmt"
	"math/rand/v2"

	"gorgonia.org/tensor"
)

// DropoutConfig holds dropout's hyper-parameters. Start from DefaultDropoutConfig: the
// constructor takes P literally (P = 0 is valid and means no dropout).
type DropoutConfig struct {
	P float64 // probability of zeroing an element, 0 ≤ P < 1
}

// DefaultDropoutConfig is P = 0.5, as Caffe and PyTorch.
func DefaultDropoutConfig() DropoutConfig { return DropoutConfig{P: 0.5} }

// dropoutStream separates dropout's PCG stream from other users of the same seed.
const dropoutStream = 0x64726f706f7574 // "dropout"

// Dropout is inverted dropout: in training each element is zeroed with probability P
// and the survivors are scaled by 1/(1−P), so evaluation is the identity. Layers start
// in training mode, as PyTorch modules do.
//
// The mask comes from the layer's own PCG generator, reseeded by SetSeed: the same seed
// gives the same mask, bit for bit, whatever else runs. Without SetSeed between two
// forwards the stream simply continues.
type Dropout struct {
	name, prefix string
	p            float64
	training     bool
	pcg          *rand.PCG
	mask         []uint8 // 1 for elements kept by the last training forward, else 0
	size         int
}

// NewDropout validates cfg and returns the layer.
func NewDropout(name string, cfg DropoutConfig) (*Dropout, error) {
	prefix := layerPrefix("dropout", name)
	if !(cfg.P >= 0 && cfg.P < 1) { // also rejects NaN
		return nil, fmt.Errorf("%s: p must be in [0, 1), got %v", prefix, cfg.P)
	}
	return &Dropout{name: name, prefix: prefix, p: cfg.P, training: true, pcg: rand.NewPCG(0, dropoutStream)}, nil
}

// Name is the layer's node name.
func (l *Dropout) Name() string { return l.name }

// Type implements Layer.
func (l *Dropout) Type() string { return "dropout" }

// Params implements Layer: dropout has none.
func (l *Dropout) Params() []*Param { return nil }

// SetTraining implements TrainingSetter.
func (l *Dropout) SetTraining(training bool) { l.training = training }

// SetSeed implements Stochastic.
func (l *Dropout) SetSeed(seed uint64) { l.pcg.Seed(seed, dropoutStream) }

// SkipForwards advances the mask stream past n training forwards at the current size, as
// if they had run: a data-parallel rank whose micro-batches come after other ranks' in a
// step draws the masks one process would have drawn for them.
func (l *Dropout) SkipForwards(n int) {
	for range n * l.size {
		l.pcg.Uint64()
	}
}

// Footprint implements Footprinter: the output and the keep mask (one byte an element,
// counted as an element).
func (l *Dropout) Footprint(in []tensor.Shape) (Footprint, error) {
	return sameShapeFootprint(l.prefix, in, 1)
}

// Setup implements Layer.
func (l *Dropout) Setup(in []tensor.Shape, dt tensor.Dtype) (tensor.Shape, error) {
	size, err := setupElementwise(l.prefix, in, dt)
	if err != nil {
		return nil, err
	}
	l.size = size
	if cap(l.mask) >= l.size {
		l.mask = l.mask[:l.size]
	} else {
		l.mask = make([]uint8, l.size)
	}
	return in[0].Clone(), nil
}

// Forward implements Layer.
func (l *Dropout) Forward(in []*tensor.Dense, out *tensor.Dense) {
	if l.training {
		l.drawMask()
	}
	if isFloat32(out) {
		dropoutApply(l, floatsOf[float32](in[0]), floatsOf[float32](out), false)
	} else {
		dropoutApply(l, floatsOf[float64](in[0]), floatsOf[float64](out), false)
	}
}

// Backward implements Layer: the same mask and scale as the forward.
func (l *Dropout) Backward(in []*tensor.Dense, out, dOut *tensor.Dense, dIn []*tensor.Dense) {
	if dIn[0] == nil {
		return
	}
	if isFloat32(dOut) {
		dropoutApply(l, floatsOf[float32](dOut), floatsOf[float32](dIn[0]), true)
	} else {
		dropoutApply(l, floatsOf[float64](dOut), floatsOf[float64](dIn[0]), true)
	}
}

// drawMask keeps an element when a uniform draw in [0, 1) with 53 random bits is ≥ p.
func (l *Dropout) drawMask() {
	for i := range l.mask {
		u := float64(l.pcg.Uint64()>>11) * 0x1p-53
		l.mask[i] = uint8(b2i(u >= l.p))
	}
}

// dropoutApply writes (or, with add, adds) x·mask/(1−p) into y in training, x in eval.
// It multiplies by the 0/1 mask rather than branching on it: the mask is random, so a
// branch would mispredict half the time.
func dropoutApply[T Float](l *Dropout, x, y []T, add bool) {
	x, y = x[:l.size], y[:l.size]
	if !l.training {
		if add {
			for i, v := range x {
				y[i] += v
			}
		} else {
			copy(y, x)
		}
		return
	}
	scale := T(1 / (1 - l.p))
	m := l.mask[:l.size]
	if add {
		for i, v := range x {
			y[i] += v * scale * T(m[i])
		}
	} else {
		for i, v := range x {
			y[i] = v * scale * T(m[i])
		}
	}
}

func init() {
	Register(&Type{
		Name:   "dropout",
		Doc:    "inverted dropout: zeroes elements with probability p in training, identity in evaluation",
		Inputs: Arity{1, 1},
		Options: []Option{
			{Key: "p", Kind: KindFloat, Default: DefaultDropoutConfig().P, Check: numberCheck("in [0, 1)", func(p float64) bool { return p >= 0 && p < 1 }),
				Doc: "probability of zeroing an element, in [0, 1)"},
		},
		Build: func(a BuildArgs) ([]Built, error) {
			l, err := NewDropout(a.Name, DropoutConfig{P: a.Options.Float("p")})
			return single(a, l, err)
		},
		GradCases: func() []GradCase {
			var cs []GradCase
			for i, tc := range []struct {
				name  string
				p     float64
				train bool
				in    tensor.Shape
			}{
				// The check reseeds the layer before every forward: the mask stays fixed
				// and the map is linear.
				{"train_p0.3_fixed_seed", 0.3, true, tensor.Shape{1, 3, 5, 7}},
				{"train_p0.5_fixed_seed_batch2", 0.5, true, tensor.Shape{2, 2, 3, 5}},
				{"eval_p0.5", 0.5, false, tensor.Shape{2, 2, 3, 5}},
			} {
				cs = append(cs, GradCase{Name: tc.name, Eps: EpsLinear, In: []tensor.Shape{tc.in}, Seed: uint64(500 + i),
					Training: tc.train, Want: []string{"input0"},
					Make: func() (Layer, error) { return NewDropout("drop", DropoutConfig{P: tc.p}) }})
			}
			return cs
		},
		GradVariants: []string{"train", "eval"},
		Caffe:        "Dropout", ONNX: "Dropout", Torch: "nn.Dropout",
		CaffeMap: &CaffeMapping{Type: "Dropout", Field: "dropout_param",
			ToCaffe:   func(o Options, _ int) (CaffeFields, error) { return CaffeFields{"dropout_ratio": o.Float("p")}, nil },
			FromCaffe: func(r *CaffeReader, o *Options) error { return o.Set("p", r.Num("dropout_ratio", 0.5)) }},
		ONNXExport: onnxDropout,
	})
}

func onnxDropout(a ONNXArgs) (ONNXOut, error) { return ONNXOut{Alias: a.Inputs[0]}, nil }
