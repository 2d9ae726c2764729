package autodiff

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/fcn-dev/fcn/layers"
	"gorgonia.org/tensor"
)

// plainLayer hides a layer's GradAssigner, so a graph of them zeroes every gradient and
// lets each layer add into it: the reference for gradient assignment.
type plainLayer struct{ layers.Layer }

func (p plainLayer) Init(rng *rand.Rand) {
	if in, ok := p.Layer.(layers.Initializer); ok {
		in.Init(rng)
	}
}

// assignNet: data → conv1 → relu1 → pool1 → conv2 → relu2 → {conv_a, conv_b} → fuse →
// loss. Single-writer gradients (conv1's, relu1's, pool1's, conv2's, the data's and
// fuse's) are assigned; relu2's has two writers and must be zeroed and added into.
func assignNet(t *testing.T, plain bool) *Graph {
	t.Helper()
	k := func(v ...int) []int { return v }
	wrap := func(l layers.Layer) layers.Layer {
		if plain {
			return plainLayer{l}
		}
		return l
	}
	conv := func(name string, out, kernel, pad int) layers.Layer {
		return wrap(must(layers.NewConv(name, layers.ConvConfig{Out: out, Kernel: k(kernel), Pad: k(pad)})))
	}
	relu := func(name string) layers.Layer { return wrap(must(layers.NewReLU(name, layers.ReLUConfig{}))) }
	nodes := []Node{
		{Name: "conv1", Layer: conv("conv1", 4, 3, 1), Inputs: []string{"data"}},
		{Name: "relu1", Layer: relu("relu1"), Inputs: []string{"conv1"}},
		{Name: "pool1", Layer: wrap(must(layers.NewMaxPool("pool1", layers.MaxPoolConfig{Kernel: k(2), Ceil: true}))), Inputs: []string{"relu1"}},
		{Name: "conv2", Layer: conv("conv2", 5, 3, 1), Inputs: []string{"pool1"}},
		{Name: "relu2", Layer: relu("relu2"), Inputs: []string{"conv2"}},
		{Name: "conv_a", Layer: conv("conv_a", 3, 3, 1), Inputs: []string{"relu2"}},
		{Name: "conv_b", Layer: conv("conv_b", 3, 1, 0), Inputs: []string{"relu2"}},
		{Name: "fuse", Layer: wrap(must(layers.NewSum("fuse", layers.SumConfig{}))), Inputs: []string{"conv_a", "conv_b"}},
		{Name: "loss", Layer: wrap(must(layers.NewSoftmaxCrossEntropy("loss", layers.DefaultSoftmaxCrossEntropyConfig()))), Inputs: []string{"fuse", "label"}},
	}
	g, err := Build([]InputSpec{data(2, 3, 9, 7), label(2, 5, 4)}, nodes, tensor.Float64)
	if err != nil {
		t.Fatal(err)
	}
	g.Init(rand.New(rand.NewPCG(5, 6)))
	g.SetInputGrad(true)
	if err := g.SetReLUFusion(false); err != nil { // the gradient of each ReLU's output is compared too
		t.Fatal(err)
	}
	return g
}

// Gradients the graph lets layers assign equal those it zeroes and adds into, exactly,
// even when every gradient buffer holds NaN from before (nothing stale leaks through).
func TestAssignedGradientsMatchAdded(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	x, y := randInput(rng, tensor.Float64, 2, 3, 9, 7), randLabels(rng, 3, 2, 5, 4)
	run := func(g *Graph) {
		t.Helper()
		if err := g.Forward(ctx, x, y); err != nil {
			t.Fatal(err)
		}
		g.ZeroGrad()
		if err := g.Backward(ctx); err != nil {
			t.Fatal(err)
		}
	}
	ref, g := assignNet(t, true), assignNet(t, false)
	run(ref)
	run(g)
	names := append([]string{"data"}, g.Nodes()...)
	compare := func(round string) {
		t.Helper()
		for _, name := range names {
			if name == "loss" {
				continue // the seed: 1
			}
			a, b := ref.Grad(name).Float64s(), g.Grad(name).Float64s()
			for i := range a {
				if a[i] != b[i] {
					t.Fatalf("%s: gradient of %s[%d] is %v, zeroed-and-added gives %v", round, name, i, b[i], a[i])
				}
			}
		}
		for i, p := range ref.Params() {
			a, b := p.Grad.Float64s(), g.Params()[i].Grad.Float64s()
			for k := range a {
				if a[k] != b[k] {
					t.Fatalf("%s: %s grad[%d] is %v, want %v", round, p.Name, k, b[k], a[k])
				}
			}
		}
	}
	compare("first backward")
	for _, name := range names {
		if name != "loss" {
			for i := range g.Grad(name).Float64s() {
				g.Grad(name).Float64s()[i] = math.NaN()
			}
		}
	}
	run(g)
	compare("backward over NaN-filled buffers")
}

// ReLUs fused into the convolutions before them (the default) give the unfused graph's
// numbers bit for bit: every parameter gradient, the data's gradient, the loss and the
// outputs of every node (a fused conv's output is its ReLU's), over two steps so that
// buffers shared by the fusion are reused.
func TestReLUFusionMatchesUnfused(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	x, y := randInput(rng, tensor.Float64, 2, 3, 9, 7), randLabels(rng, 3, 2, 5, 4)
	ref, g := assignNet(t, false), assignNet(t, false)
	if err := g.SetReLUFusion(true); err != nil {
		t.Fatal(err)
	}
	fused := 0
	for _, n := range g.nodes {
		if n.fused {
			fused++
		}
	}
	if fused != 2 {
		t.Fatalf("%d ReLUs fused, want 2 (relu1 and relu2)", fused)
	}
	for step := range 2 {
		for _, gr := range []*Graph{ref, g} {
			if err := gr.Forward(ctx, x, y); err != nil {
				t.Fatal(err)
			}
			gr.ZeroGrad()
			if err := gr.Backward(ctx); err != nil {
				t.Fatal(err)
			}
		}
		same := func(what string, a, b []float64) {
			t.Helper()
			for i := range a {
				if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
					t.Fatalf("step %d: %s[%d] = %v fused, %v unfused", step, what, i, b[i], a[i])
				}
			}
		}
		for _, name := range g.Nodes() {
			want := ref.Value(name)
			if name == "conv1" || name == "conv2" {
				want = ref.Value("relu" + name[4:])
			}
			same(name, want.Float64s(), g.Value(name).Float64s())
		}
		same("data gradient", ref.Grad("data").Float64s(), g.Grad("data").Float64s())
		for i, p := range ref.Params() {
			same(p.Name+" gradient", p.Grad.Float64s(), g.Params()[i].Grad.Float64s())
		}
	}
}
