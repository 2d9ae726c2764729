package autodiff

// Small layers for testing the graph on its own, independent of the real layers in
// layers/. Each one is simple enough to check by eye; all run in float32 and float64
// without allocating in Forward or Backward.

import (
	"fmt"
	"math/rand/v2"

	"github.com/fcn-dev/fcn/layers"
	"gorgonia.org/tensor"
)

// f64 / f32 return the backing slice without the allocation tensor.Dense.Data costs.
func f64(d *tensor.Dense) []float64 { return d.Float64s() }

func newParam(name string, dt tensor.Dtype, s ...int) *layers.Param {
	return &layers.Param{
		Name:   name,
		Value:  tensor.New(tensor.WithShape(s...), tensor.Of(dt)),
		Grad:   tensor.New(tensor.WithShape(s...), tensor.Of(dt)),
		LRMult: 1, DecayMult: 1,
	}
}

// calls records what the graph asked of a layer.
type calls struct {
	setups    int
	forwards  int
	backwards int
	dInNil    []bool // per input, in the last Backward
}

func (c *calls) recordBackward(dIn []*tensor.Dense) {
	c.backwards++
	c.dInNil = c.dInNil[:0]
	for _, d := range dIn {
		c.dInNil = append(c.dInNil, d == nil)
	}
}

// forEach runs f on the float64 or float32 view of the tensors (all of one dtype).
func view(d *tensor.Dense) (s32 []float32, s64 []float64) {
	if d == nil {
		return nil, nil
	}
	if d.Dtype() == tensor.Float32 {
		return d.Float32s(), nil
	}
	return nil, d.Float64s()
}

// get/set read and write element i of a float32 or float64 tensor as float64.
func get(d *tensor.Dense, i int) float64 {
	a, b := view(d)
	if a != nil {
		return float64(a[i])
	}
	return b[i]
}

func set(d *tensor.Dense, i int, v float64) {
	a, b := view(d)
	if a != nil {
		a[i] = float32(v)
		return
	}
	b[i] = v
}

func add(d *tensor.Dense, i int, v float64) { set(d, i, get(d, i)+v) }

// scaleLayer: out[n,c,h,w] = weight[c]·x[n,c,h,w] + bias[c].
type scaleLayer struct {
	calls
	w, b *layers.Param
	c    int
}

func (l *scaleLayer) Type() string { return "scale" }
func (l *scaleLayer) Setup(in []tensor.Shape, dt tensor.Dtype) (tensor.Shape, error) {
	l.setups++
	if len(in) != 1 || len(in[0]) != 4 {
		return nil, fmt.Errorf("scale: want one 4-D input, got %v", in)
	}
	if l.w == nil {
		l.c = in[0][1]
		l.w, l.b = newParam("weight", dt, l.c), newParam("bias", dt, l.c)
		fillDense(l.w.Value, 1)
	} else if in[0][1] != l.c {
		return nil, fmt.Errorf("scale: %d channels, the weights have %d", in[0][1], l.c)
	}
	return in[0].Clone(), nil
}
func (l *scaleLayer) Forward(in []*tensor.Dense, out *tensor.Dense) {
	l.forwards++
	s := in[0].Shape()
	hw := s[2] * s[3]
	for i := range s.TotalSize() {
		c := i / hw % s[1]
		set(out, i, get(l.w.Value, c)*get(in[0], i)+get(l.b.Value, c))
	}
}
func (l *scaleLayer) Backward(in []*tensor.Dense, out, dOut *tensor.Dense, dIn []*tensor.Dense) {
	l.recordBackward(dIn)
	s := in[0].Shape()
	hw := s[2] * s[3]
	for i := range s.TotalSize() {
		c := i / hw % s[1]
		g := get(dOut, i)
		add(l.w.Grad, c, g*get(in[0], i))
		add(l.b.Grad, c, g)
		if dIn[0] != nil {
			add(dIn[0], i, g*get(l.w.Value, c))
		}
	}
}
func (l *scaleLayer) Params() []*layers.Param { return []*layers.Param{l.w, l.b} }
func (l *scaleLayer) Init(rng *rand.Rand) {
	for i := range l.c {
		set(l.w.Value, i, 0.5+rng.Float64())
		set(l.b.Value, i, 0)
	}
}
func (l *scaleLayer) MACs() int64 { return 0 }

// addLayer: out = Σ in[i], all of one shape.
type addLayer struct{ calls }

