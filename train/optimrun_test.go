package train

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fcn-dev/fcn/checkpoints"
)

// TestAdamResumeIdentical: Adam and AdamW runs (cosine schedule with warm-up) stopped
// mid-epoch and at an evaluation step, then resumed, end with the uninterrupted run's
// model.safetensors and metrics.jsonl: moments and step counts travel in the checkpoint.
func TestAdamResumeIdentical(t *testing.T) {
	for _, typ := range []string{OptimAdam, OptimAdamW} {
		sets := []string{"optim.type=" + typ, "optim.lr=0.01", "optim.weight_decay=0.01", "schedule.policy=cosine", "schedule.min_lr=0.001"}
		refDir := t.TempDir()
		run(t, context.Background(), tinyExp(t, sets...), Options{OutDir: refDir})
		refModel := readFile(t, filepath.Join(refDir, ModelFile))
		refLog := readFile(t, filepath.Join(refDir, MetricsFile))

		latest, err := checkpoints.Latest(refDir)
		if err != nil {
			t.Fatal(err)
		}
		ck, err := checkpoints.Load(latest)
		if err != nil {
			t.Fatal(err)
		}
		state := checkpoints.ToMap(ck.Optimizer)
		// 6 steps, none of them skipped: conv1.bias has stepped 6 times (bias_lr_mult 2);
		// the frozen deconv never.
		if s := state["conv1.bias.step"]; len(s) != 1 || s[0] != 6 {
			t.Errorf("%s: conv1.bias.step = %v, want [6]", typ, s)
		}
		if s := state["up.weight.step"]; len(s) != 1 || s[0] != 0 {
			t.Errorf("%s: frozen up.weight.step = %v, want [0]", typ, s)
		}
		if len(state["conv2.weight.exp_avg_sq"]) != 4*6*9 {
			t.Errorf("%s: conv2.weight.exp_avg_sq has %d values", typ, len(state["conv2.weight.exp_avg_sq"]))
		}

		for _, stop := range []int{2, 3} {
			dir := t.TempDir()
			ctx, cancel := context.WithCancel(context.Background())
			res := run(t, ctx, tinyExp(t, sets...), Options{OutDir: dir, Out: &cancelAt{marker: "step " + string(rune('0'+stop)) + "/6", cancel: cancel}, Progress: ProgressPlain})
			cancel()
			if !res.Interrupted || res.Step != stop {
				t.Fatalf("%s: stop at %d: result %+v", typ, stop, res)
			}
			run(t, context.Background(), tinyExp(t, sets...), Options{OutDir: dir, Resume: ResumeLatest})
			if !bytes.Equal(refModel, readFile(t, filepath.Join(dir, ModelFile))) {
				t.Errorf("%s: stopped after step %d and resumed: final weights differ from the uninterrupted run", typ, stop)
			}
			if !bytes.Equal(refLog, readFile(t, filepath.Join(dir, MetricsFile))) {
				t.Errorf("%s: stopped after step %d: metrics.jsonl differs", typ, stop)
			}
		}
	}
}

// TestResumeRefusesOtherOptimType: the checkpoint's optimiser state is its optimiser's;
// the error names optim.type and both values.
func TestResumeRefusesOtherOptimType(t *testing.T) {
	for _, c := range []struct{ from, to string }{{"adam", "adamw"}, {"sgd", "adam"}, {"adamw", "sgd"}} {
		dir := t.TempDir()
		run(t, context.Background(), tinyExp(t, "train.steps=2", "optim.type="+c.from), Options{OutDir: dir})
		_, err := Run(context.Background(), tinyExp(t, "train.steps=3", "optim.type="+c.to), Options{OutDir: dir, Resume: ResumeLatest})
		if err == nil || !strings.Contains(err.Error(), "optim.type is "+c.from+" there but "+c.to+" now") {
			t.Errorf("resume %s → %s: error %v, want one naming optim.type and both values", c.from, c.to, err)
		}
	}
}
