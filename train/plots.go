package train

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"sort"

	"github.com/fcn-dev/fcn/figure"
)

// Pictures of a run folder: plots/ holds the training curves drawn from metrics.jsonl,
// redrawn at every evaluation and at the end (log.plots); each evals/step-N/ holds
// confusion.png beside confusion.json.
const (
	PlotsDir     = "plots"
	LossPlot     = "loss.png" // train loss and eval loss against the step
	LRPlot       = "lr.png"   // learning rate against the step
	MIoUPlot     = "miou.png" // eval mIoU against the step
	ConfusionPNG = "confusion.png"
	// RunPlotW, RunPlotH are the curves' pixel size.
	RunPlotW = 720
	RunPlotH = 420
	// lossPlotWindows: with more than this many steps, the train loss is drawn as a
	// moving mean over steps/lossPlotWindows steps (one step's loss is noisy).
	lossPlotWindows = 100
)

// ReadMetrics reads a run's metrics.jsonl: train lines and evaluation lines (those
// with a split), each sorted by step; a step logged twice (a resumed run) keeps its last
// line. A last line cut short (a kill, or a line being written) is skipped; a damaged line
// before it is an error naming the line.
func ReadMetrics(path string) ([]TrainLine, []EvalLine, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	trainAt := map[int]TrainLine{}
	evalAt := map[int]EvalLine{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for ln := 1; sc.Scan(); ln++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var head struct {
			Step  *int   `json:"step"`
			Split string `json:"split"`
			// Raw, to tell a missing loss from null (read as NaN).
			Loss json.RawMessage `json:"loss"`
		}
		if err := json.Unmarshal(line, &head); err != nil || head.Step == nil {
			if TornLastLine(b) && bytes.HasSuffix(bytes.TrimRight(b, " \t\r"), line) {
				break // the last line, cut short by a kill or still being written
			}
			return nil, nil, fmt.Errorf("%s:%d: not a metrics line (want a JSON object with a step)", path, ln)
		}
		if head.Split != "" {
			var e EvalLine
			if err := json.Unmarshal(line, &e); err != nil {
				return nil, nil, fmt.Errorf("%s:%d: %w", path, ln, err)
			}
			evalAt[e.Step] = e
			continue
		}
		if head.Loss == nil {
			return nil, nil, fmt.Errorf("%s:%d: a train line without a loss", path, ln)
		}
		var l TrainLine
		if err := json.Unmarshal(line, &l); err != nil {
			return nil, nil, fmt.Errorf("%s:%d: %w", path, ln, err)
		}
		if string(head.Loss) == "null" {
			l.Loss = math.NaN() // a float64 field leaves null as 0
		}
		trainAt[l.Step] = l
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	var trains []TrainLine
	for _, l := range trainAt {
		trains = append(trains, l)
	}
	sort.Slice(trains, func(i, j int) bool { return trains[i].Step < trains[j].Step })
	var evals []EvalLine
	for _, e := range evalAt {
		evals = append(evals, e)
	}
	sort.Slice(evals, func(i, j int) bool { return evals[i].Step < evals[j].Step })
	return trains, evals, nil
}

// MovingMean is the mean of each value and the window−1 before it (fewer at the start).
// NaN values are left out of the means.
func MovingMean(ys []float64, window int) []float64 {
	out := make([]float64, len(ys))
	var sum float64
	n := 0
	for i, y := range ys {
		if !math.IsNaN(y) {
			sum += y
			n++
		}
		if j := i - window; j >= 0 && !math.IsNaN(ys[j]) {
			sum -= ys[j]
			n--
		}
		out[i] = math.NaN()
		if n > 0 {
			out[i] = sum / float64(n)
		}
	}
	return out
}

// WriteRunPlots draws the run folder's plots/ (loss, learning rate, eval mIoU against
// the step) from its metrics.jsonl; run names it in the titles (experiment and seed). It reads the
// log and writes pictures only: training is untouched by it.
func WriteRunPlots(runDir, run string) error {
	trains, evals, err := ReadMetrics(filepath.Join(runDir, MetricsFile))
	if err != nil {
		return fmt.Errorf("plots: %w", err)
	}
	dir := filepath.Join(runDir, PlotsDir)
	var steps, losses, lrs []float64
	for _, l := range trains {
		steps = append(steps, float64(l.Step))
		losses = append(losses, l.Loss)
		lrs = append(lrs, l.LR)
	}
	split := "val"
	if len(evals) > 0 {
		split = evals[len(evals)-1].Split
	}
	var evalSteps, evalLoss, evalMIoU []float64
	for _, e := range evals {
		evalSteps = append(evalSteps, float64(e.Step))
		evalLoss = append(evalLoss, float64(e.Loss))
		evalMIoU = append(evalMIoU, e.MeanIoU)
	}
	trainName := "train loss"
	if win := len(losses) / lossPlotWindows; win > 1 {
		losses = MovingMean(losses, win)
		trainName = fmt.Sprintf("train loss (moving mean over %d steps)", win)
	}
	charts := []struct {
		file  string
		chart figure.LineChart
	}{
		{LossPlot, figure.LineChart{Title: run + ": loss", XLabel: "step", YLabel: "loss (cross-entropy, log scale)", LogY: true,
			Series: []figure.Series{{Name: trainName, X: steps, Y: losses}, {Name: split + " loss", X: evalSteps, Y: evalLoss}}}},
		{LRPlot, figure.LineChart{Title: run + ": learning rate", XLabel: "step", YLabel: "learning rate",
			Series: []figure.Series{{X: steps, Y: lrs}}}},
		{MIoUPlot, figure.LineChart{Title: run + ": " + split + " mIoU", XLabel: "step", YLabel: split + " mIoU", YRange: &[2]float64{0, 1},
			Series: []figure.Series{{X: evalSteps, Y: evalMIoU}}}},
	}
	for _, c := range charts {
		c.chart.W, c.chart.H = RunPlotW, RunPlotH
		if err := figure.WriteLineChart(filepath.Join(dir, c.file), c.chart); err != nil {
			return fmt.Errorf("plots: %w", err)
		}
	}
	return nil
}

// confusionPNG is the picture of an evaluation's confusion matrix of the run named run.
func confusionPNG(cj *ConfusionJSON, run string) ([]byte, error) {
	title := fmt.Sprintf("%s\n%s confusion, step %d (mIoU %.3f)", run, cj.Split, cj.Step, float64(cj.MIoU))
	img, err := figure.ConfusionImage(cj.Matrix, cj.Classes, title)
	if err != nil {
		return nil, err
	}
	return encodePNG(img)
}

// overlayScale is the integer upscaling of an h×w overlay toward 128 pixels a side, so
// that the small images of a test set stay readable beside their legend.
func overlayScale(h, w int) int { return max(1, 128/max(h, w)) }

// OverlayPicture is Overlay (each pixel blended with its class's palette colour)
// scaled up by an integer factor when the image is small, with a legend of the classes
// the prediction holds (names[k] is class k's name; none: no legend).
func OverlayPicture(img []float32, labels []int32, h, w int, palette color.Palette, names []string) *image.RGBA {
	o := Overlay(img, labels, h, w, palette)
	if s := overlayScale(h, w); s > 1 {
		big := image.NewRGBA(image.Rect(0, 0, w*s, h*s))
		figure.Blit(big, 0, 0, w, h, s, func(x, y int) color.RGBA { return o.RGBAAt(x, y) })
		o = big
	}
	return figure.WithLegend(o, figure.ClassLegend(names, palette, labels))
}

func encodePNG(img image.Image) ([]byte, error) {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
