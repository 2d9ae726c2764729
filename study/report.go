package study

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fcn-dev/fcn/checkpoints"
	"github.com/fcn-dev/fcn/configs"
	fcndata "github.com/fcn-dev/fcn/data"
	"github.com/fcn-dev/fcn/figure"
	"github.com/fcn-dev/fcn/layers"
	"github.com/fcn-dev/fcn/train"
	"gorgonia.org/tensor"
)

// Files of a study's report folder.
const (
	ReportMarkdown    = "report.md"
	ReportCSV         = "metrics.csv"
	ReportLossPNG     = "loss.png"
	ReportMIoUPNG     = "miou.png"
	ReportPredsPNG    = "predictions.png"
	ReportKernelsPNG  = "kernels.png"
	reportLinePlotW   = 800
	reportLinePlotH   = 500
	reportLossWindows = 50 // the loss curve is a moving mean over steps/50 steps
)

// ReportOptions configure WriteReport.
type ReportOptions struct {
	GridImages     int // val images in the prediction grid (0: 4)
	SpectrumImages int // val images the spectral score reads (0: 64)
}

// RunReport is what the report knows of one run.
type RunReport struct {
	Run  Run
	Done *Done
	// Train and Evals are the run's metrics.jsonl lines by step (see train.ReadMetrics).
	Train []train.TrainLine
	Evals []train.EvalLine
	// Final is the last evaluation; FinalLoss the mean train loss of the last 10 steps.
	Final     train.EvalLine
	FinalLoss float64
	// Params counts the trainable parameters.
	Params int64
	Layers []LayerReport
	// Spectral is the share of the val score maps' spectral energy at multiples of
	// 1/SpectralStride (Spectrum.Share).
	Spectral float64
	// Response is the mean constant-response score over the upsampling layers.
	Response float64
	preds    [][]int32
}

// Report is a written report.
type Report struct {
	Plan    *Plan
	Classes []string
	Runs    []*RunReport
	// SpectralStride, and the spectral share of the ground truth (one-hot maps of the
	// same val images) and of a flat spectrum, for reference.
	SpectralStride   int
	GroundTruthShare float64
	FlatShare        float64
	SpectrumImages   int
	Files            []string // written, relative to the report folder
	predGrid         PredictionGrid
}