func (l *addLayer) Type() string { return "add" }
func (l *addLayer) Setup(in []tensor.Shape, dt tensor.Dtype) (tensor.Shape, error) {
	l.setups++
	for i := 1; i < len(in); i++ {
		if !sameShape(in[i], in[0]) {
			return nil, fmt.Errorf("add: input %d has shape %v, input 0 %v", i, in[i], in[0])
		}
	}
	return in[0].Clone(), nil
}
func (l *addLayer) Forward(in []*tensor.Dense, out *tensor.Dense) {
	l.forwards++
	for i := range out.Shape().TotalSize() {
		var s float64
		for _, x := range in {
			s += get(x, i)
		}
		set(out, i, s)
	}
}
func (l *addLayer) Backward(in []*tensor.Dense, out, dOut *tensor.Dense, dIn []*tensor.Dense) {
	l.recordBackward(dIn)
	for _, d := range dIn {
		if d == nil {
			continue
		}
		for i := range out.Shape().TotalSize() {
			add(d, i, get(dOut, i))
		}
	}
}
func (l *addLayer) Params() []*layers.Param { return nil }

// squareLayer: out = x². overwrite makes Backward assign dIn instead of adding into
// it, a deliberate bug the gradient checker must catch on a fan-in.
type squareLayer struct {
	calls
	overwrite bool
}

func (l *squareLayer) Type() string { return "square" }
func (l *squareLayer) Setup(in []tensor.Shape, dt tensor.Dtype) (tensor.Shape, error) {
	l.setups++
	return in[0].Clone(), nil
}
func (l *squareLayer) Forward(in []*tensor.Dense, out *tensor.Dense) {
	l.forwards++
	for i := range out.Shape().TotalSize() {
		x := get(in[0], i)
		set(out, i, x*x)
	}
}
func (l *squareLayer) Backward(in []*tensor.Dense, out, dOut *tensor.Dense, dIn []*tensor.Dense) {
	l.recordBackward(dIn)
	if dIn[0] == nil {
		return
	}
	for i := range out.Shape().TotalSize() {
		g := 2 * get(in[0], i) * get(dOut, i)
		if l.overwrite {
			set(dIn[0], i, g)
		} else {
			add(dIn[0], i, g)
		}
	}
}
func (l *squareLayer) Params() []*layers.Param { return nil }

// subsample keeps every s-th row and column: out[.., i, j] = x[.., i·s, j·s], a 1×1
// convolution with stride s as far as coordinates go.
type subsample struct {
	calls
	s int
}

func (l *subsample) Type() string { return "subsample" }
func (l *subsample) Setup(in []tensor.Shape, dt tensor.Dtype) (tensor.Shape, error) {
	l.setups++
	x := in[0]
	return tensor.Shape{x[0], x[1], (x[2]-1)/l.s + 1, (x[3]-1)/l.s + 1}, nil
}
func (l *subsample) CoordMap() (scale, offset [2]float64) {
	return [2]float64{1 / float64(l.s), 1 / float64(l.s)}, [2]float64{}
}
func (l *subsample) index(x, out tensor.Shape, o int) int {
	w, h := o%out[3], o/out[3]%out[2]
	nc := o / (out[2] * out[3])
	return (nc*x[2]+h*l.s)*x[3] + w*l.s
}
func (l *subsample) Forward(in []*tensor.Dense, out *tensor.Dense) {
	l.forwards++
	for o := range out.Shape().TotalSize() {
		set(out, o, get(in[0], l.index(in[0].Shape(), out.Shape(), o)))
	}
}
func (l *subsample) Backward(in []*tensor.Dense, out, dOut *tensor.Dense, dIn []*tensor.Dense) {
	l.recordBackward(dIn)
	if dIn[0] == nil {
		return
	}
	for o := range out.Shape().TotalSize() {
		add(dIn[0], l.index(in[0].Shape(), out.Shape(), o), get(dOut, o))
	}
}
func (l *subsample) Params() []*layers.Param { return nil }

// upsample repeats each pixel s×s times (nearest neighbour): as a deconvolution with
// kernel s and stride s, its coordinate map is scale s, shift (s−1)/2.
type upsample struct {
	calls
	s int
}

