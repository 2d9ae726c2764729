package autodiff

// Graph-level tests with fcn's real layers: a small FCN with a skip connection, checked
// end to end in float64.

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/fcn-dev/fcn/layers"
	"gorgonia.org/tensor"
)

func must[L any](l L, err error) L {
	if err != nil {
		panic(err)
	}
	return l
}

// smallFCN is an FCN-16s in miniature on 13×11 images (odd, not a multiple of the
// stride):
//
//	conv1 k3 p3 → relu1 → pool1 (2×2, ceil) → conv2 k3 p1 → relu2 → drop
//	→ pool2 → fc k3 p0 → score_fr (1×1) → upscore2 (deconv k4 s2, learned bilinear)
//	score_pool1 (1×1 on pool1) cropped to upscore2, summed with it → upscore (deconv
//	k4 s2, frozen bilinear) → cropped to the data → loss.
//
// Crop offsets by hand (Caffe's maps, input ↦ output: conv (1, p − (k−1)/2), pool
// (½, −¼), deconv (2, 3/2), crop (1, −offset)):
//
//	score_pool1c: from score_pool1 back to pool1: identity. From upscore2 back to
//	  pool1: deconv (2, 3/2), fc (1, −1) → (2, −1/2); pool2 → (1, 2·(−¼) − ½) = (1, −1);
//	  conv2 (1, 0) keeps it. Met at pool1: shift −1, offset 1.
//	score: from upscore back to the data: deconv (2, 3/2); through fuse → score_pool1c
//	  (1, −1) → (2, −½); score_pool1 (1, 0); pool1 → (1, 2·(−¼) − ½) = (1, −1); conv1
//	  (1, 2) → (1, 1). Inverted: shift −1, offset 1.
//
// Sizes (H; W): 13;11 → conv1 17;15 → pool1 9;8 → pool2 5;4 → fc 3;2 → upscore2 8;6;
// score_pool1 9;8 cropped at 1 to 8;6; upscore 18;14 cropped at 1 to 13;11.
func smallFCN(t testing.TB, dt tensor.Dtype, n, h, w int) *Graph {
	t.Helper()
	no := false
	k := func(v ...int) []int { return v }
	conv := func(name string, out, kernel, pad int) layers.Layer {
		return must(layers.NewConv(name, layers.ConvConfig{Out: out, Kernel: k(kernel), Pad: k(pad)}))
	}
	pool := func(name string) layers.Layer {
		return must(layers.NewMaxPool(name, layers.MaxPoolConfig{Kernel: k(2), Stride: k(2), Ceil: true}))
	}
	deconv := func(name, mode string) layers.Layer {
		return must(layers.NewDeconv(name, layers.DeconvConfig{
			ConvConfig: layers.ConvConfig{Out: 3, Kernel: k(4), Stride: k(2), Bias: &no}, Mode: mode}))
	}
	in := []InputSpec{
		{Name: "data", Shape: tensor.Shape{n, 3, h, w}, Dtype: dt},
		{Name: "label", Shape: tensor.Shape{n, h, w}, Dtype: tensor.Int32},
	}
	g, err := Build(in, []Node{
		{Name: "conv1", Layer: conv("conv1", 4, 3, 3)},
		{Name: "relu1", Layer: must(layers.NewReLU("relu1", layers.ReLUConfig{}))},
		{Name: "pool1", Layer: pool("pool1")},
		{Name: "conv2", Layer: conv("conv2", 6, 3, 1)},
		{Name: "relu2", Layer: must(layers.NewReLU("relu2", layers.ReLUConfig{}))},
		{Name: "drop", Layer: must(layers.NewDropout("drop", layers.DropoutConfig{P: 0.3}))},
		{Name: "pool2", Layer: pool("pool2")},
		{Name: "fc", Layer: conv("fc", 6, 3, 0)},
		{Name: "score_fr", Layer: conv("score_fr", 3, 1, 0)},
		{Name: "upscore2", Layer: deconv("upscore2", "learned")},
		{Name: "score_pool1", Layer: conv("score_pool1", 3, 1, 0), Inputs: []string{"pool1"}},
		{Name: "score_pool1c", Layer: must(layers.NewCrop("score_pool1c", layers.CropConfig{})), Inputs: []string{"score_pool1", "upscore2"}},
		{Name: "fuse", Layer: must(layers.NewSum("fuse", layers.SumConfig{})), Inputs: []string{"upscore2", "score_pool1c"}},
		{Name: "upscore", Layer: deconv("upscore", "frozen")},
		{Name: "score", Layer: must(layers.NewCrop("score", layers.CropConfig{})), Inputs: []string{"upscore", "data"}},
		{Name: "loss", Layer: must(layers.NewSoftmaxCrossEntropy("loss", layers.DefaultSoftmaxCrossEntropyConfig())), Inputs: []string{"score", "label"}},
	}, dt)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestSmallFCNShapesAndOffsets(t *testing.T) {
	g := smallFCN(t, tensor.Float64, 2, 13, 11)
	for name, want := range map[string]tensor.Shape{
		"conv1": {2, 4, 17, 15}, "pool1": {2, 4, 9, 8}, "pool2": {2, 6, 5, 4}, "fc": {2, 6, 3, 2},
		"upscore2": {2, 3, 8, 6}, "score_pool1c": {2, 3, 8, 6}, "upscore": {2, 3, 18, 14},
		"score": {2, 3, 13, 11}, "loss": {1},
	} {
		if got := g.Shape(name); !sameShape(got, want) {
			t.Errorf("%s is %v, want %v", name, got, want)
		}
	}
	for name, want := range map[string]int{"score_pool1c": 1, "score": 1} {
		if h, w, ok := g.CropOffset(name); !ok || h != want || w != want {
			t.Errorf("%s: offset %d,%d, want %d", name, h, w, want)
		}
	}
	if g.LossNode() != "loss" {
		t.Errorf("loss node %q", g.LossNode())
	}
	s := g.Summary()
	// conv1: N·C_out·H_out·W_out·C_in·k² = 2·4·17·15·3·9 multiply-accumulates.
	if r := s.Rows[2]; r.Name != "conv1" || r.MACs != 2*4*17*15*3*9 || r.Params != 4*3*9+4 {
		t.Errorf("conv1 row %+v", r)
	}
	// upscore is frozen: its 3·3·4·4 weights count as parameters, not trainable.
	if s.Params-s.Trainable != 3*3*4*4 {
		t.Errorf("%d params, %d trainable: want the frozen upscore's 144 apart", s.Params, s.Trainable)
	}
	text := s.String()
	for _, want := range []string{"score_pool1c  crop", "1,1 (auto)", "upscore2      deconv"} {
		if !strings.Contains(text, want) {
			t.Errorf("summary lacks %q:\n%s", want, text)
		}
	}
}

func TestSmallFCNGradients(t *testing.T) {
	g := smallFCN(t, tensor.Float64, 2, 13, 11)
	rng := rand.New(rand.NewPCG(21, 22))
	g.Init(rng)
	// Biases start at zero, which puts every relu of conv1's padded border exactly on
	// its kink, where a finite difference is half a slope: move them off it.
	for _, p := range g.Params() {
		if strings.HasSuffix(p.Name, ".bias") {
			fillUniform(rng, p.Value.Float64s())
		}
	}
	// Most pixels ignored: a finite difference cannot resolve a gradient finer than
	// ulp(L)/h, and with few valid pixels each one's share of the mean loss — and so
	// the gradients of the inputs under it — grows relative to L. The step 3e-5 keeps
	// that rounding error two orders below the gradients compared, and is still too
	// small to carry a relu or a max across its kink at this seed.
	labels := randLabels(rng, 3, 2, 13, 11)
	for i := range labels.Int32s() {
		if rng.Float64() < 0.9 {
			labels.Int32s()[i] = 255
		}
	}
	for _, training := range []bool{true, false} {
		res, err := CheckGraph(ctx, g, []*tensor.Dense{nil, labels},
			GraphCheckOptions{Seed: 23, Training: training, KeepParams: true, Eps: 3e-5})
		if err != nil {
			t.Fatal(err)
		}
		checkAll(t, res, 1e-6)
		if len(res) != 1+2*5+1 { // data, 5 convs' weight and bias, upscore2's weight
			var names []string
			for _, r := range res {
				names = append(names, r.Tensor)
			}
			t.Errorf("checked %v", names)
		}
	}
}

// BatchNorm through the graph, in training (batch statistics) and evaluation mode,
// with its output fanning out to two branches. In training every input reaches every
// output through the batch statistics, so the smallest gradients compared sit near the
// rounding floor ulp(L)/h: the step is 3e-5 rather than 1e-6.
func TestBatchNormInGraphGradients(t *testing.T) {
	no := false
	in := []InputSpec{{Name: "data", Shape: tensor.Shape{2, 2, 5, 4}, Dtype: tensor.Float64}, label(2, 5, 4)}
	g, err := Build(in, []Node{
		// No bias before a batchnorm: in training the batch mean cancels it, so its
		// gradient is exactly zero and a relative error there is meaningless.
		{Name: "conv1", Layer: must(layers.NewConv("conv1", layers.ConvConfig{Out: 3, Kernel: []int{3}, Pad: []int{1}, Bias: &no}))},
		{Name: "bn", Layer: must(layers.NewBatchNorm("bn", layers.DefaultBatchNormConfig()))},
		{Name: "relu", Layer: must(layers.NewReLU("relu", layers.ReLUConfig{}))},
		{Name: "conv2", Layer: must(layers.NewConv("conv2", layers.ConvConfig{Out: 3, Kernel: []int{1}})), Inputs: []string{"bn"}},
		{Name: "sum", Layer: must(layers.NewSum("sum", layers.SumConfig{Coeffs: []float64{1, 0.5}})), Inputs: []string{"relu", "conv2"}},
		{Name: "loss", Layer: must(layers.NewSoftmaxCrossEntropy("loss", layers.DefaultSoftmaxCrossEntropyConfig())), Inputs: []string{"sum", "label"}},
	}, tensor.Float64)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(51, 52))
	labels := randLabels(rng, 3, 2, 5, 4)
	for _, training := range []bool{true, false} {
		res, err := CheckGraph(ctx, g, []*tensor.Dense{nil, labels}, GraphCheckOptions{Seed: 53, Training: training, Eps: 3e-5})
		if err != nil {
			t.Fatal(err)
		}
		checkAll(t, res, 1e-6)
	}
}

