package layers_test

import (
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/fcn-dev/fcn/autodiff"
	"github.com/fcn-dev/fcn/layers"
	G "gorgonia.org/gorgonia"
	nnops "gorgonia.org/gorgonia/ops/nn"
	"gorgonia.org/tensor"
)

// Test helpers shared by conv_test.go, deconv_test.go and bilinear_test.go; prefixed
// "conv" because other layers' tests share this package.

func convBool(b bool) *bool { return &b }

// convRand is a float64 tensor of the given shape, uniform in [-1, 1).
func convRand(rng *rand.Rand, shape ...int) *tensor.Dense {
	d := tensor.New(tensor.WithShape(shape...), tensor.Of(tensor.Float64))
	for i := range d.Data().([]float64) {
		d.Data().([]float64)[i] = 2*rng.Float64() - 1
	}
	return d
}

func convZeros(dt tensor.Dtype, shape tensor.Shape) *tensor.Dense {
	return tensor.New(tensor.WithShape(shape.Clone()...), tensor.Of(dt))
}

func convF64(d *tensor.Dense) []float64 { return d.Data().([]float64) }

// convGradCheck runs autodiff.CheckLayer and fails on any relative error ≥ 1e-6; it also
// fails unless every wanted tensor (input0, weight, bias...) was checked.
//
// The step is 1e-3, not the default 1e-6: conv and deconv are linear in every single
// input and parameter, so central differences have no truncation error at any step, and
// a larger step divides the round-off of L = Σ out·R (≈1e-14 over a few hundred terms)
// by a larger 2·eps — at 1e-6 that noise alone reaches 1e-6 relative on small elements.
func convGradCheck(t *testing.T, l layers.Layer, in tensor.Shape, want ...string) {
	t.Helper()
	res, err := autodiff.CheckLayer(l, []tensor.Shape{in}, autodiff.CheckOptions{Seed: 7, Eps: 1e-3})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range res {
		got = append(got, r.Tensor)
		if !(r.MaxRelErr < 1e-6) {
			t.Errorf("%s: max rel err %.3g (abs %.3g) over %d elements", r.Tensor, r.MaxRelErr, r.MaxAbsErr, r.N)
		}
		if r.N == 0 {
			t.Errorf("%s: nothing compared", r.Tensor)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("checked %v, want %v", got, want)
	}
}

// convMaxAbsDiff is the largest |a−b| over two float64 slices of equal length.
func convMaxAbsDiff(t *testing.T, a, b []float64) float64 {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("lengths differ: %d vs %d", len(a), len(b))
	}
	var m float64
	for i := range a {
		m = math.Max(m, math.Abs(a[i]-b[i]))
	}
	return m
}

// convRun sets l up for x, copies w (and b) into its parameters, runs Forward, and
// Backward with dOut = dy; it returns y, dx and the parameters' gradients.
func convRun(t *testing.T, l layers.Layer, x, w, b, dy *tensor.Dense) (y, dx *tensor.Dense, grads []*tensor.Dense) {
	t.Helper()
	outShape, err := l.Setup([]tensor.Shape{x.Shape()}, x.Dtype())
	if err != nil {
		t.Fatal(err)
	}
	ps := l.Params()
	if w != nil {
		copy(convF64(ps[0].Value), convF64(w))
	}
	if b != nil {
		copy(convF64(ps[1].Value), convF64(b))
	}
	y = convZeros(x.Dtype(), outShape)
	l.Forward([]*tensor.Dense{x}, y)
	if dy == nil {
		return y, nil, nil
	}
	dx = convZeros(x.Dtype(), x.Shape())
	for _, p := range ps {
		convZeroT(p.Grad)
	}
	l.Backward([]*tensor.Dense{x}, y, dy, []*tensor.Dense{dx})
	for _, p := range ps {
		grads = append(grads, p.Grad)
	}
	return y, dx, grads
}

func convZeroT(d *tensor.Dense) {
	switch v := d.Data().(type) {
	case []float32:
		clear(v)
	case []float64:
		clear(v)
	}
}

func TestConvGradCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  layers.ConvConfig
		in   tensor.Shape
	}{
		{"3x3 pad1 odd 7x5 batch2", layers.ConvConfig{Out: 4, Kernel: []int{3}, Pad: []int{1}}, tensor.Shape{2, 3, 7, 5}},
		{"stride2 pad1", layers.ConvConfig{Out: 3, Kernel: []int{3}, Stride: []int{2}, Pad: []int{1}}, tensor.Shape{2, 2, 7, 5}},
		{"stride3 nonsquare 3x2 pad[1,0]", layers.ConvConfig{Out: 2, Kernel: []int{3, 2}, Stride: []int{3}, Pad: []int{1, 0}}, tensor.Shape{3, 2, 7, 5}},
		{"dilation2 pad2", layers.ConvConfig{Out: 3, Kernel: []int{3}, Dilation: []int{2}, Pad: []int{2}}, tensor.Shape{2, 2, 7, 5}},
		{"groups2", layers.ConvConfig{Out: 6, Kernel: []int{3}, Pad: []int{1}, Groups: 2}, tensor.Shape{2, 4, 5, 7}},
		{"depthwise x2", layers.ConvConfig{Out: 6, Kernel: []int{3}, Stride: []int{2}, Pad: []int{1}, Groups: 3}, tensor.Shape{2, 3, 7, 5}},
		{"1x1 pointwise batch3", layers.ConvConfig{Out: 5, Kernel: []int{1}}, tensor.Shape{3, 4, 7, 5}},
		{"1x1 pointwise groups2", layers.ConvConfig{Out: 4, Kernel: []int{1}, Groups: 2}, tensor.Shape{2, 6, 3, 5}},
		{"1x1 stride2 (im2col path)", layers.ConvConfig{Out: 3, Kernel: []int{1}, Stride: []int{2}}, tensor.Shape{2, 2, 7, 5}},
		{"mixed per-axis stride[2,3] pad[2,1] dil[2,1] k[3,2]", layers.ConvConfig{Out: 2, Kernel: []int{3, 2}, Stride: []int{2, 3}, Pad: []int{2, 1}, Dilation: []int{2, 1}}, tensor.Shape{2, 3, 9, 7}},
		{"kernel larger than input with pad", layers.ConvConfig{Out: 2, Kernel: []int{5}, Pad: []int{2}, Stride: []int{2}}, tensor.Shape{2, 2, 3, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, bias := range []bool{true, false} {
				cfg := tc.cfg
				cfg.Bias = convBool(bias)
				l, err := layers.NewConv("c", cfg)
				if err != nil {
					t.Fatal(err)
				}
				want := []string{"input0", "weight", "bias"}
				if !bias {
					want = want[:2]
				}
				convGradCheck(t, l, tc.in, want...)
			}
		})
	}
}

// gorgoniaConv computes y = conv(x, w), and dx, dw of L = Σ y·r with gorgonia's
// Conv2d and its symbolic gradients — an implementation independent of ours.
func gorgoniaConv(t *testing.T, x, w, r *tensor.Dense, k, pad, stride, dil []int) (y, dx, dw []float64) {
	t.Helper()
	g := G.NewGraph()
	xn := G.NewTensor(g, tensor.Float64, 4, G.WithShape(x.Shape()...), G.WithValue(x.Clone()), G.WithName("x"))
	wn := G.NewTensor(g, tensor.Float64, 4, G.WithShape(w.Shape()...), G.WithValue(w.Clone()), G.WithName("w"))
	yn, err := nnops.Conv2d(xn, wn, tensor.Shape{k[0], k[1]}, pad, stride, dil)
	if err != nil {
		t.Fatal(err)
	}
	if !yn.Shape().Eq(r.Shape()) {
		t.Fatalf("gorgonia output shape %v, ours %v", yn.Shape(), r.Shape())
	}
	rn := G.NewTensor(g, tensor.Float64, 4, G.WithShape(r.Shape()...), G.WithValue(r.Clone()), G.WithName("r"))
	loss := G.Must(G.Sum(G.Must(G.HadamardProd(yn, rn))))
	if _, err := G.Grad(loss, xn, wn); err != nil {
		t.Fatal(err)
	}
	var yv G.Value
	G.Read(yn, &yv)
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	gx, err := xn.Grad()
	if err != nil {
		t.Fatal(err)
	}
	gw, err := wn.Grad()
	if err != nil {
		t.Fatal(err)
	}
	flat := func(v G.Value) []float64 {
		return slices.Clone(v.(*tensor.Dense).Data().([]float64))
	}
	return flat(yv), flat(gx), flat(gw)
}

