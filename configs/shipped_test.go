package configs

import (
	"slices"
	"strings"
	"testing"
)

func TestNamesListsShippedExperiments(t *testing.T) {
	want := []string{"default", "fcn16s", "fcn16s-tiny", "fcn32s", "fcn8s", "fcn8s-atonce"}
	got := Names()
	for _, n := range want {
		if !slices.Contains(got, n) {
			t.Errorf("Names() = %v, missing %q", got, n)
		}
	}
	for _, n := range got {
		if strings.HasPrefix(n, "study-") {
			t.Errorf("Names() lists the study %q", n)
		}
	}
}

// Every shipped experiment loads and validates (VOC ones given a root), and also through
// LoadModel without a root.
func TestShippedExperimentsValidate(t *testing.T) {
	root := t.TempDir()
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			e, err := Load(name, []string{"data.root=" + root}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if e.Name != name {
				t.Errorf("name %q, want %q", e.Name, name)
			}
			if _, err := e.Model.Order(); err != nil {
				t.Error(err)
			}
			if _, err := LoadModel(name, nil, nil); err != nil {
				t.Errorf("LoadModel without data.root: %v", err)
			}
			if e.Data.Format != "synthetic" {
				_, err := Load(name, nil, nil)
				if err == nil || !strings.Contains(err.Error(), "data.root: required") {
					t.Errorf("Load without data.root: %v, want a data.root error", err)
				}
			}
		})
	}
}

