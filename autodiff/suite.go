package autodiff

// The gradient-check suite behind `fcn gradcheck`: every layer type on odd sizes,
// strides, padding, dilation, groups and batches, plus a whole small FCN, each case
// compared with central finite differences in float64.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/fcn-dev/fcn/layers"
	"gorgonia.org/tensor"
)

// SuiteTol is the largest max relative error a tensor may show and pass.
const SuiteTol = 1e-6

// epsGraph is the whole graph's finite-difference step (see fcnCases); each layer type's
// cases carry their own (layers.EpsLinear and its siblings).
const epsGraph = 1e-4

// SuiteCase is one named gradient check of the suite.
type SuiteCase struct {
	Layer string  // layer type as in experiment files ("conv", ...), or "graph"
	Name  string  // unique within Layer
	Eps   float64 // finite-difference step
	// Want lists the tensors the case must compare, in order: inputs ("input0", ...
	// or the graph's input names) and parameters. A check comparing other tensors is
	// an error, so a layer that stops listing a parameter cannot pass unnoticed.
	Want []string

	check func(ctx context.Context, eps float64) ([]GradResult, error)
}

// ID is "layer/name", what `fcn gradcheck --run` matches.
func (c SuiteCase) ID() string { return c.Layer + "/" + c.Name }

// SuiteResult is the outcome for one tensor of one case.
type SuiteResult struct {
	Layer     string  `json:"layer"`
	Case      string  `json:"case"`
	Tensor    string  `json:"tensor"`
	N         int     `json:"n"`
	MaxRelErr float64 `json:"max_rel_err"`
	MaxAbsErr float64 `json:"max_abs_err"`
	Eps       float64 `json:"eps"`
	Passed    bool    `json:"passed"`
}

// MarshalJSON writes the result as its tagged fields; an error that is NaN or
// infinite (JSON has no such numbers) is written as the string "NaN", "+Inf" or
// "-Inf", so that a reader expecting a number fails rather than reading 0.
func (r SuiteResult) MarshalJSON() ([]byte, error) {
	num := func(v float64) any {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Sprint(v)
		}
		return v
	}
	return json.Marshal(struct {
		Layer     string `json:"layer"`
		Case      string `json:"case"`
		Tensor    string `json:"tensor"`
		N         int    `json:"n"`
		MaxRelErr any    `json:"max_rel_err"`
		MaxAbsErr any    `json:"max_abs_err"`
		Eps       any    `json:"eps"`
		Passed    bool   `json:"passed"`
	}{r.Layer, r.Case, r.Tensor, r.N, num(r.MaxRelErr), num(r.MaxAbsErr), num(r.Eps), r.Passed})
}

// Run runs the case and reports one result per tensor compared. A result passes when
// its max relative error is below SuiteTol (NaN fails).
func (c SuiteCase) Run(ctx context.Context) ([]SuiteResult, error) {
	if c.check == nil {
		return nil, fmt.Errorf("gradcheck %s: the case has no check", c.ID())
	}
	res, err := c.check(ctx, c.Eps)
	if err != nil {
		return nil, fmt.Errorf("gradcheck %s: %w", c.ID(), err)
	}
	got := make([]string, len(res))
	for i, r := range res {
		got[i] = r.Tensor
	}
	if !slices.Equal(got, c.Want) {
		return nil, fmt.Errorf("gradcheck %s: compared %v, want %v", c.ID(), got, c.Want)
	}
	out := make([]SuiteResult, len(res))
	for i, r := range res {
		out[i] = SuiteResult{
			Layer: c.Layer, Case: c.Name, Tensor: r.Tensor, N: r.N,
			MaxRelErr: r.MaxRelErr, MaxAbsErr: r.MaxAbsErr, Eps: c.Eps,
			Passed: r.N > 0 && r.MaxRelErr < SuiteTol,
		}
	}
	return out, nil
}

// RunSuite runs every case of GradSuite; see RunCases.
func RunSuite(ctx context.Context) ([]SuiteResult, error) {
	return RunCases(ctx, GradSuite())
}

