package layers

import (
	"slices"
	"strings"
	"testing"

	"gorgonia.org/tensor"
)

// Every registered type is documented, option by option, and has gradient checks that
// cover the variants it names; a type added without them fails here.
func TestRegistryTypesComplete(t *testing.T) {
	types := Types()
	if len(types) < 10 {
		t.Fatalf("only %d types registered", len(types))
	}
	for _, typ := range types {
		if typ.Doc == "" || strings.Contains(typ.Doc, "\n") {
			t.Errorf("%s: needs a one-line doc, got %q", typ.Name, typ.Doc)
		}
		for _, o := range typ.Options {
			if o.Doc == "" || strings.Contains(o.Doc, "\n") {
				t.Errorf("%s.%s: needs a one-line doc, got %q", typ.Name, o.Key, o.Doc)
			}
			if o.Kind == 0 {
				t.Errorf("%s.%s: no kind", typ.Name, o.Key)
			}
			if o.Choices != nil && o.Kind != KindString {
				t.Errorf("%s.%s: choices on a %s option", typ.Name, o.Key, o.Kind)
			}
			if s, ok := o.Default.(string); ok && o.Choices != nil && !slices.Contains(o.Choices, s) {
				t.Errorf("%s.%s: default %q is not among its choices %v", typ.Name, o.Key, s, o.Choices)
			}
		}
		if typ.GradCases == nil {
			t.Errorf("%s: no gradient-check cases", typ.Name)
			continue
		}
		cases := typ.GradCases()
		if len(cases) == 0 {
			t.Errorf("%s: no gradient-check cases", typ.Name)
		}
		if len(typ.GradVariants) == 0 {
			t.Errorf("%s: names no variants its gradient checks must cover", typ.Name)
		}
		seen := map[string]bool{}
		var names []string
		for _, c := range cases {
			if seen[c.Name] {
				t.Errorf("%s: case %s twice", typ.Name, c.Name)
			}
			seen[c.Name] = true
			names = append(names, c.Name)
			if c.Make == nil || len(c.In) == 0 || len(c.Want) == 0 || !(c.Eps > 0) {
				t.Errorf("%s/%s: incomplete case %+v", typ.Name, c.Name, c)
			}
		}
		all := strings.Join(names, " ")
		for _, v := range typ.GradVariants {
			if !strings.Contains(all, v) {
				t.Errorf("%s: no case covers %q (cases: %s)", typ.Name, v, all)
			}
		}
		// Whatever the type declares, the checks must reach batch > 1 and odd sizes, and
		// the geometry options it has must each be varied (their name in a case's name).
		batch, odd := false, false
		for _, c := range cases {
			in := c.In[0]
			batch = batch || in[0] > 1
			for _, d := range in[1:] {
				odd = odd || d%2 == 1
			}
		}
		if !batch || !odd {
			t.Errorf("%s: cases reach batch > 1: %v, an odd size: %v", typ.Name, batch, odd)
		}
		for _, key := range []string{"stride", "pad", "dilation", "groups"} {
			if typ.Option(key) != nil && !strings.Contains(all, key) {
				t.Errorf("%s has option %s but no case named for it (cases: %s)", typ.Name, key, all)
			}
		}
		if typ.Option("bias") != nil && !strings.Contains(all, "nobias") {
			t.Errorf("%s has a bias option but no case without bias", typ.Name)
		}
	}
}

