package train

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/fcn-dev/fcn/configs"
	"github.com/fcn-dev/fcn/layers"
)

// close32 compares a float32 result with a float64 value worked out by hand, to float32
// precision (a few ulps over three steps).
func close32(got float32, want float64) bool {
	return math.Abs(float64(got)-want) <= 1e-6*math.Max(1, math.Abs(want))
}

// Worked by hand from torch.optim.Adam's and AdamW's documented algorithm, with
// β1 = β2 = ½ and eps = 2 so that the numbers stay small:
//
//	m ← β1·m + (1 − β1)·g,  v ← β2·v + (1 − β2)·g²,  m̂ = m/(1 − β1^k),  v̂ = v/(1 − β2^k)
//	w ← w − lr·m̂/(√v̂ + eps)
//
// Adam adds wd·w to g first; AdamW multiplies w by (1 − lr·wd) first.
func TestAdamHandWorkedSteps(t *testing.T) {
	cfg := AdamConfig{Beta1: 0.5, Beta2: 0.5, Eps: 2, WeightDecay: 0.5, BiasLRMult: 2, BiasDecayMult: 0}
	tests := []struct {
		name      string
		decoupled bool
		grads     [3]float32
		want      [3]float64 // w after steps 1, 2, 3, from w = 1 at lr 0.1
	}{
		{
			// step 1: g = 1.5 + ½·1 = 2; m = 1, v = 2; m̂ = 1/½ = 2, v̂ = 2/½ = 4;
			//         w = 1 − 0.1·2/(2 + 2) = 0.95
			// step 2: g = 0.025 + ½·0.95 = 0.5; m = ½ + ¼ = 0.75, v = 1 + 0.125 = 1.125;
			//         m̂ = 0.75/¾ = 1, v̂ = 1.125/¾ = 1.5; w = 0.95 − 0.1/(√1.5 + 2)
			// step 3: g = 0 + ½·w₂; m = 0.375 + ½·g, v = 0.5625 + ½·g²; bias corrections ⅞
			name: "adam (L2 in the gradient)", grads: [3]float32{1.5, 0.025, 0},
			want: func() [3]float64 {
				w2 := 0.95 - 0.1/(math.Sqrt(1.5)+2)
				g3 := 0.5 * w2
				m3, v3 := 0.375+0.5*g3, 0.5625+0.5*g3*g3
				return [3]float64{0.95, w2, w2 - 0.1*(m3/0.875)/(math.Sqrt(v3/0.875)+2)}
			}(),
		},
		{
			// step 1: w = 1·(1 − 0.1·½) = 0.95; g = 2: m = 1, v = 2, m̂ = 2, v̂ = 4;
			//         w = 0.95 − 0.1·2/4 = 0.9
			// step 2: w = 0.9·0.95 = 0.855; g = ½: m = 0.75, v = 1.125; m̂ = 1, v̂ = 1.5;
			//         w = 0.855 − 0.1/(√1.5 + 2)
			// step 3: w = 0.95·w₂; g = −1: m = 0.375 − ½ = −0.125, v = 0.5625 + ½ = 1.0625;
			//         m̂ = −0.125/⅞ = −1/7, v̂ = 1.0625/⅞ = 17/14; w = 0.95·w₂ + 0.1·(1/7)/(√(17/14) + 2)
			name: "adamw (decoupled decay)", decoupled: true, grads: [3]float32{2, 0.5, -1},
			want: func() [3]float64 {
				w2 := 0.855 - 0.1/(math.Sqrt(1.5)+2)
				return [3]float64{0.9, w2, 0.95*w2 + 0.1*(1.0/7)/(math.Sqrt(17.0/14)+2)}
			}(),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := cfg
			c.Decoupled = tc.decoupled
			w := param("weight", 1, 1, 1)
			// The bias: lr ×2, no decay (FCN's convention), g = 1 every step. m̂ = v̂ = 1 at
			// every step (m = v = 1 − ½^k), so each step takes 0.2·1/(1 + 2) off.
			b := param("bias", 1, 1, 0.5)
			frozen := param("weight", 0, 1, 7)
			o, err := NewAdam(c, []NamedParam{{"l.weight", w}, {"l.bias", b}, {"f.weight", frozen}})
			if err != nil {
				t.Fatal(err)
			}
			for s := range 3 {
				data(w.Grad)[0], data(b.Grad)[0], data(frozen.Grad)[0] = tc.grads[s], 1, 1
				o.Step(0.1)
				if got := data(w.Value)[0]; !close32(got, tc.want[s]) {
					t.Errorf("after step %d: w = %.9g, want %.9g", s+1, got, tc.want[s])
				}
				if got, want := data(b.Value)[0], 0.5-float64(s+1)*0.2/3; !close32(got, want) {
					t.Errorf("after step %d: bias = %.9g, want %.9g", s+1, got, want)
				}
			}
			st := o.State()
			if data(frozen.Value)[0] != 7 || st["f.weight.step"][0] != 0 || st["f.weight.exp_avg"][0] != 0 {
				t.Errorf("frozen parameter moved: value %v, state %v %v", data(frozen.Value), st["f.weight.step"], st["f.weight.exp_avg"])
			}
			if st["l.weight.step"][0] != 3 || st["l.bias.step"][0] != 3 {
				t.Errorf("step counts %v %v, want 3", st["l.weight.step"], st["l.bias.step"])
			}
			// The bias's moments after three gradients of 1: m = v = 1 − ⅛.
			if !close32(st["l.bias.exp_avg"][0], 0.875) || !close32(st["l.bias.exp_avg_sq"][0], 0.875) {
				t.Errorf("bias moments %v %v, want 0.875 0.875", st["l.bias.exp_avg"], st["l.bias.exp_avg_sq"])
			}
		})
	}
}

