// Package train trains fcn models: the optimisers (SGD, Adam and AdamW with Caffe's
// per-parameter multipliers), learning-rate schedules, and the evaluation metrics of FCN's score.py.
package train

import (
	"fmt"
	"math"
	"sort"

	"github.com/fcn-dev/fcn/configs"
	"github.com/fcn-dev/fcn/internal/par"
	"github.com/fcn-dev/fcn/layers"
	"gorgonia.org/tensor"
)

// Optimizer updates parameters from their gradients: SGD, Adam or AdamW. Per step the
// trainer calls ZeroGrad, accumulates gradients with backward passes, then Scale(1/passes)
// and Step(rate). State and SetState save and restore everything else the optimiser
// holds (buffers, step counts) by name, for checkpoints: restoring a State and stepping
// on gives the bits the optimiser would have given without the break.
type Optimizer interface {
	Params() []NamedParam
	Step(lr float64)
	Scale(s float64)
	ZeroGrad()
	State() map[string][]float32
	SetState(state map[string][]float32) error
}

// Optimiser types, optim.type's values.
const (
	OptimSGD   = "sgd"
	OptimAdam  = "adam"
	OptimAdamW = "adamw"
)

// NewOptimizer builds the optimiser optim.type names; "" is sgd.
func NewOptimizer(o configs.Optim, params []NamedParam) (Optimizer, error) {
	switch o.Type {
	case "", OptimSGD:
		sgd, err := NewSGD(SGDConfigFor(o), params)
		if err != nil {
			return nil, err
		}
		return sgd, nil
	case OptimAdam, OptimAdamW:
		adam, err := NewAdam(AdamConfigFor(o), params)
		if err != nil {
			return nil, err
		}
		return adam, nil
	}
	return nil, fmt.Errorf("optim.type: unknown optimiser %q (want %s, %s or %s)", o.Type, OptimSGD, OptimAdam, OptimAdamW)
}

// NamedParam is a parameter with its model-wide unique name, "<layer>.<param>"
// (e.g. "upscore2.weight"): the key of its momentum buffer in State.
type NamedParam struct {
	Name  string
	Param *layers.Param
}

// SGDConfig holds the solver settings. Start from DefaultSGDConfig: a zero BiasLRMult
// freezes every bias.
type SGDConfig struct {
	Momentum    float64 // μ, in [0, 1)
	WeightDecay float64 // L2 coefficient, ≥ 0
	Nesterov    bool    // PyTorch's Nesterov variant; needs Momentum > 0
	// BiasLRMult and BiasDecayMult multiply the parameter's own LRMult and DecayMult for
	// parameters whose Param.Name is BiasName. FCN's convention is 2 and 0.
	BiasLRMult    float64
	BiasDecayMult float64
	BiasName      string // "" means "bias"
}

// DefaultSGDConfig is plain SGD: no momentum, no decay, biases treated like weights.
func DefaultSGDConfig() SGDConfig {
	return SGDConfig{BiasLRMult: 1, BiasDecayMult: 1, BiasName: "bias"}
}

// SGDConfigFor maps an experiment's optim section onto SGDConfig (the learning rate is
// the schedule's: see ScheduleFor).
func SGDConfigFor(o configs.Optim) SGDConfig {
	return SGDConfig{
		Momentum: o.Momentum, WeightDecay: o.WeightDecay, Nesterov: o.Nesterov,
		BiasLRMult: o.BiasLRMult, BiasDecayMult: o.BiasDecayMult, BiasName: "bias",
	}
}

// SGD is stochastic gradient descent with momentum, in PyTorch's formulation:
//
//	g ← grad + wd·w            (wd = WeightDecay · DecayMult [· BiasDecayMult])
//	v ← μ·v + g
//	w ← w − lr·v               (lr = the step's rate · LRMult [· BiasLRMult])
//
// With Nesterov, w ← w − lr·(g + μ·v) after the same v update. v starts at zero, which
// equals PyTorch's "buffer = g on the first step" (no dampening). Caffe's SGDSolver puts lr
// inside the buffer (v ← μ·v + lr·g; w ← w − v); the two agree while lr is constant and
// differ only in how a change of lr reaches the momentum already accumulated.
//
// A parameter whose effective lr multiplier is 0 (Param.Frozen, or a bias with
// BiasLRMult 0) is left alone bit for bit: no decay, no momentum update.
// The arithmetic is float32, element by element, in a fixed order: results do not depend
// on the goroutine count.
type SGD struct {
	cfg    SGDConfig
	params []NamedParam
	bufs   [][]float32 // momentum buffers, parallel to params
	step   sgdStep     // Step's tasks
}

