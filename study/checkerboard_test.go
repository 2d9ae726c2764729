package study

import (
	"context"
	"math"
	"math/cmplx"
	"math/rand/v2"
	"testing"

	"github.com/fcn-dev/fcn/autodiff"
	"github.com/fcn-dev/fcn/layers"
	"gorgonia.org/tensor"
)

// cbDeconvGraph builds a graph x → deconv "up" (C channels, kernel k, stride s, pad p)
// in float64 on an in×in input; fill, if set, writes the weight after Setup.
func cbDeconvGraph(t *testing.T, mode string, c, k, s, p, in int, bias bool, fill func(w []float64)) *autodiff.Graph {
	t.Helper()
	cfg := layers.DeconvConfig{ConvConfig: layers.ConvConfig{
		Out: c, Kernel: []int{k, k}, Stride: []int{s, s}, Pad: []int{p, p}, Bias: &bias, Init: "zero",
	}, Mode: mode}
	d, err := layers.NewDeconv("up", cfg)
	if err != nil {
		t.Fatal(err)
	}
	g, err := autodiff.Build([]autodiff.InputSpec{{Name: "x", Shape: tensor.Shape{1, c, in, in}, Dtype: tensor.Float64}},
		[]autodiff.Node{{Name: "up", Layer: d}}, tensor.Float64)
	if err != nil {
		t.Fatal(err)
	}
	if fill != nil {
		fill(d.Weight().Value.Data().([]float64))
	}
	if bias && len(d.Params()) == 2 {
		for i := range d.Params()[1].Value.Data().([]float64) {
			d.Params()[1].Value.Data().([]float64)[i] = 3 // a bias must not change the score
		}
	}
	return g
}

// cbDiagonal fills the channel diagonal of a (C, C, k, k) weight with kern, 0 elsewhere.
func cbDiagonal(c int, kern []float64) func(w []float64) {
	return func(w []float64) {
		kk := len(kern)
		clear(w)
		for ch := range c {
			copy(w[(ch*c+ch)*kk:], kern)
		}
	}
}

func cbOnes(n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = 1
	}
	return v
}

// TestConstantResponseBilinear: a bilinear kernel with k = 2s sums to 1 in every phase
// (each output pixel gets weights 1 − d/s and d/s from its two neighbours on each axis),
// so a constant comes out constant in the interior: score 0. Through the deconv's
// mode "bilinear" (fixed kernel), with FCN's pad 0 and with pad s/2.
func TestConstantResponseBilinear(t *testing.T) {
	for _, s := range []int{2, 4, 8} {
		for _, p := range []int{0, s / 2} {
			g := cbDeconvGraph(t, "bilinear", 3, 2*s, s, p, 9, false, nil)
			score, err := ConstantResponseScore(context.Background(), g, "up", [2]int{s, s}, [2]int{2 * s, 2 * s})
			if err != nil {
				t.Fatal(err)
			}
			if score > 1e-6 {
				t.Errorf("bilinear k=%d s=%d pad=%d: score %g, want 0", 2*s, s, p, score)
			}
		}
	}
}

// TestConstantResponseOverlap follows Distill's overlap argument with uniform (all-ones)
// kernels on the channel diagonal: with stride s the output pixels of phase j get the
// taps i ≡ j (mod s), so k = 3, s = 2 gives phase sums (2, 1) per axis and the interior
// holds the products 4, 2, 2, 1 in equal shares: mean 2.25, variance 6.25 − 2.25² =
// 1.1875, score √1.1875/2.25 = 0.484322 (worked by hand). k = 5, s = 2: sums (3, 2), values
// 9, 6, 6, 4, mean 6.25, variance 42.25 − 39.0625 = 3.1875, score 0.285657. k = 4, s = 2:
// sums (2, 2), even overlap, score 0. The bilinear-style 3-tap kernel (0.5, 1, 0.5) has
// sums (1, 1): its weights compensate the uneven overlap, score 0.
func TestConstantResponseOverlap(t *testing.T) {
	bil3 := layers.BilinearKernel(3)
	cases := []struct {
		name string
		k    int
		kern []float64
		want float64
	}{
		{"uniform k=3", 3, cbOnes(9), math.Sqrt(1.1875) / 2.25},
		{"uniform k=5", 5, cbOnes(25), math.Sqrt(3.1875) / 6.25},
		{"uniform k=4", 4, cbOnes(16), 0},
		{"bilinear k=3", 3, bil3, 0},
	}
	for _, c := range cases {
		for _, bias := range []bool{false, true} {
			g := cbDeconvGraph(t, "", 2, c.k, 2, 0, 10, bias, cbDiagonal(2, c.kern))
			score, err := ConstantResponseScore(context.Background(), g, "up", [2]int{2, 2}, [2]int{c.k, c.k})
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(score-c.want) > 1e-9 {
				t.Errorf("%s (bias %v): score %.9f, want %.9f", c.name, bias, score, c.want)
			}
		}
	}
}

