package layers_test

import (
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"github.com/fcn-dev/fcn/layers"
	"gorgonia.org/tensor"
)

// Helpers of the path tests (paths_test.go), the no-allocation test of the fast paths
// and the tests of the separable path of frozen bilinear deconvs.

func fastRand(rng *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = 2*rng.Float64() - 1
	}
	return v
}

// fastTensor is a tensor of dtype dt holding v.
func fastTensor(dt tensor.Dtype, shape tensor.Shape, v []float64) *tensor.Dense {
	d := tensor.New(tensor.WithShape(shape.Clone()...), tensor.Of(dt))
	fastSet(d, v)
	return d
}

func fastSet(d *tensor.Dense, v []float64) {
	switch a := d.Data().(type) {
	case []float32:
		for i := range a {
			a[i] = float32(v[i])
		}
	case []float64:
		copy(a, v)
	}
}

func fastGet(d *tensor.Dense) []float64 {
	switch a := d.Data().(type) {
	case []float32:
		v := make([]float64, len(a))
		for i, f := range a {
			v[i] = float64(f)
		}
		return v
	case []float64:
		return append([]float64(nil), a...)
	}
	return nil
}

// fastRun sets l up for dtype dt, loads w and b when given, and returns y, dx and the
// parameter gradients of one forward and backward with dOut = dy. dx and the gradients
// start from ones, to see that they are added into, not overwritten.
func fastRun(t *testing.T, l layers.Layer, dt tensor.Dtype, in tensor.Shape, x, w, b, dy []float64) (y, dx []float64, grads [][]float64) {
	t.Helper()
	out, err := l.Setup([]tensor.Shape{in}, dt)
	if err != nil {
		t.Fatal(err)
	}
	ps := l.Params()
	if w != nil {
		fastSet(ps[0].Value, w)
	}
	if b != nil {
		fastSet(ps[1].Value, b)
	}
	ones := func(n int) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = 1
		}
		return v
	}
	xt := fastTensor(dt, in, x)
	yt := tensor.New(tensor.WithShape(out.Clone()...), tensor.Of(dt))
	l.Forward([]*tensor.Dense{xt}, yt)
	dxt := fastTensor(dt, in, ones(in.TotalSize()))
	for _, p := range ps {
		fastSet(p.Grad, ones(p.Grad.Shape().TotalSize()))
	}
	l.Backward([]*tensor.Dense{xt}, yt, fastTensor(dt, out, dy), []*tensor.Dense{dxt})
	sub1 := func(v []float64) []float64 {
		for i := range v {
			v[i]--
		}
		return v
	}
	for _, p := range ps {
		grads = append(grads, sub1(fastGet(p.Grad)))
	}
	return fastGet(yt), sub1(fastGet(dxt)), grads
}

// fastCompare fails when got and want differ by more than tol relative to want's scale.
func fastCompare(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	var scale, worst float64
	at := 0
	for i := range want {
		scale = math.Max(scale, math.Abs(want[i]))
		if d := math.Abs(got[i] - want[i]); d > worst {
			worst, at = d, i
		}
	}
	if worst > tol*math.Max(1, scale) {
		t.Errorf("%s: max abs diff %.3g at %d (%v vs %v), scale %.3g", what, worst, at, got[at], want[at], scale)
	}
}

type fastCase struct {
	name   string
	deconv bool
	cfg    layers.ConvConfig
	in     tensor.Shape
}

