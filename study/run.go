package study

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fcn-dev/fcn/checkpoints"
	"github.com/fcn-dev/fcn/configs"
	"github.com/fcn-dev/fcn/train"
)

// DoneFile marks a finished run of a study: it is written, atomically, into the run
// folder once the run has trained to the end, and a study run again on the same output
// folder skips every run that has it.
const DoneFile = "study-done.json"

// elapsedFile accumulates the training time of a run's attempts, so that a run
// interrupted and resumed reports its whole training time.
const elapsedFile = "study-elapsed.json"

// TrainFunc trains one run of a study into runDir. resume is true when runDir holds
// an earlier, interrupted attempt's checkpoints to continue from. It returns
// context.Canceled (or the context's error) when ctx stopped it before the end.
type TrainFunc func(ctx context.Context, exp *configs.Experiment, runDir string, resume bool, log io.Writer) error

// Options configure Study.Run.
type Options struct {
	// Out is the study folder: runs/<variant>-seed<seed>/ for the runs, and the report.
	// A folder from an earlier, interrupted call with the same study is continued.
	Out string
	// Sets and Env override the base experiment of every run (see Study.Plan).
	Sets, Env []string
	// Log receives one line per run and the trainer's output (nil: discarded).
	Log io.Writer
	// Train trains one run; nil means the trainer (train.Run) with progress shown as
	// Progress.
	Train    TrainFunc
	Progress train.ProgressMode
	// GridImages is how many val images the prediction grid shows (0: 4).
	GridImages int
	// SpectrumImages is how many val images the spectral checkerboard score reads (0: 64).
	SpectrumImages int
}

// Done is the content of DoneFile.
type Done struct {
	Variant      string    `json:"variant"`
	Seed         uint64    `json:"seed"`
	TrainSeconds float64   `json:"train_seconds"` // wall time of the training, all attempts
	Finished     time.Time `json:"finished"`
	// Experiment is the resolved experiment the run was trained with (YAML), so that a
	// resume with a different one is refused instead of mixing results.
	Experiment string `json:"experiment"`
}

// Result is what Study.Run did.
type Result struct {
	Plan    *Plan
	Out     string
	Trained []string // run folders trained (or finished) by this call
	Skipped []string // run folders already finished by an earlier call
	Report  *Report
}

// Run trains every run of the study in sequence (variants in file order, each with
// its seeds), then writes the report into opt.Out (see WriteReport).
//
// It is resumable: a run folder with DoneFile is not trained again (its experiment
// must be the one planned now, else Run refuses, naming the keys that differ); a run
// folder without it continues from its last checkpoint. Cancelling ctx stops the run in
// progress at a checkpoint and returns the context's error; calling Run again with
// the same output folder continues where it stopped.
func (s *Study) Run(ctx context.Context, opt Options) (*Result, error) {
	plan, err := s.Plan(opt.Sets, opt.Env)
	if err != nil {
		return nil, err
	}
	if opt.Out == "" {
		return nil, errors.New("study: no output folder")
	}
	log := opt.Log
	if log == nil {
		log = io.Discard
	}
	trainRun := opt.Train
	if trainRun == nil {
		trainRun = Trainer(opt.Progress)
	}
	// Check every finished run against the plan before training anything.
	done := make([]bool, len(plan.Runs))
	for i, r := range plan.Runs {
		ok, err := runDone(filepath.Join(opt.Out, r.Dir), r)
		if err != nil {
			return nil, err
		}
		done[i] = ok
	}
	if err := os.MkdirAll(opt.Out, 0o755); err != nil {
		return nil, fmt.Errorf("study: %w", err)
	}
	if err := writeManifest(opt.Out, plan); err != nil {
		return nil, err
	}
	res := &Result{Plan: plan, Out: opt.Out}
	for i, r := range plan.Runs {
		dir := filepath.Join(opt.Out, r.Dir)
		if done[i] {
			fmt.Fprintf(log, "study %s: [%d/%d] %s seed %d: already trained (%s), skipped\n", s.Name, i+1, len(plan.Runs), r.Variant, r.Seed, dir)
			res.Skipped = append(res.Skipped, r.Dir)
			continue
		}
		if err := ctx.Err(); err != nil {
			return res, err
		}
		resume := hasCheckpoint(dir)
		if !resume {
			// A folder without a checkpoint holds nothing to continue from.
			if err := os.RemoveAll(dir); err != nil {
				return res, fmt.Errorf("study: %w", err)
			}
		}
		verb := "training"
		if resume {
			verb = "resuming"
		}
		fmt.Fprintf(log, "study %s: [%d/%d] %s %s seed %d, %d steps → %s\n", s.Name, i+1, len(plan.Runs), verb, r.Variant, r.Seed, r.Exp.Train.Steps, dir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return res, fmt.Errorf("study: %w", err)
		}
		start := time.Now()
		trainErr := trainRun(ctx, r.Exp, dir, resume, log)
		total, err := addElapsed(dir, time.Since(start).Seconds())
		if trainErr != nil {
			return res, fmt.Errorf("study %s: variant %s seed %d: %w", s.Name, r.Variant, r.Seed, trainErr)
		}
		if err != nil {
			return res, err
		}
		y, err := r.Exp.YAML()
		if err != nil {
			return res, err
		}
		mark := Done{Variant: r.Variant, Seed: r.Seed, TrainSeconds: total, Finished: time.Now().UTC(), Experiment: string(y)}
		if err := writeJSONAtomic(filepath.Join(dir, DoneFile), mark); err != nil {
			return res, err
		}
		res.Trained = append(res.Trained, r.Dir)
	}
	fmt.Fprintf(log, "study %s: writing the report into %s\n", s.Name, opt.Out)
	rep, err := WriteReport(ctx, plan, opt.Out, ReportOptions{GridImages: opt.GridImages, SpectrumImages: opt.SpectrumImages})
	if err != nil {
		return res, err
	}
	res.Report = rep
	return res, nil
}

