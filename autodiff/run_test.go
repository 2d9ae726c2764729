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

// toyFCN is a float32 net in the shape of an FCN: scale → dropout → pad → pool →
// scale (score) → upsample → auto crop to the trunk → sum with a skip → loss.
func toyFCN(t testing.TB, dt tensor.Dtype, h, w int) *Graph {
	t.Helper()
	in := []InputSpec{{Name: "data", Shape: tensor.Shape{2, 3, h, w}, Dtype: dt}, label(2, h, w)}
	g, err := Build(in, []Node{
		{Name: "conv1", Layer: &scaleLayer{}},
		{Name: "drop", Layer: &dropToy{training: true, seeds: make([]uint64, 0, 16)}},
		{Name: "pad", Layer: &padLayer{p: 2}},
		{Name: "pool", Layer: &avgPool2{}},
		{Name: "score", Layer: &scaleLayer{}},
		{Name: "up", Layer: &upsample{s: 2}},
		{Name: "upc", Layer: &cropLayer{auto: true}, Inputs: []string{"up", "conv1"}},
		{Name: "fuse", Layer: &addLayer{}, Inputs: []string{"upc", "conv1"}},
		{Name: "loss", Layer: &sqLoss{}, Inputs: []string{"fuse", "label"}},
	}, dt)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestSteadyStateAllocs(t *testing.T) {
	g := toyFCN(t, tensor.Float32, 9, 7)
	rng := rand.New(rand.NewPCG(1, 1))
	x, y := randInput(rng, tensor.Float32, 2, 3, 9, 7), randLabels(rng, 3, 2, 9, 7)
	g.Init(rng)
	g.SetTraining(true)
	step := uint64(0)
	run := func() {
		g.SetSeed(42, step)
		step++
		if err := g.Forward(ctx, x, y); err != nil {
			t.Fatal(err)
		}
		g.ZeroGrad()
		if err := g.Backward(ctx); err != nil {
			t.Fatal(err)
		}
		_ = g.Loss()
	}
	run() // first backward allocates the gradient buffers
	if a := testing.AllocsPerRun(20, run); a != 0 {
		t.Errorf("steady-state step allocates %v times", a)
	}
	// After switching to another size and back, the buffers are reused.
	x2, y2 := randInput(rng, tensor.Float32, 2, 3, 6, 6), randLabels(rng, 3, 2, 6, 6)
	if err := g.Forward(ctx, x2, y2); err != nil {
		t.Fatal(err)
	}
	run()
	if a := testing.AllocsPerRun(20, run); a != 0 {
		t.Errorf("step after a reshape round trip allocates %v times", a)
	}
}

func TestReshape(t *testing.T) {
	g := toyFCN(t, tensor.Float64, 9, 7)
	rng := rand.New(rand.NewPCG(2, 2))
	g.Init(rng)
	conv1 := g.Layer("conv1").(*scaleLayer)
	up := g.Layer("up").(*upsample)
	w0 := get(conv1.w.Value, 1)
	params := g.Params()

	// The same shapes: nothing is set up again.
	setups := conv1.setups
	if err := g.Reshape(tensor.Shape{2, 3, 9, 7}, tensor.Shape{2, 9, 7}); err != nil {
		t.Fatal(err)
	}
	x, y := randInput(rng, tensor.Float64, 2, 3, 9, 7), randLabels(rng, 3, 2, 9, 7)
	if err := g.Forward(ctx, x, y); err != nil {
		t.Fatal(err)
	}
	if conv1.setups != setups {
		t.Errorf("Setup ran %d more times for unchanged shapes", conv1.setups-setups)
	}

	// Batch 1 at another size: every node is set up again, parameters kept.
	x, y = randInput(rng, tensor.Float64, 1, 3, 12, 5), randLabels(rng, 3, 1, 12, 5)
	if err := g.Forward(ctx, x, y); err != nil {
		t.Fatal(err)
	}
	if conv1.setups != setups+1 || up.setups != 2 {
		t.Errorf("setups: conv1 %d (want %d), up %d (want 2)", conv1.setups, setups+1, up.setups)
	}
	if got := g.Shape("fuse"); !sameShape(got, tensor.Shape{1, 3, 12, 5}) {
		t.Errorf("fuse is %v, want 1×3×12×5", got)
	}
	if got := g.Value("fuse").Shape(); !sameShape(got, tensor.Shape{1, 3, 12, 5}) {
		t.Errorf("fuse tensor is %v", got)
	}
	if get(conv1.w.Value, 1) != w0 {
		t.Error("parameters changed on reshape")
	}
	for i, p := range g.Params() {
		if p.Param != params[i].Param {
			t.Errorf("%s: a new *Param after reshape", p.Name)
		}
	}
	// Gradients at the new size are right.
	res, err := CheckGraph(ctx, g, []*tensor.Dense{x, y}, GraphCheckOptions{Seed: 3, Eps: 1e-4})
	if err != nil {
		t.Fatal(err)
	}
	checkAll(t, res, 1e-6)

	// Only the nodes whose input shapes change are set up: a label-only change
	// touches nothing but the loss.
	g2, err := Build([]InputSpec{data(1, 2, 4, 4), {Name: "aux", Shape: tensor.Shape{1, 2, 4, 4}, Dtype: tensor.Float64}},
		[]Node{{Name: "a", Layer: &squareLayer{}}, {Name: "b", Layer: &squareLayer{}, Inputs: []string{"aux"}}}, tensor.Float64)
	if err != nil {
		t.Fatal(err)
	}
	if err := g2.Reshape(tensor.Shape{1, 2, 4, 4}, tensor.Shape{1, 2, 3, 3}); err != nil {
		t.Fatal(err)
	}
	if a, b := g2.Layer("a").(*squareLayer).setups, g2.Layer("b").(*squareLayer).setups; a != 1 || b != 2 {
		t.Errorf("setups a=%d b=%d, want 1 and 2", a, b)
	}
}

func TestReshapeErrors(t *testing.T) {
	g := toyFCN(t, tensor.Float64, 9, 7)
	// Labels of another size: the error names the node and both shapes, and the
	// graph recovers at a good size.
	err := g.Reshape(tensor.Shape{2, 3, 9, 7}, tensor.Shape{2, 9, 8})
	if err == nil || !strings.Contains(err.Error(), "loss: fuse is 3×9×7 but label is 9×8: sqloss") {
		t.Errorf("error %v", err)
	}
	rng := rand.New(rand.NewPCG(4, 4))
	x, y := randInput(rng, tensor.Float64, 2, 3, 9, 7), randLabels(rng, 3, 2, 9, 7)
	if err := g.Backward(ctx); err == nil {
		t.Error("Backward after a failed reshape succeeded")
	}
	if err := g.Forward(ctx, x, y); err != nil {
		t.Fatalf("forward after a failed reshape: %v", err)
	}
	if err := g.Reshape(tensor.Shape{2, 3, 9}); err == nil {
		t.Error("reshape with a missing shape succeeded")
	}
	if err := g.Reshape(tensor.Shape{2, 3, 0, 7}, tensor.Shape{2, 0, 7}); err == nil || !strings.Contains(err.Error(), `"data"`) {
		t.Errorf("reshape to a zero size: %v", err)
	}
}

func TestForwardBackwardErrors(t *testing.T) {
	g := toyFCN(t, tensor.Float64, 4, 4)
	rng := rand.New(rand.NewPCG(5, 5))
	x, y := randInput(rng, tensor.Float64, 2, 3, 4, 4), randLabels(rng, 3, 2, 4, 4)
	x32 := randInput(rng, tensor.Float32, 2, 3, 4, 4)
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"backward first", g.Backward(ctx), "backward before forward"},
		{"missing input", g.Forward(ctx, x), "1 inputs, the graph has 2 (data, label)"},
		{"nil input", g.Forward(ctx, x, nil), `"label" is nil`},
		{"wrong dtype", g.Forward(ctx, x32, y), `"data" is float32, want float64`},
		{"cancelled", g.Forward(cancelled(), x, y), "forward stopped before conv1: context canceled"},
		{"unknown seed", g.BackwardFrom(ctx, "fsue", nil), `"fsue": not a node (did you mean "fuse"?)`},
		{"seed on input", g.BackwardFrom(ctx, "data", nil), `"data": not a node`},
		{"bad dOut", g.BackwardFrom(ctx, "fuse", y), `dOut must be float64 2×3×4×4`},
		{"loss not scalar", g.SetLossNode("fuse"), "want a single element"},
	}
	for _, tc := range tests {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, tc.err, tc.want)
		}
	}
	if err := g.Forward(cancelled(), x, y); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled forward: %v does not wrap context.Canceled", err)
	}
	if err := g.Forward(ctx, x, y); err != nil {
		t.Fatal(err)
	}
	if err := g.Backward(cancelled()); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled backward: %v", err)
	}
	// No loss: Backward says so, BackwardFrom works.
	g2, err := Build([]InputSpec{data(1, 1, 2, 2)}, []Node{{Name: "s", Layer: &scaleLayer{}}}, tensor.Float64)
	if err != nil {
		t.Fatal(err)
	}
	if err := g2.Forward(ctx, randInput(rng, tensor.Float64, 1, 1, 2, 2)); err != nil {
		t.Fatal(err)
	}
	if err := g2.Backward(ctx); err == nil || !strings.Contains(err.Error(), "no loss node") {
		t.Errorf("backward without a loss: %v", err)
	}
	if !math.IsNaN(g2.Loss()) {
		t.Error("Loss without a loss node is not NaN")
	}
}

