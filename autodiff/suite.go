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

// Steps of the central differences. The error of (f(x+h) − f(x−h))/2h has two parts:
// truncation, h²·f‴/6, and rounding, about ulp(L)/h for L = Σ out·R. Measured on this
// suite (max relative error of a case against h):
//
//   - Linear maps (conv, deconv, sum, crop, resize, dropout with its mask fixed) and
//     piecewise-linear ones away from their kinks (relu, maxpool) have no truncation
//     error, so a large step only shrinks the rounding: epsLinear, with the inputs of
//     relu and maxpool kept farther than that from any kink. Sum gets more: its 1e-4
//     coefficient makes that input's gradients 1e-4 of the others while ulp(L) stays,
//     and its error falls from 4e-7 at 1e-3 to 4e-8 at 1e-2.
//   - Smooth layers (batchnorm, the loss) balance the two near 1e-4: batchnorm's
//     training input gradient, a small difference of large terms, shows 1.1e-6 at the
//     default 1e-6 (rounding, ∝ 1/h), 2e-8 at 1e-4 and 2e-6 at 1e-3 (truncation, ∝ h²).
//   - The whole graph: see fcnCases.
const (
	epsLinear = 1e-3
	epsSum    = 1e-2
	epsSmooth = 1e-4
	epsGraph  = 1e-4
)

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

// GradSuite returns the suite's cases in a fixed order: conv, deconv, maxpool, relu,
// dropout, crop, sum, batchnorm, softmax_cross_entropy, resize, then the whole graph.
// Every call returns fresh cases: each builds its layers when it runs.
func GradSuite() []SuiteCase {
	var cs []SuiteCase
	for _, group := range [][]SuiteCase{
		convCases(), deconvCases(), maxpoolCases(), reluCases(), dropoutCases(),
		cropCases(), sumCases(), batchnormCases(), lossCases(), resizeCases(), fcnCases(),
	} {
		cs = append(cs, group...)
	}
	return cs
}

// layerCheck describes one CheckLayer run. The layer is built afresh on every run, so
// a case can run again or alongside others.
type layerCheck struct {
	make   func() (layers.Layer, error)
	in     []tensor.Shape
	inputs func() []*tensor.Dense // optional fixed inputs (nil entries are drawn)
	opt    CheckOptions           // Seed, Training, KeepParams; Eps and Inputs are set here
}

func layerCase(layer, name string, eps float64, lc layerCheck, want ...string) SuiteCase {
	return SuiteCase{Layer: layer, Name: name, Eps: eps, Want: want,
		check: func(ctx context.Context, eps float64) ([]GradResult, error) {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			l, err := lc.make()
			if err != nil {
				return nil, err
			}
			opt := lc.opt
			opt.Eps = eps
			if lc.inputs != nil {
				opt.Inputs = lc.inputs()
			}
			return CheckLayer(l, lc.in, opt)
		}}
}

func suiteInts(v ...int) []int { return v }

func suiteBool(b bool) *bool { return &b }

// suiteDense is a float64 tensor holding vals.
func suiteDense(s tensor.Shape, vals []float64) *tensor.Dense {
	return tensor.New(tensor.WithShape(s.Clone()...), tensor.WithBacking(vals))
}

// suiteDistinct returns a tensor holding a random permutation of n evenly spaced
// values in [-1, 1): max pooling is differentiable only where each window's maximum is
// unique, and a step moves one value by epsLinear, so it cannot change an argmax while
// the spacing 2/n exceeds it — at the sizes used (n ≤ 252) by eight times or more.
func suiteDistinct(seed uint64, s tensor.Shape) *tensor.Dense {
	n := s.TotalSize()
	rng := rand.New(rand.NewPCG(seed, 1))
	v := make([]float64, n)
	for i, p := range rng.Perm(n) {
		v[i] = -1 + 2*float64(p)/float64(n)
	}
	return suiteDense(s, v)
}

// suiteAwayFromZero returns a tensor of values with |v| in [0.1, 1]: relu's kink at 0
// is then 100 steps of epsLinear away from every input.
func suiteAwayFromZero(seed uint64, s tensor.Shape) *tensor.Dense {
	rng := rand.New(rand.NewPCG(seed, 2))
	v := make([]float64, s.TotalSize())
	for i := range v {
		m := 0.1 + 0.9*rng.Float64()
		if rng.IntN(2) == 0 {
			m = -m
		}
		v[i] = m
	}
	return suiteDense(s, v)
}

