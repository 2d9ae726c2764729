package configs

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// tiny is a small valid experiment used as a base by the tests.
const tiny = `
name: tiny
data: {format: synthetic}
model:
  classes: 3
  layers:
    - {name: conv1, type: conv, out: 8, kernel: 3, pad: 1}
    - {name: relu1, type: relu}
    - {name: pool1, type: maxpool, kernel: 2}
    - {name: score, type: conv, out: classes, kernel: 1}
    - {name: up, type: deconv, out: classes, kernel: 4, stride: 2, pad: 1, bias: false}
train: {steps: 10, batch_size: 2}
`

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestOverridesReachEveryRequiredKey(t *testing.T) {
	sets := []string{
		"train.steps=42", "train.batch_size=3", "train.seed=9", "data.format=voc", "data.root=/data/voc",
		"model.classes=5", "optim.lr=0.001", "eval.every=7", "checkpoint.every=11", "model.upsample=frozen",
	}
	e, err := Load("fcn16s-tiny", sets, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := []any{e.Train.Steps, e.Train.BatchSize, e.Train.Seed, e.Data.Format, e.Data.Root, e.Model.Classes,
		e.Optim.LR, e.Eval.Every, e.Checkpoint.Every, e.Model.Upsample}
	want := []any{42, 3, uint64(9), "voc", "/data/voc", 5, 0.001, 7, 11, "frozen"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for _, l := range e.Model.Layers {
		if l.Type == "deconv" && l.Options.String("mode") != "frozen" {
			t.Errorf("model.upsample=frozen: %s has mode %q", l.Name, l.Options.String("mode"))
		}
	}
}

func TestPrecedence(t *testing.T) {
	path := writeFile(t, "tiny.yaml", tiny)
	tests := []struct {
		name      string
		sets, env []string
		steps     int
		batch     int
	}{
		{name: "file", steps: 10, batch: 2},
		{name: "env over file", env: []string{"FCN_TRAIN_STEPS=20", "HOME=/x", "FCN_TRAIN_BATCH_SIZE=4"}, steps: 20, batch: 4},
		{name: "set over env", env: []string{"FCN_TRAIN_STEPS=20"}, sets: []string{"train.steps=30"}, steps: 30, batch: 2},
		{name: "last set wins", sets: []string{"train.steps=30", "TRAIN.STEPS=31"}, steps: 31, batch: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Load(path, tc.sets, tc.env)
			if err != nil {
				t.Fatal(err)
			}
			if e.Train.Steps != tc.steps || e.Train.BatchSize != tc.batch {
				t.Errorf("steps %d batch %d, want %d and %d", e.Train.Steps, e.Train.BatchSize, tc.steps, tc.batch)
			}
		})
	}
}

func TestOverrideValues(t *testing.T) {
	path := writeFile(t, "tiny.yaml", tiny)
	e, err := Load(path, []string{
		"name=123",                                 // a string key takes the text as it is
		"data.root='/a b'",                         // a quoted YAML string is unquoted
		"loss.class_weights=[1, 2, 0.5]",           // a flow list
		"optim.nesterov=true",                      // a boolean
		"model.layers[up].learn=false",             // one layer's option, by name
		"model.layers[0].out=16",                   // ... by index
		"model.layers[conv1].kernel=[3, 5]",        // a pair
		"model.layers[conv1].init=gaussian",        // string option
		"model.layers[conv1].std=0.01",             //
		"schedule.warmup_steps=1e1",                // an integral float is an integer
		"data.synthetic.seed=18446744073709551615", // the largest uint64
	}, []string{"FCN_DATA_SYNTHETIC_N_TRAIN=64"})
	if err != nil {
		t.Fatal(err)
	}
	if e.Name != "123" || e.Data.Root != "/a b" || !slices.Equal(e.Loss.ClassWeights, []float64{1, 2, 0.5}) || !e.Optim.Nesterov {
		t.Errorf("name %q root %q weights %v nesterov %v", e.Name, e.Data.Root, e.Loss.ClassWeights, e.Optim.Nesterov)
	}
	up, conv := e.Model.Layer("up"), e.Model.Layer("conv1")
	if up.Options.Bool("learn") || conv.Options.Channels("out").Count(3) != 16 || conv.Options.Pair("kernel") != [2]int{3, 5} || conv.Options.String("init") != "gaussian" || conv.Options.Float("std") != 0.01 {
		t.Errorf("layer sets: up %+v conv1 %+v", up, conv)
	}
	if e.Schedule.WarmupSteps != 10 || e.Data.Synthetic.NTrain != 64 || e.Data.Synthetic.Seed != 18446744073709551615 {
		t.Errorf("warmup %d n_train %d seed %d", e.Schedule.WarmupSteps, e.Data.Synthetic.NTrain, e.Data.Synthetic.Seed)
	}
}

func TestResolution(t *testing.T) {
	e, err := Parse("x.yaml", "x", []byte(tiny), []string{"data.ignore_label=254"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantInputs := [][]string{{"data"}, {"conv1"}, {"relu1"}, {"pool1"}, {"score"}}
	for i, l := range e.Model.Layers {
		if !slices.Equal(l.Inputs, wantInputs[i]) {
			t.Errorf("%s inputs %v, want %v", l.Name, l.Inputs, wantInputs[i])
		}
	}
	if e.Loss.IgnoreLabel != 254 || e.Data.Synthetic.Classes != 3 {
		t.Errorf("loss.ignore_label %d (follows data's 254), synthetic classes %d (follows model's 3)", e.Loss.IgnoreLabel, e.Data.Synthetic.Classes)
	}
	// Defaults of the getters, for options left out.
	pool, up := e.Model.Layer("pool1"), e.Model.Layer("up")
	if pool.Options.Pair("stride") != [2]int{2, 2} || pool.Options.Pair("pad") != [2]int{} || pool.Options.Bool("ceil") {
		t.Errorf("maxpool defaults: stride %v pad %v ceil %v", pool.Options.Pair("stride"), pool.Options.Pair("pad"), pool.Options.Bool("ceil"))
	}
	if up.Options.String("init") != "bilinear" || !up.Options.Bool("learn") || up.Options.Float("lr_mult") != 1 || up.Options.Float("decay_mult") != 1 || up.Options.Int("groups") != 1 ||
		up.Options.Pair("dilation") != [2]int{1, 1} || up.Options.Pair("output_padding") != [2]int{} || up.Options.Bool("same") || up.Options.String("mode") != "" {
		t.Errorf("deconv defaults: %+v", up)
	}
	if c := e.Model.Layer("conv1"); c.Options.String("init") != "he" || !c.Options.Bool("bias") || c.Options.Pair("stride") != [2]int{1, 1} {
		t.Errorf("conv defaults: %+v", c)
	}
}

func TestRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		sets []string
	}{{"default", nil}, {"default", []string{"model.upsample=bilinear", "train.steps=7", "loss.class_weights=[1,1,2,1,1]"}},
		{"default", []string{"optim.type=adamw", "optim.betas=[0.8, 0.99]", "optim.eps=1e-6", "schedule.policy=cosine", "schedule.min_lr=0.001",
			"eval.every=100", "train.early_stop.patience=3", "train.early_stop.metric=loss", "train.early_stop.min_delta=0.01"}}}
	for _, n := range Names() {
		cases = append(cases, struct {
			name string
			sets []string
		}{n, []string{"data.root=/some/where"}})
	}
	for _, tc := range cases {
		t.Run(tc.name+strings.Join(tc.sets, ","), func(t *testing.T) {
			a, err := Load(tc.name, tc.sets, nil)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "config.yaml")
			if err := a.WriteYAML(path); err != nil {
				t.Fatal(err)
			}
			b, err := Load(path, nil, nil)
			if err != nil {
				t.Fatalf("loading the written file: %v", err)
			}
			if b.Source != path {
				t.Errorf("source %q, want %q", b.Source, path)
			}
			b.Source = a.Source
			if !reflect.DeepEqual(a, b) {
				t.Errorf("round trip changed the experiment: %v", Diff(a, b))
			}
			if d := Diff(a, b); len(d) != 0 || Digest(a) != Digest(b) {
				t.Errorf("Diff %v, digests %s %s", d, Digest(a), Digest(b))
			}
		})
	}
}

