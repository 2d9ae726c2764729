package study

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"github.com/fcn-dev/fcn/checkpoints"
	fcndata "github.com/fcn-dev/fcn/data"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	vgdraw "gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// The study's pictures: line charts (gonum/plot) and image grids (composed pixel by pixel,
// labelled with gonum/plot's text rendering), all written as PNG at 96 dpi with an exact
// pixel size.

// plotDPI is the resolution of every PNG; vg lengths are points (1/72 in).
const plotDPI = 96

func plotPx(px int) vg.Length { return vg.Length(px) * 72 / plotDPI }

// PlotSeries is one line of a chart.
type PlotSeries struct {
	Name string
	X, Y []float64
}

// WriteLinePlot draws one line per series (with a legend) and writes a w×h PNG.
// NaN points are left out.
func WriteLinePlot(path, title, xLabel, yLabel string, series []PlotSeries, w, h int) error {
	return writeLinePlot(path, title, xLabel, yLabel, series, w, h, plotAxis{})
}

// plotAxis optionally fixes the y range or makes the y axis logarithmic.
type plotAxis struct {
	Range *[2]float64
	Log   bool // for losses, whose first steps would flatten the rest of the curve
}

func writeLinePlot(path, title, xLabel, yLabel string, series []PlotSeries, w, h int, ax plotAxis) error {
	p := plot.New()
	if ax.Range != nil {
		p.Y.Min, p.Y.Max = ax.Range[0], ax.Range[1]
	}
	if ax.Log {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plotLogTicks{}
	}
	p.Title.Text = title
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	for i, s := range series {
		var xys plotter.XYs
		for j := range s.X {
			if j < len(s.Y) && !math.IsNaN(s.Y[j]) && !math.IsInf(s.Y[j], 0) && (!ax.Log || s.Y[j] > 0) {
				xys = append(xys, plotter.XY{X: s.X[j], Y: s.Y[j]})
			}
		}
		if len(xys) == 0 {
			continue
		}
		l, pts, err := plotter.NewLinePoints(xys)
		if err != nil {
			return fmt.Errorf("plot %s: %s: %w", path, s.Name, err)
		}
		l.Color = plotColor(i)
		l.Width = vg.Points(1.5)
		l.Dashes = plotutil.Dashes(i)
		pts.Color = plotColor(i)
		pts.Shape = plotutil.Shape(i)
		if len(xys) > 30 {
			pts.Radius = 0 // markers only where there are few points (evaluations)
		} else {
			pts.Radius = vg.Points(2.5)
		}
		p.Add(l, pts)
		p.Legend.Add(s.Name, l, pts)
	}
	c := vgimg.NewWith(vgimg.UseWH(plotPx(w), plotPx(h)), vgimg.UseDPI(plotDPI))
	p.Draw(vgdraw.New(c))
	return plotWritePNG(path, c.Image())
}

// plotLogTicks labels a log axis at 1, 2 and 5 times the powers of ten, with unlabelled
// ticks between (all labelled when the range is narrow): plot.LogTicks labels powers of
// ten only, often a single one for a loss.
type plotLogTicks struct{}

// Ticks implements plot.Ticker.
func (plotLogTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(lo > 0) || !(hi > lo) {
		return nil
	}
	var ticks []plot.Tick
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		p := math.Pow(10, e)
		for m := 1; m <= 9; m++ {
			v := float64(m) * p
			if v < lo || v > hi {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 || m == 2 || m == 5 {
				t.Label = strconv.FormatFloat(v, 'g', 3, 64)
			}
			ticks = append(ticks, t)
		}
	}
	labelled := 0
	for _, t := range ticks {
		if t.Label != "" {
			labelled++
		}
	}
	if labelled < 4 { // a narrow range: label every tick
		for i := range ticks {
			ticks[i].Label = strconv.FormatFloat(ticks[i].Value, 'g', 3, 64)
		}
	}
	return ticks
}

// plotColor is a dark, distinct colour per series.
func plotColor(i int) color.Color {
	cs := plotutil.DarkColors
	return cs[i%len(cs)]
}

func plotWritePNG(path string, img image.Image) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	if err := checkpoints.WriteFileAtomic(path, func(w io.Writer) error { return png.Encode(w, img) }); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	return nil
}

// plotLabel is text to draw on a composed image: its anchor in pixels from the top left,
// aligned by ax, ay (text.XLeft/XCenter/XRight, text.YTop/YCenter/YBottom).
type plotLabel struct {
	X, Y   int
	Text   string
	Size   float64 // points
	AX     text.XAlignment
	AY     text.YAlignment
	Rotate bool // 90° counter-clockwise
}