func mustLoad(t *testing.T, name string, sets ...string) *Experiment {
	t.Helper()
	e, err := Load(name, append([]string{"data.root=/nonexistent"}, sets...), nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func layer(t *testing.T, e *Experiment, name string) *LayerSpec {
	t.Helper()
	l := e.Model.Layer(name)
	if l == nil {
		t.Fatalf("%s: no layer %q", e.Name, name)
	}
	return l
}

// The reference values below are read off shelhamer/fcn.berkeleyvision.org's
// voc-fcn{32s,16s,8s,8s-atonce}/net.py and solver.prototxt.
func TestReferenceArchitectures(t *testing.T) {
	type deconv struct {
		name   string
		k, s   int
		inputs string
	}
	tests := []struct {
		name    string
		lr      float64
		steps   int
		deconvs []deconv
		crops   map[string]string // crop → "input0,input1"
		coeffs  map[string][]float64
	}{
		{name: "fcn32s", lr: 1e-10, steps: 100000,
			deconvs: []deconv{{"upscore", 64, 32, "score_fr"}},
			crops:   map[string]string{"score": "upscore,data"}},
		{name: "fcn16s", lr: 1e-12, steps: 100000,
			deconvs: []deconv{{"upscore2", 4, 2, "score_fr"}, {"upscore16", 32, 16, "fuse_pool4"}},
			crops:   map[string]string{"score_pool4c": "score_pool4,upscore2", "score": "upscore16,data"}},
		{name: "fcn8s", lr: 1e-14, steps: 100000,
			deconvs: []deconv{{"upscore2", 4, 2, "score_fr"}, {"upscore_pool4", 4, 2, "fuse_pool4"}, {"upscore8", 16, 8, "fuse_pool3"}},
			crops: map[string]string{"score_pool4c": "score_pool4,upscore2", "score_pool3c": "score_pool3,upscore_pool4",
				"score": "upscore8,data"}},
		{name: "fcn8s-atonce", lr: 1e-10, steps: 300000,
			deconvs: []deconv{{"upscore2", 4, 2, "score_fr"}, {"upscore_pool4", 4, 2, "fuse_pool4"}, {"upscore8", 16, 8, "fuse_pool3"}},
			crops: map[string]string{"score_pool4c": "score_pool4,upscore2", "score_pool3c": "score_pool3,upscore_pool4",
				"score": "upscore8,data"},
			coeffs: map[string][]float64{"fuse_pool4": {1, 0.01}, "fuse_pool3": {1, 0.0001}}},
	}
	vgg := []struct {
		name string
		out  int
	}{
		{"conv1_1", 64}, {"conv1_2", 64}, {"conv2_1", 128}, {"conv2_2", 128},
		{"conv3_1", 256}, {"conv3_2", 256}, {"conv3_3", 256},
		{"conv4_1", 512}, {"conv4_2", 512}, {"conv4_3", 512},
		{"conv5_1", 512}, {"conv5_2", 512}, {"conv5_3", 512},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := mustLoad(t, tc.name)
			if e.Model.Classes != 21 || e.Data.Format != "voc" {
				t.Errorf("classes %d format %s, want 21 voc", e.Model.Classes, e.Data.Format)
			}
			for _, c := range vgg {
				l := layer(t, e, c.name)
				wantPad := 1
				if c.name == "conv1_1" {
					wantPad = 100
				}
				if l.Type != "conv" || l.Options.Channels("out").Count(21) != c.out || l.Options.Pair("kernel") != [2]int{3, 3} || l.Options.Pair("pad") != [2]int{wantPad, wantPad} {
					t.Errorf("%s: %s out %d k %v pad %v, want conv out %d k 3 pad %d", c.name, l.Type, l.Options.Channels("out").Count(21), l.Options.Pair("kernel"), l.Options.Pair("pad"), c.out, wantPad)
				}
			}
			for i := 1; i <= 5; i++ {
				l := layer(t, e, "pool"+string(rune('0'+i)))
				if l.Type != "maxpool" || l.Options.Pair("kernel") != [2]int{2, 2} || l.Options.Pair("stride") != [2]int{2, 2} || !l.Options.Bool("ceil") {
					t.Errorf("%s: %+v, want maxpool 2×2 stride 2 ceil", l.Name, l)
				}
			}
			if fc6 := layer(t, e, "fc6"); fc6.Options.Channels("out").Count(21) != 4096 || fc6.Options.Pair("kernel") != [2]int{7, 7} || fc6.Options.Pair("pad") != [2]int{} {
				t.Errorf("fc6: %+v", fc6)
			}
			if fc7 := layer(t, e, "fc7"); fc7.Options.Channels("out").Count(21) != 4096 || fc7.Options.Pair("kernel") != [2]int{1, 1} {
				t.Errorf("fc7: %+v", fc7)
			}
			for _, d := range []string{"drop6", "drop7"} {
				if l := layer(t, e, d); l.Type != "dropout" || l.Options.Float("p") != 0.5 {
					t.Errorf("%s: %+v", d, l)
				}
			}
			if l := layer(t, e, "score_fr"); l.Options.Channels("out").Count(21) != 21 || l.Options.Pair("kernel") != [2]int{1, 1} {
				t.Errorf("score_fr: %+v", l)
			}
			for _, d := range tc.deconvs {
				l := layer(t, e, d.name)
				if l.Type != "deconv" || l.Options.Pair("kernel") != [2]int{d.k, d.k} || l.Options.Pair("stride") != [2]int{d.s, d.s} ||
					l.Options.Pair("pad") != [2]int{} || l.Options.Bool("bias") || l.Options.String("init") != "bilinear" || l.Options.Bool("learn") ||
					l.Options.Channels("out").Count(21) != 21 || strings.Join(l.Inputs, ",") != d.inputs {
					t.Errorf("%s: %+v, want frozen bilinear deconv k%d s%d from %s, no bias", d.name, l, d.k, d.s, d.inputs)
				}
			}
			for name, in := range tc.crops {
				l := layer(t, e, name)
				if l.Type != "crop" || !l.Options.Offset("offset").Auto || strings.Join(l.Inputs, ",") != in {
					t.Errorf("%s: %+v, want crop of %s with offset auto", name, l, in)
				}
			}
			for name, c := range tc.coeffs {
				if l := layer(t, e, name); !slices.Equal(l.Options.Floats("coeffs"), c) {
					t.Errorf("%s coeffs %v, want %v", name, l.Options.Floats("coeffs"), c)
				}
			}
			if e.Model.Output() != "score" {
				t.Errorf("output %q, want score", e.Model.Output())
			}
			o := e.Optim
			if o.LR != tc.lr || o.Momentum != 0.99 || o.WeightDecay != 0.0005 || o.BiasLRMult != 2 || o.BiasDecayMult != 0 {
				t.Errorf("optim %+v, want lr %g momentum 0.99 wd 5e-4, bias lr ×2 decay 0", o, tc.lr)
			}
			if e.Schedule.Policy != "fixed" || e.Loss.Normalize != "sum" || e.Loss.IgnoreLabel != 255 ||
				e.Train.BatchSize != 1 || e.Train.IterSize != 1 || e.Train.Steps != tc.steps {
				t.Errorf("schedule %+v loss %+v train %+v", e.Schedule, e.Loss, e.Train)
			}
		})
	}
}