func cancelled() context.Context {
	c, cancel := context.WithCancel(context.Background())
	cancel()
	return c
}

func TestGradientSkipping(t *testing.T) {
	// data → sq (no params) → s (params) → side (a sink, not the loss) and → loss.
	// sq needs no gradient: s gets a nil dIn and sq's Backward never runs; side is
	// not upstream of the loss, so its Backward never runs either.
	in := []InputSpec{data(1, 2, 3, 3), label(1, 3, 3)}
	sq, s, side, loss := &squareLayer{}, &scaleLayer{}, &scaleLayer{}, &sqLoss{}
	g, err := Build(in, []Node{
		{Name: "sq", Layer: sq},
		{Name: "s", Layer: s},
		{Name: "side", Layer: side, Inputs: []string{"s"}},
		{Name: "loss", Layer: loss, Inputs: []string{"s", "label"}},
	}, tensor.Float64)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(6, 6))
	x, y := randInput(rng, tensor.Float64, 1, 2, 3, 3), randLabels(rng, 2, 1, 3, 3)
	if err := g.Forward(ctx, x, y); err != nil {
		t.Fatal(err)
	}
	if err := g.Backward(ctx); err != nil {
		t.Fatal(err)
	}
	if sq.backwards != 0 || side.backwards != 0 {
		t.Errorf("backward ran on sq %d times, side %d times; want 0", sq.backwards, side.backwards)
	}
	if s.backwards != 1 || len(s.dInNil) != 1 || !s.dInNil[0] {
		t.Errorf("s: %d backwards, dIn nil %v; want 1, [true]", s.backwards, s.dInNil)
	}
	if len(loss.dInNil) != 2 || loss.dInNil[0] || !loss.dInNil[1] {
		t.Errorf("loss dIn nil %v, want [false true] (labels get none)", loss.dInNil)
	}
	if g.Grad("sq") != nil || g.Grad("data") != nil || g.Grad("s") == nil {
		t.Error("Grad: want nil for sq and data, a tensor for s")
	}
	// Freezing s leaves nothing to learn upstream of the loss.
	for _, p := range s.Params() {
		p.LRMult = 0
	}
	if err := g.Backward(ctx); err != nil {
		t.Fatal(err)
	}
	if s.backwards != 1 {
		t.Error("backward ran on a frozen layer with nothing to learn upstream")
	}
	// Input gradients on: everything from the data needs a gradient.
	g.SetInputGrad(true)
	if err := g.Backward(ctx); err != nil {
		t.Fatal(err)
	}
	if sq.backwards != 1 || sq.dInNil[0] || g.Grad("data") == nil {
		t.Errorf("with input gradients: sq backwards %d, dIn nil %v", sq.backwards, sq.dInNil)
	}
	// Backward from the side branch runs side, not the loss.
	dOut := randInput(rng, tensor.Float64, 1, 2, 3, 3)
	if err := g.BackwardFrom(ctx, "side", dOut); err != nil {
		t.Fatal(err)
	}
	if side.backwards != 1 || loss.backwards != 2 {
		t.Errorf("backward from side: side %d, loss %d backwards; want 1, 2", side.backwards, loss.backwards)
	}
}