// suiteLabels returns N×H×W int32 labels in [0, classes), with a share of pixels set to
// ignore and a share set to classes (no class: the loss treats it as ignored too).
func suiteLabels(seed uint64, classes, ignore int, ignored, invalid float64, s ...int) *tensor.Dense {
	rng := rand.New(rand.NewPCG(seed, 3))
	n := 1
	for _, d := range s {
		n *= d
	}
	v := make([]int32, n)
	for i := range v {
		switch u := rng.Float64(); {
		case u < ignored:
			v[i] = int32(ignore)
		case u < ignored+invalid:
			v[i] = int32(classes)
		default:
			v[i] = int32(rng.IntN(classes))
		}
	}
	return tensor.New(tensor.WithShape(s...), tensor.WithBacking(v))
}

// suiteWantBias lists input0, weight and, if bias, bias: what a conv or deconv compares.
func suiteWantBias(bias bool) []string {
	if bias {
		return []string{"input0", "weight", "bias"}
	}
	return []string{"input0", "weight"}
}

func convCases() []SuiteCase {
	type cfg = layers.ConvConfig
	var cs []SuiteCase
	for i, tc := range []struct {
		name string
		cfg  cfg
		in   tensor.Shape
	}{
		{"k3_pad1_odd7x5_batch2", cfg{Out: 4, Kernel: suiteInts(3), Pad: suiteInts(1)}, tensor.Shape{2, 3, 7, 5}},
		{"k3_stride2_pad1", cfg{Out: 3, Kernel: suiteInts(3), Stride: suiteInts(2), Pad: suiteInts(1)}, tensor.Shape{2, 2, 9, 7}},
		{"k3x2_stride3_pad1x0", cfg{Out: 2, Kernel: suiteInts(3, 2), Stride: suiteInts(3), Pad: suiteInts(1, 0)}, tensor.Shape{3, 2, 7, 5}},
		{"k3_dilation2_pad2", cfg{Out: 3, Kernel: suiteInts(3), Dilation: suiteInts(2), Pad: suiteInts(2)}, tensor.Shape{2, 2, 7, 5}},
		{"k3_groups2", cfg{Out: 6, Kernel: suiteInts(3), Pad: suiteInts(1), Groups: 2}, tensor.Shape{2, 4, 5, 7}},
		{"k3_depthwise_stride2", cfg{Out: 6, Kernel: suiteInts(3), Stride: suiteInts(2), Pad: suiteInts(1), Groups: 3}, tensor.Shape{2, 3, 7, 5}},
		{"k1_pointwise_batch3", cfg{Out: 5, Kernel: suiteInts(1)}, tensor.Shape{3, 4, 7, 5}},
		{"k1_stride2", cfg{Out: 3, Kernel: suiteInts(1), Stride: suiteInts(2)}, tensor.Shape{2, 2, 7, 5}},
		{"k3x2_stride2x3_pad2x1_dil2x1", cfg{Out: 2, Kernel: suiteInts(3, 2), Stride: suiteInts(2, 3), Pad: suiteInts(2, 1), Dilation: suiteInts(2, 1)}, tensor.Shape{2, 3, 9, 7}},
		{"k5_stride2_pad2_on_3x3", cfg{Out: 2, Kernel: suiteInts(5), Stride: suiteInts(2), Pad: suiteInts(2)}, tensor.Shape{2, 2, 3, 3}},
	} {
		for _, bias := range []bool{true, false} {
			c := tc.cfg
			c.Bias = suiteBool(bias)
			name := tc.name
			if !bias {
				name += "_nobias"
			}
			cs = append(cs, layerCase("conv", name, epsLinear, layerCheck{
				make: func() (layers.Layer, error) { return layers.NewConv("conv", c) },
				in:   []tensor.Shape{tc.in},
				opt:  CheckOptions{Seed: uint64(100 + 2*i + suiteBit(bias))},
			}, suiteWantBias(bias)...))
		}
	}
	return cs
}

func suiteBit(b bool) int {
	if b {
		return 1
	}
	return 0
}

