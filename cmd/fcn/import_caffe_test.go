package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// As a user runs them: import the reference voc-fcn8s net with its solver, summarise
// it (the shipped fcn8s's crops and parameters), export it back as prototxt and import
// that; an --out that is not empty is refused and left as it was.
func TestImportCaffeCommand(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "fcn8s-caffe")
	net, solver := "../../interop/caffe/testdata/voc-fcn8s-train.prototxt", "../../interop/caffe/testdata/voc-fcn8s-solver.prototxt"
	code, stdout, stderr := execFCN(t, "import", "caffe", net, "--solver", solver, "--out", out)
	if code != 0 {
		t.Fatalf("import: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "note: layer data (Python)") || !strings.Contains(stdout, "experiment.yaml (48 layers, 21 classes)") {
		t.Errorf("import printed %q", stdout)
	}
	exp := filepath.Join(out, "experiment.yaml")
	code, stdout, stderr = execFCN(t, "summary", "--config", exp, "--input", "500x500")
	if code != 0 {
		t.Fatalf("summary: exit %d: %s", code, stderr)
	}
	for _, w := range []string{"total: 134489759 parameters", "score_pool4c (crops score_pool4) 5;", "score_pool3c (crops score_pool3) 9;", "final 31\n"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("summary does not say %q", w)
		}
	}
	proto := filepath.Join(dir, "back.prototxt")
	if code, _, stderr = execFCN(t, "export", "prototxt", "--config", exp, "--out", proto); code != 0 {
		t.Fatalf("export: exit %d: %s", code, stderr)
	}
	if code, _, stderr = execFCN(t, "import", "caffe", proto, "--out", filepath.Join(dir, "back")); code != 0 {
		t.Fatalf("import of the export: exit %d: %s", code, stderr)
	}

	// Refusals: a non-empty --out, and a bad net with a new --out (nothing written).
	code, _, stderr = execFCN(t, "import", "caffe", net, "--out", out)
	if code == 0 || !strings.Contains(stderr, "not empty") {
		t.Errorf("non-empty --out: exit %d, %q", code, stderr)
	}
	bad := filepath.Join(dir, "bad.prototxt")
	if err := os.WriteFile(bad, []byte("layer {\n  name: \"x\"\n  type: \"Mystery\"\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	refused := filepath.Join(dir, "refused")
	code, _, stderr = execFCN(t, "import", "caffe", bad, "--out", refused)
	if code == 0 || !strings.Contains(stderr, "layer x (Mystery)") {
		t.Errorf("bad net: exit %d, %q", code, stderr)
	}
	if _, err := os.Stat(refused); !os.IsNotExist(err) {
		t.Errorf("refused import left %s (%v)", refused, err)
	}
}
