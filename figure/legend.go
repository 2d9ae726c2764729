package figure

import (
	"image"
	"image/color"
	"image/draw"

	"gonum.org/v1/plot/text"
)

// LegendEntry is a class of a legend: its colour swatch and name.
type LegendEntry struct {
	Name   string
	Colour color.RGBA
}

// Legend layout, in pixels.
const (
	legendSwatch = 12
	legendGap    = 6
	legendRow    = 18
	legendText   = 9 // points
	// LegendMinWidth is the narrowest legend panel WithLegend adds: below it class names
	// would not fit beside their swatches.
	LegendMinWidth = 200
)

// legendColumns is how many entries fit side by side in width, and each one's width.
func legendColumns(entries []LegendEntry, width int) (cols, colW int) {
	for _, e := range entries {
		colW = max(colW, legendSwatch+4+TextWidth(e.Name, legendText)+legendGap*2)
	}
	if colW == 0 {
		return 1, width
	}
	return max(1, (width-legendGap)/colW), colW
}

// LegendHeight is the height of the legend of entries drawn width pixels wide.
func LegendHeight(entries []LegendEntry, width int) int {
	if len(entries) == 0 {
		return 0
	}
	cols, _ := legendColumns(entries, width)
	rows := (len(entries) + cols - 1) / cols
	return legendGap + rows*legendRow + legendGap/2
}

// DrawLegend paints the entries' swatches in rows from (x, y), width pixels wide, and
// returns the name labels to draw.
func DrawLegend(img *image.RGBA, x, y, width int, entries []LegendEntry) []Label {
	cols, colW := legendColumns(entries, width)
	var labels []Label
	for i, e := range entries {
		cx := x + legendGap + (i%cols)*colW
		cy := y + legendGap + (i/cols)*legendRow
		r := image.Rect(cx, cy+(legendRow-legendSwatch)/2, cx+legendSwatch, cy+(legendRow-legendSwatch)/2+legendSwatch)
		FillRect(img, r, e.Colour)
		StrokeRect(img, r, color.RGBA{110, 110, 110, 255}) // black and white swatches show on white
		labels = append(labels, Label{X: cx + legendSwatch + 4, Y: cy + legendRow/2, Text: e.Name, Size: legendText, AX: text.XLeft, AY: text.YCenter})
	}
	return labels
}

// WithLegendSize is the size of the picture WithLegend makes of a w×h image.
func WithLegendSize(w, h int, entries []LegendEntry) (int, int) {
	if len(entries) == 0 {
		return w, h
	}
	lw := max(w, LegendMinWidth)
	return lw, h + LegendHeight(entries, lw)
}

// WithLegend returns img with a class-colour legend below it (on white, at least
// LegendMinWidth wide; img at the top left). Without entries it is img as it is.
func WithLegend(img image.Image, entries []LegendEntry) *image.RGBA {
	b := img.Bounds()
	w, h := WithLegendSize(b.Dx(), b.Dy(), entries)
	out := NewWhite(w, h)
	draw.Draw(out, image.Rect(0, 0, b.Dx(), b.Dy()), img, b.Min, draw.Src)
	if len(entries) == 0 {
		return out
	}
	return DrawLabels(out, DrawLegend(out, 0, b.Dy(), w, entries))
}

// ClassLegend lists the classes that occur in any of labels, in class order, with their
// palette colours (palette[k] is class k's; ids outside names are left out, as the
// ignore label is).
func ClassLegend(names []string, palette color.Palette, labels ...[]int32) []LegendEntry {
	seen := make([]bool, len(names))
	for _, ls := range labels {
		for _, l := range ls {
			if l >= 0 && int(l) < len(seen) {
				seen[l] = true
			}
		}
	}
	var out []LegendEntry
	for k, ok := range seen {
		if ok && k < len(palette) {
			out = append(out, LegendEntry{Name: names[k], Colour: RGBA(palette[k])})
		}
	}
	return out
}
