package train

import (
	"fmt"
	"math"
	"sort"

	"github.com/fcn-dev/fcn/configs"
	"github.com/fcn-dev/fcn/internal/par"
)

// AdamConfig holds Adam's settings. Start from DefaultAdamConfig: a zero BiasLRMult
// freezes every bias.
type AdamConfig struct {
	Beta1, Beta2 float64 // moment decay rates, each in [0, 1)
	Eps          float64 // > 0, added to √v̂
	WeightDecay  float64 // ≥ 0: Adam's L2 term in the gradient, or AdamW's decoupled decay
	Decoupled    bool    // AdamW: decay the weights directly instead of through the gradient
	// BiasLRMult and BiasDecayMult multiply the parameter's own LRMult and DecayMult for
	// parameters whose Param.Name is BiasName, as in SGDConfig.
	BiasLRMult    float64
	BiasDecayMult float64
	BiasName      string // "" means "bias"
}

// DefaultAdamConfig is torch.optim.Adam's defaults: betas (0.9, 0.999), eps 1e-8, no
// decay, biases treated like weights.
func DefaultAdamConfig() AdamConfig {
	return AdamConfig{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, BiasLRMult: 1, BiasDecayMult: 1, BiasName: "bias"}
}

// AdamConfigFor maps an experiment's optim section (type adam or adamw) onto AdamConfig.
func AdamConfigFor(o configs.Optim) AdamConfig {
	c := AdamConfig{
		Eps: o.Eps, WeightDecay: o.WeightDecay, Decoupled: o.Type == OptimAdamW,
		BiasLRMult: o.BiasLRMult, BiasDecayMult: o.BiasDecayMult, BiasName: "bias",
	}
	if len(o.Betas) == 2 {
		c.Beta1, c.Beta2 = o.Betas[0], o.Betas[1]
	} else {
		c.Beta1, c.Beta2 = math.NaN(), math.NaN() // NewAdam refuses them
	}
	return c
}

// The names State gives a parameter's Adam state, after PyTorch's Adam state_dict.
const (
	adamExpAvg   = ".exp_avg"    // first moment m
	adamExpAvgSq = ".exp_avg_sq" // second moment v
	adamStep     = ".step"       // updates this parameter has had, as one float32
)

// maxAdamSteps is the largest step count State can write exactly (as a float32).
const maxAdamSteps = 1 << 24

// Adam is torch.optim.Adam (amsgrad off) and, with Decoupled, torch.optim.AdamW, for
// parameter i at its k-th update (k counts from 1, per parameter) with rate
// lr = the step's rate · LRMult [· BiasLRMult] and wd = WeightDecay · DecayMult [· BiasDecayMult]:
//
//	AdamW:  w ← w·(1 − lr·wd)
//	Adam:   g ← grad + wd·w
//	        m ← m + (1 − β1)·(g − m)          (PyTorch's lerp: β1·m + (1 − β1)·g)
//	        v ← β2·v + (1 − β2)·g²
//	        w ← w − lr/(1 − β1^k) · m / (√v / √(1 − β2^k) + eps)
//
// The arithmetic and its order follow PyTorch's single-tensor implementation: float32
// element by element, the per-step scalars (lr/(1 − β1^k), √(1 − β2^k), 1 − lr·wd) in
// float64 rounded once to float32. (PyTorch's vectorised kernels may fuse multiply-adds,
// so the last bit can differ from it; here it never depends on the target.) A parameter whose effective lr multiplier is 0 is left alone
// bit for bit and its step count does not advance (PyTorch skips a parameter without a
// gradient), so a bias unfrozen later starts with k = 1.
type Adam struct {
	cfg    AdamConfig
	params []NamedParam
	m, v   [][]float32 // moments, parallel to params
	steps  []int       // updates of each parameter
	step   adamTasks   // Step's tasks
}

