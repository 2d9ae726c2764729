package data

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The helpers write test datasets with the standard library's encoders directly, not with
// the package's own, so that decoding is checked against an independent writer.

// refPalette is the VOC colour map written out from the devkit's published table for the
// entries the tests use (not computed by the code under test).
var refPalette = map[int]color.RGBA{
	0:   {0, 0, 0, 255},
	1:   {128, 0, 0, 255},
	2:   {0, 128, 0, 255},
	3:   {128, 128, 0, 255},
	4:   {0, 0, 128, 255},
	5:   {128, 0, 128, 255},
	15:  {192, 128, 128, 255},
	20:  {0, 64, 128, 255},
	255: {224, 224, 192, 255},
}

// testImage is a deterministic RGB image whose pixel (x, y) is (x*9, y*7, (x+y)*5) mod 256.
func testImage(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x * 9), uint8(y * 7), uint8((x + y) * 5), 255})
		}
	}
	return img
}

// testLabels is a deterministic label map with classes 0..classes-1 and a 255 border.
func testLabels(w, h, classes int) []uint8 {
	lab := make([]uint8, w*h)
	for y := range h {
		for x := range w {
			v := uint8((x/3 + y/2) % classes)
			if x == 0 || y == 0 {
				v = 255
			}
			lab[y*w+x] = v
		}
	}
	return lab
}

func pngBytes(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func jpegBytes(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 100}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// paletteMask builds a palette image with a palette taken from refPalette (other entries
// a grey ramp): what matters in a palette mask is the index, not the colour.
func paletteMask(w, h int, lab []uint8) *image.Paletted {
	pal := make(color.Palette, 256)
	for i := range pal {
		if c, ok := refPalette[i]; ok {
			pal[i] = c
		} else {
			pal[i] = color.RGBA{uint8(i), uint8(i), uint8(i), 255}
		}
	}
	m := image.NewPaletted(image.Rect(0, 0, w, h), pal)
	copy(m.Pix, lab)
	return m
}

func grayMask(w, h int, lab []uint8) *image.Gray {
	m := image.NewGray(image.Rect(0, 0, w, h))
	copy(m.Pix, lab)
	return m
}

func writeBytes(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// vocSample is one sample of the fixtures, with a size of its own.
type vocSample struct {
	id   string
	w, h int
}

var vocSamples = []vocSample{{"2007_000001", 11, 9}, {"2007_000002", 8, 8}, {"2007_000003", 13, 7}, {"2007_000004", 6, 10}}

// writeVOC writes a small VOC-layout dataset: three train ids, one val id.
func writeVOC(t testing.TB, root string, classes int) {
	t.Helper()
	for _, s := range vocSamples {
		writeBytes(t, filepath.Join(root, "JPEGImages", s.id+".jpg"), jpegBytes(t, testImage(s.w, s.h)))
		writeBytes(t, filepath.Join(root, "SegmentationClass", s.id+".png"), pngBytes(t, paletteMask(s.w, s.h, testLabels(s.w, s.h, classes))))
	}
	writeBytes(t, filepath.Join(root, "ImageSets", "Segmentation", "train.txt"), []byte("2007_000001\n2007_000002\n\n2007_000003\n"))
	writeBytes(t, filepath.Join(root, "ImageSets", "Segmentation", "val.txt"), []byte("2007_000004\n"))
}

// writeFolder writes a folder-format dataset: images/{train,val}, masks/{train,val},
// with PNG and JPEG images and palette and grayscale masks.
func writeFolder(t testing.TB, root string, classes int) {
	t.Helper()
	for i, s := range vocSamples {
		split := "train"
		if i == 3 {
			split = "val"
		}
		img := testImage(s.w, s.h)
		lab := testLabels(s.w, s.h, classes)
		if i%2 == 0 {
			writeBytes(t, filepath.Join(root, "images", split, s.id+".png"), pngBytes(t, img))
			writeBytes(t, filepath.Join(root, "masks", split, s.id+".png"), pngBytes(t, grayMask(s.w, s.h, lab)))
		} else {
			writeBytes(t, filepath.Join(root, "images", split, s.id+".jpg"), jpegBytes(t, img))
			writeBytes(t, filepath.Join(root, "masks", split, s.id+".png"), pngBytes(t, paletteMask(s.w, s.h, lab)))
		}
	}
}

func vocConfig(root string, classes int) Config {
	c := DefaultConfig()
	c.Format, c.Root, c.NumClasses = FormatVOC, root, classes
	return c
}

func folderConfig(root string, classes int) Config {
	c := DefaultConfig()
	c.Format, c.Root, c.NumClasses = FormatFolder, root, classes
	return c
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
