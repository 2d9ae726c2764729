package layers

import (
	"fmt"
	"math"
	"math/rand/v2"
	"unsafe"

	"gorgonia.org/tensor"
)

// Shared by conv and deconv: option parsing, parameter set-up and weight initialisation.

// ConvConfig configures a conv layer (and, embedded in DeconvConfig, a deconv layer).
// Spatial options take one value for both axes ([v]) or a pair ([h, w]); nil means the
// default. The yaml/mapstructure names are the experiment file's option names.
type ConvConfig struct {
	// Out is the number of output channels (required, ≥ 1).
	Out int `yaml:"out" mapstructure:"out"`
	// Kernel is the window size kh×kw (required, each ≥ 1).
	Kernel []int `yaml:"kernel" mapstructure:"kernel"`
	// Stride defaults to 1.
	Stride []int `yaml:"stride" mapstructure:"stride"`
	// Pad is the zero padding on each side; defaults to 0.
	Pad []int `yaml:"pad" mapstructure:"pad"`
	// Dilation defaults to 1.
	Dilation []int `yaml:"dilation" mapstructure:"dilation"`
	// Groups splits the channels into groups convolved separately; 0 means 1.
	// It must divide both the input and the output channel count.
	Groups int `yaml:"groups" mapstructure:"groups"`
	// Bias adds a learnable per-channel bias; nil means true.
	Bias *bool `yaml:"bias" mapstructure:"bias"`
	// Init is the weight initialisation: conv "he" (default: Kaiming normal, fan_in),
	// "xavier" (Glorot uniform as PyTorch's xavier_uniform_), "gaussian" (N(0, Std²)),
	// "zero"; deconv also "bilinear" (its default). Biases start at zero.
	Init string `yaml:"init" mapstructure:"init"`
	// Std is the standard deviation for Init "gaussian" (required > 0 there).
	Std float64 `yaml:"std" mapstructure:"std"`
	// LRMult and DecayMult are Caffe's per-layer multipliers for every parameter of the
	// layer; nil means 1.
	LRMult    *float64 `yaml:"lr_mult" mapstructure:"lr_mult"`
	DecayMult *float64 `yaml:"decay_mult" mapstructure:"decay_mult"`
	// Learn false freezes every parameter (LRMult and DecayMult 0); nil means true.
	Learn *bool `yaml:"learn" mapstructure:"learn"`
}

// convSpec is a ConvConfig checked and with defaults filled in.
type convSpec struct {
	out                int
	k, s, p, d         [2]int
	groups             int
	bias               bool
	init               string
	std                float64
	lrMult, decayMult  float64
	kind, name, prefix string
}

// pair reads an int-or-[h,w] option.
func convPair(prefix, field string, v []int, def, lo int) ([2]int, error) {
	var r [2]int
	switch len(v) {
	case 0:
		if def < lo {
			return r, fmt.Errorf("%s: %s is required", prefix, field)
		}
		return [2]int{def, def}, nil
	case 1:
		r = [2]int{v[0], v[0]}
	case 2:
		r = [2]int{v[0], v[1]}
	default:
		return r, fmt.Errorf("%s: %s must be one value or [h, w], got %v", prefix, field, v)
	}
	if r[0] < lo || r[1] < lo {
		return r, fmt.Errorf("%s: %s must be ≥ %d, got %v", prefix, field, lo, v)
	}
	return r, nil
}