// Our conv's forward, input gradient and weight gradient equal gorgonia's on random
// float64 data (gorgonia has no groups, so groups = 1). Dilation and non-square kernels
// are included: gorgonia's im2col indexes taps as (kh·dilationH − padH + oh·strideH) per
// axis, which we read in its source before relying on it.
func TestConvMatchesGorgonia(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, tc := range []struct {
		name                string
		n, cin, h, w, cout  int
		k, pad, stride, dil []int
	}{
		{"3x3 pad1", 2, 3, 7, 5, 4, []int{3, 3}, []int{1, 1}, []int{1, 1}, []int{1, 1}},
		{"3x3 stride2 pad1", 2, 3, 9, 6, 2, []int{3, 3}, []int{1, 1}, []int{2, 2}, []int{1, 1}},
		{"5x5 stride3 pad2", 1, 2, 11, 8, 3, []int{5, 5}, []int{2, 2}, []int{3, 3}, []int{1, 1}},
		{"non-square 3x2 stride[2,1] pad[0,1]", 2, 2, 7, 5, 3, []int{3, 2}, []int{0, 1}, []int{2, 1}, []int{1, 1}},
		{"dilation2 pad2", 2, 2, 8, 7, 2, []int{3, 3}, []int{2, 2}, []int{1, 1}, []int{2, 2}},
		{"1x1", 3, 4, 5, 3, 2, []int{1, 1}, []int{0, 0}, []int{1, 1}, []int{1, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := convRand(rng, tc.n, tc.cin, tc.h, tc.w)
			w := convRand(rng, tc.cout, tc.cin, tc.k[0], tc.k[1])
			l, err := layers.NewConv("c", layers.ConvConfig{Out: tc.cout, Kernel: tc.k, Pad: tc.pad, Stride: tc.stride, Dilation: tc.dil, Bias: convBool(false)})
			if err != nil {
				t.Fatal(err)
			}
			out, err := l.Setup([]tensor.Shape{x.Shape()}, tensor.Float64)
			if err != nil {
				t.Fatal(err)
			}
			r := convRand(rng, out...)
			y, dx, grads := convRun(t, l, x, w, nil, r)
			gy, gdx, gdw := gorgoniaConv(t, x, w, r, tc.k, tc.pad, tc.stride, tc.dil)
			for _, c := range []struct {
				what      string
				ours, ref []float64
			}{{"forward", convF64(y), gy}, {"input gradient", convF64(dx), gdx}, {"weight gradient", convF64(grads[0]), gdw}} {
				if d := convMaxAbsDiff(t, c.ours, c.ref); d > 1e-12 {
					t.Errorf("%s differs from gorgonia by %.3g", c.what, d)
				}
			}
		})
	}
}