// TestConstantResponseRandomAndResizeConv: a random (He) deconv kernel with k = 4, s = 2
// has uneven phase sums almost surely (score > 0); a nearest resize followed by a
// stride-1 convolution turns a constant into a constant, whatever the kernel (score 0).
func TestConstantResponseRandomAndResizeConv(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	g := cbDeconvGraph(t, "", 3, 4, 2, 0, 10, false, func(w []float64) {
		for i := range w {
			w[i] = rng.NormFloat64()
		}
	})
	score, err := ConstantResponseScore(ctx, g, "up", [2]int{2, 2}, [2]int{4, 4})
	if err != nil {
		t.Fatal(err)
	}
	if !(score > 0.01) {
		t.Errorf("random k=4 s=2: score %g, want > 0", score)
	}

	rs, err := layers.NewResize("up_resize", layers.ResizeConfig{Factor: []int{2}, Mode: "nearest"})
	if err != nil {
		t.Fatal(err)
	}
	cv, err := layers.NewConv("up", layers.ConvConfig{Out: 3, Kernel: []int{3}, Pad: []int{1}, Init: "he"})
	if err != nil {
		t.Fatal(err)
	}
	g, err = autodiff.Build([]autodiff.InputSpec{{Name: "x", Shape: tensor.Shape{1, 3, 10, 10}, Dtype: tensor.Float64}},
		[]autodiff.Node{{Name: "up_resize", Layer: rs}, {Name: "up", Layer: cv}}, tensor.Float64)
	if err != nil {
		t.Fatal(err)
	}
	g.Init(rng)
	score, err = ConstantResponseScore(ctx, g, "up", [2]int{2, 2}, [2]int{4, 4})
	if err != nil {
		t.Fatal(err)
	}
	if score > 1e-9 {
		t.Errorf("resize+conv: score %g, want 0", score)
	}
}

func TestConstantResponseErrors(t *testing.T) {
	ctx := context.Background()
	g := cbDeconvGraph(t, "", 2, 4, 2, 0, 4, false, nil) // zero weights
	if _, err := ConstantResponseScore(ctx, g, "up", [2]int{2, 2}, [2]int{4, 4}); err == nil {
		t.Error("a zero response gave no error")
	}
	if _, err := ConstantResponseScore(ctx, g, "up", [2]int{2, 2}, [2]int{6, 6}); err == nil {
		t.Error("a border wider than the output gave no error")
	}
	if _, err := ConstantResponseScore(ctx, g, "nope", [2]int{1, 1}, [2]int{1, 1}); err == nil {
		t.Error("an unknown node gave no error")
	}
}

// cbNaiveEnergy is the direct 2-D DFT, Σ_y Σ_x m[y,x]·e^{−2πi(uy/h + vx/w)}, summed as
// |F|² over all non-DC bins (total) and over the lattice bins of stride s (on).
func cbNaiveEnergy(m []float64, h, w, s int) (on, total float64) {
	for u := range h {
		for v := range w {
			if u == 0 && v == 0 {
				continue
			}
			var f complex128
			for y := range h {
				for x := range w {
					f += complex(m[y*w+x], 0) * cmplx.Exp(complex(0, -2*math.Pi*(float64(u*y)/float64(h)+float64(v*x)/float64(w))))
				}
			}
			e := real(f)*real(f) + imag(f)*imag(f)
			total += e
			if u%(h/s) == 0 && v%(w/s) == 0 {
				on += e
			}
		}
	}
	return on, total
}