// NewSGD checks the configuration and the parameters (float32, unique names, Grad of the
// Value's size) and allocates zeroed momentum buffers.
func NewSGD(cfg SGDConfig, params []NamedParam) (*SGD, error) {
	if cfg.BiasName == "" {
		cfg.BiasName = "bias"
	}
	checks := []struct {
		name string
		v    float64
		ok   bool
	}{
		{"momentum", cfg.Momentum, cfg.Momentum >= 0 && cfg.Momentum < 1},
		{"weight_decay", cfg.WeightDecay, cfg.WeightDecay >= 0 && !math.IsInf(cfg.WeightDecay, 0)},
		{"bias_lr_mult", cfg.BiasLRMult, cfg.BiasLRMult >= 0 && !math.IsInf(cfg.BiasLRMult, 0)},
		{"bias_decay_mult", cfg.BiasDecayMult, cfg.BiasDecayMult >= 0 && !math.IsInf(cfg.BiasDecayMult, 0)},
	}
	for _, c := range checks {
		if !c.ok {
			return nil, fmt.Errorf("sgd: %s out of range: %v", c.name, c.v)
		}
	}
	if cfg.Nesterov && cfg.Momentum == 0 {
		return nil, fmt.Errorf("sgd: nesterov needs momentum > 0")
	}
	if err := checkParams("sgd", params); err != nil {
		return nil, err
	}
	o := &SGD{cfg: cfg, params: append([]NamedParam(nil), params...), bufs: make([][]float32, len(params))}
	for i, np := range params {
		o.bufs[i] = make([]float32, np.Param.Value.Len())
	}
	o.step.runs = planRuns(o.params)
	return o, nil
}

// sgdStep is an SGD step as tasks: runs of paramRunLen elements of one parameter,
// each updated on its own (every element's update reads only its own weight, gradient
// and momentum), so the result is the same whichever thread runs which run.
type sgdStep struct {
	o    *SGD
	lr   float64
	runs []paramRun
}

// paramRun is elements [lo, hi) of parameter i.
type paramRun struct{ i, lo, hi int }

// paramRunLen is the length of a run: enough work per task to pay for handing it out.
const paramRunLen = 1 << 14

// planRuns cuts every parameter into runs of paramRunLen elements (the last shorter),
// in parameter order: an optimiser step's tasks.
func planRuns(params []NamedParam) []paramRun {
	var runs []paramRun
	for i, np := range params {
		n := np.Param.Value.Len()
		for lo := 0; lo < n; lo += paramRunLen {
			runs = append(runs, paramRun{i, lo, min(lo+paramRunLen, n)})
		}
	}
	return runs
}

func (s *sgdStep) Do(t int) {
	o, r := s.o, s.runs[t]
	lrMult, decayMult := o.multipliers(r.i)
	if lrMult == 0 {
		return
	}
	np := o.params[r.i]
	w := np.Param.Value.Float32s()[r.lo:r.hi]
	g := np.Param.Grad.Float32s()[r.lo:r.hi]
	v := o.bufs[r.i][r.lo:r.hi]
	sgdUpdate(w, g, v, float32(s.lr*lrMult), float32(o.cfg.WeightDecay*decayMult), float32(o.cfg.Momentum), o.cfg.Nesterov)
}

// sgdUpdate applies the update to one run: d = g + wd·w; with momentum v = mu·v + d and
// d = v (Nesterov: d += mu·v); w −= rate·d. The explicit float32 conversions round each
// product, so the compiler cannot fuse it into an FMA on some targets and not others:
// the same bits everywhere. Weight decay with plain momentum, the usual case, has a
// loop of its own without the per-element branches.
func sgdUpdate(w, g, v []float32, rate, wd, mu float32, nesterov bool) {
	g, v = g[:len(w)], v[:len(w)]
	if wd != 0 && mu != 0 && !nesterov {
		for j := range w {
			d := g[j] + float32(wd*w[j])
			vj := float32(mu*v[j]) + d
			v[j] = vj
			w[j] -= float32(rate * vj)
		}
		return
	}
	for j := range w {
		d := g[j]
		if wd != 0 {
			d += float32(wd * w[j])
		}
		if mu != 0 {
			v[j] = float32(mu*v[j]) + d
			if nesterov {
				d += float32(mu * v[j])
			} else {
				d = v[j]
			}
		}
		w[j] -= float32(rate * d)
	}
}

