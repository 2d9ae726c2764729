// Package configs is fcn's experiment schema: typed sections loaded with viper from YAML,
// with `--set key=value` overrides and FCN_* environment variables on top, checked
// strictly before any work starts, and the shipped experiments embedded in the binary.
//
// Precedence, lowest first: the file (or shipped experiment), then FCN_* environment
// variables (FCN_TRAIN_STEPS=10 sets train.steps), then --set overrides in the order
// given (a later --set of the same key wins). Values from the environment and --set are
// read as YAML scalars or flow lists ("5", "0.001", "true", "[1, 2]"); keys of string type
// take the text as it is. Unknown keys, values of the wrong type and out-of-range values
// are errors that name the file, the dotted key (model.layers[3] (upscore2) for a layer)
// and, for unknown keys and names, the closest valid one.
//
// Loaded experiments are resolved: section defaults are filled, every layer's inputs are
// explicit, model.upsample has been copied into every deconv's mode, model.init into
// every conv's and deconv's init that the file leaves unset, and the keys that
// follow others when not set (data.synthetic.classes and data.num_classes follow
// model.classes, loss.ignore_label follows data.ignore_label) hold their values. Writing
// one with WriteYAML and loading it back gives an equal Experiment.
package configs

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/fcn-dev/fcn/data"
	"github.com/fcn-dev/fcn/layers"
)

// Experiment is one experiment file, resolved.
type Experiment struct {
	// Name names the run folder (runs/<name>-<time>); default: the file's base name.
	Name       string      `yaml:"name"`
	Data       data.Config `yaml:"data"`
	Model      Model       `yaml:"model"`
	Train      Train       `yaml:"train"`
	Optim      Optim       `yaml:"optim"`
	Schedule   Schedule    `yaml:"schedule"`
	Loss       Loss        `yaml:"loss"`
	Eval       Eval        `yaml:"eval"`
	Checkpoint Checkpoint  `yaml:"checkpoint"`
	Log        Log         `yaml:"log"`

	// Source is where the experiment came from ("default.yaml (shipped)" or the path
	// given), for messages. It is not part of the schema.
	Source string `yaml:"-"`
}

// Model is the network: a Caffe-style list of named layers wired by inputs.
type Model struct {
	// Classes is the number of classes; `out: classes` in a layer refers to it.
	Classes int `yaml:"classes"`
	// Upsample, when set, is the mode of every deconv layer (learned, frozen, random,
	// resize_conv, bilinear): a model-wide switch for studies. Load copies it into each
	// deconv's mode.
	Upsample string `yaml:"upsample"`
	// Init, when set, is the init of every conv and deconv layer that sets none itself
	// (he, xavier, zero, pytorch, ...: a choice every such type accepts); model.upsample
	// still decides a deconv's mode. Left out of files when unset, so digests of
	// experiments without it do not change.
	Init string `yaml:"init,omitempty"`
	// Layers in file order. The scores the loss reads are the output of the last layer.
	Layers []LayerSpec `yaml:"layers"`
}

// Train is the training loop.
type Train struct {
	Steps     int    `yaml:"steps"`      // optimiser updates (> 0)
	BatchSize int    `yaml:"batch_size"` // images per forward pass (> 0)
	IterSize  int    `yaml:"iter_size"`  // forward/backward passes accumulated per update (≥ 1), Caffe's iter_size
	Seed      uint64 `yaml:"seed"`       // seeds initialisation, shuffling, augmentation and dropout
	Workers   int    `yaml:"workers"`    // goroutines; 0 means GOMAXPROCS. Results do not depend on it.
	// Precision is the arithmetic of conv and deconv products: fp32, or bf16 operands
	// with fp32 accumulation and fp32 master weights (needs AVX512_BF16).
	Precision string `yaml:"precision"`
	// EarlyStop ends training when the evaluation metric stops improving; patience 0
	// (the default) never stops early.
	EarlyStop EarlyStop `yaml:"early_stop"`
}

// EarlyStop stops a run whose eval metric has not improved by more than MinDelta for
// Patience evaluations in a row (PyTorch Lightning's EarlyStopping, counted in evals).
type EarlyStop struct {
	Metric   string  `yaml:"metric"`    // one of EarlyStopMetrics; loss is better lower, the rest higher
	Patience int     `yaml:"patience"`  // evaluations without improvement before stopping; 0: off
	MinDelta float64 `yaml:"min_delta"` // ≥ 0: a change of at most this is no improvement
}

// Optim is the solver: SGD, Adam or AdamW as in torch.optim. The per-layer
// lr_mult/decay_mult multiply lr and weight_decay; bias_lr_mult and bias_decay_mult
// multiply them again for parameters named "bias" (FCN: 2 and 0).
type Optim struct {
	Type          string    `yaml:"type"`            // one of OptimTypes
	LR            float64   `yaml:"lr"`              // base learning rate (≥ 0)
	Momentum      float64   `yaml:"momentum"`        // sgd: [0, 1)
	WeightDecay   float64   `yaml:"weight_decay"`    // ≥ 0; adam: L2 added to the gradient, adamw: decoupled
	Nesterov      bool      `yaml:"nesterov"`        // sgd: needs momentum > 0
	Betas         []float64 `yaml:"betas"`           // adam, adamw: [β1, β2], each in [0, 1)
	Eps           float64   `yaml:"eps"`             // adam, adamw: > 0, added to √v̂
	BiasLRMult    float64   `yaml:"bias_lr_mult"`    // ≥ 0
	BiasDecayMult float64   `yaml:"bias_decay_mult"` // ≥ 0
}

