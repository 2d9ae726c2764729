package train

import (
	"fmt"
	"math"

	"github.com/fcn-dev/fcn/configs"
)

// Learning-rate policies, named as in Caffe's solver.prototxt.
const (
	PolicyFixed = "fixed" // lr = base
	PolicyStep  = "step"  // lr = base · gamma^⌊step/step_size⌋
	PolicyPoly  = "poly"  // lr = base · (1 − step/max_steps)^power
	// PolicyCosine is PyTorch's CosineAnnealingLR in closed form over the steps after the
	// warm-up: lr = min + (base − min)·(1 + cos(π·t/T))/2, t = step − warmup_steps,
	// T = max_steps − warmup_steps.
	PolicyCosine = "cosine"
)

// Schedule gives the learning rate of every step. Steps count from 0: LR(0) is the rate of
// the first update, as Caffe's iter_.
//
// An optional linear warm-up multiplies the policy's rate by (step+1)/WarmupSteps for
// step < WarmupSteps, so the first update uses base/WarmupSteps and the update at step
// WarmupSteps−1 already uses the full rate. The warm-up multiplies; it does not shift the
// policy's own clock (poly still decays over MaxSteps counted from step 0). Cosine is the
// exception: its clock starts after the warm-up (as a warm-up followed by PyTorch's
// CosineAnnealingLR with T_max = max_steps − warmup_steps), so during the warm-up its rate
// is base and the warm-up ramps up to it.
type Schedule struct {
	Policy      string  // PolicyFixed, PolicyStep, PolicyPoly or PolicyCosine
	BaseLR      float64 // Caffe's base_lr
	StepSize    int     // step: steps between drops (> 0)
	Gamma       float64 // step: factor per drop
	Power       float64 // poly: exponent
	MaxSteps    int     // poly, cosine: Caffe's max_iter, usually train.steps (> 0); poly's rate is 0 from there on, cosine's MinLR
	WarmupSteps int     // linear warm-up length; 0 for none
	MinLR       float64 // cosine: PyTorch's eta_min, in [0, BaseLR]
}

// ScheduleFor is the schedule of an experiment: base rate optim.lr, poly decaying over
// train.steps.
func ScheduleFor(e *configs.Experiment) Schedule {
	s := e.Schedule
	return Schedule{
		Policy: s.Policy, BaseLR: e.Optim.LR, StepSize: s.StepSize, Gamma: s.Gamma,
		Power: s.Power, MaxSteps: e.Train.Steps, WarmupSteps: s.WarmupSteps, MinLR: s.MinLR,
	}
}

// Validate reports a schedule that LR cannot honour.
func (s Schedule) Validate() error {
	if math.IsNaN(s.BaseLR) || math.IsInf(s.BaseLR, 0) || s.BaseLR < 0 {
		return fmt.Errorf("schedule: base lr must be a finite number ≥ 0, got %v", s.BaseLR)
	}
	if s.WarmupSteps < 0 {
		return fmt.Errorf("schedule: warmup_steps must be ≥ 0, got %d", s.WarmupSteps)
	}
	switch s.Policy {
	case PolicyFixed:
	case PolicyStep:
		if s.StepSize <= 0 {
			return fmt.Errorf("schedule: policy step needs step_size > 0, got %d", s.StepSize)
		}
		if !(s.Gamma > 0) || math.IsInf(s.Gamma, 0) {
			return fmt.Errorf("schedule: policy step needs gamma > 0, got %v", s.Gamma)
		}
	case PolicyPoly:
		if s.MaxSteps <= 0 {
			return fmt.Errorf("schedule: policy poly needs max steps > 0, got %d", s.MaxSteps)
		}
		if !(s.Power >= 0) || math.IsInf(s.Power, 0) {
			return fmt.Errorf("schedule: policy poly needs power ≥ 0, got %v", s.Power)
		}
	case PolicyCosine:
		if s.MaxSteps <= s.WarmupSteps {
			return fmt.Errorf("schedule: policy cosine needs max steps > warmup_steps, got %d and %d", s.MaxSteps, s.WarmupSteps)
		}
		if math.IsNaN(s.MinLR) || s.MinLR < 0 || s.MinLR > s.BaseLR {
			return fmt.Errorf("schedule: policy cosine needs min_lr in [0, base lr %v], got %v", s.BaseLR, s.MinLR)
		}
	default:
		return fmt.Errorf("schedule: unknown policy %q (want %s, %s, %s or %s)", s.Policy, PolicyFixed, PolicyStep, PolicyPoly, PolicyCosine)
	}
	return nil
}

// LR is the learning rate for the update at step (0-based). It assumes Validate passed;
// a negative step is treated as 0.
func (s Schedule) LR(step int) float64 {
	if step < 0 {
		step = 0
	}
	lr := s.BaseLR
	switch s.Policy {
	case PolicyStep:
		lr *= math.Pow(s.Gamma, float64(step/s.StepSize))
	case PolicyPoly:
		// Past max_iter Caffe would raise a negative base to a fractional power (NaN);
		// we hold the rate at 0 instead.
		if step >= s.MaxSteps {
			return 0
		}
		lr *= math.Pow(1-float64(step)/float64(s.MaxSteps), s.Power)
	case PolicyCosine:
		// PyTorch's closed form would rise again past T; the run ends there, so hold min.
		t, T := step-s.WarmupSteps, s.MaxSteps-s.WarmupSteps
		switch {
		case t >= T:
			return s.MinLR
		case t > 0:
			lr = s.MinLR + (s.BaseLR-s.MinLR)*(1+math.Cos(math.Pi*float64(t)/float64(T)))/2
		}
	}
	if step < s.WarmupSteps {
		lr *= float64(step+1) / float64(s.WarmupSteps)
	}
	return lr
}
