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
	os.WriteFile(cfg, []byte("data:\n  format: voc\n  root: "+dir+"\n  classes: [background, disc, square]\ntrain:\n  steps: 10\n"), 0o644)
	code, out, errs := runFCN(t, "data", "check", "--config", cfg)
	if code != 0 || !strings.Contains(out, "square") || !strings.Contains(out, "no problems found") {
		t.Fatalf("check --config: exit %d\n%s\n%s", code, out, errs)
	}
	// With two classes, label 2 (square) is out of range: a problem, exit non-zero.
	code, out, _ = runFCN(t, "data", "check", "--config", cfg, "--classes", "2")
	if code == 0 || !strings.Contains(out, "not class ids (0..1)") {
		t.Fatalf("check with too few classes: exit %d\n%s", code, out)
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
		{[]string{"data", "check", "--config", bad}, "data.rooot: unknown key (did you mean data.root?)"},
		{[]string{"data", "check", "--config", filepath.Join(t.TempDir(), "none.yaml")}, "none.yaml: cannot read"},
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
