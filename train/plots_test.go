package train

import (
	"bytes"
	"context"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fcn-dev/fcn/figure"
)

// TestReadMetricsTorn: ReadMetrics reads a metrics.jsonl whose last line was cut short
// (a run killed mid-write) without it, and still refuses a damaged line before the end.
func TestReadMetricsTorn(t *testing.T) {
	p := filepath.Join(t.TempDir(), "metrics.jsonl")
	good := `{"step":1,"loss":1.5,"lr":0.1}` + "\n" + `{"step":2,"loss":1.25,"lr":0.1}` + "\n"
	if err := os.WriteFile(p, []byte(good+`{"step":3,"lo`), 0o644); err != nil {
		t.Fatal(err)
	}
	tr, _, err := ReadMetrics(p)
	if err != nil || len(tr) != 2 || tr[1].Loss != 1.25 {
		t.Fatalf("torn last line: %v, %v", tr, err)
	}
	if err := os.WriteFile(p, []byte(`{"step":1,"lo`+"\n"+good), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadMetrics(p); err == nil || !strings.Contains(err.Error(), ":1:") {
		t.Fatalf("damaged first line: %v", err)
	}
}

// checkConfusionPNG decodes an evaluation's confusion.png and checks its size and that
// its cells' darkness orders as the row-normalised matrix of confusion.json does
// (normalised here, by hand): a larger share of the row is a darker cell.
func checkConfusionPNG(t *testing.T, path string, c *ConfusionJSON) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(readFile(t, path)))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if w, h := figure.ConfusionSize(c.Classes); img.Bounds().Dx() != w || img.Bounds().Dy() != h {
		t.Fatalf("%s is %v, want %d×%d", path, img.Bounds(), w, h)
	}
	type cell struct {
		share, lum float64
	}
	var cells []cell
	for g, row := range c.Matrix {
		var sum int64
		for _, v := range row {
			sum += v
		}
		if sum == 0 {
			continue
		}
		for p, v := range row {
			r := figure.ConfusionCell(c.Classes, g, p)
			cells = append(cells, cell{float64(v) / float64(sum), figure.Luminance(figure.RGBA(img.At(r.Min.X+3, r.Min.Y+3)))})
		}
	}
	for _, a := range cells {
		for _, b := range cells {
			if a.share > b.share+1e-3 && !(a.lum < b.lum) {
				t.Errorf("%s: share %.3f has luminance %.1f, share %.3f %.1f: want the larger share darker", path, a.share, a.lum, b.share, b.lum)
			}
		}
	}
}

// TestRunPlotsOff: log.plots=false writes neither plots/ nor confusion.png; and the
// weights are those of a run with pictures (drawing reads the log only).
func TestRunPlotsOff(t *testing.T) {
	on, off := t.TempDir(), t.TempDir()
	run(t, context.Background(), tinyExp(t, "train.steps=3"), Options{OutDir: on})
	run(t, context.Background(), tinyExp(t, "train.steps=3", "log.plots=false"), Options{OutDir: off})
	if _, err := os.Stat(filepath.Join(off, PlotsDir)); err == nil {
		t.Error("plots/ written with log.plots=false")
	}
	if _, err := os.Stat(filepath.Join(off, EvalsDir, EvalDirName(3), ConfusionPNG)); err == nil {
		t.Error("confusion.png written with log.plots=false")
	}
	if _, err := os.Stat(filepath.Join(on, EvalsDir, EvalDirName(3), ConfusionPNG)); err != nil {
		t.Error(err)
	}
	if !bytes.Equal(readFile(t, filepath.Join(on, ModelFile)), readFile(t, filepath.Join(off, ModelFile))) {
		t.Error("the model with pictures differs from the one without")
	}
}

// TestMovingMean by hand: window 2 over 1, 3, NaN, 5 is 1, 2, 3, 5.
func TestMovingMean(t *testing.T) {
	got := MovingMean([]float64{1, 3, math.NaN(), 5}, 2)
	want := []float64{1, 2, 3, 5}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}

// TestWriteRunPlotsEmptyAndTorn: a log with no evaluation yet and a torn last line
// still gives the three pictures.
func TestWriteRunPlotsEmptyAndTorn(t *testing.T) {
	dir := t.TempDir()
	log := `{"step":1,"loss":2.5,"lr":0.01}` + "\n" + `{"step":2,"loss":null,"lr":0.01}` + "\n" + `{"step":3,"lo`
	if err := os.WriteFile(filepath.Join(dir, MetricsFile), []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteRunPlots(dir, "x"); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{LossPlot, LRPlot, MIoUPlot} {
		if _, err := png.Decode(bytes.NewReader(readFile(t, filepath.Join(dir, PlotsDir, f)))); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
