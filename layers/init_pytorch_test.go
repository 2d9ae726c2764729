package layers_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/fcn-dev/fcn/layers"
	"gorgonia.org/tensor"
)

// init "pytorch" is PyTorch's reset_parameters: weight and bias uniform(±1/√fan_in),
// fan_in = weight.size(1)·kh·kw as torch's _calculate_fan_in_and_fan_out takes it, also
// for ConvTranspose2d, whose weight is (in, out/groups, kh, kw).
func TestInitPyTorch(t *testing.T) {
	type initer interface {
		layers.Layer
		Init(*rand.Rand)
	}
	for _, tc := range []struct {
		name  string
		make  func() (initer, error)
		in    tensor.Shape
		fanIn int
	}{
		{"conv", func() (initer, error) {
			return layers.NewConv("c", layers.ConvConfig{Out: 64, Kernel: []int{3}, Init: "pytorch"})
		}, tensor.Shape{1, 16, 8, 8}, 16 * 9},
		{"conv_groups4", func() (initer, error) {
			return layers.NewConv("c", layers.ConvConfig{Out: 256, Kernel: []int{3}, Groups: 4, Init: "pytorch"})
		}, tensor.Shape{1, 16, 8, 8}, 16 / 4 * 9},
		// Weight (32, 12/2, 4, 4): torch's fan_in is (out/groups)·kh·kw = 6·16.
		{"deconv_groups2", func() (initer, error) {
			return layers.NewDeconv("d", layers.DeconvConfig{ConvConfig: layers.ConvConfig{Out: 12, Kernel: []int{4}, Stride: []int{2}, Groups: 2, Init: "pytorch"}})
		}, tensor.Shape{1, 32, 5, 5}, 6 * 16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := tc.make()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := l.Setup([]tensor.Shape{tc.in}, tensor.Float64); err != nil {
				t.Fatal(err)
			}
			l.Init(rand.New(rand.NewPCG(5, 6)))
			ps := l.Params()
			if s := ps[0].Value.Shape(); s[1]*s[2]*s[3] != tc.fanIn {
				t.Fatalf("weight %v: fan_in %d, want %d", s, s[1]*s[2]*s[3], tc.fanIn)
			}
			bound := 1 / math.Sqrt(float64(tc.fanIn))
			w := convF64(ps[0].Value)
			var maxAbs, ss float64
			for _, v := range w {
				maxAbs = math.Max(maxAbs, math.Abs(v))
				ss += v * v
			}
			// Uniform(±b) has variance b²/3; ≥ 2304 draws keep the sample within 10%.
			if maxAbs > bound || maxAbs < 0.9*bound {
				t.Errorf("max|w| %.4g, want in [0.9, 1]·%.4g", maxAbs, bound)
			}
			if v := ss / float64(len(w)); math.Abs(v-bound*bound/3) > 0.1*bound*bound/3 {
				t.Errorf("var(w) %.4g, want ≈ %.4g", v, bound*bound/3)
			}
			b := convF64(ps[1].Value)
			nonzero := 0
			for _, v := range b {
				if math.Abs(v) > bound {
					t.Fatalf("bias %v beyond the bound %v", v, bound)
				}
				if v != 0 {
					nonzero++
				}
			}
			if nonzero != len(b) {
				t.Errorf("%d of %d biases drawn, want all", nonzero, len(b))
			}
		})
	}
}
