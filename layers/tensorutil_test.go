package layers_test

import (
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"github.com/fcn-dev/fcn/autodiff"
	"github.com/fcn-dev/fcn/layers"
	"gorgonia.org/tensor"
)

// Test helpers for the parameter-free layers, batchnorm and the loss. Names start with
// "tu" so they cannot clash with other test files of this package.

// tuDense returns a float64 tensor of the given shape holding vals (zeros if vals is nil).
func tuDense(shape []int, vals []float64) *tensor.Dense {
	d := tensor.New(tensor.WithShape(shape...), tensor.Of(tensor.Float64))
	if vals != nil {
		copy(d.Data().([]float64), vals)
	}
	return d
}

// tuLabels returns an Int32 label tensor.
func tuLabels(shape []int, vals []int32) *tensor.Dense {
	d := tensor.New(tensor.WithShape(shape...), tensor.Of(tensor.Int32))
	copy(d.Data().([]int32), vals)
	return d
}

// tuRun sets l up for the inputs (float64), runs Forward, then Backward with dOut
// (ones if nil), and returns out and the input gradients (nil for non-float inputs).
func tuRun(t *testing.T, l layers.Layer, dOut *tensor.Dense, in ...*tensor.Dense) (*tensor.Dense, []*tensor.Dense) {
	t.Helper()
	shapes := make([]tensor.Shape, len(in))
	for i, x := range in {
		shapes[i] = x.Shape().Clone()
	}
	os, err := l.Setup(shapes, tensor.Float64)
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	out := tensor.New(tensor.WithShape(os...), tensor.Of(tensor.Float64))
	l.Forward(in, out)
	if dOut == nil {
		dOut = tuDense(os, nil)
		tuFill(dOut, 1)
	}
	dIn := make([]*tensor.Dense, len(in))
	for i, x := range in {
		if x.Dtype() == tensor.Float64 {
			dIn[i] = tuDense(x.Shape().Clone(), nil)
		}
	}
	l.Backward(in, out, dOut, dIn)
	return out, dIn
}

func tuFill(d *tensor.Dense, v float64) {
	x := d.Data().([]float64)
	for i := range x {
		x[i] = v
	}
}

// tuClose fails unless got and want agree element-wise within tol (absolute).
func tuClose(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if !(math.Abs(got[i]-want[i]) <= tol) {
			t.Fatalf("%s[%d] = %.17g, want %.17g (all: %v)", what, i, got[i], want[i], got)
		}
	}
}

// tuGradCheck runs autodiff.CheckLayer and fails unless every tensor's max relative
// error is below 1e-6 and the expected tensors were all compared.
func tuGradCheck(t *testing.T, l layers.Layer, in []tensor.Shape, opt autodiff.CheckOptions, wantTensors ...string) []autodiff.GradResult {
	t.Helper()
	res, err := autodiff.CheckLayer(l, in, opt)
	if err != nil {
		t.Fatalf("CheckLayer: %v", err)
	}
	var names []string
	for _, r := range res {
		names = append(names, r.Tensor)
		if r.N == 0 {
			t.Errorf("%s: no elements compared", r.Tensor)
		}
		if !(r.MaxRelErr < 1e-6) {
			t.Errorf("%s: max rel err %.3g (abs %.3g) ≥ 1e-6", r.Tensor, r.MaxRelErr, r.MaxAbsErr)
		}
	}
	if strings.Join(names, ",") != strings.Join(wantTensors, ",") {
		t.Errorf("checked tensors %v, want %v", names, wantTensors)
	}
	return res
}

// tuDistinct returns n values, a random permutation of evenly spaced points in [-1, 1].
// Max pooling is differentiable only where the maximum of each window is unique;
// spacing 2/n ≫ the checker's step 1e-6 keeps every perturbation from changing an argmax.
func tuDistinct(seed uint64, n int) []float64 {
	rng := rand.New(rand.NewPCG(seed, 1))
	v := make([]float64, n)
	for i, p := range rng.Perm(n) {
		v[i] = -1 + 2*float64(p)/float64(n)
	}
	return v
}

// tuAwayFromZero returns n random values with |v| in [0.1, 1]: relu has a kink at 0,
// where central differences straddling it would average the two one-sided slopes.
func tuAwayFromZero(seed uint64, n int) []float64 {
	rng := rand.New(rand.NewPCG(seed, 2))
	v := make([]float64, n)
	for i := range v {
		m := 0.1 + 0.9*rng.Float64()
		if rng.IntN(2) == 0 {
			m = -m
		}
		v[i] = m
	}
	return v
}

