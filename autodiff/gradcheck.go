package autodiff

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/fcn-dev/fcn/layers"
	"gorgonia.org/tensor"
)

// CheckOptions configures CheckLayer.
type CheckOptions struct {
	// Eps is the central-difference step; 0 means 1e-6.
	Eps float64
	// Seed drives the random inputs, parameters and output projection.
	Seed uint64
	// Inputs optionally fixes inputs (float64, or int32 for labels); nil entries are drawn
	// uniformly from [-1, 1]. Inputs that are not float64 get no gradient check.
	Inputs []*tensor.Dense
	// Training puts layers that implement layers.TrainingSetter in training mode.
	Training bool
	// KeepParams leaves parameter values as Init set them instead of drawing them at random.
	KeepParams bool
}

// GradResult is the outcome for one tensor: an input ("input0", ...) or a parameter.
type GradResult struct {
	Tensor    string
	N         int     // elements compared
	MaxRelErr float64 // max over elements of |a−n| / max(|a|, |n|, floor)
	MaxAbsErr float64
}

// CheckLayer compares the layer's analytic gradients (Backward) with central finite
// differences in float64, for every float input and every parameter.
//
// The scalar being differentiated is L = Σ out·R with R a fixed random tensor, so dOut = R.
// Relative error per element is |a−n| / max(|a|, |n|, floor) where floor is 1e-3 of the
// largest numeric gradient magnitude in that tensor: an element whose true gradient is a
// million times smaller than its neighbours' is judged against the tensor's scale, not its
// own, because finite differences cannot resolve it more finely.
func CheckLayer(l layers.Layer, in []tensor.Shape, opt CheckOptions) ([]GradResult, error) {
	eps := opt.Eps
	if eps == 0 {
		eps = 1e-6
	}
	rng := rand.New(rand.NewPCG(opt.Seed, 0x9e3779b97f4a7c15))
	outShape, err := l.Setup(in, tensor.Float64)
	if err != nil {
		return nil, fmt.Errorf("gradcheck %s: setup: %w", l.Type(), err)
	}
	if ts, ok := l.(layers.TrainingSetter); ok {
		ts.SetTraining(opt.Training)
	}
	inputs := make([]*tensor.Dense, len(in))
	for i, s := range in {
		if i < len(opt.Inputs) && opt.Inputs[i] != nil {
			inputs[i] = opt.Inputs[i]
			continue
		}
		inputs[i] = randomDense(rng, s)
	}
	if init, ok := l.(layers.Initializer); ok {
		init.Init(rng)
	}
	if !opt.KeepParams {
		for _, p := range l.Params() {
			fillUniform(rng, p.Value.Data().([]float64))
		}
	}
	proj := randomDense(rng, outShape)
	out := tensor.New(tensor.WithShape(outShape...), tensor.Of(tensor.Float64))

	const seed = 12345
	loss := func() float64 {
		if st, ok := l.(layers.Stochastic); ok {
			st.SetSeed(seed)
		}
		if w, ok := l.(layers.ParamWatcher); ok {
			w.ParamsChanged() // the differences write parameters between forwards
		}
		l.Forward(inputs, out)
		var s float64
		for i, v := range out.Data().([]float64) {
			s += v * proj.Data().([]float64)[i]
		}
		return s
	}

	// Analytic gradients.
	loss()
	dIn := make([]*tensor.Dense, len(inputs))
	for i, x := range inputs {
		if x.Dtype() == tensor.Float64 {
			dIn[i] = tensor.New(tensor.WithShape(x.Shape().Clone()...), tensor.Of(tensor.Float64))
		}
	}
	for _, p := range l.Params() {
		zero(p.Grad.Data().([]float64))
	}
	l.Backward(inputs, out, proj, dIn)

	var results []GradResult
	compare := func(name string, vals, analytic []float64) {
		numeric := make([]float64, len(vals))
		for i := range vals {
			orig := vals[i]
			vals[i] = orig + eps
			lp := loss()
			vals[i] = orig - eps
			lm := loss()
			vals[i] = orig
			numeric[i] = (lp - lm) / (2 * eps)
		}
		results = append(results, compareGrads(name, analytic, numeric))
	}
	for i, x := range inputs {
		if dIn[i] == nil {
			continue
		}
		compare(fmt.Sprintf("input%d", i), x.Data().([]float64), dIn[i].Data().([]float64))
	}
	for _, p := range l.Params() {
		analytic := append([]float64(nil), p.Grad.Data().([]float64)...)
		compare(p.Name, p.Value.Data().([]float64), analytic)
	}
	return results, nil
}

func compareGrads(name string, analytic, numeric []float64) GradResult {
	var scale float64
	for _, v := range numeric {
		scale = math.Max(scale, math.Abs(v))
	}
	floor := math.Max(1e-3*scale, 1e-12)
	r := GradResult{Tensor: name, N: len(analytic)}
	for i := range analytic {
		d := math.Abs(analytic[i] - numeric[i])
		den := math.Max(math.Max(math.Abs(analytic[i]), math.Abs(numeric[i])), floor)
		r.MaxAbsErr = math.Max(r.MaxAbsErr, d)
		r.MaxRelErr = math.Max(r.MaxRelErr, d/den)
		if math.IsNaN(d) {
			r.MaxRelErr = math.NaN()
			break
		}
	}
	return r
}

func randomDense(rng *rand.Rand, s tensor.Shape) *tensor.Dense {
	d := tensor.New(tensor.WithShape(s.Clone()...), tensor.Of(tensor.Float64))
	fillUniform(rng, d.Data().([]float64))
	return d
}

func fillUniform(rng *rand.Rand, v []float64) {
	for i := range v {
		v[i] = 2*rng.Float64() - 1
	}
}

func zero[T layers.Float](v []T) {
	for i := range v {
		v[i] = 0
	}
}
