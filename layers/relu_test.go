package layers_test

import (
	"math"
	"testing"

	"github.com/fcn-dev/fcn/autodiff"
	"github.com/fcn-dev/fcn/layers"
	"gorgonia.org/tensor"
)

func TestReluHand(t *testing.T) {
	l, err := layers.NewReLU("relu1", layers.ReLUConfig{})
	if err != nil {
		t.Fatal(err)
	}
	x := tuDense([]int{1, 1, 2, 3}, []float64{-2, -0.5, 0, 0.5, 2, math.Inf(1)})
	dOut := tuDense([]int{1, 1, 2, 3}, []float64{1, 2, 3, 4, 5, 6})
	out, dIn := tuRun(t, l, dOut, x)
	tuClose(t, "out", out.Data().([]float64)[:5], []float64{0, 0, 0, 0.5, 2}, 0)
	// The gradient passes only where out > 0 (at 0 the subgradient taken is 0).
	tuClose(t, "dIn", dIn[0].Data().([]float64), []float64{0, 0, 0, 4, 5, 6}, 0)
}

// ReLU may run in place (out is in[0]): Backward reads only out.
func TestReluInPlace(t *testing.T) {
	l, _ := layers.NewReLU("relu", layers.ReLUConfig{})
	x := tuDense([]int{1, 1, 1, 4}, []float64{-1, 2, -3, 4})
	if _, err := l.Setup([]tensor.Shape{{1, 1, 1, 4}}, tensor.Float64); err != nil {
		t.Fatal(err)
	}
	l.Forward([]*tensor.Dense{x}, x)
	dIn := tuDense([]int{1, 1, 1, 4}, nil)
	l.Backward([]*tensor.Dense{x}, x, tuDense([]int{1, 1, 1, 4}, []float64{1, 1, 1, 1}), []*tensor.Dense{dIn})
	tuClose(t, "out", x.Data().([]float64), []float64{0, 2, 0, 4}, 0)
	tuClose(t, "dIn", dIn.Data().([]float64), []float64{0, 1, 0, 1}, 0)
}

func TestReluGradcheck(t *testing.T) {
	for i, s := range []tensor.Shape{{1, 1, 5, 7}, {2, 3, 7, 5}, {3, 4}} {
		l, _ := layers.NewReLU("relu", layers.ReLUConfig{})
		// Inputs kept at |x| ≥ 0.1: the checker's ±1e-6 steps never cross the kink at 0.
		x := tuDense(s, tuAwayFromZero(uint64(i), s.TotalSize()))
		tuGradCheck(t, l, []tensor.Shape{s}, autodiff.CheckOptions{Seed: uint64(i), Inputs: []*tensor.Dense{x}}, "input0")
	}
}

func TestReluErrors(t *testing.T) {
	l, _ := layers.NewReLU("relu1", layers.ReLUConfig{})
	_, err := l.Setup(nil, tensor.Float32)
	tuWantErr(t, err, "relu relu1", "needs 1 input(s), got 0")
	_, err = l.Setup([]tensor.Shape{{1}, {1}}, tensor.Float32)
	tuWantErr(t, err, "relu relu1", "got 2")
}

func BenchmarkRelu(b *testing.B) {
	l, _ := layers.NewReLU("relu", layers.ReLUConfig{})
	tuBench(b, l, []tensor.Shape{{8, 64, 64, 64}}, nil)
}
