package layers_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/fcn-dev/fcn/layers"
	"gorgonia.org/tensor"
)

// Kernel values worked out by hand from upsample_filt:
//
//	k=4: factor (4+1)//2 = 2, centre 2 − 0.5 = 1.5: 1-D 1 − |i − 1.5|/2 = 0.25 0.75 0.75 0.25,
//	     2-D products 0.0625 (corners), 0.1875 (edges), 0.5625 (centre four);
//	k=3: factor 2, centre 1: 0.5 1 0.5;
//	k=2: factor 1, centre 0.5: 0.5 0.5 → 0.25 everywhere;
//	k=1: factor 1, centre 0: 1;
//	k=16: factor 8, centre 7.5: 1 − |i − 7.5|/8 = (2i+1)/16 for i < 8, mirrored.
func TestBilinearKernelByHand(t *testing.T) {
	a, b, c := 0.0625, 0.1875, 0.5625
	for _, tc := range []struct {
		k    int
		want []float64
	}{
		{4, []float64{a, b, b, a, b, c, c, b, b, c, c, b, a, b, b, a}},
		{3, []float64{0.25, 0.5, 0.25, 0.5, 1, 0.5, 0.25, 0.5, 0.25}},
		{2, []float64{0.25, 0.25, 0.25, 0.25}},
		{1, []float64{1}},
	} {
		if got := layers.BilinearKernel(tc.k); !slices.Equal(got, tc.want) {
			t.Errorf("k=%d: %v, want %v", tc.k, got, tc.want)
		}
	}
	k16 := layers.BilinearKernel(16)
	for i := range 16 {
		m := min(i, 15-i)
		want1 := float64(2*m+1) / 16
		// Row 7 and column 7 are the centre rows (1-D value 15/16); check one row
		// and one column of the outer product.
		if got := k16[7*16+i]; got != want1*15/16 {
			t.Errorf("k=16 [7,%d] = %v, want %v", i, got, want1*15/16)
		}
		if got := k16[i*16+8]; got != want1*15/16 {
			t.Errorf("k=16 [%d,8] = %v, want %v", i, got, want1*15/16)
		}
	}
}

// FillBilinear puts the kernel on the channel diagonal (also with groups) and rejects
// weights that are not C_in = C_out.
func TestFillBilinear(t *testing.T) {
	filt := layers.BilinearKernel(4)
	for _, tc := range []struct {
		cin, coutG, groups int
	}{{3, 3, 1}, {3, 1, 3}, {4, 2, 2}} {
		w := tensor.New(tensor.WithShape(tc.cin, tc.coutG, 4, 4), tensor.Of(tensor.Float32))
		for i := range w.Data().([]float32) {
			w.Data().([]float32)[i] = 7 // must be overwritten
		}
		if err := layers.FillBilinear(w, tc.groups); err != nil {
			t.Fatal(err)
		}
		v := w.Data().([]float32)
		for c := range tc.cin {
			g := c / (tc.cin / tc.groups)
			for j := range tc.coutG {
				out := g*tc.coutG + j // the output channel weight[c, j] feeds
				for i := range 16 {
					want := float32(0)
					if out == c {
						want = float32(filt[i])
					}
					if got := v[(c*tc.coutG+j)*16+i]; got != want {
						t.Fatalf("cin %d groups %d: weight[%d,%d,%d] = %v, want %v", tc.cin, tc.groups, c, j, i, got, want)
					}
				}
			}
		}
	}
	for _, tc := range []struct {
		shape  tensor.Shape
		groups int
		want   string
	}{
		{tensor.Shape{3, 2, 4, 4}, 1, "as many input as output"},
		{tensor.Shape{4, 1, 4, 4}, 2, "as many input as output"},
		{tensor.Shape{3, 3, 4}, 1, "weight must be"},
		{tensor.Shape{3, 1, 4, 4}, 2, "groups"},
	} {
		w := tensor.New(tensor.WithShape(tc.shape...), tensor.Of(tensor.Float64))
		if err := layers.FillBilinear(w, tc.groups); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("shape %v groups %d: err = %v, want %q", tc.shape, tc.groups, err, tc.want)
		}
	}
}

