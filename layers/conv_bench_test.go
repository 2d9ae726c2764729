package layers_test

import (
	"math/rand/v2"
	"syscall"
	"testing"

	"github.com/fcn-dev/fcn/layers"
	"gorgonia.org/tensor"
)

// cpuSeconds is the process's user+system CPU time: on a machine shared with other
// jobs, FLOPs per CPU-second tell kernels apart better than wall time does.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// benchLayerPass times forward (and backward, clearing the gradients first as a step
// would) of l on a batch of shape in, and reports GFLOP/s and GFLOP per CPU-second
// with 2 FLOPs per multiply-accumulate per pass (3 passes for forward+backward when
// the weight learns and the input gradient is wanted, 2 when one of them is not).
func benchLayerPass(b *testing.B, l layers.Layer, in tensor.Shape, backward, inputGrad bool) {
	out, err := l.Setup([]tensor.Shape{in}, tensor.Float32)
	if err != nil {
		b.Fatal(err)
	}
	if i, ok := l.(layers.Initializer); ok {
		i.Init(rand.New(rand.NewPCG(1, 1)))
	}
	rng := rand.New(rand.NewPCG(2, 2))
	xv := make([]float32, in.TotalSize())
	for i := range xv {
		xv[i] = float32(2*rng.Float64() - 1)
	}
	x := tensor.New(tensor.WithShape(in.Clone()...), tensor.WithBacking(xv))
	y := convZeros(tensor.Float32, out)
	var dx *tensor.Dense
	if inputGrad {
		dx = convZeros(tensor.Float32, in)
	}
	xs, dxs := []*tensor.Dense{x}, []*tensor.Dense{dx}
	passes := 1.0
	if backward {
		passes++
		if ps := l.Params(); len(ps) > 0 && !ps[0].Frozen() && inputGrad {
			passes++
		}
	}
	c0 := cpuSeconds()
	b.ResetTimer()
	for b.Loop() {
		l.Forward(xs, y)
		if backward {
			for _, p := range l.Params() {
				convZeroT(p.Grad)
			}
			l.Backward(xs, y, y, dxs)
		}
	}
	cpu := cpuSeconds() - c0
	flops := 2 * float64(l.(layers.MACCounter).MACs()) * passes * float64(b.N)
	b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	if cpu > 0 {
		b.ReportMetric(flops/cpu/1e9, "GFLOP/cpu-s")
	}
}

// BenchmarkW4Layers runs the convolutions and deconvolutions of W4 (fcn16s-tiny on
// 8×3×128×128) one by one, forward and forward+backward, as the training step does.
func BenchmarkW4Layers(b *testing.B) {
	f := false
	for _, tc := range []struct {
		name      string
		in        tensor.Shape
		conv      *layers.ConvConfig
		deconv    *layers.DeconvConfig
		inputGrad bool
	}{
		{"conv1_1", tensor.Shape{8, 3, 128, 128}, &layers.ConvConfig{Out: 32, Kernel: []int{3}, Pad: []int{1}}, nil, false},
		{"conv1_2", tensor.Shape{8, 32, 128, 128}, &layers.ConvConfig{Out: 32, Kernel: []int{3}, Pad: []int{1}}, nil, true},
		{"conv2_1", tensor.Shape{8, 32, 64, 64}, &layers.ConvConfig{Out: 64, Kernel: []int{3}, Pad: []int{1}}, nil, true},
		{"conv2_2", tensor.Shape{8, 64, 64, 64}, &layers.ConvConfig{Out: 64, Kernel: []int{3}, Pad: []int{1}}, nil, true},
		{"conv3_1", tensor.Shape{8, 64, 32, 32}, &layers.ConvConfig{Out: 128, Kernel: []int{3}, Pad: []int{1}}, nil, true},
		{"conv3_2", tensor.Shape{8, 128, 32, 32}, &layers.ConvConfig{Out: 128, Kernel: []int{3}, Pad: []int{1}}, nil, true},
		{"conv4_1", tensor.Shape{8, 128, 16, 16}, &layers.ConvConfig{Out: 256, Kernel: []int{3}, Pad: []int{1}}, nil, true},
		{"conv4_2", tensor.Shape{8, 256, 16, 16}, &layers.ConvConfig{Out: 256, Kernel: []int{3}, Pad: []int{1}}, nil, true},
		{"score_fr", tensor.Shape{8, 256, 8, 8}, &layers.ConvConfig{Out: 21, Kernel: []int{1}}, nil, true},
		{"score_pool3", tensor.Shape{8, 128, 16, 16}, &layers.ConvConfig{Out: 21, Kernel: []int{1}}, nil, true},
		{"upscore2", tensor.Shape{8, 21, 8, 8}, nil, &layers.DeconvConfig{ConvConfig: layers.ConvConfig{Out: 21, Kernel: []int{4}, Stride: []int{2}, Pad: []int{1}, Bias: &f}}, true},
		{"upscore8", tensor.Shape{8, 21, 16, 16}, nil, &layers.DeconvConfig{ConvConfig: layers.ConvConfig{Out: 21, Kernel: []int{16}, Stride: []int{8}, Pad: []int{4}, Bias: &f}, Mode: "frozen"}, true},
	} {
		for _, pass := range []string{"fwd", "fwdbwd"} {
			b.Run(tc.name+"/"+pass, func(b *testing.B) {
				var l layers.Layer
				var err error
				if tc.conv != nil {
					l, err = layers.NewConv(tc.name, *tc.conv)
				} else {
					l, err = layers.NewDeconv(tc.name, *tc.deconv)
				}
				if err != nil {
					b.Fatal(err)
				}
				benchLayerPass(b, l, tc.in, pass == "fwdbwd", tc.inputGrad)
			})
		}
	}
}
