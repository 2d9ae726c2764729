package figure

import (
	"fmt"
	"image/color"
	"math"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	vgdraw "gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Series is one line of a chart.
type Series struct {
	Name string
	X, Y []float64
}

// LineChart is a chart of lines against a common x axis.
type LineChart struct {
	Title, XLabel, YLabel string
	Series                []Series
	W, H                  int         // pixels
	YRange                *[2]float64 // fixed y range (nil: from the data)
	LogY                  bool        // for losses, whose first steps would flatten the rest of the curve
}

// WriteLineChart draws one line per series (with a legend naming the series, when
// there are several or the only one has a name) and writes a W×H PNG. NaN and infinite
// points, and on a log axis points ≤ 0, are left out.
func WriteLineChart(path string, c LineChart) error {
	p := plot.New()
	if c.YRange != nil {
		p.Y.Min, p.Y.Max = c.YRange[0], c.YRange[1]
	}
	p.X.Tick.Marker = NiceTicks{}
	p.Y.Tick.Marker = NiceTicks{}
	if c.LogY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = LogTicks{}
	}
	p.Title.Text = c.Title
	p.X.Label.Text = c.XLabel
	p.Y.Label.Text = c.YLabel
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	drawn := 0
	for i, s := range c.Series {
		var xys plotter.XYs
		for j := range s.X {
			if j < len(s.Y) && !math.IsNaN(s.Y[j]) && !math.IsInf(s.Y[j], 0) && (!c.LogY || s.Y[j] > 0) {
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
		l.Color = Colour(i)
		l.Width = vg.Points(1.5)
		l.Dashes = plotutil.Dashes(i)
		pts.Color = Colour(i)
		pts.Shape = plotutil.Shape(i)
		if len(xys) > 30 {
			pts.Radius = 0 // markers only where there are few points (evaluations)
		} else {
			pts.Radius = vg.Points(2.5)
		}
		p.Add(l, pts)
		if s.Name != "" && (len(c.Series) > 1 || drawn == 0) {
			p.Legend.Add(s.Name, l, pts)
		}
		drawn++
	}
	widen(&p.X.Min, &p.X.Max, false)
	widen(&p.Y.Min, &p.Y.Max, c.LogY)
	cv := vgimg.NewWith(vgimg.UseWH(Px(c.W), Px(c.H)), vgimg.UseDPI(DPI))
	p.Draw(vgdraw.New(cv))
	return WritePNG(path, cv.Image())
}

// LogTicks labels a log axis at 1, 2 and 5 times the powers of ten, with unlabelled
// ticks between (3 times too, then all, when fewer than 4 would be labelled): plot.LogTicks labels powers of
// ten only, often a single one for a loss.
type LogTicks struct{}

// Ticks implements plot.Ticker.
func (LogTicks) Ticks(lo, hi float64) []plot.Tick {
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
	if len(ticks) < 2 { // within one step of 1–9: linear ticks read better
		return plot.DefaultTicks{}.Ticks(lo, hi)
	}
	// A narrow range: label 3 times the powers too, then every tick.
	for _, more := range [][]int{{3}, {4, 6, 7, 8, 9}} {
		labelled := 0
		for _, t := range ticks {
			if t.Label != "" {
				labelled++
			}
		}
		if labelled >= 4 {
			break
		}
		for i, t := range ticks {
			m := int(math.Round(t.Value / math.Pow(10, math.Floor(math.Log10(t.Value)+1e-9))))
			if slices.Contains(more, m) {
				ticks[i].Label = strconv.FormatFloat(t.Value, 'g', 3, 64)
			}
		}
	}
	return ticks
}

// NiceTicks labels a linear axis at multiples of 1, 2 or 5 times a power of ten, about
// seven of them (gonum's default labels a few, at steps like 120), with unlabelled ticks
// between.
type NiceTicks struct{}

// Ticks implements plot.Ticker.
func (NiceTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) || math.IsInf(hi-lo, 0) {
		return plot.DefaultTicks{}.Ticks(lo, hi)
	}
	// The 1, 2 or 5 × 10^k step giving the number of labels nearest 7.
	p := math.Pow(10, math.Floor(math.Log10((hi-lo)/7)))
	step, best := p, math.Inf(1)
	for _, q := range []float64{p / 10, p, p * 10} {
		for _, m := range []float64{1, 2, 5} {
			if d := math.Abs((hi-lo)/(m*q) - 7); d < best {
				step, best = m*q, d
			}
		}
	}
	minor := step / 5
	if m := step / math.Pow(10, math.Floor(math.Log10(step)+1e-9)); math.Abs(m-2) < 1e-9 {
		minor = step / 4
	}
	var ticks []plot.Tick
	for i := math.Ceil(lo / minor); i*minor <= hi+minor*1e-9; i++ {
		v := i * minor
		t := plot.Tick{Value: v}
		if k := v / step; math.Abs(k-math.Round(k)) < 1e-6 {
			if math.Abs(v) < step*1e-9 {
				v = 0 // not -0 or 1e-17
			}
			t.Label = strconv.FormatFloat(v, 'g', 6, 64)
		}
		ticks = append(ticks, t)
	}
	return ticks
}

// Colour is a dark, distinct colour per series.
func Colour(i int) color.Color {
	cs := plotutil.DarkColors
	return cs[i%len(cs)]
}

// widen gives an axis whose data has a single value (one step, a constant learning
// rate) a range around it: gonum's tickers need max > min, and ±1 is lost on 1e30.
func widen(lo, hi *float64, log bool) {
	if math.IsInf(*lo, 0) || math.IsInf(*hi, 0) || math.IsNaN(*lo) || math.IsNaN(*hi) {
		*lo, *hi = 0, 1 // no data on this axis
		if log {
			*lo, *hi = 0.1, 1
		}
		return
	}
	if *hi > *lo {
		return
	}
	v := *lo
	switch {
	case log && v > 0:
		*lo, *hi = v/2, v*2
	case v == 0:
		*lo, *hi = -1, 1
	default:
		*lo, *hi = v-math.Abs(v)/2, v+math.Abs(v)/2
	}
}
