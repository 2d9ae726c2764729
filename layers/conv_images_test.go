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
			randf := func(n int, abs bool) []float32 {
				v := make([]float32, n)
				for i := range v {
					v[i] = float32(rng.NormFloat64())
					if abs {
						v[i] = float32(math.Abs(float64(v[i])))
					}
				}
				return v
			}
			x, dy := randf(c.in.TotalSize(), false), randf(os.TotalSize(), false)
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
			g2 := grad(x, dy, &l.img32)
			blk := grad(x, dy, nil)
			abs := func(v []float32) []float32 {
				a := make([]float32, len(v))
				for i, e := range v {
					a[i] = float32(math.Abs(float64(e)))
				}
				return a
			}
			mag := grad(abs(x), abs(dy), nil)
			for i := range g1 {
				if math.Float32bits(g1[i]) != math.Float32bits(g2[i]) {
					t.Fatalf("dw %d differs between 1 and 2 threads", i)
				}
				if d := math.Abs(float64(g1[i] - blk[i])); d > 1e-6*float64(mag[i]) {
					t.Fatalf("dw %d: per image %v, blocked %v (magnitude %v)", i, g1[i], blk[i], mag[i])
				}
			}
		})
	}
}
