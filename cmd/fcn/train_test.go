package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fcn-dev/fcn/checkpoints"
	"github.com/fcn-dev/fcn/data"
	"github.com/fcn-dev/fcn/train"
)

// asMainEnv makes the test binary act as the fcn command (runMain on its arguments), so
// that tests can run fcn as a separate process — to send it signals or kill it — without
// building another binary. The name must not start with FCN_, which fcn reads as keys.
const asMainEnv = "GO_TEST_RUN_FCN_MAIN"

func init() {
	if os.Getenv(asMainEnv) == "1" {
		os.Exit(runMain(os.Args[1:], os.Stdout, os.Stderr))
	}
}

// fcnProcess returns the command line `fcn args...` as a separate process.
func fcnProcess(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), asMainEnv+"=1")
	return cmd
}

// execFCN runs fcn in a separate process and returns its exit code and outputs.
func execFCN(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cmd := fcnProcess(t, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), stdout.String(), stderr.String()
	}
	t.Fatal(err)
	return 0, "", ""
}

// tinyExperiment is a fast experiment with dropout, batchnorm, a frozen layer and
// iter_size, so that resuming it exercises every piece of state.
const tinyExperiment = `
name: tiny
data:
  format: synthetic
  synthetic: {n_train: 24, n_val: 8, size: 16, seed: 3}
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
optim: {lr: 0.05, momentum: 0.9}
schedule: {policy: poly, power: 0.9, warmup_steps: 2}
eval: {every: 3}
checkpoint: {every: 2, keep: 2}
`