// NewAdam checks the configuration and the parameters and allocates zeroed moments.
func NewAdam(cfg AdamConfig, params []NamedParam) (*Adam, error) {
	if cfg.BiasName == "" {
		cfg.BiasName = "bias"
	}
	who := "adam"
	if cfg.Decoupled {
		who = "adamw"
	}
	checks := []struct {
		name string
		v    float64
		ok   bool
	}{
		{"beta1", cfg.Beta1, cfg.Beta1 >= 0 && cfg.Beta1 < 1},
		{"beta2", cfg.Beta2, cfg.Beta2 >= 0 && cfg.Beta2 < 1},
		{"eps", cfg.Eps, cfg.Eps > 0 && !math.IsInf(cfg.Eps, 0)},
		{"weight_decay", cfg.WeightDecay, cfg.WeightDecay >= 0 && !math.IsInf(cfg.WeightDecay, 0)},
		{"bias_lr_mult", cfg.BiasLRMult, cfg.BiasLRMult >= 0 && !math.IsInf(cfg.BiasLRMult, 0)},
		{"bias_decay_mult", cfg.BiasDecayMult, cfg.BiasDecayMult >= 0 && !math.IsInf(cfg.BiasDecayMult, 0)},
	}
	for _, c := range checks {
		if !c.ok {
			return nil, fmt.Errorf("%s: %s out of range: %v", who, c.name, c.v)
		}
	}
	if err := checkParams(who, params); err != nil {
		return nil, err
	}
	o := &Adam{cfg: cfg, params: append([]NamedParam(nil), params...),
		m: make([][]float32, len(params)), v: make([][]float32, len(params)), steps: make([]int, len(params))}
	for i, np := range params {
		o.m[i] = make([]float32, np.Param.Value.Len())
		o.v[i] = make([]float32, np.Param.Value.Len())
	}
	o.step.runs = planRuns(o.params)
	o.step.coef = make([]adamCoef, len(params))
	return o, nil
}

func (o *Adam) name() string {
	if o.cfg.Decoupled {
		return "adamw"
	}
	return "adam"
}

// Params returns the parameters in update order.
func (o *Adam) Params() []NamedParam { return o.params }

func (o *Adam) multipliers(i int) (lrMult, decayMult float64) {
	return multipliers(o.params[i].Param, o.cfg.BiasName, o.cfg.BiasLRMult, o.cfg.BiasDecayMult)
}

// lerp32 is PyTorch's lerp kernel: a + w·(b − a) for |w| < ½, else b − (b − a)·(1 − w),
// so that w = 1 gives b exactly.
func lerp32(a, b, w float32) float32 {
	if w < 0.5 && w > -0.5 {
		return a + float32(w*(b-a))
	}
	return b - float32((b-a)*(1-w))
}

// Step applies one update with learning rate lr to every trainable parameter, reading
// Param.Grad. It does not clear the gradients. Each parameter's step count and
// coefficients are set first; then runs of elements are updated in parallel, each
// element on its own, so the result does not depend on the threads.
func (o *Adam) Step(lr float64) {
	for i := range o.params {
		c := &o.step.coef[i]
		lrMult, decayMult := o.multipliers(i)
		c.skip = lrMult == 0
		if c.skip {
			continue
		}
		o.steps[i]++
		k := float64(o.steps[i])
		rate := lr * lrMult
		c.wd = o.cfg.WeightDecay * decayMult
		c.stepSize = float32(rate / (1 - math.Pow(o.cfg.Beta1, k)))
		c.bc2Sqrt = float32(math.Sqrt(1 - math.Pow(o.cfg.Beta2, k)))
		c.decay = float32(1 - rate*c.wd) // AdamW
		c.l2 = float32(c.wd)             // Adam
	}
	o.step.o = o
	par.Run(len(o.step.runs), &o.step)
	o.step.o = nil
}

// adamTasks is an Adam step as tasks over runs of parameters' elements.
type adamTasks struct {
	o    *Adam
	runs []paramRun
	coef []adamCoef // per parameter, for the step in progress
}

// adamCoef are one parameter's coefficients for one step.
type adamCoef struct {
	skip                         bool // frozen
	wd                           float64
	stepSize, bc2Sqrt, decay, l2 float32
}

