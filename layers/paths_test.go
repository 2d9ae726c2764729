package layers_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"github.com/fcn-dev/fcn/layers"
	"gorgonia.org/tensor"
)

// pathCase is one conv or deconv geometry for the path table.
type pathCase struct {
	name   string
	deconv bool
	cfg    layers.DeconvConfig // ConvConfig alone for a conv
	in     tensor.Shape
}

func convCase(name string, c layers.ConvConfig, in tensor.Shape) pathCase {
	return pathCase{name: "conv " + name, cfg: layers.DeconvConfig{ConvConfig: c}, in: in}
}

func deconvCase(name string, c layers.DeconvConfig, in tensor.Shape) pathCase {
	if c.Init == "" && c.Mode == "" {
		c.Init = "he" // the bilinear default needs C_in = C_out
	}
	return pathCase{name: "deconv " + name, deconv: true, cfg: c, in: in}
}

// pathCases reach every path of both layers with odd sizes, strides, padding (also
// beyond the kernel's reach), dilation, groups, batches of one and several images,
// column blocks of several small images side by side and blocks cut into rows of one
// large image, and frozen bilinear deconvs in the geometries FCN and its variants use.
var pathCases = []pathCase{
	convCase("3x3 pad1 side by side", layers.ConvConfig{Out: 6, Kernel: []int{3}, Pad: []int{1}}, tensor.Shape{3, 5, 11, 9}),
	convCase("5x3 pad[2,0] groups2 no bias", layers.ConvConfig{Out: 4, Kernel: []int{5, 3}, Pad: []int{2, 0}, Groups: 2, Bias: convBool(false)}, tensor.Shape{4, 4, 11, 6}),
	convCase("dilation2 pad3 groups2", layers.ConvConfig{Out: 6, Kernel: []int{3}, Pad: []int{3}, Dilation: []int{2}, Groups: 2}, tensor.Shape{2, 4, 9, 8}),
	convCase("pad beyond the kernel's reach", layers.ConvConfig{Out: 3, Kernel: []int{3}, Pad: []int{3}}, tensor.Shape{2, 2, 5, 6}),
	convCase("stride2 pad1", layers.ConvConfig{Out: 5, Kernel: []int{3}, Stride: []int{2}, Pad: []int{1}}, tensor.Shape{3, 4, 13, 11}),
	convCase("k[3,2] s[2,3] d[1,2]", layers.ConvConfig{Out: 4, Kernel: []int{3, 2}, Stride: []int{2, 3}, Pad: []int{1, 0}, Dilation: []int{1, 2}}, tensor.Shape{2, 3, 10, 12}),
	convCase("rows of one image", layers.ConvConfig{Out: 3, Kernel: []int{3}, Pad: []int{1}}, tensor.Shape{2, 2, 131, 129}),
	convCase("one image", layers.ConvConfig{Out: 4, Kernel: []int{3}, Pad: []int{1}}, tensor.Shape{1, 3, 9, 10}),
	// Rows of window positions 16 and 32 wide: the implicit forward's gathered slivers.
	convCase("3x3 pad1 rows of 16 groups2", layers.ConvConfig{Out: 6, Kernel: []int{3}, Pad: []int{1}, Groups: 2}, tensor.Shape{3, 4, 9, 16}),
	convCase("one image rows of 32 dilation2", layers.ConvConfig{Out: 5, Kernel: []int{3}, Pad: []int{2}, Dilation: []int{2}}, tensor.Shape{1, 3, 6, 32}),
	// More taps than the gathers' tables hold (81 > 64): element by element, and the
	// transposed gather by lane index.
	convCase("9x9 pad4 rows of 16", layers.ConvConfig{Out: 3, Kernel: []int{9}, Pad: []int{4}}, tensor.Shape{2, 2, 10, 16}),
	convCase("1x1 groups2 side by side", layers.ConvConfig{Out: 6, Kernel: []int{1}, Groups: 2}, tensor.Shape{3, 4, 7, 5}),
	convCase("1x1 whole images", layers.ConvConfig{Out: 3, Kernel: []int{1}}, tensor.Shape{2, 4, 140, 131}),
	deconvCase("k4 s2 p1", layers.DeconvConfig{ConvConfig: layers.ConvConfig{Out: 5, Kernel: []int{4}, Stride: []int{2}, Pad: []int{1}}}, tensor.Shape{3, 4, 7, 6}),
	deconvCase("k3 s2 groups2 output_padding1", layers.DeconvConfig{ConvConfig: layers.ConvConfig{Out: 6, Kernel: []int{3}, Stride: []int{2}, Groups: 2}, OutputPadding: []int{1}}, tensor.Shape{3, 4, 5, 5}),
	deconvCase("k16 s8 p4 groups3 no bias", layers.DeconvConfig{ConvConfig: layers.ConvConfig{Out: 6, Kernel: []int{16}, Stride: []int{8}, Pad: []int{4}, Groups: 3, Bias: convBool(false)}}, tensor.Shape{2, 6, 4, 3}),
	deconvCase("k3 s1 p1", layers.DeconvConfig{ConvConfig: layers.ConvConfig{Out: 4, Kernel: []int{3}, Pad: []int{1}}}, tensor.Shape{2, 5, 9, 8}),
	deconvCase("k3 s2 p2 dilation2", layers.DeconvConfig{ConvConfig: layers.ConvConfig{Out: 3, Kernel: []int{3}, Stride: []int{2}, Pad: []int{2}, Dilation: []int{2}}}, tensor.Shape{2, 3, 6, 5}),
	deconvCase("rows of one image", layers.DeconvConfig{ConvConfig: layers.ConvConfig{Out: 2, Kernel: []int{4}, Stride: []int{2}, Pad: []int{1}}}, tensor.Shape{1, 2, 131, 127}),
	deconvCase("1x1", layers.DeconvConfig{ConvConfig: layers.ConvConfig{Out: 5, Kernel: []int{1}}}, tensor.Shape{3, 7, 9, 11}),
	deconvCase("fixed bilinear k16 s8 p4", layers.DeconvConfig{ConvConfig: layers.ConvConfig{Out: 2, Kernel: []int{16}, Stride: []int{8}, Pad: []int{4}}, Mode: "bilinear"}, tensor.Shape{2, 2, 4, 3}),
}

