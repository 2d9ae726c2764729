package train

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/fcn-dev/fcn/checkpoints"
	"github.com/fcn-dev/fcn/configs"
)

// tinyYAML is a fast experiment that still has everything resume must get right:
// dropout (per-step seeds), batchnorm (running statistics), a frozen parameter, bias
// multipliers, iter_size accumulation, a poly schedule with warm-up, flips, two epochs.
const tinyYAML = `
name: tiny
data:
  format: synthetic
  synthetic: {n_train: 24, n_val: 8, size: 16, seed: 3}
  transforms: {flip: true, normalize: meanstd}
model:
  classes: 3
  layers:
    - {name: conv1, type: conv, out: 4, kernel: 3, pad: 1}
    - {name: relu1, type: relu}
    - {name: pool1, type: maxpool, kernel: 2, stride: 2}
    - {name: drop1, type: dropout, p: 0.2}
    - {name: conv2, type: conv, out: 6, kernel: 3, pad: 1}
    - {name: bn2, type: batchnorm}
    - {name: relu2, type: relu}
    - {name: score_fr, type: conv, out: classes, kernel: 1}
    - {name: up, type: deconv, out: classes, kernel: 4, stride: 2, pad: 1, bias: false, init: bilinear, learn: false}
train: {steps: 6, batch_size: 4, iter_size: 2, seed: 7, workers: 2}
optim: {lr: 0.05, momentum: 0.9, weight_decay: 0.0005, bias_lr_mult: 2, bias_decay_mult: 0}
schedule: {policy: poly, power: 0.9, warmup_steps: 2}
eval: {every: 3}
checkpoint: {every: 2, keep: 2}
`

func tinyExp(t *testing.T, sets ...string) *configs.Experiment {
	t.Helper()
	exp, err := configs.Parse("tiny.yaml", "tiny", []byte(tinyYAML), sets, nil)
	if err != nil {
		t.Fatal(err)
	}
	return exp
}

// run trains exp into dir and fails the test on error.
func run(t *testing.T, ctx context.Context, exp *configs.Experiment, opts Options) *Result {
	t.Helper()
	res, err := Run(ctx, exp, opts)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// cancelAt is an Out writer that cancels a context once the progress line of a step
// appears: a stop requested while that step's bookkeeping runs, as a SIGINT would.
type cancelAt struct {
	mu     sync.Mutex
	marker string
	cancel context.CancelFunc
	buf    bytes.Buffer
}

func (c *cancelAt) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf.Write(p)
	if strings.Contains(c.buf.String(), c.marker) {
		c.cancel()
	}
	return len(p), nil
}

