package layers_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/fcn-dev/fcn/autodiff"
	"github.com/fcn-dev/fcn/layers"
	"gorgonia.org/tensor"
)

func newLoss(t testing.TB, normalize string, ignore int, weights []float64) *layers.SoftmaxCrossEntropy {
	t.Helper()
	l, err := layers.NewSoftmaxCrossEntropy("loss", layers.SoftmaxCrossEntropyConfig{Normalize: normalize, IgnoreLabel: ignore, ClassWeights: weights})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// The 1×2×1×2 example by hand. Pixel 0 has scores (1, 2) and label 1:
// ℓ0 = log(e¹+e²) − 2 = log(1+e⁻¹) ≈ 0.313262, softmax (σ(−1), 1−σ(−1)) ≈ (0.268941, 0.731059).
// Pixel 1 has scores (3, 0) and label 0: ℓ1 = log(1+e⁻³) ≈ 0.048587, softmax (1−σ(−3), σ(−3)).
// Scores are stored channel-major: c0 = (1, 3), c1 = (2, 0).
func TestLossHand(t *testing.T) {
	l0, l1 := math.Log1p(math.Exp(-1)), math.Log1p(math.Exp(-3))
	s1, s3 := 1/(1+math.E), 1/(1+math.Exp(3)) // σ(−1), σ(−3)
	scores := tuDense([]int{1, 2, 1, 2}, []float64{1, 3, 2, 0})
	cases := []struct {
		name      string
		normalize string
		weights   []float64
		labels    []int32
		dOut      float64
		loss      float64
		grad      []float64 // (c0p0, c0p1, c1p0, c1p1)
	}{
		{"mean", "mean", nil, []int32{1, 0}, 1, (l0 + l1) / 2,
			[]float64{s1 / 2, -s3 / 2, -s1 / 2, s3 / 2}},
		{"sum", "sum", nil, []int32{1, 0}, 1, l0 + l1,
			[]float64{s1, -s3, -s1, s3}},
		{"mean_dout3", "mean", nil, []int32{1, 0}, 3, (l0 + l1) / 2,
			[]float64{3 * s1 / 2, -3 * s3 / 2, -3 * s1 / 2, 3 * s3 / 2}},
		{"ignore", "mean", nil, []int32{1, 255}, 1, l0,
			[]float64{s1, 0, -s1, 0}},
		{"ignore_sum", "sum", nil, []int32{255, 0}, 1, l1,
			[]float64{0, -s3, 0, s3}},
		// Class weights w0 = 2, w1 = 0.5: pixel 0 (label 1) weighs 0.5, pixel 1 weighs 2;
		// weighted mean Σ w·ℓ / Σ w as PyTorch.
		{"weighted_mean", "mean", []float64{2, 0.5}, []int32{1, 0}, 1, (0.5*l0 + 2*l1) / 2.5,
			[]float64{0.5 * s1 / 2.5, -2 * s3 / 2.5, -0.5 * s1 / 2.5, 2 * s3 / 2.5}},
		{"weighted_sum", "sum", []float64{2, 0.5}, []int32{1, 0}, 1, 0.5*l0 + 2*l1,
			[]float64{0.5 * s1, -2 * s3, -0.5 * s1, 2 * s3}},
		// Label 7 is no class (C = 2): treated as ignored.
		{"invalid_label", "mean", nil, []int32{7, 0}, 1, l1,
			[]float64{0, -s3, 0, s3}},
		{"all_ignored", "mean", nil, []int32{255, 255}, 1, 0,
			[]float64{0, 0, 0, 0}},
		{"all_ignored_weighted", "mean", []float64{0, 1}, []int32{0, 255}, 1, 0,
			[]float64{0, 0, 0, 0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := newLoss(t, c.normalize, 255, c.weights)
			labels := tuLabels([]int{1, 1, 2}, c.labels)
			out, dIn := tuRun(t, l, tuDense([]int{1}, []float64{c.dOut}), scores, labels)
			tuClose(t, "loss", out.Data().([]float64), []float64{c.loss}, 1e-15)
			tuClose(t, "dScores", dIn[0].Data().([]float64), c.grad, 1e-15)
			if dIn[1] != nil {
				t.Fatal("labels got a gradient tensor")
			}
		})
	}
}

func TestLossInvalidLabels(t *testing.T) {
	l := newLoss(t, "mean", 255, nil)
	tuWantErr(t, l.CheckLabels(tuLabels([]int{1, 1, 1}, []int32{0})), "before Setup")
	scores := tuDense([]int{2, 3, 2, 2}, tuRandom(1, 24))
	labels := tuLabels([]int{2, 2, 2}, []int32{0, 1, 2, 255, 1, 3, -1, 0})
	tuNoPanic(t, func() { tuRun(t, l, nil, scores, labels) })
	if l.InvalidLabels() != 2 {
		t.Errorf("InvalidLabels() = %d, want 2", l.InvalidLabels())
	}
	tuWantErr(t, l.CheckLabels(labels), "softmax_cross_entropy loss", "label 3 at image 1, row 0, column 1", "[0, 3)", "ignore label 255", "2 such pixels")
	if err := l.CheckLabels(tuLabels([]int{2, 2, 2}, []int32{0, 1, 2, 255, 1, 2, 255, 0})); err != nil {
		t.Errorf("valid labels: %v", err)
	}
	tuWantErr(t, l.CheckLabels(tuLabels([]int{2, 2, 3}, make([]int32, 12))), "labels are 2×2×3")
	tuWantErr(t, l.CheckLabels(tuDense([]int{2, 2, 2}, nil)), "labels must be int32")

	// An ignore label inside [0, C) ignores that class.
	l = newLoss(t, "sum", 0, nil)
	out, _ := tuRun(t, l, nil, tuDense([]int{1, 2, 1, 2}, []float64{1, 3, 2, 0}), tuLabels([]int{1, 1, 2}, []int32{1, 0}))
	tuClose(t, "loss", out.Data().([]float64), []float64{math.Log1p(math.Exp(-1))}, 1e-15)
}

// Scores ±1000 overflow a naive exp; the max-shifted log-sum-exp stays exact.
func TestLossStable(t *testing.T) {
	l := newLoss(t, "sum", 255, nil)
	scores := tuDense([]int{1, 2, 1, 2}, []float64{1000, 1000, -1000, -1000})
	out, dIn := tuRun(t, l, nil, scores, tuLabels([]int{1, 1, 2}, []int32{1, 0}))
	tuClose(t, "loss", out.Data().([]float64), []float64{2000}, 0)
	tuClose(t, "dScores", dIn[0].Data().([]float64), []float64{1, 0, -1, 0}, 0)
}

// float32 runs the same kernels; the loss agrees with float64 to float32 precision.
func TestLossFloat32(t *testing.T) {
	vals := tuRandom(5, 2*4*3*5)
	lab := make([]int32, 2*3*5)
	for i := range lab {
		lab[i] = int32(i % 5) // 4 is no class → ignored
	}
	lab[3] = 255
	labels := tuLabels([]int{2, 3, 5}, lab)
	l := newLoss(t, "mean", 255, nil)
	out64, _ := tuRun(t, l, nil, tuDense([]int{2, 4, 3, 5}, vals), labels)
	if _, err := l.Setup([]tensor.Shape{{2, 4, 3, 5}, {2, 3, 5}}, tensor.Float32); err != nil {
		t.Fatal(err)
	}
	v32 := make([]float32, len(vals))
	for i, v := range vals {
		v32[i] = float32(v)
	}
	x32 := tensor.New(tensor.WithShape(2, 4, 3, 5), tensor.WithBacking(v32))
	out32 := tensor.New(tensor.WithShape(1), tensor.Of(tensor.Float32))
	l.Forward([]*tensor.Dense{x32, labels}, out32)
	if d := math.Abs(float64(out32.Data().([]float32)[0]) - out64.Data().([]float64)[0]); d > 1e-6 {
		t.Fatalf("float32 loss differs by %g", d)
	}
}

func TestLossGradcheck(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	labels := func(n, h, w, c int) *tensor.Dense {
		v := make([]int32, n*h*w)
		for i := range v {
			switch r := rng.IntN(10); {
			case r == 0:
				v[i] = 255 // ignored
			case r == 1:
				v[i] = int32(c) // no class: treated as ignored
			default:
				v[i] = int32(rng.IntN(c))
			}
		}
		return tuLabels([]int{n, h, w}, v)
	}
	cases := []struct {
		name       string
		normalize  string
		weights    []float64
		n, c, h, w int
	}{
		{"mean", "mean", nil, 2, 5, 3, 7},
		{"sum", "sum", nil, 2, 5, 3, 7},
		{"weighted_mean", "mean", []float64{0.5, 2, 1, 0, 3}, 2, 5, 5, 3},
		{"weighted_sum", "sum", []float64{0.5, 2, 1, 0, 3}, 1, 5, 5, 3},
		{"binary_batch3", "mean", nil, 3, 2, 3, 3},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := newLoss(t, c.normalize, 255, c.weights)
			lab := labels(c.n, c.h, c.w, c.c)
			tuGradCheck(t, l, []tensor.Shape{{c.n, c.c, c.h, c.w}, {c.n, c.h, c.w}},
				autodiff.CheckOptions{Seed: uint64(i), Inputs: []*tensor.Dense{nil, lab}}, "input0")
		})
	}
}

