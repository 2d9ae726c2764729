package layers_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"github.com/fcn-dev/fcn/layers"
	"gorgonia.org/tensor"
)

// Tests of the fast paths at the sizes where they kick in: column blocks cut into rows
// of one image, several small images side by side, the input gradient of a stride-1
// conv as a flipped convolution, and the separable path of frozen bilinear deconvs.
// The gradient checks in conv_test.go and deconv_test.go run small float64 shapes;
// here float32 (the assembly GEMM) and float64 are compared with the definitions,
// written out as plain loops.

// naiveGeom is one conv or deconv, in the notation of the definitions below.
type naiveGeom struct {
	n, cin, h, w, cout, oh, ow int
	k, s, p, d                 [2]int
	groups                     int
}

// naiveConv returns y, and dx, dw, db of L = Σ y·dy, straight from
// y[n,o,i,j] = b[o] + Σ_{c,u,v} W[o,c,u,v] x[n, g·cin/G + c, i·s−p+u·d, j·s−p+v·d].
func naiveConv(g naiveGeom, x, w, b, dy []float64) (y, dx, dw, db []float64) {
	cg, og := g.cin/g.groups, g.cout/g.groups
	y = make([]float64, g.n*g.cout*g.oh*g.ow)
	dx, dw, db = make([]float64, len(x)), make([]float64, len(w)), make([]float64, g.cout)
	for n := range g.n {
		for o := range g.cout {
			gi := o / og
			for i := range g.oh {
				for j := range g.ow {
					yi := ((n*g.cout+o)*g.oh+i)*g.ow + j
					s := 0.0
					if b != nil {
						s = b[o]
					}
					db[o] += dy[yi]
					for c := range cg {
						for u := range g.k[0] {
							for v := range g.k[1] {
								r, q := i*g.s[0]-g.p[0]+u*g.d[0], j*g.s[1]-g.p[1]+v*g.d[1]
								if r < 0 || r >= g.h || q < 0 || q >= g.w {
									continue
								}
								xi := ((n*g.cin+gi*cg+c)*g.h+r)*g.w + q
								wi := ((o*cg+c)*g.k[0]+u)*g.k[1] + v
								s += w[wi] * x[xi]
								dx[xi] += w[wi] * dy[yi]
								dw[wi] += x[xi] * dy[yi]
							}
						}
					}
					y[yi] = s
				}
			}
		}
	}
	return y, dx, dw, db
}

// naiveDeconv is the transposed convolution from its definition: input pixel (i, j) of
// channel c scatters W[c, o', u, v]·x into output pixel (i·s−p+u·d, j·s−p+v·d) of channel
// g·cout/G + o'; g.oh×g.ow is the output size and g.h×g.w the input's.
func naiveDeconv(g naiveGeom, x, w, b, dy []float64) (y, dx, dw, db []float64) {
	cg, og := g.cin/g.groups, g.cout/g.groups
	y = make([]float64, g.n*g.cout*g.oh*g.ow)
	dx, dw, db = make([]float64, len(x)), make([]float64, len(w)), make([]float64, g.cout)
	for n := range g.n {
		for o := range g.cout {
			for i := range g.oh * g.ow {
				yi := (n*g.cout+o)*g.oh*g.ow + i
				if b != nil {
					y[yi] = b[o]
				}
				db[o] += dy[yi]
			}
		}
		for c := range g.cin {
			gi := c / cg
			for i := range g.h {
				for j := range g.w {
					xi := ((n*g.cin+c)*g.h+i)*g.w + j
					for o2 := range og {
						o := gi*og + o2
						for u := range g.k[0] {
							for v := range g.k[1] {
								r, q := i*g.s[0]-g.p[0]+u*g.d[0], j*g.s[1]-g.p[1]+v*g.d[1]
								if r < 0 || r >= g.oh || q < 0 || q >= g.ow {
									continue
								}
								yi := ((n*g.cout+o)*g.oh+r)*g.ow + q
								wi := ((c*og+o2)*g.k[0]+u)*g.k[1] + v
								y[yi] += w[wi] * x[xi]
								dx[xi] += w[wi] * dy[yi]
								dw[wi] += x[xi] * dy[yi]
							}
						}
					}
				}
			}
		}
	}
	return y, dx, dw, db
}

func fastPair(v []int) [2]int {
	if len(v) == 1 {
		return [2]int{v[0], v[0]}
	}
	return [2]int{v[0], v[1]}
}

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