// A worked example by hand. x is one 3×3 channel holding 1..9, W = [[1, 0], [0, −1]],
// bias 0.5, stride 1, no pad: y[i][j] = x[i][j] − x[i+1][j+1] + 0.5 = 1 − 5 + 0.5 = −3.5
// everywhere (every diagonal neighbour is 4 larger).
// Backward with dY = 1 everywhere:
//
//	dW[u][v] = Σ over the 4 windows of x[i+u][j+v]: dW00 = 1+2+4+5 = 12, dW01 = 16,
//	dW10 = 24, dW11 = 28; db = 4;
//	dX[a][b] = Σ of W[a−i][b−j] over the windows (i,j) covering (a,b):
//	  1  1  0
//	  1  0 −1     (centre: W11 + W10 + W01 + W00 = −1 + 0 + 0 + 1 = 0)
//	  0 −1 −1
//
// With stride 2, pad 1 the windows start at (−1,−1), (−1,1), (1,−1), (1,1): only taps
// (0,0) and (1,1) weigh, tap (0,0) reads 0,0,0,5 and tap (1,1) reads 1,3,7,9, so
// y = [0−1, 0−3, 0−7, 5−9] + 0.5 = [−0.5, −2.5, −6.5, −3.5].
func TestConvByHand(t *testing.T) {
	x := tensor.New(tensor.WithShape(1, 1, 3, 3), tensor.WithBacking([]float64{1, 2, 3, 4, 5, 6, 7, 8, 9}))
	w := tensor.New(tensor.WithShape(1, 1, 2, 2), tensor.WithBacking([]float64{1, 0, 0, -1}))
	b := tensor.New(tensor.WithShape(1), tensor.WithBacking([]float64{0.5}))
	dy := tensor.New(tensor.WithShape(1, 1, 2, 2), tensor.WithBacking([]float64{1, 1, 1, 1}))

	l, err := layers.NewConv("hand", layers.ConvConfig{Out: 1, Kernel: []int{2}})
	if err != nil {
		t.Fatal(err)
	}
	y, dx, grads := convRun(t, l, x, w, b, dy)
	for _, c := range []struct {
		what      string
		got, want []float64
	}{
		{"y", convF64(y), []float64{-3.5, -3.5, -3.5, -3.5}},
		{"dX", convF64(dx), []float64{1, 1, 0, 1, 0, -1, 0, -1, -1}},
		{"dW", convF64(grads[0]), []float64{12, 16, 24, 28}},
		{"db", convF64(grads[1]), []float64{4}},
	} {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("stride 1: %s = %v, want %v", c.what, c.got, c.want)
		}
	}

	l2, err := layers.NewConv("hand2", layers.ConvConfig{Out: 1, Kernel: []int{2}, Stride: []int{2}, Pad: []int{1}})
	if err != nil {
		t.Fatal(err)
	}
	y2, _, _ := convRun(t, l2, x, w, b, nil)
	if want := []float64{-0.5, -2.5, -6.5, -3.5}; !slices.Equal(convF64(y2), want) {
		t.Errorf("stride 2 pad 1: y = %v, want %v", convF64(y2), want)
	}
}

// float32 runs the same kernels as float64.
func TestConvFloat32MatchesFloat64(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	cfg := layers.ConvConfig{Out: 4, Kernel: []int{3}, Stride: []int{2}, Pad: []int{1}, Groups: 2}
	x := convRand(rng, 2, 4, 9, 7)
	l64, _ := layers.NewConv("c", cfg)
	l32, _ := layers.NewConv("c", cfg)
	out, _ := l64.Setup([]tensor.Shape{x.Shape()}, tensor.Float64)
	if _, err := l32.Setup([]tensor.Shape{x.Shape()}, tensor.Float32); err != nil {
		t.Fatal(err)
	}
	w, b, dy := convRand(rng, 4, 2, 3, 3), convRand(rng, 4), convRand(rng, out...)
	y, dx, g := convRun(t, l64, x, w, b, dy)
	to32 := func(d *tensor.Dense) *tensor.Dense {
		v := make([]float32, d.Shape().TotalSize())
		for i, f := range convF64(d) {
			v[i] = float32(f)
		}
		return tensor.New(tensor.WithShape(d.Shape().Clone()...), tensor.WithBacking(v))
	}
	copy(l32.Params()[0].Value.Data().([]float32), to32(w).Data().([]float32))
	copy(l32.Params()[1].Value.Data().([]float32), to32(b).Data().([]float32))
	x32 := to32(x)
	y32 := convZeros(tensor.Float32, out)
	l32.Forward([]*tensor.Dense{x32}, y32)
	dx32 := convZeros(tensor.Float32, x.Shape())
	l32.Backward([]*tensor.Dense{x32}, y32, to32(dy), []*tensor.Dense{dx32})
	for _, c := range []struct {
		what string
		a    *tensor.Dense
		b    *tensor.Dense
	}{{"y", y, y32}, {"dx", dx, dx32}, {"dw", g[0], l32.Params()[0].Grad}, {"db", g[1], l32.Params()[1].Grad}} {
		for i, v := range c.b.Data().([]float32) {
			if d := math.Abs(float64(v) - convF64(c.a)[i]); d > 1e-5 {
				t.Fatalf("%s[%d]: float32 %v vs float64 %v", c.what, i, v, convF64(c.a)[i])
			}
		}
	}
}