func writeTiny(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tiny.yaml")
	if err := os.WriteFile(p, []byte(tinyExperiment), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// runInProcess runs `fcn args...` through runMain.
func runInProcess(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := runMain(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestTrainCommand(t *testing.T) {
	cfg := writeTiny(t)
	out := filepath.Join(t.TempDir(), "run")
	code, stdout, stderr := runInProcess(t, "train", "--config", cfg, "--out", out, "--set", "train.steps=4", "--tensorboard")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if ev, _ := filepath.Glob(filepath.Join(out, "events.out.tfevents.*")); len(ev) != 1 {
		t.Errorf("--tensorboard: event files %v", ev)
	}
	for _, f := range []string{train.ConfigFile, train.MetricsFile, train.ModelFile, train.StatusFile, train.EvalsDir, checkpoints.DirName} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	if !strings.Contains(stdout, "done: 4 steps; val miou") || !strings.Contains(stdout, "model: "+filepath.Join(out, train.ModelFile)) {
		t.Errorf("stdout:\n%s", stdout)
	}
	// The resolved config.yaml records the --set.
	if !strings.Contains(string(mustRead(t, filepath.Join(out, train.ConfigFile))), "steps: 4") {
		t.Error("config.yaml lacks the overridden train.steps")
	}
	// A second fresh run into the same folder is refused.
	code, _, stderr = runInProcess(t, "train", "--config", cfg, "--out", out)
	if code == 0 || !strings.Contains(stderr, "--resume") {
		t.Errorf("second run into %s: exit %d, stderr %s", out, code, stderr)
	}
}

// TestBadExperiments: every kind of broken experiment stops `fcn train` before any work
// with exit status 1 and one message naming the problem, never a panic.
func TestBadExperiments(t *testing.T) {
	base := "name: t\ndata: {format: synthetic, synthetic: {n_train: 8, n_val: 4, size: 16}}\ntrain: {steps: 2, batch_size: 2}\n"
	conv := "    - {name: c1, type: conv, out: classes, kernel: 3, pad: 1}\n"
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown key", base + "model:\n  classes: 3\n  layrs: []\n", []string{"model.layrs", "unknown key", `did you mean "layers"`}},
		{"wrong type", base + "model:\n  classes: three\n  layers:\n" + conv, []string{"model.classes", "expected an integer"}},
		{"unknown layer type", base + "model:\n  classes: 3\n  layers:\n    - {name: c1, type: convolution, out: 3, kernel: 1}\n", []string{"c1", `unknown layer type "convolution"`}},
		{"unknown input", base + "model:\n  classes: 3\n  layers:\n" + conv + "    - {name: s, type: sum, inputs: [c1, c2]}\n", []string{`unknown input "c2"`, `did you mean "c1"`}},
		{"cycle", base + "model:\n  classes: 3\n  layers:\n    - {name: a, type: conv, inputs: [b], out: 3, kernel: 1}\n    - {name: b, type: conv, inputs: [a], out: classes, kernel: 1}\n", []string{"cycle", "a → b → a"}},
		{"shape mismatch", base + "model:\n  classes: 3\n  layers:\n" + conv + "    - {name: p, type: maxpool, kernel: 2}\n    - {name: s, type: sum, inputs: [c1, p]}\n", []string{"c1 is 3×16×16 but p is 3×8×8"}},
		{"classes 0", base + "model:\n  classes: 0\n  layers:\n" + conv, []string{"model.classes", "must be > 0"}},
		{"classes negative", base + "model:\n  classes: -2\n  layers:\n" + conv, []string{"model.classes", "must be > 0"}},
		{"no data root", "name: t\ndata: {format: voc}\nmodel:\n  classes: 3\n  layers:\n" + conv, []string{"data.root", "required"}},
		{"missing data root", "name: t\ndata: {format: voc, root: /nonexistent/voc}\nmodel:\n  classes: 3\n  layers:\n" + conv, []string{"/nonexistent/voc", "data.root", "cannot be read"}},
	}
	dir := t.TempDir()
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".yaml")
			if err := os.WriteFile(cfg, []byte(c.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "run", string(rune('a'+i)))
			code, stdout, stderr := execFCN(t, "train", "--config", cfg, "--out", out)
			if code != 1 {
				t.Fatalf("exit %d, want 1\nstdout: %s\nstderr: %s", code, stdout, stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if !strings.HasPrefix(stderr, "fcn train: ") || strings.Contains(stderr, "goroutine") || strings.Contains(stderr, "panic") {
				t.Errorf("not one clean message:\n%s", stderr)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("a run folder was created for a bad experiment")
			}
		})
	}
}

// TestTrainOnVOCFolder trains fcn16s-tiny on a small VOC-layout dataset written to disk,
// with its own class count, as a user would on their data.
func TestTrainOnVOCFolder(t *testing.T) {
	root := writeVOC(t, 4)
	out := filepath.Join(t.TempDir(), "run")
	code, stdout, stderr := runInProcess(t, "train", "--config", "fcn16s-tiny", "--set", "data.root="+root, "--set", "model.classes=4",
		"--set", "train.steps=2", "--set", "train.batch_size=2", "--set", "data.transforms.crop=32", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	lines, err := train.ReadEvalLines(filepath.Join(out, train.MetricsFile))
	if err != nil || len(lines) != 1 || lines[0].Step != 2 || len(lines[0].IoU) != 4 {
		t.Fatalf("eval lines %+v, %v", lines, err)
	}
}

// writeVOC writes a synthetic VOC-layout set of 32×32 images with the given classes.
func writeVOC(t *testing.T, classes int) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "voc")
	cfg := data.DefaultSyntheticConfig()
	cfg.NTrain, cfg.NVal, cfg.Size, cfg.Classes = 6, 3, 32, classes
	if err := data.WriteSyntheticVOC(context.Background(), root, cfg, 95); err != nil {
		t.Fatal(err)
	}
	return root
}

// TestResumeCommandForms: --resume alone continues --out; --resume PATH continues from a
// checkpoint folder, taking the run folder and experiment from where it lies.
func TestResumeCommandForms(t *testing.T) {
	cfg := writeTiny(t)
	ref := filepath.Join(t.TempDir(), "ref")
	if code, o, e := runInProcess(t, "train", "--config", cfg, "--out", ref); code != 0 {
		t.Fatalf("%s\n%s", o, e)
	}
	dir := filepath.Join(t.TempDir(), "run")
	if code, o, e := runInProcess(t, "train", "--config", cfg, "--out", dir, "--set", "train.steps=2"); code != 0 {
		t.Fatalf("%s\n%s", o, e)
	}
	// Continue to 4 steps from the step-2 checkpoint named explicitly, then to 6 with
	// --out; the experiment comes from the run's config.yaml, train.steps from --set.
	ck := filepath.Join(dir, checkpoints.DirName, checkpoints.StepName(2))
	if code, o, e := runInProcess(t, "train", "--resume", ck, "--set", "train.steps=4"); code != 0 || !strings.Contains(o, "resuming from "+ck) {
		t.Fatalf("exit %d\n%s\n%s", code, o, e)
	}
	if code, o, e := runInProcess(t, "train", "--out", dir, "--resume", "--set", "train.steps=6"); code != 0 || !strings.Contains(o, "step 4 of 6") {
		t.Fatalf("exit %d\n%s\n%s", code, o, e)
	}
	// train.steps went 2 → 4 → 6 under a poly schedule, whose rates depend on it: the
	// weights differ from the uninterrupted 6-step run, but the run completed.
	if _, err := os.Stat(filepath.Join(dir, train.ModelFile)); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runInProcess(t, "train", "--resume")
	if code == 0 || !strings.Contains(stderr, "needs --out") {
		t.Errorf("--resume without --out: exit %d, %s", code, stderr)
	}
	code, _, stderr = runInProcess(t, "train", "--out", dir, "--resume", "--set", "model.layers[conv2].out=8")
	if code == 0 || !strings.Contains(stderr, "model.layers[4].out: 6 → 8") {
		t.Errorf("resume with another model: exit %d, %s", code, stderr)
	}
}

// startFCN starts fcn as a process and returns a channel of its stdout lines.
// lockedBuffer is a bytes.Buffer safe to read while the child process's stderr is being
// copied into it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startFCN(t *testing.T, args ...string) (*exec.Cmd, <-chan string, *lockedBuffer) {
	t.Helper()
	cmd := fcnProcess(t, args...)
	pr, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := new(lockedBuffer)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1000)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	return cmd, lines, stderr
}