func (l *upsample) Type() string { return "upsample" }
func (l *upsample) Setup(in []tensor.Shape, dt tensor.Dtype) (tensor.Shape, error) {
	l.setups++
	x := in[0]
	return tensor.Shape{x[0], x[1], x[2] * l.s, x[3] * l.s}, nil
}
func (l *upsample) CoordMap() (scale, offset [2]float64) {
	s := float64(l.s)
	return [2]float64{s, s}, [2]float64{(s - 1) / 2, (s - 1) / 2}
}
func (l *upsample) index(x, out tensor.Shape, o int) int {
	w, h := o%out[3], o/out[3]%out[2]
	nc := o / (out[2] * out[3])
	return (nc*x[2]+h/l.s)*x[3] + w/l.s
}
func (l *upsample) Forward(in []*tensor.Dense, out *tensor.Dense) {
	l.forwards++
	for o := range out.Shape().TotalSize() {
		set(out, o, get(in[0], l.index(in[0].Shape(), out.Shape(), o)))
	}
}
func (l *upsample) Backward(in []*tensor.Dense, out, dOut *tensor.Dense, dIn []*tensor.Dense) {
	l.recordBackward(dIn)
	if dIn[0] == nil {
		return
	}
	for o := range out.Shape().TotalSize() {
		add(dIn[0], l.index(in[0].Shape(), out.Shape(), o), get(dOut, o))
	}
}
func (l *upsample) Params() []*layers.Param { return nil }

// padLayer surrounds each image with p zeros: a 1×1 convolution with padding p as far
// as coordinates go (scale 1, shift p).
type padLayer struct {
	calls
	p int
}

func (l *padLayer) Type() string { return "pad" }
func (l *padLayer) Setup(in []tensor.Shape, dt tensor.Dtype) (tensor.Shape, error) {
	l.setups++
	x := in[0]
	return tensor.Shape{x[0], x[1], x[2] + 2*l.p, x[3] + 2*l.p}, nil
}
func (l *padLayer) CoordMap() (scale, offset [2]float64) {
	return [2]float64{1, 1}, [2]float64{float64(l.p), float64(l.p)}
}

// index is the input element under output element o, or -1 in the padding.
func (l *padLayer) index(x, out tensor.Shape, o int) int {
	w, h := o%out[3]-l.p, o/out[3]%out[2]-l.p
	if h < 0 || w < 0 || h >= x[2] || w >= x[3] {
		return -1
	}
	nc := o / (out[2] * out[3])
	return (nc*x[2]+h)*x[3] + w
}
func (l *padLayer) Forward(in []*tensor.Dense, out *tensor.Dense) {
	l.forwards++
	for o := range out.Shape().TotalSize() {
		v := 0.0
		if i := l.index(in[0].Shape(), out.Shape(), o); i >= 0 {
			v = get(in[0], i)
		}
		set(out, o, v)
	}
}
func (l *padLayer) Backward(in []*tensor.Dense, out, dOut *tensor.Dense, dIn []*tensor.Dense) {
	l.recordBackward(dIn)
	if dIn[0] == nil {
		return
	}
	for o := range out.Shape().TotalSize() {
		if i := l.index(in[0].Shape(), out.Shape(), o); i >= 0 {
			add(dIn[0], i, get(dOut, o))
		}
	}
}
func (l *padLayer) Params() []*layers.Param { return nil }

// avgPool2 averages 2×2 blocks (stride 2, rows and columns left over dropped): scale
// ½, shift (0 − (2−1)/2)/2 = −¼, as Caffe maps pooling.
type avgPool2 struct{ calls }

func (l *avgPool2) Type() string { return "avgpool2" }
func (l *avgPool2) Setup(in []tensor.Shape, dt tensor.Dtype) (tensor.Shape, error) {
	l.setups++
	x := in[0]
	if x[2] < 2 || x[3] < 2 {
		return nil, fmt.Errorf("avgpool2: input %v smaller than 2×2", x)
	}
	return tensor.Shape{x[0], x[1], x[2] / 2, x[3] / 2}, nil
}
func (l *avgPool2) CoordMap() (scale, offset [2]float64) {
	return [2]float64{0.5, 0.5}, [2]float64{-0.25, -0.25}
}
func (l *avgPool2) each(x, out tensor.Shape, f func(o, i int)) {
	for o := range out.TotalSize() {
		w, h := o%out[3], o/out[3]%out[2]
		nc := o / (out[2] * out[3])
		for a := range 2 {
			for b := range 2 {
				f(o, (nc*x[2]+2*h+a)*x[3]+2*w+b)
			}
		}
	}
}
func (l *avgPool2) Forward(in []*tensor.Dense, out *tensor.Dense) {
	l.forwards++
	zeroDense(out)
	l.each(in[0].Shape(), out.Shape(), func(o, i int) { add(out, o, get(in[0], i)/4) })
}
func (l *avgPool2) Backward(in []*tensor.Dense, out, dOut *tensor.Dense, dIn []*tensor.Dense) {
	l.recordBackward(dIn)
	if dIn[0] == nil {
		return
	}
	l.each(in[0].Shape(), out.Shape(), func(o, i int) { add(dIn[0], i, get(dOut, o)/4) })
}
func (l *avgPool2) Params() []*layers.Param { return nil }