// Trainer is the TrainFunc of the trainer: train.Run into runDir, resuming from its
// newest intact checkpoint when resume is set, with progress as mode.
func Trainer(mode train.ProgressMode) TrainFunc {
	return func(ctx context.Context, exp *configs.Experiment, runDir string, resume bool, log io.Writer) error {
		opts := train.Options{OutDir: runDir, Out: log, Progress: mode}
		if resume {
			opts.Resume = train.ResumeLatest
		}
		res, err := train.Run(ctx, exp, opts)
		if err != nil {
			return err
		}
		if res.Interrupted {
			if err := ctx.Err(); err != nil {
				return err
			}
			return fmt.Errorf("training stopped at step %d of %d", res.Step, exp.Train.Steps)
		}
		return nil
	}
}

// runDone reports whether dir holds a finished run of r; a finished run trained with
// another experiment is an error.
func runDone(dir string, r Run) (bool, error) {
	mark, err := ReadDone(dir)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	was, err := configs.Parse(filepath.Join(dir, DoneFile), r.Exp.Name, []byte(mark.Experiment), nil, nil)
	if err != nil {
		return false, fmt.Errorf("study: %s: the recorded experiment does not load: %w", dir, err)
	}
	var diff []string
	for _, k := range configs.Diff(was, r.Exp) {
		if !resultNeutral(k) {
			diff = append(diff, k)
		}
	}
	if len(diff) > 0 {
		return false, fmt.Errorf("study: %s was trained with a different experiment (%v differ); use a new --out folder, or delete that run folder to retrain it", dir, diff)
	}
	return true, nil
}

// resultNeutral reports whether a key may differ from the experiment a finished run
// was trained with: it changes speed or bookkeeping, not the trained model or its curves.
func resultNeutral(key string) bool {
	return key == "train.workers" || key == "data.prefetch" || strings.HasPrefix(key, "checkpoint.") || strings.HasPrefix(key, "log.")
}

// ReadDone reads a run folder's DoneFile (an error wrapping os.ErrNotExist if
// the run has not finished).
func ReadDone(dir string) (*Done, error) {
	b, err := os.ReadFile(filepath.Join(dir, DoneFile))
	if err != nil {
		return nil, fmt.Errorf("study: %w", err)
	}
	var d Done
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("study: %s: %w", filepath.Join(dir, DoneFile), err)
	}
	return &d, nil
}

func hasCheckpoint(dir string) bool {
	entries, err := os.ReadDir(filepath.Join(dir, "checkpoints"))
	if err != nil {
		return false
	}
	for _, e := range entries {
		if e.IsDir() && len(e.Name()) > 5 && e.Name()[:5] == "step-" {
			return true
		}
	}
	return false
}

// addElapsed adds seconds to the run's recorded training time and returns the total.
func addElapsed(dir string, seconds float64) (float64, error) {
	path := filepath.Join(dir, elapsedFile)
	var rec struct {
		Seconds  float64 `json:"seconds"`
		Attempts int     `json:"attempts"`
	}
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &rec); err != nil {
			return 0, fmt.Errorf("study: %s: %w", path, err)
		}
	}
	rec.Seconds += seconds
	rec.Attempts++
	return rec.Seconds, writeJSONAtomic(path, rec)
}

// manifest is study.json: what the folder holds, for people and tools.
type manifest struct {
	Study    *Study   `json:"study"`
	Sets     []string `json:"sets,omitempty"`
	Seeds    []uint64 `json:"seeds"`
	Runs     []string `json:"runs"`
	Variants []string `json:"variants"`
	Source   string   `json:"source"`
}

func writeManifest(out string, p *Plan) error {
	m := manifest{Study: p.Study, Sets: p.Sets, Seeds: p.Seeds, Variants: p.Variants(), Source: p.Study.Source}
	for _, r := range p.Runs {
		m.Runs = append(m.Runs, r.Dir)
	}
	return writeJSONAtomic(filepath.Join(out, "study.json"), m)
}

// writeJSONAtomic writes v as indented JSON to path, atomically.
func writeJSONAtomic(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("study: %s: %w", path, err)
	}
	err = checkpoints.WriteFileAtomic(path, func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	})
	if err != nil {
		return fmt.Errorf("study: %w", err)
	}
	return nil
}
