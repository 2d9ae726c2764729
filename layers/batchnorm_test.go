package layers_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/fcn-dev/fcn/autodiff"
	"github.com/fcn-dev/fcn/layers"
	"gorgonia.org/tensor"
)

// A tiny batch worked by hand: N=2, C=2, H=1, W=2.
// Channel 0 holds 1, 3 | 5, 7: mean 4, biased variance (9+1+1+9)/4 = 5, unbiased 20/3.
// Channel 1 holds 2, 2 | 2, 6: mean 3, biased variance (1+1+1+9)/4 = 3, unbiased 4.
func TestBatchnormHand(t *testing.T) {
	const eps = 1e-5
	l, err := layers.NewBatchNorm("bn1", layers.DefaultBatchNormConfig())
	if err != nil {
		t.Fatal(err)
	}
	x := tuDense([]int{2, 2, 1, 2}, []float64{1, 3, 2, 2, 5, 7, 2, 6})
	if _, err := l.Setup([]tensor.Shape{{2, 2, 1, 2}}, tensor.Float64); err != nil {
		t.Fatal(err)
	}
	l.Init(nil)
	ps := l.Params()
	if len(ps) != 2 || ps[0].Name != "weight" || ps[1].Name != "bias" {
		t.Fatalf("params %v", ps)
	}
	for i, v := range ps[0].Value.Data().([]float64) {
		if v != 1 || ps[1].Value.Data().([]float64)[i] != 0 {
			t.Fatal("Init must set weight 1, bias 0")
		}
	}
	copy(ps[0].Value.Data().([]float64), []float64{2, 1})  // γ
	copy(ps[1].Value.Data().([]float64), []float64{1, -1}) // β
	out, _ := tuRun(t, l, nil, x)
	s0, s1 := math.Sqrt(5+eps), math.Sqrt(3+eps)
	tuClose(t, "train out", out.Data().([]float64), []float64{
		2*(1-4)/s0 + 1, 2*(3-4)/s0 + 1, (2-3)/s1 - 1, (2-3)/s1 - 1,
		2*(5-4)/s0 + 1, 2*(7-4)/s0 + 1, (2-3)/s1 - 1, (6-3)/s1 - 1,
	}, 1e-14)

	// Running statistics, PyTorch's momentum 0.1 from mean 0, variance 1, with the
	// unbiased batch variance.
	buf := l.Buffers()
	rm, rv := buf["running_mean"].Data().([]float64), buf["running_var"].Data().([]float64)
	tuClose(t, "running_mean", rm, []float64{0.1 * 4, 0.1 * 3}, 1e-15)
	tuClose(t, "running_var", rv, []float64{0.9 + 0.1*20.0/3, 0.9 + 0.1*4}, 1e-15)

	// Evaluation uses the running statistics and leaves them alone.
	l.SetTraining(false)
	out, dIn := tuRun(t, l, nil, x)
	r0, r1 := math.Sqrt(0.9+0.1*20.0/3+eps), math.Sqrt(1.3+eps)
	tuClose(t, "eval out", out.Data().([]float64), []float64{
		2*(1-0.4)/r0 + 1, 2*(3-0.4)/r0 + 1, (2-0.3)/r1 - 1, (2-0.3)/r1 - 1,
		2*(5-0.4)/r0 + 1, 2*(7-0.4)/r0 + 1, (2-0.3)/r1 - 1, (6-0.3)/r1 - 1,
	}, 1e-14)
	tuClose(t, "running_mean after eval", rm, []float64{0.4, 0.3}, 1e-15)
	// In evaluation the map is affine per channel: dx = γ/√(rv+eps)·dOut.
	tuClose(t, "eval dIn", dIn[0].Data().([]float64), []float64{2 / r0, 2 / r0, 1 / r1, 1 / r1, 2 / r0, 2 / r0, 1 / r1, 1 / r1}, 1e-14)
}

// In training, a constant upstream gradient changes the loss only through the batch mean,
// which absorbs it: the input gradient is zero. With dOut = x̂ the formula
// dx = γ·inv·(g − mean(g) − x̂·mean(g·x̂)) leaves γ·inv·x̂·(1 − σ²/(σ²+eps)), since
// mean(x̂²) = σ²/(σ²+eps): zero but for eps. dγ = Σ dOut·x̂ and dβ = Σ dOut by hand.
func TestBatchnormTrainingBackwardHand(t *testing.T) {
	l, _ := layers.NewBatchNorm("bn", layers.DefaultBatchNormConfig())
	x := tuDense([]int{2, 2, 1, 2}, []float64{1, 3, 2, 2, 5, 7, 2, 6})
	if _, err := l.Setup([]tensor.Shape{{2, 2, 1, 2}}, tensor.Float64); err != nil {
		t.Fatal(err)
	}
	l.Init(nil)
	copy(l.Params()[0].Value.Data().([]float64), []float64{3, -2})
	_, dIn := tuRun(t, l, nil, x)
	tuClose(t, "dIn (dOut = 1)", dIn[0].Data().([]float64), make([]float64, 8), 1e-12)
	s0, s1 := math.Sqrt(5+1e-5), math.Sqrt(3+1e-5)
	xh := []float64{-3 / s0, -1 / s0, -1 / s1, -1 / s1, 1 / s0, 3 / s0, -1 / s1, 3 / s1}
	tuClose(t, "dbias", l.Params()[1].Grad.Data().([]float64), []float64{4, 4}, 1e-12)
	tuClose(t, "dweight (Σ x̂ = 0)", l.Params()[0].Grad.Data().([]float64), []float64{0, 0}, 1e-12)

	_, dIn = tuRun(t, l, tuDense([]int{2, 2, 1, 2}, xh), x)
	f0, f1 := 3/s0*(1-5/(5+1e-5)), -2/s1*(1-3/(3+1e-5))
	want := []float64{f0 * xh[0], f0 * xh[1], f1 * xh[2], f1 * xh[3], f0 * xh[4], f0 * xh[5], f1 * xh[6], f1 * xh[7]}
	tuClose(t, "dIn (dOut = x̂)", dIn[0].Data().([]float64), want, 1e-15)
	// Σ x̂² = M·σ²/(σ²+eps) per channel, here ≈ 4; dweight accumulated on top of 0.
	tuClose(t, "dweight", l.Params()[0].Grad.Data().([]float64), []float64{4 * 5 / (5 + 1e-5), 4 * 3 / (3 + 1e-5)}, 1e-12)
}

