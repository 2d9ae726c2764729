package main

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/fcn-dev/fcn/checkpoints"
	"github.com/fcn-dev/fcn/data"
	"github.com/fcn-dev/fcn/train"
)

// TestEvalCommand evaluates a finished run with `fcn eval` and checks the printed metrics
// against the run's own final evaluation in metrics.jsonl (same model, same split).
func TestEvalCommand(t *testing.T) {
	cfg := writeTiny(t)
	dir := filepath.Join(t.TempDir(), "run")
	if code, o, e := runInProcess(t, "train", "--config", cfg, "--out", dir, "--progress", "off"); code != 0 {
		t.Fatalf("%s\n%s", o, e)
	}
	lines, err := train.ReadEvalLines(filepath.Join(dir, train.MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	last := lines[len(lines)-1]
	for _, args := range [][]string{
		{"--run", dir},
		{"--checkpoint", filepath.Join(dir, checkpoints.DirName, checkpoints.StepName(6))},
		{"--checkpoint", filepath.Join(dir, train.ModelFile), "--config", filepath.Join(dir, train.ConfigFile)},
	} {
		code, stdout, stderr := runInProcess(t, append([]string{"eval"}, args...)...)
		if code != 0 {
			t.Fatalf("eval %v: exit %d: %s", args, code, stderr)
		}
		for _, kv := range []struct {
			key string
			v   float64
		}{{"miou", last.MeanIoU}, {"pixel_acc", last.PixelAcc}, {"mean_acc", last.MeanAcc}, {"fwiou", last.FWIoU}} {
			want := fmt.Sprintf("%s  %.4f", kv.key, kv.v)
			if !regexp.MustCompile(`(?m)^` + kv.key + ` +` + regexp.QuoteMeta(fmt.Sprintf("%.4f", kv.v)) + `$`).MatchString(stdout) {
				t.Errorf("eval %v: want %q in\n%s", args, want, stdout)
			}
		}
		// One row per class, with its name and IoU.
		for k, name := range data.SyntheticClassNames(3) {
			row := regexp.MustCompile(fmt.Sprintf(`(?m)^%d +%s +%.4f `, k, name, last.IoU[k]))
			if !row.MatchString(stdout) {
				t.Errorf("eval %v: no row for class %d %s with IoU %.4f:\n%s", args, k, name, last.IoU[k], stdout)
			}
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "--run DIR or --checkpoint PATH is required"},
		{[]string{"--run", dir, "--checkpoint", dir}, "not both"},
		{[]string{"--run", t.TempDir()}, "not inside a run folder"},
		{[]string{"--run", dir, "--split", "test"}, `--split: split "test": no such split; the dataset has train, val`},
	} {
		code, _, stderr := runInProcess(t, append([]string{"eval"}, c.args...)...)
		if code != 1 || !strings.Contains(stderr, c.want) {
			t.Errorf("eval %v: exit %d, stderr %q, want %q", c.args, code, stderr, c.want)
		}
	}
}