func TestSmallFCNFrozenTrunk(t *testing.T) {
	// With conv1 and conv2 frozen, nothing before fc learns: the graph runs no
	// backward there, and the parameters still learning get the same gradients.
	g := smallFCN(t, tensor.Float64, 1, 13, 11)
	rng := rand.New(rand.NewPCG(31, 32))
	g.Init(rng)
	x, y := randInput(rng, tensor.Float64, 1, 3, 13, 11), randLabels(rng, 3, 1, 13, 11)
	g.SetTraining(false)
	grads := func() map[string][]float64 {
		if err := g.Forward(ctx, x, y); err != nil {
			t.Fatal(err)
		}
		g.ZeroGrad()
		if err := g.Backward(ctx); err != nil {
			t.Fatal(err)
		}
		m := map[string][]float64{}
		for _, p := range g.Params() {
			m[p.Name] = append([]float64(nil), p.Grad.Float64s()...)
		}
		return m
	}
	all := grads()
	for _, p := range g.Params() {
		if p.Node == "conv1" || p.Node == "conv2" {
			p.LRMult = 0
		}
	}
	part := grads()
	if g.Grad("pool2") != nil || g.Grad("conv1") != nil {
		t.Error("gradients computed upstream of the first learning layer")
	}
	for name, want := range all {
		got := part[name]
		frozen := strings.HasPrefix(name, "conv1.") || strings.HasPrefix(name, "conv2.")
		for i := range want {
			if frozen && got[i] != 0 || !frozen && got[i] != want[i] {
				t.Fatalf("%s[%d] = %v (all learning: %v)", name, i, got[i], want[i])
			}
		}
	}
}

