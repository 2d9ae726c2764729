package layers_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/fcn-dev/fcn/autodiff"
	"github.com/fcn-dev/fcn/layers"
	"gorgonia.org/tensor"
)

func deconvCfg(c layers.ConvConfig) layers.DeconvConfig { return layers.DeconvConfig{ConvConfig: c} }

func TestDeconvGradCheck(t *testing.T) {
	type cfg = layers.ConvConfig
	for _, tc := range []struct {
		name string
		cfg  layers.DeconvConfig
		in   tensor.Shape
	}{
		{"k4 s2 p1 (FCN 2x) odd 5x3 batch2", deconvCfg(cfg{Out: 3, Kernel: []int{4}, Stride: []int{2}, Pad: []int{1}}), tensor.Shape{2, 3, 5, 3}},
		{"k3 s2 output_padding1 channels 2->3", layers.DeconvConfig{ConvConfig: cfg{Out: 3, Kernel: []int{3}, Stride: []int{2}, Init: "he"}, OutputPadding: []int{1}}, tensor.Shape{2, 2, 5, 4}},
		{"k3 s3 p1 output_padding2", layers.DeconvConfig{ConvConfig: cfg{Out: 2, Kernel: []int{3}, Stride: []int{3}, Pad: []int{1}, Init: "he"}, OutputPadding: []int{2}}, tensor.Shape{3, 2, 4, 3}},
		{"output_padding < dilation (s1 d2 op1)", layers.DeconvConfig{ConvConfig: cfg{Out: 2, Kernel: []int{3}, Dilation: []int{2}, Pad: []int{1}, Init: "he"}, OutputPadding: []int{1}}, tensor.Shape{2, 3, 5, 4}},
		{"output_padding larger than pad (p0 op1)", layers.DeconvConfig{ConvConfig: cfg{Out: 2, Kernel: []int{2}, Stride: []int{2}}, OutputPadding: []int{1, 0}}, tensor.Shape{2, 2, 3, 3}},
		{"same k3 s2 (odd total crop 1)", layers.DeconvConfig{ConvConfig: cfg{Out: 2, Kernel: []int{3}, Stride: []int{2}}, Same: true}, tensor.Shape{2, 2, 5, 4}},
		{"same k4 s2 (even total crop 2)", layers.DeconvConfig{ConvConfig: cfg{Out: 2, Kernel: []int{4}, Stride: []int{2}}, Same: true}, tensor.Shape{2, 2, 3, 5}},
		{"same k6 s3 (odd total crop 3)", layers.DeconvConfig{ConvConfig: cfg{Out: 2, Kernel: []int{6}, Stride: []int{3}}, Same: true}, tensor.Shape{2, 2, 3, 3}},
		{"same k1 s2 (negative crop)", layers.DeconvConfig{ConvConfig: cfg{Out: 2, Kernel: []int{1}, Stride: []int{2}}, Same: true}, tensor.Shape{2, 2, 3, 4}},
		{"same nonsquare k[3,4] s[2,3] dil[2,1]", layers.DeconvConfig{ConvConfig: cfg{Out: 2, Kernel: []int{3, 4}, Stride: []int{2, 3}, Dilation: []int{2, 1}}, Same: true}, tensor.Shape{2, 2, 3, 4}},
		{"groups2 channels 4->6", deconvCfg(cfg{Out: 6, Kernel: []int{3}, Stride: []int{2}, Pad: []int{1}, Groups: 2, Init: "he"}), tensor.Shape{2, 4, 4, 3}},
		{"depthwise (groups = channels)", deconvCfg(cfg{Out: 3, Kernel: []int{4}, Stride: []int{2}, Pad: []int{1}, Groups: 3}), tensor.Shape{2, 3, 4, 5}},
		{"dilation2 pad1", deconvCfg(cfg{Out: 2, Kernel: []int{3}, Stride: []int{2}, Dilation: []int{2}, Pad: []int{1}, Init: "he"}), tensor.Shape{2, 3, 4, 3}},
		{"non-square k[2,3] s[2,1] p[0,1]", deconvCfg(cfg{Out: 3, Kernel: []int{2, 3}, Stride: []int{2, 1}, Pad: []int{0, 1}, Init: "he"}), tensor.Shape{2, 2, 3, 5}},
		{"1x1 pointwise batch3", deconvCfg(cfg{Out: 4, Kernel: []int{1}, Init: "he"}), tensor.Shape{3, 3, 5, 3}},
		{"1x1 stride2", deconvCfg(cfg{Out: 2, Kernel: []int{1}, Stride: []int{2}, Init: "he"}), tensor.Shape{2, 3, 3, 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, bias := range []bool{true, false} {
				c := tc.cfg
				c.Bias = convBool(bias)
				l, err := layers.NewDeconv("d", c)
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

// The deconv is the conv's adjoint: with the same weight tensor (conv C_in→C_out is
// deconv C_out→C_in, weight (C_out, C_in/G, kh, kw) for both),
//
//	⟨conv(x), u⟩ = ⟨x, deconv(u)⟩,
//
// and more: deconv(u) is the conv's input gradient for dOut = u, deconv's input gradient
// for dOut = r is conv(r), and deconv's weight gradient for (input u, dOut r) is the
// conv's weight gradient for (input r, dOut u). The conv side is checked against
// gorgonia and finite differences in conv_test.go.
func TestDeconvAdjointOfConv(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	for _, tc := range []struct {
		name                 string
		n, cin, h, w, cout   int
		k, s, p, d           []int
		groups               int
		wantOutputPaddingGT0 bool
	}{
		{"k3 s1 p1", 2, 3, 7, 5, 4, []int{3}, []int{1}, []int{1}, []int{1}, 1, false},
		{"k4 s2 p1", 2, 4, 8, 6, 4, []int{4}, []int{2}, []int{1}, []int{1}, 1, false},
		{"k3 s2 p1 odd size (output_padding 1)", 2, 3, 7, 6, 2, []int{3}, []int{2}, []int{1}, []int{1}, 1, true},
		{"k3 s3 p0 (output_padding 1 and 2)", 1, 2, 10, 8, 3, []int{3}, []int{3}, []int{0}, []int{1}, 1, true},
		{"groups2", 2, 4, 7, 6, 6, []int{3}, []int{2}, []int{1}, []int{1}, 2, true},
		{"depthwise", 2, 3, 6, 6, 3, []int{4}, []int{2}, []int{1}, []int{1}, 3, false},
		{"dilation2", 2, 2, 9, 8, 3, []int{3}, []int{2}, []int{2}, []int{2}, 1, true},
		{"non-square k[3,2] s[2,1] p[1,0] d[1,2]", 2, 2, 8, 7, 2, []int{3, 2}, []int{2, 1}, []int{1, 0}, []int{1, 2}, 1, true},
		{"1x1", 2, 3, 4, 5, 2, []int{1}, []int{1}, []int{0}, []int{1}, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conv, err := layers.NewConv("c", layers.ConvConfig{Out: tc.cout, Kernel: tc.k, Stride: tc.s, Pad: tc.p, Dilation: tc.d, Groups: tc.groups, Bias: convBool(false)})
			if err != nil {
				t.Fatal(err)
			}
			x := convRand(rng, tc.n, tc.cin, tc.h, tc.w)
			cout, err := conv.Setup([]tensor.Shape{x.Shape()}, tensor.Float64)
			if err != nil {
				t.Fatal(err)
			}
			// output_padding makes the deconv's output exactly x's size.
			var op [2]int
			for a, in := range []int{tc.h, tc.w} {
				k, s, p, d := tc.k[min(a, len(tc.k)-1)], tc.s[min(a, len(tc.s)-1)], tc.p[min(a, len(tc.p)-1)], tc.d[min(a, len(tc.d)-1)]
				op[a] = (in + 2*p - d*(k-1) - 1) % s
			}
			if (op != [2]int{}) != tc.wantOutputPaddingGT0 {
				t.Fatalf("output_padding %v: the case does not test what it says", op)
			}
			deconv, err := layers.NewDeconv("d", layers.DeconvConfig{
				ConvConfig:    layers.ConvConfig{Out: tc.cin, Kernel: tc.k, Stride: tc.s, Pad: tc.p, Dilation: tc.d, Groups: tc.groups, Bias: convBool(false), Init: "he"},
				OutputPadding: op[:],
			})
			if err != nil {
				t.Fatal(err)
			}
			wshape := conv.Params()[0].Value.Shape()
			w := convRand(rng, wshape...)
			u := convRand(rng, cout...) // in the conv's output space
			r := convRand(rng, x.Shape()...)

			y, convDX, _ := convRun(t, conv, x, w, nil, u) // y = conv(x); convDX = convᵀ(u)
			dec, decDX, decGrads := convRun(t, deconv, u, w, nil, r)
			if !dec.Shape().Eq(x.Shape()) {
				t.Fatalf("deconv output %v, want x's shape %v", dec.Shape(), x.Shape())
			}
			var lhs, rhs float64
			for i, v := range convF64(y) {
				lhs += v * convF64(u)[i]
			}
			for i, v := range convF64(x) {
				rhs += v * convF64(dec)[i]
			}
			if math.Abs(lhs-rhs) > 1e-10*math.Max(1, math.Abs(lhs)) {
				t.Errorf("<conv(x), u> = %.15g but <x, deconv(u)> = %.15g", lhs, rhs)
			}
			if d := convMaxAbsDiff(t, convF64(dec), convF64(convDX)); d > 1e-12 {
				t.Errorf("deconv(u) differs from the conv's input gradient by %.3g", d)
			}
			// Deconv backward-data is the ordinary convolution.
			convR, _, _ := convRun(t, conv, r, w, nil, nil)
			if d := convMaxAbsDiff(t, convF64(decDX), convF64(convR)); d > 1e-12 {
				t.Errorf("deconv input gradient differs from conv(r) by %.3g", d)
			}
			// Deconv weight gradient is the conv's with the roles swapped.
			_, _, convGrads := convRun(t, conv, r, w, nil, u)
			if d := convMaxAbsDiff(t, convF64(decGrads[0]), convF64(convGrads[0])); d > 1e-12 {
				t.Errorf("deconv weight gradient differs from the swapped conv's by %.3g", d)
			}
		})
	}
}

// Same mode is an ordinary unpadded deconv cropped by ⌊P/2⌋ at the top/left, to
// input·stride rows/columns (zeros past the full output when P < 0).
func TestDeconvSameIsCroppedFullDeconv(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	for _, tc := range []struct {
		k, s, d [2]int
		in      [2]int
		top     [2]int // ⌊P/2⌋, P = k_eff − s
	}{
		{[2]int{4, 4}, [2]int{2, 2}, [2]int{1, 1}, [2]int{3, 4}, [2]int{1, 1}},
		{[2]int{3, 3}, [2]int{2, 2}, [2]int{1, 1}, [2]int{3, 3}, [2]int{0, 0}},
		{[2]int{5, 7}, [2]int{2, 3}, [2]int{1, 1}, [2]int{4, 3}, [2]int{1, 2}},
		{[2]int{3, 2}, [2]int{2, 1}, [2]int{2, 1}, [2]int{3, 5}, [2]int{1, 0}}, // k_eff 5: P = 3
		{[2]int{1, 16}, [2]int{2, 8}, [2]int{1, 1}, [2]int{3, 2}, [2]int{0, 4}},
	} {
		mk := func(same bool) *layers.Deconv {
			l, err := layers.NewDeconv("d", layers.DeconvConfig{
				ConvConfig: layers.ConvConfig{Out: 2, Kernel: tc.k[:], Stride: tc.s[:], Dilation: tc.d[:], Bias: convBool(false), Init: "he"},
				Same:       same,
			})
			if err != nil {
				t.Fatal(err)
			}
			return l
		}
		x := convRand(rng, 2, 3, tc.in[0], tc.in[1])
		w := convRand(rng, 3, 2, tc.k[0], tc.k[1])
		same, _, _ := convRun(t, mk(true), x, w, nil, nil)
		full, _, _ := convRun(t, mk(false), x, w, nil, nil)
		ss, fs := same.Shape(), full.Shape()
		if ss[2] != tc.in[0]*tc.s[0] || ss[3] != tc.in[1]*tc.s[1] {
			t.Fatalf("%+v: same output %v, want input·stride", tc, ss)
		}
		for n := range ss[0] {
			for c := range ss[1] {
				for i := range ss[2] {
					for j := range ss[3] {
						fi, fj := i+tc.top[0], j+tc.top[1]
						want := 0.0
						if fi < fs[2] && fj < fs[3] {
							want = convF64(full)[((n*fs[1]+c)*fs[2]+fi)*fs[3]+fj]
						}
						if got := convF64(same)[((n*ss[1]+c)*ss[2]+i)*ss[3]+j]; got != want {
							t.Fatalf("%+v: same[%d,%d,%d,%d] = %v, want full[.., %d, %d] = %v", tc, n, c, i, j, got, fi, fj, want)
						}
					}
				}
			}
		}
	}
}

// Worked examples by hand.
//
// 1. x = [[1, 2], [3, 4]], W = [[1, 10], [100, 1000]], k 2, s 2, p 0: the windows do not
// overlap, so each input pixel stamps x·W into its own 2×2 block:
//
//	  1   10    2   20
//	100 1000  200 2000
//	  3   30    4   40
//	300 3000  400 4000
//
// 2. One column: x = [1, 2] (2×1), W = [1, 2, 3] (3×1), s 2. The full output has
// (2−1)·2 + 3 = 5 rows: x0·W at rows 0..2 and x1·W at rows 2..4, so
// full = [1, 2, 3+2, 4, 6] = [1, 2, 5, 4, 6]. Then:
//   - p 0, output_padding 1: 6 rows, the extra one gets nothing: [1, 2, 5, 4, 6, 0];
//   - p 1, output_padding 1: crop 1 at the top, 1−1 = 0 at the bottom: [2, 5, 4, 6];
//   - same: out = 2·2 = 4, P = (2−1)·2 + 3 − 4 = 1, ⌊1/2⌋ = 0 at the top: [1, 2, 5, 4];
//   - with bias 0.5 every value grows by 0.5.
func TestDeconvByHand(t *testing.T) {
	x := tensor.New(tensor.WithShape(1, 1, 2, 2), tensor.WithBacking([]float64{1, 2, 3, 4}))
	w := tensor.New(tensor.WithShape(1, 1, 2, 2), tensor.WithBacking([]float64{1, 10, 100, 1000}))
	l, err := layers.NewDeconv("hand", deconvCfg(layers.ConvConfig{Out: 1, Kernel: []int{2}, Stride: []int{2}, Bias: convBool(false)}))
	if err != nil {
		t.Fatal(err)
	}
	y, _, _ := convRun(t, l, x, w, nil, nil)
	want := []float64{1, 10, 2, 20, 100, 1000, 200, 2000, 3, 30, 4, 40, 300, 3000, 400, 4000}
	if !slices.Equal(convF64(y), want) {
		t.Errorf("k2 s2: y = %v, want %v", convF64(y), want)
	}

	x1 := tensor.New(tensor.WithShape(1, 1, 2, 1), tensor.WithBacking([]float64{1, 2}))
	w1 := tensor.New(tensor.WithShape(1, 1, 3, 1), tensor.WithBacking([]float64{1, 2, 3}))
	b := tensor.New(tensor.WithShape(1), tensor.WithBacking([]float64{0.5}))
	for _, tc := range []struct {
		name string
		cfg  layers.DeconvConfig
		bias *tensor.Dense
		want []float64
	}{
		{"p0", deconvCfg(layers.ConvConfig{Out: 1, Kernel: []int{3, 1}, Stride: []int{2, 1}, Bias: convBool(false)}), nil, []float64{1, 2, 5, 4, 6}},
		{"p0 op1", layers.DeconvConfig{ConvConfig: layers.ConvConfig{Out: 1, Kernel: []int{3, 1}, Stride: []int{2, 1}, Bias: convBool(false)}, OutputPadding: []int{1, 0}}, nil, []float64{1, 2, 5, 4, 6, 0}},
		{"p1 op1", layers.DeconvConfig{ConvConfig: layers.ConvConfig{Out: 1, Kernel: []int{3, 1}, Stride: []int{2, 1}, Pad: []int{1, 0}, Bias: convBool(false)}, OutputPadding: []int{1, 0}}, nil, []float64{2, 5, 4, 6}},
		{"same", layers.DeconvConfig{ConvConfig: layers.ConvConfig{Out: 1, Kernel: []int{3, 1}, Stride: []int{2, 1}, Bias: convBool(false)}, Same: true}, nil, []float64{1, 2, 5, 4}},
		{"same bias", layers.DeconvConfig{ConvConfig: layers.ConvConfig{Out: 1, Kernel: []int{3, 1}, Stride: []int{2, 1}}, Same: true}, b, []float64{1.5, 2.5, 5.5, 4.5}},
	} {
		l, err := layers.NewDeconv("hand", tc.cfg)
		if err != nil {
			t.Fatal(err)
		}
		y, _, _ := convRun(t, l, x1, w1, tc.bias, nil)
		if !slices.Equal(convF64(y), tc.want) {
			t.Errorf("%s: y = %v, want %v", tc.name, convF64(y), tc.want)
		}
	}
}

func TestDeconvErrors(t *testing.T) {
	type cfg = layers.ConvConfig
	for _, tc := range []struct {
		name string
		cfg  layers.DeconvConfig
		want string
	}{
		{"kernel 0", deconvCfg(cfg{Out: 2, Kernel: []int{0}}), "kernel"},
		{"stride 0", deconvCfg(cfg{Out: 2, Kernel: []int{4}, Stride: []int{0}}), "stride"},
		{"negative pad", deconvCfg(cfg{Out: 2, Kernel: []int{4}, Pad: []int{-1}}), "pad"},
		{"out 0", deconvCfg(cfg{Out: 0, Kernel: []int{4}}), "out"},
		{"groups not dividing out", deconvCfg(cfg{Out: 3, Kernel: []int{4}, Groups: 2}), "groups 2 does not divide out 3"},
		{"output_padding = stride, dilation 1", layers.DeconvConfig{ConvConfig: cfg{Out: 2, Kernel: []int{4}, Stride: []int{2}}, OutputPadding: []int{2}}, "output_padding"},
		{"output_padding > stride and dilation", layers.DeconvConfig{ConvConfig: cfg{Out: 2, Kernel: []int{4}, Stride: []int{2}, Dilation: []int{2}}, OutputPadding: []int{0, 3}}, "output_padding"},
		{"output_padding 1 with stride 1, dilation 1", layers.DeconvConfig{ConvConfig: cfg{Out: 2, Kernel: []int{3}}, OutputPadding: []int{1}}, "smaller than stride"},
		{"negative output_padding", layers.DeconvConfig{ConvConfig: cfg{Out: 2, Kernel: []int{4}, Stride: []int{2}}, OutputPadding: []int{-1}}, "output_padding"},
		{"same with pad", layers.DeconvConfig{ConvConfig: cfg{Out: 2, Kernel: []int{4}, Stride: []int{2}, Pad: []int{1}}, Same: true}, "same"},
		{"same with output_padding", layers.DeconvConfig{ConvConfig: cfg{Out: 2, Kernel: []int{4}, Stride: []int{2}}, OutputPadding: []int{1}, Same: true}, "same"},
		{"unknown mode", layers.DeconvConfig{ConvConfig: cfg{Out: 2, Kernel: []int{4}}, Mode: "nearest"}, "unknown mode"},
		{"resize_conv is not a deconv", layers.DeconvConfig{ConvConfig: cfg{Out: 2, Kernel: []int{4}}, Mode: "resize_conv"}, "resize_conv"},
		{"unknown init", deconvCfg(cfg{Out: 2, Kernel: []int{4}, Init: "msra"}), "unknown init"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := layers.NewDeconv("up9", tc.cfg)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), "deconv up9") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q should name the layer and say %q", err, tc.want)
			}
		})
	}
	// Allowed: output_padding ≥ stride but < dilation (PyTorch accepts it too).
	if _, err := layers.NewDeconv("ok", layers.DeconvConfig{ConvConfig: cfg{Out: 2, Kernel: []int{3}, Dilation: []int{2}}, OutputPadding: []int{1}}); err != nil {
		t.Errorf("output_padding 1, stride 1, dilation 2: %v", err)
	}

	for _, tc := range []struct {
		name string
		cfg  layers.DeconvConfig
		in   tensor.Shape
		want string
	}{
		{"groups not dividing input channels", deconvCfg(cfg{Out: 4, Kernel: []int{4}, Stride: []int{2}, Groups: 2, Init: "he"}), tensor.Shape{1, 3, 4, 4}, "groups 2 does not divide the 3 input channels"},
		{"bilinear needs C_in = C_out", deconvCfg(cfg{Out: 4, Kernel: []int{4}, Stride: []int{2}}), tensor.Shape{1, 3, 4, 4}, "bilinear"},
		{"frozen mode needs C_in = C_out", layers.DeconvConfig{ConvConfig: cfg{Out: 4, Kernel: []int{4}, Init: "he"}, Mode: "frozen"}, tensor.Shape{1, 3, 4, 4}, "bilinear"},
		{"output too small", deconvCfg(cfg{Out: 2, Kernel: []int{1}, Pad: []int{1}, Init: "he"}), tensor.Shape{1, 2, 1, 5}, "too small"},
		{"not 4-D", deconvCfg(cfg{Out: 2, Kernel: []int{4}}), tensor.Shape{2, 4, 4}, "N×C×H×W"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := layers.NewDeconv("up7", tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, err = l.Setup([]tensor.Shape{tc.in}, tensor.Float32)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), "deconv up7") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q should name the layer and say %q", err, tc.want)
			}
		})
	}
}