func init() {
	// Every geometry of the separable path's own cases, frozen, with a bias.
	for _, bc := range bilinearCases {
		cfg := bc.cfg
		cfg.Out, cfg.Mode, cfg.Bias = bc.in[1], "frozen", nil
		in := bc.in
		if in.TotalSize() > 2000 {
			in = tensor.Shape{2, in[1], 6, 5}
		}
		pathCases = append(pathCases, deconvCase("frozen bilinear "+bc.name, cfg, in))
	}
}

func (tc pathCase) layer(t *testing.T) layers.Layer {
	t.Helper()
	var l layers.Layer
	var err error
	if tc.deconv {
		l, err = layers.NewDeconv("d", tc.cfg)
	} else {
		l, err = layers.NewConv("c", tc.cfg.ConvConfig)
	}
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// splitPath reads ComputePath's "fwd F / bwd B", or one name for both.
func splitPath(s string) (fwd, bwd string) {
	if f, b, ok := strings.Cut(strings.TrimPrefix(s, "fwd "), " / bwd "); ok {
		return f, b
	}
	return s, s
}

// pathRun is one forward and backward of a layer: y, dx and the parameter gradients.
type pathRun [][]float64

// runPath sets up a fresh layer of tc with paths forced, loads w and b, and runs it at
// GOMAXPROCS 1 and 2, which must give the same bits. It returns the run and the paths
// that ran, or ok false when a forced path does not apply to tc.
func runPath(t *testing.T, tc pathCase, fwd, bwd string, dt tensor.Dtype, prec layers.Precision, x, w, b, dy []float64) (run pathRun, ran string, ok bool) {
	t.Helper()
	var runs [2]pathRun
	for i, procs := range []int{1, 2} {
		l := tc.layer(t)
		if err := l.(layers.PrecisionSetter).SetPrecision(prec); err != nil {
			t.Fatal(err)
		}
		layers.ForcePaths(l, fwd, bwd)
		if _, err := l.Setup([]tensor.Shape{tc.in}, dt); errors.Is(err, layers.ErrPathNotApplicable) {
			return nil, "", false
		} else if err != nil {
			t.Fatal(err)
		}
		l.(layers.Initializer).Init(rand.New(rand.NewPCG(1, 2)))
		if len(l.Params()) == 0 {
			w = nil // mode bilinear: the weight is the fixed kernel
		}
		func() {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			y, dx, grads := fastRun(t, l, dt, tc.in, x, w, b, dy)
			runs[i] = append(pathRun{y, dx}, grads...)
		}()
		ran = l.(layers.PathReporter).ComputePath()
	}
	for k := range runs[0] {
		for j := range runs[0][k] {
			if math.Float64bits(runs[0][k][j]) != math.Float64bits(runs[1][k][j]) {
				t.Fatalf("%v result %d element %d: %v with 1 thread, %v with 2", dt, k, j, runs[0][k][j], runs[1][k][j])
			}
		}
	}
	return runs[0], ran, true
}

// Every compute path of every conv and deconv against the one plain reference
// (ReferenceConv, ReferenceDeconv), forward and backward, in float64 (the portable GEMM)
// and float32 (the assembly one): each forced path where it applies, with
// ComputePath naming it; and in float32 with bf16 operands (every path but the frozen
// bilinear one must then give other bits than fp32). Each path gives the same bits at GOMAXPROCS 1 and 2, and the
// image-parallel and implicit forwards give the blocked ones' bits (the same products
// element for element). Together the cases must run every path of both layers.
func TestEveryPathMatchesReference(t *testing.T) {
	covered := map[string]bool{}
	rng := rand.New(rand.NewPCG(41, 42))
	for _, tc := range pathCases {
		t.Run(tc.name, func(t *testing.T) {
			probe := tc.layer(t)
			if _, err := probe.Setup([]tensor.Shape{tc.in}, tensor.Float64); err != nil {
				t.Fatal(err)
			}
			probe.(layers.Initializer).Init(rand.New(rand.NewPCG(1, 2)))
			var g layers.ConvGeometry
			var wt *tensor.Dense
			var frozen bool // the config fixes the weight: it keeps Init's bilinear kernel
			kind, fwds, bwds := "conv", layers.ConvForwardPaths, layers.ConvBackwardPaths
			if d, ok := probe.(*layers.Deconv); ok {
				g, wt, frozen = d.Geometry(), d.Weight().Value, d.FastBilinear()
				kind, fwds, bwds = "deconv", layers.DeconvForwardPaths, layers.DeconvBackwardPaths
			} else {
				g, wt = probe.(*layers.Conv).Geometry(), probe.Params()[0].Value
			}
			x, dy := fastRand(rng, tc.in.TotalSize()), fastRand(rng, g.N*g.OutC*g.OutH*g.OutW)
			w := fastGet(wt)
			if !frozen {
				w = fastRand(rng, len(w))
			}
			var b []float64
			if ps := probe.Params(); len(ps) > 1 {
				b = fastRand(rng, g.OutC)
			}
			ref := layers.ReferenceConv
			if tc.deconv {
				ref = layers.ReferenceDeconv
			}
			wy, wdx, wdw, wdb := ref(g, x, w, b, dy)
			if frozen {
				wdw, wdb = make([]float64, len(wdw)), make([]float64, len(wdb)) // no gradient
			}
			want := pathRun{wy, wdx, wdw, wdb}

			type force struct{ fwd, bwd string }
			forces := []force{{}}
			for _, f := range fwds {
				forces = append(forces, force{f, ""})
			}
			for _, b := range bwds {
				forces = append(forces, force{"", b})
			}
			configs := []struct {
				dt   tensor.Dtype
				prec layers.Precision
				tol  float64
			}{
				{tensor.Float64, layers.FP32, 1e-12},
				{tensor.Float32, layers.FP32, 2e-6 * math.Sqrt(float64(len(w)/wt.Shape()[0]*g.OutC))},
				// bf16 operands: each rounded by up to 2⁻⁹ relative, so a product by
				// about 2⁻⁸; these sums of random signs stay well inside 2⁻⁸ of the
				// largest output (a wrong or missing product is off by far more).
				{tensor.Float32, layers.BF16, math.Ldexp(1, -8)},
			}
			if err := layers.BF16.Supported(); err != nil {
				t.Logf("bf16 not checked: %v", err)
				configs = configs[:2]
			}
			fp32 := map[force]pathRun{}
			for _, c := range configs {
				ys := map[string][]float64{}
				for _, f := range forces {
					run, ran, ok := runPath(t, tc, f.fwd, f.bwd, c.dt, c.prec, x, w, b, dy)
					if !ok {
						continue
					}
					rf, rb := splitPath(ran)
					if f.fwd != "" && rf != f.fwd || f.bwd != "" && rb != f.bwd {
						t.Fatalf("forced fwd %q bwd %q, ComputePath says %q", f.fwd, f.bwd, ran)
					}
					covered[kind+" fwd "+rf], covered[kind+" bwd "+rb] = true, true
					what := fmt.Sprintf("%v %s %s", c.dt, c.prec, ran)
					switch {
					case c.dt == tensor.Float32 && c.prec == layers.FP32:
						fp32[f] = run
					case c.prec == layers.BF16:
						// The products really ran on bf16 operands: y, dx and dw differ from fp32's.
						for k, pass := range []string{rf, rb, rb} {
							if k < len(run) && pass != "bilinear-frozen" && !frozen && sameBits(run[k], fp32[f][k]) {
								t.Fatalf("%s: result %d has fp32's bits", what, k)
							}
						}
					}
					fastCompare(t, what+" y", run[0], want[0], c.tol)
					fastCompare(t, what+" dx", run[1], want[1], c.tol)
					if len(run) > 2 {
						fastCompare(t, what+" dw", run[2], want[2], c.tol)
					}
					if len(run) > 3 {
						fastCompare(t, what+" db", run[3], want[3], c.tol)
					}
					ys[rf] = run[0]
				}
				for img, blk := range map[string]string{"image-parallel": "im2col-blocked", "implicit": "im2col-blocked", "sub-pixel-image-parallel": "sub-pixel"} {
					if a, b := ys[img], ys[blk]; a != nil && b != nil {
						for i := range a {
							if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
								t.Fatalf("%v forward %s differs from %s at %d: %v vs %v", c.dt, img, blk, i, a[i], b[i])
							}
						}
					}
				}
			}
		})
	}
	if t.Failed() {
		return
	}
	for kind, lists := range map[string][2][]string{
		"conv":   {layers.ConvForwardPaths, layers.ConvBackwardPaths},
		"deconv": {layers.DeconvForwardPaths, layers.DeconvBackwardPaths},
	} {
		for i, pass := range []string{"fwd", "bwd"} {
			for _, p := range lists[i] {
				if !covered[kind+" "+pass+" "+p] {
					t.Errorf("no case ran %s %s %s", kind, pass, p)
				}
			}
		}
	}
}