func TestLossErrors(t *testing.T) {
	bad := []struct {
		cfg  layers.SoftmaxCrossEntropyConfig
		want string
	}{
		{layers.SoftmaxCrossEntropyConfig{}, `normalize must be "mean" or "sum", got ""`},
		{layers.SoftmaxCrossEntropyConfig{Normalize: "valid"}, "normalize"},
		{layers.SoftmaxCrossEntropyConfig{Normalize: "mean", ClassWeights: []float64{1, -1}}, "class_weights[1] is -1"},
		{layers.SoftmaxCrossEntropyConfig{Normalize: "mean", ClassWeights: []float64{math.NaN()}}, "class_weights[0]"},
	}
	for _, b := range bad {
		tuNoPanic(t, func() {
			_, err := layers.NewSoftmaxCrossEntropy("loss", b.cfg)
			tuWantErr(t, err, "softmax_cross_entropy loss", b.want)
		})
	}
	if d := layers.DefaultSoftmaxCrossEntropyConfig(); d.Normalize != "mean" || d.IgnoreLabel != 255 {
		t.Errorf("defaults %+v", d)
	}
	l := newLoss(t, "mean", 255, []float64{1, 2, 3})
	shapes := []struct {
		in   []tensor.Shape
		want string
	}{
		{[]tensor.Shape{{1, 3, 4, 4}}, "needs 2 input(s), got 1"},
		{[]tensor.Shape{{1, 3, 4, 4}, {1, 4, 5}}, "labels are 1×4×5 but scores 1×3×4×4 need labels 1×4×4"},
		{[]tensor.Shape{{2, 3, 4, 4}, {1, 4, 4}}, "need labels 2×4×4"},
		{[]tensor.Shape{{1, 3, 4, 4}, {1, 1, 4, 4}}, "labels are 1×1×4×4"},
		{[]tensor.Shape{{1, 5, 4, 4}, {1, 4, 4}}, "3 class_weights for 5 classes"},
		{[]tensor.Shape{{3, 4, 4}, {3, 4}}, "scores must be 4-D"},
	}
	for _, s := range shapes {
		tuNoPanic(t, func() {
			_, err := l.Setup(s.in, tensor.Float32)
			tuWantErr(t, err, "softmax_cross_entropy loss", s.want)
		})
	}
}

