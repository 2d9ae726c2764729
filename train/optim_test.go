package train

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/fcn-dev/fcn/layers"
	"gorgonia.org/tensor"
)

func f32(v ...float32) *tensor.Dense {
	return tensor.New(tensor.WithShape(len(v)), tensor.WithBacking(v))
}

func param(name string, lrMult, decayMult float64, w ...float32) *layers.Param {
	return &layers.Param{Name: name, Value: f32(w...), Grad: f32(make([]float32, len(w))...), LRMult: lrMult, DecayMult: decayMult}
}

func data(d *tensor.Dense) []float32 { return d.Data().([]float32) }

// The expected weights below were worked out by hand (all values are exact in float32)
// and agree with torch.optim.SGD (PyTorch 1.13) given the same numbers; the per-parameter
// multipliers correspond to a PyTorch param group with lr·lr_mult and wd·decay_mult.
func TestSGDTwoSteps(t *testing.T) {
	tests := []struct {
		name    string
		cfg     SGDConfig
		p       *layers.Param
		grads   [2][]float32
		want    [2][]float32 // weights after step 1 and 2
		wantBuf []float32    // momentum after step 2
		lr      float64
	}{
		{
			// step 1: d = g + ¼w = [¾, −¼]; v = d; w −= ½v → [0.625, −1.875]
			// step 2: d = [−½, 1] + ¼w = [−0.34375, 0.53125]; v = ½v + d = [0.03125, 0.40625]
			name: "momentum and decay", cfg: SGDConfig{Momentum: 0.5, WeightDecay: 0.25, BiasLRMult: 1, BiasDecayMult: 1},
			p:     param("weight", 1, 1, 1, -2),
			grads: [2][]float32{{0.5, 0.25}, {-0.5, 1}},
			want:  [2][]float32{{0.625, -1.875}, {0.609375, -2.078125}}, wantBuf: []float32{0.03125, 0.40625}, lr: 0.5,
		},
		{
			// step 1: v = [¾, −¼]; w −= ½(d + ½v) = ½[1.125, −0.375] → [0.4375, −1.8125]
			// step 2: d = [−0.390625, 0.546875]; v = [−0.015625, 0.421875];
			//         d + ½v = [−0.3984375, 0.7578125] → w = [0.63671875, −2.19140625]
			name: "nesterov", cfg: SGDConfig{Momentum: 0.5, WeightDecay: 0.25, Nesterov: true, BiasLRMult: 1, BiasDecayMult: 1},
			p:     param("weight", 1, 1, 1, -2),
			grads: [2][]float32{{0.5, 0.25}, {-0.5, 1}},
			want:  [2][]float32{{0.4375, -1.8125}, {0.63671875, -2.19140625}}, wantBuf: []float32{-0.015625, 0.421875}, lr: 0.5,
		},
		{
			// FCN's bias convention: lr ×2, no decay. step 1: v = ½; w = 1 − 1·½.
			// step 2: v = ¼ + ¼ = ½; w = ½ − ½ = 0.
			name: "bias lr x2 no decay", cfg: SGDConfig{Momentum: 0.5, WeightDecay: 0.25, BiasLRMult: 2, BiasDecayMult: 0},
			p:     param("bias", 1, 1, 1),
			grads: [2][]float32{{0.5}, {0.25}},
			want:  [2][]float32{{0.5}, {0}}, wantBuf: []float32{0.5}, lr: 0.5,
		},
		{
			// bias multipliers do not touch a "weight": lr_mult ½, decay_mult 2 of its own.
			// step 1: d = 1 + ½·2 = 2; v = 2; w = 2 − ¼·2 = 1.5
			// step 2: d = 0 + ½·1.5 = 0.75; v = 1 + 0.75; w = 1.5 − ¼·1.75 = 1.0625
			name: "per-param multipliers", cfg: SGDConfig{Momentum: 0.5, WeightDecay: 0.25, BiasLRMult: 2, BiasDecayMult: 0},
			p:     param("weight", 0.5, 2, 2),
			grads: [2][]float32{{1}, {0}},
			want:  [2][]float32{{1.5}, {1.0625}}, wantBuf: []float32{1.75}, lr: 0.5,
		},
		{
			// no momentum: w −= lr·(g + wd·w). step 1: 4 − ½(1 + ½·4) = 2.5; step 2: 2.5 − ½(0 + 1.25) = 1.875
			name: "plain", cfg: SGDConfig{WeightDecay: 0.5, BiasLRMult: 1, BiasDecayMult: 1},
			p:     param("weight", 1, 1, 4),
			grads: [2][]float32{{1}, {0}},
			want:  [2][]float32{{2.5}, {1.875}}, wantBuf: []float32{0}, lr: 0.5,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := NewSGD(tc.cfg, []NamedParam{{"l.w", tc.p}})
			if err != nil {
				t.Fatal(err)
			}
			for s := range 2 {
				copy(data(tc.p.Grad), tc.grads[s])
				o.Step(tc.lr)
				if got := data(tc.p.Value); !slices.Equal(got, tc.want[s]) {
					t.Fatalf("after step %d: w = %v, want %v", s+1, got, tc.want[s])
				}
			}
			if got := o.State()["l.w"]; !slices.Equal(got, tc.wantBuf) {
				t.Errorf("momentum = %v, want %v", got, tc.wantBuf)
			}
		})
	}
}

