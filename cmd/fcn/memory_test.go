package main

import (
	"image"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fcn-dev/fcn/configs"
	"github.com/fcn-dev/fcn/train"
)

// TestMemoryRefusals: inputs that would need more memory than there is are refused
// before anything is allocated, quickly, with the layer or field responsible and the
// bytes, in every command that allocates; sizes that overflow are refused as such.
func TestMemoryRefusals(t *testing.T) {
	out := func() string { return filepath.Join(t.TempDir(), "run") }
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"huge kernel", []string{"train", "--out", out(), "--set", "model.layers[0].kernel=1000000000"}, []string{"conv1_1", "kernel"}},
		{"huge pad", []string{"train", "--out", out(), "--set", "model.layers[0].pad=100000"}, []string{"needs about", "conv1_1"}},
		{"huge channels", []string{"train", "--out", out(), "--set", "model.layers[0].out=100000000"}, []string{"needs about", "conv2_1"}}, // 10^8 channels in
		{"overflowing channels", []string{"summary", "--set", "model.layers[0].out=4000000000000"}, []string{"conv1_1", "out"}},
		{"huge summary input", []string{"summary", "--input", "100000x100000"}, []string{"needs about", "TiB", "conv1_1"}},
		{"overflowing summary input", []string{"summary", "--input", "3000000000x3000000000"}, []string{`input "data"`, "each dimension"}},
		{"huge bench batch", []string{"bench", "--batch", "100000000"}, []string{"needs about", "--batch"}},
		{"huge training batch", []string{"train", "--out", out(), "--set", "data.synthetic.n_train=2000000", "--set", "train.batch_size=1000000"}, []string{"needs about", "train.batch_size"}},
		{"huge synthetic set", []string{"train", "--out", out(), "--set", "data.synthetic.n_train=100000000000"}, []string{"needs about", "samples"}},
		{"huge synthetic images", []string{"train", "--out", out(), "--set", "data.synthetic.size=300000"}, []string{"data.synthetic.size", "4096"}}, // the schema's own bound
		{"huge data synth", []string{"data", "synth", "--out", out(), "--n", "10000000000"}, []string{"needs about", "--n"}},
		{"over --max-memory", []string{"train", "--out", out(), "--max-memory", "100MB"}, []string{"needs about", "--max-memory"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			code, _, stderr := execFCN(t, tc.args...)
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("took %v to refuse", d)
			}
			if code != 1 {
				t.Fatalf("exit %d, want 1\n%s", code, stderr)
			}
			if strings.Contains(stderr, "goroutine ") || strings.Contains(stderr, "fatal error") {
				t.Fatalf("crashed:\n%s", stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
		})
	}
}

// TestPeakRSSWithinEstimate trains the default experiment briefly in its own process and
// checks its peak resident memory against the estimate: within 1.5× + 200 MB, and not
// far below it either (an estimate that is mostly slack would refuse runs that fit).
func TestPeakRSSWithinEstimate(t *testing.T) {
	if testing.Short() {
		t.Skip("trains the default experiment for a few seconds")
	}
	exp, err := configs.Load("default", []string{"train.steps=15", "eval.every=0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	est, err := train.EstimateTraining(exp, exp.Train.BatchSize, 64, 64, exp.Data.Synthetic.NTrain+exp.Data.Synthetic.NVal)
	if err != nil {
		t.Fatal(err)
	}
	cmd := fcnProcess(t, "train", "--out", filepath.Join(t.TempDir(), "r"), "--set", "train.steps=15", "--set", "eval.every=0", "--progress", "off")
	cmd.Env = append(cmd.Env, "GOMAXPROCS=2")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		t.Skip("no rusage on this system")
	}
	rss := ru.Maxrss << 10 // kilobytes on Linux
	t.Logf("estimate %s, peak RSS %s", train.FormatBytes(est.Total), train.FormatBytes(rss))
	if limit := est.Total*3/2 + 200<<20; rss > limit {
		t.Errorf("peak RSS %s exceeds 1.5 × the estimate %s + 200 MB", train.FormatBytes(rss), train.FormatBytes(est.Total))
	}
	if rss < est.Total/4 {
		t.Errorf("peak RSS %s is under a quarter of the estimate %s", train.FormatBytes(rss), train.FormatBytes(est.Total))
	}
}

// TestInferenceMemoryRefusals: eval and predict check the model's estimate at the image
// size before building it.
func TestInferenceMemoryRefusals(t *testing.T) {
	run := filepath.Join(t.TempDir(), "run")
	if code, o, e := runInProcess(t, "train", "--config", writeTiny(t), "--out", run, "--set", "train.steps=1", "--progress", "off"); code != 0 {
		t.Fatalf("%s\n%s", o, e)
	}
	in := filepath.Join(t.TempDir(), "big.png")
	writePNG(t, in, image.NewRGBA(image.Rect(0, 0, 40, 24)))
	for _, args := range [][]string{
		{"eval", "--run", run, "--max-memory", "20MB"},
		{"predict", "--run", run, "--input", in, "--output", t.TempDir(), "--max-memory", "20MB"},
	} {
		code, _, stderr := runInProcess(t, args...)
		if code != 1 || !strings.Contains(stderr, "needs about") || !strings.Contains(stderr, "--max-memory") {
			t.Errorf("%v: exit %d\n%s", args, code, stderr)
		}
	}
}
