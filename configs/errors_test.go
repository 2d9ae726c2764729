package configs

import (
	"errors"
	"strings"
	"testing"

	"github.com/fcn-dev/fcn/layers"
)

// replace returns tiny with old replaced by new (old must occur).
func replace(t *testing.T, old, new string) string {
	t.Helper()
	if !strings.Contains(tiny, old) {
		t.Fatalf("tiny has no %q", old)
	}
	return strings.Replace(tiny, old, new, 1)
}

func TestBadExperiments(t *testing.T) {
	tests := []struct {
		name      string
		text      string // "" means tiny
		sets, env []string
		want      []string // substrings of the error
	}{
		{name: "unknown section",
			text: tiny + "trian: {steps: 3}\n",
			want: []string{`bad.yaml: trian: unknown key, did you mean "train"?`}},
		{name: "unknown key in a section",
			text: replace(t, "steps: 10", "stpes: 10"),
			want: []string{`bad.yaml: train.stpes: unknown key, did you mean "steps"?`}},
		{name: "unknown data key",
			text: replace(t, "format: synthetic", "format: synthetic, rot: /x"),
			want: []string{`data.rot: unknown key, did you mean "root"?`}},
		{name: "unknown layer option",
			text: replace(t, "stride: 2, pad: 1, bias: false", "strdie: 2, pad: 1, bias: false"),
			want: []string{`bad.yaml: model.layers[4] (up): unknown key "strdie", did you mean "stride"?`}},
		{name: "option of another type",
			text: replace(t, "{name: relu1, type: relu}", "{name: relu1, type: relu, kernel: 3}"),
			want: []string{`model.layers[1] (relu1): option "kernel" does not apply to relu layers (relu takes: name, type, inputs)`}},
		{name: "unknown layer type",
			text: replace(t, "type: deconv", "type: deconvv"),
			want: []string{`model.layers[4] (up): unknown layer type "deconvv", did you mean "deconv"?`}},
		{name: "missing type and name",
			text: replace(t, "{name: relu1, type: relu}", "{inputs: [conv1]}"),
			want: []string{`model.layers[1]: missing name`, `model.layers[1]: missing type`}},
		{name: "string for an integer",
			text: replace(t, "steps: 10", "steps: ten"),
			want: []string{`train.steps: expected an integer, got the string "ten"`}},
		{name: "fraction for an integer",
			text: replace(t, "batch_size: 2", "batch_size: 2.5"),
			want: []string{`train.batch_size: expected an integer, got the number 2.5`}},
		{name: "yes is not a boolean",
			text: replace(t, "format: synthetic", "format: synthetic, transforms: {flip: yes}"),
			want: []string{`data.transforms.flip: expected true or false, got the string "yes"`}},
		{name: "bad pair",
			text: replace(t, "kernel: 3, pad: 1", `kernel: "3x3", pad: 1`),
			want: []string{`model.layers[0] (conv1): kernel: expected an integer or an [h, w] pair of integers, got the string "3x3"`}},
		{name: "bad out",
			text: replace(t, "out: 8", "out: klasses"),
			want: []string{"model.layers[0] (conv1): out: expected a channel count or `classes`"}},
		{name: "section not a mapping",
			text: tiny + "eval: 5\n",
			want: []string{`eval: expected a mapping of keys, got the integer 5`}},
		{name: "classes ≤ 0",
			text: replace(t, "classes: 3", "classes: 0"),
			want: []string{`model.classes: must be > 0, got 0`}},
		{name: "steps, batch size, lr",
			text: replace(t, "train: {steps: 10, batch_size: 2}", "train: {steps: 0, batch_size: -1}\noptim: {lr: -0.1}"),
			want: []string{`train.steps: must be > 0, got 0`, `train.batch_size: must be > 0, got -1`, `optim.lr: must be a number ≥ 0, got -0.1`}},
		{name: "missing data root",
			text: replace(t, "format: synthetic", "format: voc"),
			want: []string{`bad.yaml: data.root: required for format "voc"`}},
		{name: "schedule policy",
			text: tiny + "schedule: {policy: polly}\n",
			want: []string{`schedule.policy: unknown value "polly", did you mean "poly"?`}},
		{name: "step policy needs step_size",
			text: tiny + "schedule: {policy: step}\n",
			want: []string{`schedule.step_size: must be > 0 for policy step`}},
		{name: "optim type",
			text: tiny + "optim: {type: adamm}\n",
			want: []string{`optim.type: unknown value "adamm", did you mean "adam"? (one of sgd, adam, adamw)`}},
		{name: "betas and eps",
			text: tiny + "optim: {type: adam, betas: [1, -0.5], eps: 0}\n",
			want: []string{`optim.betas[0]: must be in [0, 1), got 1`, `optim.betas[1]: must be in [0, 1), got -0.5`, `optim.eps: must be a number > 0, got 0`}},
		{name: "betas not a pair",
			sets: []string{"optim.betas=[0.9]"},
			want: []string{`optim.betas (from --set optim.betas=[0.9]): must be two numbers [beta1, beta2], e.g. [0.9, 0.999], got 1`}},
		{name: "betas of strings",
			text: tiny + "optim: {betas: [high, low]}\n",
			want: []string{`optim.betas[0]: expected a number, got the string "high"`}},
		{name: "nesterov is sgd's",
			text: tiny + "optim: {type: adamw, nesterov: true}\n",
			want: []string{`optim.nesterov: applies to optim.type sgd only, not adamw`}},
		{name: "unknown optim key",
			text: tiny + "optim: {type: adam, beta: [0.9, 0.99]}\n",
			want: []string{`optim.beta: unknown key, did you mean "betas"?`}},
		{name: "cosine min_lr above lr",
			text: tiny + "optim: {lr: 0.01}\nschedule: {policy: cosine, min_lr: 0.1}\n",
			want: []string{`schedule.min_lr: is 0.1, above optim.lr 0.01: policy cosine anneals from optim.lr down to min_lr`}},
		{name: "cosine warm-up as long as the run",
			text: tiny + "schedule: {policy: cosine, warmup_steps: 10}\n",
			want: []string{`schedule.warmup_steps: is 10 but train.steps is 10: policy cosine anneals over the steps after the warm-up`}},
		{name: "negative min_lr",
			text: tiny + "schedule: {min_lr: -1}\n",
			want: []string{`schedule.min_lr: must be a number ≥ 0, got -1`}},
		{name: "early stop without evaluations",
			text: replace(t, "train: {steps: 10, batch_size: 2}", "train: {steps: 10, batch_size: 2, early_stop: {patience: 2}}"),
			want: []string{`train.early_stop: needs evaluations during training: set eval.every > 0 (it is 0, which evaluates only at the end)`}},
		{name: "early stop values",
			text: replace(t, "train: {steps: 10, batch_size: 2}", "train: {steps: 10, batch_size: 2, early_stop: {metric: miuo, patience: -1, min_delta: -0.1}}"),
			want: []string{`train.early_stop.metric: unknown value "miuo", did you mean "miou"?`, `train.early_stop.patience: must be ≥ 0`, `train.early_stop.min_delta: must be a number ≥ 0, got -0.1`}},
		{name: "early stop unknown key",
			sets: []string{"train.early_stop.patiense=3"},
			want: []string{`train.early_stop.patiense (from --set train.early_stop.patiense=3): unknown key, did you mean "patience"?`}},
		{name: "normalize",
			text: tiny + "loss: {normalize: meen}\n",
			want: []string{`loss.normalize: unknown value "meen", did you mean "mean"?`}},
		{name: "loss ignore label differs",
			text: tiny + "loss: {ignore_label: 0}\n",
			want: []string{`loss.ignore_label: is 0 but data.ignore_label is 255`}},
		{name: "class weights",
			text: tiny + "loss: {class_weights: [1, -2]}\n",
			want: []string{`loss.class_weights: has 2 weights for 3 classes`, `loss.class_weights[1]: must be a number ≥ 0`}},
		{name: "unknown input",
			text: replace(t, "{name: score, type: conv,", "{name: score, type: conv, inputs: [pool11],"),
			want: []string{`model.layers[3] (score): unknown input "pool11", did you mean "pool1"?`}},
		{name: "cycle",
			text: replace(t, "{name: relu1, type: relu}", "{name: relu1, type: relu, inputs: [score]}"),
			want: []string{`model.layers: cycle: relu1 → pool1 → score → relu1`}},
		{name: "self input",
			text: replace(t, "{name: relu1, type: relu}", "{name: relu1, type: relu, inputs: [relu1]}"),
			want: []string{`model.layers: cycle: relu1 → relu1`}},
		{name: "duplicate name",
			text: replace(t, "name: relu1,", "name: conv1,"),
			want: []string{`model.layers[1] (conv1): name "conv1" is already used by model.layers[0]`}},
		{name: "reserved name",
			text: replace(t, "name: relu1,", "name: data,"),
			want: []string{`model.layers[1] (data): "data" is reserved`}},
		{name: "arity",
			text: replace(t, "{name: relu1, type: relu}", "{name: relu1, type: sum}"),
			want: []string{`model.layers[1] (relu1): inputs: a sum layer takes at least 2 inputs, got 1`}},
		{name: "deconv checks",
			text: replace(t, "stride: 2, pad: 1, bias: false", "stride: 2, pad: 1, bias: false, output_padding: 2, mode: frozn"),
			want: []string{`output_padding: 2 must be smaller than the stride 2 or the dilation 1`, `model.layers[4] (up): mode: unknown value "frozn", did you mean "frozen"?`}},
		{name: "gaussian needs std",
			text: replace(t, "out: 8, kernel: 3", "out: 8, init: gaussian, kernel: 3"),
			want: []string{`model.layers[0] (conv1): std: required with init: gaussian`}},
		{name: "std without gaussian",
			text: replace(t, "out: 8, kernel: 3", "out: 8, std: 0.1, kernel: 3"),
			want: []string{`model.layers[0] (conv1): std: applies only to init: gaussian (init is he)`}},
		{name: "conv init",
			text: replace(t, "out: 8, kernel: 3", "out: 8, init: bilinear, kernel: 3"),
			want: []string{`model.layers[0] (conv1): init: unknown value "bilinear"`}},
		{name: "upsample mode",
			sets: []string{"model.upsample=learnt"},
			want: []string{`model.upsample (from --set model.upsample=learnt): unknown value "learnt", did you mean "learned"?`}},
		{name: "set with a bad type names the --set",
			sets: []string{"train.steps=abc"},
			want: []string{`bad.yaml: train.steps (from --set train.steps=abc): expected an integer, got the string "abc"`}},
		{name: "set of an unknown key",
			sets: []string{"train.stepz=3"},
			want: []string{`train.stepz (from --set train.stepz=3): unknown key, did you mean "steps"?`}},
		{name: "set without =",
			sets: []string{"train.steps"},
			want: []string{`--set train.steps: expected key=value`}},
		{name: "set of an unknown layer",
			sets: []string{"model.layers[upp].learn=false"},
			want: []string{`--set model.layers[upp].learn=false: no layer named "upp", did you mean "up"?`}},
		{name: "set of a layer index out of range",
			sets: []string{"model.layers[9].learn=false"},
			want: []string{`model.layers[9]: there are 5 layers (indices 0 to 4)`}},
		{name: "set of a layer option with a typo",
			sets: []string{"model.layers[up].lern=false"},
			want: []string{`model.layers[4] (up) (from --set model.layers[up].lern=false): unknown key "lern", did you mean "learn"?`}},
		{name: "environment with a typo",
			env:  []string{"FCN_TRAIN_STPES=3"},
			want: []string{`environment FCN_TRAIN_STPES=3: no such key, did you mean FCN_TRAIN_STEPS (train.steps)?`}},
		{name: "environment with a bad value",
			env:  []string{"FCN_OPTIM_LR=fast"},
			want: []string{`optim.lr (from environment FCN_OPTIM_LR=fast): expected a number, got the string "fast"`}},
		{name: "YAML syntax",
			text: "model: {classes: 3\n",
			want: []string{"bad.yaml: "}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			text := tc.text
			if text == "" {
				text = tiny
			}
			_, err := Parse("bad.yaml", "bad", []byte(text), tc.sets, tc.env)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%v\nwant it to contain\n%s", err, w)
				}
			}
		})
	}
}