func TestSmallFCNAllocs(t *testing.T) {
	g := smallFCN(t, tensor.Float32, 2, 13, 11)
	rng := rand.New(rand.NewPCG(41, 42))
	g.Init(rng)
	g.SetTraining(true)
	x, y := randInput(rng, tensor.Float32, 2, 3, 13, 11), randLabels(rng, 3, 2, 13, 11)
	step := uint64(0)
	run := func() {
		g.SetSeed(1, step)
		step++
		if err := g.Forward(ctx, x, y); err != nil {
			t.Fatal(err)
		}
		g.ZeroGrad()
		if err := g.Backward(ctx); err != nil {
			t.Fatal(err)
		}
	}
	run()
	if a := testing.AllocsPerRun(10, run); a != 0 {
		t.Errorf("a training step of the small FCN allocates %v times", a)
	}
}

func TestRealLayerShapeMismatchMessage(t *testing.T) {
	// The example: the sum of upscore2 (16×16) and an uncropped score_pool3
	// (15×15) names both inputs and their shapes.
	no := false
	in := []InputSpec{{Name: "data", Shape: tensor.Shape{1, 3, 16, 16}, Dtype: tensor.Float32}}
	_, err := Build(in, []Node{
		{Name: "score_fr", Layer: must(layers.NewConv("score_fr", layers.ConvConfig{Out: 21, Kernel: []int{1}, Stride: []int{2}}))},
		{Name: "upscore2", Layer: must(layers.NewDeconv("upscore2", layers.DeconvConfig{
			ConvConfig: layers.ConvConfig{Out: 21, Kernel: []int{4}, Stride: []int{2}, Pad: []int{1}, Bias: &no}}))},
		{Name: "score_pool3", Layer: must(layers.NewConv("score_pool3", layers.ConvConfig{Out: 21, Kernel: []int{2}})), Inputs: []string{"data"}},
		{Name: "fuse", Layer: must(layers.NewSum("fuse", layers.SumConfig{})), Inputs: []string{"upscore2", "score_pool3"}},
	}, tensor.Float32)
	if err == nil || !strings.HasPrefix(err.Error(), "fuse: upscore2 is 21×16×16 but score_pool3 is 21×15×15") {
		t.Errorf("error %v", err)
	}
}

