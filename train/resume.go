package train

import (
	"bytes"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/fcn-dev/fcn/checkpoints"
	"github.com/fcn-dev/fcn/configs"
	"github.com/fcn-dev/fcn/layers"
	"go.yaml.in/yaml/v3"
)

// precisionKey is train.precision as flattenExperiment writes it.
const precisionKey = "train.precision"

// loadResume loads the checkpoint to resume from: the newest intact one of runDir for
// ResumeLatest (notes then say what was passed over), else the folder named.
func loadResume(which, runDir string) (*checkpoints.Checkpoint, []string, error) {
	if which != ResumeLatest {
		ck, err := checkpoints.Load(which)
		if err != nil {
			return nil, nil, fmt.Errorf("cannot resume: %w", err)
		}
		return ck, nil, nil
	}
	ck, path, warnings, err := checkpoints.LoadLatestIntact(runDir)
	if err != nil {
		return nil, warnings, fmt.Errorf("cannot resume %s: %w", runDir, err)
	}
	var notes []string
	for _, w := range warnings {
		notes = append(notes, "resume: "+w)
	}
	if len(warnings) > 0 {
		notes = append(notes, "resume: falling back to "+path+", the newest intact checkpoint")
	}
	return ck, notes, nil
}

// ResumeMayChange reports whether key may differ between the experiment a checkpoint was
// written with and the one resuming it. Allowed: the optimiser and schedule (optim.*,
// schedule.*; optim.type only as checkOptimType allows), the step count (train.steps),
// when to stop early (train.early_stop.*), and what does not change results
// (train.workers, data.prefetch, eval.*, checkpoint.*, log.*, name). Everything else — the model,
// the data, the loss, train.seed, train.batch_size, train.iter_size, train.precision — would make the
// resumed run a different run, so a resume with any of them changed is refused.
func ResumeMayChange(key string) bool {
	if key == precisionKey {
		return false // bf16 and fp32 runs are different runs
	}
	for _, p := range []string{"optim.", "schedule.", "eval.", "checkpoint.", "log.", "train.early_stop."} {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	switch key {
	case "train.steps", "train.workers", "data.prefetch", "name":
		return true
	}
	return false
}

// checkResumable compares the checkpoint's experiment with exp: it refuses a resume
// whose differences are not all allowed (ResumeMayChange), naming every differing key
// with both values, and otherwise returns notes listing the allowed changes.
func checkResumable(ck *checkpoints.Checkpoint, exp *configs.Experiment) ([]string, error) {
	saved := ck.State.Experiment
	if _, ok := saved[precisionKey]; !ok && len(saved) > 0 {
		// Checkpoints from before train.precision existed trained in fp32.
		saved = maps.Clone(saved)
		saved[precisionKey] = string(layers.FP32)
	}
	cur := flattenExperiment(exp)
	if err := checkOptimType(ck, saved, exp); err != nil {
		return nil, err
	}
	var refused, allowed []string
	show := func(k string) string {
		sv, ok1 := saved[k]
		cv, ok2 := cur[k]
		if !ok1 {
			sv = "(absent)"
		}
		if !ok2 {
			cv = "(absent)"
		}
		return fmt.Sprintf("%s: %s → %s", k, sv, cv)
	}
	if len(saved) > 0 {
		for _, k := range checkpoints.DiffExperiment(saved, cur) {
			if ResumeMayChange(k) {
				allowed = append(allowed, show(k))
			} else {
				refused = append(refused, show(k))
			}
		}
	}
	if len(refused) == 0 && ck.State.ExperimentDigest != configs.Digest(exp) {
		refused = append(refused, "the model or data sections (experiment digest "+ck.State.ExperimentDigest+" in the checkpoint, "+configs.Digest(exp)+" now)")
	}
	if len(refused) > 0 {
		return nil, fmt.Errorf("cannot resume from %s: the experiment differs in what makes it a different run (the model, the data, the loss, train.seed, train.batch_size, train.iter_size or train.precision):\n\t%s\n(a resume may change only optim.*, schedule.*, train.steps, train.early_stop.*, train.workers, data.prefetch, eval.*, checkpoint.*; start a new run, or fine-tune with --init-from %s)",
			ck.Dir, strings.Join(refused, "\n\t"), ck.Dir)
	}
	var notes []string
	if len(allowed) > 0 {
		notes = append(notes, "resume: settings changed since the checkpoint (allowed): "+strings.Join(allowed, "; "))
	}
	return notes, nil
}

// checkOptimType refuses a resume with another optim.type: the checkpoint's optimiser
// state is that optimiser's (adam and adamw hold the same buffers, but they mean
// different runs). A checkpoint from before optim.type existed is sgd's.
func checkOptimType(ck *checkpoints.Checkpoint, saved map[string]string, exp *configs.Experiment) error {
	was, ok := saved["optim.type"]
	if !ok {
		was = OptimSGD
	}
	now := exp.Optim.Type
	if now == "" {
		now = OptimSGD
	}
	if was != now {
		return fmt.Errorf("cannot resume from %s: optim.type is %s there but %s now; the optimiser's state (%s) belongs to %s: resume with optim.type %s, or start a new run (--init-from %s keeps the weights)",
			ck.Dir, was, now, checkpoints.OptimizerFile, was, was, ck.Dir)
	}
	return nil
}

// optimizerTensors are the optimiser's state as checkpoint tensors, each shaped as
// checkpoints.OptimizerShape asks: its parameter's shape, or [1] for a single value
// beside a larger parameter (a step count).
func optimizerTensors(state map[string][]float32, model map[string][]int) ([]checkpoints.Tensor, error) {
	shapes := make(map[string][]int, len(state))
	for name, v := range state {
		if s, ok := checkpoints.OptimizerShape(name, []int{len(v)}, model); ok {
			shapes[name] = s
		}
	}
	return checkpoints.FromMap(state, shapes)
}

// restore puts the model, the optimiser and the generators in the checkpoint's state.
func (t *trainer) restore(ck *checkpoints.Checkpoint) error {
	if err := checkpoints.Validate(ck, ModelShapes(t.g)); err != nil {
		return fmt.Errorf("cannot resume: %w", err)
	}
	if err := SetModelState(t.g, ck.Model); err != nil {
		return fmt.Errorf("cannot resume from %s: %w", ck.Dir, err)
	}
	for _, m := range ck.Optimizer {
		if err := checkFinite(m); err != nil {
			return fmt.Errorf("cannot resume from %s: %s: %w", ck.Dir, checkpoints.OptimizerFile, err)
		}
	}
	if err := t.opt.SetState(checkpoints.ToMap(ck.Optimizer)); err != nil {
		return fmt.Errorf("cannot resume from %s: %w", ck.Dir, err)
	}
	// The generators were created from train.seed as in the original run; their saved
	// states must be the states they are in now (all randomness after initialisation is
	// positional), which also catches a checkpoint of another seed.
	for name, p := range t.rngs {
		saved, ok := ck.State.RNG[name]
		if !ok {
			return fmt.Errorf("cannot resume from %s: state.json has no %q generator state", ck.Dir, name)
		}
		var restored rand.PCG
		if err := restored.UnmarshalBinary(saved); err != nil {
			return fmt.Errorf("cannot resume from %s: generator %q: %w", ck.Dir, name, err)
		}
		now, _ := p.MarshalBinary()
		if !bytes.Equal(now, saved) {
			return fmt.Errorf("cannot resume from %s: generator %q is not in the state this experiment's train.seed gives", ck.Dir, name)
		}
		*p = restored
	}
	m := ck.State.Metrics
	if v, ok := m["train_loss"]; ok {
		t.lastLoss = v
	}
	t.early.restore(m)
	if s, ok := m[evalStepKey]; ok {
		split := t.exp.Eval.Split
		t.evalStep = int(s)
		t.lastEval = &EvalResult{Split: split, Loss: math.NaN(), Metrics: Metrics{
			MeanIoU: m[split+"_miou"], PixelAcc: m[split+"_pixel_acc"], MeanAcc: m[split+"_mean_acc"], FWIoU: m[split+"_fwiou"],
		}}
	}
	return nil
}

// flattenExperiment lists the resolved experiment's values by dotted key
// (model.layers[3].stride), each written as a YAML flow scalar or list: what a checkpoint
// records so that a resume with another experiment can name the keys that differ.
func flattenExperiment(e *configs.Experiment) map[string]string {
	b, err := yaml.Marshal(e)
	out := map[string]string{}
	if err != nil {
		return out
	}
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return out
	}
	var walk func(prefix string, n *yaml.Node)
	walk = func(prefix string, n *yaml.Node) {
		switch {
		case n.Kind == yaml.DocumentNode:
			for _, c := range n.Content {
				walk(prefix, c)
			}
		case n.Kind == yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i].Value
				if prefix != "" {
					k = prefix + "." + k
				}
				walk(k, n.Content[i+1])
			}
		case n.Kind == yaml.SequenceNode && len(n.Content) > 0 && n.Content[0].Kind == yaml.MappingNode:
			for i, c := range n.Content {
				walk(fmt.Sprintf("%s[%d]", prefix, i), c)
			}
		default:
			c := *n
			c.Style = yaml.FlowStyle
			s, _ := yaml.Marshal(&c)
			out[prefix] = strings.TrimSpace(string(s))
		}
	}
	walk("", &root)
	return out
}
