package layers

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"

	"gorgonia.org/tensor"
)

// BatchNormConfig holds batchnorm's hyper-parameters. Start from DefaultBatchNormConfig:
// the constructor takes the fields literally.
type BatchNormConfig struct {
	Eps float64 // added to the variance, > 0
	// Momentum is PyTorch's: running = (1−momentum)·running + momentum·batch, in [0, 1].
	Momentum float64
	// LRMult and DecayMult are Caffe's multipliers for both parameters (0 freezes them).
	LRMult, DecayMult float64
}

// DefaultBatchNormConfig is PyTorch's: eps 1e-5, momentum 0.1, parameters learned.
func DefaultBatchNormConfig() BatchNormConfig {
	return BatchNormConfig{Eps: 1e-5, Momentum: 0.1, LRMult: 1, DecayMult: 1}
}

// BatchNorm normalises each channel of an N×C×… input: y = γ·(x−μ)/√(σ²+eps) + β.
// In training μ and σ² are the batch's (biased variance) and the running statistics are
// updated with the unbiased variance, as PyTorch's BatchNorm2d; in evaluation the running
// statistics are used. Backward in training differentiates through μ and σ² too.
// Layers start in training mode, as PyTorch modules do.
//
// With one value per channel (N·H·W = 1) the unbiased variance is undefined; the
// running variance is then updated with the biased one (0) instead of failing.
type BatchNorm struct {
	name, prefix          string
	eps, momentum         float64
	lrMult, decayMult     float64
	training, lastTrained bool
	weight, bias          *Param
	runMean, runVar       *tensor.Dense
	dt                    tensor.Dtype
	n, c, s               int       // batch, channels, elements per channel per image
	mean, invStd          []float64 // per channel, of the last Forward (batch or running)
	unbiased              []float64 // per channel, the batch's unbiased variance (last training Forward)
	tracked               int64     // training forwards since Init: PyTorch's num_batches_tracked
}

// NewBatchNorm validates cfg and returns the layer.
func NewBatchNorm(name string, cfg BatchNormConfig) (*BatchNorm, error) {
	prefix := layerPrefix("batchnorm", name)
	def := DefaultBatchNormConfig()
	if !(cfg.Eps > 0) || math.IsInf(cfg.Eps, 0) {
		return nil, fmt.Errorf("%s: eps must be a positive number, got %v (default %v)", prefix, cfg.Eps, def.Eps)
	}
	if !(cfg.Momentum >= 0 && cfg.Momentum <= 1) {
		return nil, fmt.Errorf("%s: momentum must be in [0, 1], got %v (default %v)", prefix, cfg.Momentum, def.Momentum)
	}
	if !finiteNumber(cfg.LRMult) || cfg.LRMult < 0 || !finiteNumber(cfg.DecayMult) || cfg.DecayMult < 0 {
		return nil, fmt.Errorf("%s: lr_mult and decay_mult must be ≥ 0, got %v and %v", prefix, cfg.LRMult, cfg.DecayMult)
	}
	return &BatchNorm{name: name, prefix: prefix, eps: cfg.Eps, momentum: cfg.Momentum,
		lrMult: cfg.LRMult, decayMult: cfg.DecayMult, training: true}, nil
}

// Name is the layer's node name.
func (l *BatchNorm) Name() string { return l.name }

// Type implements Layer.
func (l *BatchNorm) Type() string { return "batchnorm" }

// Params implements Layer: weight (γ) and bias (β), one per channel, after the first Setup.
func (l *BatchNorm) Params() []*Param {
	if l.weight == nil {
		return nil
	}
	return []*Param{l.weight, l.bias}
}

// Buffers returns the running statistics, named as PyTorch's state_dict names them
// (running_mean, running_var), for checkpoints; nil before the first Setup. They are the
// layer's own tensors: writing into them (e.g. when loading a checkpoint) takes effect.
func (l *BatchNorm) Buffers() map[string]*tensor.Dense {
	if l.runMean == nil {
		return nil
	}
	return map[string]*tensor.Dense{"running_mean": l.runMean, "running_var": l.runVar}
}

