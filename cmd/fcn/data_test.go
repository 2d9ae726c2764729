package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runFCN(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = runMain(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestDataSynthThenCheck(t *testing.T) {
	dir := t.TempDir()
	code, out, errs := runFCN(t, "data", "synth", "--out", dir, "--n", "12", "--n-val", "4", "--size", "32", "--seed", "3")
	if code != 0 {
		t.Fatalf("synth exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "12 train and 4 val") {
		t.Fatalf("synth output: %s", out)
	}
	for _, p := range []string{"JPEGImages/train_000011.jpg", "SegmentationClass/val_000003.png", "ImageSets/Segmentation/train.txt", "ImageSets/Segmentation/val.txt"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Fatalf("synth did not write %s: %v", p, err)
		}
	}
	code, out, errs = runFCN(t, "data", "check", "--format", "voc", "--root", dir, "--classes", "5")
	if code != 0 || !strings.Contains(out, "no problems found") || !strings.Contains(out, "split train: 12 samples") {
		t.Fatalf("check of a fresh synth set: exit %d\n%s\n%s", code, out, errs)
	}

	// Damage it in three ways: one run must report all three, and fail.
	os.Remove(filepath.Join(dir, "SegmentationClass", "train_000002.png"))
	os.WriteFile(filepath.Join(dir, "JPEGImages", "train_000005.jpg"), []byte("not a jpeg"), 0o644)
	b, _ := os.ReadFile(filepath.Join(dir, "SegmentationClass", "val_000001.png"))
	os.WriteFile(filepath.Join(dir, "SegmentationClass", "val_000001.png"), b[:len(b)/2], 0o644)
	code, out, errs = runFCN(t, "data", "check", "--format", "voc", "--root", dir, "--classes", "5")
	if code == 0 {
		t.Fatalf("check of a damaged set exited 0:\n%s", out)
	}
	for _, want := range []string{"train_000002.png", "train_000005.jpg", "val_000001.png", "3 problem(s)"} {
		if !strings.Contains(out+errs, want) {
			t.Errorf("check output lacks %q:\n%s\n%s", want, out, errs)
		}
	}
}

func TestDataCheckConfigFile(t *testing.T) {
	dir := t.TempDir()
	if code, _, errs := runFCN(t, "data", "synth", "--out", dir, "--n", "6", "--size", "24", "--classes", "3"); code != 0 {
		t.Fatal(errs)
	}
	cfg := filepath.Join(t.TempDir(), "exp.yaml")
	os.WriteFile(cfg, []byte("data:\n  format: voc\n  root: "+dir+"\n  classes: [background, disc, square]\n"+
		"model:\n  classes: 3\n  layers:\n    - {name: score, type: conv, out: classes, kernel: 1}\ntrain:\n  steps: 10\n"), 0o644)
	code, out, errs := runFCN(t, "data", "check", "--config", cfg)
	if code != 0 || !strings.Contains(out, "square") || !strings.Contains(out, "no problems found") {
		t.Fatalf("check --config: exit %d\n%s\n%s", code, out, errs)
	}
	// With two classes, label 2 (square) is out of range: a problem, exit non-zero.
	code, out, _ = runFCN(t, "data", "check", "--config", cfg, "--classes", "2")
	if code == 0 || !strings.Contains(out, "not class ids (0..1)") {
		t.Fatalf("check with too few classes: exit %d\n%s", code, out)
	}

	// A file of a data section alone is a dataset to check, not an experiment missing
	// its model; its keys are still checked strictly.
	dataOnly := filepath.Join(t.TempDir(), "data.yaml")
	os.WriteFile(dataOnly, []byte("data:\n  format: voc\n  root: "+dir+"\n  classes: [background, disc, square]\n"), 0o644)
	if code, out, errs := runFCN(t, "data", "check", "--config", dataOnly); code != 0 || !strings.Contains(out, "no problems found") {
		t.Fatalf("check of a data section: exit %d\n%s\n%s", code, out, errs)
	}
	code, _, errs = runFCN(t, "data", "check", "--config", dataOnly, "--set", "data.fromat=voc")
	if code == 0 || !strings.Contains(errs, `data.fromat`) || !strings.Contains(errs, `did you mean "format"`) {
		t.Fatalf("a misspelt key in a data section: exit %d\n%s", code, errs)
	}
}

// TestDataCheckExperiment: data check loads --config as fcn train does: shipped names,
// --set, FCN_* variables, and the dataset flags as --set data.KEY=VALUE.
func TestDataCheckExperiment(t *testing.T) {
	dir := t.TempDir()
	if code, _, errs := runFCN(t, "data", "synth", "--out", dir, "--n", "6", "--n-val", "3", "--size", "24", "--classes", "4"); code != 0 {
		t.Fatal(errs)
	}
	ok := func(args ...string) string {
		t.Helper()
		code, out, errs := runFCN(t, append([]string{"data", "check"}, args...)...)
		if code != 0 || !strings.Contains(out, "no problems found") {
			t.Fatalf("%q: exit %d\n%s\n%s", args, code, out, errs)
		}
		return out
	}
	// fcn16s-tiny is VOC with 21 classes and no data.root; data.num_classes follows
	// model.classes.
	out := ok("--config", "fcn16s-tiny", "--set", "data.root="+dir, "--set", "model.classes=4")
	if !strings.Contains(out, "format voc, root "+dir+", 4 classes") || !strings.Contains(out, "split train: 6 samples") || !strings.Contains(out, "split val: 3 samples") {
		t.Errorf("fcn16s-tiny with --set:\n%s", out)
	}
	ok("--config", "fcn16s-tiny", "--root", dir, "--set", "model.classes=4")
	// --set comes after the dataset flags, and a split the dataset lacks is a problem.
	code, out, _ := runFCN(t, "data", "check", "--config", "fcn16s-tiny", "--root", dir, "--set", "model.classes=4", "--val-split", "val", "--set", "data.val_split=test")
	if code == 0 || !strings.Contains(out, filepath.Join(dir, "ImageSets", "Segmentation", "test.txt")) {
		t.Errorf("--set data.val_split=test: exit %d\n%s", code, out)
	}
	// The shipped default is the synthetic set, checked as generated.
	out = ok("--config", "default", "--set", "data.synthetic.n_train=5", "--set", "data.synthetic.n_val=2", "--set", "data.synthetic.size=16")
	if !strings.Contains(out, "format synthetic, 5 classes") || !strings.Contains(out, "split train: 5 samples") {
		t.Errorf("default with --set:\n%s", out)
	}
	// The environment sets keys too.
	t.Setenv("FCN_DATA_ROOT", dir)
	if out := ok("--config", "fcn16s-tiny", "--set", "model.classes=4"); !strings.Contains(out, "root "+dir) {
		t.Errorf("FCN_DATA_ROOT:\n%s", out)
	}
	// The experiment is checked whole, as fcn train checks it.
	code, _, errs := runFCN(t, "data", "check", "--config", "fcn16s-tiny", "--set", "model.classes=4", "--set", "train.steps=0")
	if code == 0 || !strings.Contains(errs, "train.steps (from --set train.steps=0): must be > 0") {
		t.Errorf("--set train.steps=0: exit %d\n%s", code, errs)
	}
}

func TestDataCheckBadUsage(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("data:\n  format: voc\n  rooot: /x\n"), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"data", "check"}, "--config"},
		{[]string{"data", "check", "--format", "voc"}, "data.root"},
		{[]string{"data", "check", "--format", "voc", "--root", "/nonexistent/voc"}, "/nonexistent/voc"},
		{[]string{"data", "check", "--config", bad}, `data.rooot: unknown key, did you mean "root"?`},
		{[]string{"data", "check", "--config", filepath.Join(t.TempDir(), "none.yaml")}, "none.yaml: no such file"},
		{[]string{"data", "check", "--config", "fcn16s-tiny"}, "data.root: required"},
		{[]string{"data", "check", "--set", "data.format=vox"}, "data.format"},
		{[]string{"data", "synth"}, "--out"},
		{[]string{"data", "synth", "--out", t.TempDir(), "--classes", "40"}, "data.synthetic.classes"},
		{[]string{"data", "frobnicate"}, "frobnicate"},
	} {
		code, out, errs := runFCN(t, tc.args...)
		if code == 0 || !strings.Contains(out+errs, tc.want) {
			t.Errorf("%v: exit %d, want non-zero and %q in:\n%s%s", tc.args, code, tc.want, out, errs)
		}
		if strings.Contains(errs, "goroutine ") {
			t.Errorf("%v: stack trace in the output", tc.args)
		}
	}
}