// checkParams checks what every optimiser needs of its parameters: float32 value and
// gradient of one size, unique names, multipliers ≥ 0. Errors start with who.
func checkParams(who string, params []NamedParam) error {
	seen := make(map[string]bool, len(params))
	for i, np := range params {
		p := np.Param
		switch {
		case np.Name == "":
			return fmt.Errorf("%s: parameter %d has no name", who, i)
		case seen[np.Name]:
			return fmt.Errorf("%s: parameter name %q appears twice", who, np.Name)
		case p == nil || p.Value == nil || p.Grad == nil:
			return fmt.Errorf("%s: parameter %s: missing value or gradient tensor", who, np.Name)
		case p.Value.Dtype() != tensor.Float32 || p.Grad.Dtype() != tensor.Float32:
			return fmt.Errorf("%s: parameter %s: value and gradient must be float32, got %v and %v", who, np.Name, p.Value.Dtype(), p.Grad.Dtype())
		case p.Value.Len() != p.Grad.Len():
			return fmt.Errorf("%s: parameter %s: gradient has %d elements, value %d", who, np.Name, p.Grad.Len(), p.Value.Len())
		case p.LRMult < 0 || p.DecayMult < 0:
			return fmt.Errorf("%s: parameter %s: negative lr_mult %v or decay_mult %v", who, np.Name, p.LRMult, p.DecayMult)
		}
		seen[np.Name] = true
	}
	return nil
}

// Params returns the parameters in update order.
func (o *SGD) Params() []NamedParam { return o.params }

// multipliers returns the effective lr and decay multipliers of parameter i, read at every
// step so that a change of Param.LRMult (unfreezing) takes effect.
func (o *SGD) multipliers(i int) (lrMult, decayMult float64) {
	return multipliers(o.params[i].Param, o.cfg.BiasName, o.cfg.BiasLRMult, o.cfg.BiasDecayMult)
}

// multipliers is a parameter's own lr and decay multipliers, times the bias ones for a
// parameter named biasName.
func multipliers(p *layers.Param, biasName string, biasLRMult, biasDecayMult float64) (lrMult, decayMult float64) {
	lrMult, decayMult = p.LRMult, p.DecayMult
	if p.Name == biasName {
		lrMult *= biasLRMult
		decayMult *= biasDecayMult
	}
	return lrMult, decayMult
}

// Step applies one update with learning rate lr (the schedule's rate for this step) to
// every trainable parameter, reading Param.Grad. It does not clear the gradients.
func (o *SGD) Step(lr float64) {
	o.step.o, o.step.lr = o, lr
	par.Run(len(o.step.runs), &o.step)
	o.step.o = nil
}

// Scale multiplies the gradient of every trainable parameter by s. The trainer calls
// Scale(1/iter_size) after accumulating iter_size backward passes, before Step, as Caffe's
// Normalize does, so that accumulation over k batches of n equals one batch of k·n
// under a mean-normalised loss. Frozen parameters' gradients are left as they are.
func (o *SGD) Scale(s float64) { scaleGrads(o.params, o.multipliers, s) }

// ZeroGrad sets every parameter's gradient to zero (Backward adds into it).
func (o *SGD) ZeroGrad() { zeroGrads(o.params) }

// scaleGrads multiplies the gradient of every parameter whose lr multiplier (from
// mults, by index) is not 0 by s: what every optimiser's Scale does.
func scaleGrads(params []NamedParam, mults func(i int) (lrMult, decayMult float64), s float64) {
	if s == 1 {
		return
	}
	f := float32(s)
	for i, np := range params {
		if lrMult, _ := mults(i); lrMult == 0 {
			continue
		}
		g := np.Param.Grad.Float32s()
		for j := range g {
			g[j] *= f
		}
	}
}

// zeroGrads clears every parameter's gradient.
func zeroGrads(params []NamedParam) {
	for _, np := range params {
		clear(np.Param.Grad.Float32s())
	}
}

// State returns a copy of every momentum buffer, keyed by parameter name, for checkpoints.
// Frozen parameters have all-zero buffers; they are included so that State's keys do not
// depend on which parameters happen to be frozen.
func (o *SGD) State() map[string][]float32 {
	m := make(map[string][]float32, len(o.params))
	for i, np := range o.params {
		m[np.Name] = append([]float32(nil), o.bufs[i]...)
	}
	return m
}

// SetState restores momentum buffers written by State. It checks everything first and
// changes nothing when the state does not match: the same names, the same lengths.
func (o *SGD) SetState(state map[string][]float32) error {
	var missing, unexpected []string
	for _, np := range o.params {
		if _, ok := state[np.Name]; !ok {
			missing = append(missing, np.Name)
		}
	}
	index := make(map[string]int, len(o.params))
	for i, np := range o.params {
		index[np.Name] = i
	}
	for name, buf := range state {
		i, ok := index[name]
		if !ok {
			unexpected = append(unexpected, name)
			continue
		}
		if len(buf) != len(o.bufs[i]) {
			return fmt.Errorf("sgd state: momentum of %s has %d elements, the parameter %d", name, len(buf), len(o.bufs[i]))
		}
	}
	if len(missing) > 0 || len(unexpected) > 0 {
		sort.Strings(unexpected)
		return fmt.Errorf("sgd state does not match the model: missing %v, unexpected %v", missing, unexpected)
	}
	for i, np := range o.params {
		copy(o.bufs[i], state[np.Name])
	}
	return nil
}
