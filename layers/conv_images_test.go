package layers

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"gorgonia.org/tensor"
)

// The per-image convolution against the blocked one: the forward bit for bit, the
// flipped backward within float32 rounding (the weight gradient is summed in another
// order) and the same bits at GOMAXPROCS 1 and 2.
func TestConvImagesMatchBlocked(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	f := false
	cases := []struct {
		name string
		cfg  ConvConfig
		in   tensor.Shape
	}{
		{"3x3_pad1_bias", ConvConfig{Out: 6, Kernel: []int{3}, Pad: []int{1}}, tensor.Shape{3, 5, 40, 37}},
		{"5x3_groups_nobias", ConvConfig{Out: 4, Kernel: []int{5, 3}, Pad: []int{2, 0}, Groups: 2, Bias: &f}, tensor.Shape{9, 4, 11, 6}},
		{"dilated", ConvConfig{Out: 3, Kernel: []int{3}, Dilation: []int{2}, Pad: []int{1}}, tensor.Shape{2, 2, 9, 8}},
		// Column blocks of a few window rows each: forward (K = 576) and backward (K = 576).
		{"forward_row_blocks", ConvConfig{Out: 8, Kernel: []int{3}, Pad: []int{1}}, tensor.Shape{2, 64, 30, 64}},
		{"backward_row_blocks", ConvConfig{Out: 64, Kernel: []int{3}, Pad: []int{1}}, tensor.Shape{3, 8, 30, 64}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l, err := NewConv("c", c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			os, err := l.Setup([]tensor.Shape{c.in}, tensor.Float32)
			if err != nil {
				t.Fatal(err)
			}
			if !l.imagesFit() || !l.flipped {
				t.Fatalf("the per-image paths do not apply (fit %v, flipped %v)", l.imagesFit(), l.flipped)
			}
			rng := rand.New(rand.NewPCG(3, 4))
			l.Init(rng)
			if l.bias != nil {
				for i := range convData[float32](l.bias.Value) {
					convData[float32](l.bias.Value)[i] = float32(rng.NormFloat64())
				}
			}
			randf := func(n int) []float32 {
				v := make([]float32, n)
				for i := range v {
					v[i] = float32(rng.NormFloat64())
				}
				return v
			}
			x, dy := randf(c.in.TotalSize()), randf(os.TotalSize())
			yImg, yBlk := make([]float32, len(dy)), make([]float32, len(dy))
			convForwardImages(l, x, yImg, &l.img32)
			convForward(l, x, yBlk, &l.job32)
			for i := range yImg {
				if math.Float32bits(yImg[i]) != math.Float32bits(yBlk[i]) {
					t.Fatalf("forward %d: per image %v, blocked %v", i, yImg[i], yBlk[i])
				}
			}
			back := func(img *convImageJob[float32]) (dx, dw []float32) {
				dx, dw = make([]float32, len(x)), make([]float32, l.weight.Value.Shape().TotalSize())
				convBackwardFlipped(l, convData[float32](l.weight.Value), x, dy, dx, dw,
					convBuf[float32](l.col), convBuf[float32](l.tmp), 1, &l.job32, img)
				return dx, dw
			}
			runtime.GOMAXPROCS(1)
			dx1, dw1 := back(&l.img32)
			runtime.GOMAXPROCS(2)
			dx2, dw2 := back(&l.img32)
			for i := range dx1 {
				if math.Float32bits(dx1[i]) != math.Float32bits(dx2[i]) {
					t.Fatalf("dx %d differs between 1 and 2 threads", i)
				}
			}
			for i := range dw1 {
				if math.Float32bits(dw1[i]) != math.Float32bits(dw2[i]) {
					t.Fatalf("dw %d differs between 1 and 2 threads", i)
				}
			}
			dxBlk, dwBlk := back(nil)
			// Error bounds: the same sums over absolute values, times a few ulps.
			abs := func(v []float32) []float32 {
				a := make([]float32, len(v))
				for i, e := range v {
					a[i] = float32(math.Abs(float64(e)))
				}
				return a
			}
			w := convData[float32](l.weight.Value)
			saved := append([]float32(nil), w...)
			copy(w, abs(w))
			xs, dys := x, dy
			x, dy = abs(x), abs(dy)
			dxMag, dwMag := back(nil)
			x, dy = xs, dys
			copy(w, saved)
			for what, p := range map[string][3][]float32{"dx": {dx1, dxBlk, dxMag}, "dw": {dw1, dwBlk, dwMag}} {
				for i := range p[0] {
					if d := math.Abs(float64(p[0][i] - p[1][i])); d > 1e-6*float64(p[2][i]) {
						t.Fatalf("%s %d: per image %v, blocked %v (magnitude %v)", what, i, p[0][i], p[1][i], p[2][i])
					}
				}
			}
		})
	}
}