func (tc fastCase) layer(t *testing.T) layers.Layer {
	t.Helper()
	if tc.deconv {
		l, err := layers.NewDeconv("d", layers.DeconvConfig{ConvConfig: tc.cfg})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	l, err := layers.NewConv("c", tc.cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// A steady-state forward and backward allocates nothing, also with helpers running
// im2col, col2im and the separable planes in parallel (testing.AllocsPerRun would run
// on one thread only, so the heap is counted directly).
func TestFastPathsNoAllocsParallel(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	for _, tc := range []fastCase{
		{"conv 3x3 rows of one image", false, layers.ConvConfig{Out: 24, Kernel: []int{3}, Pad: []int{1}}, tensor.Shape{2, 32, 75, 70}},
		{"conv 3x3 small images side by side", false, layers.ConvConfig{Out: 40, Kernel: []int{3}, Pad: []int{1}}, tensor.Shape{5, 48, 8, 7}},
		{"conv 3x3 stride2 (col2im)", false, layers.ConvConfig{Out: 16, Kernel: []int{3}, Stride: []int{2}, Pad: []int{1}}, tensor.Shape{3, 40, 45, 41}},
		{"deconv k4 s2 p1 rows", true, layers.ConvConfig{Out: 16, Kernel: []int{4}, Stride: []int{2}, Pad: []int{1}, Init: "he"}, tensor.Shape{1, 32, 70, 66}},
		{"deconv k4 s2 p1 side by side", true, layers.ConvConfig{Out: 21, Kernel: []int{4}, Stride: []int{2}, Pad: []int{1}, Init: "he", Bias: convBool(false)}, tensor.Shape{8, 21, 8, 8}},
		{"frozen bilinear", true, layers.ConvConfig{Out: 21, Kernel: []int{16}, Stride: []int{8}, Pad: []int{4}, Learn: convBool(false)}, tensor.Shape{4, 21, 9, 7}},
	} {
		l := tc.layer(t)
		out, err := l.Setup([]tensor.Shape{tc.in}, tensor.Float32)
		if err != nil {
			t.Fatal(err)
		}
		l.(layers.Initializer).Init(rand.New(rand.NewPCG(1, 2)))
		x, y, dx := convZeros(tensor.Float32, tc.in), convZeros(tensor.Float32, out), convZeros(tensor.Float32, tc.in)
		xs, dxs := []*tensor.Dense{x}, []*tensor.Dense{dx}
		step := func() {
			l.Forward(xs, y)
			l.Backward(xs, y, y, dxs)
		}
		for range 5 { // the GEMM's free lists grow to the most calls ever in flight at once
			step()
		}
		// sync.Pool may have to replace a recycled job after a collection: allow that,
		// but nothing that grows with the work. On a loaded machine the Go runtime
		// itself allocates now and then (a new OS thread, a channel waiter), once;
		// so the steady state is a window of runs that stays under the bound, out of
		// a few.
		const runs = 20
		least := uint64(1 << 62)
		for range 4 {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for range runs {
				step()
			}
			runtime.ReadMemStats(&after)
			if least = min(least, after.Mallocs-before.Mallocs); least <= runs/4 {
				break
			}
		}
		if least > runs/4 {
			t.Errorf("%s: at least %d allocations in every window of %d forward+backward", tc.name, least, runs)
		}
	}
}

// bilinearCases are upsampling geometries for the separable path: FCN's (k = 2s,
// p = s/2) at strides 2, 8, 16 and 32, odd sizes, Same, output_padding, odd and
// non-square kernels, dilation, bias and groups.
var bilinearCases = []struct {
	name string
	cfg  layers.DeconvConfig
	in   tensor.Shape
}{
	{"W2 k16 s8 p4", bilDC(layers.ConvConfig{Kernel: []int{16}, Stride: []int{8}, Pad: []int{4}, Bias: convBool(false)}), tensor.Shape{8, 21, 16, 16}},
	{"k4 s2 p1 odd 7x5", bilDC(layers.ConvConfig{Kernel: []int{4}, Stride: []int{2}, Pad: []int{1}}), tensor.Shape{3, 4, 7, 5}},
	{"k32 s16 p8", bilDC(layers.ConvConfig{Kernel: []int{32}, Stride: []int{16}, Pad: []int{8}, Bias: convBool(false)}), tensor.Shape{2, 3, 5, 3}},
	{"k64 s32 no pad", bilDC(layers.ConvConfig{Kernel: []int{64}, Stride: []int{32}, Bias: convBool(false)}), tensor.Shape{1, 2, 3, 4}},
	{"same k4 s2", layers.DeconvConfig{ConvConfig: layers.ConvConfig{Kernel: []int{4}, Stride: []int{2}}, Same: true}, tensor.Shape{2, 3, 5, 6}},
	{"same k3 s2 (odd kernel)", layers.DeconvConfig{ConvConfig: layers.ConvConfig{Kernel: []int{3}, Stride: []int{2}}, Same: true}, tensor.Shape{2, 3, 5, 4}},
	{"k3 s2 output_padding1", layers.DeconvConfig{ConvConfig: layers.ConvConfig{Kernel: []int{3}, Stride: []int{2}, Pad: []int{1}}, OutputPadding: []int{1}}, tensor.Shape{2, 2, 4, 5}},
	{"non-square k[4,16] s[2,8] p[1,4]", bilDC(layers.ConvConfig{Kernel: []int{4, 16}, Stride: []int{2, 8}, Pad: []int{1, 4}}), tensor.Shape{2, 3, 5, 3}},
	{"dilation2", bilDC(layers.ConvConfig{Kernel: []int{4}, Stride: []int{2}, Pad: []int{2}, Dilation: []int{2}}), tensor.Shape{2, 2, 5, 4}},
	{"depthwise groups", bilDC(layers.ConvConfig{Kernel: []int{4}, Stride: []int{2}, Pad: []int{1}, Groups: 3}), tensor.Shape{2, 3, 4, 5}},
	{"pad beyond the kernel", bilDC(layers.ConvConfig{Kernel: []int{4}, Stride: []int{2}, Pad: []int{3}}), tensor.Shape{2, 2, 6, 5}},
}

func bilDC(c layers.ConvConfig) layers.DeconvConfig { return layers.DeconvConfig{ConvConfig: c} }

// newBilinear returns a deconv of tc's geometry in the given mode, set up for dt with
// bilinear weights (and the given bias, if it has one).
func newBilinear(t *testing.T, cfg layers.DeconvConfig, in tensor.Shape, mode string, dt tensor.Dtype, bias []float64) *layers.Deconv {
	t.Helper()
	cfg.Out, cfg.Mode = in[1], mode
	l, err := layers.NewDeconv("up", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Setup([]tensor.Shape{in}, dt); err != nil {
		t.Fatal(err)
	}
	if mode != "bilinear" {
		l.Init(rand.New(rand.NewPCG(1, 2)))
	}
	if ps := l.Params(); len(ps) > 1 && bias != nil {
		fastSet(ps[1].Value, bias)
	}
	return l
}

// The separable path is chosen by itself for frozen bilinear weights (modes frozen and
// bilinear), not for learned ones, and is left when the weight differs from the
// bilinear kernel at the first Forward after Init (a checkpoint loaded in between),
// which then gives the general path's bits. TestEveryPathMatchesReference compares
// the paths' numbers.
func TestFrozenBilinearChosenFromConfig(t *testing.T) {
	rng := rand.New(rand.NewPCG(45, 46))
	for _, tc := range bilinearCases {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			bias := fastRand(rng, in[1])
			for mode, want := range map[string]bool{"learned": false, "frozen": true, "bilinear": true} {
				if l := newBilinear(t, tc.cfg, in, mode, tensor.Float32, bias); l.FastBilinear() != want || (l.ComputePath() == "bilinear-frozen") != want {
					t.Errorf("mode %s: FastBilinear %v, path %s", mode, l.FastBilinear(), l.ComputePath())
				}
			}
			general := newBilinear(t, tc.cfg, in, "learned", tensor.Float32, bias)
			frozen := newBilinear(t, tc.cfg, in, "frozen", tensor.Float32, bias)
			w := frozen.Weight().Value.Data().([]float32)
			w[len(w)/2] += 0.25
			if frozen.FastBilinear() {
				t.Fatal("an altered frozen weight still takes the separable path")
			}
			copy(general.Weight().Value.Data().([]float32), w)
			x := fastTensor(tensor.Float32, in, fastRand(rng, in.TotalSize()))
			out, err := general.Setup([]tensor.Shape{in}, tensor.Float32)
			if err != nil {
				t.Fatal(err)
			}
			gy, fy := convZeros(tensor.Float32, out), convZeros(tensor.Float32, out)
			general.Forward([]*tensor.Dense{x}, gy)
			frozen.Forward([]*tensor.Dense{x}, fy)
			fastCompare(t, "altered y", fastGet(fy), fastGet(gy), 0)
			if frozen.FastBilinear() || strings.Contains(frozen.ComputePath(), "bilinear") {
				t.Fatalf("an altered frozen weight reports path %s", frozen.ComputePath())
			}
		})
	}
}

// Gradient checks (float64, central differences) on the separable path itself: mode
// bilinear has no parameters, so every check is of the input gradient.
func TestFrozenBilinearGradCheck(t *testing.T) {
	for _, tc := range bilinearCases {
		in := tc.in
		if in.TotalSize() > 400 {
			in = tensor.Shape{2, in[1], 3, 2}
		}
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Out, cfg.Mode = in[1], "bilinear"
			l, err := layers.NewDeconv("up", cfg)
			if err != nil {
				t.Fatal(err)
			}
			convGradCheck(t, l, in, "input0")
			if !l.FastBilinear() {
				t.Error("the check did not run on the separable path")
			}
		})
	}
}
