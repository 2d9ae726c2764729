package layers

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/fcn-dev/fcn/internal/par"
	"github.com/fcn-dev/fcn/layers/internal/vecmath"
	"gorgonia.org/tensor"
)

// Loss normalisations.
const (
	NormalizeMean = "mean" // divide by the number (or total class weight) of valid pixels
	NormalizeSum  = "sum"  // no division: FCN's unnormalised loss
)

// SoftmaxCrossEntropyConfig holds the loss's hyper-parameters (the `loss` section of an
// experiment). Start from DefaultSoftmaxCrossEntropyConfig: the constructor takes the
// fields literally, and an empty Normalize is an error.
type SoftmaxCrossEntropyConfig struct {
	// Normalize is "mean" (over valid pixels; with class weights the weighted mean
	// Σ w_y·ℓ / Σ w_y, as PyTorch's cross_entropy) or "sum" (Σ w_y·ℓ, FCN's unnormalised
	// loss; Caffe's normalize: false divides that by the batch size, which FCN keeps at 1).
	Normalize string
	// IgnoreLabel marks pixels that contribute neither loss nor gradient (VOC's 255).
	IgnoreLabel int
	// ClassWeights, if set, has one non-negative weight per class.
	ClassWeights []float64
}

// DefaultSoftmaxCrossEntropyConfig is mean normalisation, ignore label 255, no weights.
func DefaultSoftmaxCrossEntropyConfig() SoftmaxCrossEntropyConfig {
	return SoftmaxCrossEntropyConfig{Normalize: NormalizeMean, IgnoreLabel: 255}
}

// SoftmaxCrossEntropy is the per-pixel softmax cross-entropy loss. Inputs: scores
// N×C×H×W (float) and labels N×H×W (Int32 tensor); output: shape (1), the loss.
// Labels get no gradient.
//
// A label that is neither in [0, C) nor the ignore label cannot be reported from Forward,
// which returns no error: such pixels are treated as ignored and counted (InvalidLabels).
// Call CheckLabels to turn them into an error, e.g. once per batch in the data loader.
// A batch with no valid pixel has loss 0 and gradient 0 (never NaN).
type SoftmaxCrossEntropy struct {
	name, prefix string
	mean         bool
	ignore       int
	weights      []float64
	n, c, s      int        // batch, classes, pixels per image
	maxScore     []float64  // per pixel max score: Forward's scratch
	maxScore32   []float32  // the same in float32, for the float32 exponentials
	sum          []float64  // per pixel Σ exp(scores − max), from Forward, for Backward
	wpix         []float64  // per pixel class weight of its label, 0 where ignored
	k            lossKernel // the state for the dtype of the last Setup
	norm         float64    // the divisor of the last Forward (0: no valid pixel)
	invalid      int
	assign       bool // Backward overwrites the scores' gradient (GradAssigner)
}

// SetAssignGrad implements GradAssigner for the scores.
func (l *SoftmaxCrossEntropy) SetAssignGrad(i int, assign bool) bool {
	if i != 0 {
		return false // labels have no gradient
	}
	l.assign = assign
	return assign
}

// NewSoftmaxCrossEntropy validates cfg and returns the loss layer. The number of class
// weights is checked against the scores' channels in Setup.
func NewSoftmaxCrossEntropy(name string, cfg SoftmaxCrossEntropyConfig) (*SoftmaxCrossEntropy, error) {
	prefix := layerPrefix("softmax_cross_entropy", name)
	l := &SoftmaxCrossEntropy{name: name, prefix: prefix, ignore: cfg.IgnoreLabel}
	switch cfg.Normalize {
	case NormalizeMean:
		l.mean = true
	case NormalizeSum:
	default:
		return nil, fmt.Errorf("%s: normalize must be %q or %q, got %q", prefix, NormalizeMean, NormalizeSum, cfg.Normalize)
	}
	for i, w := range cfg.ClassWeights {
		if !(w >= 0) || math.IsInf(w, 0) {
			return nil, fmt.Errorf("%s: class_weights[%d] is %v, want a finite number ≥ 0", prefix, i, w)
		}
	}
	l.weights = append([]float64(nil), cfg.ClassWeights...)
	return l, nil
}

// Name is the layer's node name.
func (l *SoftmaxCrossEntropy) Name() string { return l.name }

// Type implements Layer.
func (l *SoftmaxCrossEntropy) Type() string { return "softmax_cross_entropy" }