// A path forced where it does not apply is an error of Setup, not wrong numbers.
func TestForcedPathMustApply(t *testing.T) {
	named := func(name string) pathCase {
		for _, tc := range pathCases {
			if tc.name == name {
				return tc
			}
		}
		t.Fatalf("no case %q", name)
		return pathCase{}
	}
	for _, c := range []struct {
		tc       pathCase
		fwd, bwd string
	}{
		{named("conv 3x3 pad1 side by side"), "pointwise", ""},
		{named("conv stride2 pad1"), "", "flipped-blocked"},
		{named("conv 1x1 groups2 side by side"), "im2col-blocked", ""},
		{named("deconv k4 s2 p1"), "bilinear-frozen", ""}, // learned weights
		{named("deconv k3 s2 p2 dilation2"), "sub-pixel", ""},
		{named("deconv k4 s2 p1"), "", "sub-pixel-image-parallel"}, // a forward path
	} {
		l := c.tc.layer(t)
		layers.ForcePaths(l, c.fwd, c.bwd)
		if _, err := l.Setup([]tensor.Shape{c.tc.in}, tensor.Float64); !errors.Is(err, layers.ErrPathNotApplicable) {
			t.Errorf("%s forced to fwd %q bwd %q: Setup error %v", c.tc.name, c.fwd, c.bwd, err)
		}
	}
}

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
func sameBits(a, b []float64) bool {
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			return false
		}
	}
	return len(a) == len(b)
}

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

			// A weight written after the first Forward (a checkpoint loaded into a graph
			// that already ran) is seen once ParamsChanged says so: the bilinear kernel
			// back takes the separable path again, an altered one leaves it.
			var bi layers.ParamWatcher = frozen
			w[len(w)/2] -= 0.25
			bi.ParamsChanged()
			frozen.Forward([]*tensor.Dense{x}, fy)
			if !frozen.FastBilinear() || frozen.ComputePath() != "bilinear-frozen" {
				t.Fatalf("the bilinear kernel restored: path %s", frozen.ComputePath())
			}
			w[0] += 0.5
			bi.ParamsChanged()
			frozen.Forward([]*tensor.Dense{x}, fy)
			if frozen.FastBilinear() {
				t.Fatalf("a weight altered after the first Forward: path %s", frozen.ComputePath())
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

// bf16 set after Setup chose the fp32 implicit path is a programmer error that Forward
// names, not a silent fp32 product.
func TestBF16AfterImplicitSetupPanics(t *testing.T) {
	if err := layers.BF16.Supported(); err != nil {
		t.Skipf("bf16: %v", err)
	}
	l, err := layers.NewConv("c", layers.ConvConfig{Out: 4, Kernel: []int{3}, Pad: []int{1}})
	if err != nil {
		t.Fatal(err)
	}
	in := tensor.Shape{2, 3, 5, 16}
	out, err := l.Setup([]tensor.Shape{in}, tensor.Float32)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(l.ComputePath(), "implicit") {
		t.Skipf("this CPU's kernel takes %q, not the implicit path", l.ComputePath())
	}
	l.Init(rand.New(rand.NewPCG(1, 2)))
	if err := l.SetPrecision(layers.BF16); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if r := fmt.Sprint(recover()); !strings.Contains(r, "call Setup again") {
			t.Errorf("Forward after SetPrecision(bf16): recovered %q, want the Setup error", r)
		}
	}()
	x := tensor.New(tensor.WithShape(in...), tensor.Of(tensor.Float32))
	y := tensor.New(tensor.WithShape(out...), tensor.Of(tensor.Float32))
	l.Forward([]*tensor.Dense{x}, y)
}