func TestSGDFrozenUntouched(t *testing.T) {
	weird := []float32{float32(math.Copysign(0, -1)), math.Float32frombits(0x7fc00123), 1e-42, 3}
	frozen := param("weight", 0, 1, weird...)
	copy(data(frozen.Grad), []float32{1, 2, 3, 4})
	bias := param("bias", 1, 1, 5) // frozen through BiasLRMult = 0
	copy(data(bias.Grad), []float32{1})
	live := param("weight", 1, 1, 1)
	copy(data(live.Grad), []float32{1})
	o, err := NewSGD(SGDConfig{Momentum: 0.9, WeightDecay: 0.1, BiasLRMult: 0, BiasDecayMult: 0}, []NamedParam{{"a.weight", frozen}, {"a.bias", bias}, {"b.weight", live}})
	if err != nil {
		t.Fatal(err)
	}
	o.Scale(0.5)
	for range 3 {
		o.Step(0.1)
	}
	for i, w := range data(frozen.Value) {
		if math.Float32bits(w) != math.Float32bits(weird[i]) {
			t.Errorf("frozen weight %d changed: %x → %x", i, math.Float32bits(weird[i]), math.Float32bits(w))
		}
	}
	if !slices.Equal(data(frozen.Grad), []float32{1, 2, 3, 4}) || data(bias.Grad)[0] != 1 {
		t.Errorf("Scale touched frozen gradients: %v %v", data(frozen.Grad), data(bias.Grad))
	}
	if data(bias.Value)[0] != 5 {
		t.Errorf("bias with bias_lr_mult 0 changed: %v", data(bias.Value))
	}
	if st := o.State(); !slices.Equal(st["a.weight"], []float32{0, 0, 0, 0}) || st["a.bias"][0] != 0 {
		t.Errorf("frozen momentum changed: %v", st)
	}
	if data(live.Grad)[0] != 0.5 || data(live.Value)[0] == 1 {
		t.Errorf("trainable parameter not scaled/updated: grad %v value %v", data(live.Grad), data(live.Value))
	}
}

func TestSGDStateRoundTrip(t *testing.T) {
	mk := func() (*SGD, *layers.Param) {
		p := param("weight", 1, 1, 1, -2)
		o, err := NewSGD(SGDConfig{Momentum: 0.5, WeightDecay: 0.25, BiasLRMult: 1, BiasDecayMult: 1}, []NamedParam{{"c.weight", p}})
		if err != nil {
			t.Fatal(err)
		}
		return o, p
	}
	// Uninterrupted: two steps. Resumed: one step, state saved, fresh optimiser restored.
	a, pa := mk()
	b, pb := mk()
	copy(data(pa.Grad), []float32{0.5, 0.25})
	copy(data(pb.Grad), []float32{0.5, 0.25})
	a.Step(0.5)
	b.Step(0.5)
	saved := b.State()
	saved["c.weight"][0] = 99 // State must hand out a copy
	saved = b.State()
	c, pc := mk()
	copy(data(pc.Value), data(pb.Value))
	if err := c.SetState(saved); err != nil {
		t.Fatal(err)
	}
	copy(data(pa.Grad), []float32{-0.5, 1})
	copy(data(pc.Grad), []float32{-0.5, 1})
	a.Step(0.5)
	c.Step(0.5)
	if !slices.Equal(data(pa.Value), data(pc.Value)) {
		t.Errorf("resumed %v, uninterrupted %v", data(pc.Value), data(pa.Value))
	}

	for _, tc := range []struct {
		state map[string][]float32
		want  string
	}{
		{map[string][]float32{}, "missing [c.weight]"},
		{map[string][]float32{"c.weight": {0, 0}, "x.bias": {1}}, "unexpected [x.bias]"},
		{map[string][]float32{"c.weight": {0}}, "has 1 elements"},
	} {
		if err := c.SetState(tc.state); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("SetState(%v) = %v, want error containing %q", tc.state, err, tc.want)
		}
	}
}

func TestSGDScaleAndZero(t *testing.T) {
	p := param("weight", 1, 1, 0, 0)
	copy(data(p.Grad), []float32{0.5, -3})
	o, err := NewSGD(DefaultSGDConfig(), []NamedParam{{"w", p}})
	if err != nil {
		t.Fatal(err)
	}
	o.Scale(0.25)
	if !slices.Equal(data(p.Grad), []float32{0.125, -0.75}) {
		t.Errorf("Scale(0.25): %v", data(p.Grad))
	}
	o.ZeroGrad()
	if !slices.Equal(data(p.Grad), []float32{0, 0}) {
		t.Errorf("ZeroGrad: %v", data(p.Grad))
	}
}

func TestNewSGDErrors(t *testing.T) {
	ok := func() *layers.Param { return param("weight", 1, 1, 1) }
	f64 := &layers.Param{Name: "weight", Value: tensor.New(tensor.WithBacking([]float64{1})), Grad: tensor.New(tensor.WithBacking([]float64{0})), LRMult: 1}
	short := ok()
	short.Grad = f32()
	tests := []struct {
		cfg    SGDConfig
		params []NamedParam
		want   string
	}{
		{SGDConfig{Momentum: 1, BiasLRMult: 1, BiasDecayMult: 1}, nil, "momentum"},
		{SGDConfig{WeightDecay: -1, BiasLRMult: 1, BiasDecayMult: 1}, nil, "weight_decay"},
		{SGDConfig{Nesterov: true, BiasLRMult: 1, BiasDecayMult: 1}, nil, "nesterov"},
		{DefaultSGDConfig(), []NamedParam{{"a", ok()}, {"a", ok()}}, `"a" appears twice`},
		{DefaultSGDConfig(), []NamedParam{{"", ok()}}, "no name"},
		{DefaultSGDConfig(), []NamedParam{{"d", f64}}, "float32"},
		{DefaultSGDConfig(), []NamedParam{{"s", short}}, "gradient has 0 elements"},
	}
	for _, tc := range tests {
		if _, err := NewSGD(tc.cfg, tc.params); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewSGD(%+v) = %v, want error containing %q", tc.cfg, err, tc.want)
		}
	}
}