// Modes: learned/frozen start bilinear, random does not, bilinear has no parameters;
// learn: false freezes every parameter.
func TestDeconvModes(t *testing.T) {
	base := layers.ConvConfig{Out: 3, Kernel: []int{4}, Stride: []int{2}, Pad: []int{1}}
	for _, tc := range []struct {
		mode      string
		learn     *bool
		nParams   int
		frozen    bool
		bilinear  bool
		frozenBil bool
	}{
		{"", nil, 2, false, true, false},
		{"", convBool(false), 2, true, true, true},
		{"learned", convBool(false), 2, false, true, false}, // mode overrides learn
		{"frozen", nil, 2, true, true, true},
		{"random", nil, 2, false, false, false},
		{"bilinear", nil, 0, true, true, true},
	} {
		c := layers.DeconvConfig{ConvConfig: base, Mode: tc.mode}
		c.Learn = tc.learn
		l, err := layers.NewDeconv("up", c)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Setup([]tensor.Shape{{1, 3, 5, 5}}, tensor.Float32); err != nil {
			t.Fatal(err)
		}
		if tc.mode != "bilinear" {
			l.Init(rand.New(rand.NewPCG(1, 2)))
		}
		if got := len(l.Params()); got != tc.nParams {
			t.Errorf("mode %q: %d params, want %d", tc.mode, got, tc.nParams)
		}
		for _, p := range l.Params() {
			if p.Frozen() != tc.frozen {
				t.Errorf("mode %q learn %v: %s frozen = %v", tc.mode, tc.learn, p.Name, p.Frozen())
			}
		}
		wt := l.Weight().Value.Data().([]float32)
		// Bilinear k4 on the diagonal: weight[0,0,1,1] = 0.5625, weight[0,1,1,1] = 0.
		isBil := wt[5] == 0.5625 && wt[16+5] == 0
		if isBil != tc.bilinear {
			t.Errorf("mode %q: weight bilinear = %v, want %v", tc.mode, isBil, tc.bilinear)
		}
		if got := l.IsFrozenBilinear(); got != tc.frozenBil {
			t.Errorf("mode %q learn %v: IsFrozenBilinear = %v, want %v", tc.mode, tc.learn, got, tc.frozenBil)
		}
	}
}