// check validates c for a layer of the given kind ("conv", "deconv") and name.
// inits lists the accepted Init values; the first is the default.
func (c ConvConfig) check(kind, name string, inits []string) (convSpec, error) {
	prefix := kind
	if name != "" {
		prefix = kind + " " + name
	}
	sp := convSpec{kind: kind, name: name, prefix: prefix}
	var err error
	if c.Out < 1 {
		return sp, fmt.Errorf("%s: out must be ≥ 1 output channels, got %d", sp.prefix, c.Out)
	}
	sp.out = c.Out
	if sp.k, err = convPair(sp.prefix, "kernel", c.Kernel, 0, 1); err != nil {
		return sp, err
	}
	if sp.s, err = convPair(sp.prefix, "stride", c.Stride, 1, 1); err != nil {
		return sp, err
	}
	if sp.p, err = convPair(sp.prefix, "pad", c.Pad, 0, 0); err != nil {
		return sp, err
	}
	if sp.d, err = convPair(sp.prefix, "dilation", c.Dilation, 1, 1); err != nil {
		return sp, err
	}
	switch {
	case c.Groups < 0:
		return sp, fmt.Errorf("%s: groups must be ≥ 1, got %d", sp.prefix, c.Groups)
	case c.Groups == 0:
		sp.groups = 1
	default:
		sp.groups = c.Groups
	}
	if sp.out%sp.groups != 0 {
		return sp, fmt.Errorf("%s: groups %d does not divide out %d", sp.prefix, sp.groups, sp.out)
	}
	sp.bias = c.Bias == nil || *c.Bias
	sp.init = c.Init
	if sp.init == "" {
		sp.init = inits[0]
	}
	known := false
	for _, s := range inits {
		known = known || s == sp.init
	}
	if !known {
		return sp, fmt.Errorf("%s: unknown init %q (want one of %v)", sp.prefix, c.Init, inits)
	}
	if sp.init == "gaussian" && !(c.Std > 0) {
		return sp, fmt.Errorf("%s: init gaussian needs std > 0, got %v", sp.prefix, c.Std)
	}
	if c.Std < 0 || math.IsNaN(c.Std) || math.IsInf(c.Std, 0) {
		return sp, fmt.Errorf("%s: std must be a finite value ≥ 0, got %v", sp.prefix, c.Std)
	}
	sp.std = c.Std
	sp.lrMult, sp.decayMult = 1, 1
	if c.LRMult != nil {
		sp.lrMult = *c.LRMult
	}
	if c.DecayMult != nil {
		sp.decayMult = *c.DecayMult
	}
	if sp.lrMult < 0 || sp.decayMult < 0 || math.IsNaN(sp.lrMult) || math.IsNaN(sp.decayMult) {
		return sp, fmt.Errorf("%s: lr_mult and decay_mult must be ≥ 0, got %v and %v", sp.prefix, sp.lrMult, sp.decayMult)
	}
	if c.Learn != nil && !*c.Learn {
		sp.lrMult, sp.decayMult = 0, 0
	}
	return sp, nil
}

// keff is the dilated kernel extent d·(k−1)+1 per axis.
func (sp *convSpec) keff() [2]int {
	return [2]int{sp.d[0]*(sp.k[0]-1) + 1, sp.d[1]*(sp.k[1]-1) + 1}
}

// convCheckInput validates the single NCHW float input shared by conv and deconv.
func convCheckInput(prefix string, in []tensor.Shape, dt tensor.Dtype) (n, c, h, w int, err error) {
	if len(in) != 1 {
		return 0, 0, 0, 0, fmt.Errorf("%s: wants 1 input, got %d", prefix, len(in))
	}
	if len(in[0]) != 4 {
		return 0, 0, 0, 0, fmt.Errorf("%s: input must be N×C×H×W, got shape %v", prefix, in[0])
	}
	if dt != tensor.Float32 && dt != tensor.Float64 {
		return 0, 0, 0, 0, fmt.Errorf("%s: dtype must be float32 or float64, got %v", prefix, dt)
	}
	n, c, h, w = in[0][0], in[0][1], in[0][2], in[0][3]
	if n < 1 || c < 1 || h < 1 || w < 1 {
		return 0, 0, 0, 0, fmt.Errorf("%s: input shape %v has an empty dimension", prefix, in[0])
	}
	return n, c, h, w, nil
}

// setupParams allocates weight (and bias) on the first Setup and checks that later
// Setups would give them the same shape and dtype.
func (sp *convSpec) setupParams(weight, bias **Param, wshape tensor.Shape, dt tensor.Dtype) error {
	if *weight != nil {
		old := (*weight).Value
		if !old.Shape().Eq(wshape) {
			return fmt.Errorf("%s: input channels changed: weight would be %v but is %v", sp.prefix, wshape, old.Shape())
		}
		if old.Dtype() != dt {
			return fmt.Errorf("%s: dtype changed from %v to %v", sp.prefix, old.Dtype(), dt)
		}
		return nil
	}
	newParam := func(name string, s tensor.Shape) *Param {
		return &Param{
			Name:      name,
			Value:     tensor.New(tensor.WithShape(s.Clone()...), tensor.Of(dt)),
			Grad:      tensor.New(tensor.WithShape(s.Clone()...), tensor.Of(dt)),
			LRMult:    sp.lrMult,
			DecayMult: sp.decayMult,
		}
	}
	*weight = newParam("weight", wshape)
	if sp.bias {
		*bias = newParam("bias", tensor.Shape{sp.out})
	}
	return nil
}

