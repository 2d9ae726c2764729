// Package figure draws fcn's pictures: line charts (gonum/plot), heat maps with colour
// bars, class-colour legends and the confusion-matrix image, all written as PNG at 96 dpi
// with an exact pixel size. Images are composed pixel by pixel and labelled with
// gonum/plot's text rendering; files are replaced whole (temp file + rename), so a
// reader never sees half a picture.
package figure

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

	"github.com/fcn-dev/fcn/checkpoints"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	vgdraw "gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// DPI is the resolution of every PNG; vg lengths are points (1/72 in).
const DPI = 96

// Px is the vg length of px pixels at DPI.
func Px(px int) vg.Length { return vg.Length(px) * 72 / DPI }

// WritePNG encodes img and replaces path with it (creating its folder).
func WritePNG(path string, img image.Image) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("picture %s: %w", path, err)
	}
	if err := checkpoints.WriteFileAtomic(path, func(w io.Writer) error { return png.Encode(w, img) }); err != nil {
		return fmt.Errorf("picture %s: %w", path, err)
	}
	return nil
}

// Label is text to draw on a composed image: its anchor in pixels from the top left,
// aligned by AX, AY (text.XLeft/XCenter/XRight, text.YTop/YCenter/YBottom).
type Label struct {
	X, Y   int
	Text   string
	Size   float64 // points; 0: 10
	AX     text.XAlignment
	AY     text.YAlignment
	Rotate bool        // 90° counter-clockwise
	Colour color.Color // nil: black
}

func (l Label) style() text.Style {
	size := l.Size
	if size == 0 {
		size = 10
	}
	c := l.Colour
	if c == nil {
		c = color.Black
	}
	sty := text.Style{
		Color:   c,
		Font:    font.Font{Typeface: "Liberation", Variant: "Sans", Size: vg.Points(size)},
		XAlign:  l.AX,
		YAlign:  l.AY,
		Handler: plot.DefaultTextHandler,
	}
	if l.Rotate {
		sty.Rotation = math.Pi / 2
	}
	return sty
}

// TextWidth is the width in pixels of s drawn at size points.
func TextWidth(s string, size float64) int {
	w := Label{Text: s, Size: size}.style().Width(s)
	return int(math.Ceil(float64(w) * DPI / 72))
}

// DrawLabels draws the labels on img and returns it. (vgimg paints the background of
// any image it is given, so the text goes on a transparent layer laid over img.)
func DrawLabels(img *image.RGBA, labels []Label) *image.RGBA {
	if len(labels) == 0 {
		return img
	}
	w, h := img.Bounds().Dx(), img.Bounds().Dy()
	c := vgimg.NewWith(vgimg.UseWH(Px(w), Px(h)), vgimg.UseDPI(DPI), vgimg.UseBackgroundColor(color.Transparent))
	dc := vgdraw.New(c)
	for _, l := range labels {
		dc.FillText(l.style(), vg.Point{X: Px(l.X), Y: Px(h - l.Y)}, l.Text)
	}
	layer := c.Image()
	if layer.Bounds().Size() != img.Bounds().Size() {
		panic(fmt.Sprintf("figure: text layer %v for an image of %v", layer.Bounds(), img.Bounds())) // Px makes them equal
	}
	draw.Draw(img, img.Bounds(), layer, layer.Bounds().Min, draw.Over)
	return img
}

// NewWhite is a w×h white image.
func NewWhite(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	return img
}

// Blit copies a w×h picture (given pixel by pixel by at) into dst at (x0, y0), each pixel
// an s×s block.
func Blit(dst *image.RGBA, x0, y0, w, h, s int, at func(x, y int) color.RGBA) {
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

// FillRect paints r with c.
func FillRect(dst *image.RGBA, r image.Rectangle, c color.RGBA) {
	draw.Draw(dst, r, &image.Uniform{C: c}, image.Point{}, draw.Src)
}

// StrokeRect draws r's one-pixel outline in c.
func StrokeRect(dst *image.RGBA, r image.Rectangle, c color.RGBA) {
	for x := r.Min.X; x < r.Max.X; x++ {
		dst.SetRGBA(x, r.Min.Y, c)
		dst.SetRGBA(x, r.Max.Y-1, c)
	}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		dst.SetRGBA(r.Min.X, y, c)
		dst.SetRGBA(r.Max.X-1, y, c)
	}
}

// RGBA converts any colour to an opaque color.RGBA.
func RGBA(c color.Color) color.RGBA {
	r, g, b, _ := c.RGBA()
	return color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), 255}
}