func BenchmarkLoss(b *testing.B) {
	l := newLoss(b, "mean", 255, nil)
	v := make([]int32, 8*64*64)
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range v {
		v[i] = int32(rng.IntN(21))
	}
	lab := tuLabels([]int{8, 64, 64}, v)
	tuBench(b, l, []tensor.Shape{{8, 21, 64, 64}, {8, 64, 64}}, map[int]*tensor.Dense{1: lab})
}

// float32 images wide enough for the vector paths (35 pixels: two vector blocks and a
// tail) agree with float64 in loss and gradient, and an ignored pixel gets no gradient
// even from a NaN score, also when the gradient is added onto what dX holds.
func TestLossFloat32Vectors(t *testing.T) {
	const n, c, h, w = 2, 4, 5, 7
	vals := tuRandom(7, n*c*h*w)
	lab := make([]int32, n*h*w)
	for i := range lab {
		lab[i] = int32(i % 5) // 4 is no class → ignored
	}
	lab[20] = 255
	vals[2*h*w+20] = math.NaN() // channel 2 of pixel 20, which is ignored
	labels := tuLabels([]int{n, h, w}, lab)
	l := newLoss(t, "mean", 255, nil)
	out64, d64 := tuRun(t, l, nil, tuDense([]int{n, c, h, w}, vals), labels)
	for _, assign := range []bool{true, false} {
		l := newLoss(t, "mean", 255, nil)
		if _, err := l.Setup([]tensor.Shape{{n, c, h, w}, {n, h, w}}, tensor.Float32); err != nil {
			t.Fatal(err)
		}
		l.SetAssignGrad(0, assign)
		x32 := fastTensor(tensor.Float32, tensor.Shape{n, c, h, w}, vals)
		out32 := tensor.New(tensor.WithShape(1), tensor.Of(tensor.Float32))
		l.Forward([]*tensor.Dense{x32, labels}, out32)
		if d := math.Abs(float64(out32.Data().([]float32)[0]) - out64.Data().([]float64)[0]); d > 1e-5 {
			t.Fatalf("assign=%v: float32 loss differs by %g", assign, d)
		}
		dOut := fastTensor(tensor.Float32, tensor.Shape{1}, []float64{1})
		dx := fastTensor(tensor.Float32, tensor.Shape{n, c, h, w}, make([]float64, n*c*h*w))
		if !assign {
			dx.Data().([]float32)[5] = 0.5 // added onto
		}
		l.Backward([]*tensor.Dense{x32, labels}, out32, dOut, []*tensor.Dense{dx, nil})
		got, want := fastGet(dx), d64[0].Data().([]float64)
		if !assign {
			got[5] -= 0.5
		}
		for i := range want {
			if math.IsNaN(got[i]) || math.Abs(got[i]-want[i]) > 1e-6 {
				t.Fatalf("assign=%v: dX[%d] = %v, float64 gives %v", assign, i, got[i], want[i])
			}
		}
	}
}