// BatchesTracked is the number of training forwards since Init (or as set), which
// PyTorch's BatchNorm2d keeps as its num_batches_tracked buffer.
func (l *BatchNorm) BatchesTracked() int64 { return l.tracked }

// SetBatchesTracked sets the count BatchesTracked reports (loading a checkpoint).
func (l *BatchNorm) SetBatchesTracked(n int64) { l.tracked = n }

// SetTraining implements TrainingSetter.
func (l *BatchNorm) SetTraining(training bool) { l.training = training }

// Init implements Initializer: γ = 1, β = 0, running mean 0, running variance 1.
func (l *BatchNorm) Init(*rand.Rand) {
	l.tracked = 0
	if l.weight == nil {
		return
	}
	if l.dt == tensor.Float32 {
		batchNormReset[float32](l)
	} else {
		batchNormReset[float64](l)
	}
}

func batchNormReset[T Float](l *BatchNorm) {
	fillConst(floatsOf[T](l.weight.Value), 1)
	fillConst(floatsOf[T](l.bias.Value), 0)
	fillConst(floatsOf[T](l.runMean), 0)
	fillConst(floatsOf[T](l.runVar), 1)
}

// Footprint implements Footprinter: the output, weight and bias and the running mean
// and variance per channel.
func (l *BatchNorm) Footprint(in []tensor.Shape) (Footprint, error) {
	fp, err := sameShapeFootprint(l.prefix, in, 0)
	if err == nil {
		c := int64(channelsOf(in[0]))
		fp.Params, fp.Buffers, fp.Scratch = 2*c, 2*c+1, 4*c
	}
	return fp, err
}

// Setup implements Layer.
func (l *BatchNorm) Setup(in []tensor.Shape, dt tensor.Dtype) (tensor.Shape, error) {
	n, c, plane, err := setupChannels(l.prefix, in, dt)
	if err != nil {
		return nil, err
	}
	x := in[0]
	if l.weight != nil {
		if c != l.c {
			return nil, fmt.Errorf("%s: input has %d channels (%s) but the layer was set up for %d", l.prefix, c, dimsString(x), l.c)
		}
		if dt != l.dt {
			return nil, fmt.Errorf("%s: dtype %v but the parameters are %v", l.prefix, dt, l.dt)
		}
	} else {
		newVec := func() *tensor.Dense { return tensor.New(tensor.WithShape(c), tensor.Of(dt)) }
		l.weight = &Param{Name: "weight", Value: newVec(), Grad: newVec(), LRMult: l.lrMult, DecayMult: l.decayMult}
		l.bias = &Param{Name: "bias", Value: newVec(), Grad: newVec(), LRMult: l.lrMult, DecayMult: l.decayMult}
		l.runMean, l.runVar = newVec(), newVec()
		l.dt, l.c = dt, c
		// Parameters start zero (the Setup contract) until Init; the running variance
		// must start at 1 regardless, so evaluation before any training is well defined.
		if dt == tensor.Float32 {
			fillConst(floatsOf[float32](l.runVar), 1)
		} else {
			fillConst(floatsOf[float64](l.runVar), 1)
		}
		l.mean, l.invStd, l.unbiased = make([]float64, c), make([]float64, c), make([]float64, c)
	}
	l.n, l.s = n, plane
	return x.Clone(), nil
}

// Forward implements Layer.
func (l *BatchNorm) Forward(in []*tensor.Dense, out *tensor.Dense) {
	l.lastTrained = l.training
	if l.training {
		l.tracked++
	}
	if isFloat32(out) {
		batchNormForward(l, floatsOf[float32](in[0]), floatsOf[float32](out))
	} else {
		batchNormForward(l, floatsOf[float64](in[0]), floatsOf[float64](out))
	}
}

// Backward implements Layer, for the mode of the last Forward.
func (l *BatchNorm) Backward(in []*tensor.Dense, out, dOut *tensor.Dense, dIn []*tensor.Dense) {
	var dx32 []float32
	var dx64 []float64
	if dIn[0] != nil {
		if isFloat32(dOut) {
			dx32 = floatsOf[float32](dIn[0])
		} else {
			dx64 = floatsOf[float64](dIn[0])
		}
	}
	if isFloat32(dOut) {
		batchNormBackward(l, floatsOf[float32](in[0]), floatsOf[float32](dOut), dx32)
	} else {
		batchNormBackward(l, floatsOf[float64](in[0]), floatsOf[float64](dOut), dx64)
	}
}

