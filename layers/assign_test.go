package layers_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/fcn-dev/fcn/layers"
	"gorgonia.org/tensor"
)

// A layer told to assign its input gradient (GradAssigner) must write exactly what adding
// into a zeroed buffer gives (== on every element), over whatever the buffer held (NaN here), on
// every code path: conv's pointwise, flipped (one image or several per block), strided
// and grouped paths, relu, maxpool with and without its 2×2 fast path, and the loss.
func TestAssignGradMatchesAdd(t *testing.T) {
	conv := func(cfg layers.ConvConfig) func() (layers.Layer, error) {
		return func() (layers.Layer, error) { return layers.NewConv("c", cfg) }
	}
	pool := func(cfg layers.MaxPoolConfig) func() (layers.Layer, error) {
		return func() (layers.Layer, error) { return layers.NewMaxPool("p", cfg) }
	}
	cases := []struct {
		name   string
		make   func() (layers.Layer, error)
		in     tensor.Shape
		labels bool // a second, label input (the loss)
	}{
		{"conv_1x1", conv(layers.ConvConfig{Out: 5, Kernel: []int{1}}), tensor.Shape{2, 3, 5, 7}, false},
		{"conv_3x3_small_images", conv(layers.ConvConfig{Out: 4, Kernel: []int{3}, Pad: []int{1}}), tensor.Shape{3, 3, 5, 7}, false},
		{"conv_3x3_large_image", conv(layers.ConvConfig{Out: 8, Kernel: []int{3}, Pad: []int{1}}), tensor.Shape{2, 8, 96, 96}, false},
		{"conv_stride2", conv(layers.ConvConfig{Out: 4, Kernel: []int{3}, Stride: []int{2}, Pad: []int{1}}), tensor.Shape{2, 3, 9, 8}, false},
		{"conv_groups", conv(layers.ConvConfig{Out: 4, Kernel: []int{3}, Groups: 2}), tensor.Shape{2, 4, 6, 5}, false},
		{"relu", func() (layers.Layer, error) { return layers.NewReLU("r", layers.ReLUConfig{}) }, tensor.Shape{2, 3, 150, 150}, false},
		{"maxpool_2x2_ceil", pool(layers.MaxPoolConfig{Kernel: []int{2}, Ceil: true}), tensor.Shape{2, 3, 7, 9}, false},
		{"maxpool_3x3_s2_pad", pool(layers.MaxPoolConfig{Kernel: []int{3}, Stride: []int{2}, Pad: []int{1}}), tensor.Shape{2, 3, 7, 9}, false},
		{"loss", func() (layers.Layer, error) {
			return layers.NewSoftmaxCrossEntropy("l", layers.DefaultSoftmaxCrossEntropyConfig())
		}, tensor.Shape{2, 5, 60, 70}, true},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l, err := c.make()
			if err != nil {
				t.Fatal(err)
			}
			shapes := []tensor.Shape{c.in}
			in := []*tensor.Dense{tuDense(c.in, tuRandom(uint64(i), c.in.TotalSize()))}
			if c.labels {
				n, h, w := c.in[0], c.in[2], c.in[3]
				rng := rand.New(rand.NewPCG(uint64(i), 1))
				lab := make([]int32, n*h*w)
				for k := range lab {
					lab[k] = int32(rng.IntN(c.in[1]))
					if rng.IntN(10) == 0 {
						lab[k] = 255
					}
				}
				shapes = append(shapes, tensor.Shape{n, h, w})
				in = append(in, tuLabels([]int{n, h, w}, lab))
			}
			os, err := l.Setup(shapes, tensor.Float64)
			if err != nil {
				t.Fatal(err)
			}
			if ini, ok := l.(layers.Initializer); ok {
				ini.Init(rand.New(rand.NewPCG(uint64(i), 2)))
			}
			out := tuDense(os, nil)
			l.Forward(in, out)
			dOut := tuDense(os, tuRandom(uint64(i)+100, os.TotalSize()))
			added := tuDense(c.in, nil)
			dIn := make([]*tensor.Dense, len(in))
			dIn[0] = added
			l.Backward(in, out, dOut, dIn)
			ga, ok := l.(layers.GradAssigner)
			if !ok {
				t.Fatalf("%T does not implement GradAssigner", l)
			}
			if !ga.SetAssignGrad(0, true) {
				t.Fatal("SetAssignGrad(0, true) declined")
			}
			assigned := tuDense(c.in, nil)
			tuFill(assigned, math.NaN())
			dIn[0] = assigned
			l.Backward(in, out, dOut, dIn)
			ga.SetAssignGrad(0, false)
			a, b := added.Data().([]float64), assigned.Data().([]float64)
			nonzero := 0
			for k := range a {
				if a[k] != b[k] { // NaN left over fails too; −0 and 0 are the same gradient
					t.Fatalf("element %d: assigned %v, added into zeros %v", k, b[k], a[k])
				}
				if a[k] != 0 {
					nonzero++
				}
			}
			if nonzero == 0 {
				t.Fatal("the gradient is all zero: the test checks nothing")
			}
		})
	}
}