func TestRegistryOptionsDefaults(t *testing.T) {
	mp, ok := Lookup("maxpool")
	if !ok {
		t.Fatal("maxpool not registered")
	}
	o := mp.NewOptions()
	if o.Has("kernel") || o.Pair("kernel") != [2]int{} {
		t.Errorf("unset kernel: %v %v", o.Has("kernel"), o.Pair("kernel"))
	}
	if err := o.Set("kernel", [2]int{3, 2}); err != nil {
		t.Fatal(err)
	}
	// stride defaults to the kernel, pad to 0.
	if o.Pair("stride") != [2]int{3, 2} || o.Pair("pad") != [2]int{} || o.Bool("ceil") {
		t.Errorf("defaults: stride %v pad %v ceil %v", o.Pair("stride"), o.Pair("pad"), o.Bool("ceil"))
	}
	if err := o.Set("stride", 2); err == nil || !strings.Contains(err.Error(), "an integer or an [h, w] pair") {
		t.Errorf("an int for a pair: %v", err)
	}
	if err := o.Set("strides", [2]int{1, 1}); err == nil || !strings.Contains(err.Error(), `no option "strides"`) {
		t.Errorf("unknown key: %v", err)
	}
	if got := o.SetKeys(); !slices.Equal(got, []string{"kernel"}) {
		t.Errorf("set keys %v", got)
	}
	// Options are values: a copy's Set leaves the original alone (copy on write).
	c := o
	if err := c.Set("kernel", [2]int{5, 5}); err != nil {
		t.Fatal(err)
	}
	if o.Pair("kernel") != [2]int{3, 2} || c.Pair("kernel") != [2]int{5, 5} {
		t.Errorf("a copy shares its values: %v %v", o.Pair("kernel"), c.Pair("kernel"))
	}
	// Lists handed out are copies too.
	sum, _ := Lookup("sum")
	so := sum.NewOptions()
	if err := so.Set("coeffs", []float64{1, 2}); err != nil {
		t.Fatal(err)
	}
	so.Floats("coeffs")[0] = 42
	if v, _ := so.Value("coeffs"); v.([]float64)[0] != 1 {
		t.Error("a list handed out writes through into the options")
	}

	// PyTorch's BatchNorm2d and Dropout defaults, Caffe's multipliers.
	bn, _ := Lookup("batchnorm")
	if o := bn.NewOptions(); o.Float("eps") != 1e-5 || o.Float("momentum") != 0.1 || !o.Bool("learn") || o.Float("lr_mult") != 1 {
		t.Errorf("batchnorm defaults: eps %v momentum %v learn %v lr_mult %v", o.Float("eps"), o.Float("momentum"), o.Bool("learn"), o.Float("lr_mult"))
	}
	if drop, _ := Lookup("dropout"); drop.NewOptions().Float("p") != 0.5 {
		t.Errorf("dropout p default %v", drop.NewOptions().Float("p"))
	}
	conv, _ := Lookup("conv")
	deconv, _ := Lookup("deconv")
	if conv.NewOptions().String("init") != "he" || deconv.NewOptions().String("init") != "bilinear" {
		t.Error("init defaults")
	}
}

// CheckOptions reports each problem against its option, and nothing for a good layer.
func TestRegistryCheckOptions(t *testing.T) {
	conv, _ := Lookup("conv")
	build := func(set map[string]any) BuildArgs {
		o := conv.NewOptions()
		for k, v := range set {
			if err := o.Set(k, v); err != nil {
				t.Fatal(err)
			}
		}
		return BuildArgs{Name: "c", Inputs: []string{"data"}, Options: o, Classes: 21}
	}
	for _, tc := range []struct {
		set  map[string]any
		want []string // "key: message" substrings, in order
	}{
		{map[string]any{"out": Channels{N: 4}, "kernel": [2]int{3, 3}}, nil},
		{map[string]any{}, []string{"out: required", "kernel: required: an integer or an [h, w] pair"}},
		{map[string]any{"out": Channels{N: 0}, "kernel": [2]int{0, 3}}, []string{"out: must be ≥ 1, got 0", "kernel: must be ≥ 1, got [0, 3]"}},
		{map[string]any{"out": Channels{Classes: true}, "kernel": [2]int{1, 1}, "groups": 2}, []string{"groups: 2 does not divide the 21 output channels"}},
		{map[string]any{"out": Channels{N: 4}, "kernel": [2]int{1, 1}, "init": "bilinear"}, []string{`init: unknown value "bilinear"`}},
		{map[string]any{"out": Channels{N: 4}, "kernel": [2]int{1, 1}, "init": "gaussian"}, []string{"std: required with init: gaussian"}},
		{map[string]any{"out": Channels{N: 4}, "kernel": [2]int{1, 1}, "std": 0.1}, []string{"std: applies only to init: gaussian (init is he)"}},
		{map[string]any{"out": Channels{N: 4}, "kernel": [2]int{1, 1}, "lr_mult": -1.0}, []string{"lr_mult: must be ≥ 0"}},
	} {
		var got []string
		for _, p := range conv.CheckOptions(build(tc.set)) {
			got = append(got, p.Key+": "+p.Msg)
		}
		if len(got) != len(tc.want) {
			t.Errorf("%v: problems %q, want %q", tc.set, got, tc.want)
			continue
		}
		for i := range got {
			if !strings.Contains(got[i], tc.want[i]) {
				t.Errorf("%v: problem %q, want %q", tc.set, got[i], tc.want[i])
			}
		}
	}
}