func TestSpectrum(t *testing.T) {
	pattern := func(h, w int, f func(y, x int) float64) []float64 {
		m := make([]float64, h*w)
		for y := range h {
			for x := range w {
				m[y*w+x] = f(y, x)
			}
		}
		return m
	}
	cases := []struct {
		name      string
		h, w, s   int
		m         []float64
		wantShare float64
	}{
		{"checkerboard period 2", 16, 16, 2, pattern(16, 16, func(y, x int) float64 { return float64(1 - 2*((x+y)%2)) }), 1},
		{"cos period 8 along x", 64, 64, 8, pattern(64, 64, func(y, x int) float64 { return 5 + math.Cos(2*math.Pi*float64(x)/8) }), 1},
		{"cos period 8 along y, s=8 on 24×32", 24, 32, 8, pattern(24, 32, func(y, x int) float64 { return math.Cos(2 * math.Pi * float64(y) / 8) }), 1},
		{"cos 3 cycles per 64", 64, 64, 8, pattern(64, 64, func(y, x int) float64 { return math.Cos(2 * math.Pi * 3 * float64(x) / 64) }), 0},
		{"half step edge", 32, 32, 4, pattern(32, 32, func(y, x int) float64 { return float64(x / 16) }), -1},
	}
	for _, c := range cases {
		sp := Spectrum{Stride: c.s}
		if err := sp.Add(c.m, c.h, c.w); err != nil {
			t.Fatal(err)
		}
		on, total := cbNaiveEnergy(c.m, c.h, c.w, c.s)
		if math.Abs(sp.OnGrid-on) > 1e-7*total || math.Abs(sp.Total-total) > 1e-7*total {
			t.Errorf("%s: energies (%g, %g), naive DFT (%g, %g)", c.name, sp.OnGrid, sp.Total, on, total)
		}
		if c.wantShare >= 0 && math.Abs(sp.Share()-c.wantShare) > 1e-9 {
			t.Errorf("%s: share %g, want %g", c.name, sp.Share(), c.wantShare)
		}
	}
}

// TestSpectrumWhiteNoise: white noise has a flat expected spectrum, so its share tends
// to the lattice's share of the bins, (s² − 1)/(h·w − 1).
func TestSpectrumWhiteNoise(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	sp := Spectrum{Stride: 4}
	m := make([]float64, 16*16)
	for range 400 {
		for i := range m {
			m[i] = rng.NormFloat64()
		}
		if err := sp.Add(m, 16, 16); err != nil {
			t.Fatal(err)
		}
	}
	want := 15.0 / 255
	if math.Abs(sp.Baseline()-want) > 1e-12 {
		t.Errorf("baseline %g, want %g", sp.Baseline(), want)
	}
	if math.Abs(sp.Share()-want) > 0.1*want {
		t.Errorf("white-noise share %g, want about %g", sp.Share(), want)
	}
}

func TestSpectrumErrors(t *testing.T) {
	if err := (&Spectrum{Stride: 0}).Add(make([]float64, 4), 2, 2); err == nil {
		t.Error("stride 0 gave no error")
	}
	if err := (&Spectrum{Stride: 2}).Add(make([]float64, 5), 2, 2); err == nil {
		t.Error("a map of the wrong length gave no error")
	}
	if s := (&Spectrum{Stride: 2}); !math.IsNaN(s.Share()) {
		t.Error("empty spectrum share is not NaN")
	}
}

// TestKernelDrift: 0 for the bilinear init itself; for C = 1, k = 2 the bilinear kernel is
// 0.25 everywhere (‖B‖ = 0.5), so adding 0.1 to one tap drifts by 0.1/0.5 = 0.2.
func TestKernelDrift(t *testing.T) {
	w := tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(3, 3, 4, 4))
	if err := layers.FillBilinear(w, 1); err != nil {
		t.Fatal(err)
	}
	if d, err := KernelDrift(w); err != nil || d != 0 {
		t.Errorf("bilinear weight: drift %g, %v; want 0", d, err)
	}
	one := tensor.New(tensor.WithShape(1, 1, 2, 2), tensor.WithBacking([]float64{0.35, 0.25, 0.25, 0.25}))
	if d, err := KernelDrift(one); err != nil || math.Abs(d-0.2) > 1e-12 {
		t.Errorf("one tap +0.1: drift %g, %v; want 0.2", d, err)
	}
	if _, err := KernelDrift(tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(2, 3, 4, 4))); err == nil {
		t.Error("a non-square channel weight gave no error")
	}
	per, mean, err := DiagonalKernels(tensor.New(tensor.WithShape(2, 2, 1, 2), tensor.WithBacking([]float64{1, 2, 9, 9, 9, 9, 3, 6})))
	if err != nil || len(per) != 2 || per[1][1] != 6 || mean[0] != 2 || mean[1] != 4 {
		t.Errorf("diagonal kernels %v mean %v err %v", per, mean, err)
	}
}
