package train

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fcn-dev/fcn/checkpoints"
)

// TestEarlyStop: with min_delta larger than any metric can move, nothing after the first
// evaluation improves, so patience 1 stops at the second evaluation (step 4 of 10 with
// eval.every 2), finishing as a complete run: checkpoint, model, the reason printed.
func TestEarlyStop(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	exp := tinyExp(t, "train.steps=10", "eval.every=2", "train.early_stop.patience=1", "train.early_stop.min_delta=10")
	res := run(t, context.Background(), exp, Options{OutDir: dir, Out: &out})
	if res.Step != 4 || !res.EarlyStopped || res.Interrupted || res.Model == "" {
		t.Fatalf("result %+v, want an early stop at step 4", res)
	}
	latest, err := checkpoints.Latest(dir)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(latest) != checkpoints.StepName(4) {
		t.Errorf("latest checkpoint %s, want step 4's", latest)
	}
	if !bytes.Equal(readFile(t, filepath.Join(dir, ModelFile)), readFile(t, filepath.Join(latest, checkpoints.ModelFile))) {
		t.Error("model.safetensors differs from the step 4 checkpoint's")
	}
	if !strings.Contains(out.String(), "early stop at step 4: val miou has not improved by more than min_delta 10 for 1 evals (train.early_stop.patience 1); best ") ||
		!strings.Contains(out.String(), " at step 2") {
		t.Errorf("output lacks the early-stop line:\n%s", out.String())
	}
	// The loss, lower is better, stops the same way.
	res = run(t, context.Background(), tinyExp(t, "train.steps=10", "eval.every=2", "train.early_stop.patience=1", "train.early_stop.min_delta=1e9", "train.early_stop.metric=loss"), Options{OutDir: t.TempDir()})
	if res.Step != 4 || !res.EarlyStopped {
		t.Errorf("metric loss: result %+v, want an early stop at step 4", res)
	}
	// With min_delta 0 and patience beyond the number of evaluations it never triggers.
	res = run(t, context.Background(), tinyExp(t, "eval.every=2", "train.early_stop.patience=5"), Options{OutDir: t.TempDir()})
	if res.Step != 6 || res.EarlyStopped {
		t.Errorf("patience 5: result %+v, want all 6 steps", res)
	}
}

// TestEarlyStopResume: patience 3 with eval.every 1 stops at step 4 (evaluations 2, 3 and
// 4 do not improve on 1's). A run stopped after step 3's evaluation, its counter at 2,
// resumes and stops at step 4 too, with the same bits; a counter lost on resume would
// run to step 7.
func TestEarlyStopResume(t *testing.T) {
	sets := []string{"train.steps=10", "eval.every=1", "train.early_stop.patience=3", "train.early_stop.min_delta=10"}
	refDir := t.TempDir()
	ref := run(t, context.Background(), tinyExp(t, sets...), Options{OutDir: refDir})
	if ref.Step != 4 || !ref.EarlyStopped {
		t.Fatalf("uninterrupted: %+v, want an early stop at step 4", ref)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	res := run(t, ctx, tinyExp(t, sets...), Options{OutDir: dir, Out: &cancelAt{marker: "eval step 3 (", cancel: cancel}})
	cancel()
	if !res.Interrupted || res.Step != 3 {
		t.Fatalf("interrupted run: %+v, want a stop after step 3", res)
	}
	var out bytes.Buffer
	res = run(t, context.Background(), tinyExp(t, sets...), Options{OutDir: dir, Resume: ResumeLatest, Out: &out})
	if res.Step != 4 || !res.EarlyStopped {
		t.Fatalf("resumed: %+v, want an early stop at step 4", res)
	}
	if !strings.Contains(out.String(), "early stop at step 4") || !strings.Contains(out.String(), "for 3 evals") || !strings.Contains(out.String(), "at step 1") {
		t.Errorf("resumed output:\n%s", out.String())
	}
	if !bytes.Equal(readFile(t, filepath.Join(refDir, ModelFile)), readFile(t, filepath.Join(dir, ModelFile))) {
		t.Error("final weights differ from the uninterrupted run's")
	}
	if !bytes.Equal(readFile(t, filepath.Join(refDir, MetricsFile)), readFile(t, filepath.Join(dir, MetricsFile))) {
		t.Error("metrics.jsonl differs from the uninterrupted run's")
	}
	// Resuming the finished run stops again at once, training nothing.
	res = run(t, context.Background(), tinyExp(t, sets...), Options{OutDir: dir, Resume: ResumeLatest})
	if res.Step != 4 || !res.EarlyStopped {
		t.Errorf("resuming the stopped run: %+v", res)
	}
	if _, err := os.Stat(filepath.Join(dir, ModelFile)); err != nil {
		t.Error(err)
	}
}
