package train

import (
	"math"
	"strings"
	"testing"

	"github.com/fcn-dev/fcn/configs"
)

func TestScheduleLR(t *testing.T) {
	// Expected values worked out by hand (the poly^0.9 ones with a calculator:
	// 0.5^0.9 = 0.535886731268..., 0.7^0.9 = 0.725417846937...).
	tests := []struct {
		name string
		s    Schedule
		want map[int]float64
	}{
		{"fixed", Schedule{Policy: PolicyFixed, BaseLR: 0.01},
			map[int]float64{0: 0.01, 1: 0.01, 999999: 0.01}},
		{"step", Schedule{Policy: PolicyStep, BaseLR: 0.1, StepSize: 3, Gamma: 0.5},
			map[int]float64{0: 0.1, 2: 0.1, 3: 0.05, 5: 0.05, 6: 0.025, 9: 0.0125}},
		{"poly power 1 is linear", Schedule{Policy: PolicyPoly, BaseLR: 0.1, Power: 1, MaxSteps: 4},
			map[int]float64{0: 0.1, 1: 0.075, 2: 0.05, 3: 0.025, 4: 0, 100: 0}},
		{"poly power 2", Schedule{Policy: PolicyPoly, BaseLR: 0.01, Power: 2, MaxSteps: 10},
			map[int]float64{0: 0.01, 5: 0.0025, 9: 0.0001, 10: 0}},
		{"poly power 0.9", Schedule{Policy: PolicyPoly, BaseLR: 0.01, Power: 0.9, MaxSteps: 10},
			map[int]float64{5: 0.005358867312681466, 3: 0.007254178469372199}},
		{"warm-up on fixed", Schedule{Policy: PolicyFixed, BaseLR: 0.1, WarmupSteps: 4},
			map[int]float64{0: 0.025, 1: 0.05, 2: 0.075, 3: 0.1, 4: 0.1, 50: 0.1}},
		{"warm-up on step", Schedule{Policy: PolicyStep, BaseLR: 0.1, StepSize: 2, Gamma: 0.1, WarmupSteps: 4},
			// step 3: 0.1·0.1 (one drop) · 4/4
			map[int]float64{0: 0.025, 1: 0.05, 2: 0.1 * 0.1 * 3 / 4, 3: 0.01, 4: 0.001}},
		{"warm-up on poly", Schedule{Policy: PolicyPoly, BaseLR: 0.1, Power: 1, MaxSteps: 4, WarmupSteps: 2},
			// step 0: 0.1·1·½; step 1: 0.1·¾·1
			map[int]float64{0: 0.05, 1: 0.075, 2: 0.05}},
		// Cosine, worked by hand with cos(π/4) = √2/2 and cos(7π/8) = −0.92387953251128674
		// (cos(π/8) = √(2+√2)/2): lr = min + (base − min)·(1 + cos(π·t/T))/2.
		{"cosine from 1 to 0 over 4 steps", Schedule{Policy: PolicyCosine, BaseLR: 1, MaxSteps: 4},
			map[int]float64{0: 1, 1: (1 + math.Sqrt2/2) / 2, 2: 0.5, 3: (1 - math.Sqrt2/2) / 2, 4: 0, 7: 0}},
		{"cosine with warm-up and min_lr", Schedule{Policy: PolicyCosine, BaseLR: 0.1, MinLR: 0.01, MaxSteps: 10, WarmupSteps: 2},
			// T = 10 − 2 = 8. Warm-up: 0.1·½, 0.1·2/2; then t = step − 2: t 0 → 0.1 (start),
			// t 2 → 0.01 + 0.09·(1 + √2/2)/2, t 4 (middle) → 0.01 + 0.09/2 = 0.055,
			// t 7 → 0.01 + 0.09·(1 − 0.92387953251128674)/2, t 8 (end) and on → 0.01.
			map[int]float64{0: 0.05, 1: 0.1, 2: 0.1, 4: 0.01 + 0.09*(1+math.Sqrt2/2)/2, 6: 0.055,
				9: 0.01 + 0.09*(1-0.92387953251128674)/2, 10: 0.01, 11: 0.01}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.s.Validate(); err != nil {
				t.Fatal(err)
			}
			for step, want := range tc.want {
				got := tc.s.LR(step)
				if math.Abs(got-want) > 1e-15*math.Max(1, math.Abs(want)) {
					t.Errorf("LR(%d) = %.17g, want %.17g", step, got, want)
				}
			}
		})
	}
}

func TestScheduleValidate(t *testing.T) {
	tests := []struct {
		s    Schedule
		want string
	}{
		{Schedule{Policy: "exp", BaseLR: 0.1}, `unknown policy "exp"`},
		{Schedule{Policy: PolicyCosine, BaseLR: 0.1, MaxSteps: 5, WarmupSteps: 5}, "warmup_steps"},
		{Schedule{Policy: PolicyCosine, BaseLR: 0.1, MaxSteps: 5, MinLR: 0.2}, "min_lr"},
		{Schedule{Policy: PolicyCosine, BaseLR: 0.1, MaxSteps: 5, MinLR: -0.1}, "min_lr"},
		{Schedule{Policy: PolicyFixed, BaseLR: -1}, "base lr"},
		{Schedule{Policy: PolicyFixed, BaseLR: math.NaN()}, "base lr"},
		{Schedule{Policy: PolicyStep, BaseLR: 0.1, Gamma: 0.1}, "step_size"},
		{Schedule{Policy: PolicyStep, BaseLR: 0.1, StepSize: 5}, "gamma"},
		{Schedule{Policy: PolicyPoly, BaseLR: 0.1, Power: 0.9}, "max steps"},
		{Schedule{Policy: PolicyPoly, BaseLR: 0.1, Power: -1, MaxSteps: 5}, "power"},
		{Schedule{Policy: PolicyFixed, BaseLR: 0.1, WarmupSteps: -2}, "warmup_steps"},
	}
	for _, tc := range tests {
		err := tc.s.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want an error containing %q", tc.s, err, tc.want)
		}
	}
}

func TestScheduleFor(t *testing.T) {
	e, err := configs.Load("default", []string{"optim.lr=0.1", "train.steps=4", "schedule.policy=poly", "schedule.power=1", "schedule.warmup_steps=0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := ScheduleFor(e)
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	// poly over train.steps = 4 with power 1: 0.1, 0.075, 0.05, 0.025.
	for step, want := range []float64{0.1, 0.075, 0.05, 0.025, 0} {
		if got := s.LR(step); math.Abs(got-want) > 1e-15 {
			t.Errorf("LR(%d) = %v, want %v", step, got, want)
		}
	}
	e, err = configs.Load("default", []string{"optim.lr=0.1", "train.steps=10", "schedule.policy=cosine", "schedule.min_lr=0.01", "schedule.warmup_steps=2"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// As the hand-worked "cosine with warm-up and min_lr" case: the middle, t = 4, is 0.055.
	if s := ScheduleFor(e); math.Abs(s.LR(6)-0.055) > 1e-15 {
		t.Errorf("cosine from the experiment: LR(6) = %v, want 0.055", s.LR(6))
	}
	c := SGDConfigFor(e.Optim)
	if c.Momentum != e.Optim.Momentum || c.WeightDecay != e.Optim.WeightDecay || c.BiasLRMult != e.Optim.BiasLRMult || c.BiasDecayMult != e.Optim.BiasDecayMult {
		t.Errorf("SGDConfigFor(%+v) = %+v", e.Optim, c)
	}
}
