package main

import (
	"context"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fcn-dev/fcn/data"
)

// writeMixedVOC writes a VOC-layout set whose images and masks are cut from synthetic
// scenes to mixed odd sizes (PNG images, as users' own sets often are).
func writeMixedVOC(t *testing.T, sizes [][2]int) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "voc")
	cfg := data.DefaultSyntheticConfig()
	cfg.NTrain, cfg.NVal, cfg.Size, cfg.Classes = len(sizes), len(sizes), 160, 5
	if err := data.WriteSyntheticVOC(context.Background(), root, cfg, 95); err != nil {
		t.Fatal(err)
	}
	for _, split := range []string{"train", "val"} {
		for i, hw := range sizes {
			id := split + "_" + pad6(i)
			jpg := filepath.Join(root, "JPEGImages", id+".jpg")
			pix, h, w, err := data.ReadImageFile(jpg)
			if err != nil {
				t.Fatal(err)
			}
			img := image.NewRGBA(image.Rect(0, 0, hw[1], hw[0]))
			for y := range hw[0] {
				for x := range hw[1] {
					k := (y%h)*w + x%w
					o := 4 * (y*hw[1] + x)
					img.Pix[o], img.Pix[o+1], img.Pix[o+2], img.Pix[o+3] = uint8(pix[k]), uint8(pix[h*w+k]), uint8(pix[2*h*w+k]), 255
				}
			}
			writePNG(t, filepath.Join(root, "JPEGImages", id+".png"), img)
			os.Remove(jpg)
			mp := filepath.Join(root, "SegmentationClass", id+".png")
			lab, mh, mw, err := data.ReadMaskFile(mp)
			if err != nil {
				t.Fatal(err)
			}
			cut := make([]int32, hw[0]*hw[1])
			for y := range hw[0] {
				for x := range hw[1] {
					cut[y*hw[1]+x] = lab[(y%mh)*mw+x%mw]
				}
			}
			f, err := os.Create(mp)
			if err != nil {
				t.Fatal(err)
			}
			if err := data.EncodeMask(f, cut, hw[0], hw[1]); err != nil {
				t.Fatal(err)
			}
			f.Close()
		}
	}
	return root
}

func pad6(i int) string {
	s := "00000" + string(rune('0'+i))
	return s[len(s)-6:]
}

// TestMixedSizesEndToEnd trains the default net (which needs aligned sizes) a few steps
// on images of mixed odd sizes, evaluates and predicts them: every prediction has its
// image's size. The same set with one corrupt val mask fails before step 1.
func TestMixedSizesEndToEnd(t *testing.T) {
	sizes := [][2]int{{97, 131}, {125, 94}, {64, 64}, {75, 100}}
	root := writeMixedVOC(t, sizes)
	run := filepath.Join(t.TempDir(), "run")
	common := []string{"--set", "data.format=voc", "--set", "data.root=" + root, "--set", "train.batch_size=2", "--set", "model.classes=5"}
	code, out, errs := runInProcess(t, append([]string{"train", "--out", run, "--set", "train.steps=3", "--set", "eval.every=0", "--progress", "off"}, common...)...)
	if code != 0 {
		t.Fatalf("train: exit %d\n%s\n%s", code, out, errs)
	}
	if code, out, errs = runInProcess(t, "eval", "--run", run); code != 0 || !strings.Contains(out, "4 images") {
		t.Fatalf("eval: exit %d\n%s\n%s", code, out, errs)
	}
	pred := t.TempDir()
	if code, out, errs = runInProcess(t, "predict", "--run", run, "--input", filepath.Join(root, "JPEGImages"), "--output", pred); code != 0 {
		t.Fatalf("predict: exit %d\n%s\n%s", code, out, errs)
	}
	for _, split := range []string{"train", "val"} {
		for i, hw := range sizes {
			f, err := os.Open(filepath.Join(pred, split+"_"+pad6(i)+".png"))
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := png.DecodeConfig(f)
			f.Close()
			if err != nil || cfg.Height != hw[0] || cfg.Width != hw[1] {
				t.Errorf("%s %d: prediction %d×%d, image %d×%d (%v)", split, i, cfg.Height, cfg.Width, hw[0], hw[1], err)
			}
		}
	}

	// One corrupt val mask: refused before the first step, naming the file.
	bad := filepath.Join(root, "SegmentationClass", "val_000002.png")
	if err := os.WriteFile(bad, []byte("\x89PNG\r\n\x1a\nnot a mask"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs = runInProcess(t, append([]string{"train", "--out", filepath.Join(t.TempDir(), "r2"), "--set", "train.steps=3", "--progress", "plain"}, common...)...)
	if code == 0 || !strings.Contains(errs, "val_000002.png") || strings.Contains(out, "step 1/") {
		t.Errorf("corrupt val mask: exit %d\nstdout %s\nstderr %s", code, out, errs)
	}
}

// TestFailedRunSaysHowToResume: an evaluation that fails after some steps ends the
// command with exit 1, the error, where the state was saved and how to resume. (The
// data check would refuse the bad file before step 1: --skip-data-check lets the run
// reach it.)
func TestFailedRunSaysHowToResume(t *testing.T) {
	root := writeVOC(t, 3)
	if err := os.WriteFile(filepath.Join(root, "JPEGImages", "val_000001.jpg"), []byte("not a jpeg"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := filepath.Join(t.TempDir(), "run")
	code, _, stderr := runInProcess(t, "train", "--config", writeTiny(t), "--out", run, "--set", "data.format=voc", "--set", "data.root="+root,
		"--set", "train.batch_size=2", "--set", "eval.every=2", "--progress", "off", "--skip-data-check")
	if code != 1 || !strings.Contains(stderr, "val_000001.jpg") || !strings.Contains(stderr, "the state after step 2 is saved in") ||
		!strings.Contains(stderr, "train --out "+run+" --resume") {
		t.Errorf("exit %d\n%s", code, stderr)
	}
}
