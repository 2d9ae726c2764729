package figure

import (
	"fmt"
	"image"
	"image/color"
	"math"

	"gonum.org/v1/plot/text"
)

// Confusion picture layout, in pixels.
const (
	confPad       = 10
	confTitleH    = 40 // two lines
	confAxisTitle = 18 // the "ground truth" and "prediction" axis titles
	confCellMax   = 56
	confCellMin   = 16
	confMatrixMax = 480 // the matrix side the cells shrink to fit, down to confCellMin
	confMatrixMin = 170 // and the side they grow to, for two or three classes
	// ConfusionValuesUpTo is the most classes whose cells get their value written in.
	ConfusionValuesUpTo = 12
)

// confusionLayout is where the parts of a confusion picture of classes go.
type confusionLayout struct {
	n, cell    int
	x0, y0     int // the matrix's top-left corner
	rowLabelW  int // class names left of the rows
	colLabelH  int // class names (rotated) below the columns
	w, h       int
	barX, barW int
}

func newConfusionLayout(classes []string) confusionLayout {
	n := len(classes)
	l := confusionLayout{n: n, cell: max(confCellMin, min(confCellMax, confMatrixMax/max(n, 1)))}
	l.cell = max(l.cell, (confMatrixMin+n-1)/max(n, 1)) // room for the colour bar's title
	for _, c := range classes {
		l.rowLabelW = max(l.rowLabelW, TextWidth(c, 9))
	}
	l.rowLabelW += 8
	l.colLabelH = l.rowLabelW
	l.x0 = confPad + confAxisTitle + l.rowLabelW
	l.y0 = confPad + confTitleH
	side := n * l.cell
	l.barX = l.x0 + side + 18
	l.w = l.barX + ColourBarWidth + confPad
	l.h = l.y0 + side + l.colLabelH + confAxisTitle + confPad
	return l
}

func (l confusionLayout) cellRect(gt, pred int) image.Rectangle {
	x, y := l.x0+pred*l.cell, l.y0+gt*l.cell
	return image.Rect(x, y, x+l.cell, y+l.cell)
}

// ConfusionCell is where ConfusionImage draws the cell of ground truth gt and
// prediction pred for classes.
func ConfusionCell(classes []string, gt, pred int) image.Rectangle {
	return newConfusionLayout(classes).cellRect(gt, pred)
}

// ConfusionSize is the pixel size of the picture ConfusionImage draws for classes.
func ConfusionSize(classes []string) (w, h int) {
	l := newConfusionLayout(classes)
	return l.w, l.h
}

// RowNormalise divides each row of a confusion matrix by its sum: row g is the share
// of class g's pixels predicted as each class (its diagonal entry is g's recall). A row
// with no pixels is NaN.
func RowNormalise(m [][]int64) [][]float64 {
	out := make([][]float64, len(m))
	for g, row := range m {
		var sum int64
		for _, v := range row {
			sum += v
		}
		out[g] = make([]float64, len(row))
		for p, v := range row {
			if sum == 0 {
				out[g][p] = math.NaN()
			} else {
				out[g][p] = float64(v) / float64(sum)
			}
		}
	}
	return out
}

// ConfusionImage draws a confusion matrix (rows: ground truth class, columns: predicted
// class, in pixels) as a heat map of its row-normalised values (recall on the diagonal)
// with the class names on both axes, each cell's value written in when there are at most
// ConfusionValuesUpTo classes, and a colour bar. A class without ground-truth pixels has
// a grey row.
func ConfusionImage(m [][]int64, classes []string, title string) (*image.RGBA, error) {
	n := len(classes)
	if n == 0 || len(m) != n {
		return nil, fmt.Errorf("confusion picture: %d rows for %d classes", len(m), n)
	}
	for g, row := range m {
		if len(row) != n {
			return nil, fmt.Errorf("confusion picture: row %d (%s) has %d columns for %d classes", g, classes[g], len(row), n)
		}
	}
	l := newConfusionLayout(classes)
	img := NewWhite(l.w, l.h)
	rn := RowNormalise(m)
	var labels []Label
	labels = append(labels, Label{X: l.w / 2, Y: confPad + confTitleH/2, Text: title, Size: 11, AX: text.XCenter, AY: text.YCenter})
	side := n * l.cell
	grid := color.RGBA{255, 255, 255, 255}
	for g := range n {
		for p := range n {
			r := l.cellRect(g, p)
			v := rn[g][p]
			c := Sequential(v)
			FillRect(img, r, c)
			StrokeRect(img, image.Rect(r.Min.X, r.Min.Y, r.Max.X+1, r.Max.Y+1), grid)
			if n <= ConfusionValuesUpTo {
				s := fmt.Sprintf("%.2f", v)
				if math.IsNaN(v) {
					s = "–"
				}
				ink := color.Color(color.Black)
				if Luminance(c) < 128 {
					ink = color.White
				}
				labels = append(labels, Label{X: (r.Min.X + r.Max.X) / 2, Y: (r.Min.Y + r.Max.Y) / 2, Text: s, Size: 8.5, AX: text.XCenter, AY: text.YCenter, Colour: ink})
			}
		}
		// Row and column names.
		labels = append(labels,
			Label{X: l.x0 - 6, Y: l.y0 + g*l.cell + l.cell/2, Text: classes[g], Size: 9, AX: text.XRight, AY: text.YCenter},
			Label{X: l.x0 + g*l.cell + l.cell/2, Y: l.y0 + side + 6, Text: classes[g], Size: 9, AX: text.XRight, AY: text.YCenter, Rotate: true})
	}
	StrokeRect(img, image.Rect(l.x0-1, l.y0-1, l.x0+side+1, l.y0+side+1), color.RGBA{90, 90, 90, 255})
	labels = append(labels,
		Label{X: confPad, Y: l.y0 + side/2, Text: "ground truth (row)", Size: 10, AX: text.XCenter, AY: text.YTop, Rotate: true},
		Label{X: l.x0 + side/2, Y: l.y0 + side + l.colLabelH + confAxisTitle/2, Text: "prediction (column)", Size: 10, AX: text.XCenter, AY: text.YCenter})
	bar := ColourBar{Lo: 0, Hi: 1, Colour: Sequential, Ticks: []float64{0, 0.25, 0.5, 0.75, 1}, Format: "%.2f", Title: "share of the row (recall)"}
	labels = append(labels, bar.Draw(img, image.Rect(l.barX, l.y0, l.barX+ColourBarW, l.y0+side))...)
	return DrawLabels(img, labels), nil
}

// WriteConfusion writes ConfusionImage's picture to path.
func WriteConfusion(path string, m [][]int64, classes []string, title string) error {
	img, err := ConfusionImage(m, classes, title)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return WritePNG(path, img)
}
