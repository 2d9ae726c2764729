package data

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestVOCLoads(t *testing.T) {
	root := t.TempDir()
	writeVOC(t, root, 5)
	ds, err := Open(vocConfig(root, 5), "train")
	if err != nil {
		t.Fatal(err)
	}
	if ds.Len() != 3 {
		t.Fatalf("train has %d samples, want 3", ds.Len())
	}
	if got := ds.ClassNames(); len(got) != 5 {
		t.Fatalf("class names %v, want 5", got)
	}
	for i, want := range vocSamples[:3] {
		s, err := ds.Sample(i)
		if err != nil {
			t.Fatal(err)
		}
		if s.H != want.h || s.W != want.w {
			t.Fatalf("sample %d is %d×%d, want %d×%d", i, s.W, s.H, want.w, want.h)
		}
		if !strings.HasSuffix(s.ID, want.id+".jpg") {
			t.Errorf("sample %d ID %q does not name its image %s.jpg", i, s.ID, want.id)
		}
		lab := testLabels(want.w, want.h, 5)
		for k, v := range lab {
			if s.Label[k] != int32(v) {
				t.Fatalf("sample %d label %d = %d, want %d", i, k, s.Label[k], v)
			}
		}
		if s.Label[0] != 255 {
			t.Fatalf("the ignore border became %d, want 255", s.Label[0])
		}
		// JPEG at quality 100 is close to, not equal to, the original (chroma subsampling).
		ref := testImage(want.w, want.h)
		n := want.w * want.h
		var sumErr float64
		for y := range want.h {
			for x := range want.w {
				c := ref.RGBAAt(x, y)
				k := y*want.w + x
				for ch, v := range []uint8{c.R, c.G, c.B} {
					d := float64(s.Image[ch*n+k]) - float64(v)
					sumErr += d * d
				}
			}
		}
		if rmse := sumErr / float64(3*n); rmse > 30*30 {
			t.Errorf("sample %d: JPEG decode too far from the original (mean squared error %.1f)", i, rmse)
		}
	}
	val, err := Open(vocConfig(root, 5), "val")
	if err != nil {
		t.Fatal(err)
	}
	if val.Len() != 1 {
		t.Fatalf("val has %d samples, want 1", val.Len())
	}
	// The default class names are VOC's.
	c := vocConfig(root, 0)
	c.NumClasses = 0
	names, err := c.ClassNames()
	if err != nil || len(names) != 21 || names[15] != "person" {
		t.Fatalf("default VOC names %v, %v", names, err)
	}
}

func TestFolderLoads(t *testing.T) {
	root := t.TempDir()
	writeFolder(t, root, 4)
	ds, err := Open(folderConfig(root, 4), "train")
	if err != nil {
		t.Fatal(err)
	}
	if ds.Len() != 3 {
		t.Fatalf("train has %d samples, want 3", ds.Len())
	}
	// Items are sorted by stem, so sample i is vocSamples[i]; even ones are PNG (exact).
	for i, want := range vocSamples[:3] {
		s, err := ds.Sample(i)
		if err != nil {
			t.Fatal(err)
		}
		lab := testLabels(want.w, want.h, 4)
		for k, v := range lab {
			if s.Label[k] != int32(v) {
				t.Fatalf("sample %d (%s) label %d = %d, want %d", i, s.ID, k, s.Label[k], v)
			}
		}
		if i%2 == 0 {
			ref := testImage(want.w, want.h)
			n := want.w * want.h
			for y := range want.h {
				for x := range want.w {
					c := ref.RGBAAt(x, y)
					k := y*want.w + x
					if s.Image[k] != float32(c.R) || s.Image[n+k] != float32(c.G) || s.Image[2*n+k] != float32(c.B) {
						t.Fatalf("sample %d pixel (%d,%d) = %v %v %v, want %v", i, x, y, s.Image[k], s.Image[n+k], s.Image[2*n+k], c)
					}
				}
			}
		}
	}
	// One folder for every split (no {split}).
	c := folderConfig(root, 4)
	c.Images, c.Masks = "images/train", filepath.Join(root, "masks", "train")
	ds, err = Open(c, "whatever")
	if err != nil || ds.Len() != 3 {
		t.Fatalf("fixed folders: %v, %v", ds, err)
	}
}