// RunCases runs the cases on GOMAXPROCS goroutines and returns their results in case
// order, whatever the scheduling. Each case builds its own layers and draws from its own
// seeds, so the numbers do not depend on the goroutine count either. The first error
// (a case that could not run, or ctx's) stops the remaining cases and is returned.
func RunCases(ctx context.Context, cases []SuiteCase) ([]SuiteResult, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	per := make([][]SuiteResult, len(cases))
	errs := make([]error, len(cases))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(cases)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := ctx.Err(); err != nil {
					errs[i] = err
					continue
				}
				per[i], errs[i] = cases[i].Run(ctx)
				if errs[i] != nil {
					cancel()
				}
			}
		}()
	}
	for i := range cases {
		next <- i
	}
	close(next)
	wg.Wait()
	// Report the first error in case order, preferring a case's own over the
	// cancellation it caused in the others.
	var first error
	for _, err := range errs {
		if err != nil && (first == nil || errors.Is(first, context.Canceled) && !errors.Is(err, context.Canceled)) {
			first = err
		}
	}
	if first != nil {
		return nil, first
	}
	var out []SuiteResult
	for _, r := range per {
		out = append(out, r...)
	}
	return out, nil
}

// GradSuite returns the suite's cases in a fixed order: the cases of every registered
// layer type (layers.Types, by name), then the whole small graph. Every call returns
// fresh cases: each builds its layers when it runs.
func GradSuite() []SuiteCase {
	var cs []SuiteCase
	for _, t := range layers.Types() {
		if t.GradCases == nil {
			continue
		}
		for _, c := range t.GradCases() {
			cs = append(cs, layerCase(t.Name, c))
		}
	}
	return append(cs, fcnCases()...)
}

// layerCase turns a layer type's case into a suite case running CheckLayer. The layer is
// built afresh on every run, so a case can run again or alongside others.
func layerCase(layer string, c layers.GradCase) SuiteCase {
	return SuiteCase{Layer: layer, Name: c.Name, Eps: c.Eps, Want: c.Want,
		check: func(ctx context.Context, eps float64) ([]GradResult, error) {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			l, err := c.Make()
			if err != nil {
				return nil, err
			}
			opt := CheckOptions{Eps: eps, Seed: c.Seed, Training: c.Training, KeepParams: c.KeepParams}
			if c.Inputs != nil {
				opt.Inputs = c.Inputs()
			}
			return CheckLayer(l, c.In, opt)
		}}
}

// fcnGraph builds an FCN-16s in miniature in float64 on n×3×13×11 images (odd, not a
// multiple of the stride):
//
//	conv1 k3 p3 → relu1 → pool1 (2×2, ceil) → conv2 k3 p1 → relu2 → drop (p 0.3)
//	→ pool2 → fc k3 → score_fr 1×1 → upscore2 (deconv k4 s2, learned bilinear);
//	score_pool1 (1×1 on pool1, auto-cropped to upscore2) + upscore2 → fuse (sum,
//	coeffs 1 and 0.5) → upscore (deconv k4 s2, frozen bilinear) → score (auto crop to
//	the data) → loss (softmax cross-entropy, ignore 255).
//
// Sizes (H; W): 13;11 → conv1 17;15 → pool1 9;8 → pool2 5;4 → fc 3;2 → upscore2 8;6;
// score_pool1 9;8 cropped to 8;6; upscore 18;14 cropped to 13;11.
func fcnGraph(n int) (*Graph, error) {
	var err error
	keep := func(l layers.Layer, e error) layers.Layer {
		if err == nil {
			err = e
		}
		return l
	}
	conv := func(name string, out, k, p int) layers.Layer {
		return keep(layers.NewConv(name, layers.ConvConfig{Out: out, Kernel: ints(k), Pad: ints(p)}))
	}
	pool := func(name string) layers.Layer {
		return keep(layers.NewMaxPool(name, layers.MaxPoolConfig{Kernel: ints(2), Stride: ints(2), Ceil: true}))
	}
	deconv := func(name, mode string) layers.Layer {
		return keep(layers.NewDeconv(name, layers.DeconvConfig{
			ConvConfig: layers.ConvConfig{Out: 3, Kernel: ints(4), Stride: ints(2), Bias: boolPtr(false)}, Mode: mode}))
	}
	nodes := []Node{
		{Name: "conv1", Layer: conv("conv1", 4, 3, 3)},
		{Name: "relu1", Layer: keep(layers.NewReLU("relu1", layers.ReLUConfig{}))},
		{Name: "pool1", Layer: pool("pool1")},
		{Name: "conv2", Layer: conv("conv2", 6, 3, 1)},
		{Name: "relu2", Layer: keep(layers.NewReLU("relu2", layers.ReLUConfig{}))},
		{Name: "drop", Layer: keep(layers.NewDropout("drop", layers.DropoutConfig{P: 0.3}))},
		{Name: "pool2", Layer: pool("pool2")},
		{Name: "fc", Layer: conv("fc", 6, 3, 0)},
		{Name: "score_fr", Layer: conv("score_fr", 3, 1, 0)},
		{Name: "upscore2", Layer: deconv("upscore2", "learned")},
		{Name: "score_pool1", Layer: conv("score_pool1", 3, 1, 0), Inputs: []string{"pool1"}},
		{Name: "score_pool1c", Layer: keep(layers.NewCrop("score_pool1c", layers.CropConfig{})), Inputs: []string{"score_pool1", "upscore2"}},
		{Name: "fuse", Layer: keep(layers.NewSum("fuse", layers.SumConfig{Coeffs: []float64{1, 0.5}})), Inputs: []string{"upscore2", "score_pool1c"}},
		{Name: "upscore", Layer: deconv("upscore", "frozen")},
		{Name: "score", Layer: keep(layers.NewCrop("score", layers.CropConfig{})), Inputs: []string{"upscore", "data"}},
		{Name: "loss", Layer: keep(layers.NewSoftmaxCrossEntropy("loss", layers.DefaultSoftmaxCrossEntropyConfig())), Inputs: []string{"score", "label"}},
	}
	if err != nil {
		return nil, err
	}
	return Build([]InputSpec{
		{Name: "data", Shape: tensor.Shape{n, 3, 13, 11}, Dtype: tensor.Float64},
		{Name: "label", Shape: tensor.Shape{n, 13, 11}, Dtype: tensor.Int32},
	}, nodes, tensor.Float64)
}