// Forward and Backward give the same bits whatever GOMAXPROCS is (the GEMM may split
// work across threads; the reduction order must not depend on it).
func TestConvDeconvDeterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	mk := []func() layers.Layer{
		func() layers.Layer {
			l, _ := layers.NewConv("c", layers.ConvConfig{Out: 16, Kernel: []int{3}, Pad: []int{1}})
			return l
		},
		func() layers.Layer {
			l, _ := layers.NewConv("c1", layers.ConvConfig{Out: 16, Kernel: []int{1}})
			return l
		},
		func() layers.Layer {
			l, _ := layers.NewDeconv("d", layers.DeconvConfig{ConvConfig: layers.ConvConfig{Out: 16, Kernel: []int{4}, Stride: []int{2}, Pad: []int{1}, Init: "he"}})
			return l
		},
	}
	for _, newLayer := range mk {
		x := convRand(rng, 2, 16, 17, 15)
		x32 := tensor.New(tensor.WithShape(x.Shape().Clone()...), tensor.Of(tensor.Float32))
		for i, v := range convF64(x) {
			x32.Data().([]float32)[i] = float32(v)
		}
		run := func(procs int) [][]float32 {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			l := newLayer()
			out, err := l.Setup([]tensor.Shape{x32.Shape()}, tensor.Float32)
			if err != nil {
				t.Fatal(err)
			}
			l.(layers.Initializer).Init(rand.New(rand.NewPCG(1, 2)))
			y := convZeros(tensor.Float32, out)
			l.Forward([]*tensor.Dense{x32}, y)
			dx := convZeros(tensor.Float32, x32.Shape())
			l.Backward([]*tensor.Dense{x32}, y, y, []*tensor.Dense{dx})
			res := [][]float32{y.Data().([]float32), dx.Data().([]float32)}
			for _, p := range l.Params() {
				res = append(res, p.Grad.Data().([]float32))
			}
			return res
		}
		a, b := run(1), run(2)
		for i := range a {
			for j := range a[i] {
				if math.Float32bits(a[i][j]) != math.Float32bits(b[i][j]) {
					t.Fatalf("%s: result %d element %d: %v with 1 thread, %v with 2", newLayer().Type(), i, j, a[i][j], b[i][j])
				}
			}
		}
	}
}

// Bad hyper-parameters and shapes give errors that name the layer, never panics.
func TestConvErrors(t *testing.T) {
	ok := layers.ConvConfig{Out: 4, Kernel: []int{3}}
	for _, tc := range []struct {
		name string
		edit func(*layers.ConvConfig)
		want string
	}{
		{"kernel 0", func(c *layers.ConvConfig) { c.Kernel = []int{0} }, "kernel"},
		{"kernel [3 0]", func(c *layers.ConvConfig) { c.Kernel = []int{3, 0} }, "kernel"},
		{"kernel missing", func(c *layers.ConvConfig) { c.Kernel = nil }, "kernel is required"},
		{"kernel 3 values", func(c *layers.ConvConfig) { c.Kernel = []int{3, 3, 3} }, "kernel"},
		{"stride 0", func(c *layers.ConvConfig) { c.Stride = []int{0} }, "stride"},
		{"stride [1 0]", func(c *layers.ConvConfig) { c.Stride = []int{1, 0} }, "stride"},
		{"negative pad", func(c *layers.ConvConfig) { c.Pad = []int{-1} }, "pad"},
		{"dilation 0", func(c *layers.ConvConfig) { c.Dilation = []int{0} }, "dilation"},
		{"out 0", func(c *layers.ConvConfig) { c.Out = 0 }, "out"},
		{"out negative", func(c *layers.ConvConfig) { c.Out = -3 }, "out"},
		{"groups negative", func(c *layers.ConvConfig) { c.Groups = -1 }, "groups"},
		{"groups not dividing out", func(c *layers.ConvConfig) { c.Groups = 3 }, "groups 3 does not divide out 4"},
		{"unknown init", func(c *layers.ConvConfig) { c.Init = "bilinear" }, "unknown init"},
		{"gaussian without std", func(c *layers.ConvConfig) { c.Init = "gaussian" }, "std"},
		{"negative lr_mult", func(c *layers.ConvConfig) { m := -1.0; c.LRMult = &m }, "lr_mult"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.edit(&cfg)
			_, err := layers.NewConv("conv7", cfg)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), "conv conv7") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q should name the layer and say %q", err, tc.want)
			}
		})
	}

	for _, tc := range []struct {
		name string
		cfg  layers.ConvConfig
		in   []tensor.Shape
		dt   tensor.Dtype
		want string
	}{
		{"groups not dividing input channels", layers.ConvConfig{Out: 4, Kernel: []int{3}, Groups: 2}, []tensor.Shape{{1, 3, 8, 8}}, tensor.Float32, "groups 2 does not divide the 3 input channels"},
		{"input too small", layers.ConvConfig{Out: 4, Kernel: []int{7}}, []tensor.Shape{{1, 3, 5, 9}}, tensor.Float32, "too small"},
		{"input too small when dilated", layers.ConvConfig{Out: 4, Kernel: []int{3}, Dilation: []int{3}}, []tensor.Shape{{1, 3, 6, 9}}, tensor.Float32, "too small"},
		{"not 4-D", layers.ConvConfig{Out: 4, Kernel: []int{3}}, []tensor.Shape{{3, 8, 8}}, tensor.Float32, "N×C×H×W"},
		{"two inputs", layers.ConvConfig{Out: 4, Kernel: []int{3}}, []tensor.Shape{{1, 3, 8, 8}, {1, 3, 8, 8}}, tensor.Float32, "1 input"},
		{"empty dim", layers.ConvConfig{Out: 4, Kernel: []int{3}}, []tensor.Shape{{0, 3, 8, 8}}, tensor.Float32, "empty"},
		{"int dtype", layers.ConvConfig{Out: 4, Kernel: []int{3}}, []tensor.Shape{{1, 3, 8, 8}}, tensor.Int32, "dtype"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := layers.NewConv("conv9", tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, err = l.Setup(tc.in, tc.dt)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), "conv conv9") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q should name the layer and say %q", err, tc.want)
			}
		})
	}
}