func TestErrorsListEveryProblem(t *testing.T) {
	text := strings.Replace(strings.Replace(tiny, "steps: 10", "steps: 0", 1), "classes: 3", "classes: -1", 1)
	_, err := Parse("two.yaml", "two", []byte(text), nil, nil)
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("error %T %v, want Errors", err, err)
	}
	keys := map[string]bool{}
	for _, e := range es {
		keys[e.Key] = true
		if e.Source != "two.yaml" {
			t.Errorf("source %q", e.Source)
		}
	}
	if !keys["train.steps"] || !keys["model.classes"] {
		t.Errorf("errors %v, want train.steps and model.classes", err)
	}
	if got := strings.Count(err.Error(), "\n") + 1; got != len(es) {
		t.Errorf("%d lines for %d problems", got, len(es))
	}
}

func TestUnknownExperimentListsShipped(t *testing.T) {
	_, err := Load("fcn8", nil, nil)
	if err == nil {
		t.Fatal("accepted")
	}
	for _, n := range append(Names(), `did you mean "fcn8s"?`) {
		if !strings.Contains(err.Error(), n) {
			t.Errorf("%v: does not mention %s", err, n)
		}
	}
	if _, err := Load("missing/file.yaml", nil, nil); err == nil || !strings.Contains(err.Error(), "missing/file.yaml") {
		t.Errorf("missing file: %v", err)
	}
}