// trainableOnly hides a layer's frozen parameters from CheckLayer: Backward gives them
// no gradient (Caffe skips lr_mult 0), so there is nothing to compare; the input
// gradient is still checked through the frozen weights.
type trainableOnly struct{ layers.Layer }

func (t trainableOnly) Params() []*layers.Param {
	var ps []*layers.Param
	for _, p := range t.Layer.Params() {
		if !p.Frozen() {
			ps = append(ps, p)
		}
	}
	return ps
}

// Init keeps the wrapped layer's initialisation (bilinear for a frozen deconv).
func (t trainableOnly) Init(rng *rand.Rand) {
	if in, ok := t.Layer.(layers.Initializer); ok {
		in.Init(rng)
	}
}

func deconvCases() []SuiteCase {
	type cfg = layers.ConvConfig
	dc := func(c cfg) layers.DeconvConfig { return layers.DeconvConfig{ConvConfig: c} }
	var cs []SuiteCase
	for i, tc := range []struct {
		name string
		cfg  layers.DeconvConfig
		in   tensor.Shape
	}{
		{"k4_stride2_pad1_odd5x3_batch2", dc(cfg{Out: 3, Kernel: suiteInts(4), Stride: suiteInts(2), Pad: suiteInts(1), Init: "he"}), tensor.Shape{2, 3, 5, 3}},
		{"k3_stride3_pad1", dc(cfg{Out: 2, Kernel: suiteInts(3), Stride: suiteInts(3), Pad: suiteInts(1), Init: "he"}), tensor.Shape{2, 3, 4, 3}},
		{"k3_stride2_output_padding1", layers.DeconvConfig{ConvConfig: cfg{Out: 3, Kernel: suiteInts(3), Stride: suiteInts(2), Init: "he"}, OutputPadding: suiteInts(1)}, tensor.Shape{2, 2, 5, 4}},
		{"k3_stride3_pad1_output_padding2", layers.DeconvConfig{ConvConfig: cfg{Out: 2, Kernel: suiteInts(3), Stride: suiteInts(3), Pad: suiteInts(1), Init: "he"}, OutputPadding: suiteInts(2)}, tensor.Shape{3, 2, 4, 3}},
		{"k3_dilation2_output_padding1", layers.DeconvConfig{ConvConfig: cfg{Out: 2, Kernel: suiteInts(3), Dilation: suiteInts(2), Pad: suiteInts(1), Init: "he"}, OutputPadding: suiteInts(1)}, tensor.Shape{2, 3, 5, 4}},
		{"same_k3_stride2_odd_total", layers.DeconvConfig{ConvConfig: cfg{Out: 2, Kernel: suiteInts(3), Stride: suiteInts(2), Init: "he"}, Same: true}, tensor.Shape{2, 2, 5, 4}},
		{"same_k4_stride2_even_total", layers.DeconvConfig{ConvConfig: cfg{Out: 2, Kernel: suiteInts(4), Stride: suiteInts(2), Init: "he"}, Same: true}, tensor.Shape{2, 2, 3, 5}},
		{"same_k6_stride3_odd_total", layers.DeconvConfig{ConvConfig: cfg{Out: 2, Kernel: suiteInts(6), Stride: suiteInts(3), Init: "he"}, Same: true}, tensor.Shape{2, 2, 3, 3}},
		{"same_k1_stride2_negative_total", layers.DeconvConfig{ConvConfig: cfg{Out: 2, Kernel: suiteInts(1), Stride: suiteInts(2), Init: "he"}, Same: true}, tensor.Shape{2, 2, 3, 4}},
		{"same_k3x4_stride2x3_dil2x1", layers.DeconvConfig{ConvConfig: cfg{Out: 2, Kernel: suiteInts(3, 4), Stride: suiteInts(2, 3), Dilation: suiteInts(2, 1), Init: "he"}, Same: true}, tensor.Shape{2, 2, 3, 4}},
		{"k3_stride2_groups2", dc(cfg{Out: 6, Kernel: suiteInts(3), Stride: suiteInts(2), Pad: suiteInts(1), Groups: 2, Init: "he"}), tensor.Shape{2, 4, 4, 3}},
		{"k4_stride2_depthwise", dc(cfg{Out: 3, Kernel: suiteInts(4), Stride: suiteInts(2), Pad: suiteInts(1), Groups: 3, Init: "he"}), tensor.Shape{2, 3, 4, 5}},
		{"k3_stride2_dilation2_pad1", dc(cfg{Out: 2, Kernel: suiteInts(3), Stride: suiteInts(2), Dilation: suiteInts(2), Pad: suiteInts(1), Init: "he"}), tensor.Shape{2, 3, 4, 3}},
		{"k2x3_stride2x1_pad0x1", dc(cfg{Out: 3, Kernel: suiteInts(2, 3), Stride: suiteInts(2, 1), Pad: suiteInts(0, 1), Init: "he"}), tensor.Shape{2, 2, 3, 5}},
		{"k1_pointwise_batch3", dc(cfg{Out: 4, Kernel: suiteInts(1), Init: "he"}), tensor.Shape{3, 3, 5, 3}},
	} {
		for _, bias := range []bool{true, false} {
			c := tc.cfg
			c.Bias = suiteBool(bias)
			name := tc.name
			if !bias {
				name += "_nobias"
			}
			cs = append(cs, layerCase("deconv", name, epsLinear, layerCheck{
				make: func() (layers.Layer, error) { return layers.NewDeconv("deconv", c) },
				in:   []tensor.Shape{tc.in},
				opt:  CheckOptions{Seed: uint64(200 + 2*i + suiteBit(bias))},
			}, suiteWantBias(bias)...))
		}
	}
	// FCN's upsampling as it starts: bilinear weights on the channel diagonal (kept, not
	// redrawn), learned — weight gradient checked — or frozen, where only the input
	// gradient exists. "bilinear" mode has no parameters at all.
	up := func(mode string, k, s, p int) layers.DeconvConfig {
		return layers.DeconvConfig{ConvConfig: cfg{Out: 3, Kernel: suiteInts(k), Stride: suiteInts(s), Pad: suiteInts(p), Bias: suiteBool(false)}, Mode: mode}
	}
	for i, tc := range []struct {
		name string
		cfg  layers.DeconvConfig
		in   tensor.Shape
		want []string
	}{
		{"learned_bilinear_k4_stride2", up("learned", 4, 2, 0), tensor.Shape{2, 3, 5, 4}, []string{"input0", "weight"}},
		{"learned_bilinear_k16_stride8_pad4", up("learned", 16, 8, 4), tensor.Shape{1, 3, 3, 2}, []string{"input0", "weight"}},
		{"frozen_bilinear_k4_stride2_pad1", up("frozen", 4, 2, 1), tensor.Shape{2, 3, 5, 4}, []string{"input0"}},
		{"frozen_bilinear_k8_stride4", up("frozen", 8, 4, 0), tensor.Shape{2, 3, 3, 3}, []string{"input0"}},
		{"fixed_bilinear_k4_stride2", up("bilinear", 4, 2, 1), tensor.Shape{2, 3, 4, 5}, []string{"input0"}},
	} {
		cs = append(cs, layerCase("deconv", tc.name, epsLinear, layerCheck{
			make: func() (layers.Layer, error) {
				l, err := layers.NewDeconv("upscore", tc.cfg)
				return trainableOnly{l}, err
			},
			in:  []tensor.Shape{tc.in},
			opt: CheckOptions{Seed: uint64(250 + i), KeepParams: true},
		}, tc.want...))
	}
	return cs
}

