package train

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	fcndata "github.com/fcn-dev/fcn/data"
	"github.com/fcn-dev/fcn/figure"
	"github.com/fcn-dev/fcn/train/tfevents"
)

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	if err := json.Unmarshal(readFile(t, path), v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func eventFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, tfevents.Prefix+"*"))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestRunWritesWatchFiles checks status.json, evals/ and the event file of a finished run
// against the run's own data: the confusion matrix counts exactly the labelled pixels of
// the val split (counted here from the dataset), its IoUs follow from the matrix, the
// overlays are the first val images at their size, and the event file holds every
// metrics.jsonl value with valid CRCs.
func TestRunWritesWatchFiles(t *testing.T) {
	dir := t.TempDir()
	exp := tinyExp(t, "log.tensorboard=true")
	before := time.Now()
	run(t, context.Background(), exp, Options{OutDir: dir})

	var st Status
	readJSON(t, filepath.Join(dir, StatusFile), &st)
	if st.State != StateFinished || st.Step != 6 || st.Total != 6 || st.Experiment != "tiny" || st.PID != os.Getpid() ||
		st.Started.Before(before.Add(-time.Second)) || st.Updated.Before(st.Started) || st.ETASeconds == nil || *st.ETASeconds != 0 ||
		st.ImagesPerSecond == nil || *st.ImagesPerSecond <= 0 || st.Error != "" {
		t.Errorf("status.json %+v", st)
	}

	val, err := fcndata.Open(exp.Data, exp.Data.ValSplit)
	if err != nil {
		t.Fatal(err)
	}
	var labelled, ignored int64
	for i := range val.Len() {
		s, err := val.Sample(i)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range s.Label {
			if int(l) == exp.Data.IgnoreLabel {
				ignored++
			} else {
				labelled++
			}
		}
	}
	evalLines := map[int]EvalLine{}
	var trainLines []TrainLine
	for _, line := range strings.Split(strings.TrimSpace(string(readFile(t, filepath.Join(dir, MetricsFile)))), "\n") {
		if strings.Contains(line, `"split"`) {
			var e EvalLine
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Fatal(err)
			}
			evalLines[e.Step] = e
		} else {
			var l TrainLine
			if err := json.Unmarshal([]byte(line), &l); err != nil {
				t.Fatal(err)
			}
			trainLines = append(trainLines, l)
		}
	}
	for _, step := range []int{3, 6} {
		ed := filepath.Join(dir, EvalsDir, EvalDirName(step))
		var c ConfusionJSON
		readJSON(t, filepath.Join(ed, ConfusionFile), &c)
		if c.Step != step || c.Split != "val" || len(c.Classes) != 3 || len(c.Matrix) != 3 {
			t.Fatalf("%s: %+v", ed, c)
		}
		var sum int64
		for g, row := range c.Matrix {
			var rowSum, colSum int64
			for p := range row {
				sum += row[p]
				rowSum += row[p]
				colSum += c.Matrix[p][g]
			}
			tp := row[g]
			if u := rowSum + colSum - tp; u > 0 {
				if want := float64(tp) / float64(u); math.Abs(float64(c.IoU[g])-want) > 1e-12 {
					t.Errorf("step %d class %d: iou %v, from the matrix %v", step, g, c.IoU[g], want)
				}
			}
		}
		if sum != labelled || c.Ignored != ignored {
			t.Errorf("step %d: matrix counts %d pixels (%d ignored), the val split has %d labelled (%d ignored)", step, sum, c.Ignored, labelled, ignored)
		}
		if e := evalLines[step]; float64(c.MIoU) != e.MeanIoU || float64(c.PixelAcc) != e.PixelAcc {
			t.Errorf("step %d: confusion.json miou %v pixel_acc %v, metrics.jsonl %v %v", step, c.MIoU, c.PixelAcc, e.MeanIoU, e.PixelAcc)
		}
		checkConfusionPNG(t, filepath.Join(ed, ConfusionPNG), &c)
		var ov []OverlayJSON
		readJSON(t, filepath.Join(ed, OverlaysFile), &ov)
		if len(ov) != OverlayImages {
			t.Fatalf("step %d: %d overlays", step, len(ov))
		}
		for i, o := range ov {
			s, _ := val.Sample(i)
			if o.ID != s.ID {
				t.Errorf("overlay %d is of %s, want the split's image %d %s", i, o.ID, i, s.ID)
			}
			// 16×16 images are drawn 8 times larger (toward 128 pixels), with the legend
			// below, at least figure.LegendMinWidth wide.
			img, err := png.Decode(bytes.NewReader(readFile(t, filepath.Join(ed, o.File))))
			if err != nil || s.W != 16 || img.Bounds().Dx() != max(8*s.W, figure.LegendMinWidth) || img.Bounds().Dy() <= 8*s.H {
				t.Errorf("overlay %s of a %d×%d image: %v, %v", o.File, s.W, s.H, img.Bounds(), err)
			}
		}
	}
	for _, f := range []string{LossPlot, LRPlot, MIoUPlot} {
		img, err := png.Decode(bytes.NewReader(readFile(t, filepath.Join(dir, PlotsDir, f))))
		if err != nil || img.Bounds().Dx() != RunPlotW || img.Bounds().Dy() != RunPlotH {
			t.Errorf("%s: %v, %v; want a %d×%d PNG", f, img.Bounds(), err, RunPlotW, RunPlotH)
		}
	}
	if tmp, _ := filepath.Glob(filepath.Join(dir, EvalsDir, ".tmp-*")); len(tmp) > 0 {
		t.Errorf("temporary folders left: %v", tmp)
	}

	files := eventFiles(t, dir)
	if len(files) != 1 {
		t.Fatalf("event files %v", files)
	}
	ev, torn, err := tfevents.ReadFile(files[0])
	if err != nil || torn {
		t.Fatalf("event file: torn %v, %v", torn, err)
	}
	if ev[0].FileVersion != tfevents.FileVersion {
		t.Errorf("first event %+v", ev[0])
	}
	scalars := map[string]map[int64]float32{}
	images := 0
	for _, e := range ev[1:] {
		for _, v := range e.Values {
			if v.Image != nil {
				images++
				continue
			}
			if scalars[v.Tag] == nil {
				scalars[v.Tag] = map[int64]float32{}
			}
			scalars[v.Tag][e.Step] = v.Scalar
		}
	}
	if len(scalars["train/loss"]) != 6 {
		t.Errorf("train/loss at %d steps", len(scalars["train/loss"]))
	}
	for _, l := range trainLines {
		if scalars["train/loss"][int64(l.Step)] != float32(l.Loss) || scalars["train/lr"][int64(l.Step)] != float32(l.LR) {
			t.Errorf("step %d: event file loss %v lr %v, metrics.jsonl %v %v", l.Step, scalars["train/loss"][int64(l.Step)], scalars["train/lr"][int64(l.Step)], l.Loss, l.LR)
		}
	}
	for step, e := range evalLines {
		if got := scalars["val/miou"][int64(step)]; got != float32(e.MeanIoU) {
			t.Errorf("val/miou at %d: %v, metrics.jsonl %v", step, got, e.MeanIoU)
		}
	}
	if images != 2*OverlayImages {
		t.Errorf("%d images in the event file, want %d", images, 2*OverlayImages)
	}
}