func TestRunWritesRunFolder(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	res := run(t, context.Background(), tinyExp(t), Options{OutDir: dir, Out: &out})
	if res.Interrupted || res.Step != 6 {
		t.Fatalf("result %+v", res)
	}
	// config.yaml is the resolved experiment: it loads back to the same digest.
	back, err := configs.Load(filepath.Join(dir, ConfigFile), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if configs.Digest(back) != configs.Digest(tinyExp(t)) {
		t.Errorf("config.yaml differs from the experiment: %v", configs.Diff(back, tinyExp(t)))
	}
	// metrics.jsonl: a train line per step, eval lines at 3 and 6.
	var trainSteps, evalSteps []int
	for _, line := range strings.Split(strings.TrimSpace(string(readFile(t, filepath.Join(dir, MetricsFile)))), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		step := int(m["step"].(float64))
		if m["split"] == nil {
			if _, ok := m["loss"].(float64); !ok {
				t.Errorf("train line without a numeric loss: %s", line)
			}
			if lr, ok := m["lr"].(float64); !ok || lr <= 0 {
				t.Errorf("train line without a positive lr: %s", line)
			}
			trainSteps = append(trainSteps, step)
			continue
		}
		if m["split"] != "val" {
			t.Errorf("eval line split %v", m["split"])
		}
		for _, k := range []string{"miou", "pixel_acc", "mean_acc", "fwiou"} {
			if v, ok := m[k].(float64); !ok || v < 0 || v > 1 {
				t.Errorf("eval line %s = %v", k, m[k])
			}
		}
		if iou, ok := m["iou"].([]any); !ok || len(iou) != 3 {
			t.Errorf("eval line iou = %v, want 3 classes", m["iou"])
		}
		evalSteps = append(evalSteps, step)
	}
	if len(trainSteps) != 6 || trainSteps[0] != 1 || trainSteps[5] != 6 {
		t.Errorf("train lines at steps %v", trainSteps)
	}
	if len(evalSteps) != 2 || evalSteps[0] != 3 || evalSteps[1] != 6 {
		t.Errorf("eval lines at steps %v", evalSteps)
	}
	// The final model is the last checkpoint's model, byte for byte.
	final := readFile(t, filepath.Join(dir, ModelFile))
	latest, err := checkpoints.Latest(dir)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(latest) != checkpoints.StepName(6) {
		t.Errorf("latest checkpoint %s", latest)
	}
	if !bytes.Equal(final, readFile(t, filepath.Join(latest, checkpoints.ModelFile))) {
		t.Error("model.safetensors differs from the last checkpoint's")
	}
	ck, err := checkpoints.Load(latest)
	if err != nil {
		t.Fatal(err)
	}
	st := ck.State
	// 6 steps × 2 batches × 4 images = 48 = two epochs of 24.
	if st.Step != 6 || st.Epoch != 1 || st.Loader != (checkpoints.LoaderPosition{Epoch: 1, Index: 24}) {
		t.Errorf("state step %d loader %+v", st.Step, st.Loader)
	}
	if _, ok := st.Metrics["val_miou"]; !ok || st.ExperimentDigest != configs.Digest(tinyExp(t)) || len(st.RNG) != 2 {
		t.Errorf("state metrics %v digest %s rng %d", st.Metrics, st.ExperimentDigest, len(st.RNG))
	}
	// The frozen deconv kept its bilinear initialisation: its momentum is zero and its
	// weight is the bilinear kernel's centre tap 0.5625 (= 0.75², k = 4).
	for _, m := range ck.Model {
		if m.Name == "up.weight" && m.Data[1*4+1] != 0.5625 {
			t.Errorf("frozen up.weight changed: %v", m.Data[:16])
		}
	}
	for _, o := range ck.Optimizer {
		if o.Name == "up.weight" {
			for _, v := range o.Data {
				if v != 0 {
					t.Fatal("frozen parameter has momentum")
				}
			}
		}
	}
	// Retention: keep 2 plus the best.
	ents, _ := os.ReadDir(filepath.Join(dir, checkpoints.DirName))
	var steps []string
	for _, e := range ents {
		if e.IsDir() {
			steps = append(steps, e.Name())
		}
	}
	if len(steps) < 2 || len(steps) > 3 {
		t.Errorf("checkpoints kept: %v", steps)
	}
	if !strings.Contains(out.String(), "eval step 6") {
		t.Errorf("output lacks the final evaluation:\n%s", out.String())
	}
}

// TestDeterminism: the same experiment gives the same final weights, bit for bit,
// whatever the loader's worker count and GOMAXPROCS.
func TestDeterminism(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	var ref []byte
	for _, c := range []struct{ procs, workers string }{{"1", "1"}, {"2", "3"}, {"2", "1"}, {"1", "3"}} {
		n := int(c.procs[0] - '0')
		runtime.GOMAXPROCS(n)
		dir := t.TempDir()
		run(t, context.Background(), tinyExp(t, "train.workers="+c.workers), Options{OutDir: dir})
		got := readFile(t, filepath.Join(dir, ModelFile))
		if ref == nil {
			ref = got
		} else if !bytes.Equal(ref, got) {
			t.Fatalf("GOMAXPROCS %s, workers %s: final weights differ from GOMAXPROCS 1, workers 1", c.procs, c.workers)
		}
	}
}

// TestResumeIdentical stops runs after a step (mid-epoch, and at an evaluation step with
// the evaluation cut off) and resumes them, with another worker count; the final
// model.safetensors and metrics.jsonl must equal the uninterrupted run's.
func TestResumeIdentical(t *testing.T) {
	refDir := t.TempDir()
	run(t, context.Background(), tinyExp(t), Options{OutDir: refDir})
	refModel := readFile(t, filepath.Join(refDir, ModelFile))
	refLog := readFile(t, filepath.Join(refDir, MetricsFile))

	for _, stop := range []int{1, 2, 3, 5} {
		dir := t.TempDir()
		ctx, cancel := context.WithCancel(context.Background())
		w := &cancelAt{marker: "step " + string(rune('0'+stop)) + "/6", cancel: cancel}
		res := run(t, ctx, tinyExp(t), Options{OutDir: dir, Out: w, Progress: ProgressPlain})
		cancel()
		if !res.Interrupted || res.Step != stop {
			t.Fatalf("stop at %d: result %+v", stop, res)
		}
		if _, err := os.Stat(filepath.Join(dir, ModelFile)); err == nil {
			t.Fatalf("stop at %d: an interrupted run wrote the final model", stop)
		}
		var out bytes.Buffer
		res = run(t, context.Background(), tinyExp(t, "train.workers=1"), Options{OutDir: dir, Resume: ResumeLatest, Out: &out})
		if res.Interrupted || res.Step != 6 {
			t.Fatalf("resume after %d: %+v", stop, res)
		}
		if !strings.Contains(out.String(), "resuming from") || !strings.Contains(out.String(), "train.workers") {
			t.Errorf("resume output does not say where it resumes and what changed:\n%s", out.String())
		}
		if !bytes.Equal(refModel, readFile(t, filepath.Join(dir, ModelFile))) {
			t.Errorf("stopped after step %d and resumed: final weights differ from the uninterrupted run", stop)
		}
		if got := readFile(t, filepath.Join(dir, MetricsFile)); !bytes.Equal(refLog, got) {
			t.Errorf("stopped after step %d: metrics.jsonl differs:\n%s\nwant\n%s", stop, got, refLog)
		}
	}
}

// TestResumeFallsBackPastDamage damages the newest checkpoint: the resume says so, uses
// the one before, and still ends with the uninterrupted run's weights.
func TestResumeFallsBackPastDamage(t *testing.T) {
	refDir := t.TempDir()
	run(t, context.Background(), tinyExp(t), Options{OutDir: refDir})
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	res := run(t, ctx, tinyExp(t, "checkpoint.every=1", "checkpoint.keep=0"), Options{OutDir: dir, Out: &cancelAt{marker: "step 4/6", cancel: cancel}, Progress: ProgressPlain})
	cancel()
	if res.Step != 4 {
		t.Fatalf("stopped at %d", res.Step)
	}
	bad := filepath.Join(dir, checkpoints.DirName, checkpoints.StepName(4), checkpoints.ModelFile)
	b := readFile(t, bad)
	if err := os.WriteFile(bad, b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	run(t, context.Background(), tinyExp(t, "checkpoint.every=1", "checkpoint.keep=0"), Options{OutDir: dir, Resume: ResumeLatest, Out: &out})
	if !strings.Contains(out.String(), "falling back to") || !strings.Contains(out.String(), "truncated") {
		t.Errorf("resume output does not report the fallback:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "step 3 of 6") {
		t.Errorf("did not resume from step 3:\n%s", out.String())
	}
	if !bytes.Equal(readFile(t, filepath.Join(refDir, ModelFile)), readFile(t, filepath.Join(dir, ModelFile))) {
		t.Error("final weights differ from the uninterrupted run")
	}
}

func TestResumeRefusesOtherModelOrData(t *testing.T) {
	dir := t.TempDir()
	run(t, context.Background(), tinyExp(t, "train.steps=2"), Options{OutDir: dir})
	for _, c := range []struct {
		set, key string
	}{
		{"model.classes=4", "model.classes"},
		{"model.layers[conv2].out=8", "model.layers[4].out"},
		{"data.synthetic.seed=9", "data.synthetic.seed"},
		{"train.seed=8", "train.seed"},
	} {
		_, err := Run(context.Background(), tinyExp(t, c.set), Options{OutDir: dir, Resume: ResumeLatest})
		if err == nil || !strings.Contains(err.Error(), c.key) {
			t.Errorf("--set %s: error %v, want one naming %s", c.set, err, c.key)
		}
	}
	// Allowed: more steps and another learning rate, said explicitly.
	var out bytes.Buffer
	res, err := Run(context.Background(), tinyExp(t, "train.steps=3", "optim.lr=0.01"), Options{OutDir: dir, Resume: ResumeLatest, Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	if res.Step != 3 || !strings.Contains(out.String(), "optim.lr: 0.05 → 0.01") || !strings.Contains(out.String(), "train.steps: 2 → 3") {
		t.Errorf("step %d, output:\n%s", res.Step, out.String())
	}
}

func TestFreshRunRefusesExistingRun(t *testing.T) {
	dir := t.TempDir()
	run(t, context.Background(), tinyExp(t, "train.steps=1"), Options{OutDir: dir})
	_, err := Run(context.Background(), tinyExp(t, "train.steps=1"), Options{OutDir: dir})
	if err == nil || !strings.Contains(err.Error(), "--resume") {
		t.Fatalf("error %v", err)
	}
}

func TestDivergenceNamesStep(t *testing.T) {
	_, err := Run(context.Background(), tinyExp(t, "optim.lr=1e30", "schedule.warmup_steps=0"), Options{OutDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "step ") || !strings.Contains(err.Error(), "diverged") {
		t.Fatalf("error %v", err)
	}
	if !strings.Contains(err.Error(), "NaN") && !strings.Contains(err.Error(), "Inf") {
		t.Fatalf("error does not name the value: %v", err)
	}
}

// TestInitFrom fine-tunes from a finished run: strict loading of the same model copies
// every tensor; a model with another class count loads strictly only with
// --init-from-partial, which reports the classifier's tensors as shape mismatches.
func TestInitFrom(t *testing.T) {
	src := t.TempDir()
	run(t, context.Background(), tinyExp(t, "train.steps=2"), Options{OutDir: src})
	srcModel := filepath.Join(src, ModelFile)

	// Zero steps of training would not exist; one step at lr 0 keeps the loaded weights.
	dir := t.TempDir()
	var out bytes.Buffer
	run(t, context.Background(), tinyExp(t, "train.steps=1", "optim.lr=0", "model.layers[bn2].learn=false"), Options{OutDir: dir, InitFrom: srcModel, Out: &out})
	if !strings.Contains(out.String(), "loaded 12 tensors") {
		t.Errorf("report:\n%s", out.String())
	}
	a, _ := checkpoints.ReadSafetensors(srcModel)
	b, _ := checkpoints.ReadSafetensors(filepath.Join(dir, ModelFile))
	for i := range a.Tensors {
		if !strings.HasPrefix(a.Tensors[i].Name, "bn2.running") && !equalF32(a.Tensors[i].Data, b.Tensors[i].Data) {
			t.Errorf("%s not loaded", a.Tensors[i].Name)
		}
	}

	_, err := Run(context.Background(), tinyExp(t, "train.steps=1", "model.classes=4"), Options{OutDir: t.TempDir(), InitFrom: srcModel})
	if err == nil || !strings.Contains(err.Error(), "shape mismatch") || !strings.Contains(err.Error(), "score_fr.weight") || !strings.Contains(err.Error(), "--init-from-partial") {
		t.Fatalf("strict init from another class count (the error must name the flag that allows it): %v", err)
	}
	out.Reset()
	run(t, context.Background(), tinyExp(t, "train.steps=1", "model.classes=4"), Options{OutDir: t.TempDir(), InitFrom: srcModel, InitPartial: true, Out: &out})
	if !strings.Contains(out.String(), "shape mismatch (3)") || !strings.Contains(out.String(), "loaded 9 tensors") {
		t.Errorf("partial report:\n%s", out.String())
	}
}

func equalF32(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// TestHeaderCountsFrozen: the training header tells trainable from frozen parameters,
// counted by hand for tiny: conv1 3·4·9 + 4 = 112, conv2 4·6·9 + 6 = 222, bn2 6 + 6 = 12,
// score_fr 6·3 + 3 = 21 trainable (367); the frozen bilinear up 3·3·4·4 = 144.
func TestHeaderCountsFrozen(t *testing.T) {
	var out bytes.Buffer
	run(t, context.Background(), tinyExp(t, "train.steps=1"), Options{OutDir: t.TempDir(), Out: &out})
	if !strings.Contains(out.String(), "511 parameters (367 trainable, 144 frozen)") {
		t.Errorf("header:\n%s", out.String())
	}
}