// plotDrawLabels returns img with the labels drawn on it. (vgimg paints the background
// of any image it is given, so the text goes on a transparent layer laid over img.)
func plotDrawLabels(img *image.RGBA, labels []plotLabel) image.Image {
	w, h := img.Bounds().Dx(), img.Bounds().Dy()
	c := vgimg.NewWith(vgimg.UseWH(plotPx(w), plotPx(h)), vgimg.UseDPI(plotDPI), vgimg.UseBackgroundColor(color.Transparent))
	dc := vgdraw.New(c)
	for _, l := range labels {
		size := l.Size
		if size == 0 {
			size = 10
		}
		sty := text.Style{
			Color:   color.Black,
			Font:    font.Font{Typeface: "Liberation", Variant: "Sans", Size: vg.Points(size)},
			XAlign:  l.AX,
			YAlign:  l.AY,
			Handler: plot.DefaultTextHandler,
		}
		if l.Rotate {
			sty.Rotation = math.Pi / 2
		}
		dc.FillText(sty, vg.Point{X: plotPx(l.X), Y: plotPx(h - l.Y)}, l.Text)
	}
	layer := c.Image()
	if layer.Bounds().Size() != img.Bounds().Size() {
		panic(fmt.Sprintf("plot: text layer %v for an image of %v", layer.Bounds(), img.Bounds())) // plotPx makes them equal
	}
	draw.Draw(img, img.Bounds(), layer, layer.Bounds().Min, draw.Over)
	return img
}

// plotBlit copies src (w×h RGB pixels, given by at) into dst at (x0, y0), each pixel
// an s×s block.
func plotBlit(dst *image.RGBA, x0, y0, w, h, s int, at func(x, y int) color.RGBA) {
	for y := range h {
		for x := range w {
			c := at(x, y)
			for dy := range s {
				for dx := range s {
					dst.SetRGBA(x0+x*s+dx, y0+y*s+dy, c)
				}
			}
		}
	}
}

// GridImage is one row of the prediction grid: a val image (planar RGB, 0–255), its
// ground truth and one prediction per variant (class ids, h×w).
type GridImage struct {
	ID    string
	Image []float32
	Label []int32
	Preds [][]int32
	H, W  int
}

// Prediction grid layout, in pixels.
const (
	gridGap    = 6
	gridHeader = 26
	gridTile   = 128 // target tile side: images are scaled up by an integer factor toward it
)

// gridScale is the integer upscaling of an h×w image in the grids.
func gridScale(h, w int) int { return max(1, gridTile/max(h, w)) }

// PredictionGridSize is the pixel size of the grid WritePredictionGrid draws.
func PredictionGridSize(rows []GridImage, variants int) (w, h int) {
	tw, th := 0, 0
	for _, r := range rows {
		s := gridScale(r.H, r.W)
		tw = max(tw, r.W*s)
		th += r.H*s + gridGap
	}
	return gridGap + (2+variants)*(tw+gridGap), gridHeader + th
}

// WritePredictionGrid draws, per row, image | ground truth | each variant's prediction,
// labels in the VOC palette (data.VOCPalette; the ignore label is its entry 255), with the
// column titles on top.
func WritePredictionGrid(path string, rows []GridImage, variants []string) error {
	if len(rows) == 0 {
		return fmt.Errorf("plot %s: no images", path)
	}
	for _, r := range rows {
		if len(r.Preds) != len(variants) || len(r.Image) != 3*r.H*r.W || len(r.Label) != r.H*r.W {
			return fmt.Errorf("plot %s: image %s: %d predictions for %d variants, or sizes not %d×%d", path, r.ID, len(r.Preds), len(variants), r.H, r.W)
		}
	}
	w, h := PredictionGridSize(rows, len(variants))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	tw := (w - gridGap) / (2 + len(variants))
	titles := append([]string{"image", "ground truth"}, variants...)
	var labels []plotLabel
	for i, t := range titles {
		labels = append(labels, plotLabel{X: gridGap + i*tw + (tw-gridGap)/2, Y: gridHeader / 2, Text: t, Size: 10, AX: text.XCenter, AY: text.YCenter})
	}
	y := gridHeader
	for _, r := range rows {
		s := gridScale(r.H, r.W)
		hw := r.H * r.W
		plotBlit(img, gridGap, y, r.W, r.H, s, func(x, yy int) color.RGBA {
			i := yy*r.W + x
			return color.RGBA{plotByte(r.Image[i]), plotByte(r.Image[hw+i]), plotByte(r.Image[2*hw+i]), 255}
		})
		for k, lab := range append([][]int32{r.Label}, r.Preds...) {
			plotBlit(img, gridGap+(k+1)*tw, y, r.W, r.H, s, func(x, yy int) color.RGBA {
				return plotPaletteColour(lab[yy*r.W+x])
			})
		}
		y += r.H*s + gridGap
	}
	return plotWritePNG(path, plotDrawLabels(img, labels))
}

