package layers_test

import (
	"testing"

	"github.com/fcn-dev/fcn/layers"
	"gorgonia.org/tensor"
)

// Hand-worked: x is 1×2×1×2 = [[1, 2], [3, -4]], weight [2, -1], bias [0.5, 1]:
// y = [2.5, 4.5, -2, 5]; with dy = [1, 2, 3, 4]: dx = dy·w = [2, 4, -3, -4],
// dw = Σdy·x per channel = [1+4, 9−16] = [5, −7], db = Σdy = [3, 7].
func TestScaleHand(t *testing.T) {
	c := layers.DefaultScaleConfig()
	c.Bias = true
	l, err := layers.NewScale("s", c)
	if err != nil {
		t.Fatal(err)
	}
	s := tensor.Shape{1, 2, 1, 2}
	if _, err := l.Setup([]tensor.Shape{s}, tensor.Float64); err != nil {
		t.Fatal(err)
	}
	l.Init(nil)
	p := l.Params()
	if len(p) != 2 || p[0].Name != "weight" || p[1].Name != "bias" {
		t.Fatalf("params %v, want weight and bias", p)
	}
	tuClose(t, "initial weight", p[0].Value.Float64s(), []float64{1, 1}, 0)
	tuClose(t, "initial bias", p[1].Value.Float64s(), []float64{0, 0}, 0)
	copy(p[0].Value.Float64s(), []float64{2, -1})
	copy(p[1].Value.Float64s(), []float64{0.5, 1})
	x := tuDense(s, []float64{1, 2, 3, -4})
	out := tuDense(s, nil)
	l.Forward([]*tensor.Dense{x}, out)
	tuClose(t, "out", out.Float64s(), []float64{2.5, 4.5, -2, 5}, 0)
	dx := tuDense(s, nil)
	l.Backward([]*tensor.Dense{x}, out, tuDense(s, []float64{1, 2, 3, 4}), []*tensor.Dense{dx})
	tuClose(t, "dx", dx.Float64s(), []float64{2, 4, -3, -4}, 0)
	tuClose(t, "dw", p[0].Grad.Float64s(), []float64{5, -7}, 0)
	tuClose(t, "db", p[1].Grad.Float64s(), []float64{3, 7}, 0)
}

// FCN's at-once net: one frozen factor 0.01 (Caffe: filler constant 0.01, lr_mult 0).
func TestScaleScalarFrozen(t *testing.T) {
	l, err := layers.NewScale("scale_pool4", layers.ScaleConfig{Value: 0.01})
	if err != nil {
		t.Fatal(err)
	}
	s := tensor.Shape{2, 3, 1, 1}
	if _, err := l.Setup([]tensor.Shape{s}, tensor.Float64); err != nil {
		t.Fatal(err)
	}
	l.Init(nil)
	p := l.Params()
	if len(p) != 1 || !p[0].Frozen() || p[0].Value.Shape()[0] != 1 || len(p[0].Value.Shape()) != 1 {
		t.Fatalf("want one frozen weight of shape (1,), got %v", p)
	}
	x := tuDense(s, []float64{100, 200, 300, -100, -200, -300})
	out := tuDense(s, nil)
	l.Forward([]*tensor.Dense{x}, out)
	tuClose(t, "out", out.Float64s(), []float64{1, 2, 3, -1, -2, -3}, 1e-12)
	dx := tuDense(s, nil)
	l.Backward([]*tensor.Dense{x}, out, tuDense(s, []float64{1, 1, 1, 1, 1, 1}), []*tensor.Dense{dx})
	tuClose(t, "dw (frozen)", p[0].Grad.Float64s(), []float64{0}, 0)
	tuClose(t, "dx", dx.Float64s(), []float64{0.01, 0.01, 0.01, 0.01, 0.01, 0.01}, 1e-15)
	if _, err := l.Setup([]tensor.Shape{{1, 5, 2, 2}}, tensor.Float32); err == nil {
		t.Fatal("dtype change accepted")
	}
}
