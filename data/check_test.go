package data

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckCleanDataset(t *testing.T) {
	root := t.TempDir()
	writeVOC(t, root, 5)
	rep, err := Check(context.Background(), vocConfig(root, 5), 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) != 0 {
		t.Fatalf("problems in a clean dataset: %v", rep.Problems)
	}
	if len(rep.Splits) != 2 || rep.Splits[0].Count != 3 || rep.Splits[1].Count != 1 {
		t.Fatalf("split counts %+v", rep.Splits)
	}
	tr := rep.Splits[0]
	// Sizes 11×9, 8×8, 13×7 (W×H).
	if tr.MinH != 7 || tr.MaxH != 9 || tr.MinW != 8 || tr.MaxW != 13 || tr.MeanH != 8 || math32(tr.MeanW) != math32(32.0/3) {
		t.Fatalf("size statistics %+v", tr)
	}
	// The histogram matches the label maps counted here independently.
	want := make([]int64, 5)
	var ignored int64
	for _, s := range vocSamples[:3] {
		for _, v := range testLabels(s.w, s.h, 5) {
			if v == 255 {
				ignored++
			} else {
				want[v]++
			}
		}
	}
	for k := range want {
		if tr.Pixels[k] != want[k] {
			t.Fatalf("class %d: %d pixels, want %d", k, tr.Pixels[k], want[k])
		}
	}
	if tr.Ignored != ignored {
		t.Fatalf("%d ignored pixels, want %d", tr.Ignored, ignored)
	}
	var buf bytes.Buffer
	rep.WriteText(&buf)
	if !strings.Contains(buf.String(), "no problems found") || !strings.Contains(buf.String(), "split train: 3 samples") {
		t.Fatalf("report:\n%s", buf.String())
	}
}

func math32(v float64) float32 { return float32(v) }

// Every bad case is reported by Check with its file.
func TestCheckReportsEachBadCase(t *testing.T) {
	for _, bc := range badCases {
		t.Run(bc.name, func(t *testing.T) {
			cfg, path := setupBad(t, bc)
			rep, err := Check(context.Background(), cfg, 2)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range rep.Problems {
				if p.Path == path || strings.Contains(p.Msg, path) {
					return
				}
			}
			t.Fatalf("no problem names %s; problems: %v", path, rep.Problems)
		})
	}
}

// One run reports all the problems of a dataset, not only the first.
func TestCheckReportsAllProblems(t *testing.T) {
	root := t.TempDir()
	writeVOC(t, root, 5)
	seg := filepath.Join(root, "SegmentationClass")
	os.Remove(filepath.Join(seg, "2007_000002.png"))                                                     // missing mask
	trunc(t, filepath.Join(root, "JPEGImages", "2007_000001.jpg"), 0.5)                                  // truncated image
	writeBytes(t, filepath.Join(seg, "2007_000003.png"), pngBytes(t, grayMask(4, 4, make([]uint8, 16)))) // size mismatch
	lab := testLabels(6, 10, 5)
	lab[7], lab[9] = 30, 40
	writeBytes(t, filepath.Join(seg, "2007_000004.png"), pngBytes(t, paletteMask(6, 10, lab)))          // bad labels (val)
	writeBytes(t, filepath.Join(seg, "2099_999999.png"), pngBytes(t, grayMask(2, 2, make([]uint8, 4)))) // extra mask
	rep, err := Check(context.Background(), vocConfig(root, 5), 3)
	if err != nil {
		t.Fatal(err)
	}
	wants := []struct{ file, say string }{
		{"2007_000002.png", "missing"},
		{"2007_000001.jpg", "truncated"},
		{"2007_000003.png", "4×4"},
		{"2007_000004.png", "labels 30, 40 (2 pixels"},
		{"2099_999999.png", "extra mask"},
	}
	var buf bytes.Buffer
	rep.WriteText(&buf)
	for _, w := range wants {
		if !strings.Contains(buf.String(), w.file) || !problemSays(rep.Problems, w.file, w.say) {
			t.Errorf("report lacks %s: %s\n%s", w.file, w.say, buf.String())
		}
	}
	if len(rep.Problems) != len(wants) {
		t.Errorf("%d problems, want %d: %v", len(rep.Problems), len(wants), rep.Problems)
	}
}

func problemSays(ps []Problem, file, say string) bool {
	for _, p := range ps {
		if strings.HasSuffix(p.Path, file) && strings.Contains(p.Msg, say) {
			return true
		}
	}
	return false
}

func TestCheckSynthetic(t *testing.T) {
	c := DefaultConfig()
	c.Synthetic.NTrain, c.Synthetic.NVal = 20, 5
	rep, err := Check(context.Background(), c, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) != 0 || rep.Splits[0].Checked != 20 || rep.Splits[1].Checked != 5 {
		t.Fatalf("synthetic check: %+v", rep)
	}
}
