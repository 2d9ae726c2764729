package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fcn-dev/fcn/configs"
)

// TestConfigCommands: list names every shipped experiment and study; show prints a file
// that, saved and trained from, is the shipped experiment (comments kept); --resolved
// prints what a run folder's config.yaml holds, overrides applied.
func TestConfigCommands(t *testing.T) {
	code, out, errs := runInProcess(t, "config", "list")
	if code != 0 {
		t.Fatal(errs)
	}
	for _, n := range append(configs.Names(), configs.StudyNames()...) {
		if !strings.Contains(out, n+" ") {
			t.Errorf("list lacks %s:\n%s", n, out)
		}
	}
	for _, n := range configs.Names() {
		code, out, errs = runInProcess(t, "config", "show", n)
		if code != 0 || !strings.HasPrefix(out, "# ") {
			t.Fatalf("show %s: exit %d, %s\n%.200s", n, code, errs, out)
		}
		p := filepath.Join(t.TempDir(), "copy.yaml")
		if err := os.WriteFile(p, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		copied, err1 := configs.LoadModel(p, nil, nil)
		shipped, err2 := configs.LoadModel(n, nil, nil)
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: %v, %v", n, err1, err2)
		}
		if d := configs.Diff(copied, shipped); len(d) > 1 || (len(d) == 1 && d[0] != "name") {
			t.Errorf("show %s, saved and loaded, differs from the shipped one in %v", n, d)
		}
	}
	code, out, _ = runInProcess(t, "config", "show", "default", "--resolved", "--set", "train.steps=7")
	if code != 0 || !strings.Contains(out, "steps: 7") || !strings.Contains(out, "ignore_label: 255") {
		t.Errorf("show --resolved:\n%s", out)
	}
	if code, _, errs = runInProcess(t, "config", "show", "nope"); code == 0 || !strings.Contains(errs, "shipped experiments") {
		t.Errorf("show nope: %d %s", code, errs)
	}
}