// tuRandom returns n values uniform in [-1, 1).
func tuRandom(seed uint64, n int) []float64 {
	rng := rand.New(rand.NewPCG(seed, 3))
	v := make([]float64, n)
	for i := range v {
		v[i] = 2*rng.Float64() - 1
	}
	return v
}

// tuSize is the number of elements of a shape.
func tuSize(s []int) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

// tuWantErr fails unless err is non-nil and its text contains every part.
func tuWantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q does not contain %q", err, p)
		}
	}
}

// tuNoPanic runs f and turns a panic into a test failure.
func tuNoPanic(t *testing.T, f func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("panic: %v", r)
		}
	}()
	f()
}

// tuBench benchmarks Forward+Backward of l in float32 on inputs of the given shapes
// (labels, if any, are passed ready-made in fixed).
func tuBench(b *testing.B, l layers.Layer, shapes []tensor.Shape, fixed map[int]*tensor.Dense) {
	os, err := l.Setup(shapes, tensor.Float32)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	in := make([]*tensor.Dense, len(shapes))
	dIn := make([]*tensor.Dense, len(shapes))
	var bytes int64
	for i, s := range shapes {
		if d, ok := fixed[i]; ok {
			in[i] = d
			continue
		}
		in[i] = tensor.New(tensor.WithShape(s...), tensor.Of(tensor.Float32))
		v := in[i].Data().([]float32) // Data allocates: call it once, not per element
		for j := range v {
			v[j] = float32(2*rng.Float64() - 1)
		}
		dIn[i] = tensor.New(tensor.WithShape(s...), tensor.Of(tensor.Float32))
		bytes += int64(s.TotalSize()) * 4
	}
	if init, ok := l.(layers.Initializer); ok {
		init.Init(rng)
	}
	out := tensor.New(tensor.WithShape(os...), tensor.Of(tensor.Float32))
	dOut := tensor.New(tensor.WithShape(os...), tensor.Of(tensor.Float32))
	g := dOut.Data().([]float32)
	for j := range g {
		g[j] = 1
	}
	// A first pass warms caches and leaves no garbage for the GC to collect while timing.
	l.Forward(in, out)
	l.Backward(in, out, dOut, dIn)
	runtime.GC()
	b.SetBytes(bytes)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		l.Forward(in, out)
		l.Backward(in, out, dOut, dIn)
	}
}

// nonConvCase builds one of this file's layers with its input shapes; labels, if the
// layer takes them, are input 1.
type nonConvCase struct {
	name   string
	make   func() layers.Layer
	shapes []tensor.Shape
	labels bool
}

