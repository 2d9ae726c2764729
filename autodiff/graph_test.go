package autodiff

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gorgonia.org/tensor"
)

var ctx = context.Background()

func data(n, c, h, w int) InputSpec {
	return InputSpec{Name: "data", Shape: tensor.Shape{n, c, h, w}, Dtype: tensor.Float64}
}

func label(n, h, w int) InputSpec {
	return InputSpec{Name: "label", Shape: tensor.Shape{n, h, w}, Dtype: tensor.Int32}
}

func randInput(rng *rand.Rand, dt tensor.Dtype, s ...int) *tensor.Dense {
	d := tensor.New(tensor.WithShape(s...), tensor.Of(dt))
	for i := range d.Shape().TotalSize() {
		set(d, i, 2*rng.Float64()-1)
	}
	return d
}

func randLabels(rng *rand.Rand, classes int, s ...int) *tensor.Dense {
	d := tensor.New(tensor.WithShape(s...), tensor.Of(tensor.Int32))
	for i := range d.Int32s() {
		d.Int32s()[i] = int32(rng.IntN(classes))
	}
	return d
}

func TestBuildErrors(t *testing.T) {
	in := []InputSpec{data(1, 2, 4, 4)}
	tests := []struct {
		name   string
		inputs []InputSpec
		nodes  []Node
		dt     tensor.Dtype
		want   []string // substrings of the error
	}{
		{"no inputs", nil, []Node{{Name: "a", Layer: &squareLayer{}}}, tensor.Float64, []string{"at least one input"}},
		{"no nodes", in, nil, tensor.Float64, []string{"no nodes"}},
		{"int graph", in, []Node{{Name: "a", Layer: &squareLayer{}}}, tensor.Int32, []string{"float32 or float64"}},
		{"input dtype", []InputSpec{{Name: "data", Shape: tensor.Shape{1, 2, 4, 4}, Dtype: tensor.Float32}},
			[]Node{{Name: "a", Layer: &squareLayer{}}}, tensor.Float64, []string{`"data" is float32`, "float64"}},
		{"bad input shape", []InputSpec{{Name: "data", Shape: tensor.Shape{1, 0, 4}, Dtype: tensor.Float64}},
			[]Node{{Name: "a", Layer: &squareLayer{}}}, tensor.Float64, []string{`"data"`, "1×0×4"}},
		{"duplicate input", []InputSpec{data(1, 2, 4, 4), data(1, 2, 4, 4)},
			[]Node{{Name: "a", Layer: &squareLayer{}}}, tensor.Float64, []string{`input "data" declared twice`}},
		{"unnamed node", in, []Node{{Layer: &squareLayer{}}}, tensor.Float64, []string{"node 0 has no name"}},
		{"nil layer", in, []Node{{Name: "a"}}, tensor.Float64, []string{`"a" has no layer`}},
		{"duplicate node", in, []Node{{Name: "a", Layer: &squareLayer{}}, {Name: "a", Layer: &squareLayer{}}},
			tensor.Float64, []string{`"a" used twice`, "already a node"}},
		{"node named like input", in, []Node{{Name: "data", Layer: &squareLayer{}}},
			tensor.Float64, []string{`"data" used twice`, "graph input"}},
		{"unknown input", in, []Node{
			{Name: "score_fr", Layer: &squareLayer{}},
			{Name: "up", Layer: &squareLayer{}, Inputs: []string{"scroe_fr"}},
		}, tensor.Float64, []string{`node "up"`, `unknown input "scroe_fr"`, `did you mean "score_fr"?`}},
		{"self loop", in, []Node{{Name: "a", Layer: &addLayer{}, Inputs: []string{"data", "a"}}},
			tensor.Float64, []string{"cycle: a → a"}},
		{"cycle", in, []Node{
			{Name: "a", Layer: &addLayer{}, Inputs: []string{"data", "c"}},
			{Name: "b", Layer: &squareLayer{}},
			{Name: "c", Layer: &squareLayer{}},
			{Name: "d", Layer: &squareLayer{}},
		}, tensor.Float64, []string{"cycle: a → b → c → a"}},
		{"shape mismatch", in, []Node{
			{Name: "up", Layer: &upsample{s: 2}},
			{Name: "skip", Layer: &squareLayer{}, Inputs: []string{"data"}},
			{Name: "fuse", Layer: &addLayer{}, Inputs: []string{"up", "skip"}},
		}, tensor.Float64, []string{"fuse: up is 2×8×8 but skip is 2×4×4: add: input 1"}},
		{"setup error with one input", in, []Node{{Name: "s", Layer: &scaleLayer{}, Inputs: []string{"data"}}, {Name: "t", Layer: &sqLoss{}}},
			tensor.Float64, []string{"t: s is 2×4×4: sqloss"}},
		{"crop scale mismatch", in, []Node{
			{Name: "half", Layer: &subsample{s: 2}},
			{Name: "c", Layer: &cropLayer{auto: true}, Inputs: []string{"data", "half"}},
		}, tensor.Float64, []string{"c: crop offset", "scale mismatch", "data maps to half with scale (0.5, 0.5)"}},
		{"crop negative offset", in, []Node{
			{Name: "pad", Layer: &geom{kind: "conv", k: 1, s: 1, p: 1}},
			{Name: "c", Layer: &cropLayer{auto: true}, Inputs: []string{"data", "pad"}},
		}, tensor.Float64, []string{"c: crop offset", "negative offset (-1, -1)"}},
		{"crop non-integer offset", in, []Node{
			// pad 1 → take every other pixel → repeat each twice: centres land
			// half-way between input pixels.
			{Name: "pad", Layer: &geom{kind: "conv", k: 1, s: 1, p: 1}},
			{Name: "down", Layer: &subsample{s: 2}},
			{Name: "up", Layer: &upsample{s: 2}},
			{Name: "c", Layer: &cropLayer{auto: true}, Inputs: []string{"up", "data"}},
		}, tensor.Float64, []string{"c: crop offset", "non-integer offset (1.5, 1.5)"}},
		{"crop unconnected", []InputSpec{data(1, 2, 4, 4), {Name: "other", Shape: tensor.Shape{1, 2, 4, 4}, Dtype: tensor.Float64}}, []Node{
			{Name: "c", Layer: &cropLayer{auto: true}, Inputs: []string{"data", "other"}},
		}, tensor.Float64, []string{"c: crop offset", "between data and other", "connected by spatial layers"}},
		{"crop one input", in, []Node{{Name: "c", Layer: &cropLayer{auto: true}}},
			tensor.Float64, []string{"c: crop needs 2 inputs"}},
		{"crop too large", in, []Node{
			{Name: "half", Layer: &subsample{s: 2}},
			{Name: "c", Layer: &cropLayer{off: [2]int{1, 1}}, Inputs: []string{"data", "half"}},
			{Name: "c2", Layer: &cropLayer{off: [2]int{3, 0}}, Inputs: []string{"data", "half"}},
		}, tensor.Float64, []string{"c2: data is 2×4×4 but half is 2×2×2: crop: 2×2 at offset 3,0 does not fit in 4×4"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, err := Build(tc.inputs, tc.nodes, tc.dt)
			if err == nil {
				t.Fatalf("Build succeeded: %v", g.Order())
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestSetupErrorIsWrapped(t *testing.T) {
	errBad := errors.New("bad")
	_, err := Build([]InputSpec{data(2, 3, 5, 5)}, []Node{{Name: "x", Layer: &failing{err: errBad}}}, tensor.Float64)
	if !errors.Is(err, errBad) {
		t.Fatalf("error %v does not wrap the layer's", err)
	}
	if want := "x: data is 3×5×5: bad"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	// Inputs with different batch sizes show the full shapes.
	_, err = Build([]InputSpec{data(2, 3, 5, 5), {Name: "b", Shape: tensor.Shape{3, 3, 5, 5}, Dtype: tensor.Float64}},
		[]Node{{Name: "x", Layer: &failing{err: errBad}, Inputs: []string{"data", "b"}}}, tensor.Float64)
	if want := "x: data is 2×3×5×5 but b is 3×3×5×5: bad"; err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
}

type failing struct {
	squareLayer
	err error
}

func (l *failing) Setup(in []tensor.Shape, dt tensor.Dtype) (tensor.Shape, error) { return nil, l.err }

func TestTopologicalOrderAndDefaults(t *testing.T) {
	// "late" is declared before the node it reads; the default input chain follows the
	// declared list.
	g, err := Build([]InputSpec{data(1, 1, 2, 2)}, []Node{
		{Name: "late", Layer: &squareLayer{}, Inputs: []string{"early"}},
		{Name: "early", Layer: &squareLayer{}, Inputs: []string{"data"}},
		{Name: "next", Layer: &squareLayer{}}, // reads "early"
		{Name: "first", Layer: &addLayer{}, Inputs: []string{"data", "data"}},
	}, tensor.Float64)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(g.Order(), ","), "early,late,next,first"; got != want {
		t.Errorf("order %s, want %s", got, want)
	}
	if got, want := strings.Join(g.Nodes(), ","), "late,early,next,first"; got != want {
		t.Errorf("nodes %s, want %s", got, want)
	}
	if in := g.Inputs(); len(in) != 1 || in[0].Name != "data" || !sameShape(in[0].Shape, tensor.Shape{1, 1, 2, 2}) || g.Dtype() != tensor.Float64 {
		t.Errorf("inputs %v, dtype %v", in, g.Dtype())
	}
	if g.Layer("nope") != nil || g.Shape("nope") != nil || g.Value("nope") != nil || g.Grad("nope") != nil {
		t.Error("accessors return something for an unknown name")
	}
	if got := g.nodes[2].Inputs; len(got) != 1 || got[0] != "early" {
		t.Errorf("next reads %v, want [early]", got)
	}
	// The first node defaults to the first graph input.
	g2, err := Build([]InputSpec{data(1, 1, 2, 2), label(1, 2, 2)}, []Node{{Name: "a", Layer: &squareLayer{}}}, tensor.Float64)
	if err != nil {
		t.Fatal(err)
	}
	if got := g2.nodes[0].Inputs; len(got) != 1 || got[0] != "data" {
		t.Errorf("first node reads %v, want [data]", got)
	}
}

// fanOut is data → s1 → {sq, s2} → add → loss: s1's output feeds two nodes, so its
// gradient is the sum of two contributions.
func fanOut(sq *squareLayer, dt tensor.Dtype) ([]InputSpec, []Node) {
	in := []InputSpec{
		{Name: "data", Shape: tensor.Shape{2, 3, 3, 2}, Dtype: dt},
		label(2, 3, 2),
	}
	return in, []Node{
		{Name: "s1", Layer: &scaleLayer{}},
		{Name: "sq", Layer: sq},
		{Name: "s2", Layer: &scaleLayer{}, Inputs: []string{"s1"}},
		{Name: "add", Layer: &addLayer{}, Inputs: []string{"sq", "s2"}},
		{Name: "loss", Layer: &sqLoss{}, Inputs: []string{"add", "label"}},
	}
}

func checkAll(t *testing.T, res []GradResult, tol float64) {
	t.Helper()
	if len(res) == 0 {
		t.Fatal("no gradients checked")
	}
	worst := GradResult{}
	for _, r := range res {
		if !(r.MaxRelErr < tol) {
			t.Errorf("%s: max relative error %.3g (n=%d, abs %.3g)", r.Tensor, r.MaxRelErr, r.N, r.MaxAbsErr)
		}
		if r.MaxRelErr > worst.MaxRelErr {
			worst = r
		}
	}
	t.Logf("%d tensors checked, worst %s: max relative error %.3g", len(res), worst.Tensor, worst.MaxRelErr)
}

func TestCheckGraphFanOut(t *testing.T) {
	in, nodes := fanOut(&squareLayer{}, tensor.Float64)
	g, err := Build(in, nodes, tensor.Float64)
	if err != nil {
		t.Fatal(err)
	}
	if g.LossNode() != "loss" {
		t.Fatalf("loss node %q", g.LossNode())
	}
	rng := rand.New(rand.NewPCG(1, 2))
	res, err := CheckGraph(ctx, g, []*tensor.Dense{nil, randLabels(rng, 3, 2, 3, 2)}, GraphCheckOptions{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	checkAll(t, res, 1e-6)
	names := []string{}
	for _, r := range res {
		names = append(names, r.Tensor)
	}
	if got, want := strings.Join(names, ","), "data,s1.weight,s1.bias,s2.weight,s2.bias"; got != want {
		t.Errorf("checked %s, want %s", got, want)
	}
}

// The checker must catch a layer that overwrites its input gradient instead of adding:
// on a fan-out, the overwritten contribution from the other branch is lost.
func TestCheckGraphCatchesOverwrite(t *testing.T) {
	in, nodes := fanOut(&squareLayer{overwrite: true}, tensor.Float64)
	// sq is declared before s2, so the reverse pass runs it after s2 and its
	// overwrite destroys s2's contribution to s1's gradient.
	g, err := Build(in, nodes, tensor.Float64)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	res, err := CheckGraph(ctx, g, []*tensor.Dense{nil, randLabels(rng, 3, 2, 3, 2)}, GraphCheckOptions{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	for _, r := range res {
		worst = math.Max(worst, r.MaxRelErr)
	}
	if worst < 1e-2 {
		t.Errorf("overwriting backward went unnoticed: worst relative error %.3g", worst)
	}
}

func TestFanOutAccumulatesByHand(t *testing.T) {
	// data (one element x) → s1 (w1·x + b1) → {sq: y², s2: w2·y + b2} → add → loss.
	// With w1 = 2, b1 = 0, w2 = 3, b2 = 0, label 1 on a single class and x = 1:
	// y = 2, add = y² + 3y = 10, loss = ½(10 − 1)² = 40.5, dL/dadd = 9,
	// dL/dy = 9·(2y + 3) = 63 — the sum of both branches (9·4 and 9·3).
	in := []InputSpec{{Name: "data", Shape: tensor.Shape{1, 1, 1, 1}, Dtype: tensor.Float64}, label(1, 1, 1)}
	_, nodes := fanOut(&squareLayer{}, tensor.Float64)
	g, err := Build(in, nodes, tensor.Float64)
	if err != nil {
		t.Fatal(err)
	}
	s1 := g.Layer("s1").(*scaleLayer)
	s2 := g.Layer("s2").(*scaleLayer)
	set(s1.w.Value, 0, 2)
	set(s2.w.Value, 0, 3)
	x := tensor.New(tensor.WithShape(1, 1, 1, 1), tensor.WithBacking([]float64{1}))
	y := tensor.New(tensor.WithShape(1, 1, 1), tensor.WithBacking([]int32{0}))
	if err := g.Forward(ctx, x, y); err != nil {
		t.Fatal(err)
	}
	if got := g.Loss(); got != 40.5 {
		t.Errorf("loss %v, want 40.5", got)
	}
	g.ZeroGrad()
	if err := g.Backward(ctx); err != nil {
		t.Fatal(err)
	}
	if got := get(g.Grad("s1"), 0); got != 63 {
		t.Errorf("dL/ds1 = %v, want 63", got)
	}
	if got := get(s1.w.Grad, 0); got != 63 {
		t.Errorf("dL/dw1 = %v, want 63·x = 63", got)
	}
	if got := get(s2.w.Grad, 0); got != 18 {
		t.Errorf("dL/dw2 = %v, want 9·y = 18", got)
	}
	// Backward again without ZeroGrad: parameter gradients accumulate (iter_size),
	// activation gradients do not.
	if err := g.Forward(ctx, x, y); err != nil {
		t.Fatal(err)
	}
	if err := g.Backward(ctx); err != nil {
		t.Fatal(err)
	}
	if got := get(s1.w.Grad, 0); got != 126 {
		t.Errorf("accumulated dL/dw1 = %v, want 126", got)
	}
	if got := get(g.Grad("s1"), 0); got != 63 {
		t.Errorf("activation gradient after second backward %v, want 63 (zeroed each step)", got)
	}
	g.ZeroGrad()
	for _, p := range g.Params() {
		for i := range p.Grad.Shape().TotalSize() {
			if get(p.Grad, i) != 0 {
				t.Fatalf("%s not zeroed", p.Name)
			}
		}
	}
}

func TestSameTensorTwice(t *testing.T) {
	// add(s, s) = 2s: the gradient arrives twice through one node.
	in := []InputSpec{data(1, 2, 3, 3), label(1, 3, 3)}
	g, err := Build(in, []Node{
		{Name: "s", Layer: &scaleLayer{}},
		{Name: "twice", Layer: &addLayer{}, Inputs: []string{"s", "s"}},
		{Name: "loss", Layer: &sqLoss{}, Inputs: []string{"twice", "label"}},
	}, tensor.Float64)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	res, err := CheckGraph(ctx, g, []*tensor.Dense{nil, randLabels(rng, 2, 1, 3, 3)}, GraphCheckOptions{Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	checkAll(t, res, 1e-6)
}

// A strided FCN-like toy on odd sizes: zero-pad, 2×2 average pooling, upsampling,
// auto crop back to the input, a skip connection, dropout in training; checked end to
// end, and against a named output instead of the loss.
func TestCheckGraphStridedWithCrop(t *testing.T) {
	in := []InputSpec{data(2, 2, 7, 5), label(2, 7, 5)}
	nodes := []Node{
		{Name: "s1", Layer: &scaleLayer{}},
		{Name: "drop", Layer: &dropToy{}},
		{Name: "pad", Layer: &padLayer{p: 2}},
		{Name: "pool", Layer: &avgPool2{}},
		{Name: "s2", Layer: &scaleLayer{}},
		{Name: "up", Layer: &upsample{s: 2}},
		{Name: "upc", Layer: &cropLayer{auto: true}, Inputs: []string{"up", "s1"}},
		{Name: "fuse", Layer: &addLayer{}, Inputs: []string{"upc", "s1"}},
		{Name: "loss", Layer: &sqLoss{}, Inputs: []string{"fuse", "label"}},
	}
	g, err := Build(in, nodes, tensor.Float64)
	if err != nil {
		t.Fatal(err)
	}
	// By hand: pad maps x ↦ x + 2, pool x ↦ x/2 − ¼, upsample x ↦ 2x + ½; composed,
	// x ↦ 2((x + 2)/2 − ¼) + ½ = x + 2, so the crop starts at 2: 7×5 padded to 11×9,
	// pooled to 5×4, upsampled to 10×8, cropped at (2, 2) back to 7×5.
	if h, w, ok := g.CropOffset("upc"); !ok || h != 2 || w != 2 {
		t.Fatalf("offset %d,%d (ok %v), want 2,2", h, w, ok)
	}
	rng := rand.New(rand.NewPCG(8, 9))
	labels := randLabels(rng, 2, 2, 7, 5)
	for _, training := range []bool{false, true} {
		res, err := CheckGraph(ctx, g, []*tensor.Dense{nil, labels}, GraphCheckOptions{Seed: 10, Training: training, Eps: 1e-4})
		if err != nil {
			t.Fatal(err)
		}
		checkAll(t, res, 1e-6)
	}
	res, err := CheckGraph(ctx, g, []*tensor.Dense{nil, labels}, GraphCheckOptions{Seed: 11, Output: "fuse", Eps: 1e-4})
	if err != nil {
		t.Fatal(err)
	}
	checkAll(t, res, 1e-6)
}