func TestSeedsAndTraining(t *testing.T) {
	// SplitMix64's published reference output for the state 1234567.
	want := []uint64{6457827717110365317, 3203168211198807973, 9817491932198370423, 4593380528125082431, 16408922859458223821}
	state := uint64(1234567)
	for i, w := range want {
		if got := splitmix64(state); got != w {
			t.Errorf("splitmix64 output %d = %d, want %d", i, got, w)
		}
		state += 0x9e3779b97f4a7c15
	}

	g := toyFCN(t, tensor.Float64, 6, 6)
	drop := g.Layer("drop").(*dropToy)
	if drop.training || g.Training() {
		t.Error("Build left a layer in training mode")
	}
	idx := 1 // drop is the second node
	g.SetSeed(7, 3)
	g.SetSeed(7, 3)
	g.SetSeed(7, 4)
	g.SetSeed(8, 3)
	s := drop.seeds
	if s[0] != s[1] || s[0] == s[2] || s[0] == s[3] || s[2] == s[3] {
		t.Errorf("seeds %v: want equal for equal (run, step), distinct otherwise", s)
	}
	if s[0] != NodeSeed(7, 3, idx) || NodeSeed(7, 3, idx) == NodeSeed(7, 3, idx+1) {
		t.Error("node seeds do not depend on the node index")
	}

	// Same seed, same bits; another step, another mask.
	rng := rand.New(rand.NewPCG(9, 9))
	g.Init(rng)
	x, y := randInput(rng, tensor.Float64, 2, 3, 6, 6), randLabels(rng, 3, 2, 6, 6)
	g.SetTraining(true)
	if !drop.training || !g.Training() {
		t.Fatal("SetTraining(true) did not reach the dropout layer")
	}
	outAt := func(step uint64) []float64 {
		g.SetSeed(1, step)
		if err := g.Forward(ctx, x, y); err != nil {
			t.Fatal(err)
		}
		return append([]float64(nil), g.Value("drop").Float64s()...)
	}
	a, b, c := outAt(5), outAt(5), outAt(6)
	same := func(p, q []float64) bool {
		for i := range p {
			if math.Float64bits(p[i]) != math.Float64bits(q[i]) {
				return false
			}
		}
		return true
	}
	if !same(a, b) || same(a, c) {
		t.Error("dropout masks: want the same for one seed and step, different for another step")
	}
	g.SetTraining(false)
	if drop.training {
		t.Error("SetTraining(false) did not reach the dropout layer")
	}
	if !same(outAt(5), g.Value("conv1").Float64s()) {
		t.Error("dropout in evaluation is not the identity")
	}
}