func plotByte(v float32) uint8 {
	switch {
	case v <= 0 || v != v:
		return 0
	case v >= 255:
		return 255
	}
	return uint8(v + 0.5)
}

// plotPaletteColour is a label's VOC palette colour (labels outside 0–255 are black).
func plotPaletteColour(l int32) color.RGBA {
	if l < 0 || int(l) >= len(fcndata.VOCPalette) {
		return color.RGBA{A: 255}
	}
	r, g, b, _ := fcndata.VOCPalette[l].RGBA()
	return color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), 255}
}

// KernelRow is one row of the kernel picture: label lines and kernels (kh×kw, row-major)
// drawn side by side on one colour scale.
type KernelRow struct {
	Label   []string
	KH, KW  int
	Kernels [][]float64
}

// Kernel picture layout, in pixels.
const (
	kernelTile   = 96
	kernelLabelW = 190
)

// KernelGridSize is the pixel size of the picture WriteKernelGrid draws.
func KernelGridSize(rows []KernelRow, columns int) (w, h int) {
	return kernelLabelW + columns*(kernelTile+gridGap) + gridGap, gridHeader + len(rows)*(kernelTile+gridGap+14) + gridGap
}

// WriteKernelGrid draws each row's kernels as heat maps (blue negative, white 0, red
// positive, scaled by the row's largest magnitude, written under the row's label), with
// the column titles on top. Every row has len(titles) kernels.
func WriteKernelGrid(path string, rows []KernelRow, titles []string) error {
	if len(rows) == 0 {
		return fmt.Errorf("plot %s: no kernels", path)
	}
	for _, r := range rows {
		if len(r.Kernels) != len(titles) {
			return fmt.Errorf("plot %s: row %v has %d kernels for %d columns", path, r.Label, len(r.Kernels), len(titles))
		}
		for _, k := range r.Kernels {
			if len(k) != r.KH*r.KW {
				return fmt.Errorf("plot %s: row %v: a kernel of %d values is not %d×%d", path, r.Label, len(k), r.KH, r.KW)
			}
		}
	}
	w, h := KernelGridSize(rows, len(titles))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	var labels []plotLabel
	for i, t := range titles {
		labels = append(labels, plotLabel{X: kernelLabelW + i*(kernelTile+gridGap) + kernelTile/2, Y: gridHeader / 2, Text: t, Size: 10, AX: text.XCenter, AY: text.YCenter})
	}
	y := gridHeader
	for _, r := range rows {
		scale := 0.0
		for _, k := range r.Kernels {
			for _, v := range k {
				scale = max(scale, math.Abs(v))
			}
		}
		s := max(1, kernelTile/max(r.KH, r.KW))
		for i, k := range r.Kernels {
			plotBlit(img, kernelLabelW+i*(kernelTile+gridGap), y, r.KW, r.KH, s, func(x, yy int) color.RGBA {
				return plotDiverging(k[yy*r.KW+x], scale)
			})
		}
		for j, line := range append(r.Label, fmt.Sprintf("%d×%d, colour scale ±%.3g", r.KH, r.KW, scale)) {
			labels = append(labels, plotLabel{X: gridGap, Y: y + 14 + 17*j, Text: line, Size: 10, AX: text.XLeft, AY: text.YCenter})
		}
		y += kernelTile + gridGap + 14
	}
	return plotWritePNG(path, plotDrawLabels(img, labels))
}

// plotDiverging maps v in [−scale, scale] to blue–white–red.
func plotDiverging(v, scale float64) color.RGBA {
	if scale == 0 || math.IsNaN(v) {
		return color.RGBA{255, 255, 255, 255}
	}
	t := math.Max(-1, math.Min(1, v/scale))
	fade := uint8(255 * (1 - math.Abs(t)))
	if t >= 0 {
		return color.RGBA{255, fade, fade, 255}
	}
	return color.RGBA{fade, fade, 255, 255}
}
