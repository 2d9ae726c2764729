package layers_test

import (
	"testing"

	"github.com/fcn-dev/fcn/layers"
)

// Hand-worked: slope 0.1; at x = 0 the derivative is the slope, as torch's
// leaky_relu_backward (x > 0 ? dy : dy·slope).
func TestLeakyReLUHand(t *testing.T) {
	l, err := layers.NewLeakyReLU("lr1", layers.LeakyReLUConfig{NegativeSlope: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	x := tuDense([]int{1, 1, 2, 3}, []float64{-2, -0.5, 0, 0.5, 2, 3})
	dOut := tuDense([]int{1, 1, 2, 3}, []float64{1, 2, 3, 4, 5, 6})
	out, dIn := tuRun(t, l, dOut, x)
	tuClose(t, "out", out.Data().([]float64), []float64{-0.2, -0.05, 0, 0.5, 2, 3}, 1e-15)
	tuClose(t, "dIn", dIn[0].Data().([]float64), []float64{0.1, 0.2, 0.3, 4, 5, 6}, 1e-15)
}

func TestLeakyReLUDefaultSlope(t *testing.T) {
	typ, ok := layers.Lookup("leaky_relu")
	if !ok {
		t.Fatal("leaky_relu not registered")
	}
	// PyTorch's nn.LeakyReLU default negative_slope.
	if got := typ.NewOptions().Float("negative_slope"); got != 0.01 {
		t.Fatalf("default negative_slope %v, want 0.01", got)
	}
}