// cropLayer crops input 0 to input 1's H×W at an offset, fixed or computed by the graph.
type cropLayer struct {
	calls
	auto bool
	off  [2]int
}

func (l *cropLayer) Type() string     { return "crop" }
func (l *cropLayer) AutoOffset() bool { return l.auto }
func (l *cropLayer) SetOffset(h, w int) error {
	if h < 0 || w < 0 {
		return fmt.Errorf("crop: negative offset %d,%d", h, w)
	}
	l.off = [2]int{h, w}
	return nil
}
func (l *cropLayer) Offset() (h, w int) { return l.off[0], l.off[1] }
func (l *cropLayer) Setup(in []tensor.Shape, dt tensor.Dtype) (tensor.Shape, error) {
	l.setups++
	if len(in) != 2 {
		return nil, fmt.Errorf("crop: want 2 inputs, got %d", len(in))
	}
	x, ref := in[0], in[1]
	if l.off[0]+ref[2] > x[2] || l.off[1]+ref[3] > x[3] {
		return nil, fmt.Errorf("crop: %d×%d at offset %d,%d does not fit in %d×%d", ref[2], ref[3], l.off[0], l.off[1], x[2], x[3])
	}
	return tensor.Shape{x[0], x[1], ref[2], ref[3]}, nil
}
func (l *cropLayer) index(x, out tensor.Shape, o int) int {
	w, h := o%out[3], o/out[3]%out[2]
	nc := o / (out[2] * out[3])
	return (nc*x[2]+h+l.off[0])*x[3] + w + l.off[1]
}
func (l *cropLayer) Forward(in []*tensor.Dense, out *tensor.Dense) {
	l.forwards++
	for o := range out.Shape().TotalSize() {
		set(out, o, get(in[0], l.index(in[0].Shape(), out.Shape(), o)))
	}
}
func (l *cropLayer) Backward(in []*tensor.Dense, out, dOut *tensor.Dense, dIn []*tensor.Dense) {
	l.recordBackward(dIn)
	if dIn[0] == nil {
		return
	}
	for o := range out.Shape().TotalSize() {
		add(dIn[0], l.index(in[0].Shape(), out.Shape(), o), get(dOut, o))
	}
}
func (l *cropLayer) Params() []*layers.Param { return nil }

// sqLoss is ½ Σ (x − onehot(label))² over scores x (N×C×H×W) and int32 labels (N×H×W).
type sqLoss struct{ calls }

func (l *sqLoss) Type() string { return "sqloss" }
func (l *sqLoss) Setup(in []tensor.Shape, dt tensor.Dtype) (tensor.Shape, error) {
	l.setups++
	if len(in) != 2 || len(in[0]) != 4 || len(in[1]) != 3 {
		return nil, fmt.Errorf("sqloss: want scores N×C×H×W and labels N×H×W")
	}
	x, y := in[0], in[1]
	if x[0] != y[0] || x[2] != y[1] || x[3] != y[2] {
		return nil, fmt.Errorf("sqloss: labels %v do not match scores %v", y, x)
	}
	return tensor.Shape{1}, nil
}
func (l *sqLoss) target(x tensor.Shape, labels []int32, i int) float64 {
	hw := x[2] * x[3]
	c, n, p := i/hw%x[1], i/(hw*x[1]), i%hw
	if int(labels[n*hw+p]) == c {
		return 1
	}
	return 0
}
func (l *sqLoss) Forward(in []*tensor.Dense, out *tensor.Dense) {
	l.forwards++
	labels := in[1].Int32s()
	var s float64
	for i := range in[0].Shape().TotalSize() {
		d := get(in[0], i) - l.target(in[0].Shape(), labels, i)
		s += d * d / 2
	}
	set(out, 0, s)
}
func (l *sqLoss) Backward(in []*tensor.Dense, out, dOut *tensor.Dense, dIn []*tensor.Dense) {
	l.recordBackward(dIn)
	if dIn[0] == nil {
		return
	}
	labels := in[1].Int32s()
	g := get(dOut, 0)
	for i := range in[0].Shape().TotalSize() {
		add(dIn[0], i, g*(get(in[0], i)-l.target(in[0].Shape(), labels, i)))
	}
}
func (l *sqLoss) Params() []*layers.Param { return nil }