// bnWithStats gives the running statistics non-trivial values after CheckLayer's Init,
// so the evaluation-mode check exercises them (Init resets them to 0 and 1).
type bnWithStats struct {
	*layers.BatchNorm
}

func (b bnWithStats) Init(rng *rand.Rand) {
	b.BatchNorm.Init(rng)
	for _, d := range b.Buffers() {
		v := d.Data().([]float64)
		for i := range v {
			v[i] = 0.5 + rng.Float64() // positive, as a variance must be
		}
	}
}

// A step of 1e-4 balances truncation and rounding for batchnorm: at 1e-6 rounding alone
// reaches ~1e-6 on some seeds (measured), at 1e-3 truncation does.
func TestBatchnormGradcheck(t *testing.T) {
	shapes := []tensor.Shape{{2, 3, 5, 7}, {3, 2, 3, 3}, {4, 3}, {1, 2, 1, 3}}
	for i, s := range shapes {
		for _, train := range []bool{true, false} {
			l, err := layers.NewBatchNorm("bn", layers.DefaultBatchNormConfig())
			if err != nil {
				t.Fatal(err)
			}
			var layer layers.Layer = l
			if !train {
				layer = bnWithStats{l}
			}
			tuGradCheck(t, layer, []tensor.Shape{s}, autodiff.CheckOptions{Seed: uint64(i), Eps: 1e-4, Training: train}, "input0", "weight", "bias")
		}
	}
}

// Setup may be called again with another batch size or image size; parameters stay.
func TestBatchnormResetup(t *testing.T) {
	l, _ := layers.NewBatchNorm("bn", layers.DefaultBatchNormConfig())
	if _, err := l.Setup([]tensor.Shape{{2, 3, 4, 4}}, tensor.Float32); err != nil {
		t.Fatal(err)
	}
	w := l.Params()[0]
	if _, err := l.Setup([]tensor.Shape{{5, 3, 7, 2}}, tensor.Float32); err != nil {
		t.Fatal(err)
	}
	if l.Params()[0] != w {
		t.Fatal("Setup replaced the parameters")
	}
	_, err := l.Setup([]tensor.Shape{{5, 4, 7, 2}}, tensor.Float32)
	tuWantErr(t, err, "batchnorm bn", "4 channels", "set up for 3")
	_, err = l.Setup([]tensor.Shape{{5, 3, 7, 2}}, tensor.Float64)
	tuWantErr(t, err, "batchnorm bn", "float64", "float32")
}

func TestBatchnormErrors(t *testing.T) {
	bad := []struct {
		cfg  layers.BatchNormConfig
		want string
	}{
		{layers.BatchNormConfig{Eps: 0, Momentum: 0.1}, "eps must be a positive number"},
		{layers.BatchNormConfig{Eps: -1, Momentum: 0.1}, "eps"},
		{layers.BatchNormConfig{Eps: math.NaN(), Momentum: 0.1}, "eps"},
		{layers.BatchNormConfig{Eps: 1e-5, Momentum: 1.5}, "momentum must be in [0, 1]"},
		{layers.BatchNormConfig{Eps: 1e-5, Momentum: -0.1}, "momentum"},
	}
	for _, b := range bad {
		tuNoPanic(t, func() {
			_, err := layers.NewBatchNorm("bn2", b.cfg)
			tuWantErr(t, err, "batchnorm bn2", b.want)
		})
	}
	l, _ := layers.NewBatchNorm("bn2", layers.DefaultBatchNormConfig())
	_, err := l.Setup([]tensor.Shape{{2, 3}, {2, 3}}, tensor.Float32)
	tuWantErr(t, err, "batchnorm bn2", "needs 1 input(s), got 2")
	_, err = l.Setup([]tensor.Shape{{3}}, tensor.Float32)
	tuWantErr(t, err, "batchnorm bn2", "N×C×")
	if l.Params() != nil || l.Buffers() != nil {
		t.Fatal("failed Setup allocated parameters")
	}
}

func BenchmarkBatchnorm(b *testing.B) {
	l, _ := layers.NewBatchNorm("bn", layers.DefaultBatchNormConfig())
	tuBench(b, l, []tensor.Shape{{8, 64, 64, 64}}, nil)
}