func maxpoolCases() []SuiteCase {
	type cfg = layers.MaxPoolConfig
	var cs []SuiteCase
	for i, tc := range []struct {
		name string
		cfg  cfg
		in   tensor.Shape
	}{
		{"k2_stride2_floor_odd", cfg{Kernel: suiteInts(2)}, tensor.Shape{1, 2, 7, 9}},
		{"k2_stride2_ceil_odd_batch2", cfg{Kernel: suiteInts(2), Ceil: true}, tensor.Shape{2, 3, 7, 5}},
		{"k3_stride2_pad1_ceil", cfg{Kernel: suiteInts(3), Stride: suiteInts(2), Pad: suiteInts(1), Ceil: true}, tensor.Shape{2, 2, 9, 7}},
		{"k3_stride2_pad1_floor", cfg{Kernel: suiteInts(3), Stride: suiteInts(2), Pad: suiteInts(1)}, tensor.Shape{2, 2, 8, 7}},
		{"k3_stride1_pad1_overlap", cfg{Kernel: suiteInts(3), Stride: suiteInts(1), Pad: suiteInts(1)}, tensor.Shape{1, 2, 5, 6}},
		{"k2x3_stride1x2_pad1x0_ceil", cfg{Kernel: suiteInts(2, 3), Stride: suiteInts(1, 2), Pad: suiteInts(1, 0), Ceil: true}, tensor.Shape{2, 1, 5, 8}},
		{"k3_stride3_pad2_ceil", cfg{Kernel: suiteInts(3), Stride: suiteInts(3), Pad: suiteInts(2), Ceil: true}, tensor.Shape{1, 2, 7, 5}},
	} {
		seed := uint64(300 + i)
		cs = append(cs, layerCase("maxpool", tc.name, epsLinear, layerCheck{
			make:   func() (layers.Layer, error) { return layers.NewMaxPool("pool", tc.cfg) },
			in:     []tensor.Shape{tc.in},
			inputs: func() []*tensor.Dense { return []*tensor.Dense{suiteDistinct(seed, tc.in)} },
			opt:    CheckOptions{Seed: seed},
		}, "input0"))
	}
	return cs
}

