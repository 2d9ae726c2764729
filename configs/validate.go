package configs

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"

	"github.com/fcn-dev/fcn/layers"
)

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// finite reports a usable number (not NaN, not ±Inf).
func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// oneOf checks an enumerated value, suggesting the closest valid one.
func oneOf(p *problems, key, v string, valid []string) {
	if !slices.Contains(valid, v) {
		p.add(key, "unknown value %q%s", v, suggestList(v, valid))
	}
}

// Validate checks an experiment built or changed in code as Load checks a file
// (everything but unknown keys and types, which only a file can get wrong). It does not
// resolve: call it on an experiment whose inputs are explicit, as Load returns them.
func (e *Experiment) Validate() error {
	p := &problems{source: e.Source, origin: map[string]string{}}
	if p.source == "" {
		p.source = "experiment " + e.Name
	}
	validate(e, p)
	return p.err()
}

// validate checks every section; problems go to p, in file order.
func validate(e *Experiment, p *problems) {
	if !nameRE.MatchString(e.Name) {
		p.add("name", "%q cannot name a run folder: use letters, digits, '.', '_' and '-'", e.Name)
	}
	d := e.Data
	if p.noData && d.Root == "" {
		d.Root = "." // the dataset is not read: only its other keys must make sense
	}
	if err := d.Validate(); err != nil {
		dataErrors(err, p)
	}
	validateModel(e, p)
	if e.Model.Classes > 0 {
		if names, err := e.Data.ClassNames(); err == nil && len(names) != e.Model.Classes {
			p.add("model.classes", "is %d but the data has %d classes (%s); make them agree", e.Model.Classes, len(names), strings.Join(names, ", "))
		}
	}

	t := e.Train
	if t.Steps <= 0 {
		p.add("train.steps", "must be > 0, got %d", t.Steps)
	}
	if t.BatchSize <= 0 {
		p.add("train.batch_size", "must be > 0, got %d", t.BatchSize)
	}
	if t.IterSize < 1 {
		p.add("train.iter_size", "must be ≥ 1 (batches accumulated per update), got %d", t.IterSize)
	}
	if t.Workers < 0 {
		p.add("train.workers", "must be ≥ 0 (0: GOMAXPROCS), got %d", t.Workers)
	}

	if _, err := layers.ParsePrecision(t.Precision); err != nil {
		p.add("train.precision", "unknown value %q (want fp32 or bf16)", t.Precision)
	}
	validateEarlyStop(e, p)

	o := e.Optim
	oneOf(p, "optim.type", o.Type, OptimTypes)
	if !finite(o.LR) || o.LR < 0 {
		p.add("optim.lr", "must be a number ≥ 0, got %v", o.LR)
	}
	if !(o.Momentum >= 0 && o.Momentum < 1) {
		p.add("optim.momentum", "must be in [0, 1), got %v", o.Momentum)
	}
	if !finite(o.WeightDecay) || o.WeightDecay < 0 {
		p.add("optim.weight_decay", "must be ≥ 0, got %v", o.WeightDecay)
	}
	if o.Nesterov && o.Momentum == 0 {
		p.add("optim.nesterov", "needs optim.momentum > 0")
	}
	if o.Nesterov && (o.Type == "adam" || o.Type == "adamw") {
		p.add("optim.nesterov", "applies to optim.type sgd only, not %s", o.Type)
	}
	if len(o.Betas) != 2 {
		p.add("optim.betas", "must be two numbers [beta1, beta2], e.g. [0.9, 0.999], got %d", len(o.Betas))
	} else {
		for i, b := range o.Betas {
			if !(b >= 0 && b < 1) {
				p.add(fmt.Sprintf("optim.betas[%d]", i), "must be in [0, 1), got %v", b)
			}
		}
	}
	if !finite(o.Eps) || o.Eps <= 0 {
		p.add("optim.eps", "must be a number > 0, got %v", o.Eps)
	}
	if (o.Type == "adam" || o.Type == "adamw") && t.Steps > 1<<24 {
		// Checkpoints hold Adam's step counts as float32, exact to 2^24.
		p.add("train.steps", "is %d: with optim.type %s at most %d", t.Steps, o.Type, 1<<24)
	}
	if !finite(o.BiasLRMult) || o.BiasLRMult < 0 {
		p.add("optim.bias_lr_mult", "must be ≥ 0, got %v", o.BiasLRMult)
	}
	if !finite(o.BiasDecayMult) || o.BiasDecayMult < 0 {
		p.add("optim.bias_decay_mult", "must be ≥ 0, got %v", o.BiasDecayMult)
	}

	s := e.Schedule
	oneOf(p, "schedule.policy", s.Policy, Policies)
	if s.Policy == "step" {
		if s.StepSize <= 0 {
			p.add("schedule.step_size", "must be > 0 for policy step, got %d", s.StepSize)
		}
		if !finite(s.Gamma) || s.Gamma <= 0 {
			p.add("schedule.gamma", "must be > 0 for policy step, got %v", s.Gamma)
		}
	}
	if s.Policy == "poly" && (!finite(s.Power) || s.Power < 0) {
		p.add("schedule.power", "must be ≥ 0 for policy poly, got %v", s.Power)
	}
	if s.WarmupSteps < 0 {
		p.add("schedule.warmup_steps", "must be ≥ 0, got %d", s.WarmupSteps)
	}
	if !finite(s.MinLR) || s.MinLR < 0 {
		p.add("schedule.min_lr", "must be a number ≥ 0, got %v", s.MinLR)
	}
	if s.Policy == "cosine" {
		if finite(s.MinLR) && s.MinLR > o.LR {
			p.add("schedule.min_lr", "is %v, above optim.lr %v: policy cosine anneals from optim.lr down to min_lr", s.MinLR, o.LR)
		}
		if t.Steps > 0 && s.WarmupSteps >= t.Steps {
			p.add("schedule.warmup_steps", "is %d but train.steps is %d: policy cosine anneals over the steps after the warm-up, so it needs warmup_steps < train.steps", s.WarmupSteps, t.Steps)
		}
	}

	l := e.Loss
	oneOf(p, "loss.normalize", l.Normalize, Normalizations)
	if l.IgnoreLabel != e.Data.IgnoreLabel {
		p.add("loss.ignore_label", "is %d but data.ignore_label is %d: the loss must ignore what the data marks as ignored", l.IgnoreLabel, e.Data.IgnoreLabel)
	}
	if l.ClassWeights != nil {
		if e.Model.Classes > 0 && len(l.ClassWeights) != e.Model.Classes {
			p.add("loss.class_weights", "has %d weights for %d classes (model.classes)", len(l.ClassWeights), e.Model.Classes)
		}
		for i, w := range l.ClassWeights {
			if !finite(w) || w < 0 {
				p.add(fmt.Sprintf("loss.class_weights[%d]", i), "must be a number ≥ 0, got %v", w)
			}
		}
	}

	if e.Eval.Every < 0 {
		p.add("eval.every", "must be ≥ 0 (0: only at the end), got %d", e.Eval.Every)
	}
	oneOf(p, "eval.split", e.Eval.Split, EvalSplits)
	if e.Checkpoint.Every < 0 {
		p.add("checkpoint.every", "must be ≥ 0 (0: only at the end), got %d", e.Checkpoint.Every)
	}
	if e.Checkpoint.Keep < 0 {
		p.add("checkpoint.keep", "must be ≥ 0 (0: keep all), got %d", e.Checkpoint.Keep)
	}
}