func TestParamsAndInit(t *testing.T) {
	g := toyFCN(t, tensor.Float64, 4, 4)
	ps := g.Params()
	var names []string
	for _, p := range ps {
		names = append(names, p.Name)
		if p.LRMult != 1 || p.DecayMult != 1 || p.Node+"."+strings.SplitN(p.Name, ".", 2)[1] != p.Name {
			t.Errorf("%s: node %s, multipliers %v %v", p.Name, p.Node, p.LRMult, p.DecayMult)
		}
	}
	if got, want := strings.Join(names, ","), "conv1.weight,conv1.bias,score.weight,score.bias"; got != want {
		t.Errorf("params %s, want %s", got, want)
	}
	// Init draws in node order from one stream: conv1's weights first, then score's.
	g.Init(rand.New(rand.NewPCG(1, 2)))
	rng := rand.New(rand.NewPCG(1, 2))
	for _, p := range []*NamedParam{&ps[0], &ps[2]} {
		for i := range 3 {
			if want := 0.5 + rng.Float64(); get(p.Value, i) != want {
				t.Fatalf("%s[%d] = %v, want %v", p.Name, i, get(p.Value, i), want)
			}
		}
	}
}

func TestSummary(t *testing.T) {
	g, err := Build([]InputSpec{data(1, 3, 20, 20)}, []Node{
		{Name: "conv", Layer: &geom{kind: "conv", k: 3, s: 1, p: 100}},
		{Name: "s", Layer: &scaleLayer{}},
		{Name: "pool", Layer: &geom{kind: "pool", k: 2, s: 2}},
		{Name: "up", Layer: &geom{kind: "deconv", k: 4, s: 2}},
		{Name: "crop", Layer: &cropLayer{auto: true}, Inputs: []string{"up", "data"}},
		{Name: "fixed", Layer: &cropLayer{off: [2]int{1, 2}}, Inputs: []string{"up", "data"}},
	}, tensor.Float64)
	if err != nil {
		t.Fatal(err)
	}
	g.Layer("s").(*scaleLayer).b.LRMult = 0
	sum := g.Summary()
	if len(sum.Rows) != 7 {
		t.Fatalf("%d rows, want 7", len(sum.Rows))
	}
	r := sum.Rows[2] // s
	if r.Name != "s" || r.Type != "scale" || r.Params != 6 || r.Trainable != 3 || !sameShape(r.Shape, tensor.Shape{1, 3, 218, 218}) {
		t.Errorf("row s: %+v", r)
	}
	if c := sum.Rows[5]; !c.HasOffset || c.Offset != [2]int{100, 100} || !c.Auto {
		t.Errorf("row crop: %+v", c)
	}
	if c := sum.Rows[6]; !c.HasOffset || c.Offset != [2]int{1, 2} || c.Auto {
		t.Errorf("row fixed: %+v", c)
	}
	// geom reports k² MACs: 9 + 4 + 16.
	if sum.Params != 6 || sum.Trainable != 3 || sum.TotalMACs != 29 {
		t.Errorf("totals %d params, %d trainable, %d MACs", sum.Params, sum.Trainable, sum.TotalMACs)
	}
	text := sum.String()
	for _, want := range []string{
		"layer  type", "crop offset",
		"data   input", "1×3×20×20",
		"s      scale   conv", "6 (3 frozen)",
		"crop   crop    up,data  1×3×20×20", "100,100 (auto)",
		"1,2\n",
		"total: 6 parameters (3 trainable), 29 MACs per forward",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("summary lacks %q:\n%s", want, text)
		}
	}
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1k", 15300000: "15.3M", 2_500_000_000: "2.5G"} {
		if got := humanCount(n); got != want {
			t.Errorf("humanCount(%d) = %s, want %s", n, got, want)
		}
	}
}