// WriteReport reads every finished run of plan under out, measures the trained
// models and writes into out: report.md, metrics.csv, loss.png, miou.png,
// predictions.png and (when some variant trains its deconv weights) kernels.png.
func WriteReport(ctx context.Context, plan *Plan, out string, opt ReportOptions) (*Report, error) {
	if opt.GridImages <= 0 {
		opt.GridImages = 4
	}
	if opt.SpectrumImages <= 0 {
		opt.SpectrumImages = 64
	}
	exp0 := plan.Runs[0].Exp
	ds, err := fcndata.Open(exp0.Data, exp0.Data.ValSplit)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	n := min(ds.Len(), opt.SpectrumImages)
	nGrid := min(n, opt.GridImages)
	val := make([]fcndata.Sample, n)
	for i := range val {
		if val[i], err = ds.Sample(i); err != nil {
			return nil, fmt.Errorf("report: %w", err)
		}
	}
	rep := &Report{Plan: plan, Classes: ds.ClassNames(), SpectralStride: SpectralStride(exp0), SpectrumImages: n}
	gt := Spectrum{Stride: rep.SpectralStride}
	for _, smp := range val {
		m := make([]float64, smp.H*smp.W)
		for c := range exp0.Model.Classes {
			for j, l := range smp.Label {
				m[j] = 0
				if int(l) == c {
					m[j] = 1
				}
			}
			if err := gt.Add(m, smp.H, smp.W); err != nil {
				return nil, err
			}
		}
	}
	rep.GroundTruthShare, rep.FlatShare = gt.Share(), gt.Baseline()

	for _, r := range plan.Runs {
		dir := filepath.Join(out, r.Dir)
		rr := &RunReport{Run: r}
		if rr.Done, err = ReadDone(dir); err != nil {
			return nil, fmt.Errorf("report: run %s has not finished: %w", r.Dir, err)
		}
		if rr.Train, rr.Evals, err = train.ReadMetrics(filepath.Join(dir, train.MetricsFile)); err != nil {
			return nil, fmt.Errorf("report: %w", err)
		}
		if len(rr.Evals) == 0 {
			return nil, fmt.Errorf("report: run %s has no evaluation in %s", r.Dir, train.MetricsFile)
		}
		rr.Final = rr.Evals[len(rr.Evals)-1]
		rr.FinalLoss = math.NaN()
		if k := min(10, len(rr.Train)); k > 0 {
			rr.FinalLoss = 0
			for _, p := range rr.Train[len(rr.Train)-k:] {
				rr.FinalLoss += p.Loss / float64(k)
			}
		}
		a, err := analyse(ctx, r.Exp, dir, val, nGrid)
		if err != nil {
			return nil, fmt.Errorf("report: run %s: %w", r.Dir, err)
		}
		rr.Params, rr.Layers, rr.Spectral, rr.preds = a.Params, a.Layers, a.Spectrum.Share(), a.Preds
		rr.Response = math.NaN()
		if len(a.Layers) > 0 {
			rr.Response = 0
			for _, l := range a.Layers {
				rr.Response += l.Response / float64(len(a.Layers))
			}
		}
		rep.Runs = append(rep.Runs, rr)
	}

	if err := rep.writeCSV(filepath.Join(out, ReportCSV)); err != nil {
		return nil, err
	}
	rep.Files = append(rep.Files, ReportCSV)
	if err := rep.writeCurves(out); err != nil {
		return nil, err
	}
	rep.Files = append(rep.Files, ReportLossPNG, ReportMIoUPNG)
	var grid []GridImage
	for i := range nGrid {
		gi := GridImage{ID: val[i].ID, Image: val[i].Image, Label: val[i].Label, H: val[i].H, W: val[i].W}
		for _, v := range plan.Variants() {
			gi.Preds = append(gi.Preds, rep.firstRun(v).preds[i])
		}
		grid = append(grid, gi)
	}
	rep.predGrid = PredictionGrid{Rows: grid, Variants: plan.Variants(), Classes: rep.Classes, Caption: rep.firstSeedCaption("predictions")}
	if err := WritePredictionGrid(filepath.Join(out, ReportPredsPNG), rep.predGrid); err != nil {
		return nil, err
	}
	rep.Files = append(rep.Files, ReportPredsPNG)
	if rows, titles := rep.kernelRows(); len(rows) > 0 {
		if err := WriteKernelGrid(filepath.Join(out, ReportKernelsPNG), rows, titles, rep.firstSeedCaption("kernels")); err != nil {
			return nil, err
		}
		rep.Files = append(rep.Files, ReportKernelsPNG)
	}
	md := rep.Markdown()
	if err := writeWhole(filepath.Join(out, ReportMarkdown), []byte(md)); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	rep.Files = append([]string{ReportMarkdown}, rep.Files...)
	return rep, nil
}

func (r *Report) firstRun(variant string) *RunReport {
	for _, rr := range r.Runs {
		if rr.Run.Variant == variant {
			return rr
		}
	}
	return nil
}

func (r *Report) runsOf(variant string) []*RunReport {
	var out []*RunReport
	for _, rr := range r.Runs {
		if rr.Run.Variant == variant {
			out = append(out, rr)
		}
	}
	return out
}