// Params implements Layer: the loss has none.
func (l *SoftmaxCrossEntropy) Params() []*Param { return nil }

// InvalidLabels is the number of pixels in the last Forward whose label was neither a
// class nor the ignore label (they were treated as ignored).
func (l *SoftmaxCrossEntropy) InvalidLabels() int { return l.invalid }

// Footprint implements Footprinter: a scalar, and per pixel the max score, the sum of
// exponentials and the label's weight (float64 each, counted as two elements).
func (l *SoftmaxCrossEntropy) Footprint(in []tensor.Shape) (Footprint, error) {
	if len(in) != 2 || len(in[0]) != 4 {
		return Footprint{}, fmt.Errorf("%s: wants scores N×C×H×W and labels N×H×W, got %v", l.prefix, in)
	}
	if err := checkDims(l.prefix, in); err != nil {
		return Footprint{}, err
	}
	if sc, lb := in[0], in[1]; len(lb) != 3 || lb[0] != sc[0] || lb[1] != sc[2] || lb[2] != sc[3] {
		return Footprint{}, fmt.Errorf("%s: labels are %s but scores %s need labels %s (N×H×W)", l.prefix, dimsString(lb), dimsString(sc), dimsString(tensor.Shape{sc[0], sc[2], sc[3]}))
	}
	px, err := mulDims(l.prefix, in[0][0], in[0][2], in[0][3])
	if err != nil {
		return Footprint{}, err
	}
	return Footprint{Out: tensor.Shape{1}, Scratch: 6 * px}, nil
}

// Setup implements Layer.
func (l *SoftmaxCrossEntropy) Setup(in []tensor.Shape, dt tensor.Dtype) (tensor.Shape, error) {
	if err := checkInputCount(l.prefix, in, 2); err != nil {
		return nil, fmt.Errorf("%w (scores N×C×H×W, labels N×H×W)", err)
	}
	if err := checkFloatDtype(l.prefix, dt); err != nil {
		return nil, err
	}
	if err := checkNCHW(l.prefix, "scores", in[0]); err != nil {
		return nil, err
	}
	sc, lb := in[0], in[1]
	if len(lb) != 3 || lb[0] != sc[0] || lb[1] != sc[2] || lb[2] != sc[3] {
		return nil, fmt.Errorf("%s: labels are %s but scores %s need labels %s (N×H×W)",
			l.prefix, dimsString(lb), dimsString(sc), dimsString(tensor.Shape{sc[0], sc[2], sc[3]}))
	}
	if len(l.weights) > 0 && len(l.weights) != sc[1] {
		return nil, fmt.Errorf("%s: %d class_weights for %d classes (scores %s)", l.prefix, len(l.weights), sc[1], dimsString(sc))
	}
	l.n, l.c, l.s = sc[0], sc[1], sc[2]*sc[3]
	l.maxScore = growSlice(l.maxScore, l.n*l.s)
	if dt == tensor.Float32 {
		l.maxScore32 = growSlice(l.maxScore32, l.n*l.s)
	}
	l.wpix = growSlice(l.wpix, l.n*l.s)
	l.sum = growSlice(l.sum, l.n*l.s)
	if dt == tensor.Float32 {
		l.k = lossKernelFor[float32](l.k, l)
	} else {
		l.k = lossKernelFor[float64](l.k, l)
	}
	return tensor.Shape{1}, nil
}

// CheckLabels returns an error naming the first label that is neither in [0, C) nor
// the ignore label, with its position and the number of such labels; it also checks
// the tensor's dtype and shape against the last Setup.
func (l *SoftmaxCrossEntropy) CheckLabels(labels *tensor.Dense) error {
	if labels.Dtype() != tensor.Int32 {
		return fmt.Errorf("%s: labels must be int32, got %v", l.prefix, labels.Dtype())
	}
	if l.s == 0 {
		return fmt.Errorf("%s: CheckLabels called before Setup", l.prefix)
	}
	if sh := labels.Shape(); len(sh) != 3 || sh[0] != l.n || sh[1]*sh[2] != l.s {
		return fmt.Errorf("%s: labels are %s, want N×H×W with N=%d and H·W=%d as set up", l.prefix, dimsString(sh), l.n, l.s)
	}
	w := labels.Shape()[2]
	bad, first := 0, -1
	for i, y := range int32sOf(labels) {
		if !l.validLabel(y) && int(y) != l.ignore {
			if bad == 0 {
				first = i
			}
			bad++
		}
	}
	if bad > 0 {
		y := int32sOf(labels)[first]
		n, p := first/l.s, first%l.s
		return fmt.Errorf("%s: label %d at image %d, row %d, column %d is not a class in [0, %d) nor the ignore label %d (%d such pixels)",
			l.prefix, y, n, p/w, p%w, l.c, l.ignore, bad)
	}
	return nil
}

