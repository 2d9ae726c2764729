package train

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	fcndata "github.com/fcn-dev/fcn/data"
)

// TestFailureAfterStepsResumes: an evaluation that fails (an unreadable val image) and a
// training batch that fails (an unreadable train image) after some steps leave a
// checkpoint of the state after the last completed step; once the file is fixed, the
// resumed run ends with the uninterrupted run's weights, bit for bit — the failed step's
// forward passes moved batch norm's running statistics, which are restored.
func TestFailureAfterStepsResumes(t *testing.T) {
	root := filepath.Join(t.TempDir(), "voc")
	cfg := fcndata.DefaultSyntheticConfig()
	cfg.NTrain, cfg.NVal, cfg.Size, cfg.Classes = 8, 4, 16, 3
	if err := fcndata.WriteSyntheticVOC(context.Background(), root, cfg, 95); err != nil {
		t.Fatal(err)
	}
	sets := []string{"data.format=voc", "data.root=" + root, "train.steps=8", "train.batch_size=2", "train.iter_size=1",
		"eval.every=3", "checkpoint.every=0", "data.transforms.flip=false"}
	ref := t.TempDir()
	run(t, context.Background(), tinyExp(t, sets...), Options{OutDir: ref})
	want := readFile(t, filepath.Join(ref, ModelFile))

	breakFile := func(p string) (restore func()) {
		good := readFile(t, p)
		if err := os.WriteFile(p, []byte("not an image"), 0o644); err != nil {
			t.Fatal(err)
		}
		return func() {
			if err := os.WriteFile(p, good, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	check := func(what string, restore func(), wantStep int) {
		t.Helper()
		dir := t.TempDir()
		// The file breaks before the run: skip the data check, which would catch it
		// before step 1, to see what happens when the loader reaches it.
		_, err := Run(context.Background(), tinyExp(t, sets...), Options{OutDir: dir, SkipDataCheck: true})
		var re *RunError
		if !errors.As(err, &re) {
			restore()
			if wantStep < 0 {
				return // failed before any step: nothing to save
			}
			t.Fatalf("%s: %v, want a RunError", what, err)
		}
		if wantStep > 0 && re.Step != wantStep {
			t.Errorf("%s: failed after step %d, want %d", what, re.Step, wantStep)
		}
		if !strings.Contains(err.Error(), "the state after step") || re.Checkpoint == "" {
			t.Errorf("%s: %v", what, err)
		}
		restore()
		run(t, context.Background(), tinyExp(t, sets...), Options{OutDir: dir, Resume: ResumeLatest})
		if !bytes.Equal(want, readFile(t, filepath.Join(dir, ModelFile))) {
			t.Errorf("%s: failed after step %d and resumed: final weights differ from the uninterrupted run", what, re.Step)
		}
	}
	// The first evaluation, after step 3, reads val_000002.jpg.
	check("eval error", breakFile(filepath.Join(root, "JPEGImages", "val_000002.jpg")), 3)
	// Train images read after the first step, with iter_size 2, so that some fail in a
	// step's second pass, after its first pass moved the running statistics.
	sets = append(sets, "train.iter_size=2", "train.steps=6")
	ref2 := t.TempDir()
	run(t, context.Background(), tinyExp(t, sets...), Options{OutDir: ref2})
	want = readFile(t, filepath.Join(ref2, ModelFile))
	checked := 0
	for i := range 8 {
		p := filepath.Join(root, "JPEGImages", "train_00000"+string(rune('0'+i))+".jpg")
		restore := breakFile(p)
		_, err := Run(context.Background(), tinyExp(t, sets...), Options{OutDir: t.TempDir(), SkipDataCheck: true})
		restore()
		var re *RunError
		if errors.As(err, &re) && re.Step >= 1 {
			check("bad training batch "+filepath.Base(p), breakFile(p), re.Step)
			checked++
		}
	}
	if checked < 3 {
		t.Errorf("only %d train images were read after step 1", checked)
	}
}
