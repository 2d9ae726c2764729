package layers_test

import (
	"math"
	"testing"

	"github.com/fcn-dev/fcn/autodiff"
	"github.com/fcn-dev/fcn/layers"
	"gorgonia.org/tensor"
)

// dropoutMask runs a training forward of ones with the given seed and returns the output.
func dropoutOnes(t *testing.T, l *layers.Dropout, n int, seed uint64) []float64 {
	t.Helper()
	if _, err := l.Setup([]tensor.Shape{{n}}, tensor.Float64); err != nil {
		t.Fatal(err)
	}
	x := tuDense([]int{n}, nil)
	tuFill(x, 1)
	out := tuDense([]int{n}, nil)
	l.SetSeed(seed)
	l.Forward([]*tensor.Dense{x}, out)
	return append([]float64(nil), out.Data().([]float64)...)
}

func TestDropoutTraining(t *testing.T) {
	const n = 100000
	for _, p := range []float64{0.5, 0.2, 0.9} {
		l, err := layers.NewDropout("drop6", layers.DropoutConfig{P: p})
		if err != nil {
			t.Fatal(err)
		}
		out := dropoutOnes(t, l, n, 42)
		kept := 0
		for _, v := range out {
			switch v {
			case 0:
			case 1 / (1 - p): // inverted dropout: survivors scaled by 1/(1−p)
				kept++
			default:
				t.Fatalf("p=%v: output %v is neither 0 nor 1/(1−p)", p, v)
			}
		}
		// Binomial(n, 1−p): 5 standard deviations.
		sd := math.Sqrt(n * p * (1 - p))
		if math.Abs(float64(kept)-n*(1-p)) > 5*sd {
			t.Errorf("p=%v: kept %d of %d", p, kept, n)
		}
	}
}

func TestDropoutSeed(t *testing.T) {
	l, _ := layers.NewDropout("drop", layers.DefaultDropoutConfig())
	a := dropoutOnes(t, l, 1000, 7)
	b := dropoutOnes(t, l, 1000, 8)
	c := dropoutOnes(t, l, 1000, 7)
	// A fresh layer with the same seed draws the same mask: nothing global is involved.
	l2, _ := layers.NewDropout("other", layers.DefaultDropoutConfig())
	d := dropoutOnes(t, l2, 1000, 7)
	same := func(x, y []float64) bool {
		for i := range x {
			if x[i] != y[i] {
				return false
			}
		}
		return true
	}
	if !same(a, c) || !same(a, d) {
		t.Error("same seed gave different masks")
	}
	if same(a, b) {
		t.Error("seeds 7 and 8 gave the same mask")
	}
}

func TestDropoutEvalAndBackward(t *testing.T) {
	l, _ := layers.NewDropout("drop", layers.DropoutConfig{P: 0.5})
	x := tuDense([]int{1, 2, 3, 3}, tuRandom(1, 18))
	l.SetSeed(3)
	out, dIn := tuRun(t, l, nil, x)
	// Backward applies the forward's mask and scale: dIn = out/x for dOut = 1.
	for i, v := range out.Data().([]float64) {
		if want := v / x.Data().([]float64)[i]; dIn[0].Data().([]float64)[i] != want {
			t.Fatalf("dIn[%d] = %v, want %v", i, dIn[0].Data().([]float64)[i], want)
		}
	}
	l.SetTraining(false)
	out, dIn = tuRun(t, l, nil, x)
	tuClose(t, "eval out", out.Data().([]float64), x.Data().([]float64), 0)
	ones := make([]float64, 18)
	for i := range ones {
		ones[i] = 1
	}
	tuClose(t, "eval dIn", dIn[0].Data().([]float64), ones, 0)
}

func TestDropoutGradcheck(t *testing.T) {
	for _, train := range []bool{true, false} {
		for i, s := range []tensor.Shape{{1, 3, 5, 7}, {2, 2, 3, 5}} {
			l, _ := layers.NewDropout("drop", layers.DropoutConfig{P: 0.3})
			// CheckLayer reseeds Stochastic layers before every forward, so the mask is fixed.
			tuGradCheck(t, l, []tensor.Shape{s}, autodiff.CheckOptions{Seed: uint64(i), Training: train}, "input0")
		}
	}
}

func TestDropoutErrors(t *testing.T) {
	for _, p := range []float64{-0.1, 1, 1.5, math.NaN()} {
		tuNoPanic(t, func() {
			_, err := layers.NewDropout("drop7", layers.DropoutConfig{P: p})
			tuWantErr(t, err, "dropout drop7", "p must be in [0, 1)")
		})
	}
	if _, err := layers.NewDropout("d", layers.DropoutConfig{P: 0}); err != nil {
		t.Errorf("p = 0: %v", err)
	}
	l, _ := layers.NewDropout("drop7", layers.DropoutConfig{P: 0.5})
	_, err := l.Setup([]tensor.Shape{{1}, {1}}, tensor.Float32)
	tuWantErr(t, err, "dropout drop7", "needs 1 input(s), got 2")
}

func BenchmarkDropout(b *testing.B) {
	l, _ := layers.NewDropout("drop", layers.DefaultDropoutConfig())
	tuBench(b, l, []tensor.Shape{{8, 64, 64, 64}}, nil)
}