// waitLine reads lines until one contains s, returning everything read.
func waitLine(t *testing.T, lines <-chan string, s string) string {
	t.Helper()
	var all strings.Builder
	timeout := time.After(60 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("output ended before %q:\n%s", s, all.String())
			}
			all.WriteString(l + "\n")
			if strings.Contains(l, s) {
				return all.String()
			}
		case <-timeout:
			t.Fatalf("no %q within a minute:\n%s", s, all.String())
		}
	}
}

func drain(lines <-chan string) string {
	var all strings.Builder
	for l := range lines {
		all.WriteString(l + "\n")
	}
	return all.String()
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// signalSteps is long enough for a signal to land mid-run (some seconds of 16×16 steps).
var signalSets = []string{"--set", "train.steps=300", "--set", "eval.every=100", "--set", "checkpoint.every=20", "--set", "checkpoint.keep=0", "--progress", "plain"}

// TestSIGINT: a first SIGINT finishes the step, checkpoints and exits 0 saying how to
// resume, and the resumed run ends with the uninterrupted run's weights; a second
// SIGINT aborts at once with status 130, and a resume still succeeds.
func TestSIGINT(t *testing.T) {
	if testing.Short() {
		t.Skip("runs training processes for several seconds")
	}
	cfg := writeTiny(t)
	ref := filepath.Join(t.TempDir(), "ref")
	if code, o, e := runInProcess(t, append([]string{"train", "--config", cfg, "--out", ref}, signalSets...)...); code != 0 {
		t.Fatalf("%s\n%s", o, e)
	}
	want := mustRead(t, filepath.Join(ref, train.ModelFile))

	t.Run("once", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "run")
		cmd, lines, stderr := startFCN(t, append([]string{"train", "--config", cfg, "--out", dir}, signalSets...)...)
		waitLine(t, lines, "step 30/300")
		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
		rest := drain(lines)
		if code := exitCode(cmd.Wait()); code != 0 {
			t.Fatalf("exit %d after one SIGINT\n%s\n%s", code, rest, stderr)
		}
		if !strings.Contains(rest, "resume with: ") || !strings.Contains(rest, " train --out "+dir+" --resume") { // the command as started: see TestInvocation
			t.Fatalf("no resume hint:\n%s", rest)
		}
		if _, err := os.Stat(filepath.Join(dir, train.ModelFile)); err == nil {
			t.Fatal("the interrupted run wrote a final model (it ended before the signal?)")
		}
		latest, err := checkpoints.Latest(dir)
		if err != nil {
			t.Fatal(err)
		}
		ck, err := checkpoints.Load(latest)
		if err != nil || ck.State.Step < 30 || ck.State.Step >= 300 {
			t.Fatalf("checkpoint %s: %v", latest, err)
		}
		if code, o, e := execFCN(t, "train", "--out", dir, "--resume", "--progress", "off"); code != 0 {
			t.Fatalf("resume: exit %d\n%s\n%s", code, o, e)
		}
		if !bytes.Equal(want, mustRead(t, filepath.Join(dir, train.ModelFile))) {
			t.Error("resumed after SIGINT: final weights differ from the uninterrupted run")
		}
	})

	// Steps of 320×320 images are slow enough that the second signal, sent as soon as the
	// first is acknowledged, lands while the step the first one lets finish still runs.
	t.Run("twice", func(t *testing.T) {
		slow := []string{"--set", "train.steps=60", "--set", "data.synthetic.size=320", "--set", "eval.every=0", "--set", "checkpoint.every=10", "--set", "checkpoint.keep=0", "--progress", "plain"}
		ref := filepath.Join(t.TempDir(), "ref")
		if code, o, e := runInProcess(t, append([]string{"train", "--config", cfg, "--out", ref}, slow...)...); code != 0 {
			t.Fatalf("%s\n%s", o, e)
		}
		dir := filepath.Join(t.TempDir(), "run")
		cmd, lines, stderr := startFCN(t, append([]string{"train", "--config", cfg, "--out", dir}, slow...)...)
		waitLine(t, lines, "step 21/60")
		cmd.Process.Signal(os.Interrupt)
		// Send the second signal once the first has been read (two SIGINTs sent at once
		// can merge into one before Go reads them).
		for deadline := time.Now().Add(10 * time.Second); !strings.Contains(stderr.String(), "stopping after the current step"); {
			if time.Now().After(deadline) {
				t.Fatalf("the first SIGINT was not acknowledged:\n%s", stderr)
			}
			time.Sleep(time.Millisecond)
		}
		cmd.Process.Signal(os.Interrupt)
		rest := drain(lines)
		if code := exitCode(cmd.Wait()); code != 130 {
			t.Fatalf("exit %d after two SIGINTs, want 130\n%s\n%s", code, rest, stderr)
		}
		if !strings.Contains(stderr.String(), "aborting") || strings.Contains(rest, "resume with") {
			t.Errorf("stdout:\n%s\nstderr:\n%s", rest, stderr)
		}
		ck, _, _, err := checkpoints.LoadLatestIntact(dir)
		if err != nil || ck.State.Step < 20 {
			t.Fatalf("after the abort: %v", err)
		}
		if code, o, e := execFCN(t, "train", "--out", dir, "--resume", "--progress", "off"); code != 0 {
			t.Fatalf("resume: exit %d\n%s\n%s", code, o, e)
		}
		if !bytes.Equal(mustRead(t, filepath.Join(ref, train.ModelFile)), mustRead(t, filepath.Join(dir, train.ModelFile))) {
			t.Error("resumed after two SIGINTs: final weights differ from the uninterrupted run")
		}
	})
}

