package main

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/fcn-dev/fcn/checkpoints"
	"github.com/fcn-dev/fcn/data"
)

// TestPredictCommand segments a VOC folder's images with a trained run and checks the
// masks against `fcn eval` on the same images: the pixel accuracy of the written masks
// against the ground truth must be the one eval reports. It also checks the palette,
// the overlay blend, the scores file, and an image of another size.
func TestPredictCommand(t *testing.T) {
	root := writeVOC(t, 3)
	cfg := writeTiny(t)
	run := filepath.Join(t.TempDir(), "run")
	voc := []string{"--set", "data.format=voc", "--set", "data.root=" + root}
	if code, o, e := runInProcess(t, append([]string{"train", "--config", cfg, "--out", run, "--set", "train.steps=3", "--set", "train.batch_size=2", "--progress", "off"}, voc...)...); code != 0 {
		t.Fatalf("%s\n%s", o, e)
	}
	// An extra 24×40 PNG: the graph is reshaped for it.
	in := t.TempDir()
	odd := image.NewRGBA(image.Rect(0, 0, 40, 24))
	for i := range odd.Pix {
		odd.Pix[i] = uint8(i * 7)
		if i%4 == 3 {
			odd.Pix[i] = 255 // opaque
		}
	}
	writePNG(t, filepath.Join(in, "odd.png"), odd)
	for _, id := range readLines(t, filepath.Join(root, "ImageSets", "Segmentation", "val.txt")) {
		b := mustRead(t, filepath.Join(root, "JPEGImages", id+".jpg"))
		if err := os.WriteFile(filepath.Join(in, id+".jpg"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := t.TempDir()
	code, stdout, stderr := runInProcess(t, "predict", "--checkpoint", run, "--input", in, "--output", out, "--scores")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	// Pixel accuracy of the masks on the val images.
	var right, total int
	for _, id := range readLines(t, filepath.Join(root, "ImageSets", "Segmentation", "val.txt")) {
		pred, h, w, err := data.ReadMaskFile(filepath.Join(out, id+".png"))
		if err != nil {
			t.Fatal(err)
		}
		gt, gh, gw, err := data.ReadMaskFile(filepath.Join(root, "SegmentationClass", id+".png"))
		if err != nil || gh != h || gw != w {
			t.Fatalf("%s: mask %d×%d, ground truth %d×%d, %v", id, w, h, gw, gh, err)
		}
		for i := range gt {
			if gt[i] != 255 {
				total++
				if gt[i] == pred[i] {
					right++
				}
			}
		}
		checkScoresAgree(t, filepath.Join(out, id+".scores.safetensors"), pred)
	}
	_, evalOut, _ := runInProcess(t, "eval", "--run", run)
	want := fmt.Sprintf("pixel_acc  %.4f", float64(right)/float64(total))
	if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(want) + `$`).MatchString(evalOut) {
		t.Errorf("masks give %q; fcn eval says:\n%s", want, evalOut)
	}

	// The odd-sized image: mask and overlay at its size, VOC palette, blend 50/50.
	f, err := os.Open(filepath.Join(out, "odd.png"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := png.Decode(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	pm, ok := m.(*image.Paletted)
	if !ok || pm.Bounds().Dx() != 40 || pm.Bounds().Dy() != 24 {
		t.Fatalf("odd.png: %T %v, want a 40×24 palette image", m, m.Bounds())
	}
	if pm.Palette[1] != data.VOCPalette[1] || pm.Palette[2] != data.VOCPalette[2] {
		t.Errorf("mask palette %v, want the VOC colours", pm.Palette[:3])
	}
	f, err = os.Open(filepath.Join(out, "odd_overlay.png"))
	if err != nil {
		t.Fatal(err)
	}
	ov, err := png.Decode(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []image.Point{{0, 0}, {17, 5}, {39, 23}} {
		src := odd.RGBAAt(p.X, p.Y)
		pal := data.VOCPalette[pm.ColorIndexAt(p.X, p.Y)].(color.RGBA)
		got := color.RGBAModel.Convert(ov.At(p.X, p.Y)).(color.RGBA)
		blend := func(a, b uint8) uint8 { return uint8((int(a) + int(b) + 1) / 2) }
		if got.R != blend(src.R, pal.R) || got.G != blend(src.G, pal.G) || got.B != blend(src.B, pal.B) {
			t.Errorf("overlay at %v = %v, want the mean of %v and %v", p, got, src, pal)
		}
	}
	checkOverlayLegend(t, pm, ov, 3)
	if !strings.Contains(stdout, "odd.png (40×24)") {
		t.Errorf("stdout:\n%s", stdout)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--input", in, "--output", out}, "--run DIR or --checkpoint PATH is required"},
		{[]string{"--checkpoint", run, "--input", filepath.Join(in, "nope.jpg"), "--output", out}, "nope.jpg"},
		{[]string{"--checkpoint", run, "--input", t.TempDir(), "--output", out}, "no .jpg, .jpeg or .png"},
		{[]string{"--checkpoint", filepath.Join(run, "config.yaml"), "--input", in, "--output", out}, "config.yaml"},
	} {
		code, _, stderr := runInProcess(t, append([]string{"predict"}, c.args...)...)
		if code != 1 || !strings.Contains(stderr, c.want) {
			t.Errorf("predict %v: exit %d, stderr %q, want %q", c.args, code, stderr, c.want)
		}
	}
}

// checkScoresAgree checks that the mask is the argmax of the scores written with it.
func checkScoresAgree(t *testing.T, path string, mask []int32) {
	t.Helper()
	f, err := checkpoints.ReadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	var s checkpoints.Tensor
	for _, x := range f.Tensors {
		if x.Name == "scores" {
			s = x
		}
	}
	c, hw := s.Shape[1], s.Shape[2]*s.Shape[3]
	for i := range hw {
		best := 0
		for k := 1; k < c; k++ {
			if s.Data[k*hw+i] > s.Data[best*hw+i] {
				best = k
			}
		}
		if int32(best) != mask[i] {
			t.Fatalf("%s: pixel %d: mask %d, argmax of the scores %d", path, i, mask[i], best)
		}
	}
}

func writePNG(t *testing.T, path string, img image.Image) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	return strings.Fields(string(mustRead(t, path)))
}

// TestPredictNeverOverwrites: an --output that would replace an input image, and two
// inputs whose results share a name, are refused before anything is written.
func TestPredictNeverOverwrites(t *testing.T) {
	root := writeVOC(t, 3)
	run := filepath.Join(t.TempDir(), "run")
	if code, o, e := runInProcess(t, "train", "--config", writeTiny(t), "--out", run, "--set", "train.steps=1", "--set", "train.batch_size=2",
		"--progress", "off", "--set", "data.format=voc", "--set", "data.root="+root); code != 0 {
		t.Fatalf("%s\n%s", o, e)
	}
	img := image.NewRGBA(image.Rect(0, 0, 16, 16))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	tests := []struct {
		name   string
		files  []string
		sameIO bool // --output is the input folder
		want   []string
	}{
		{"output over input", []string{"a.png"}, true, []string{"overwrite the input image", "a.png"}},
		{"same stem", []string{"a.png", "a.jpg"}, false, []string{"a.jpg", "a.png", "same file stem"}},
		{"overlay name of another", []string{"b.png", "b_overlay.png"}, false, []string{"b_overlay.png", "same file stem"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := t.TempDir()
			before := map[string][]byte{}
			for _, f := range tc.files {
				p := filepath.Join(in, f)
				writePNG(t, p, img) // a PNG whatever the extension: only names matter here
				before[p] = mustRead(t, p)
			}
			out := filepath.Join(t.TempDir(), "out")
			if tc.sameIO {
				out = in
			}
			code, _, stderr := runInProcess(t, "predict", "--run", run, "--input", in, "--output", out)
			if code == 0 {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("error %q does not say %q", stderr, w)
				}
			}
			for p, b := range before {
				if !bytes.Equal(b, mustRead(t, p)) {
					t.Errorf("%s was changed", p)
				}
			}
			if ents, _ := os.ReadDir(out); !tc.sameIO && len(ents) > 0 {
				t.Errorf("%d files written to %s", len(ents), out)
			}
		})
	}
}

// checkOverlayLegend: the overlay is the image at its size with, below it, a legend
// whose swatches are the palette colours of the classes the mask holds, and only those
// of the model's classes (other palette colours, such as grey, occur in antialiased text).
func checkOverlayLegend(t *testing.T, mask *image.Paletted, ov image.Image, classes int) {
	t.Helper()
	mb, b := mask.Bounds(), ov.Bounds()
	if b.Dy() <= mb.Dy() || b.Dx() < mb.Dx() {
		t.Fatalf("overlay %v: want the %v image with a legend below", b, mb)
	}
	black := color.RGBA{0, 0, 0, 255} // background's colour, also the legend's text
	present := map[color.RGBA]bool{}
	for _, k := range mask.Pix {
		present[data.VOCPalette[k].(color.RGBA)] = true
	}
	seen := map[color.RGBA]bool{}
	for y := mb.Dy(); y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			c := color.RGBAModel.Convert(ov.At(x, y)).(color.RGBA)
			for k := range classes {
				if data.VOCPalette[k].(color.RGBA) == c && c != black {
					seen[c] = true
				}
			}
		}
	}
	for c := range seen {
		if !present[c] {
			t.Errorf("legend shows %v, a class the mask does not hold", c)
		}
	}
	for c := range present {
		if c != black && !seen[c] {
			t.Errorf("class colour %v of the mask has no swatch", c)
		}
	}
}