// The FCN reference offsets again, with fcn's own conv, maxpool (ceil), deconv, crop
// and sum supplying the coordinate maps (2 channels throughout: the geometry does not
// depend on them). Built, not run.
func TestFCN8sOffsetsWithRealLayers(t *testing.T) {
	no := false
	k := func(v ...int) []int { return v }
	var nodes []Node
	add := func(name string, l layers.Layer, err error, inputs ...string) {
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, Node{Name: name, Layer: l, Inputs: inputs})
	}
	conv := func(name string, kernel, pad int, inputs ...string) {
		l, err := layers.NewConv(name, layers.ConvConfig{Out: 2, Kernel: k(kernel), Pad: k(pad)})
		add(name, l, err, inputs...)
	}
	for b, n := range []int{2, 2, 3, 3, 3} {
		for i := 1; i <= n; i++ {
			pad := 1
			if b == 0 && i == 1 {
				pad = 100
			}
			conv(fmt.Sprintf("conv%d_%d", b+1, i), 3, pad)
			r, err := layers.NewReLU(fmt.Sprintf("relu%d_%d", b+1, i), layers.ReLUConfig{})
			add(r.Name(), r, err)
		}
		p, err := layers.NewMaxPool(fmt.Sprintf("pool%d", b+1), layers.MaxPoolConfig{Kernel: k(2), Stride: k(2), Ceil: true})
		add(p.Name(), p, err)
	}
	conv("fc6", 7, 0)
	conv("fc7", 1, 0)
	conv("score_fr", 1, 0)
	deconv := func(name string, kernel, stride int) {
		l, err := layers.NewDeconv(name, layers.DeconvConfig{
			ConvConfig: layers.ConvConfig{Out: 2, Kernel: k(kernel), Stride: k(stride), Bias: &no}, Mode: "frozen"})
		add(name, l, err)
	}
	crop := func(name, from, to string) {
		l, err := layers.NewCrop(name, layers.CropConfig{})
		add(name, l, err, from, to)
	}
	sum := func(name, a, b string) {
		l, err := layers.NewSum(name, layers.SumConfig{})
		add(name, l, err, a, b)
	}
	deconv("upscore2", 4, 2)
	conv("score_pool4", 1, 0, "pool4")
	crop("score_pool4c", "score_pool4", "upscore2")
	sum("fuse_pool4", "upscore2", "score_pool4c")
	deconv("upscore_pool4", 4, 2)
	conv("score_pool3", 1, 0, "pool3")
	crop("score_pool3c", "score_pool3", "upscore_pool4")
	sum("fuse_pool3", "upscore_pool4", "score_pool3c")
	deconv("upscore8", 16, 8)
	crop("score", "upscore8", "data")

	g, err := Build([]InputSpec{{Name: "data", Shape: tensor.Shape{1, 3, 500, 500}, Dtype: tensor.Float32}}, nodes, tensor.Float32)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]int{"score_pool4c": 5, "score_pool3c": 9, "score": 31} {
		if h, w, ok := g.CropOffset(name); !ok || h != want || w != want {
			t.Errorf("%s: offset %d,%d, want %d", name, h, w, want)
		}
	}
	if got := g.Shape("score"); !sameShape(got, tensor.Shape{1, 2, 500, 500}) {
		t.Errorf("output %v, want 1×2×500×500", got)
	}
}