// writeCSV writes one row per run and step: the train loss and, at evaluated steps,
// the evaluation's metrics (empty cells where a value is missing).
func (r *Report) writeCSV(path string) error {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write([]string{"variant", "seed", "step", "loss", "miou", "pixel_acc", "mean_acc", "fwiou"})
	num := func(x float64) string {
		if math.IsNaN(x) {
			return ""
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	for _, rr := range r.Runs {
		loss := map[int]float64{}
		evals := map[int]train.EvalLine{}
		var steps []int
		for _, p := range rr.Train {
			loss[p.Step] = p.Loss
			steps = append(steps, p.Step)
		}
		for _, e := range rr.Evals {
			evals[e.Step] = e
			if _, ok := loss[e.Step]; !ok {
				steps = append(steps, e.Step)
			}
		}
		slices.Sort(steps)
		for _, s := range steps {
			row := []string{rr.Run.Variant, strconv.FormatUint(rr.Run.Seed, 10), strconv.Itoa(s), "", "", "", "", ""}
			if l, ok := loss[s]; ok {
				row[3] = num(l)
			}
			if e, ok := evals[s]; ok {
				row[4], row[5], row[6], row[7] = num(e.MeanIoU), num(e.PixelAcc), num(e.MeanAcc), num(e.FWIoU)
			}
			w.Write(row)
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return fmt.Errorf("report: %s: %w", path, err)
	}
	return writeWhole(path, buf.Bytes())
}

// writeWhole replaces path with b via temp file + rename, so a reader (the board, a
// continued study) never sees half a report.
func writeWhole(path string, b []byte) error {
	return checkpoints.WriteFileAtomic(path, func(w io.Writer) error { _, err := w.Write(b); return err })
}

// lossWindow is the moving-mean window of the loss curve.
func (r *Report) lossWindow() int {
	return max(1, r.Plan.Runs[0].Exp.Train.Steps/reportLossWindows)
}

// writeCurves draws the train loss (moving mean, mean over seeds) and the val mIoU
// (mean over seeds) against the step, one line per variant.
func (r *Report) writeCurves(out string) error {
	win := r.lossWindow()
	var loss, miou []figure.Series
	for _, v := range r.Plan.Variants() {
		runs := r.runsOf(v)
		lossAt, miouAt := map[int][]float64{}, map[int][]float64{}
		for _, rr := range runs {
			for _, p := range rr.Train {
				lossAt[p.Step] = append(lossAt[p.Step], p.Loss)
			}
			for _, e := range rr.Evals {
				miouAt[e.Step] = append(miouAt[e.Step], e.MeanIoU)
			}
		}
		ls := figure.Series{Name: v}
		steps, ys := meanAtCommonSteps(lossAt, len(runs))
		for i := range steps {
			lo := max(0, i-win+1)
			ls.X = append(ls.X, float64(steps[i]))
			ls.Y = append(ls.Y, reportMean(ys[lo:i+1]))
		}
		loss = append(loss, ls)
		ms := figure.Series{Name: v}
		steps, ys = meanAtCommonSteps(miouAt, len(runs))
		for i, s := range steps {
			ms.X = append(ms.X, float64(s))
			ms.Y = append(ms.Y, ys[i])
		}
		miou = append(miou, ms)
	}
	seeds := ", " + r.seedsPhrase()
	lossLabel := "train loss"
	if win > 1 {
		lossLabel = fmt.Sprintf("train loss (moving mean over %d steps)", win)
	}
	name := r.Plan.Study.Name
	if err := figure.WriteLineChart(filepath.Join(out, ReportLossPNG), figure.LineChart{
		Title: fmt.Sprintf("%s: train loss%s", name, seeds), XLabel: "step", YLabel: lossLabel + ", log scale",
		Series: loss, W: reportLinePlotW, H: reportLinePlotH, LogY: true}); err != nil {
		return err
	}
	split := r.Runs[0].Final.Split
	return figure.WriteLineChart(filepath.Join(out, ReportMIoUPNG), figure.LineChart{
		Title: fmt.Sprintf("%s: %s mIoU%s", name, split, seeds), XLabel: "step", YLabel: split + " mIoU",
		Series: miou, W: reportLinePlotW, H: reportLinePlotH, YRange: &[2]float64{0, 1}})
}

// seedsPhrase names the seeds a curve is of: "seed 1", or "mean over 3 seeds (1, 2, 3)".
func (r *Report) seedsPhrase() string {
	seeds := r.Plan.Seeds
	if len(seeds) == 1 {
		return fmt.Sprintf("seed %d", seeds[0])
	}
	list := make([]string, len(seeds))
	for i, sd := range seeds {
		list[i] = strconv.FormatUint(sd, 10)
	}
	return fmt.Sprintf("mean over %d seeds (%s)", len(seeds), strings.Join(list, ", "))
}

// firstSeedCaption says which run's what a picture of single runs shows: each variant's
// first seed.
func (r *Report) firstSeedCaption(what string) string {
	if len(r.Plan.Seeds) == 1 {
		return fmt.Sprintf("%s of seed %d", what, r.Plan.Seeds[0])
	}
	return fmt.Sprintf("%s of seed %d (the first of the study's %d seeds)", what, r.Plan.Seeds[0], len(r.Plan.Seeds))
}

// meanAtCommonSteps returns the steps at which all n runs logged a value (byStep holds
// each step's values, one a run), in order, and the mean over the runs at each: curves
// averaged over seeds leave out the steps some seed lacks.
func meanAtCommonSteps(byStep map[int][]float64, n int) (steps []int, means []float64) {
	for s, xs := range byStep {
		if len(xs) == n {
			steps = append(steps, s)
		}
	}
	slices.Sort(steps)
	for _, s := range steps {
		means = append(means, reportMean(byStep[s]))
	}
	return steps, means
}

// reportKernelClasses is how many classes' diagonal kernels the kernel picture shows.
const reportKernelClasses = 5

// kernelRows lists, for the first run of each variant whose deconv weights were trained,
// each deconv layer: its bilinear initial kernel, the mean of its diagonal kernels and
// the diagonal kernels of the first classes.
func (r *Report) kernelRows() ([]KernelRow, []string) {
	var rows []KernelRow
	ncls := 0
	for _, v := range r.Plan.Variants() {
		rr := r.firstRun(v)
		for _, l := range rr.Layers {
			if !l.HasDeconvWeight || !l.Trainable {
				continue
			}
			k := len(l.Diagonal)
			ncls = max(ncls, min(k, reportKernelClasses))
			kernels := [][]float64{bilinearKernel(l.Kernel), l.Mean}
			for c := range min(k, reportKernelClasses) {
				kernels = append(kernels, l.Diagonal[c])
			}
			rows = append(rows, KernelRow{Label: []string{v + ": " + l.Name, fmt.Sprintf("drift %.4f", l.Drift)}, KH: l.Kernel[0], KW: l.Kernel[1], Kernels: kernels})
		}
	}
	if len(rows) == 0 {
		return nil, nil
	}
	titles := []string{"bilinear", "mean over classes"}
	for c := range ncls {
		name := fmt.Sprintf("class %d", c)
		if c < len(r.Classes) {
			name = r.Classes[c]
		}
		titles = append(titles, name)
	}
	// Rows with fewer classes than the widest are padded with empty (NaN) kernels.
	for i := range rows {
		for len(rows[i].Kernels) < len(titles) {
			blank := make([]float64, rows[i].KH*rows[i].KW)
			for j := range blank {
				blank[j] = math.NaN()
			}
			rows[i].Kernels = append(rows[i].Kernels, blank)
		}
	}
	return rows, titles
}

// bilinearKernel is the kh×kw kernel a deconv's bilinear init puts on the channel
// diagonal (layers.FillBilinear), row-major.
func bilinearKernel(k [2]int) []float64 {
	w := tensor.New(tensor.Of(tensor.Float64), tensor.WithShape(1, 1, k[0], k[1]))
	if err := layers.FillBilinear(w, 1); err != nil {
		// One input and one output channel always have a bilinear init.
		panic(fmt.Sprintf("bilinear kernel %v: %v", k, err))
	}
	return w.Data().([]float64)
}

func reportMean(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// reportStd is the sample standard deviation (n − 1); 0 for one value.
func reportStd(xs []float64) float64 {
	if len(xs) < 2 {
		return 0
	}
	m := reportMean(xs)
	var s float64
	for _, x := range xs {
		s += (x - m) * (x - m)
	}
	return math.Sqrt(s / float64(len(xs)-1))
}

// reportFmt writes the mean of xs, and ± the std when there are several, with format f.
func reportFmt(xs []float64, f string) string {
	if len(xs) == 0 {
		return "–"
	}
	m := reportMean(xs)
	if math.IsNaN(m) {
		return "n/a"
	}
	num, unit, _ := strings.Cut(f, " ") // "%.1f s": the unit goes after the ± part
	if unit != "" {
		unit = " " + unit
	}
	if len(xs) == 1 {
		return fmt.Sprintf(num, m) + unit
	}
	return fmt.Sprintf(num+" ± "+num, m, reportStd(xs)) + unit
}

// collect applies get to every run of a variant.
func (r *Report) collect(variant string, get func(*RunReport) float64) []float64 {
	var xs []float64
	for _, rr := range r.runsOf(variant) {
		xs = append(xs, get(rr))
	}
	return xs
}

// Markdown is report.md.
func (r *Report) Markdown() string {
	var b strings.Builder
	p := r.Plan
	s := p.Study
	exp := p.Runs[0].Exp
	fmt.Fprintf(&b, "# Study %s\n\n", s.Name)
	if s.Description != "" {
		fmt.Fprintf(&b, "%s\n\n", strings.TrimSpace(s.Description))
	}
	seeds := make([]string, len(p.Seeds))
	for i, sd := range p.Seeds {
		seeds[i] = strconv.FormatUint(sd, 10)
	}
	fmt.Fprintf(&b, "Study file %s; base experiment `%s`. Every variant trains %d steps of batch %d (iter_size %d) with seed(s) %s on the same data: %s.\n",
		s.Source, s.Base, exp.Train.Steps, exp.Train.BatchSize, exp.Train.IterSize, strings.Join(seeds, ", "), reportDataLine(exp))
	if len(s.Sets) > 0 {
		fmt.Fprintf(&b, "Overrides of the base in the study: `%s`.\n", strings.Join(s.Sets, "`, `"))
	}
	if len(p.Sets) > 0 {
		fmt.Fprintf(&b, "Overrides from the command line: `%s`.\n", strings.Join(p.Sets, "`, `"))
	}
	b.WriteString("\n| variant | overrides |\n|---|---|\n")
	for _, v := range s.Variants {
		sets := "(the base as it is)"
		if len(v.Sets) > 0 {
			sets = "`" + strings.Join(v.Sets, "`, `") + "`"
		}
		fmt.Fprintf(&b, "| %s | %s |\n", v.Name, sets)
	}

	several := ""
	if len(p.Seeds) > 1 {
		several = fmt.Sprintf(" Values are mean ± sample standard deviation over the %d seeds.", len(p.Seeds))
	}
	fmt.Fprintf(&b, "\n## Results\n\nScores of the last evaluation (step %d, %s split).%s\n\n", r.Runs[0].Final.Step, r.Runs[0].Final.Split, several)
	b.WriteString("| variant | mIoU | pixel acc | mean acc | fwIoU | final train loss | train time | trainable params | constant-response score | spectral share |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, v := range p.Variants() {
		c := func(get func(*RunReport) float64, f string) string { return reportFmt(r.collect(v, get), f) }
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", v,
			c(func(x *RunReport) float64 { return x.Final.MeanIoU }, "%.4f"),
			c(func(x *RunReport) float64 { return x.Final.PixelAcc }, "%.4f"),
			c(func(x *RunReport) float64 { return x.Final.MeanAcc }, "%.4f"),
			c(func(x *RunReport) float64 { return x.Final.FWIoU }, "%.4f"),
			c(func(x *RunReport) float64 { return x.FinalLoss }, "%.4f"),
			c(func(x *RunReport) float64 { return x.Done.TrainSeconds }, "%.1f s"),
			c(func(x *RunReport) float64 { return float64(x.Params) }, "%.0f"),
			c(func(x *RunReport) float64 { return x.Response }, "%.4f"),
			c(func(x *RunReport) float64 { return x.Spectral }, "%.4f"))
	}
	fmt.Fprintf(&b, "\nFinal train loss: mean of the last 10 logged steps. Train time: wall-clock time of the training, "+
		"periodic evaluations and checkpoints included. Trainable params: parameters with a non-zero learning-rate multiplier. "+
		"Constant-response score: mean over the upsampling layers of the spread of each layer's response to a constant input "+
		"(0: no checkerboard). Spectral share: share of the val score maps' spectral energy (DC excluded) at frequencies that are "+
		"multiples of 1/%d, over %d val images; for reference, the ground truth's one-hot maps give %.4f and a flat spectrum %.4f.\n",
		r.SpectralStride, r.SpectrumImages, r.GroundTruthShare, r.FlatShare)

	b.WriteString("\n## Per-class IoU\n\n| variant |")
	for _, c := range r.Classes {
		fmt.Fprintf(&b, " %s |", c)
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(r.Classes)) + "\n")
	for _, v := range p.Variants() {
		fmt.Fprintf(&b, "| %s |", v)
		for ci := range r.Classes {
			xs := r.collect(v, func(x *RunReport) float64 {
				if ci < len(x.Final.IoU) {
					return x.Final.IoU[ci]
				}
				return math.NaN()
			})
			fmt.Fprintf(&b, " %s |", reportFmt(xs, "%.4f"))
		}
		b.WriteString("\n")
	}

	r.pairedMarkdown(&b)

	layerNames := r.layerNames()
	b.WriteString("\n## Upsampling layers\n\n")
	b.WriteString("Kernel drift ‖W − W_bilinear‖ / ‖W_bilinear‖ of each deconv weight after training (0: still the bilinear init; " +
		"n/a: the variant has a resize and a conv instead of a deconv).\n\n")
	r.layerTable(&b, layerNames, func(l LayerReport) (float64, bool) { return l.Drift, l.HasDeconvWeight })
	b.WriteString("\nConstant-response score of each upsampling layer alone, with its trained weights: std/mean of its response to a " +
		"constant input over the interior (0 for bilinear with k = 2s; > 0 when the kernel's taps overlap unevenly).\n\n")
	r.layerTable(&b, layerNames, func(l LayerReport) (float64, bool) { return l.Response, !math.IsNaN(l.Response) })

	b.WriteString("\n## Plots\n\n")
	fmt.Fprintf(&b, "![train loss](%s)\n\n![val mIoU](%s)\n\n", ReportLossPNG, ReportMIoUPNG)
	fmt.Fprintf(&b, "Val images, ground truth and each variant's prediction (seed %d):\n\n![predictions](%s)\n\n", p.Seeds[0], ReportPredsPNG)
	if slices.Contains(r.Files, ReportKernelsPNG) {
		fmt.Fprintf(&b, "Trained deconv kernels on the channel diagonal (class c's input to class c's output), their mean, next to the bilinear initial kernel:\n\n![kernels](%s)\n\n", ReportKernelsPNG)
	}

	b.WriteString("## Runs\n\n| variant | seed | folder | steps | train time |\n|---|---|---|---|---|\n")
	for _, rr := range r.Runs {
		last := 0
		if len(rr.Train) > 0 {
			last = rr.Train[len(rr.Train)-1].Step
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %d | %s |\n", rr.Run.Variant, rr.Run.Seed, filepath.ToSlash(rr.Run.Dir), last,
			(time.Duration(rr.Done.TrainSeconds * float64(time.Second))).Round(time.Second))
	}
	return b.String()
}

// reportDataLine describes the data every variant trains on.
func reportDataLine(exp *configs.Experiment) string {
	d := exp.Data
	if d.Format == fcndata.FormatSynthetic {
		sy := d.Synthetic
		return fmt.Sprintf("the synthetic shapes, %d×%d, %d classes, %d train and %d val images (data seed %d)", sy.Size, sy.Size, sy.Classes, sy.NTrain, sy.NVal, sy.Seed)
	}
	return fmt.Sprintf("%s data in %s, splits %s and %s, %d classes", d.Format, d.Root, d.TrainSplit, d.ValSplit, exp.Model.Classes)
}

// layerNames lists the upsampling layers in model order (the first run's).
func (r *Report) layerNames() []string {
	var names []string
	for _, l := range r.Runs[0].Layers {
		names = append(names, l.Name)
	}
	return names
}

func (r *Report) layerTable(b *strings.Builder, names []string, get func(LayerReport) (float64, bool)) {
	b.WriteString("| variant |")
	for _, n := range names {
		fmt.Fprintf(b, " %s |", n)
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(names)) + "\n")
	for _, v := range r.Plan.Variants() {
		fmt.Fprintf(b, "| %s |", v)
		for _, n := range names {
			var xs []float64
			ok := true
			for _, rr := range r.runsOf(v) {
				for _, l := range rr.Layers {
					if l.Name == n {
						x, has := get(l)
						ok = ok && has
						xs = append(xs, x)
					}
				}
			}
			if !ok || len(xs) == 0 {
				b.WriteString(" n/a |")
				continue
			}
			fmt.Fprintf(b, " %s |", reportFmt(xs, "%.4f"))
		}
		b.WriteString("\n")
	}
}
