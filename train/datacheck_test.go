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

// vocSet writes a small VOC set (16×16 images, 3 classes) and returns its root and the
// settings that train tinyExp on it.
func vocSet(t *testing.T) (string, []string) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "voc")
	cfg := fcndata.DefaultSyntheticConfig()
	cfg.NTrain, cfg.NVal, cfg.Size, cfg.Classes = 8, 4, 16, 3
	if err := fcndata.WriteSyntheticVOC(context.Background(), root, cfg, 95); err != nil {
		t.Fatal(err)
	}
	return root, []string{"data.format=voc", "data.root=" + root, "train.steps=2", "train.batch_size=2", "train.iter_size=1", "eval.every=0"}
}

// writeJPEG writes an h×w grey JPEG image at p.
func writeJPEG(t *testing.T, p string, h, w int) {
	t.Helper()
	pix := make([]float32, 3*h*w)
	for i := range pix {
		pix[i] = 128
	}
	var b bytes.Buffer
	if err := fcndata.EncodeJPEG(&b, pix, h, w, 90); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeMask writes an h×w mask of label at p.
func writeMask(t *testing.T, p string, h, w int, label int32) {
	t.Helper()
	lab := make([]int32, h*w)
	for i := range lab {
		lab[i] = label
	}
	var b bytes.Buffer
	if err := fcndata.EncodeMask(&b, lab, h, w); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestPreflightRefusesBadData: every kind of bad sample in the val split (read only at
// the first evaluation) fails the run before step 1, naming the file and what is wrong,
// with nothing written; --skip-data-check leaves it to the loader, which meets it after
// the training steps.
func TestPreflightRefusesBadData(t *testing.T) {
	cases := []struct {
		name  string
		spoil func(root string)
		want  []string
	}{
		{"corrupt image", func(root string) {
			os.WriteFile(filepath.Join(root, "JPEGImages", "val_000001.jpg"), []byte("not a jpeg"), 0o644)
		}, []string{"val_000001.jpg", "unreadable image"}},
		{"label out of range", func(root string) {
			writeMask(t, filepath.Join(root, "SegmentationClass", "val_000002.png"), 16, 16, 7)
		}, []string{"val_000002.png", "labels 7 (256 pixels, first at (0,0)) are not class ids (0..2) nor the ignore label 255"}},
		{"mask of another size", func(root string) {
			writeMask(t, filepath.Join(root, "SegmentationClass", "val_000003.png"), 16, 12, 1)
		}, []string{"val_000003.png", "mask is 12×16 (W×H) but its image"}},
		{"missing mask", func(root string) {
			os.Remove(filepath.Join(root, "SegmentationClass", "val_000000.png"))
		}, []string{"val_000000.png"}},
		{"image too small for the net", func(root string) {
			writeJPEG(t, filepath.Join(root, "JPEGImages", "val_000001.jpg"), 1, 1)
			writeMask(t, filepath.Join(root, "SegmentationClass", "val_000001.png"), 1, 1, 1)
		}, []string{`split "val": image`, "val_000001.jpg", "too small", "the smallest it takes is 2×2"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root, sets := vocSet(t)
			c.spoil(root)
			dir := filepath.Join(t.TempDir(), "run")
			var out bytes.Buffer
			_, err := Run(context.Background(), tinyExp(t, sets...), Options{OutDir: dir, Out: &out})
			if err == nil {
				t.Fatal("trained on bad data")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if _, serr := os.Stat(dir); !os.IsNotExist(serr) {
				t.Errorf("run folder written before the data was checked (%v)", serr)
			}
			if strings.Contains(out.String(), "step 1") {
				t.Errorf("training started:\n%s", out.String())
			}
		})
	}

	t.Run("skip-data-check", func(t *testing.T) {
		root, sets := vocSet(t)
		writeMask(t, filepath.Join(root, "SegmentationClass", "val_000002.png"), 16, 16, 7)
		var out bytes.Buffer
		_, err := Run(context.Background(), tinyExp(t, sets...), Options{OutDir: filepath.Join(t.TempDir(), "run"), Out: &out, SkipDataCheck: true})
		var re *RunError
		if !errors.As(err, &re) || re.Step != 2 {
			t.Fatalf("with the check skipped the bad mask should stop the evaluation after step 2, got %v", err)
		}
		if !strings.Contains(out.String(), "data check skipped (--skip-data-check)") {
			t.Errorf("no notice that the check was skipped:\n%s", out.String())
		}
	})
}

// TestPreflightListsFirstProblems: a split with many bad samples lists the first ten
// and says how many more there are and how to see them all.
func TestPreflightListsFirstProblems(t *testing.T) {
	root := filepath.Join(t.TempDir(), "voc")
	cfg := fcndata.DefaultSyntheticConfig()
	cfg.NTrain, cfg.NVal, cfg.Size, cfg.Classes = 14, 2, 16, 3
	if err := fcndata.WriteSyntheticVOC(context.Background(), root, cfg, 95); err != nil {
		t.Fatal(err)
	}
	rewriteMasks(t, root, "train", func(int) int32 { return 9 })
	_, err := Run(context.Background(), tinyExp(t, "data.format=voc", "data.root="+root, "train.steps=1", "train.batch_size=2"), Options{OutDir: filepath.Join(t.TempDir(), "run")})
	if err == nil {
		t.Fatal("trained on bad data")
	}
	msg := err.Error()
	if !strings.Contains(msg, `split "train"`) || !strings.Contains(msg, "has 14 problems") || !strings.Contains(msg, "… and 4 more") || !strings.Contains(msg, "fcn data check") {
		t.Errorf("error: %s", msg)
	}
	if n := strings.Count(msg, "train_0000"); n != 10 {
		t.Errorf("%d samples listed, want 10:\n%s", n, msg)
	}
}

// TestCropNotice: a crop larger than the images is announced once with the share of
// padding; a crop the images fill says nothing.
func TestCropNotice(t *testing.T) {
	root, sets := vocSet(t)
	// Half the train images 8×8 inside a 16 crop: 1 - 64/256 = 75% padding each; the
	// other half 16×16: none. On average 37.5%, printed as 38%.
	for i := range 4 {
		id := "train_00000" + string(rune('0'+i))
		writeJPEG(t, filepath.Join(root, "JPEGImages", id+".jpg"), 8, 8)
		writeMask(t, filepath.Join(root, "SegmentationClass", id+".png"), 8, 8, 1)
	}
	for _, c := range []struct {
		crop string
		want string
	}{
		{"16", "data.transforms.crop 16 is larger than 4 of the 8 images of split \"train\" (the smallest is 8×8): on average 38% of a crop is padding"},
		{"8", ""},
	} {
		var out bytes.Buffer
		run(t, context.Background(), tinyExp(t, append(sets, "data.transforms.crop="+c.crop)...), Options{OutDir: filepath.Join(t.TempDir(), "run"), Out: &out, Progress: ProgressOff})
		got := strings.Count(out.String(), "is larger than")
		switch {
		case c.want == "" && got != 0:
			t.Errorf("crop %s: unexpected notice:\n%s", c.crop, out.String())
		case c.want != "" && (got != 1 || !strings.Contains(out.String(), c.want)):
			t.Errorf("crop %s: want one notice %q, got:\n%s", c.crop, c.want, out.String())
		}
	}
}
