package study

import (
	"fmt"
	"image"
	"image/color"
	"math"

	fcndata "github.com/fcn-dev/fcn/data"
	"github.com/fcn-dev/fcn/figure"
	"gonum.org/v1/plot/text"
)

// The study's pictures: line charts and image grids, drawn with package figure.

// GridImage is one row of the prediction grid: a val image (planar RGB, 0–255), its
// ground truth and one prediction per variant (class ids, h×w).
type GridImage struct {
	ID    string
	Image []float32
	Label []int32
	Preds [][]int32
	H, W  int
}

// PredictionGrid is the prediction grid's content: its rows, the variants (columns
// after image and ground truth), the class names for the legend and the caption (which
// run's predictions they are: the seed).
type PredictionGrid struct {
	Rows     []GridImage
	Variants []string
	Classes  []string
	Caption  string
}

// Prediction grid layout, in pixels.
const (
	gridGap    = 6
	gridHeader = 26
	gridTile   = 128 // target tile side: images are scaled up by an integer factor toward it
)

// gridScale is the integer upscaling of an h×w image in the grids.
func gridScale(h, w int) int { return max(1, gridTile/max(h, w)) }

// legend lists the classes that occur in the grid's ground truth or predictions.
func (g PredictionGrid) legend() []figure.LegendEntry {
	var labels [][]int32
	for _, r := range g.Rows {
		labels = append(labels, r.Label)
		labels = append(labels, r.Preds...)
	}
	return figure.ClassLegend(g.Classes, fcndata.VOCPalette, labels...)
}

// gridBody is the size of the grid without its caption and legend.
func (g PredictionGrid) gridBody() (w, h int) {
	tw, th := 0, 0
	for _, r := range g.Rows {
		s := gridScale(r.H, r.W)
		tw = max(tw, r.W*s)
		th += r.H*s + gridGap
	}
	return gridGap + (2+len(g.Variants))*(tw+gridGap), gridHeader + th
}

// Size is the pixel size of the picture WritePredictionGrid draws.
func (g PredictionGrid) Size() (w, h int) {
	w, h = g.gridBody()
	if g.Caption != "" {
		h += gridHeader
	}
	return w, h + figure.LegendHeight(g.legend(), w)
}

// WritePredictionGrid draws, per row, image | ground truth | each variant's prediction,
// labels in the VOC palette (data.VOCPalette; the ignore label is its entry 255), with the
// column titles on top, then the caption and a legend of the classes shown.
func WritePredictionGrid(path string, g PredictionGrid) error {
	if len(g.Rows) == 0 {
		return fmt.Errorf("plot %s: no images", path)
	}
	for _, r := range g.Rows {
		if len(r.Preds) != len(g.Variants) || len(r.Image) != 3*r.H*r.W || len(r.Label) != r.H*r.W {
			return fmt.Errorf("plot %s: image %s: %d predictions for %d variants, or sizes not %d×%d", path, r.ID, len(r.Preds), len(g.Variants), r.H, r.W)
		}
	}
	w, h := g.Size()
	img := figure.NewWhite(w, h)
	tw := (w - gridGap) / (2 + len(g.Variants))
	titles := append([]string{"image", "ground truth"}, g.Variants...)
	var labels []figure.Label
	for i, t := range titles {
		labels = append(labels, figure.Label{X: gridGap + i*tw + (tw-gridGap)/2, Y: gridHeader / 2, Text: t, Size: 10, AX: text.XCenter, AY: text.YCenter})
	}
	y := gridHeader
	for _, r := range g.Rows {
		s := gridScale(r.H, r.W)
		hw := r.H * r.W
		figure.Blit(img, gridGap, y, r.W, r.H, s, func(x, yy int) color.RGBA {
			i := yy*r.W + x
			return color.RGBA{plotByte(r.Image[i]), plotByte(r.Image[hw+i]), plotByte(r.Image[2*hw+i]), 255}
		})
		for k, lab := range append([][]int32{r.Label}, r.Preds...) {
			figure.Blit(img, gridGap+(k+1)*tw, y, r.W, r.H, s, func(x, yy int) color.RGBA {
				return plotPaletteColour(lab[yy*r.W+x])
			})
		}
		y += r.H*s + gridGap
	}
	if g.Caption != "" {
		labels = append(labels, figure.Label{X: gridGap, Y: y + gridHeader/2 - 2, Text: g.Caption, Size: 10, AX: text.XLeft, AY: text.YCenter})
		y += gridHeader
	}
	labels = append(labels, figure.DrawLegend(img, 0, y-gridGap, w, g.legend())...)
	return figure.WritePNG(path, figure.DrawLabels(img, labels))
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
	return figure.RGBA(fcndata.VOCPalette[l])
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
	kernelRowH   = kernelTile + gridGap + 14
)

// KernelGridSize is the pixel size of the picture WriteKernelGrid draws: the kernels,
// a colour bar right of each row, and the caption line below.
func KernelGridSize(rows []KernelRow, columns int) (w, h int) {
	return kernelLabelW + columns*(kernelTile+gridGap) + gridGap + figure.ColourBarWidth,
		gridHeader + len(rows)*kernelRowH + gridGap + gridHeader
}

// WriteKernelGrid draws each row's kernels as heat maps (blue negative, white 0, red
// positive, scaled by the row's largest magnitude, which the row's colour bar shows),
// with the column titles on top and caption (which runs the kernels are of: the seed)
// below. Every row has len(titles) kernels.
func WriteKernelGrid(path string, rows []KernelRow, titles []string, caption string) error {
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
	img := figure.NewWhite(w, h)
	var labels []figure.Label
	for i, t := range titles {
		labels = append(labels, figure.Label{X: kernelLabelW + i*(kernelTile+gridGap) + kernelTile/2, Y: gridHeader / 2, Text: t, Size: 10, AX: text.XCenter, AY: text.YCenter})
	}
	barX := kernelLabelW + len(titles)*(kernelTile+gridGap) + gridGap
	y := gridHeader
	for _, r := range rows {
		scale := 0.0
		for _, k := range r.Kernels {
			for _, v := range k {
				if !math.IsNaN(v) {
					scale = max(scale, math.Abs(v))
				}
			}
		}
		s := max(1, kernelTile/max(r.KH, r.KW))
		for i, k := range r.Kernels {
			figure.Blit(img, kernelLabelW+i*(kernelTile+gridGap), y, r.KW, r.KH, s, func(x, yy int) color.RGBA {
				return figure.Diverging(k[yy*r.KW+x], scale)
			})
		}
		for j, line := range append(r.Label, fmt.Sprintf("%d×%d", r.KH, r.KW)) {
			labels = append(labels, figure.Label{X: gridGap, Y: y + 14 + 17*j, Text: line, Size: 10, AX: text.XLeft, AY: text.YCenter})
		}
		bar := figure.ColourBar{Lo: -scale, Hi: scale, Colour: func(v float64) color.RGBA { return figure.Diverging(v, scale) },
			Ticks: []float64{-scale, 0, scale}, Format: "%+.3g", Title: "weight"}
		if scale == 0 {
			bar.Ticks = nil
		}
		labels = append(labels, bar.Draw(img, image.Rect(barX, y, barX+figure.ColourBarW, y+kernelTile))...)
		y += kernelRowH
	}
	if caption != "" {
		labels = append(labels, figure.Label{X: gridGap, Y: y + gridHeader/2 - 2, Text: caption, Size: 10, AX: text.XLeft, AY: text.YCenter})
	}
	return figure.WritePNG(path, figure.DrawLabels(img, labels))
}