func reluCases() []SuiteCase {
	var cs []SuiteCase
	for i, tc := range []struct {
		name string
		in   tensor.Shape
	}{
		{"odd_5x7", tensor.Shape{1, 1, 5, 7}},
		{"batch2_3ch_7x5", tensor.Shape{2, 3, 7, 5}},
		{"matrix_3x4", tensor.Shape{3, 4}},
	} {
		seed := uint64(400 + i)
		cs = append(cs, layerCase("relu", tc.name, epsLinear, layerCheck{
			make:   func() (layers.Layer, error) { return layers.NewReLU("relu", layers.ReLUConfig{}) },
			in:     []tensor.Shape{tc.in},
			inputs: func() []*tensor.Dense { return []*tensor.Dense{suiteAwayFromZero(seed, tc.in)} },
			opt:    CheckOptions{Seed: seed},
		}, "input0"))
	}
	return cs
}

func dropoutCases() []SuiteCase {
	var cs []SuiteCase
	for i, tc := range []struct {
		name  string
		p     float64
		train bool
		in    tensor.Shape
	}{
		// CheckLayer reseeds the layer before every forward: the mask stays fixed and
		// the map is linear.
		{"train_p0.3_fixed_seed", 0.3, true, tensor.Shape{1, 3, 5, 7}},
		{"train_p0.5_fixed_seed_batch2", 0.5, true, tensor.Shape{2, 2, 3, 5}},
		{"eval_p0.5", 0.5, false, tensor.Shape{2, 2, 3, 5}},
	} {
		cs = append(cs, layerCase("dropout", tc.name, epsLinear, layerCheck{
			make: func() (layers.Layer, error) { return layers.NewDropout("drop", layers.DropoutConfig{P: tc.p}) },
			in:   []tensor.Shape{tc.in},
			opt:  CheckOptions{Seed: uint64(500 + i), Training: tc.train},
		}, "input0"))
	}
	return cs
}

func cropCases() []SuiteCase {
	var cs []SuiteCase
	for i, tc := range []struct {
		name   string
		off    []int // nil: auto, set by hand as the graph would
		set    [2]int
		in, rf tensor.Shape
	}{
		{"offset0_same_size", suiteInts(0), [2]int{}, tensor.Shape{1, 1, 5, 7}, tensor.Shape{1, 1, 5, 7}},
		{"offset1x2_batch2", suiteInts(1, 2), [2]int{}, tensor.Shape{2, 3, 7, 9}, tensor.Shape{2, 1, 4, 5}},
		{"offset3", suiteInts(3), [2]int{}, tensor.Shape{1, 2, 9, 8}, tensor.Shape{1, 2, 5, 5}},
		{"auto_offset_set_2x1", nil, [2]int{2, 1}, tensor.Shape{2, 2, 8, 7}, tensor.Shape{2, 2, 5, 6}},
	} {
		// input1 is only a size reference: its gradient must be exactly zero, and is
		// compared too.
		cs = append(cs, layerCase("crop", tc.name, epsLinear, layerCheck{
			make: func() (layers.Layer, error) {
				l, err := layers.NewCrop("crop", layers.CropConfig{Offset: tc.off})
				if err == nil && tc.off == nil {
					err = l.SetOffset(tc.set[0], tc.set[1])
				}
				return l, err
			},
			in:  []tensor.Shape{tc.in, tc.rf},
			opt: CheckOptions{Seed: uint64(600 + i)},
		}, "input0", "input1"))
	}
	return cs
}