// Schedule is the learning-rate policy (see train.Schedule): fixed, step (lr·gamma^⌊it/step_size⌋),
// poly (lr·(1 − it/train.steps)^power) or cosine (PyTorch's CosineAnnealingLR from lr
// down to min_lr over the steps after the warm-up), with an optional linear warm-up.
type Schedule struct {
	Policy      string  `yaml:"policy"`
	Power       float64 `yaml:"power"`
	StepSize    int     `yaml:"step_size"`
	Gamma       float64 `yaml:"gamma"`
	WarmupSteps int     `yaml:"warmup_steps"`
	MinLR       float64 `yaml:"min_lr"` // cosine: the rate it ends at, PyTorch's eta_min
}

// Loss is the per-pixel softmax cross-entropy.
type Loss struct {
	// Normalize is "mean" (over valid pixels) or "sum" (FCN's unnormalised loss).
	Normalize string `yaml:"normalize"`
	// IgnoreLabel marks pixels without loss; when not set it follows data.ignore_label,
	// and it may not differ from it.
	IgnoreLabel int `yaml:"ignore_label"`
	// ClassWeights, if set, has one weight (≥ 0) per class.
	ClassWeights []float64 `yaml:"class_weights"`
}

// Eval is evaluation during training.
type Eval struct {
	Every int    `yaml:"every"` // steps between evaluations; 0: only at the end
	Split string `yaml:"split"` // "val" (data.val_split) or "train" (data.train_split)
}

// Checkpoint is checkpointing during training.
type Checkpoint struct {
	Every int `yaml:"every"` // steps between checkpoints; 0: only at the end (and on interrupt)
	Keep  int `yaml:"keep"`  // how many recent checkpoints to keep besides the best; 0: all
}

// Log is what a run writes for watching it besides metrics.jsonl, status.json and
// evals/ (which it always writes). Its keys may change on resume.
type Log struct {
	// TensorBoard writes TensorBoard event files (scalars and eval overlays) into the run
	// folder: `tensorboard --logdir RUNS_DIR` shows them.
	TensorBoard bool `yaml:"tensorboard"`
	// Plots draws plots/loss.png, plots/lr.png and plots/miou.png from metrics.jsonl at
	// every evaluation and at the end, and evals/step-N/confusion.png (default true).
	Plots bool `yaml:"plots"`
}

// Schedule policies, loss normalisations, upsampling modes and evaluation splits. The
// loss's and the deconv's come from the layers they configure.
var (
	Policies   = []string{"fixed", "step", "poly", "cosine"}
	OptimTypes = []string{"sgd", "adam", "adamw"}
	// EarlyStopMetrics are the evaluation metrics train.early_stop can watch.
	EarlyStopMetrics = []string{"miou", "pixel_acc", "mean_acc", "fwiou", "loss"}
	Normalizations   = lossOption("normalize").Choices
	UpsampleModes    = layers.UpsampleModes
	EvalSplits       = []string{"val", "train"}
)

// lossOption is an option of the registered loss layer, which the loss section configures.
func lossOption(key string) *layers.Option {
	t, _ := layers.Lookup(layers.LossType)
	return t.Option(key)
}

// Default is an experiment with every section default filled and no layers. Load starts
// from it, so a file needs to give only what differs.
func Default() Experiment {
	return Experiment{
		Data:  data.DefaultConfig(),
		Train: Train{Steps: 1000, BatchSize: 8, IterSize: 1, Seed: 1, Precision: string(layers.FP32), EarlyStop: EarlyStop{Metric: "miou"}},
		Optim: Optim{Type: "sgd", LR: 0.01, Momentum: 0.9, WeightDecay: 5e-4, Betas: []float64{0.9, 0.999}, Eps: 1e-8,
			BiasLRMult: 1, BiasDecayMult: 1},
		Schedule:   Schedule{Policy: "fixed", Power: 0.9, Gamma: 0.1},
		Loss:       Loss{Normalize: lossOption("normalize").Default.(string), IgnoreLabel: data.DefaultConfig().IgnoreLabel},
		Eval:       Eval{Split: "val"},
		Checkpoint: Checkpoint{Keep: 2},
		Log:        Log{Plots: true},
	}
}

// shipped holds the experiments embedded in the binary. Files named study-*.yaml are
// studies (variants of an experiment to train and compare; package study reads them),
// not experiments: they are embedded too but not listed by Names.
//
//go:embed *.yaml
var shipped embed.FS

// Names lists the shipped experiments, sorted.
func Names() []string {
	entries, _ := fs.ReadDir(shipped, ".")
	var names []string
	for _, e := range entries {
		n, ok := strings.CutSuffix(e.Name(), ".yaml")
		if ok && !strings.HasPrefix(n, "study-") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// StudyNames lists the shipped studies (files named study-*.yaml), sorted.
func StudyNames() []string {
	entries, _ := fs.ReadDir(shipped, ".")
	var names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".yaml"); ok && strings.HasPrefix(n, "study-") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// ReadShipped returns the text of a shipped file by name without ".yaml" (an experiment,
// or a study such as "study-upsampling").
func ReadShipped(name string) ([]byte, error) {
	b, err := shipped.ReadFile(name + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("no shipped file %q (shipped experiments: %s)", name, strings.Join(Names(), ", "))
	}
	return b, nil
}