// latestStep is the step of dir's newest checkpoint as its `latest` file names it, 0
// before the first (or while the file is being replaced).
func latestStep(dir string) int {
	b, err := os.ReadFile(filepath.Join(dir, checkpoints.DirName, checkpoints.LatestFile))
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(string(b)), "step-"))
	return n
}

// TestKill9 kills a run with checkpoints every step at random moments, several times,
// resuming each time: every resume must start from the last complete checkpoint and the
// final weights must equal the uninterrupted run's.
func TestKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("runs training processes for several seconds")
	}
	cfg := writeTiny(t)
	sets := []string{"--set", "train.steps=60", "--set", "eval.every=25", "--set", "checkpoint.every=1", "--set", "checkpoint.keep=3", "--progress", "plain"}
	ref := filepath.Join(t.TempDir(), "ref")
	if code, o, e := runInProcess(t, append([]string{"train", "--config", cfg, "--out", ref}, sets...)...); code != 0 {
		t.Fatalf("%s\n%s", o, e)
	}
	want := mustRead(t, filepath.Join(ref, train.ModelFile))

	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 9))
	t.Logf("kill delays seeded with %d", seed)
	dir := filepath.Join(t.TempDir(), "run")
	args := append([]string{"train", "--config", cfg, "--out", dir}, sets...)
	kills := 0
	for attempt := 0; attempt < 4; attempt++ {
		cmd, lines, stderr := startFCN(t, args...)
		go drain(lines)
		// Kill at a random moment after a random checkpoint of the run's remaining steps
		// is written: by step, not by time, because the tiny run takes well under a
		// second, so a delay drawn in milliseconds often came after its end.
		target := latestStep(dir) + 1 + rng.IntN(12)
		deadline := time.Now().Add(60 * time.Second)
		for latestStep(dir) < target && time.Now().Before(deadline) {
			time.Sleep(2 * time.Millisecond)
		}
		time.Sleep(time.Duration(rng.IntN(10)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		err := cmd.Wait()
		if code := exitCode(err); code == 0 {
			break // it finished before the kill
		} else if code != -1 {
			t.Fatalf("run ended with %d, not killed\n%s", code, stderr)
		}
		kills++
		ck, path, warnings, err := checkpoints.LoadLatestIntact(dir)
		if err != nil {
			t.Fatalf("after kill %d: %v", kills, err)
		}
		t.Logf("kill %d: newest intact checkpoint step %d (%s), %d warnings", kills, ck.State.Step, filepath.Base(path), len(warnings))
		args = []string{"train", "--out", dir, "--resume", "--progress", "plain"}
	}
	if kills == 0 {
		t.Fatal("no run was killed: the run is too short for the kill delays")
	}
	if _, err := os.Stat(filepath.Join(dir, train.ModelFile)); err != nil {
		if code, o, e := execFCN(t, "train", "--out", dir, "--resume", "--progress", "off"); code != 0 {
			t.Fatalf("final resume: exit %d\n%s\n%s", code, o, e)
		}
	}
	if !bytes.Equal(want, mustRead(t, filepath.Join(dir, train.ModelFile))) {
		t.Errorf("after %d kills and resumes: final weights differ from the uninterrupted run", kills)
	}
	// metrics.jsonl reads as the uninterrupted run's: one train line per step.
	steps := map[int]int{}
	for _, l := range strings.Split(strings.TrimSpace(string(mustRead(t, filepath.Join(dir, train.MetricsFile)))), "\n") {
		var m struct {
			Step  int    `json:"step"`
			Split string `json:"split"`
		}
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("metrics.jsonl line %q: %v", l, err)
		}
		if m.Split == "" {
			steps[m.Step]++
		}
	}
	for s := 1; s <= 60; s++ {
		if steps[s] != 1 {
			t.Fatalf("metrics.jsonl has %d train lines for step %d", steps[s], s)
		}
	}
}