func batchNormForward[T Float](l *BatchNorm, x, y []T) {
	n, c, s := l.n, l.c, l.s
	gamma, beta := floatsOf[T](l.weight.Value), floatsOf[T](l.bias.Value)
	rm, rv := floatsOf[T](l.runMean), floatsOf[T](l.runVar)
	m := float64(n * s)
	for ch := 0; ch < c; ch++ {
		var mean, variance float64
		if l.training {
			// Two passes, in float64, so the variance does not suffer cancellation.
			for i := 0; i < n; i++ {
				mean += bnSum(x[(i*c+ch)*s:][:s])
			}
			mean /= m
			for i := 0; i < n; i++ {
				variance += bnSumSqDev(x[(i*c+ch)*s:][:s], mean)
			}
			variance /= m
			unbiased := variance
			if m > 1 {
				unbiased = variance * m / (m - 1)
			}
			l.unbiased[ch] = unbiased
			bnUpdateRunning(l, rm, rv, ch, mean, unbiased)
		} else {
			mean, variance = float64(rm[ch]), float64(rv[ch])
		}
		inv := 1 / math.Sqrt(variance+l.eps)
		l.mean[ch], l.invStd[ch] = mean, inv
		a := float64(gamma[ch]) * inv // y = a·x + b
		b := float64(beta[ch]) - a*mean
		for i := 0; i < n; i++ {
			xs, ys := x[(i*c+ch)*s:][:s], y[(i*c+ch)*s:][:s]
			for j, v := range xs {
				ys[j] = T(a*float64(v) + b)
			}
		}
	}
}

// bnUpdateRunning is PyTorch's running-statistics update of channel ch.
func bnUpdateRunning[T Float](l *BatchNorm, rm, rv []T, ch int, mean, unbiased float64) {
	rm[ch] = T((1-l.momentum)*float64(rm[ch]) + l.momentum*mean)
	rv[ch] = T((1-l.momentum)*float64(rv[ch]) + l.momentum*unbiased)
}

// BatchStats returns the per-channel batch mean and unbiased variance of the last
// training Forward: the values it updated the running statistics with. Data-parallel
// training sends them to rank 0, which replays every rank's updates (UpdateRunning) in
// the order one process would have made them. The slices are the layer's own.
func (l *BatchNorm) BatchStats() (mean, unbiasedVar []float64) { return l.mean, l.unbiased }

// UpdateRunning applies one running-statistics update with a batch's per-channel mean
// and unbiased variance, exactly as a training Forward does.
func (l *BatchNorm) UpdateRunning(mean, unbiasedVar []float64) {
	if l.dt == tensor.Float32 {
		rm, rv := floatsOf[float32](l.runMean), floatsOf[float32](l.runVar)
		for ch := range l.c {
			bnUpdateRunning(l, rm, rv, ch, mean[ch], unbiasedVar[ch])
		}
		return
	}
	rm, rv := floatsOf[float64](l.runMean), floatsOf[float64](l.runVar)
	for ch := range l.c {
		bnUpdateRunning(l, rm, rv, ch, mean[ch], unbiasedVar[ch])
	}
}