// A configurable ignore value: here 0 marks pixels to ignore and classes are 1..3... the
// loader keeps the value, so the loss must use the same ignore label.
func TestFolderIgnoreValue(t *testing.T) {
	root := t.TempDir()
	lab := []uint8{9, 1, 2, 3}
	writeBytes(t, filepath.Join(root, "images", "train", "a.png"), pngBytes(t, testImage(2, 2)))
	writeBytes(t, filepath.Join(root, "masks", "train", "a.png"), pngBytes(t, grayMask(2, 2, lab)))
	c := folderConfig(root, 4)
	c.IgnoreLabel = 9
	ds, err := Open(c, "train")
	if err != nil {
		t.Fatal(err)
	}
	s, err := ds.Sample(0)
	if err != nil {
		t.Fatal(err)
	}
	if s.Label[0] != 9 || s.Label[3] != 3 {
		t.Fatalf("labels %v, want [9 1 2 3]", s.Label)
	}
	c.IgnoreLabel = 255
	ds, _ = Open(c, "train")
	if _, err := ds.Sample(0); err == nil || !strings.Contains(err.Error(), "label 9") {
		t.Fatalf("with ignore 255, label 9 must be refused, got %v", err)
	}
}

// badCase damages a fresh dataset; the error (from Open, or from Sample of some sample)
// and data check must both name the file at fault.
type badCase struct {
	name   string
	format string
	damage func(t *testing.T, root string) (path string)
	want   string // part of the message
}

func trunc(t *testing.T, path string, keep float64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	writeBytes(t, path, b[:int(float64(len(b))*keep)])
}

