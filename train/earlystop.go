package train

import (
	"fmt"
	"math"

	"github.com/fcn-dev/fcn/checkpoints"
	"github.com/fcn-dev/fcn/configs"
)

// earlyStop follows train.early_stop: after each evaluation it compares the watched
// metric with the best so far, and asks the run to stop once Patience evaluations in a
// row have not improved on it by more than MinDelta (as PyTorch Lightning's EarlyStopping,
// counted in evaluations). Its state travels in checkpoints' metrics, so a resumed run
// stops where the uninterrupted one would.
type earlyStop struct {
	cfg   configs.EarlyStop
	split string // eval.split, for messages and checkpoint keys

	seen     bool    // an evaluation has set best
	best     float64 // best value so far
	bestStep int     // the step it was measured at
	since    int     // evaluations since best without improvement
}

// newEarlyStop returns nil when train.early_stop is off (patience 0).
func newEarlyStop(exp *configs.Experiment) *earlyStop {
	if exp.Train.EarlyStop.Patience <= 0 {
		return nil
	}
	return &earlyStop{cfg: exp.Train.EarlyStop, split: exp.Eval.Split}
}

// value is the watched metric of an evaluation.
func (e *earlyStop) value(res *EvalResult) float64 {
	m := res.Metrics
	switch e.cfg.Metric {
	case "pixel_acc":
		return m.PixelAcc
	case "mean_acc":
		return m.MeanAcc
	case "fwiou":
		return m.FWIoU
	case "loss":
		return res.Loss
	}
	return m.MeanIoU
}

// improves reports whether v beats the best by more than MinDelta (lower is better for
// the loss, higher for the rest). NaN never improves.
func (e *earlyStop) improves(v float64) bool {
	if math.IsNaN(v) {
		return false
	}
	if !e.seen {
		return true
	}
	if e.cfg.Metric == "loss" {
		return v < e.best-e.cfg.MinDelta
	}
	return v > e.best+e.cfg.MinDelta
}

// observe takes the evaluation after step.
func (e *earlyStop) observe(step int, res *EvalResult) {
	if e == nil {
		return
	}
	if v := e.value(res); e.improves(v) {
		e.seen, e.best, e.bestStep, e.since = true, v, step, 0
		return
	}
	e.since++
}

// stopped reports whether the run should stop: Patience evaluations without improvement.
func (e *earlyStop) stopped() bool { return e != nil && e.since >= e.cfg.Patience }

// message is the line printed when the run stops early at step.
func (e *earlyStop) message(step int) string {
	best := "no finite value yet"
	if e.seen {
		best = fmt.Sprintf("best %.6g at step %d", e.best, e.bestStep)
	}
	return fmt.Sprintf("early stop at step %d: %s %s has not improved by more than min_delta %g for %d evals (train.early_stop.patience %d); %s",
		step, e.split, e.cfg.Metric, e.cfg.MinDelta, e.since, e.cfg.Patience, best)
}

// keyPrefix names the state's keys in a checkpoint's metrics by split and metric, so a
// resume that watches another one starts afresh instead of comparing unlike values.
func (e *earlyStop) keyPrefix() string { return "early_stop." + e.split + "_" + e.cfg.Metric + "." }

// save writes the state into a checkpoint's metrics.
func (e *earlyStop) save(m checkpoints.Metrics) {
	if e == nil {
		return
	}
	p := e.keyPrefix()
	m[p+"evals_since_best"] = float64(e.since)
	if e.seen {
		m[p+"best"] = e.best
		m[p+"best_step"] = float64(e.bestStep)
	}
}

// restore reads what save wrote; a checkpoint without it (of a run that watched
// nothing, or something else) leaves the state fresh.
func (e *earlyStop) restore(m checkpoints.Metrics) {
	if e == nil {
		return
	}
	p := e.keyPrefix()
	if since, ok := m[p+"evals_since_best"]; ok {
		e.since = int(since)
	}
	if best, ok := m[p+"best"]; ok {
		e.seen, e.best, e.bestStep = true, best, int(m[p+"best_step"])
	}
}