// fcnCases check the whole small FCN through CheckGraph: the data gradient and every
// trainable parameter (upscore is frozen and skipped), in training (dropout active with
// a fixed mask) and in evaluation, on the same network, data and labels.
//
// Steps. The network is not linear, so truncation counts as well as rounding: with
// the two-point difference the upscore2 weights show 1.1e-6 at h = 1e-4 (∝ h², so
// truncation) while the data gradient, the smallest here, shows 2e-5 at h = 1e-6
// (∝ 1/h, rounding). The fourth-order difference (truncation ∝ h⁴) at h = 1e-4 keeps
// both near 1e-7.
//
// Kinks. Unlike the single-layer cases, a graph cannot keep every relu input and every
// pooling window's runner-up away from its kink by construction: about 3,700 relu and
// max units move when one value moves, and the fourth-order difference reaches ±2h.
// A step that carries one across shows as an error of 1e-3 to 2, never as a near miss:
// over seeds 1100–1119, 12 of 20 did so in at least one mode, the other 8 stayed at or
// below 8e-7 in both. The seed here (the first tried) has no kink within reach; the
// check is deterministic, so it stays so until the network, its sizes, its
// initialisation or the seed change — which then need this checked again.
func fcnCases() []SuiteCase {
	want := []string{"data", "conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc.weight", "fc.bias",
		"score_fr.weight", "score_fr.bias", "upscore2.weight", "score_pool1.weight", "score_pool1.bias"}
	var cs []SuiteCase
	const seed = 1100
	for _, train := range []bool{true, false} {
		name := "small_fcn_eval"
		if train {
			name = "small_fcn_train"
		}
		cs = append(cs, SuiteCase{Layer: "graph", Name: name, Eps: epsGraph, Want: want,
			check: func(ctx context.Context, eps float64) ([]GradResult, error) {
				g, err := fcnGraph(2)
				if err != nil {
					return nil, err
				}
				rng := rand.New(rand.NewPCG(seed, 1))
				g.Init(rng)
				// Init leaves biases at zero, which puts every relu of conv1's padded
				// border (bias only) exactly on its kink: draw them. Deconvs keep their
				// bilinear start.
				for _, p := range g.Params() {
					if strings.HasSuffix(p.Name, ".bias") {
						fillUniform(rng, p.Value.Float64s())
					}
				}
				labels := layers.RandomLabels(seed, 3, 255, 0.2, 0, 2, 13, 11)
				return CheckGraph(ctx, g, []*tensor.Dense{nil, labels},
					GraphCheckOptions{Seed: seed, Training: train, KeepParams: true, Eps: eps, FourPoint: true})
			}})
	}
	return cs
}

func ints(v ...int) []int { return v }

func boolPtr(b bool) *bool { return &b }
