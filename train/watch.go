package train

import (
	"fmt"
	"math"
	"time"

	fcndata "github.com/fcn-dev/fcn/data"
	"github.com/fcn-dev/fcn/train/tfevents"
)

// watch writes what a run shows to those watching it, besides metrics.jsonl:
// status.json, evals/step-NNNNNNN/, with log.plots the pictures (plots/, confusion.png)
// and, with log.tensorboard, a TensorBoard event file.
type watch struct {
	runDir string
	status *statusWriter
	tb     *tfevents.Writer // nil unless log.tensorboard
	tf     *fcndata.Transforms
	// pictures names the run in the pictures' titles (experiment and seed, which tell a
	// study's runs apart); "" without log.plots.
	pictures string
}

// startWatch begins this session's status.json and event file. A resumed run drops the
// evaluation folders it will write again and starts its event file with a SessionLog
// START at the step it resumes from, so TensorBoard discards what the stopped session
// wrote after it.
func (t *trainer) startWatch(resumed bool) error {
	w := &watch{runDir: t.runDir, status: newStatusWriter(t.runDir, t.exp.Name, t.step, t.exp.Train.Steps, time.Now)}
	if t.exp.Log.Plots {
		w.pictures = fmt.Sprintf("%s, seed %d", t.exp.Name, t.exp.Train.Seed)
	}
	var err error
	if w.tf, err = fcndata.NewTransforms(t.exp.Data.Transforms, t.exp.Data.IgnoreLabel); err != nil {
		return err
	}
	if resumed {
		if err := trimEvals(t.runDir, t.step, t.evalStep == t.step); err != nil {
			return fmt.Errorf("resume: %w", err)
		}
	}
	if t.exp.Log.TensorBoard {
		if w.tb, err = tfevents.Create(t.runDir, nil); err != nil {
			return err
		}
		if resumed {
			if err := w.tb.SessionStart(int64(t.step)); err != nil {
				w.tb.Close()
				return err
			}
		}
	}
	t.watch = w
	return w.status.write()
}

// stepDone records a training step. A nil watch (a data-parallel rank other than 0,
// which writes nothing) does nothing, as do evalDone and end.
func (w *watch) stepDone(step int, loss, lr float64, p *progress) error {
	if w == nil {
		return nil
	}
	if w.tb != nil {
		if err := w.tb.Scalars(int64(step), []string{"train/loss", "train/lr"}, []float64{loss, lr}); err != nil {
			return err
		}
	}
	return w.status.progress(step, p.rate, p.eta, step == w.status.st.Total)
}

// evalDone writes the evaluation's folder and scalars, and status.json at once.
func (w *watch) evalDone(step int, res *EvalResult, overlays []overlay) error {
	if w == nil {
		return nil
	}
	if err := writeEvalDir(w.runDir, step, res, overlays, w.pictures); err != nil {
		return err
	}
	if w.pictures != "" {
		// Redrawn from metrics.jsonl, which holds this evaluation's line by now.
		if err := WriteRunPlots(w.runDir, w.pictures); err != nil {
			return err
		}
	}
	if w.tb != nil {
		m := res.Metrics
		p := res.Split + "/"
		tags := []string{p + "miou", p + "pixel_acc", p + "mean_acc", p + "fwiou"}
		vals := []float64{m.MeanIoU, m.PixelAcc, m.MeanAcc, m.FWIoU}
		if !math.IsNaN(res.Loss) {
			tags, vals = append(tags, p+"loss"), append(vals, res.Loss)
		}
		if err := w.tb.Scalars(int64(step), tags, vals); err != nil {
			return err
		}
		for i, o := range overlays {
			if err := w.tb.ImagePNG(int64(step), fmt.Sprintf("%sprediction/%d", p, i), o.w, o.h, o.png); err != nil {
				return err
			}
		}
	}
	return w.status.progress(step, 0, 0, true)
}

// end records how the run ended. The run's own error, if any, matters more than one
// writing the status, which is then only returned when the run had none.
func (w *watch) end(state string, step int, runErr error) error {
	if w == nil {
		return nil
	}
	err := w.status.end(state, step, runErr)
	if w.pictures != "" {
		// The steps since the last evaluation; a failed run's curves show how it failed.
		if perr := WriteRunPlots(w.runDir, w.pictures); err == nil {
			err = perr
		}
	}
	if w.tb != nil {
		if cerr := w.tb.Close(); err == nil {
			err = cerr
		}
	}
	return err
}