// validateEarlyStop checks train.early_stop; it needs evaluations during training.
func validateEarlyStop(e *Experiment, p *problems) {
	es := e.Train.EarlyStop
	oneOf(p, "train.early_stop.metric", es.Metric, EarlyStopMetrics)
	if es.Patience < 0 {
		p.add("train.early_stop.patience", "must be ≥ 0 (evaluations without improvement; 0: no early stopping), got %d", es.Patience)
	}
	if !finite(es.MinDelta) || es.MinDelta < 0 {
		p.add("train.early_stop.min_delta", "must be a number ≥ 0, got %v", es.MinDelta)
	}
	if es.Patience > 0 && e.Eval.Every <= 0 {
		p.add("train.early_stop", "needs evaluations during training: set eval.every > 0 (it is %d, which evaluates only at the end)", e.Eval.Every)
	}
}

// reserved are the names of the graph's inputs.
var reserved = []string{"data", "label"}

func validateModel(e *Experiment, p *problems) {
	m := &e.Model
	if m.Classes <= 0 {
		p.add("model.classes", "must be > 0, got %d", m.Classes)
	}
	if m.Upsample != "" {
		oneOf(p, "model.upsample", m.Upsample, layers.UpsampleModes)
	}
	if m.Init != "" {
		validateModelInit(p, m.Init)
	}
	if len(m.Layers) == 0 {
		p.add("model.layers", "the model has no layers")
		return
	}
	names := map[string]int{}
	var all []string
	for i, l := range m.Layers {
		label := layerLabel(i, l.Name)
		switch {
		case l.Name == "":
			// reported by the decoder when missing; here when empty
			p.add(label, "name must not be empty")
		case slices.Contains(reserved, l.Name):
			p.add(label, "%q is reserved for the network's input; choose another name", l.Name)
		case !nameRE.MatchString(l.Name):
			p.add(label, "name %q: use letters, digits, '.', '_' and '-'", l.Name)
		default:
			if j, dup := names[l.Name]; dup {
				p.add(label, "name %q is already used by model.layers[%d]", l.Name, j)
			} else {
				names[l.Name] = i
				all = append(all, l.Name)
			}
		}
	}
	for i := range m.Layers {
		l := &m.Layers[i]
		label := layerLabel(i, l.Name)
		for _, in := range l.Inputs {
			if in == "data" {
				continue
			}
			if _, ok := names[in]; !ok {
				p.add(label, "unknown input %q%s", in, suggestList(in, append([]string{"data"}, all...)))
			}
		}
		validateLayer(l, label, m.Classes, p)
	}
	if len(p.list) == 0 {
		if _, err := m.Order(); err != nil {
			p.add("model.layers", "%s", strings.TrimPrefix(err.Error(), "model.layers: "))
		}
	}
}

