package train

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	fcndata "github.com/fcn-dev/fcn/data"
)

// rewriteMasks replaces every mask of a VOC split with one whose pixels are label(i).
func rewriteMasks(t *testing.T, root, split string, label func(i int) int32) {
	t.Helper()
	list, err := os.ReadFile(filepath.Join(root, "ImageSets", "Segmentation", split+".txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range strings.Fields(string(list)) {
		p := filepath.Join(root, "SegmentationClass", id+".png")
		lab, h, w, err := fcndata.ReadMaskFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for i := range lab {
			lab[i] = label(i)
		}
		var b bytes.Buffer
		if err := fcndata.EncodeMask(&b, lab, h, w); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestNoLabelledPixels: a training split whose masks are all ignore label is refused
// before the first step, naming the split; a mostly-ignore split gets a warning and trains.
func TestNoLabelledPixels(t *testing.T) {
	root := filepath.Join(t.TempDir(), "voc")
	cfg := fcndata.DefaultSyntheticConfig()
	cfg.NTrain, cfg.NVal, cfg.Size, cfg.Classes = 8, 4, 16, 3
	if err := fcndata.WriteSyntheticVOC(context.Background(), root, cfg, 95); err != nil {
		t.Fatal(err)
	}
	sets := []string{"data.format=voc", "data.root=" + root, "data.synthetic.n_train=8", "train.steps=2", "train.batch_size=2", "eval.every=0"}

	rewriteMasks(t, root, "train", func(int) int32 { return 255 })
	var out bytes.Buffer
	_, err := Run(context.Background(), tinyExp(t, sets...), Options{OutDir: filepath.Join(t.TempDir(), "r"), Out: &out})
	if err == nil || !strings.Contains(err.Error(), `split "train"`) || !strings.Contains(err.Error(), "nothing to learn") {
		t.Fatalf("all-ignore training masks: %v", err)
	}
	if strings.Contains(out.String(), "step 1") {
		t.Error("training started")
	}

	rewriteMasks(t, root, "train", func(i int) int32 {
		if i%20 == 0 {
			return 1
		}
		return 255
	})
	out.Reset()
	if _, err := Run(context.Background(), tinyExp(t, sets...), Options{OutDir: filepath.Join(t.TempDir(), "r"), Out: &out}); err != nil {
		t.Fatal(err)
	}
	// 243 of the 256 pixels of each mask are the ignore label: 94.9%.
	if !strings.Contains(out.String(), "warning") || !strings.Contains(out.String(), "94.9% ignore-label pixels") {
		t.Errorf("no warning for a 94.9%% ignore split:\n%s", out.String())
	}
}