// TestDataSynthRefusesNonEmpty: a folder that holds anything is not written into
// without --force; with it, the set is written and the other files stay.
func TestDataSynthRefusesNonEmpty(t *testing.T) {
	dir := t.TempDir()
	keep := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(keep, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"data", "synth", "--out", dir, "--n", "2", "--n-val", "1", "--size", "16"}
	code, _, errs := runFCN(t, args...)
	if code == 0 || !strings.Contains(errs, "not empty") || !strings.Contains(errs, "--force") || !strings.Contains(errs, dir) {
		t.Fatalf("non-empty --out: exit %d, %s", code, errs)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("refused, yet %d entries in %s", len(ents), dir)
	}
	if code, _, errs = runFCN(t, append(args, "--force")...); code != 0 {
		t.Fatalf("--force: exit %d, %s", code, errs)
	}
	if b, _ := os.ReadFile(keep); string(b) != "mine" {
		t.Error("--force changed an unrelated file")
	}
	if _, err := os.Stat(filepath.Join(dir, "JPEGImages", "train_000001.jpg")); err != nil {
		t.Error(err)
	}
	if tmp, _ := filepath.Glob(filepath.Join(dir, "*", ".tmp-*")); len(tmp) > 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
	if code, _, errs = runFCN(t, "data", "synth", "--out", keep); code == 0 || !strings.Contains(errs, "a file") {
		t.Errorf("--out a file: exit %d, %s", code, errs)
	}
}