// batchNormBackward adds the parameter gradients and, if dx is non-nil, the input gradient.
// Training: with x̂ = (x−μ)·inv, dx = γ·inv·(g − mean(g) − x̂·mean(g·x̂)).
// Evaluation: μ and inv are constants, so dx = γ·inv·g.
func batchNormBackward[T Float](l *BatchNorm, x, dy, dx []T) {
	n, c, s := l.n, l.c, l.s
	gamma := floatsOf[T](l.weight.Value)
	dGamma, dBeta := floatsOf[T](l.weight.Grad), floatsOf[T](l.bias.Grad)
	m := float64(n * s)
	for ch := 0; ch < c; ch++ {
		mean, inv := l.mean[ch], l.invStd[ch]
		var sg, sgx float64 // Σ g, Σ g·x̂
		for i := 0; i < n; i++ {
			a, b := bnSumDot(dy[(i*c+ch)*s:][:s], x[(i*c+ch)*s:][:s], mean)
			sg += a
			sgx += b * inv
		}
		dGamma[ch] += T(sgx)
		dBeta[ch] += T(sg)
		if dx == nil {
			continue
		}
		k := float64(gamma[ch]) * inv
		var mg, mgx float64
		if l.lastTrained {
			mg, mgx = sg/m, sgx/m
		}
		for i := 0; i < n; i++ {
			xs, gs, ds := x[(i*c+ch)*s:][:s], dy[(i*c+ch)*s:][:s], dx[(i*c+ch)*s:][:s]
			for j, g := range gs {
				xh := (float64(xs[j]) - mean) * inv
				ds[j] += T(k * (float64(g) - mg - xh*mgx))
			}
		}
	}
}

// The reductions below keep four float64 partial sums: one running sum is bound by the
// add latency, four are not. The order is fixed, so results stay deterministic.

// bnSum is Σ x.
func bnSum[T Float](x []T) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += float64(x[i])
		s1 += float64(x[i+1])
		s2 += float64(x[i+2])
		s3 += float64(x[i+3])
	}
	for ; i < len(x); i++ {
		s0 += float64(x[i])
	}
	return (s0 + s1) + (s2 + s3)
}

// bnSumSqDev is Σ (x−mean)².
func bnSumSqDev[T Float](x []T, mean float64) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		d0, d1, d2, d3 := float64(x[i])-mean, float64(x[i+1])-mean, float64(x[i+2])-mean, float64(x[i+3])-mean
		s0 += d0 * d0
		s1 += d1 * d1
		s2 += d2 * d2
		s3 += d3 * d3
	}
	for ; i < len(x); i++ {
		d := float64(x[i]) - mean
		s0 += d * d
	}
	return (s0 + s1) + (s2 + s3)
}

// bnSumDot is (Σ g, Σ g·(x−mean)).
func bnSumDot[T Float](g, x []T, mean float64) (sg, sgx float64) {
	x = x[:len(g)]
	var a0, a1, b0, b1 float64
	i := 0
	for ; i+2 <= len(g); i += 2 {
		g0, g1 := float64(g[i]), float64(g[i+1])
		a0 += g0
		a1 += g1
		b0 += g0 * (float64(x[i]) - mean)
		b1 += g1 * (float64(x[i+1]) - mean)
	}
	for ; i < len(g); i++ {
		a0 += float64(g[i])
		b0 += float64(g[i]) * (float64(x[i]) - mean)
	}
	return a0 + a1, b0 + b1
}

func init() {
	def := DefaultBatchNormConfig()
	Register(&Type{
		Name:   "batchnorm",
		Doc:    "batch normalisation per channel with running statistics (PyTorch's BatchNorm2d)",
		Inputs: Arity{1, 1},
		Options: []Option{
			{Key: "eps", Kind: KindFloat, Default: def.Eps, Check: positive, Doc: "added to the variance"},
			{Key: "momentum", Kind: KindFloat, Default: def.Momentum, Check: numberCheck("in [0, 1]", func(x float64) bool { return x >= 0 && x <= 1 }),
				Doc: "PyTorch's: running = (1−momentum)·running + momentum·batch"},
			optLRMult, optDecayMult, optLearn,
		},
		Build: func(a BuildArgs) ([]Built, error) {
			o := a.Options
			lr, decay := multipliers(o)
			l, err := NewBatchNorm(a.Name, BatchNormConfig{Eps: o.Float("eps"), Momentum: o.Float("momentum"), LRMult: lr, DecayMult: decay})
			return single(a, l, err)
		},
		GradCases:    batchnormGradCases,
		GradVariants: []string{"train", "eval"},
		Caffe:        "BatchNorm", ONNX: "BatchNormalization", Torch: "nn.BatchNorm2d",
		CaffeMap: &CaffeMapping{Type: "BatchNorm", Field: "batch_norm_param", Absorb: "Scale", AbsorbField: "scale_param",
			Blobs: []string{"running_mean", "running_var", "", "weight", "bias"}, Dims: []int{1, 1, 1, 1, 1}, Factor: 3,
			ToCaffe: batchnormToCaffe, FromCaffe: batchnormFromCaffe},
		ONNXExport: onnxBatchNorm,
	})
}

