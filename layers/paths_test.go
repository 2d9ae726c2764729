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
func runPath(t *testing.T, tc pathCase, fwd, bwd string, dt tensor.Dtype, x, w, b, dy []float64) (run pathRun, ran string, ok bool) {
	t.Helper()
	var runs [2]pathRun
	for i, procs := range []int{1, 2} {
		l := tc.layer(t)
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
// ComputePath naming it. Each path gives the same bits at GOMAXPROCS 1 and 2, and the
// image-parallel forwards give the blocked ones' bits (the same products element for
// element). Together the cases must run every path of both layers.
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
			for _, c := range []struct {
				dt  tensor.Dtype
				tol float64
			}{{tensor.Float64, 1e-12}, {tensor.Float32, 2e-6 * math.Sqrt(float64(len(w)/wt.Shape()[0]*g.OutC))}} {
				ys := map[string][]float64{}
				for _, f := range forces {
					run, ran, ok := runPath(t, tc, f.fwd, f.bwd, c.dt, x, w, b, dy)
					if !ok {
						continue
					}
					rf, rb := splitPath(ran)
					if f.fwd != "" && rf != f.fwd || f.bwd != "" && rb != f.bwd {
						t.Fatalf("forced fwd %q bwd %q, ComputePath says %q", f.fwd, f.bwd, ran)
					}
					covered[kind+" fwd "+rf], covered[kind+" bwd "+rb] = true, true
					what := fmt.Sprintf("%v %s", c.dt, ran)
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
				for img, blk := range map[string]string{"image-parallel": "im2col-blocked", "sub-pixel-image-parallel": "sub-pixel"} {
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
