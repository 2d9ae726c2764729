package layers

import (
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
			randomBias(rng, l.bias)
			x, dy := normals(rng, c.in.TotalSize()), normals(rng, os.TotalSize())
			yImg, yBlk := make([]float32, len(dy)), make([]float32, len(dy))
			convForwardImages(l, x, yImg, &l.img32)
			convForward(l, x, yBlk, &l.job32)
			sameBits(t, "forward, per image vs blocked", yImg, yBlk)
			back := func(x, dy []float32, img *convImageJob[float32]) (dx, dw []float32) {
				dx, dw = make([]float32, len(x)), make([]float32, l.weight.Value.Shape().TotalSize())
				convBackwardFlipped(l, convData[float32](l.weight.Value), x, dy, dx, dw,
					convBuf[float32](l.col), convBuf[float32](l.tmp), 1, &l.job32, img)
				return dx, dw
			}
			runtime.GOMAXPROCS(1)
			dx1, dw1 := back(x, dy, &l.img32)
			runtime.GOMAXPROCS(2)
			dx2, dw2 := back(x, dy, &l.img32)
			sameBits(t, "dx, 2 threads vs 1", dx2, dx1)
			sameBits(t, "dw, 2 threads vs 1", dw2, dw1)
			dxBlk, dwBlk := back(x, dy, nil)
			w := convData[float32](l.weight.Value)
			saved := append([]float32(nil), w...)
			copy(w, absolute(w))
			dxMag, dwMag := back(absolute(x), absolute(dy), nil)
			copy(w, saved)
			withinRounding(t, "dx", dx1, dxBlk, dxMag)
			withinRounding(t, "dw", dw1, dwBlk, dwMag)
		})
	}
}

// The per-image weight gradient of the non-flipped path (no input gradient wanted, as
// for a network's first convolution, or stride 2) against the blocked loop, and at
// GOMAXPROCS 1 and 2.
func TestConvWeightGradImagesMatchBlocked(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	cases := []struct {
		name   string
		cfg    ConvConfig
		in     tensor.Shape
		wantDx bool
	}{
		{"first_layer", ConvConfig{Out: 8, Kernel: []int{3}, Pad: []int{1}}, tensor.Shape{3, 3, 50, 61}, false},
		{"stride2", ConvConfig{Out: 6, Kernel: []int{3}, Stride: []int{2}, Pad: []int{1}}, tensor.Shape{9, 4, 40, 64}, true},
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
			if !l.imagesFit() {
				t.Fatal("the per-image path does not apply")
			}
			rng := rand.New(rand.NewPCG(5, 6))
			l.Init(rng)
			x, dy := normals(rng, c.in.TotalSize()), normals(rng, os.TotalSize())
			grad := func(x, dy []float32, img *convImageJob[float32]) []float32 {
				clear(convData[float32](l.weight.Grad))
				clear(convData[float32](l.bias.Grad))
				var dx []float32
				if c.wantDx {
					dx = make([]float32, len(x))
				}
				convBackward(l, x, dy, dx, &l.job32, img)
				return append([]float32(nil), convData[float32](l.weight.Grad)...)
			}
			runtime.GOMAXPROCS(1)
			g1 := grad(x, dy, &l.img32)
			runtime.GOMAXPROCS(2)
			sameBits(t, "dw, 2 threads vs 1", grad(x, dy, &l.img32), g1)
			withinRounding(t, "dw", g1, grad(x, dy, nil), grad(absolute(x), absolute(dy), nil))
		})
	}
}
