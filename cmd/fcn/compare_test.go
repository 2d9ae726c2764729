package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCompareTinyStudy runs a two-variant study of 3 steps on 32×32 synthetic images
// through the command line, then again on the same folder (nothing to train).
func TestCompareTinyStudy(t *testing.T) {
	dir := t.TempDir()
	study := filepath.Join(dir, "study-tiny.yaml")
	os.WriteFile(study, []byte(`base: default
sets: [data.synthetic.size=32, data.synthetic.n_train=8, data.synthetic.n_val=4, train.batch_size=4, eval.every=0, checkpoint.every=0]
steps: 3
variants:
  - {name: frozen, sets: [model.upsample=frozen]}
  - {name: resize_conv, sets: [model.upsample=resize_conv]}
`), 0o644)
	out := filepath.Join(dir, "out")
	code, stdout, stderr := runFCN(t, "compare", "--config", study, "--out", out, "--progress", "off", "--set", "train.workers=1", "--images", "2")
	if code != 0 {
		t.Fatalf("exit %d:\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "study tiny: 2 run(s) trained, 0 already done") ||
		!strings.Contains(stdout, "frozen − resize_conv: ") || !strings.Contains(stdout, "with seed 1 alone: an interval needs at least 2 seeds") {
		t.Errorf("stdout: %s", stdout)
	}
	for _, f := range []string{"report.md", "metrics.csv", "loss.png", "miou.png", "predictions.png", "study.json",
		"runs/frozen-seed1/study-done.json", "runs/resize_conv-seed1/model.safetensors"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("missing %s", f)
		}
	}
	// No variant trains its deconv weights: no kernel picture.
	if _, err := os.Stat(filepath.Join(out, "kernels.png")); err == nil {
		t.Error("kernels.png written though no deconv weight is trained")
	}
	md, _ := os.ReadFile(filepath.Join(out, "report.md"))
	if !strings.Contains(string(md), "| resize_conv |") || !strings.Contains(string(md), "`train.workers=1`") ||
		!strings.Contains(string(md), "| frozen − resize_conv | 1: ") {
		t.Errorf("report.md:\n%s", md)
	}
	code, stdout, stderr = runFCN(t, "compare", "--config", study, "--out", out, "--progress", "off", "--set", "train.workers=1", "--images", "2")
	if code != 0 || !strings.Contains(stdout, "0 run(s) trained, 2 already done") {
		t.Errorf("second call: exit %d\n%s\n%s", code, stdout, stderr)
	}
}

func TestCompareErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("base: default\nvarients: [{name: a}]\n"), 0o644)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"compare", "--config", bad}, `"variants"`},
		{[]string{"compare", "--config", "study-upsampling", "--set", "optim.lrr=1", "--out", filepath.Join(dir, "o")}, "optim.lrr"},
		{[]string{"compare", "--config", "nope"}, "unknown study"},
		{[]string{"compare", "--progress", "loud"}, "--progress"},
		{[]string{"compare", "extra"}, "unexpected argument"},
	}
	for _, c := range cases {
		code, _, stderr := runFCN(t, c.args...)
		if code == 0 || !strings.Contains(stderr, c.want) || strings.Contains(stderr, "goroutine") {
			t.Errorf("%v: exit %d, stderr %q; want an error naming %s", c.args, code, stderr, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "o")); err == nil {
		t.Error("a study with a bad override created its folder")
	}
}