func (l *SoftmaxCrossEntropy) validLabel(y int32) bool {
	return y >= 0 && int(y) < l.c && int(y) != l.ignore
}

func (l *SoftmaxCrossEntropy) weight(y int32) float64 {
	if len(l.weights) == 0 {
		return 1
	}
	return l.weights[y]
}

// Forward implements Layer.
func (l *SoftmaxCrossEntropy) Forward(in []*tensor.Dense, out *tensor.Dense) {
	l.k.forward(in[0], int32sOf(in[1]), out)
}

// lossKernel is the loss's state for one element type, made in Setup, so that Forward
// and Backward dispatch on the dtype once per call.
type lossKernel interface {
	forward(x *tensor.Dense, labels []int32, out *tensor.Dense)
	backward(labels []int32, dOut, dx *tensor.Dense)
}

// lossKernelFor returns k if it is the state for T, else a new one, with buffers sized
// for l's shapes.
func lossKernelFor[T Float](k lossKernel, l *SoftmaxCrossEntropy) *lossJob[T] {
	j, ok := k.(*lossJob[T])
	if !ok {
		j = &lossJob[T]{}
	}
	j.l = l
	j.e = growSlice(j.e, l.n*l.c*l.s)
	j.coef = growSlice(j.coef, l.n*l.s)
	return j
}

func (j *lossJob[T]) forward(x *tensor.Dense, labels []int32, out *tensor.Dense) {
	floatsOf[T](out)[0] = T(j.lossForward(floatsOf[T](x), labels))
}

func (j *lossJob[T]) backward(labels []int32, dOut, dx *tensor.Dense) {
	j.lossBackward(labels, float64(floatsOf[T](dOut)[0]), floatsOf[T](dx))
}

func (j *lossJob[T]) lossForward(x []T, labels []int32) float64 {
	l := j.l
	j.x, j.labels, j.back = x, labels, false
	j.run(l.n)
	var total, norm float64
	l.invalid = 0
	for i := range j.total {
		total += j.total[i]
		norm += j.norm[i]
		l.invalid += j.invalid[i]
	}
	if !l.mean {
		l.norm = 1
		return total
	}
	l.norm = norm
	if norm == 0 {
		return 0
	}
	return total / norm
}

func (j *lossJob[T]) lossBackward(labels []int32, dOut float64, dx []T) {
	l := j.l
	if l.norm == 0 {
		if l.assign {
			clear(dx)
		}
		return // no valid pixel: the loss is the constant 0
	}
	j.dx, j.labels, j.back = dx, labels, true
	j.scale = dOut / l.norm
	j.run(l.n)
}

// Backward implements Layer: dScores = dOut·w_y·(softmax − onehot(y))/norm on valid pixels.
func (l *SoftmaxCrossEntropy) Backward(in []*tensor.Dense, out, dOut *tensor.Dense, dIn []*tensor.Dense) {
	if dIn[0] == nil {
		return
	}
	l.k.backward(int32sOf(in[1]), dOut, dIn[0])
}

// lossPixelBlock is the pixels of one task of the loss: tasks are fixed blocks of one
// image, independent of the thread count, and their partial sums are added in task
// order, so the loss is the same bit for bit however many goroutines run.
const lossPixelBlock = 2048

// lossJob runs the loss's forward or backward pass over blocks of pixels in parallel.
type lossJob[T Float] struct {
	l       *SoftmaxCrossEntropy
	x, dx   []T
	e       []T // exp(x − max) per score, from Forward, for Backward
	coef    []T // Backward's factor per pixel
	labels  []int32
	scale   float64 // Backward: dOut / norm
	back    bool
	blocks  int // per image
	total   []float64
	norm    []float64
	invalid []int
}

