package figure

import (
	"fmt"
	"image"
	"image/color"
	"math"

	"gonum.org/v1/plot/text"
)

// sequentialStops is a white-to-dark-blue ramp (ColorBrewer's Blues): each stop darker
// than the last, so a larger value is always a darker cell.
var sequentialStops = []color.RGBA{
	{247, 251, 255, 255}, {198, 219, 239, 255}, {107, 174, 214, 255},
	{33, 113, 181, 255}, {8, 48, 107, 255},
}

// Sequential maps t in [0, 1] to the white–blue ramp (NaN: light grey, for "no data").
func Sequential(t float64) color.RGBA {
	if math.IsNaN(t) {
		return color.RGBA{220, 220, 220, 255}
	}
	t = math.Max(0, math.Min(1, t))
	n := len(sequentialStops) - 1
	f := t * float64(n)
	i := min(int(f), n-1)
	u := f - float64(i)
	a, b := sequentialStops[i], sequentialStops[i+1]
	mix := func(x, y uint8) uint8 { return uint8(math.Round(float64(x) + u*(float64(y)-float64(x)))) }
	return color.RGBA{mix(a.R, b.R), mix(a.G, b.G), mix(a.B, b.B), 255}
}

// Diverging maps v in [−scale, scale] to blue–white–red (NaN or a zero scale: white).
func Diverging(v, scale float64) color.RGBA {
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

// Luminance is the relative luminance of c (Rec. 709 weights on the 0–255 values).
func Luminance(c color.RGBA) float64 {
	return 0.2126*float64(c.R) + 0.7152*float64(c.G) + 0.0722*float64(c.B)
}

// ColourBar is a vertical colour scale from Lo (bottom) to Hi (top).
type ColourBar struct {
	Lo, Hi float64
	Colour func(v float64) color.RGBA
	Ticks  []float64 // values labelled on its right
	Format string    // of the tick labels, e.g. "%.1f"
	Title  string    // written along its right side, beyond the tick labels; "" for none
}

// Colour bar layout, in pixels: the bar's width, the room its tick labels take right of
// it, and the whole with the title.
const (
	ColourBarW      = 14
	ColourBarLabelW = 44
	ColourBarWidth  = ColourBarW + ColourBarLabelW + 16
)

// Draw paints the bar into r (the bar itself; its tick labels and then its title go
// right of r, within ColourBarWidth) and returns the labels to draw.
func (b ColourBar) Draw(img *image.RGBA, r image.Rectangle) []Label {
	h := r.Dy()
	for y := range h {
		v := b.Hi - (b.Hi-b.Lo)*(float64(y)+0.5)/float64(h)
		FillRect(img, image.Rect(r.Min.X, r.Min.Y+y, r.Max.X, r.Min.Y+y+1), b.Colour(v))
	}
	grey := color.RGBA{90, 90, 90, 255}
	StrokeRect(img, r, grey)
	var labels []Label
	for _, v := range b.Ticks {
		if b.Hi == b.Lo {
			break
		}
		y := r.Min.Y + int(math.Round((b.Hi-v)/(b.Hi-b.Lo)*float64(h-1)))
		FillRect(img, image.Rect(r.Max.X, y, r.Max.X+4, y+1), grey)
		s := fmt.Sprintf(b.Format, v)
		if s == "+0" || s == "-0" {
			s = "0"
		}
		labels = append(labels, Label{X: r.Max.X + 6, Y: y, Text: s, Size: 9, AX: text.XLeft, AY: text.YCenter})
	}
	if b.Title != "" {
		labels = append(labels, Label{X: r.Max.X + ColourBarLabelW, Y: r.Min.Y + h/2, Text: b.Title, Size: 9, AX: text.XCenter, AY: text.YTop, Rotate: true})
	}
	return labels
}