// The optimiser, schedule and early-stop keys: PyTorch's defaults when left out, and
// every way of setting them (file, --set, environment) reaches the fields.
func TestOptimScheduleEarlyStopKeys(t *testing.T) {
	e, err := Parse("t.yaml", "t", []byte(tiny), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if o := e.Optim; o.Type != "sgd" || !reflect.DeepEqual(o.Betas, []float64{0.9, 0.999}) || o.Eps != 1e-8 {
		t.Errorf("defaults: optim %+v", o)
	}
	if e.Schedule.MinLR != 0 || e.Train.EarlyStop != (EarlyStop{Metric: "miou"}) {
		t.Errorf("defaults: schedule %+v, early_stop %+v", e.Schedule, e.Train.EarlyStop)
	}
	text := tiny + "optim: {type: adam, betas: [0.5, 0.75], eps: 0.001}\nschedule: {policy: cosine, min_lr: 0.0001}\neval: {every: 2}\n"
	e, err = Parse("t.yaml", "t", []byte(text), []string{"train.early_stop.metric=fwiou", "train.early_stop.min_delta=0.5"}, []string{"FCN_TRAIN_EARLY_STOP_PATIENCE=4"})
	if err != nil {
		t.Fatal(err)
	}
	if o := e.Optim; o.Type != "adam" || !reflect.DeepEqual(o.Betas, []float64{0.5, 0.75}) || o.Eps != 0.001 {
		t.Errorf("optim %+v", o)
	}
	if e.Schedule.Policy != "cosine" || e.Schedule.MinLR != 0.0001 {
		t.Errorf("schedule %+v", e.Schedule)
	}
	if want := (EarlyStop{Metric: "fwiou", Patience: 4, MinDelta: 0.5}); e.Train.EarlyStop != want {
		t.Errorf("early_stop %+v, want %+v", e.Train.EarlyStop, want)
	}
}

func TestDigestAndDiff(t *testing.T) {
	base := mustLoad(t, "fcn8s")
	tests := []struct {
		sets       []string
		diff       []string
		sameDigest bool
	}{
		{nil, nil, true},
		{[]string{"train.steps=5", "optim.lr=1e-9"}, []string{"train.steps", "optim.lr"}, true},
		{[]string{"data.prefetch=9"}, []string{"data.prefetch"}, true},
		{[]string{"model.classes=5"}, []string{"data.num_classes", "model.classes"}, false},
		{[]string{"model.layers[pool1].stride=1"}, []string{"model.layers[4].stride"}, false},
		{[]string{"model.layers[fc6].pad=1"}, []string{"model.layers[31].pad"}, false},
		{[]string{"data.root=/elsewhere"}, []string{"data.root"}, false},
	}
	for _, tc := range tests {
		e := mustLoad(t, "fcn8s", tc.sets...)
		if d := Diff(base, e); !slices.Equal(d, tc.diff) {
			t.Errorf("%v: Diff = %v, want %v", tc.sets, d, tc.diff)
		}
		if same := Digest(base) == Digest(e); same != tc.sameDigest {
			t.Errorf("%v: same digest %v, want %v", tc.sets, same, tc.sameDigest)
		}
		if dd := DiffDigest(base, e); (len(dd) == 0) != tc.sameDigest {
			t.Errorf("%v: DiffDigest = %v", tc.sets, dd)
		}
	}
	// A layer added shows up by its keys.
	small := mustLoad(t, "fcn32s")
	if d := Diff(small, base); !slices.Contains(d, "model.layers[40].name") {
		t.Errorf("fcn32s vs fcn8s: %v", d)
	}
	if len(Digest(base)) != 64 {
		t.Errorf("digest %q is not a hex SHA-256", Digest(base))
	}
}

func TestOrder(t *testing.T) {
	// Inputs may name later layers; Order puts every layer after its inputs.
	e, err := Parse("fwd.yaml", "fwd", []byte(`
model:
  classes: 2
  layers:
    - {name: out, type: sum, inputs: [a, b]}
    - {name: b, type: relu, inputs: [a]}
    - {name: a, type: conv, inputs: [data], out: classes, kernel: 1}
`), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	order, err := e.Model.Order()
	if err != nil || !slices.Equal(order, []int{2, 1, 0}) {
		t.Errorf("Order = %v, %v; want [2 1 0]", order, err)
	}
}

func TestLevenshtein(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		d    int
	}{{"kitten", "sitting", 3}, {"", "abc", 3}, {"strdie", "stride", 2}, {"stride", "stride", 0}, {"trian", "train", 2}, {"flaw", "lawn", 2}} {
		if d := levenshtein(tc.a, tc.b); d != tc.d {
			t.Errorf("levenshtein(%q, %q) = %d, want %d", tc.a, tc.b, d, tc.d)
		}
	}
}

func TestEnvNamesAreUnique(t *testing.T) {
	seen := map[string]string{}
	for k := range leafKeys() {
		if other, dup := seen[envName(k)]; dup {
			t.Errorf("%s and %s share the variable %s", k, other, envName(k))
		}
		seen[envName(k)] = k
	}
	for _, k := range []string{"train.steps", "train.batch_size", "data.root", "optim.lr", "data.synthetic.n_train", "model.upsample"} {
		if _, ok := seen[envName(k)]; !ok {
			t.Errorf("no environment variable for %s", k)
		}
	}
}

// FCN_GEMM_KERNEL picks the matrix-multiply kernel; it is not an experiment key and must
// not make every experiment fail to load.
func TestLoadIgnoresRuntimeEnv(t *testing.T) {
	if _, err := Load("default", nil, []string{"FCN_GEMM_KERNEL=portable"}); err != nil {
		t.Fatal(err)
	}
	if _, err := Load("default", nil, []string{"FCN_GEMM_KERNL=portable"}); err == nil {
		t.Fatal("a misspelt FCN_ variable was accepted")
	}
}

// The digest of a model setting every option of every layer type that existed before the
// layer registry is the one the code before it computed (recorded from that code):
// checkpoints record it, and a resume with another is refused.
func TestDigestOfEveryOptionUnchanged(t *testing.T) {
	e, err := LoadModel("testdata/every-option.yaml", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	const want = "12204682a378473a05c4e5b5553f6cedd2419706145522f0b31058a6637820c4"
	if got := Digest(e); got != want {
		b, _ := e.YAML()
		t.Errorf("digest %s, want %s; the experiment as written:\n%s", got, want, b)
	}
	// And it survives a round trip through the YAML a run folder keeps.
	b, err := e.YAML()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse("config.yaml", "every-option", b, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	back.Source = e.Source
	if !reflect.DeepEqual(back, e) || Digest(back) != want {
		t.Errorf("round trip changed the experiment:\n%s", b)
	}
}

// An empty value — null, "" or [] — leaves a layer option at its default, as leaving the
// key out does, in a file and through --set.
func TestEmptyLayerOptionsAreDefaults(t *testing.T) {
	for _, tc := range []struct {
		name, old, new string
		sets           []string
	}{
		{"empty init", "{name: conv1, type: conv, out: 8, kernel: 3, pad: 1}", `{name: conv1, type: conv, out: 8, kernel: 3, pad: 1, init: ""}`, nil},
		{"null stride", "{name: conv1, type: conv, out: 8, kernel: 3, pad: 1}", "{name: conv1, type: conv, out: 8, kernel: 3, pad: 1, stride: null}", nil},
		{"empty mode", "bias: false}", `bias: false, mode: ""}`, nil},
		{"mode cleared by --set", "bias: false}", "bias: false, mode: frozen}", []string{"model.layers[up].mode="}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Parse("t.yaml", "t", []byte(strings.Replace(tiny, tc.old, tc.new, 1)), tc.sets, nil)
			if err != nil {
				t.Fatal(err)
			}
			want, err := Parse("t.yaml", "t", []byte(tiny), nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if Digest(e) != Digest(want) {
				t.Errorf("%s: not the defaults:\n%+v\n%+v", tc.name, e.Model.Layers, want.Model.Layers)
			}
		})
	}
	text := strings.Replace(tiny, "{name: up,", "{name: fuse, type: sum, inputs: [score, score], coeffs: []}\n    - {name: up,", 1)
	text = strings.Replace(text, "bias: false}", "bias: false, inputs: [fuse]}", 1)
	e, err := Parse("t.yaml", "t", []byte(text), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if l := e.Model.Layer("fuse"); l.Options.Has("coeffs") || l.Options.Floats("coeffs") != nil {
		t.Errorf("coeffs: [] is not the default: %v", l.Options.Floats("coeffs"))
	}
}