// Setup may be called again for another batch size or image size: parameters are kept,
// buffers follow; other input channels (another weight shape) or dtype are errors.
func TestConvResetup(t *testing.T) {
	l, err := layers.NewConv("c", layers.ConvConfig{Out: 2, Kernel: []int{3}, Stride: []int{2}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Setup([]tensor.Shape{{1, 3, 5, 5}}, tensor.Float64); err != nil {
		t.Fatal(err)
	}
	w := l.Params()[0]
	out, err := l.Setup([]tensor.Shape{{3, 3, 11, 9}}, tensor.Float64)
	if err != nil {
		t.Fatal(err)
	}
	if !out.Eq(tensor.Shape{3, 2, 5, 4}) || l.Params()[0] != w {
		t.Fatalf("re-Setup: out %v, weight kept %v", out, l.Params()[0] == w)
	}
	convGradCheck(t, l, tensor.Shape{3, 3, 11, 9}, "input0", "weight", "bias")
	if _, err := l.Setup([]tensor.Shape{{1, 4, 5, 5}}, tensor.Float64); err == nil || !strings.Contains(err.Error(), "input channels changed") {
		t.Errorf("channel change: err = %v", err)
	}
	if _, err := l.Setup([]tensor.Shape{{1, 3, 5, 5}}, tensor.Float32); err == nil || !strings.Contains(err.Error(), "dtype") {
		t.Errorf("dtype change: err = %v", err)
	}
}

// Init draws the documented distributions; multipliers follow the config.
func TestConvInitAndMultipliers(t *testing.T) {
	const cin, cout, k = 16, 64, 3
	fanIn, fanOut := float64(cin*k*k), float64(cout*k*k)
	std := func(v []float64) (mean, sd, maxAbs float64) {
		for _, x := range v {
			mean += x
			maxAbs = math.Max(maxAbs, math.Abs(x))
		}
		mean /= float64(len(v))
		for _, x := range v {
			sd += (x - mean) * (x - mean)
		}
		return mean, math.Sqrt(sd / float64(len(v))), maxAbs
	}
	for _, tc := range []struct {
		init           string
		std            float64
		wantSD, maxAbs float64
	}{
		{"", 0, math.Sqrt(2 / fanIn), math.Inf(1)}, // he is the default
		{"he", 0, math.Sqrt(2 / fanIn), math.Inf(1)},
		{"xavier", 0, math.Sqrt(6/(fanIn+fanOut)) / math.Sqrt(3), math.Sqrt(6 / (fanIn + fanOut))},
		{"gaussian", 0.01, 0.01, math.Inf(1)},
		{"zero", 0, 0, 0},
	} {
		l, err := layers.NewConv("c", layers.ConvConfig{Out: cout, Kernel: []int{k}, Init: tc.init, Std: tc.std})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Setup([]tensor.Shape{{1, cin, 8, 8}}, tensor.Float64); err != nil {
			t.Fatal(err)
		}
		ps := l.Params()
		convF64(ps[1].Value)[0] = 42 // Init must reset the bias
		l.Init(rand.New(rand.NewPCG(3, 4)))
		mean, sd, maxAbs := std(convF64(ps[0].Value))
		// 9216 draws: the sample sd is within ~1.5% of the truth with near certainty.
		if math.Abs(sd-tc.wantSD) > 0.05*tc.wantSD || math.Abs(mean) > 0.05*tc.wantSD+1e-300 || maxAbs > tc.maxAbs {
			t.Errorf("init %q: mean %.4g sd %.4g max|w| %.4g, want sd %.4g, max ≤ %.4g", tc.init, mean, sd, maxAbs, tc.wantSD, tc.maxAbs)
		}
		if slices.ContainsFunc(convF64(ps[1].Value), func(v float64) bool { return v != 0 }) {
			t.Errorf("init %q: bias not zero", tc.init)
		}
		if ps[0].LRMult != 1 || ps[0].DecayMult != 1 || ps[0].Name != "weight" || ps[1].Name != "bias" {
			t.Errorf("defaults: %+v", *ps[0])
		}
	}

	lr, dec := 2.0, 0.0
	l, _ := layers.NewConv("c", layers.ConvConfig{Out: 2, Kernel: []int{1}, LRMult: &lr, DecayMult: &dec})
	l.Setup([]tensor.Shape{{1, 2, 3, 3}}, tensor.Float32)
	for _, p := range l.Params() {
		if p.LRMult != 2 || p.DecayMult != 0 {
			t.Errorf("lr_mult 2 decay_mult 0: %s has %v, %v", p.Name, p.LRMult, p.DecayMult)
		}
	}
	l, _ = layers.NewConv("c", layers.ConvConfig{Out: 2, Kernel: []int{1}, LRMult: &lr, Learn: convBool(false)})
	l.Setup([]tensor.Shape{{1, 2, 3, 3}}, tensor.Float32)
	for _, p := range l.Params() {
		if !p.Frozen() {
			t.Errorf("learn false: %s not frozen", p.Name)
		}
	}
}

// A frozen conv adds no parameter gradient (as Caffe skips lr_mult 0) but still passes
// the input gradient on.
func TestConvFrozenSkipsParamGrads(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	l, _ := layers.NewConv("c", layers.ConvConfig{Out: 2, Kernel: []int{3}, Learn: convBool(false)})
	x := convRand(rng, 2, 2, 5, 5)
	_, dx, grads := convRun(t, l, x, convRand(rng, 2, 2, 3, 3), convRand(rng, 2), convRand(rng, 2, 2, 3, 3))
	for _, g := range grads {
		if slices.ContainsFunc(convF64(g), func(v float64) bool { return v != 0 }) {
			t.Error("frozen parameter got a gradient")
		}
	}
	if !slices.ContainsFunc(convF64(dx), func(v float64) bool { return v != 0 }) {
		t.Error("no input gradient")
	}
	// Backward without an input gradient wanted must not touch anything else.
	l2, _ := layers.NewConv("c2", layers.ConvConfig{Out: 2, Kernel: []int{3}})
	out, _ := l2.Setup([]tensor.Shape{x.Shape()}, tensor.Float64)
	y := convZeros(tensor.Float64, out)
	l2.Forward([]*tensor.Dense{x}, y)
	l2.Backward([]*tensor.Dense{x}, y, y, []*tensor.Dense{nil})
}

// CoordMap is Caffe's coord_map; MACs counts one forward's multiply-adds.
func TestConvCoordMapAndMACs(t *testing.T) {
	l, _ := layers.NewConv("c", layers.ConvConfig{Out: 8, Kernel: []int{3, 5}, Stride: []int{2, 4}, Pad: []int{1, 0}, Dilation: []int{1, 2}, Groups: 2})
	if _, err := l.Setup([]tensor.Shape{{2, 4, 9, 21}}, tensor.Float32); err != nil {
		t.Fatal(err)
	}
	// H: s 2, p 1, k_eff 3 → 1/2, (1 − 1)/2 = 0. W: s 4, p 0, k_eff 9 → 1/4, (0 − 4)/4 = −1.
	scale, offset := l.CoordMap()
	if scale != [2]float64{0.5, 0.25} || offset != [2]float64{0, -1} {
		t.Errorf("CoordMap = %v, %v", scale, offset)
	}
	// Output 5×4 (H: floor(8/2)+1; W: floor(12/4)+1); MACs = 2·8·20·(4/2)·3·5 = 9600.
	if got := l.MACs(); got != 9600 {
		t.Errorf("MACs = %d, want 9600", got)
	}
}

func benchConv(b *testing.B, l layers.Layer, in tensor.Shape, backward bool) {
	out, err := l.Setup([]tensor.Shape{in}, tensor.Float32)
	if err != nil {
		b.Fatal(err)
	}
	l.(layers.Initializer).Init(rand.New(rand.NewPCG(1, 1)))
	x := tensor.New(tensor.WithShape(in.Clone()...), tensor.Of(tensor.Float32))
	for i := range x.Data().([]float32) {
		x.Data().([]float32)[i] = float32(i%7) - 3
	}
	y := convZeros(tensor.Float32, out)
	dx := convZeros(tensor.Float32, in)
	var macs int64
	if m, ok := l.(layers.MACCounter); ok {
		macs = m.MACs()
	}
	c0 := cpuSeconds()
	b.ResetTimer()
	for b.Loop() {
		l.Forward([]*tensor.Dense{x}, y)
		if backward {
			l.Backward([]*tensor.Dense{x}, y, y, []*tensor.Dense{dx})
		}
	}
	cpu := cpuSeconds() - c0
	// Forward, input gradient and weight gradient cost the same; frozen weights get none.
	passes := 1.0
	if backward {
		passes = 2
		if ps := l.Params(); len(ps) > 0 && !ps[0].Frozen() {
			passes = 3
		}
	}
	flops := 2 * float64(macs) * passes
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	if cpu > 0 {
		b.ReportMetric(flops*float64(b.N)/cpu/1e9, "GFLOP/cpu-s")
	}
}

// BenchmarkConv runs W1 of the benchmark workloads: 3×3 conv, 8×64×64×64, bias.
func BenchmarkConv(b *testing.B) {
	for _, pass := range []string{"fwd", "fwdbwd"} {
		b.Run("W1/"+pass, func(b *testing.B) {
			l, _ := layers.NewConv("w1", layers.ConvConfig{Out: 64, Kernel: []int{3}, Pad: []int{1}})
			benchConv(b, l, tensor.Shape{8, 64, 64, 64}, pass == "fwdbwd")
		})
		b.Run("1x1/"+pass, func(b *testing.B) {
			l, _ := layers.NewConv("score", layers.ConvConfig{Out: 21, Kernel: []int{1}})
			benchConv(b, l, tensor.Shape{8, 256, 8, 8}, pass == "fwdbwd")
		})
	}
}

// Steady state allocates nothing: the column buffer is sized in Setup, tensors are read
// without Dense.Data's boxing. One thread, so a parallel GEMM's own bookkeeping is not
// counted here.
func TestConvDeconvNoAllocs(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	conv, _ := layers.NewConv("c", layers.ConvConfig{Out: 4, Kernel: []int{3}, Stride: []int{2}, Pad: []int{1}})
	conv1, _ := layers.NewConv("c1", layers.ConvConfig{Out: 4, Kernel: []int{1}})
	deconv, _ := layers.NewDeconv("d", layers.DeconvConfig{ConvConfig: layers.ConvConfig{Out: 3, Kernel: []int{4}, Stride: []int{2}, Pad: []int{1}}})
	for _, l := range []layers.Layer{conv, conv1, deconv} {
		in := tensor.Shape{2, 3, 9, 8}
		out, err := l.Setup([]tensor.Shape{in}, tensor.Float32)
		if err != nil {
			t.Fatal(err)
		}
		x, y, dx := convZeros(tensor.Float32, in), convZeros(tensor.Float32, out), convZeros(tensor.Float32, in)
		xs, dxs := []*tensor.Dense{x}, []*tensor.Dense{dx}
		allocs := testing.AllocsPerRun(5, func() {
			l.Forward(xs, y)
			l.Backward(xs, y, y, dxs)
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per forward+backward", l.Type(), allocs)
		}
	}
}
