package autodiff

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/fcn-dev/fcn/layers"
	"gorgonia.org/tensor"
)

// The whole suite passes, covers every registered layer type with the variants the type
// declares, and compares what each case says it compares.
func TestGradcheckSuite(t *testing.T) {
	cases := GradSuite()
	ids := map[string]bool{}
	names := map[string][]string{} // layer → case names
	for _, c := range cases {
		if ids[c.ID()] {
			t.Errorf("case %s listed twice", c.ID())
		}
		ids[c.ID()] = true
		names[c.Layer] = append(names[c.Layer], c.Name)
		if !(c.Eps > 0) || len(c.Want) == 0 {
			t.Errorf("case %s: eps %g, want %v", c.ID(), c.Eps, c.Want)
		}
	}
	variants := map[string][]string{"graph": {"small_fcn"}}
	for _, typ := range layers.Types() {
		if len(names[typ.Name]) == 0 {
			t.Errorf("layer type %s has no gradient-check case in the suite", typ.Name)
		}
		variants[typ.Name] = typ.GradVariants
	}
	// Each layer's cases must include its variants (substrings of case names).
	for layer, vs := range variants {
		all := strings.Join(names[layer], " ")
		for _, v := range vs {
			if !strings.Contains(all, v) {
				t.Errorf("%s: no case with %q among %v", layer, v, names[layer])
			}
		}
	}

	res, err := RunSuite(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range res {
		seen[r.Layer+"/"+r.Case] = true
		if !r.Passed || !(r.MaxRelErr < SuiteTol) || r.N == 0 {
			t.Errorf("%s/%s %s: max rel err %.3g (abs %.3g, n %d, eps %g)", r.Layer, r.Case, r.Tensor, r.MaxRelErr, r.MaxAbsErr, r.N, r.Eps)
		}
	}
	for _, c := range cases {
		if !seen[c.ID()] {
			t.Errorf("case %s reported nothing", c.ID())
		}
	}
	// Results come in case order, each case's tensors in its Want order.
	var want []string
	for _, c := range cases {
		for _, w := range c.Want {
			want = append(want, c.ID()+" "+w)
		}
	}
	got := make([]string, len(res))
	for i, r := range res {
		got[i] = r.Layer + "/" + r.Case + " " + r.Tensor
	}
	if !slices.Equal(got, want) {
		t.Errorf("results out of order or incomplete:\n got %v\nwant %v", got, want)
	}
}

// The same numbers, bit for bit, whatever the goroutine count. Cheap cases only, to
// keep the test fast; the graph cases run no goroutines of their own either.
func TestGradcheckSuiteDeterministic(t *testing.T) {
	var cases []SuiteCase
	for _, c := range GradSuite() {
		if c.Layer != "graph" {
			cases = append(cases, c)
		}
	}
	run := func(procs int) []SuiteResult {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		res, err := RunCases(ctx, cases)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	a, b := run(1), run(4)
	if len(a) != len(b) {
		t.Fatalf("%d results with 1 goroutine, %d with 4", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("result %d differs:\n%+v\n%+v", i, a[i], b[i])
		}
	}
}

// skewed is a layer whose input gradient is off by a factor: the suite must fail it.
type skewed struct {
	layers.Layer
	scale float64
}

func (s skewed) Backward(in []*tensor.Dense, out, dOut *tensor.Dense, dIn []*tensor.Dense) {
	s.Layer.Backward(in, out, dOut, dIn)
	for _, v := range dIn {
		if v != nil {
			for i := range v.Float64s() {
				v.Float64s()[i] *= s.scale
			}
		}
	}
}

// hideBias drops the bias from Params, as a layer that forgot to list it would.
type hideBias struct{ layers.Layer }

func (h hideBias) Params() []*layers.Param { return h.Layer.Params()[:1] }

func TestGradcheckSuiteCatchesWrongGradients(t *testing.T) {
	conv := func() (layers.Layer, error) {
		return layers.NewConv("c", layers.ConvConfig{Out: 2, Kernel: ints(3), Pad: ints(1)})
	}
	in := []tensor.Shape{{1, 2, 5, 4}}
	want := []string{"input0", "weight", "bias"}
	// 1 + 1e-5 is far below what a loose eye would see, and far above the tolerance.
	bad := layerCase("conv", layers.GradCase{Name: "skewed", Eps: layers.EpsLinear, In: in, Want: want,
		Make: func() (layers.Layer, error) { l, err := conv(); return skewed{l, 1 + 1e-5}, err }})
	res, err := bad.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Passed || !(res[0].MaxRelErr > 5e-6 && res[0].MaxRelErr < 2e-5) {
		t.Errorf("skewed input gradient: %+v", res[0])
	}
	if !res[1].Passed || !res[2].Passed {
		t.Errorf("the parameter gradients are right, yet: %+v %+v", res[1], res[2])
	}

	// A case that compares other tensors than it wants is an error naming it.
	short := layerCase("conv", layers.GradCase{Name: "hidden_bias", Eps: layers.EpsLinear, In: in, Want: want,
		Make: func() (layers.Layer, error) { l, err := conv(); return hideBias{l}, err }})
	if _, err := short.Run(ctx); err == nil || !strings.Contains(err.Error(), "conv/hidden_bias") || !strings.Contains(err.Error(), "want [input0 weight bias]") {
		t.Errorf("hidden bias: %v", err)
	}
}

func TestGradcheckRunCasesErrors(t *testing.T) {
	good := GradSuite()[0]
	broken := layerCase("conv", layers.GradCase{Name: "kernel0", Eps: layers.EpsLinear, In: []tensor.Shape{{1, 1, 3, 3}}, Want: []string{"input0"},
		Make: func() (layers.Layer, error) {
			return layers.NewConv("c", layers.ConvConfig{Out: 2, Kernel: ints(0)})
		}})
	_, err := RunCases(ctx, []SuiteCase{good, broken, good})
	if err == nil || !strings.Contains(err.Error(), "gradcheck conv/kernel0") || !strings.Contains(err.Error(), "kernel") {
		t.Errorf("broken case: %v", err)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := RunCases(cancelled, GradSuite()); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
	if res, err := RunCases(ctx, nil); err != nil || len(res) != 0 {
		t.Errorf("no cases: %v %v", res, err)
	}
}

// JSON has no NaN or infinity: such errors are written as strings, never as 0.
func TestGradcheckResultJSON(t *testing.T) {
	b, err := json.Marshal([]SuiteResult{
		{Layer: "conv", Case: "c", Tensor: "input0", N: 3, MaxRelErr: 2.5e-9, MaxAbsErr: 1e-12, Eps: 1e-3, Passed: true},
		{Layer: "conv", Case: "c", Tensor: "weight", N: 3, MaxRelErr: math.NaN(), MaxAbsErr: math.Inf(1), Eps: 1e-3},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"layer":"conv","case":"c","tensor":"input0","n":3,"max_rel_err":2.5e-9,"max_abs_err":1e-12,"eps":0.001,"passed":true},` +
		`{"layer":"conv","case":"c","tensor":"weight","n":3,"max_rel_err":"NaN","max_abs_err":"+Inf","eps":0.001,"passed":false}]`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
}

// A gradient check perturbs every parameter it lists, and a frozen bilinear deconv must
// see each perturbation (it re-decides its separable path through ParamsChanged): its
// frozen weight gets no analytic gradient, yet moving it moves the output, so listing it
// unwrapped fails the check instead of comparing 0 with 0.
func TestGradcheckSeesFrozenBilinearWeight(t *testing.T) {
	up, err := layers.NewDeconv("up", layers.DeconvConfig{
		ConvConfig: layers.ConvConfig{Out: 2, Kernel: ints(4), Stride: ints(2), Pad: ints(1), Bias: boolPtr(false)}, Mode: "frozen"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := CheckLayer(up, []tensor.Shape{{1, 2, 3, 3}}, CheckOptions{Eps: layers.EpsLinear, Seed: 3, KeepParams: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].Tensor != "input0" || !(res[0].MaxRelErr < SuiteTol) {
		t.Fatalf("input gradient through the frozen weight: %+v", res)
	}
	if w := res[1]; w.Tensor != "weight" || !(w.MaxRelErr > 0.5) {
		t.Errorf("the frozen weight's perturbations went unseen: %+v", w)
	}
}