// PyTorch's defaults (betas 0.9, 0.999, eps 1e-8) on two scalars over three steps,
// against the algorithm written out in float64 here, bias correction and all.
func TestAdamDefaultsAgainstFormula(t *testing.T) {
	grads := [][2]float64{{0.3, -2}, {-0.1, 0.5}, {0.25, 0.75}}
	for _, decoupled := range []bool{false, true} {
		cfg := DefaultAdamConfig()
		cfg.WeightDecay, cfg.Decoupled = 0.01, decoupled
		w := param("weight", 1, 1, 0.5, -1.5)
		o, err := NewAdam(cfg, []NamedParam{{"l.weight", w}})
		if err != nil {
			t.Fatal(err)
		}
		ref := []float64{0.5, -1.5}
		m, v := make([]float64, 2), make([]float64, 2)
		const lr, wd, b1, b2, eps = 0.01, 0.01, 0.9, 0.999, 1e-8
		for k := 1; k <= 3; k++ {
			for j := range ref {
				g := grads[k-1][j]
				if decoupled {
					ref[j] *= 1 - lr*wd
				} else {
					g += wd * ref[j]
				}
				m[j] = b1*m[j] + (1-b1)*g
				v[j] = b2*v[j] + (1-b2)*g*g
				mHat, vHat := m[j]/(1-math.Pow(b1, float64(k))), v[j]/(1-math.Pow(b2, float64(k)))
				ref[j] -= lr * mHat / (math.Sqrt(vHat) + eps)
				data(w.Grad)[j] = float32(grads[k-1][j])
			}
			o.Step(lr)
			for j, want := range ref {
				if got := data(w.Value)[j]; !close32(got, want) {
					t.Errorf("decoupled %v, step %d, w[%d] = %.9g, want %.9g", decoupled, k, j, got, want)
				}
			}
		}
	}
}

// β1 = 0 keeps no first moment: m is the gradient itself, exactly (PyTorch's lerp with
// weight 1 returns its end).
func TestAdamBeta1Zero(t *testing.T) {
	w := param("weight", 1, 1, 1, 2)
	o, err := NewAdam(AdamConfig{Beta1: 0, Beta2: 0.999, Eps: 1e-8, BiasLRMult: 1, BiasDecayMult: 1}, []NamedParam{{"w", w}})
	if err != nil {
		t.Fatal(err)
	}
	copy(data(w.Grad), []float32{0.1, -0.3})
	o.Step(0.01)
	if m := o.State()["w.exp_avg"]; !slices.Equal(m, []float32{0.1, -0.3}) {
		t.Errorf("exp_avg = %v, want the gradient [0.1 -0.3]", m)
	}
}