func (j *lossJob[T]) run(n int) {
	j.blocks = (j.l.s + lossPixelBlock - 1) / lossPixelBlock
	tasks := n * j.blocks
	if !j.back {
		if cap(j.total) < tasks {
			j.total, j.norm, j.invalid = make([]float64, tasks), make([]float64, tasks), make([]int, tasks)
		}
		j.total, j.norm, j.invalid = j.total[:tasks], j.norm[:tasks], j.invalid[:tasks]
	}
	par.Run(tasks, j)
	j.x, j.dx, j.labels = nil, nil, nil
}

func (j *lossJob[T]) Do(i int) {
	n, b := i/j.blocks, i%j.blocks
	p0 := b * lossPixelBlock
	p1 := min(p0+lossPixelBlock, j.l.s)
	if j.back {
		lossBackwardBlock(j, n, p0, p1)
	} else {
		j.total[i], j.norm[i], j.invalid[i] = lossForwardBlock(j, n, p0, p1)
	}
}

// lossForwardBlock computes, for pixels [p0, p1) of image n, the stable
// log Σ_c exp(x_c) = m + log Σ_c exp(x_c − m) with m the pixel's max score, keeps
// exp(x_c − m) for Backward, and returns the block's weighted loss, weight and number
// of invalid labels. Channel-outer loops keep memory access contiguous.
func lossForwardBlock[T Float](j *lossJob[T], n, p0, p1 int) (total, norm float64, invalid int) {
	l := j.l
	c, s := l.c, l.s
	base := n*c*s + p0
	np := p1 - p0
	lab := j.labels[n*s+p0:][:np]
	mx, se := l.maxScore[n*s+p0:][:np], l.sum[n*s+p0:][:np]
	clear(se)
	if unsafe.Sizeof(T(0)) == 4 {
		// float32: the max in float32 (exact), then the exponentials and their sums
		// by vecmath.ExpSubAccum, vectors of Exp32.
		x, e := f32(j.x), f32(j.e)
		mx32 := l.maxScore32[n*s+p0:][:np]
		copy(mx32, x[base:][:np])
		for ch := 1; ch < c; ch++ {
			vecmath.MaxInto(mx32, x[base+ch*s:][:np])
		}
		for p, v := range mx32 {
			mx[p] = float64(v)
		}
		for ch := 0; ch < c; ch++ {
			vecmath.ExpSubAccum(e[base+ch*s:][:np], x[base+ch*s:][:np], mx32, se)
		}
	} else {
		for p, v := range j.x[base:][:np] {
			mx[p] = float64(v)
		}
		for ch := 1; ch < c; ch++ {
			for p, v := range j.x[base+ch*s:][:np] {
				mx[p] = max(mx[p], float64(v))
			}
		}
		for ch := 0; ch < c; ch++ {
			xs, es := j.x[base+ch*s:][:np], j.e[base+ch*s:][:np]
			for p, v := range xs {
				e := expOf(v - T(mx[p]))
				es[p] = e
				se[p] += float64(e)
			}
		}
	}
	wpix := l.wpix[n*s+p0:][:np]
	for p, y := range lab {
		if !l.validLabel(y) {
			if int(y) != l.ignore {
				invalid++
			}
			wpix[p] = 0
			continue
		}
		w := l.weight(y)
		wpix[p] = w
		lse := mx[p] + math.Log(se[p])
		total += w * (lse - float64(j.x[base+int(y)*s+p]))
		norm += w
	}
	return total, norm, invalid
}

// lossBackwardBlock adds dOut·w_y·(softmax − onehot(y))/norm for pixels [p0, p1) of
// image n, with softmax = exp(x − m) / Σ exp(x − m) from Forward's buffers.
func lossBackwardBlock[T Float](j *lossJob[T], n, p0, p1 int) {
	l := j.l
	c, s := l.c, l.s
	base := n*c*s + p0
	np := p1 - p0
	lab := j.labels[n*s+p0:][:np]
	// Per pixel: a = scale·w/Σexp multiplies exp(x − m); the label's channel also
	// loses scale·w.
	se, wpix := l.sum[n*s+p0:][:np], l.wpix[n*s+p0:][:np]
	coef := j.coef[n*s+p0:][:np]
	for p, w := range wpix {
		coef[p] = 0 // an ignored pixel: no gradient, even where its sum is NaN
		if w != 0 {
			coef[p] = T(j.scale * w / se[p])
		}
	}
	for ch := 0; ch < c; ch++ {
		es, dc := j.e[base+ch*s:][:np], j.dx[base+ch*s:][:np]
		if unsafe.Sizeof(es[0]) == 4 {
			// AVX-512 vectors, the same results.
			vecmath.MulWhere(f32(dc), f32(coef), f32(es), !l.assign)
			continue
		}
		if l.assign {
			for p, a := range coef {
				dc[p] = 0
				if a != 0 { // ignored pixels get no gradient, even from a non-finite score
					dc[p] = a * es[p]
				}
			}
			continue
		}
		for p, a := range coef {
			if a != 0 {
				dc[p] += T(a * es[p])
			}
		}
	}
	for p, w := range wpix {
		if w != 0 {
			j.dx[base+int(lab[p])*s+p] -= T(j.scale * w)
		}
	}
}