func TestErrorNamesTheFile(t *testing.T) {
	path := writeFile(t, "mine.yaml", replace(t, "steps: 10", "steps: -3"))
	_, err := Load(path, nil, nil)
	if err == nil || !strings.HasPrefix(err.Error(), path+": train.steps: must be > 0") {
		t.Errorf("error %v, want it to start with the path and key", err)
	}
	_, err = Load("default", []string{"train.batch_size=0"}, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "default.yaml (shipped): train.batch_size (from --set train.batch_size=0): must be > 0") {
		t.Errorf("error %v", err)
	}
}

func TestValidateInCode(t *testing.T) {
	e := mustLoad(t, "default")
	if err := e.Validate(); err != nil {
		t.Fatalf("a loaded experiment fails Validate: %v", err)
	}
	e.Train.Steps = 0
	e.Model.Layers[1].Inputs = []string{"nowhere"}
	err := e.Validate()
	if err == nil || !strings.Contains(err.Error(), "default.yaml (shipped): train.steps: must be > 0") ||
		!strings.Contains(err.Error(), `model.layers[1] (`+e.Model.Layers[1].Name+`): unknown input "nowhere"`) {
		t.Errorf("Validate: %v", err)
	}
}

// An experiment built in code is validated like a file: an unknown type, or options not
// made from the layer's type, are errors naming the layer.
func TestValidateLayersBuiltInCode(t *testing.T) {
	e, err := Load("default", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.Model.Layers[1].Type = "convv"
	err = e.Validate()
	if err == nil || !strings.Contains(err.Error(), `(`+e.Model.Layers[1].Name+`): unknown layer type "convv", did you mean "conv"?`) {
		t.Errorf("unknown type: %v", err)
	}
	e, _ = Load("default", nil, nil)
	e.Model.Layers[0].Options = layers.Options{}
	if err := e.Validate(); err == nil || !strings.Contains(err.Error(), "options are not those of a conv layer") {
		t.Errorf("zero options: %v", err)
	}
}