func (s *adamTasks) Do(t int) {
	o, r := s.o, s.runs[t]
	c := &s.coef[r.i]
	if c.skip {
		return
	}
	b1w := float32(1 - o.cfg.Beta1) // lerp weight
	b2 := float32(o.cfg.Beta2)
	omb2 := float32(1 - o.cfg.Beta2)
	eps := float32(o.cfg.Eps)
	np := o.params[r.i]
	w := np.Param.Value.Float32s()[r.lo:r.hi]
	g := np.Param.Grad.Float32s()[r.lo:r.hi]
	m, v := o.m[r.i][r.lo:r.hi], o.v[r.i][r.lo:r.hi]
	// Explicit float32 conversions round each product, so no FMA fusing: the same bits
	// on every target.
	for j := range w {
		d := g[j]
		if c.wd != 0 {
			if o.cfg.Decoupled {
				w[j] = float32(w[j] * c.decay)
			} else {
				d += float32(c.l2 * w[j])
			}
		}
		m[j] = lerp32(m[j], d, b1w)
		v[j] = float32(b2*v[j]) + float32(float32(omb2*d)*d)
		denom := float32(float32(math.Sqrt(float64(v[j])))/c.bc2Sqrt) + eps
		w[j] -= float32(c.stepSize * float32(m[j]/denom))
	}
}

// Scale multiplies the gradient of every trainable parameter by s (see SGD.Scale).
func (o *Adam) Scale(s float64) { scaleGrads(o.params, o.multipliers, s) }

// ZeroGrad sets every parameter's gradient to zero (Backward adds into it).
func (o *Adam) ZeroGrad() { zeroGrads(o.params) }

// State returns copies of the moments and the step count of every parameter, keyed
// "<name>.exp_avg", "<name>.exp_avg_sq" and "<name>.step" (one value), frozen ones
// included (zeros) so that the keys do not depend on which are frozen.
func (o *Adam) State() map[string][]float32 {
	m := make(map[string][]float32, 3*len(o.params))
	for i, np := range o.params {
		m[np.Name+adamExpAvg] = append([]float32(nil), o.m[i]...)
		m[np.Name+adamExpAvgSq] = append([]float32(nil), o.v[i]...)
		m[np.Name+adamStep] = []float32{float32(o.steps[i])}
	}
	return m
}

// SetState restores what State wrote. It checks everything first and changes nothing
// when the state does not match: the same names, the same lengths, whole step counts.
func (o *Adam) SetState(state map[string][]float32) error {
	who := o.name() + " state"
	want := make(map[string]int, 3*len(o.params))
	for _, np := range o.params {
		n := np.Param.Value.Len()
		want[np.Name+adamExpAvg], want[np.Name+adamExpAvgSq], want[np.Name+adamStep] = n, n, 1
	}
	var missing, unexpected []string
	for name, n := range want {
		buf, ok := state[name]
		switch {
		case !ok:
			missing = append(missing, name)
		case len(buf) != n:
			return fmt.Errorf("%s: %s has %d elements, want %d", who, name, len(buf), n)
		}
	}
	for name := range state {
		if _, ok := want[name]; !ok {
			unexpected = append(unexpected, name)
		}
	}
	if len(missing) > 0 || len(unexpected) > 0 {
		sort.Strings(missing)
		sort.Strings(unexpected)
		return fmt.Errorf("%s does not match the model: missing %v, unexpected %v (a checkpoint of another optim.type?)", who, missing, unexpected)
	}
	for _, np := range o.params {
		k := state[np.Name+adamStep][0]
		if !(k >= 0 && k <= maxAdamSteps) || k != float32(math.Trunc(float64(k))) {
			return fmt.Errorf("%s: %s is %v, not a step count", who, np.Name+adamStep, k)
		}
	}
	for i, np := range o.params {
		copy(o.m[i], state[np.Name+adamExpAvg])
		copy(o.v[i], state[np.Name+adamExpAvgSq])
		o.steps[i] = int(state[np.Name+adamStep][0])
	}
	return nil
}
