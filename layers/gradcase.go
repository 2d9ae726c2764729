package layers

import (
	"math/rand/v2"

	"gorgonia.org/tensor"
)

// GradCase is one gradient check of a layer type, as plain data: the suite in autodiff
// builds the layer with Make, runs it in float64 on inputs of shapes In, and compares
// Backward with central finite differences of step Eps.
type GradCase struct {
	Name string  // unique within the type
	Eps  float64 // finite-difference step (see the Eps constants)
	Make func() (Layer, error)
	In   []tensor.Shape
	// Inputs, if set, fixes inputs (nil entries are drawn): labels, or values kept away
	// from a kink.
	Inputs     func() []*tensor.Dense
	Seed       uint64
	Training   bool // layers with a training mode run in it
	KeepParams bool // keep the values Init gives instead of drawing them (bilinear deconvs)
	// Want lists the tensors the check must compare, in order: "input0", ... then the
	// parameters. A check comparing others fails, so a layer that stops listing a
	// parameter cannot pass unnoticed.
	Want []string
}

// Steps of the central differences. The error of (f(x+h) − f(x−h))/2h has two parts:
// truncation, h²·f‴/6, and rounding, about ulp(L)/h for L = Σ out·R. Measured on the
// suite (max relative error of a case against h):
//
//   - Linear maps (conv, deconv, sum, crop, resize, dropout with its mask fixed) and
//     piecewise-linear ones away from their kinks (relu, prelu, maxpool) have no
//     truncation error, so a large step only shrinks the rounding: EpsLinear, with the
//     inputs of relu, prelu and maxpool kept farther than that from any kink. Sum gets
//     more: its 1e-4 coefficient makes that input's gradients 1e-4 of the others while
//     ulp(L) stays, and its error falls from 4e-7 at 1e-3 to 4e-8 at 1e-2.
//   - Smooth layers (batchnorm, the loss) balance the two near 1e-4: batchnorm's
//     training input gradient, a small difference of large terms, shows 1.1e-6 at the
//     default 1e-6 (rounding, ∝ 1/h), 2e-8 at 1e-4 and 2e-6 at 1e-3 (truncation, ∝ h²).
const (
	EpsLinear = 1e-3
	EpsSum    = 1e-2
	EpsSmooth = 1e-4
)

func ints(v ...int) []int { return v }

func boolPtr(b bool) *bool { return &b }

func bit(b bool) int {
	if b {
		return 1
	}
	return 0
}

// denseOf is a float64 tensor holding vals.
func denseOf(s tensor.Shape, vals []float64) *tensor.Dense {
	return tensor.New(tensor.WithShape(s.Clone()...), tensor.WithBacking(vals))
}

// DistinctValues returns a tensor holding a random permutation of n evenly spaced values
// in [-1, 1): max pooling is differentiable only where each window's maximum is unique,
// and a step moves one value by EpsLinear, so it cannot change an argmax while the
// spacing 2/n exceeds it — at the sizes the cases use (n ≤ 252) by eight times or more.
func DistinctValues(seed uint64, s tensor.Shape) *tensor.Dense {
	n := s.TotalSize()
	rng := rand.New(rand.NewPCG(seed, 1))
	v := make([]float64, n)
	for i, p := range rng.Perm(n) {
		v[i] = -1 + 2*float64(p)/float64(n)
	}
	return denseOf(s, v)
}

// AwayFromZero returns a tensor of values with |v| in [0.1, 1]: a kink at 0 (relu,
// prelu) is then 100 steps of EpsLinear away from every input.
func AwayFromZero(seed uint64, s tensor.Shape) *tensor.Dense {
	rng := rand.New(rand.NewPCG(seed, 2))
	v := make([]float64, s.TotalSize())
	for i := range v {
		m := 0.1 + 0.9*rng.Float64()
		if rng.IntN(2) == 0 {
			m = -m
		}
		v[i] = m
	}
	return denseOf(s, v)
}

// RandomLabels returns int32 labels of shape s in [0, classes), with a share ignored of
// the pixels set to ignore and a share invalid set to classes (no class: the loss treats
// it as ignored too).
func RandomLabels(seed uint64, classes, ignore int, ignored, invalid float64, s ...int) *tensor.Dense {
	rng := rand.New(rand.NewPCG(seed, 3))
	n := 1
	for _, d := range s {
		n *= d
	}
	v := make([]int32, n)
	for i := range v {
		switch u := rng.Float64(); {
		case u < ignored:
			v[i] = int32(ignore)
		case u < ignored+invalid:
			v[i] = int32(classes)
		default:
			v[i] = int32(rng.IntN(classes))
		}
	}
	return tensor.New(tensor.WithShape(s...), tensor.WithBacking(v))
}

// fixedInput makes a GradCase's Inputs from one generator for input 0.
func fixedInput(gen func(uint64, tensor.Shape) *tensor.Dense, seed uint64, s tensor.Shape) func() []*tensor.Dense {
	return func() []*tensor.Dense { return []*tensor.Dense{gen(seed, s)} }
}

// trainableOnly hides a layer's frozen parameters from a gradient check: Backward gives
// them no gradient (Caffe skips lr_mult 0), so there is nothing to compare; the input
// gradient is still checked through the frozen weights.
type trainableOnly struct{ Layer }

func (t trainableOnly) Params() []*Param {
	var ps []*Param
	for _, p := range t.Layer.Params() {
		if !p.Frozen() {
			ps = append(ps, p)
		}
	}
	return ps
}

// Init keeps the wrapped layer's initialisation (bilinear for a frozen deconv).
func (t trainableOnly) Init(rng *rand.Rand) {
	if in, ok := t.Layer.(Initializer); ok {
		in.Init(rng)
	}
}