// Each model type builds, from its options alone, a layer of its own type name that sets
// up on a plausible input; a deconv in mode resize_conv becomes a resize and a conv.
func TestRegistryBuild(t *testing.T) {
	set := map[string]map[string]any{
		"conv":      {"out": Channels{Classes: true}, "kernel": [2]int{3, 3}, "pad": [2]int{1, 1}},
		"deconv":    {"out": Channels{N: 3}, "kernel": [2]int{4, 4}, "stride": [2]int{2, 2}},
		"maxpool":   {"kernel": [2]int{2, 2}},
		"avgpool":   {"kernel": [2]int{2, 2}},
		"resize":    {"factor": [2]int{2, 2}},
		"crop":      {"offset": Offset{HW: [2]int{1, 1}}},
		"sum":       {"coeffs": []float64{1, 0.5}},
		"batchnorm": {"learn": false},
	}
	inputs := map[string][]tensor.Shape{
		"crop": {{1, 3, 8, 8}, {1, 3, 5, 5}},
		"sum":  {{1, 3, 8, 8}, {1, 3, 8, 8}},
	}
	for _, typ := range Types() {
		o := typ.NewOptions()
		for k, v := range set[typ.Name] {
			if err := o.Set(k, v); err != nil {
				t.Fatalf("%s: %v", typ.Name, err)
			}
		}
		in := inputs[typ.Name]
		if typ.Internal {
			in = []tensor.Shape{{1, 3, 8, 8}, {1, 8, 8}}
		} else if in == nil {
			in = []tensor.Shape{{1, 3, 8, 8}}
		}
		names := make([]string, len(in))
		a := BuildArgs{Name: "x", Inputs: names, Options: o, Classes: 3}
		if ps := typ.CheckOptions(a); len(ps) > 0 {
			t.Errorf("%s: problems %v", typ.Name, ps)
			continue
		}
		built, err := typ.Build(a)
		if err != nil || len(built) != 1 || built[0].Name != "x" || built[0].Layer.Type() != typ.Name {
			t.Errorf("%s: built %v, %v", typ.Name, built, err)
			continue
		}
		if _, err := built[0].Layer.Setup(in, tensor.Float32); err != nil {
			t.Errorf("%s: setup: %v", typ.Name, err)
		}
		if typ.Name == "batchnorm" {
			for _, p := range built[0].Layer.Params() {
				if !p.Frozen() || p.DecayMult != 0 {
					t.Errorf("batchnorm learn: false: %s lr %v decay %v", p.Name, p.LRMult, p.DecayMult)
				}
			}
		}
	}

	deconv, _ := Lookup("deconv")
	o := deconv.NewOptions()
	for k, v := range map[string]any{"out": Channels{N: 3}, "kernel": [2]int{4, 4}, "stride": [2]int{2, 2}, "pad": [2]int{1, 1}, "mode": "resize_conv"} {
		if err := o.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	built, err := deconv.Build(BuildArgs{Name: "up", Inputs: []string{"score"}, Options: o})
	if err != nil || len(built) != 2 {
		t.Fatalf("resize_conv: %v %v", built, err)
	}
	if built[0].Name != "up_resize" || built[0].Layer.Type() != "resize" || !slices.Equal(built[0].Inputs, []string{"score"}) ||
		built[1].Name != "up" || built[1].Layer.Type() != "conv" || !slices.Equal(built[1].Inputs, []string{"up_resize"}) {
		t.Errorf("resize_conv nodes: %+v", built)
	}
}