// fastCases reach every block layout: rows of one image (wide images, long columns),
// several images side by side (small images), single whole images, and the input
// gradient of stride 1 as a flipped convolution (with dilation, groups and a padding
// beyond the kernel's reach), next to the strided col2im path.
var fastCases = []fastCase{
	{"conv 3x3 rows of one image", false, layers.ConvConfig{Out: 24, Kernel: []int{3}, Pad: []int{1}}, tensor.Shape{2, 32, 75, 70}},
	{"conv 3x3 small images side by side", false, layers.ConvConfig{Out: 40, Kernel: []int{3}, Pad: []int{1}}, tensor.Shape{5, 48, 8, 7}},
	{"conv 3x3 dilation2 pad3 groups2", false, layers.ConvConfig{Out: 12, Kernel: []int{3}, Pad: []int{3}, Dilation: []int{2}, Groups: 2}, tensor.Shape{3, 64, 21, 19}},
	{"conv 2x3 pad[0,2] no bias", false, layers.ConvConfig{Out: 9, Kernel: []int{2, 3}, Pad: []int{0, 2}, Bias: convBool(false)}, tensor.Shape{2, 40, 33, 30}},
	{"conv 3x3 stride2 (col2im)", false, layers.ConvConfig{Out: 16, Kernel: []int{3}, Stride: []int{2}, Pad: []int{1}}, tensor.Shape{3, 40, 45, 41}},
	{"conv 1x1 rows", false, layers.ConvConfig{Out: 21, Kernel: []int{1}}, tensor.Shape{2, 128, 70, 64}},
	{"conv 1x1 side by side", false, layers.ConvConfig{Out: 21, Kernel: []int{1}}, tensor.Shape{8, 256, 8, 8}},
	{"conv 3x3 3 channels (first layer)", false, layers.ConvConfig{Out: 8, Kernel: []int{3}, Pad: []int{1}}, tensor.Shape{2, 3, 64, 50}},
	{"deconv k4 s2 p1 rows", true, layers.ConvConfig{Out: 16, Kernel: []int{4}, Stride: []int{2}, Pad: []int{1}, Init: "he"}, tensor.Shape{1, 32, 70, 66}},
	{"deconv k4 s2 p1 side by side", true, layers.ConvConfig{Out: 21, Kernel: []int{4}, Stride: []int{2}, Pad: []int{1}, Init: "he", Bias: convBool(false)}, tensor.Shape{8, 21, 8, 8}},
	{"deconv k16 s8 p4 groups3", true, layers.ConvConfig{Out: 6, Kernel: []int{16}, Stride: []int{8}, Pad: []int{4}, Groups: 3, Init: "he"}, tensor.Shape{2, 6, 7, 5}},
	{"deconv k3 s1 p1 rows", true, layers.ConvConfig{Out: 48, Kernel: []int{3}, Pad: []int{1}, Init: "he"}, tensor.Shape{1, 40, 60, 50}},
	{"deconv 1x1", true, layers.ConvConfig{Out: 5, Kernel: []int{1}, Init: "he"}, tensor.Shape{3, 7, 9, 11}},
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

// Both dtypes against the definitions: float32 runs the assembly GEMM and float64 the
// portable one, both through the same block layouts.
func TestFastPathsMatchDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	for _, tc := range fastCases {
		t.Run(tc.name, func(t *testing.T) {
			probe := tc.layer(t)
			out, err := probe.Setup([]tensor.Shape{tc.in}, tensor.Float32)
			if err != nil {
				t.Fatal(err)
			}
			ws := probe.Params()[0].Value.Shape()
			hasBias := len(probe.Params()) > 1
			x, w, dy := fastRand(rng, tc.in.TotalSize()), fastRand(rng, ws.TotalSize()), fastRand(rng, out.TotalSize())
			var b []float64
			if hasBias {
				b = fastRand(rng, tc.cfg.Out)
			}
			groups := max(tc.cfg.Groups, 1)
			ng := naiveGeom{n: tc.in[0], cin: tc.in[1], h: tc.in[2], w: tc.in[3], cout: tc.cfg.Out, oh: out[2], ow: out[3],
				k: fastPair(tc.cfg.Kernel), s: [2]int{1, 1}, p: [2]int{}, d: [2]int{1, 1}, groups: groups}
			if tc.cfg.Stride != nil {
				ng.s = fastPair(tc.cfg.Stride)
			}
			if tc.cfg.Pad != nil {
				ng.p = fastPair(tc.cfg.Pad)
			}
			if tc.cfg.Dilation != nil {
				ng.d = fastPair(tc.cfg.Dilation)
			}
			naive := naiveConv
			if tc.deconv {
				naive = naiveDeconv
			}
			wy, wdx, wdw, wdb := naive(ng, x, w, b, dy)
			for _, c := range []struct {
				dt  tensor.Dtype
				tol float64
			}{{tensor.Float64, 1e-12}, {tensor.Float32, 2e-6 * math.Sqrt(float64(ws.TotalSize()/ws[0]*tc.cfg.Out))}} {
				y, dx, grads := fastRun(t, tc.layer(t), c.dt, tc.in, x, w, b, dy)
				fastCompare(t, fmt.Sprintf("%v y", c.dt), y, wy, c.tol)
				fastCompare(t, fmt.Sprintf("%v dx", c.dt), dx, wdx, c.tol)
				fastCompare(t, fmt.Sprintf("%v dw", c.dt), grads[0], wdw, c.tol)
				if hasBias {
					fastCompare(t, fmt.Sprintf("%v db", c.dt), grads[1], wdb, c.tol)
				}
			}
		})
	}
}