var badCases = []badCase{
	{"voc missing mask", FormatVOC, func(t *testing.T, root string) string {
		p := filepath.Join(root, "SegmentationClass", "2007_000002.png")
		os.Remove(p)
		return p
	}, "missing"},
	{"voc missing image", FormatVOC, func(t *testing.T, root string) string {
		p := filepath.Join(root, "JPEGImages", "2007_000001.jpg")
		os.Remove(p)
		return p
	}, "missing"},
	{"voc empty split", FormatVOC, func(t *testing.T, root string) string {
		p := filepath.Join(root, "ImageSets", "Segmentation", "train.txt")
		writeBytes(t, p, []byte("\n"))
		return p
	}, "empty"},
	{"voc missing split file", FormatVOC, func(t *testing.T, root string) string {
		p := filepath.Join(root, "ImageSets", "Segmentation", "train.txt")
		os.Remove(p)
		return p
	}, "cannot read the split file"},
	{"voc size mismatch", FormatVOC, func(t *testing.T, root string) string {
		p := filepath.Join(root, "SegmentationClass", "2007_000003.png")
		writeBytes(t, p, pngBytes(t, paletteMask(5, 5, make([]uint8, 25))))
		return p
	}, "5×5"},
	{"voc label out of range", FormatVOC, func(t *testing.T, root string) string {
		p := filepath.Join(root, "SegmentationClass", "2007_000002.png")
		lab := testLabels(8, 8, 5)
		lab[3*8+4] = 7
		writeBytes(t, p, pngBytes(t, paletteMask(8, 8, lab)))
		return p
	}, "7"},
	{"voc truncated jpeg", FormatVOC, func(t *testing.T, root string) string {
		p := filepath.Join(root, "JPEGImages", "2007_000002.jpg")
		trunc(t, p, 0.6)
		return p
	}, "truncated"},
	{"voc truncated png mask", FormatVOC, func(t *testing.T, root string) string {
		p := filepath.Join(root, "SegmentationClass", "2007_000001.png")
		trunc(t, p, 0.7)
		return p
	}, "truncated"},
	{"voc garbage jpeg", FormatVOC, func(t *testing.T, root string) string {
		p := filepath.Join(root, "JPEGImages", "2007_000003.jpg")
		writeBytes(t, p, []byte("\xff\xd8\xff\xe0 this is not really a jpeg"))
		return p
	}, "image"},
	{"voc not an image", FormatVOC, func(t *testing.T, root string) string {
		p := filepath.Join(root, "JPEGImages", "2007_000001.jpg")
		writeBytes(t, p, []byte("plain text, not an image at all"))
		return p
	}, "unreadable image"},
	{"voc jpeg mask", FormatVOC, func(t *testing.T, root string) string {
		p := filepath.Join(root, "SegmentationClass", "2007_000003.png")
		writeBytes(t, p, jpegBytes(t, testImage(13, 7)))
		return p
	}, "must be PNG"},
	{"folder missing mask", FormatFolder, func(t *testing.T, root string) string {
		os.Remove(filepath.Join(root, "masks", "train", "2007_000002.png"))
		return filepath.Join(root, "images", "train", "2007_000002.jpg")
	}, "no mask"},
	{"folder extra mask", FormatFolder, func(t *testing.T, root string) string {
		p := filepath.Join(root, "masks", "train", "orphan.png")
		writeBytes(t, p, pngBytes(t, grayMask(2, 2, make([]uint8, 4))))
		return p
	}, "extra mask"},
	{"folder empty split", FormatFolder, func(t *testing.T, root string) string {
		p := filepath.Join(root, "images", "train")
		os.RemoveAll(p)
		os.MkdirAll(p, 0o755)
		os.RemoveAll(filepath.Join(root, "masks", "train"))
		os.MkdirAll(filepath.Join(root, "masks", "train"), 0o755)
		return p
	}, "empty"},
	{"folder size mismatch", FormatFolder, func(t *testing.T, root string) string {
		p := filepath.Join(root, "masks", "train", "2007_000001.png")
		writeBytes(t, p, pngBytes(t, grayMask(3, 2, make([]uint8, 6))))
		return p
	}, "3×2"},
	{"folder label out of range", FormatFolder, func(t *testing.T, root string) string {
		p := filepath.Join(root, "masks", "train", "2007_000003.png")
		lab := testLabels(13, 7, 4)
		lab[20] = 200
		writeBytes(t, p, pngBytes(t, grayMask(13, 7, lab)))
		return p
	}, "200"},
	{"folder truncated png image", FormatFolder, func(t *testing.T, root string) string {
		p := filepath.Join(root, "images", "train", "2007_000001.png")
		trunc(t, p, 0.5)
		return p
	}, "truncated"},
	{"folder rgb mask off palette", FormatFolder, func(t *testing.T, root string) string {
		p := filepath.Join(root, "masks", "train", "2007_000001.png")
		img := testImage(11, 9)
		writeBytes(t, p, pngBytes(t, img))
		return p
	}, "not a VOC palette colour"},
}

func setupBad(t *testing.T, bc badCase) (Config, string) {
	root := t.TempDir()
	var cfg Config
	if bc.format == FormatVOC {
		writeVOC(t, root, 5)
		cfg = vocConfig(root, 5)
	} else {
		writeFolder(t, root, 4)
		cfg = folderConfig(root, 4)
	}
	return cfg, bc.damage(t, root)
}

// firstError opens the train split and loads every sample, returning the first error.
func firstError(cfg Config) error {
	ds, err := Open(cfg, "train")
	if err != nil {
		return err
	}
	for i := range ds.Len() {
		if _, err := ds.Sample(i); err != nil {
			return err
		}
	}
	return nil
}

func TestBadInputErrorsNameTheFile(t *testing.T) {
	for _, bc := range badCases {
		t.Run(bc.name, func(t *testing.T) {
			cfg, path := setupBad(t, bc)
			err := firstError(cfg)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), bc.want) {
				t.Fatalf("error %q should name %s and say %q", err, path, bc.want)
			}
		})
	}
}

func TestOpenRejectsBadConfig(t *testing.T) {
	c := DefaultConfig()
	c.Format = FormatVOC
	if _, err := Open(c, "train"); err == nil || !strings.Contains(err.Error(), "data.root") {
		t.Fatalf("missing root: %v", err)
	}
	c = DefaultConfig()
	if _, err := Open(c, "test"); err == nil || !strings.Contains(err.Error(), "test") {
		t.Fatalf("unknown synthetic split: %v", err)
	}
}