func nonConvCases(t testing.TB) []nonConvCase {
	must := func(l layers.Layer, err error) layers.Layer {
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	s := tensor.Shape{2, 3, 7, 5}
	return []nonConvCase{
		{"maxpool", func() layers.Layer {
			return must(layers.NewMaxPool("p", layers.MaxPoolConfig{Kernel: []int{3}, Stride: []int{2}, Pad: []int{1}, Ceil: true}))
		}, []tensor.Shape{s}, false},
		{"relu", func() layers.Layer { return must(layers.NewReLU("r", layers.ReLUConfig{})) }, []tensor.Shape{s}, false},
		{"dropout", func() layers.Layer { return must(layers.NewDropout("d", layers.DefaultDropoutConfig())) }, []tensor.Shape{s}, false},
		{"crop", func() layers.Layer { return must(layers.NewCrop("c", layers.CropConfig{Offset: []int{1, 2}})) },
			[]tensor.Shape{s, {2, 1, 4, 3}}, false},
		{"sum", func() layers.Layer { return must(layers.NewSum("s", layers.SumConfig{Coeffs: []float64{1, 0.01}})) }, []tensor.Shape{s, s}, false},
		{"batchnorm", func() layers.Layer { return must(layers.NewBatchNorm("b", layers.DefaultBatchNormConfig())) }, []tensor.Shape{s}, false},
		{"loss", func() layers.Layer {
			return must(layers.NewSoftmaxCrossEntropy("l", layers.SoftmaxCrossEntropyConfig{Normalize: "mean", IgnoreLabel: 255, ClassWeights: []float64{1, 2, 0.5}}))
		}, []tensor.Shape{s, {2, 7, 5}}, true},
		{"resize_bilinear", func() layers.Layer {
			return must(layers.NewResize("u", layers.ResizeConfig{Factor: []int{2, 3}, Mode: "bilinear"}))
		}, []tensor.Shape{s}, false},
		{"resize_nearest", func() layers.Layer {
			return must(layers.NewResize("u", layers.ResizeConfig{Factor: []int{2}, Mode: "nearest"}))
		}, []tensor.Shape{s}, false},
	}
}

// tuSetupRun sets l up in dtype dt for the case, fills inputs from vals (converted),
// runs Forward and Backward (dOut from dvals) and returns out and dIn[0] as float64.
func tuSetupRun(t testing.TB, l layers.Layer, c nonConvCase, dt tensor.Dtype, vals, dvals []float64) (out, din []float64, run func()) {
	os, err := l.Setup(c.shapes, dt)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(s tensor.Shape, v []float64) *tensor.Dense {
		d := tensor.New(tensor.WithShape(s...), tensor.Of(dt))
		switch x := d.Data().(type) {
		case []float32:
			for i := range x {
				x[i] = float32(v[i])
			}
		case []float64:
			copy(x, v)
		}
		return d
	}
	var in, dIn []*tensor.Dense
	for i, s := range c.shapes {
		if c.labels && i == 1 {
			lab := make([]int32, s.TotalSize())
			for j := range lab {
				lab[j] = int32(j % 4) // 3 is no class (C = 3): ignored
			}
			lab[0] = 255
			in = append(in, tuLabels(s, lab))
			dIn = append(dIn, nil)
			continue
		}
		in = append(in, mk(s, vals[i*1000:]))
		dIn = append(dIn, mk(s, make([]float64, s.TotalSize())))
	}
	if init, ok := l.(layers.Initializer); ok {
		init.Init(nil)
	}
	o := tensor.New(tensor.WithShape(os...), tensor.Of(dt))
	dOut := mk(os, dvals)
	run = func() {
		if st, ok := l.(layers.Stochastic); ok {
			st.SetSeed(99)
		}
		l.Forward(in, o)
		l.Backward(in, o, dOut, dIn)
	}
	run()
	toF := func(d *tensor.Dense) []float64 {
		if dt == tensor.Float64 {
			return append([]float64(nil), d.Data().([]float64)...)
		}
		var r []float64
		for _, v := range d.Data().([]float32) {
			r = append(r, float64(v))
		}
		return r
	}
	return toF(o), toF(dIn[0]), run
}

// Every layer runs the same generic kernels in float32 (training) and float64
// (gradient checks): the two must agree to float32 precision.
func TestNonConvLayersFloat32MatchesFloat64(t *testing.T) {
	vals, dvals := tuAwayFromZero(1, 3000), tuRandom(2, 3000)
	for _, c := range nonConvCases(t) {
		t.Run(c.name, func(t *testing.T) {
			o64, d64, _ := tuSetupRun(t, c.make(), c, tensor.Float64, vals, dvals)
			o32, d32, _ := tuSetupRun(t, c.make(), c, tensor.Float32, vals, dvals)
			for i := range o64 {
				if math.Abs(o64[i]-o32[i]) > 1e-5*math.Max(1, math.Abs(o64[i])) {
					t.Fatalf("out[%d]: float64 %v, float32 %v", i, o64[i], o32[i])
				}
			}
			for i := range d64 {
				if math.Abs(d64[i]-d32[i]) > 1e-5*math.Max(1, math.Abs(d64[i])) {
					t.Fatalf("dIn[%d]: float64 %v, float32 %v", i, d64[i], d32[i])
				}
			}
		})
	}
}

// Buffers are allocated in Setup: Forward and Backward allocate nothing in steady state.
func TestNonConvLayersNoAllocs(t *testing.T) {
	vals, dvals := tuRandom(1, 3000), tuRandom(2, 3000)
	for _, c := range nonConvCases(t) {
		t.Run(c.name, func(t *testing.T) {
			_, _, run := tuSetupRun(t, c.make(), c, tensor.Float32, vals, dvals)
			if n := testing.AllocsPerRun(10, run); n != 0 {
				t.Fatalf("%v allocations per Forward+Backward", n)
			}
		})
	}
}