func sumCases() []SuiteCase {
	var cs []SuiteCase
	s := tensor.Shape{2, 3, 5, 7}
	for i, tc := range []struct {
		name   string
		coeffs []float64
		in     []tensor.Shape
		want   []string
	}{
		{"plain_two_inputs", nil, []tensor.Shape{{1, 1, 3, 5}, {1, 1, 3, 5}}, []string{"input0", "input1"}},
		// FCN-8s at once: score_pool4 scaled by 0.01, score_pool3 by 0.0001.
		{"coeffs_1_0.01_0.0001", []float64{1, 0.01, 1e-4}, []tensor.Shape{s, s, s}, []string{"input0", "input1", "input2"}},
		{"coeffs_0.5_-2", []float64{0.5, -2}, []tensor.Shape{s, s}, []string{"input0", "input1"}},
	} {
		cs = append(cs, layerCase("sum", tc.name, epsSum, layerCheck{
			make: func() (layers.Layer, error) { return layers.NewSum("fuse", layers.SumConfig{Coeffs: tc.coeffs}) },
			in:   tc.in,
			opt:  CheckOptions{Seed: uint64(700 + i)},
		}, tc.want...))
	}
	return cs
}

// bnRandomStats gives the running statistics random values after Init (which resets
// them to 0 and 1), so the evaluation case exercises them.
type bnRandomStats struct{ *layers.BatchNorm }

func (b bnRandomStats) Init(rng *rand.Rand) {
	b.BatchNorm.Init(rng)
	// By name, not by ranging over the map: its order is random, and so would the
	// values be.
	bufs := b.Buffers()
	mean, variance := bufs["running_mean"].Float64s(), bufs["running_var"].Float64s()
	for i := range mean {
		mean[i] = 2*rng.Float64() - 1
	}
	for i := range variance {
		variance[i] = 0.5 + rng.Float64() // positive, as a variance must be
	}
}

func batchnormCases() []SuiteCase {
	var cs []SuiteCase
	for i, tc := range []struct {
		name string
		in   tensor.Shape
	}{
		{"batch2_3ch_5x7", tensor.Shape{2, 3, 5, 7}},
		{"batch3_2ch_3x3", tensor.Shape{3, 2, 3, 3}},
		{"batch4_3ch_flat", tensor.Shape{4, 3}},
		{"batch1_2ch_1x3", tensor.Shape{1, 2, 1, 3}},
	} {
		for _, train := range []bool{true, false} {
			mode := "train"
			if !train {
				mode = "eval"
			}
			cs = append(cs, layerCase("batchnorm", mode+"_"+tc.name, epsSmooth, layerCheck{
				make: func() (layers.Layer, error) {
					l, err := layers.NewBatchNorm("bn", layers.DefaultBatchNormConfig())
					if !train {
						return bnRandomStats{l}, err
					}
					return l, err
				},
				in:  []tensor.Shape{tc.in},
				opt: CheckOptions{Seed: uint64(800 + 2*i + suiteBit(train)), Training: train},
			}, "input0", "weight", "bias"))
		}
	}
	return cs
}