// convInitWeight fills a weight of shape (A, B, kh, kw) by kind; fan_in = B·kh·kw and
// fan_out = A·kh·kw as PyTorch computes them for both Conv2d and ConvTranspose2d.
func convInitWeight(w *tensor.Dense, kind string, std float64, rng *rand.Rand) {
	s := w.Shape()
	rf := s[2] * s[3]
	fanIn, fanOut := float64(s[1]*rf), float64(s[0]*rf)
	var draw func() float64
	switch kind {
	case "he":
		sd := math.Sqrt(2 / fanIn)
		draw = func() float64 { return sd * rng.NormFloat64() }
	case "xavier":
		a := math.Sqrt(6 / (fanIn + fanOut))
		draw = func() float64 { return a * (2*rng.Float64() - 1) }
	case "gaussian":
		draw = func() float64 { return std * rng.NormFloat64() }
	case "zero":
		draw = func() float64 { return 0 }
	default:
		panic("layers: convInitWeight: unknown init " + kind) // check() rejects these
	}
	switch v := w.Data().(type) {
	case []float32:
		for i := range v {
			v[i] = float32(draw())
		}
	case []float64:
		for i := range v {
			v[i] = draw()
		}
	}
}

// convZero sets every element of a float tensor to 0.
func convZero(d *tensor.Dense) {
	switch v := d.Data().(type) {
	case []float32:
		clear(v)
	case []float64:
		clear(v)
	}
}

// convAddBias adds b[c] to every pixel of channel c of one image y (C×P).
func convAddBias[T Float](y, b []T, p int) {
	for c, bv := range b {
		row := y[c*p : (c+1)*p]
		for i := range row {
			row[i] += bv
		}
	}
}

// convBiasGrad adds the per-channel sums of one image's output gradient dy (C×P) to db.
func convBiasGrad[T Float](db, dy []T, p int) {
	for c := range db {
		var s T
		for _, v := range dy[c*p : (c+1)*p] {
			s += v
		}
		db[c] += s
	}
}

// convGrowBuf returns a slice of n elements of the float type of dt, reusing buf if it is
// big enough (column buffers are sized once per shape, not per call).
func convGrowBuf(buf any, dt tensor.Dtype, n int) any {
	switch dt {
	case tensor.Float32:
		if b, ok := buf.([]float32); ok && cap(b) >= n {
			return b[:n]
		}
		return make([]float32, n)
	default:
		if b, ok := buf.([]float64); ok && cap(b) >= n {
			return b[:n]
		}
		return make([]float64, n)
	}
}

// convMustShape panics with a clear message when Forward/Backward is handed a tensor of
// another shape than Setup saw: that is a programmer error, not bad user input.
func convMustShape(prefix, what string, d *tensor.Dense, want tensor.Shape) {
	if d != nil && !d.Shape().Eq(want) {
		panic(fmt.Sprintf("%s: %s has shape %v, Setup was for %v", prefix, what, d.Shape(), want))
	}
}

// convData returns d's backing array as []T without allocating — Dense.Data boxes a new
// slice through reflect on every call, which a steady-state step must not do — or nil
// for a nil tensor (no gradient wanted). A dtype other than T's is a programmer error.
func convData[T Float](d *tensor.Dense) []T {
	if d == nil {
		return nil
	}
	var z T
	want := tensor.Float64
	if unsafe.Sizeof(z) == 4 {
		want = tensor.Float32
	}
	if d.Dtype() != want {
		panic(fmt.Sprintf("layers: tensor dtype %v where %v was set up", d.Dtype(), want))
	}
	raw := d.Raw
	if len(raw) == 0 {
		return nil
	}
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(raw))), len(raw)/int(unsafe.Sizeof(z)))
}