// bnRandomStats gives the running statistics random values after Init (which resets
// them to 0 and 1), so the evaluation cases exercise them.
type bnRandomStats struct{ *BatchNorm }

func (b bnRandomStats) Init(rng *rand.Rand) {
	b.BatchNorm.Init(rng)
	// By name, not by ranging over the map: its order is random, and so would the
	// values be.
	bufs := b.Buffers()
	mean, variance := bufs["running_mean"].Float64s(), bufs["running_var"].Float64s()
	for i := range mean {
		mean[i] = 2*rng.Float64() - 1
	}
	for i := range variance {
		variance[i] = 0.5 + rng.Float64() // positive, as a variance must be
	}
}

func batchnormGradCases() []GradCase {
	var cs []GradCase
	for i, tc := range []struct {
		name string
		in   tensor.Shape
	}{
		{"batch2_3ch_5x7", tensor.Shape{2, 3, 5, 7}},
		{"batch3_2ch_3x3", tensor.Shape{3, 2, 3, 3}},
		{"batch4_3ch_flat", tensor.Shape{4, 3}},
		{"batch1_2ch_1x3", tensor.Shape{1, 2, 1, 3}},
	} {
		for _, train := range []bool{true, false} {
			mode := "train"
			if !train {
				mode = "eval"
			}
			cs = append(cs, GradCase{Name: mode + "_" + tc.name, Eps: EpsSmooth, In: []tensor.Shape{tc.in},
				Seed: uint64(800 + 2*i + bit(train)), Training: train, Want: []string{"input0", "weight", "bias"},
				Make: func() (Layer, error) {
					l, err := NewBatchNorm("bn", DefaultBatchNormConfig())
					if !train {
						return bnRandomStats{l}, err
					}
					return l, err
				}})
		}
	}
	return cs
}

// batchnormToCaffe is batch_norm_param and, prefixed "Scale.", the Scale layer with bias
// that carries the affine weight and bias (Caffe's BatchNorm has none).
func batchnormToCaffe(o Options, _ int) (CaffeFields, error) {
	return CaffeFields{"eps": o.Float("eps"), "moving_average_fraction": 1 - o.Float("momentum"), "Scale.bias_term": true}, nil
}

// batchnormFromCaffe reads a BatchNorm and the Scale (bias_term: true) that follows it.
func batchnormFromCaffe(r *CaffeReader, o *Options) error {
	if !r.Bool("Scale.bias_term", false) {
		return fmt.Errorf("needs a following in-place Scale layer with bias_term: true (fcn's batchnorm has weight and bias)")
	}
	r.Ignore("use_global_stats", "Scale.axis", "Scale.num_axes", "Scale.filler.type", "Scale.filler.value", "Scale.bias_filler.type", "Scale.bias_filler.value")
	if err := o.Set("eps", r.Num("eps", 1e-5)); err != nil {
		return err
	}
	// PyTorch's momentum is 1 − Caffe's fraction, rounded to the fraction's float32 digits.
	m, _ := strconv.ParseFloat(strconv.FormatFloat(1-r.Num("moving_average_fraction", 0.999), 'g', 7, 64), 64)
	return o.Set("momentum", m)
}

func onnxBatchNorm(a ONNXArgs) (ONNXOut, error) {
	l, err := onnxLayer[*BatchNorm](a)
	if err != nil {
		return ONNXOut{}, err
	}
	p := a.Name + "."
	return ONNXOut{Nodes: []ONNXNode{{Op: "BatchNormalization",
		Inputs:  []string{a.Inputs[0], p + "weight", p + "bias", p + "running_mean", p + "running_var"},
		Outputs: []string{a.Name}, Attrs: map[string]any{"epsilon": l.eps}}}}, nil
}