// pathLayer is a conv or deconv: a layer with its init and its compute paths.
type pathLayer interface {
	layers.Layer
	layers.Initializer
	layers.PathReporter
}

// A second backward, after the gradients are zeroed as the trainer does every step,
// gives the first one's gradients bit for bit: per-slot weight-gradient sums whose
// first product writes them (beta 0) must not keep the last step's values. Float32 on
// the default paths (implicit with AVX-512), a conv and a k4 s2 deconv (space to depth),
// with more images than slots (the conv) and as many (the deconv).
func TestSecondBackwardSameGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	for _, c := range []struct {
		name string
		l    func() (pathLayer, error)
		in   tensor.Shape
	}{
		{"conv 3x3", func() (pathLayer, error) {
			return layers.NewConv("c", layers.ConvConfig{Out: 16, Kernel: []int{3}, Pad: []int{1}})
		}, tensor.Shape{10, 8, 12, 32}},
		{"deconv k4 s2", func() (pathLayer, error) {
			return layers.NewDeconv("d", deconvCfg(layers.ConvConfig{Out: 8, Kernel: []int{4}, Stride: []int{2}, Pad: []int{1}}))
		}, tensor.Shape{3, 8, 8, 16}},
	} {
		t.Run(c.name, func(t *testing.T) {
			l, err := c.l()
			if err != nil {
				t.Fatal(err)
			}
			os, err := l.Setup([]tensor.Shape{c.in}, tensor.Float32)
			if err != nil {
				t.Fatal(err)
			}
			l.Init(rng)
			x := fastTensor(tensor.Float32, c.in, fastRand(rng, c.in.TotalSize()))
			y := tensor.New(tensor.WithShape(os...), tensor.Of(tensor.Float32))
			dy := fastTensor(tensor.Float32, os, fastRand(rng, os.TotalSize()))
			var first [][]float64
			for pass := range 2 {
				for _, p := range l.Params() {
					fastSet(p.Grad, make([]float64, p.Grad.Shape().TotalSize()))
				}
				dx := tensor.New(tensor.WithShape(c.in...), tensor.Of(tensor.Float32))
				l.Forward([]*tensor.Dense{x}, y)
				l.Backward([]*tensor.Dense{x}, y, dy, []*tensor.Dense{dx})
				got := [][]float64{fastGet(dx)}
				for _, p := range l.Params() {
					got = append(got, fastGet(p.Grad))
				}
				if pass == 0 {
					first = got
					continue
				}
				for k := range got {
					if !sameBits(got[k], first[k]) {
						t.Fatalf("%s: gradient %d differs on the second backward", l.ComputePath(), k)
					}
				}
			}
		})
	}
}