// TestWatchInterruptResume stops a run, checks status.json says so, resumes it and
// checks the evaluations and status equal an uninterrupted run's and that the resumed
// session's event file starts with a SessionLog START at the step it resumed from.
func TestWatchInterruptResume(t *testing.T) {
	ref := t.TempDir()
	run(t, context.Background(), tinyExp(t), Options{OutDir: ref})

	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	w := &cancelAt{marker: "step 4/6", cancel: cancel}
	run(t, ctx, tinyExp(t, "log.tensorboard=true"), Options{OutDir: dir, Out: w, Progress: ProgressPlain})
	cancel()
	var st Status
	readJSON(t, filepath.Join(dir, StatusFile), &st)
	if st.State != StateInterrupted || st.Step != 4 {
		t.Fatalf("status after the stop: %+v", st)
	}
	// A stale folder of a later step (as a stopped session with another eval.every
	// might leave) is dropped by the resume.
	if err := os.MkdirAll(filepath.Join(dir, EvalsDir, EvalDirName(5)), 0o755); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // a new second: the resumed session's file gets its own time stamp
	run(t, context.Background(), tinyExp(t, "log.tensorboard=true"), Options{OutDir: dir, Resume: ResumeLatest})
	readJSON(t, filepath.Join(dir, StatusFile), &st)
	if st.State != StateFinished || st.Step != 6 {
		t.Errorf("status after the resume: %+v", st)
	}
	got, _ := filepath.Glob(filepath.Join(dir, EvalsDir, "*"))
	want, _ := filepath.Glob(filepath.Join(ref, EvalsDir, "*"))
	if len(got) != len(want) {
		t.Fatalf("evals %v, uninterrupted %v", got, want)
	}
	for i := range got {
		if filepath.Base(got[i]) != filepath.Base(want[i]) {
			t.Fatalf("evals %v, uninterrupted %v", got, want)
		}
		for _, f := range []string{ConfusionFile, OverlaysFile, "overlay-00.png"} {
			if !bytes.Equal(readFile(t, filepath.Join(got[i], f)), readFile(t, filepath.Join(want[i], f))) {
				t.Errorf("%s/%s differs from the uninterrupted run's", filepath.Base(got[i]), f)
			}
		}
	}
	files := eventFiles(t, dir)
	if len(files) != 2 {
		t.Fatalf("event files %v, want one per session", files)
	}
	ev, _, err := tfevents.ReadFile(files[1])
	if err != nil {
		t.Fatal(err)
	}
	if len(ev) < 2 || ev[1].Session == nil || ev[1].Session.Status != tfevents.SessionStart || ev[1].Step != 4 {
		t.Errorf("resumed session's events start %+v", ev[:min(2, len(ev))])
	}
}

func TestWatchFailed(t *testing.T) {
	dir := t.TempDir()
	_, err := Run(context.Background(), tinyExp(t, "optim.lr=1e30", "schedule.warmup_steps=0"), Options{OutDir: dir})
	if err == nil {
		t.Fatal("no error")
	}
	var st Status
	readJSON(t, filepath.Join(dir, StatusFile), &st)
	if st.State != StateFailed || !strings.Contains(st.Error, "diverged") {
		t.Errorf("status %+v", st)
	}
}
