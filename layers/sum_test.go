package layers_test

import (
	"math"
	"testing"

	"github.com/fcn-dev/fcn/autodiff"
	"github.com/fcn-dev/fcn/layers"
	"gorgonia.org/tensor"
)

func TestSumHand(t *testing.T) {
	a := tuDense([]int{1, 1, 1, 3}, []float64{1, 2, 3})
	b := tuDense([]int{1, 1, 1, 3}, []float64{10, 20, 30})
	c := tuDense([]int{1, 1, 1, 3}, []float64{100, 200, 300})
	dOut := tuDense([]int{1, 1, 1, 3}, []float64{1, 2, 4})

	l, _ := layers.NewSum("fuse", layers.SumConfig{})
	out, dIn := tuRun(t, l, dOut, a, b)
	tuClose(t, "plain", out.Data().([]float64), []float64{11, 22, 33}, 0)
	tuClose(t, "plain dIn1", dIn[1].Data().([]float64), []float64{1, 2, 4}, 0)

	l, _ = layers.NewSum("fuse", layers.SumConfig{Coeffs: []float64{2, -0.5, 0.25}})
	out, dIn = tuRun(t, l, dOut, a, b, c)
	// 2·1 − 5 + 25 = 22, 4 − 10 + 50 = 44, 6 − 15 + 75 = 66.
	tuClose(t, "coeffs", out.Data().([]float64), []float64{22, 44, 66}, 0)
	tuClose(t, "dIn0", dIn[0].Data().([]float64), []float64{2, 4, 8}, 0)
	tuClose(t, "dIn1", dIn[1].Data().([]float64), []float64{-0.5, -1, -2}, 0)
	tuClose(t, "dIn2", dIn[2].Data().([]float64), []float64{0.25, 0.5, 1}, 0)

	// FCN-8s at-once: score_pool4 scaled by 0.01 before fusing.
	l, _ = layers.NewSum("fuse_pool4", layers.SumConfig{Coeffs: []float64{1, 0.01}})
	out, _ = tuRun(t, l, nil, a, c)
	tuClose(t, "fcn8s", out.Data().([]float64), []float64{2, 4, 6}, 1e-15)

	// A nil dIn entry is skipped.
	tuNoPanic(t, func() { l.Backward([]*tensor.Dense{a, c}, out, out, []*tensor.Dense{nil, nil}) })
}

func TestSumGradcheck(t *testing.T) {
	s := tensor.Shape{2, 3, 5, 7}
	l, _ := layers.NewSum("fuse", layers.SumConfig{Coeffs: []float64{1, 0.01, 1e-4}})
	// With gradients as small as 1e-4·dOut, the default step's rounding error
	// (≈1e-16·|L|/1e-6) reaches 1e-6 relative; sum is linear, so central differences have
	// no truncation error and a larger step only removes rounding error.
	tuGradCheck(t, l, []tensor.Shape{s, s, s}, autodiff.CheckOptions{Seed: 1, Eps: 1e-2}, "input0", "input1", "input2")
	l, _ = layers.NewSum("fuse", layers.SumConfig{})
	tuGradCheck(t, l, []tensor.Shape{{1, 1, 3, 5}, {1, 1, 3, 5}}, autodiff.CheckOptions{Seed: 2}, "input0", "input1")
}

func TestSumErrors(t *testing.T) {
	l, _ := layers.NewSum("fuse", layers.SumConfig{InputNames: []string{"upscore2", "score_pool3"}})
	_, err := l.Setup([]tensor.Shape{{1, 21, 16, 16}, {1, 21, 15, 15}}, tensor.Float32)
	tuWantErr(t, err, "sum fuse: upscore2 is 21×16×16 but score_pool3 is 21×15×15")

	l, _ = layers.NewSum("fuse", layers.SumConfig{})
	_, err = l.Setup([]tensor.Shape{{1, 21, 16, 16}, {1, 21, 16, 16}, {1, 20, 16, 16}}, tensor.Float32)
	tuWantErr(t, err, "sum fuse: input 0 is 21×16×16 but input 2 is 20×16×16")
	_, err = l.Setup([]tensor.Shape{{1, 21, 16, 16}, {2, 21, 16, 16}}, tensor.Float32)
	tuWantErr(t, err, "input 0 is 1×21×16×16 but input 1 is 2×21×16×16")
	_, err = l.Setup([]tensor.Shape{{1, 21, 16, 16}}, tensor.Float32)
	tuWantErr(t, err, "sum fuse", "at least 2 inputs, got 1")

	l, _ = layers.NewSum("fuse", layers.SumConfig{Coeffs: []float64{1, 2, 3}})
	_, err = l.Setup([]tensor.Shape{{1, 2}, {1, 2}}, tensor.Float32)
	tuWantErr(t, err, "sum fuse", "3 coeffs for 2 inputs")

	for _, c := range [][]float64{{1, math.NaN()}, {math.Inf(1), 1}, {1}} {
		tuNoPanic(t, func() {
			_, err := layers.NewSum("fuse", layers.SumConfig{Coeffs: c})
			tuWantErr(t, err, "sum fuse", "coeffs")
		})
	}
}

func BenchmarkSum(b *testing.B) {
	l, _ := layers.NewSum("fuse", layers.SumConfig{Coeffs: []float64{1, 0.01}})
	s := tensor.Shape{8, 64, 64, 64}
	tuBench(b, l, []tensor.Shape{s, s}, nil)
}