// fcn16s-tiny is the W4 network of the benchmark workloads, layer by layer.
func TestFCN16sTinyIsW4(t *testing.T) {
	e := mustLoad(t, "fcn16s-tiny")
	type spec struct {
		name, typ, inputs string
		out, k, s, p      int
	}
	want := []spec{
		{"conv1_1", "conv", "data", 32, 3, 1, 1}, {"relu1_1", "relu", "conv1_1", 0, 0, 0, 0},
		{"conv1_2", "conv", "relu1_1", 32, 3, 1, 1}, {"relu1_2", "relu", "conv1_2", 0, 0, 0, 0},
		{"pool1", "maxpool", "relu1_2", 0, 2, 2, 0},
		{"conv2_1", "conv", "pool1", 64, 3, 1, 1}, {"relu2_1", "relu", "conv2_1", 0, 0, 0, 0},
		{"conv2_2", "conv", "relu2_1", 64, 3, 1, 1}, {"relu2_2", "relu", "conv2_2", 0, 0, 0, 0},
		{"pool2", "maxpool", "relu2_2", 0, 2, 2, 0},
		{"conv3_1", "conv", "pool2", 128, 3, 1, 1}, {"relu3_1", "relu", "conv3_1", 0, 0, 0, 0},
		{"conv3_2", "conv", "relu3_1", 128, 3, 1, 1}, {"relu3_2", "relu", "conv3_2", 0, 0, 0, 0},
		{"pool3", "maxpool", "relu3_2", 0, 2, 2, 0},
		{"conv4_1", "conv", "pool3", 256, 3, 1, 1}, {"relu4_1", "relu", "conv4_1", 0, 0, 0, 0},
		{"conv4_2", "conv", "relu4_1", 256, 3, 1, 1}, {"relu4_2", "relu", "conv4_2", 0, 0, 0, 0},
		{"pool4", "maxpool", "relu4_2", 0, 2, 2, 0},
		{"score_fr", "conv", "pool4", 21, 1, 1, 0},
		{"upscore2", "deconv", "score_fr", 21, 4, 2, 1},
		{"score_pool3", "conv", "pool3", 21, 1, 1, 0},
		{"fuse", "sum", "upscore2,score_pool3", 0, 0, 0, 0},
		{"upscore8", "deconv", "fuse", 21, 16, 8, 4},
	}
	if len(e.Model.Layers) != len(want) {
		t.Fatalf("%d layers, want %d", len(e.Model.Layers), len(want))
	}
	for i, w := range want {
		l := &e.Model.Layers[i]
		got := spec{l.Name, l.Type, strings.Join(l.Inputs, ","), l.Options.Channels("out").Count(e.Model.Classes), l.Options.Pair("kernel")[0], l.Options.Pair("stride")[0], l.Options.Pair("pad")[0]}
		if l.Type == "relu" || l.Type == "sum" {
			got.k, got.s = 0, 0
		}
		if got != w {
			t.Errorf("layer %d: %+v, want %+v", i, got, w)
		}
		if (l.Type == "conv") != l.Options.Bool("bias") && l.Type != "relu" && l.Type != "maxpool" && l.Type != "sum" {
			t.Errorf("%s: bias %v (convs have a bias, deconvs none)", l.Name, l.Options.Bool("bias"))
		}
	}
	up2, up8 := layer(t, e, "upscore2"), layer(t, e, "upscore8")
	if up2.Options.String("init") != "bilinear" || !up2.Options.Bool("learn") || up8.Options.String("init") != "bilinear" || up8.Options.Bool("learn") {
		t.Errorf("upscore2 %+v should be learned bilinear, upscore8 %+v frozen bilinear", up2, up8)
	}
	o := e.Optim
	if o.LR != 0.01 || o.Momentum != 0.9 || o.WeightDecay != 5e-4 || e.Loss.Normalize != "mean" || e.Loss.IgnoreLabel != 255 || e.Model.Classes != 21 {
		t.Errorf("optim %+v loss %+v classes %d", o, e.Loss, e.Model.Classes)
	}
	// Acceptance: any VOC-layout folder with any class count.
	e = mustLoad(t, "fcn16s-tiny", "model.classes=5")
	if e.Model.Classes != 5 || e.Data.NumClasses != 5 || layer(t, e, "upscore8").Options.Channels("out").Count(e.Model.Classes) != 5 {
		t.Errorf("--set model.classes=5: classes %d, data.num_classes %d", e.Model.Classes, e.Data.NumClasses)
	}
}

func TestDefaultExperiment(t *testing.T) {
	e, err := Load("", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if e.Name != "default" || e.Data.Format != "synthetic" || e.Data.Synthetic.Classes != e.Model.Classes {
		t.Errorf("default: name %q format %q synthetic classes %d model classes %d", e.Name, e.Data.Format, e.Data.Synthetic.Classes, e.Model.Classes)
	}
	var learned, frozen, crops, sums int
	for _, l := range e.Model.Layers {
		switch {
		case l.Type == "deconv" && l.Options.Bool("learn") && l.Options.String("init") == "bilinear" && l.Options.Pair("stride") == [2]int{2, 2}:
			learned++
		case l.Type == "deconv" && !l.Options.Bool("learn") && l.Options.String("init") == "bilinear" && l.Options.Pair("stride") == [2]int{8, 8}:
			frozen++
		case l.Type == "crop":
			crops++
		case l.Type == "sum":
			sums++
		}
	}
	if learned != 2 || frozen != 1 || crops < 1 || sums != 2 {
		t.Errorf("default: %d learned 2× deconvs, %d frozen 8×, %d crops, %d sums; want an FCN-8s-style net", learned, frozen, crops, sums)
	}
	// The synthetic data follows model.classes unless set.
	e, err = Load("", []string{"model.classes=3"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if e.Data.Synthetic.Classes != 3 {
		t.Errorf("--set model.classes=3: synthetic classes %d", e.Data.Synthetic.Classes)
	}
}