func lossCases() []SuiteCase {
	var cs []SuiteCase
	for i, tc := range []struct {
		name            string
		normalize       string
		ignore          int
		weights         []float64
		ignored, badCls float64 // shares of ignored pixels and of labels = classes
		n, c, h, w      int
	}{
		{"mean_ignore255", "mean", 255, nil, 0.1, 0.1, 2, 5, 3, 7},
		{"sum_ignore255", "sum", 255, nil, 0.1, 0.1, 2, 5, 3, 7},
		{"mean_class_weights", "mean", 255, []float64{0.5, 2, 1, 0, 3}, 0.1, 0, 2, 5, 5, 3},
		{"sum_class_weights", "sum", 255, []float64{0.5, 2, 1, 0, 3}, 0.1, 0, 1, 5, 5, 3},
		{"mean_mostly_ignored", "mean", 255, nil, 0.9, 0, 2, 4, 5, 5},
		{"mean_ignore_class0", "mean", 0, nil, 0, 0, 2, 3, 4, 3},
		{"binary_batch3", "mean", 255, nil, 0, 0, 3, 2, 3, 3},
		{"all_ignored", "mean", 255, nil, 1, 0, 1, 3, 2, 3},
	} {
		seed := uint64(900 + i)
		cs = append(cs, layerCase("softmax_cross_entropy", tc.name, epsSmooth, layerCheck{
			make: func() (layers.Layer, error) {
				return layers.NewSoftmaxCrossEntropy("loss", layers.SoftmaxCrossEntropyConfig{
					Normalize: tc.normalize, IgnoreLabel: tc.ignore, ClassWeights: tc.weights})
			},
			in: []tensor.Shape{{tc.n, tc.c, tc.h, tc.w}, {tc.n, tc.h, tc.w}},
			inputs: func() []*tensor.Dense {
				return []*tensor.Dense{nil, suiteLabels(seed, tc.c, tc.ignore, tc.ignored, tc.badCls, tc.n, tc.h, tc.w)}
			},
			opt: CheckOptions{Seed: seed},
		}, "input0"))
	}
	return cs
}

func resizeCases() []SuiteCase {
	var cs []SuiteCase
	for i, tc := range []struct {
		mode   string
		factor []int
		in     tensor.Shape
	}{
		{layers.ResizeBilinear, suiteInts(2), tensor.Shape{1, 2, 5, 7}},
		{layers.ResizeBilinear, suiteInts(3, 2), tensor.Shape{2, 3, 3, 5}},
		{layers.ResizeBilinear, suiteInts(1), tensor.Shape{1, 1, 3, 3}},
		{layers.ResizeNearest, suiteInts(2), tensor.Shape{2, 2, 3, 5}},
		{layers.ResizeNearest, suiteInts(2, 3), tensor.Shape{1, 3, 5, 3}},
	} {
		f := make([]string, len(tc.factor))
		for k, v := range tc.factor {
			f[k] = fmt.Sprint(v)
		}
		name := fmt.Sprintf("%s_x%s_%s", tc.mode, strings.Join(f, "x"), suiteShapeName(tc.in))
		cs = append(cs, layerCase("resize", name, epsLinear, layerCheck{
			make: func() (layers.Layer, error) {
				return layers.NewResize("resize", layers.ResizeConfig{Mode: tc.mode, Factor: tc.factor})
			},
			in:  []tensor.Shape{tc.in},
			opt: CheckOptions{Seed: uint64(1000 + i)},
		}, "input0"))
	}
	return cs
}

// suiteShapeName writes 1×2×5×7 as "1x2x5x7", for case names.
func suiteShapeName(s tensor.Shape) string {
	p := make([]string, len(s))
	for i, d := range s {
		p[i] = fmt.Sprint(d)
	}
	return strings.Join(p, "x")
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
		return keep(layers.NewConv(name, layers.ConvConfig{Out: out, Kernel: suiteInts(k), Pad: suiteInts(p)}))
	}
	pool := func(name string) layers.Layer {
		return keep(layers.NewMaxPool(name, layers.MaxPoolConfig{Kernel: suiteInts(2), Stride: suiteInts(2), Ceil: true}))
	}
	deconv := func(name, mode string) layers.Layer {
		return keep(layers.NewDeconv(name, layers.DeconvConfig{
			ConvConfig: layers.ConvConfig{Out: 3, Kernel: suiteInts(4), Stride: suiteInts(2), Bias: suiteBool(false)}, Mode: mode}))
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
				labels := suiteLabels(seed, 3, 255, 0.2, 0, 2, 13, 11)
				return CheckGraph(ctx, g, []*tensor.Dense{nil, labels},
					GraphCheckOptions{Seed: seed, Training: train, KeepParams: true, Eps: eps, FourPoint: true})
			}})
	}
	return cs
}