// A frozen bilinear deconv with k = 2s, p = s/2 is bilinear upsampling by s: each
// channel of a constant image maps to the same constant away from the border, and the
// channels do not mix. Output pixel o gets input rows i with o = i·s − s/2 + u, u < 2s;
// both of its two contributors exist when s/2 ≤ o < H·s − s/2.
func TestBilinearDeconvKeepsConstants(t *testing.T) {
	consts := []float64{1, -2, 0.375}
	for _, s := range []int{2, 8, 16, 32} {
		l, err := layers.NewDeconv("up", layers.DeconvConfig{
			ConvConfig: layers.ConvConfig{Out: 3, Kernel: []int{2 * s}, Stride: []int{s}, Pad: []int{s / 2}, Bias: convBool(false)},
			Mode:       "frozen",
		})
		if err != nil {
			t.Fatal(err)
		}
		const h, w = 4, 3
		out, err := l.Setup([]tensor.Shape{{2, 3, h, w}}, tensor.Float64)
		if err != nil {
			t.Fatal(err)
		}
		if !out.Eq(tensor.Shape{2, 3, h * s, w * s}) {
			t.Fatalf("s=%d: output %v, want input·s", s, out)
		}
		l.Init(rand.New(rand.NewPCG(1, 1)))
		if !l.IsFrozenBilinear() {
			t.Fatalf("s=%d: not frozen bilinear", s)
		}
		x := tensor.New(tensor.WithShape(2, 3, h, w), tensor.Of(tensor.Float64))
		for i := range convF64(x) {
			convF64(x)[i] = consts[(i/(h*w))%3]
		}
		y := convZeros(tensor.Float64, out)
		l.Forward([]*tensor.Dense{x}, y)
		H, W := h*s, w*s
		checked := 0
		for n := range 2 {
			for c := range 3 {
				for i := s / 2; i < H-s/2; i++ {
					for j := s / 2; j < W-s/2; j++ {
						got := convF64(y)[((n*3+c)*H+i)*W+j]
						if math.Abs(got-consts[c]) > 1e-12 {
							t.Fatalf("s=%d: y[%d,%d,%d,%d] = %v, want %v", s, n, c, i, j, got, consts[c])
						}
						checked++
					}
				}
			}
		}
		if checked < 6*(H-s)*(W-s) {
			t.Fatalf("s=%d: checked only %d pixels", s, checked)
		}
		// The corner: output row 0 gets only input row 0, through tap u = s/2, whose 1-D
		// weight is 1 − |s/2 − (s − 0.5)|/s = (s+1)/(2s); so the corner is c·((s+1)/(2s))².
		f := float64(s+1) / float64(2*s)
		if got, want := convF64(y)[0], consts[0]*f*f; math.Abs(got-want) > 1e-12 {
			t.Errorf("s=%d: corner %v, want %v", s, got, want)
		}
	}
}

// IsFrozenBilinear needs both frozen weights and the exact diagonal pattern.
func TestIsFrozenBilinear(t *testing.T) {
	mk := func(mode string, groups int) *layers.Deconv {
		l, err := layers.NewDeconv("up", layers.DeconvConfig{
			ConvConfig: layers.ConvConfig{Out: 4, Kernel: []int{4}, Stride: []int{2}, Pad: []int{1}, Groups: groups},
			Mode:       mode,
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Setup([]tensor.Shape{{1, 4, 3, 3}}, tensor.Float32); err != nil {
			t.Fatal(err)
		}
		l.Init(rand.New(rand.NewPCG(1, 1)))
		return l
	}
	for _, groups := range []int{1, 2, 4} {
		if !mk("frozen", groups).IsFrozenBilinear() {
			t.Errorf("groups %d: frozen bilinear not recognised", groups)
		}
		if mk("learned", groups).IsFrozenBilinear() {
			t.Errorf("groups %d: learned weights taken for frozen", groups)
		}
		l := mk("frozen", groups)
		l.Weight().Value.Data().([]float32)[1] += 1e-6 // a frozen but edited weight
		if l.IsFrozenBilinear() {
			t.Errorf("groups %d: edited weight still taken for bilinear", groups)
		}
	}
	l := mk("frozen", 1)
	l.Weight().Value.Data().([]float32)[16] = 0.5 // off-diagonal weight [0,1,0,0]
	if l.IsFrozenBilinear() {
		t.Error("off-diagonal weight ignored")
	}
}