func TestInvocation(t *testing.T) {
	for _, tc := range []struct{ exe, arg0, want string }{
		{"/tmp/go-build123/b001/exe/fcn", "/tmp/go-build123/b001/exe/fcn", "go run ./cmd/fcn"},
		{"/home/u/fcn/fcn", "./fcn", "./fcn"},
		{"/root/go/bin/fcn", "fcn", "fcn"},
		{"/opt/my dir/fcn", "/opt/my dir/fcn", "'/opt/my dir/fcn'"},
	} {
		if got := invocation(tc.exe, tc.arg0); got != tc.want {
			t.Errorf("invocation(%q, %q) = %q, want %q", tc.exe, tc.arg0, got, tc.want)
		}
	}
}

// TestEarlyStopSaysSo: a run stopped by train.early_stop ends saying so, not as if it
// had done all its steps. (tiny evaluates every 3 steps; a min_delta no change can beat
// stops it at the second evaluation, step 6 of 12.)
func TestEarlyStopSaysSo(t *testing.T) {
	code, out, errs := runInProcess(t, "train", "--config", writeTiny(t), "--out", filepath.Join(t.TempDir(), "run"), "--progress", "off",
		"--set", "train.steps=12", "--set", "eval.every=3", "--set", "train.early_stop.patience=1", "--set", "train.early_stop.min_delta=10")
	if code != 0 || !strings.Contains(out, "done: stopped early at step 6 of 12 (train.early_stop)") {
		t.Errorf("exit %d\nstdout %s\nstderr %s", code, out, errs)
	}
}

// TestTrainCPUProfile: --cpuprofile writes a pprof file (gzip-compressed protobuf) of
// the run, and a folder that does not exist is refused naming the flag.
func TestTrainCPUProfile(t *testing.T) {
	root := writeVOC(t, 4)
	dir := t.TempDir()
	prof := filepath.Join(dir, "train.prof")
	args := []string{"train", "--config", "fcn16s-tiny", "--set", "data.root=" + root, "--set", "model.classes=4",
		"--set", "train.steps=2", "--set", "train.batch_size=2", "--set", "data.transforms.crop=32", "--progress", "off"}
	code, stdout, stderr := runInProcess(t, append(args, "--out", filepath.Join(dir, "run"), "--cpuprofile", prof)...)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	b, err := os.ReadFile(prof)
	if err != nil || len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Fatalf("profile %s: %d bytes, %v; want a gzip-compressed pprof file", prof, len(b), err)
	}
	code, _, stderr = runInProcess(t, append(args, "--out", filepath.Join(dir, "run2"), "--cpuprofile", filepath.Join(dir, "missing", "x.prof"))...)
	if code == 0 || !strings.Contains(stderr, "--cpuprofile") {
		t.Errorf("--cpuprofile into a missing folder: exit %d, stderr %q", code, stderr)
	}
}
