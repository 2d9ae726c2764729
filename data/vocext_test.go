package data

import (
	"context"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestVOCImageExtensions: JPEGImages may hold .jpg, .jpeg or .png images; a missing one
// is reported with the names looked for.
func TestVOCImageExtensions(t *testing.T) {
	root := t.TempDir()
	cfg := DefaultSyntheticConfig()
	cfg.NTrain, cfg.NVal, cfg.Size, cfg.Classes = 3, 1, 16, 3
	if err := WriteSyntheticVOC(context.Background(), root, cfg, 95); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "JPEGImages")
	// train_000001 becomes a PNG, train_000002 a .jpeg.
	img, h, w, err := ReadImageFile(filepath.Join(dir, "train_000001.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, "train_000001.png"))
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, planarToRGBA(img, h, w)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	os.Remove(filepath.Join(dir, "train_000001.jpg"))
	if err := os.Rename(filepath.Join(dir, "train_000002.jpg"), filepath.Join(dir, "train_000002.jpeg")); err != nil {
		t.Fatal(err)
	}
	dc := DefaultConfig()
	dc.Format, dc.Root, dc.NumClasses = FormatVOC, root, 3
	ds, err := Open(dc, "train")
	if err != nil {
		t.Fatal(err)
	}
	for i := range ds.Len() {
		s, err := ds.Sample(i)
		if err != nil {
			t.Fatal(err)
		}
		if s.H != 16 || s.W != 16 {
			t.Errorf("sample %d is %d×%d", i, s.H, s.W)
		}
	}
	if !strings.HasSuffix(mustSample(t, ds, 1).ID, ".png") || !strings.HasSuffix(mustSample(t, ds, 2).ID, ".jpeg") {
		t.Error("the .png and .jpeg images were not the ones read")
	}
	os.Remove(filepath.Join(dir, "train_000000.jpg"))
	_, err = Open(dc, "train")
	if err == nil || !strings.Contains(err.Error(), "train_000000.jpg, .jpeg and .png") {
		t.Errorf("missing image: %v", err)
	}
}

func mustSample(t *testing.T, ds Dataset, i int) Sample {
	t.Helper()
	s, err := ds.Sample(i)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// planarToRGBA turns a planar RGB image (0–255) into an opaque image.RGBA.
func planarToRGBA(pix []float32, h, w int) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	n := h * w
	for i := range n {
		m.Pix[4*i], m.Pix[4*i+1], m.Pix[4*i+2], m.Pix[4*i+3] = uint8(pix[i]), uint8(pix[n+i]), uint8(pix[2*n+i]), 255
	}
	return m
}