// dropToy zeroes each element with probability ½ in training (scaling the rest by 2),
// drawing from a PCG reseeded by SetSeed; identity in evaluation.
type dropToy struct {
	calls
	training bool
	seeds    []uint64
	pcg      rand.PCG
	mask     []bool
}

func (l *dropToy) Type() string              { return "droptoy" }
func (l *dropToy) SetTraining(training bool) { l.training = training }
func (l *dropToy) SetSeed(seed uint64) {
	if len(l.seeds) < cap(l.seeds) {
		l.seeds = append(l.seeds, seed)
	}
	l.pcg.Seed(seed, 0)
}
func (l *dropToy) Setup(in []tensor.Shape, dt tensor.Dtype) (tensor.Shape, error) {
	l.setups++
	l.mask = make([]bool, in[0].TotalSize())
	return in[0].Clone(), nil
}
func (l *dropToy) Forward(in []*tensor.Dense, out *tensor.Dense) {
	l.forwards++
	for i := range l.mask {
		l.mask[i] = !l.training || l.pcg.Uint64()&1 == 0
		v := 0.0
		if l.mask[i] {
			v = get(in[0], i)
			if l.training {
				v *= 2
			}
		}
		set(out, i, v)
	}
}
func (l *dropToy) Backward(in []*tensor.Dense, out, dOut *tensor.Dense, dIn []*tensor.Dense) {
	l.recordBackward(dIn)
	if dIn[0] == nil {
		return
	}
	for i, keep := range l.mask {
		if keep {
			g := get(dOut, i)
			if l.training {
				g *= 2
			}
			add(dIn[0], i, g)
		}
	}
}
func (l *dropToy) Params() []*layers.Param { return nil }

// geom has the shape arithmetic and coordinate map of a convolution, pooling (Caffe's
// ceil rounding) or deconvolution with kernel k, stride s, pad p. It is a shape-only
// fixture for crop-offset tests: graphs that use it are built, never run.
type geom struct {
	kind    string // "conv", "pool" or "deconv"
	k, s, p int
	outC    int
}

func (l *geom) Type() string { return l.kind }
func (l *geom) Setup(in []tensor.Shape, dt tensor.Dtype) (tensor.Shape, error) {
	x := in[0]
	c := x[1]
	if l.outC > 0 {
		c = l.outC
	}
	size := func(n int) int {
		switch l.kind {
		case "deconv":
			return (n-1)*l.s - 2*l.p + l.k
		case "pool": // Caffe rounds pooled sizes up
			return (n+2*l.p-l.k+l.s-1)/l.s + 1
		default:
			return (n+2*l.p-l.k)/l.s + 1
		}
	}
	h, w := size(x[2]), size(x[3])
	if h <= 0 || w <= 0 {
		return nil, fmt.Errorf("%s: input %v too small", l.kind, x)
	}
	return tensor.Shape{x[0], c, h, w}, nil
}
func (l *geom) CoordMap() (scale, offset [2]float64) {
	k, s, p := float64(l.k), float64(l.s), float64(l.p)
	if l.kind == "deconv" {
		return [2]float64{s, s}, [2]float64{(k-1)/2 - p, (k-1)/2 - p}
	}
	return [2]float64{1 / s, 1 / s}, [2]float64{(p - (k-1)/2) / s, (p - (k-1)/2) / s}
}
func (l *geom) Forward(in []*tensor.Dense, out *tensor.Dense) {
	panic("geom is a shape-only test fixture")
}
func (l *geom) Backward(in []*tensor.Dense, out, dOut *tensor.Dense, dIn []*tensor.Dense) {
	panic("geom is a shape-only test fixture")
}
func (l *geom) Params() []*layers.Param { return nil }
func (l *geom) MACs() int64             { return int64(l.k * l.k) }