// validateLayer checks one layer's arity and options against its registered type.
func validateLayer(l *LayerSpec, label string, classes int, p *problems) {
	typ := layerType(l.Type)
	switch {
	case typ == nil:
		if !p.has(label) { // a file's unknown type is reported by the decoder already
			p.add(label, "unknown layer type %q%s", l.Type, suggestList(l.Type, layers.ModelTypes()))
		}
		return
	case l.Options.Type() != typ:
		// A layer built in code must take its options from its type (NewOptions).
		p.add(label, "options are not those of a %s layer: start from the type's NewOptions", l.Type)
		return
	}
	n, ar := len(l.Inputs), typ.Inputs
	switch {
	case ar.Min == ar.Max && n != ar.Min:
		p.add(label, "inputs: a %s layer takes %d input(s), got %d", l.Type, ar.Min, n)
	case n < ar.Min:
		p.add(label, "inputs: a %s layer takes at least %d inputs, got %d", l.Type, ar.Min, n)
	case ar.Max > 0 && n > ar.Max:
		p.add(label, "inputs: a %s layer takes at most %d inputs, got %d", l.Type, ar.Max, n)
	}
	for _, pr := range typ.CheckOptions(layers.BuildArgs{Name: l.Name, Inputs: l.Inputs, Options: l.Options, Classes: classes}) {
		key := label
		if pr.Key != "" {
			key += ": " + pr.Key
		}
		if pr.Unknown != "" {
			p.add(key, "unknown value %q%s", pr.Unknown, suggestList(pr.Unknown, pr.Choices))
			continue
		}
		p.add(key, "%s", pr.Msg)
	}
}

// validateModelInit checks that model.init is a choice of every layer type whose option
// takes its default from it, naming the first type that rejects it.
func validateModelInit(p *problems, v string) {
	for _, t := range layers.Types() {
		if t.Internal {
			continue
		}
		for _, o := range t.Options {
			if o.ModelDefault == "init" && !slices.Contains(o.Choices, v) {
				p.add("model.init", "%q is not an init of %s layers (%s accepts %s)", v, t.Name, t.Name, strings.Join(o.Choices, ", "))
				return
			}
		}
	}
}
