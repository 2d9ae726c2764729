package main

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/fcn-dev/fcn/checkpoints"
	"github.com/fcn-dev/fcn/data"
)

// metricLines are the metric rows of fcn eval's table (not the loss, which --slide and
// --tta leave undefined).
func metricLines(t *testing.T, out string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^(miou|pixel_acc|mean_acc|fwiou) .*$`).FindAllString(out, -1)
	if len(m) != 4 {
		t.Fatalf("no metrics table in\n%s", out)
	}
	return strings.Join(m, "\n")
}

// TestEvalPredictSplitSlideTTA: --split picks a custom VOC split file; an unknown split
// is refused listing the splits there are; --slide with windows larger than the images
// and --tta scales=1 give plain inference's metrics and masks; windows smaller than the
// images and several scales with flip run; bad flag values are refused naming the flag.
func TestEvalPredictSplitSlideTTA(t *testing.T) {
	root := writeVOC(t, 3)
	val := readLines(t, filepath.Join(root, "ImageSets", "Segmentation", "val.txt"))
	mine := val[1]
	if err := os.WriteFile(filepath.Join(root, "ImageSets", "Segmentation", "mine.txt"), []byte(mine+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := filepath.Join(t.TempDir(), "run")
	if code, o, e := runInProcess(t, "train", "--config", writeTiny(t), "--out", run, "--set", "train.steps=2", "--set", "train.batch_size=2",
		"--progress", "off", "--set", "data.format=voc", "--set", "data.root="+root); code != 0 {
		t.Fatalf("%s\n%s", o, e)
	}
	eval := func(args ...string) string {
		t.Helper()
		code, o, e := runInProcess(t, append([]string{"eval", "--run", run}, args...)...)
		if code != 0 {
			t.Fatalf("eval %v: exit %d\n%s\n%s", args, code, o, e)
		}
		return o
	}
	if o := eval("--split", "mine"); !strings.Contains(o, `on split "mine" of tiny: 1 images, 1024 pixels scored`) {
		t.Errorf("--split mine:\n%s", o)
	}
	plain := eval()
	for _, args := range [][]string{{"--slide", "64x32"}, {"--tta", "scales=1"}, {"--slide", "40x48x20x30", "--tta", "scales=1"}} {
		o := eval(args...)
		if got, want := metricLines(t, o), metricLines(t, plain); got != want {
			t.Errorf("%v: metrics\n%s\nwant plain inference's\n%s", args, got, want)
		}
		if !strings.Contains(o, "loss       n/a") {
			t.Errorf("%v: the loss is not n/a:\n%s", args, o)
		}
	}
	if o := eval("--slide", "16x8", "--tta", "scales=0.75,1,1.5,flip"); !strings.Contains(o, `of tiny, --slide 16x8 --tta scales=0.75,1,1.5,flip: 3 images`) {
		t.Errorf("--slide with --tta:\n%s", o)
	}

	// predict --split writes a mask per image of the split, named by its id, the same as
	// predict --input on the image file.
	outSplit, outFile := t.TempDir(), t.TempDir()
	if code, o, e := runInProcess(t, "predict", "--run", run, "--split", "mine", "--output", outSplit); code != 0 {
		t.Fatalf("predict --split: exit %d\n%s\n%s", code, o, e)
	}
	if code, o, e := runInProcess(t, "predict", "--run", run, "--input", filepath.Join(root, "JPEGImages", mine+".jpg"), "--output", outFile); code != 0 {
		t.Fatalf("predict --input: exit %d\n%s\n%s", code, o, e)
	}
	if ents, _ := os.ReadDir(outSplit); len(ents) != 2 {
		t.Errorf("predict --split mine wrote %d files, want a mask and an overlay", len(ents))
	}
	if !bytes.Equal(mustRead(t, filepath.Join(outSplit, mine+".png")), mustRead(t, filepath.Join(outFile, mine+".png"))) {
		t.Error("predict --split mine and --input of its image give different masks")
	}
	// With --tta the scores are probabilities: they sum to 1 at every pixel, and the mask
	// is their argmax.
	outTTA := t.TempDir()
	if code, o, e := runInProcess(t, "predict", "--run", run, "--split", "val", "--output", outTTA, "--slide", "20x10", "--tta", "scales=0.5,1.25,flip", "--scores"); code != 0 {
		t.Fatalf("predict --tta: exit %d\n%s\n%s", code, o, e)
	} else if !strings.Contains(o, "--slide 20x10 --tta scales=0.5,1.25,flip") {
		t.Errorf("predict does not say how it runs:\n%s", o)
	}
	for _, id := range val {
		path := filepath.Join(outTTA, id+".scores.safetensors")
		f, err := checkpoints.ReadSafetensors(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range f.Tensors {
			if x.Name != "scores" {
				continue
			}
			c, hw := x.Shape[1], x.Shape[2]*x.Shape[3]
			for i := range hw {
				var sum float64
				for k := range c {
					sum += float64(x.Data[k*hw+i])
				}
				if math.Abs(sum-1) > 1e-5 {
					t.Fatalf("%s: pixel %d: probabilities sum to %v", path, i, sum)
				}
			}
		}
		mask, _, _, err := data.ReadMaskFile(filepath.Join(outTTA, id+".png"))
		if err != nil {
			t.Fatal(err)
		}
		checkScoresAgree(t, path, mask)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"eval", "--run", run, "--split", "test"}, `--split: split "test": no such split; the dataset has mine, train, val (from ` + filepath.Join(root, "ImageSets", "Segmentation", "NAME.txt")},
		{[]string{"eval", "--run", run, "--split", "../val"}, "not a path"},
		{[]string{"eval", "--run", run, "--slide", "16"}, `--slide "16": want CROPxSTRIDE`},
		{[]string{"eval", "--run", run, "--slide", "8x16"}, "--slide \"8x16\": a stride (16×16) larger than the crop (8×8)"},
		{[]string{"eval", "--run", run, "--slide", "1x1"}, "--slide 1x1: a 1×1 window: an image of 1×1 is too small"},
		{[]string{"eval", "--run", run, "--tta", "scales=1,0"}, `--tta "scales=1,0": scale "0"`},
		{[]string{"eval", "--run", run, "--tta", "hflip"}, `--tta "hflip": "hflip" is neither`},
		{[]string{"predict", "--run", run, "--split", "test", "--output", t.TempDir()}, `--split: split "test": no such split`},
		{[]string{"predict", "--run", run, "--split", "val", "--input", root, "--output", t.TempDir()}, "--input and --split: give one of them, not both"},
		{[]string{"predict", "--run", run, "--output", t.TempDir()}, "--input or --split is required"},
		{[]string{"predict", "--run", run, "--split", "val", "--output", t.TempDir(), "--tta", "scales="}, `--tta "scales=": scale ""`},
	} {
		code, _, stderr := runInProcess(t, c.args...)
		if code != 1 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", c.args, code, stderr, c.want)
		}
	}
}