// Every fast path gives the same bits with 1 and with 2 threads, also through a
// conv → deconv chain.
func TestFastPathsThreadInvariant(t *testing.T) {
	rng := rand.New(rand.NewPCG(43, 44))
	cases := append([]fastCase{}, fastCases...)
	cases = append(cases, fastCase{"frozen bilinear k16 s8 p4", true,
		layers.ConvConfig{Out: 21, Kernel: []int{16}, Stride: []int{8}, Pad: []int{4}, Learn: convBool(false)}, tensor.Shape{4, 21, 9, 7}})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			run := func(procs int) [][]float64 {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
				r := rand.New(rand.NewPCG(7, 8))
				l := tc.layer(t)
				out, err := l.Setup([]tensor.Shape{tc.in}, tensor.Float32)
				if err != nil {
					t.Fatal(err)
				}
				l.(layers.Initializer).Init(r)
				x, dy := fastRand(r, tc.in.TotalSize()), fastRand(r, out.TotalSize())
				y, dx, grads := fastRun(t, l, tensor.Float32, tc.in, x, nil, nil, dy)
				return append([][]float64{y, dx}, grads...)
			}
			a, b := run(1), run(2)
			for i := range a {
				for j := range a[i] {
					if math.Float64bits(a[i][j]) != math.Float64bits(b[i][j]) {
						t.Fatalf("result %d element %d: %v with 1 thread, %v with 2", i, j, a[i][j], b[i][j])
					}
				}
			}
		})
	}
	_ = rng
}

// A steady-state forward and backward allocates nothing, also with helpers running
// im2col, col2im and the separable planes in parallel (testing.AllocsPerRun would run
// on one thread only, so the heap is counted directly).
func TestFastPathsNoAllocsParallel(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	for _, tc := range []fastCase{
		fastCases[0], fastCases[1], fastCases[4], fastCases[8], fastCases[9],
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

// The separable path gives the general path's result (max abs difference < 1e-5 in
// float32), is chosen by itself for frozen bilinear weights (modes frozen and bilinear)
// and is left as soon as a weight differs from the bilinear pattern.
func TestFrozenBilinearMatchesGeneralPath(t *testing.T) {
	rng := rand.New(rand.NewPCG(45, 46))
	for _, tc := range bilinearCases {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			bias := fastRand(rng, in[1])
			general := newBilinear(t, tc.cfg, in, "learned", tensor.Float32, bias)
			if general.FastBilinear() {
				t.Fatal("a learned deconv takes the frozen path")
			}
			outShape, _ := general.Setup([]tensor.Shape{in}, tensor.Float32)
			x, dy := fastRand(rng, in.TotalSize()), fastRand(rng, outShape.TotalSize())
			gy, gdx, ggrads := fastRun(t, general, tensor.Float32, in, x, nil, nil, dy)

			frozen := newBilinear(t, tc.cfg, in, "frozen", tensor.Float32, bias)
			if !frozen.FastBilinear() {
				t.Fatal("a frozen bilinear deconv does not take the separable path")
			}
			fy, fdx, fgrads := fastRun(t, frozen, tensor.Float32, in, x, nil, nil, dy)
			fastCompare(t, "frozen y", fy, gy, 1e-5)
			fastCompare(t, "frozen dx", fdx, gdx, 1e-5)
			for i, g := range fgrads {
				for _, v := range g {
					if v != 0 {
						t.Fatalf("frozen parameter %d got a gradient", i)
					}
				}
			}
			_ = ggrads

			// Mode bilinear: no parameters, no bias.
			nb := tc.cfg
			nb.Bias = convBool(false)
			plain := newBilinear(t, nb, in, "learned", tensor.Float32, nil)
			py, pdx, _ := fastRun(t, plain, tensor.Float32, in, x, nil, nil, dy)
			fixed := newBilinear(t, tc.cfg, in, "bilinear", tensor.Float32, nil)
			if !fixed.FastBilinear() {
				t.Fatal("mode bilinear does not take the separable path")
			}
			by, bdx, _ := fastRun(t, fixed, tensor.Float32, in, x, nil, nil, dy)
			fastCompare(t, "bilinear y", by, py, 1e-5)
			fastCompare(t, "bilinear dx", bdx, pdx, 1e-5)

			// A frozen weight that is no longer bilinear after Init (a checkpoint loaded
			// before the first Forward) takes the general path, and gives its result
			// exactly.
			frozen = newBilinear(t, tc.cfg, in, "frozen", tensor.Float32, bias)
			w := frozen.Weight().Value.Data().([]float32)
			w[len(w)/2] += 0.25
			if frozen.FastBilinear() {
				t.Fatal("an altered frozen weight still takes the separable path")
			}
			copy(general.Weight().Value.Data().([]float32), w)
			gy2, gdx2, _ := fastRun(t, general, tensor.Float32, in, x, nil, nil, dy)
			fy2, fdx2, _ := fastRun(t, frozen, tensor.Float32, in, x, nil, nil, dy)
			fastCompare(t, "altered y", fy2, gy2, 0)
			fastCompare(t, "altered dx", fdx2, gdx2, 0)
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