// LossType is the registered type of the loss: not written in model.layers, but built
// from an experiment's loss section with these options.
const LossType = "softmax_cross_entropy"

func init() {
	def := DefaultSoftmaxCrossEntropyConfig()
	Register(&Type{
		Name:     LossType,
		Doc:      "per-pixel softmax cross-entropy of scores against labels (the experiment's loss section)",
		Inputs:   Arity{2, 2},
		Internal: true,
		Options: []Option{
			{Key: "normalize", Kind: KindString, Default: def.Normalize, Choices: []string{NormalizeMean, NormalizeSum},
				Doc: "mean over valid pixels, or sum (FCN's unnormalised loss)"},
			{Key: "ignore_label", Kind: KindInt, Default: def.IgnoreLabel, Doc: "label of pixels without loss or gradient"},
			{Key: "class_weights", Kind: KindFloats, DefaultDoc: "1 for every class", Doc: "one weight ≥ 0 per class",
				Check: func(v any) string {
					for i, w := range v.([]float64) {
						if msg := nonNegative(w); msg != "" {
							return fmt.Sprintf("weight %d %s", i, msg)
						}
					}
					return ""
				}},
		},
		Build: func(a BuildArgs) ([]Built, error) {
			o := a.Options
			l, err := NewSoftmaxCrossEntropy(a.Name, SoftmaxCrossEntropyConfig{
				Normalize: o.String("normalize"), IgnoreLabel: o.Int("ignore_label"), ClassWeights: o.Floats("class_weights")})
			return single(a, l, err)
		},
		GradCases:    lossGradCases,
		GradVariants: []string{"ignore", "class_weights", "mean", "sum"},
		Caffe:        "SoftmaxWithLoss", Torch: "nn.CrossEntropyLoss",
	})
}

func lossGradCases() []GradCase {
	var cs []GradCase
	for i, tc := range []struct {
		name            string
		normalize       string
		ignore          int
		weights         []float64
		ignored, badCls float64 // shares of ignored pixels and of labels = classes
		n, c, h, w      int
	}{
		{"mean_ignore255", "mean", 255, nil, 0.1, 0.1, 2, 5, 3, 7},
		{"sum_ignore255", "sum", 255, nil, 0.1, 0.1, 2, 5, 3, 7},
		{"mean_class_weights", "mean", 255, []float64{0.5, 2, 1, 0, 3}, 0.1, 0, 2, 5, 5, 3},
		{"sum_class_weights", "sum", 255, []float64{0.5, 2, 1, 0, 3}, 0.1, 0, 1, 5, 5, 3},
		{"mean_mostly_ignored", "mean", 255, nil, 0.9, 0, 2, 4, 5, 5},
		{"mean_ignore_class0", "mean", 0, nil, 0, 0, 2, 3, 4, 3},
		{"binary_batch3", "mean", 255, nil, 0, 0, 3, 2, 3, 3},
		{"all_ignored", "mean", 255, nil, 1, 0, 1, 3, 2, 3},
	} {
		seed := uint64(900 + i)
		cs = append(cs, GradCase{Name: tc.name, Eps: EpsSmooth, In: []tensor.Shape{{tc.n, tc.c, tc.h, tc.w}, {tc.n, tc.h, tc.w}},
			Seed: seed, Want: []string{"input0"},
			Make: func() (Layer, error) {
				return NewSoftmaxCrossEntropy("loss", SoftmaxCrossEntropyConfig{
					Normalize: tc.normalize, IgnoreLabel: tc.ignore, ClassWeights: tc.weights})
			},
			Inputs: func() []*tensor.Dense {
				return []*tensor.Dense{nil, RandomLabels(seed, tc.c, tc.ignore, tc.ignored, tc.badCls, tc.n, tc.h, tc.w)}
			}})
	}
	return cs
}
