package layers

import (
	"math/rand/v2"
	"runtime"
	"testing"

	"gorgonia.org/tensor"
)

// The per-image deconvolution against the blocked one it stands in for: the forward
// bit for bit (the same products element for element), the backward within float32
// rounding (the weight gradient is summed in another order), and the per-image
// backward the same bits at GOMAXPROCS 1 and 2.
func TestDeconvImagesMatchBlocked(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	cases := []struct {
		name string
		cfg  ConvConfig
		in   tensor.Shape
	}{
		{"k4s2p1_bias", ConvConfig{Out: 5, Kernel: []int{4}, Stride: []int{2}, Pad: []int{1}}, tensor.Shape{3, 4, 7, 6}},
		{"k3s2_groups", ConvConfig{Out: 6, Kernel: []int{3}, Stride: []int{2}, Groups: 2}, tensor.Shape{9, 4, 5, 5}},
		{"k16s8p4", ConvConfig{Out: 3, Kernel: []int{16}, Stride: []int{8}, Pad: []int{4}}, tensor.Shape{2, 3, 4, 3}},
		{"backward_row_blocks", ConvConfig{Out: 64, Kernel: []int{4}, Stride: []int{2}, Pad: []int{1}}, tensor.Shape{2, 4, 20, 32}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l, err := NewDeconv("d", DeconvConfig{ConvConfig: c.cfg, Mode: "random"})
			if err != nil {
				t.Fatal(err)
			}
			os, err := l.Setup([]tensor.Shape{c.in}, tensor.Float32)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			l.Init(rng)
			randomBias(rng, l.bias)
			x, dy := normals(rng, c.in.TotalSize()), normals(rng, os.TotalSize())
			colN, zN, ok := l.phaseImagesFit()
			rows, okB := l.backImagesFit()
			if !ok || !okB {
				t.Fatalf("the per-image paths do not apply (forward %v, backward %v)", ok, okB)
			}
			yImg, yBlk := make([]float32, os.TotalSize()), make([]float32, os.TotalSize())
			deconvForwardImages(l, x, yImg, &l.img32, colN, zN)
			deconvForwardPhases(l, x, yBlk, &l.job32, &l.il32)
			sameBits(t, "forward, per image vs blocked", yImg, yBlk)
			back := func(procs int) (dx, dw []float32) {
				runtime.GOMAXPROCS(procs)
				dx, dw = make([]float32, len(x)), make([]float32, l.weight.Value.Shape().TotalSize())
				deconvBackImages(l, x, dy, dx, dw, &l.back32, rows)
				return dx, dw
			}
			dx1, dw1 := back(1)
			dx2, dw2 := back(2)
			sameBits(t, "dx, 2 threads vs 1", dx2, dx1)
			sameBits(t, "dw, 2 threads vs 1", dw2, dw1)
			dxBlk, dwBlk := make([]float32, len(x)), make([]float32, len(dw1))
			deconvBackBlocked(l, x, dy, dxBlk, dwBlk, &l.job32)
			w := convData[float32](l.weight.Value)
			saved := append([]float32(nil), w...)
			copy(w, absolute(w))
			dxMag, dwMag := make([]float32, len(x)), make([]float32, len(dw1))
			deconvBackBlocked(l, absolute(x), absolute(dy), dxMag, dwMag, &l.job32)
			copy(w, saved)
			withinRounding(t, "dx", dx1, dxBlk, dxMag)
			withinRounding(t, "dw", dw1, dwBlk, dwMag)
		})
	}
}