// A run split by State/SetState continues with the uninterrupted run's bits: moments and
// step counts travel, and a fresh optimiser's bias correction would otherwise restart.
func TestAdamStateRoundTrip(t *testing.T) {
	grads := [][]float32{{0.5, 0.25}, {-0.5, 1}, {0.125, -0.75}, {2, 0.5}}
	for _, typ := range []string{OptimAdam, OptimAdamW} {
		mk := func() (Optimizer, *layers.Param) {
			p := param("weight", 1, 1, 1, -2)
			o, err := NewOptimizer(configs.Optim{Type: typ, WeightDecay: 0.1, Betas: []float64{0.9, 0.999}, Eps: 1e-8, BiasLRMult: 1, BiasDecayMult: 1}, []NamedParam{{"c.weight", p}})
			if err != nil {
				t.Fatal(err)
			}
			return o, p
		}
		a, pa := mk()
		b, pb := mk()
		for s := range 2 {
			copy(data(pa.Grad), grads[s])
			copy(data(pb.Grad), grads[s])
			a.Step(0.01)
			b.Step(0.01)
		}
		saved := b.State()
		saved["c.weight.exp_avg"][0] = 99 // State must hand out copies
		saved = b.State()
		c, pc := mk()
		copy(data(pc.Value), data(pb.Value))
		if err := c.SetState(saved); err != nil {
			t.Fatal(err)
		}
		for s := 2; s < 4; s++ {
			copy(data(pa.Grad), grads[s])
			copy(data(pc.Grad), grads[s])
			a.Step(0.01)
			c.Step(0.01)
		}
		for j := range data(pa.Value) {
			if math.Float32bits(data(pa.Value)[j]) != math.Float32bits(data(pc.Value)[j]) {
				t.Errorf("%s: resumed %v, uninterrupted %v", typ, data(pc.Value), data(pa.Value))
			}
		}

		for _, tc := range []struct {
			state map[string][]float32
			want  string
		}{
			{map[string][]float32{"c.weight": {0, 0}}, "missing [c.weight.exp_avg c.weight.exp_avg_sq c.weight.step], unexpected [c.weight]"},
			{map[string][]float32{"c.weight.exp_avg": {0}, "c.weight.exp_avg_sq": {0, 0}, "c.weight.step": {1}}, "c.weight.exp_avg has 1 elements"},
			{map[string][]float32{"c.weight.exp_avg": {0, 0}, "c.weight.exp_avg_sq": {0, 0}, "c.weight.step": {1.5}}, "not a step count"},
		} {
			if err := c.SetState(tc.state); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: SetState(%v) = %v, want error containing %q", typ, tc.state, err, tc.want)
			}
		}
	}
}

func TestNewAdamErrors(t *testing.T) {
	ok := []NamedParam{{"w", param("weight", 1, 1, 1)}}
	bad := func(edit func(*AdamConfig)) AdamConfig {
		c := DefaultAdamConfig()
		edit(&c)
		return c
	}
	tests := []struct {
		cfg    AdamConfig
		params []NamedParam
		want   string
	}{
		{bad(func(c *AdamConfig) { c.Beta1 = 1 }), ok, "adam: beta1 out of range: 1"},
		{bad(func(c *AdamConfig) { c.Beta2 = -0.1 }), ok, "beta2"},
		{bad(func(c *AdamConfig) { c.Eps = 0 }), ok, "eps"},
		{bad(func(c *AdamConfig) { c.WeightDecay, c.Decoupled = -1, true }), ok, "adamw: weight_decay"},
		{DefaultAdamConfig(), []NamedParam{{"a", param("weight", 1, 1, 1)}, {"a", param("weight", 1, 1, 1)}}, `adam: parameter name "a" appears twice`},
	}
	for _, tc := range tests {
		if _, err := NewAdam(tc.cfg, tc.params); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewAdam(%+v) = %v, want error containing %q", tc.cfg, err, tc.want)
		}
	}
	if _, err := NewOptimizer(configs.Optim{Type: "rmsprop"}, ok); err == nil || !strings.Contains(err.Error(), `optim.type: unknown optimiser "rmsprop"`) {
		t.Errorf("NewOptimizer(rmsprop) = %v", err)
	}
}