// A frozen deconv adds no weight gradient but passes the input gradient on correctly.
func TestDeconvFrozenGradients(t *testing.T) {
	l, err := layers.NewDeconv("up", layers.DeconvConfig{ConvConfig: layers.ConvConfig{Out: 3, Kernel: []int{4}, Stride: []int{2}, Pad: []int{1}, Bias: convBool(false)}, Mode: "frozen"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := autodiff.CheckLayer(l, []tensor.Shape{{2, 3, 5, 4}}, autodiff.CheckOptions{Seed: 3, KeepParams: true})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Tensor != "input0" || !(res[0].MaxRelErr < 1e-6) {
		t.Errorf("input gradient: %+v", res[0])
	}
	if slices.ContainsFunc(convF64(l.Weight().Grad), func(v float64) bool { return v != 0 }) {
		t.Error("frozen weight got a gradient")
	}
	if !l.IsFrozenBilinear() {
		t.Error("KeepParams left the bilinear weights, yet IsFrozenBilinear is false")
	}
}

func TestDeconvCoordMapAndMACs(t *testing.T) {
	for _, tc := range []struct {
		cfg           layers.DeconvConfig
		in            tensor.Shape
		scale, offset [2]float64
		macs          int64
	}{
		// k4 s2 p1: offset 3/2 − 1 = 0.5; MACs = 2·3·(5·4)·3·16 = 5760.
		{deconvCfg(layers.ConvConfig{Out: 3, Kernel: []int{4}, Stride: []int{2}, Pad: []int{1}}), tensor.Shape{2, 3, 5, 4}, [2]float64{2, 2}, [2]float64{0.5, 0.5}, 5760},
		// k16 s8 p4 (FCN-8s upscore8): 7.5 − 4 = 3.5.
		{deconvCfg(layers.ConvConfig{Out: 2, Kernel: []int{16}, Stride: []int{8}, Pad: []int{4}}), tensor.Shape{1, 2, 3, 3}, [2]float64{8, 8}, [2]float64{3.5, 3.5}, 1 * 2 * 9 * 2 * 256},
		// same k[3,6] s[2,3] dilation[2,1], groups 2: k_eff [5,6], crops ⌊3/2⌋ = 1 and
		// ⌊3/2⌋ = 1: offsets 2 − 1 = 1 and 2.5 − 1 = 1.5; MACs = 1·4·6·(2/2)·18 = 432.
		{layers.DeconvConfig{ConvConfig: layers.ConvConfig{Out: 2, Kernel: []int{3, 6}, Stride: []int{2, 3}, Dilation: []int{2, 1}, Groups: 2, Init: "he"}, Same: true}, tensor.Shape{1, 4, 2, 3}, [2]float64{2, 3}, [2]float64{1, 1.5}, 432},
	} {
		l, err := layers.NewDeconv("up", tc.cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Setup([]tensor.Shape{tc.in}, tensor.Float32); err != nil {
			t.Fatal(err)
		}
		if s, o := l.CoordMap(); s != tc.scale || o != tc.offset {
			t.Errorf("%+v: CoordMap = %v, %v; want %v, %v", tc.cfg, s, o, tc.scale, tc.offset)
		}
		if got := l.MACs(); got != tc.macs {
			t.Errorf("%+v: MACs = %d, want %d", tc.cfg, got, tc.macs)
		}
	}
}

// BenchmarkDeconv runs W2 (FCN's 8× upsampling, k16 s8 p4, 8×21×16×16, also with frozen
// bilinear weights: no weight gradient) and W3 (k4 s2 p1, 8×64×32×32) of the benchmark
// workloads, without bias.
func BenchmarkDeconv(b *testing.B) {
	for _, tc := range []struct {
		id, pass string
		cfg      layers.DeconvConfig
		in       tensor.Shape
	}{
		{"W2", "fwd", deconvCfg(layers.ConvConfig{Out: 21, Kernel: []int{16}, Stride: []int{8}, Pad: []int{4}, Bias: convBool(false)}), tensor.Shape{8, 21, 16, 16}},
		{"W2", "fwdbwd", deconvCfg(layers.ConvConfig{Out: 21, Kernel: []int{16}, Stride: []int{8}, Pad: []int{4}, Bias: convBool(false)}), tensor.Shape{8, 21, 16, 16}},
		{"W2", "fwdbwd_frozen", layers.DeconvConfig{ConvConfig: layers.ConvConfig{Out: 21, Kernel: []int{16}, Stride: []int{8}, Pad: []int{4}, Bias: convBool(false)}, Mode: "frozen"}, tensor.Shape{8, 21, 16, 16}},
		{"W3", "fwd", deconvCfg(layers.ConvConfig{Out: 64, Kernel: []int{4}, Stride: []int{2}, Pad: []int{1}, Bias: convBool(false), Init: "he"}), tensor.Shape{8, 64, 32, 32}},
		{"W3", "fwdbwd", deconvCfg(layers.ConvConfig{Out: 64, Kernel: []int{4}, Stride: []int{2}, Pad: []int{1}, Bias: convBool(false), Init: "he"}), tensor.Shape{8, 64, 32, 32}},
	} {
		b.Run(tc.id+"/"+tc.pass, func(b *testing.B) {
			l, err := layers.NewDeconv(tc.id, tc.cfg)
			if err != nil {
				b.Fatal(err)
			}
			benchConv(b, l, tc.in, tc.pass != "fwd")
		})
	}
}
