package figure

import (
	"bytes"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	fcndata "github.com/fcn-dev/fcn/data"
)

// exampleDir is where the tests also leave their pictures for a person to look at
// ($FCN_FIGURE_DIR, unset: a temporary folder).
func exampleDir(t *testing.T) string {
	if d := os.Getenv("FCN_FIGURE_DIR"); d != "" {
		return d
	}
	return t.TempDir()
}

func decodePNG(t *testing.T, path string) image.Image {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img
}

// TestConfusionCellsOrderAsRecall draws a matrix whose row-normalised values order
// differently from its counts and from its transpose, and checks that the cells' darkness
// follows the row-normalised values: the picture is neither transposed nor unnormalised.
func TestConfusionCellsOrderAsRecall(t *testing.T) {
	classes := []string{"background", "cat", "dog"}
	m := [][]int64{
		{9000, 900, 100}, // background: recall 0.90; 0.09 to cat, 0.01 to dog
		{2, 6, 2},        // cat: few pixels, recall 0.6 (counts alone would make the row white)
		{30, 10, 60},     // dog: recall 0.6, 0.3 of it taken for background
	}
	// Row-normalised, written out by hand.
	want := [][]float64{{0.90, 0.09, 0.01}, {0.2, 0.6, 0.2}, {0.3, 0.1, 0.6}}
	path := filepath.Join(exampleDir(t), "confusion-3.png")
	if err := WriteConfusion(path, m, classes, "tiny, seed 1\nval confusion, step 100 (mIoU 0.570)"); err != nil {
		t.Fatal(err)
	}
	img := decodePNG(t, path)
	w, h := ConfusionSize(classes)
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		t.Fatalf("picture is %v, want %d×%d", b, w, h)
	}
	l := newConfusionLayout(classes)
	// A cell's colour away from its centre, where its value is written.
	lum := func(g, p int) float64 {
		r := l.cellRect(g, p)
		return Luminance(RGBA(img.At(r.Min.X+3, r.Min.Y+3)))
	}
	for g := range 3 {
		for p := range 3 {
			for g2 := range 3 {
				for p2 := range 3 {
					a, b := want[g][p], want[g2][p2]
					if math.Abs(a-b) < 1e-9 {
						continue
					}
					if (a > b) != (lum(g, p) < lum(g2, p2)) {
						t.Errorf("cell (%d,%d) = %.2f and (%d,%d) = %.2f: luminance %.1f and %.1f, want the larger value darker",
							g, p, a, g2, p2, b, lum(g, p), lum(g2, p2))
					}
				}
			}
		}
	}
	// The diagonal of the dominant class is the darkest cell, near the ramp's dark end.
	if d := lum(0, 0); d > 100 {
		t.Errorf("background's recall 0.9: luminance %.1f, want a dark cell", d)
	}
}

// TestConfusionEmptyRowAndErrors: a class without ground-truth pixels is grey, not
// a division by zero; a ragged matrix is an error naming the row.
func TestConfusionEmptyRowAndErrors(t *testing.T) {
	img, err := ConfusionImage([][]int64{{5, 5}, {0, 0}}, []string{"a", "b"}, "t")
	if err != nil {
		t.Fatal(err)
	}
	l := newConfusionLayout([]string{"a", "b"})
	r := l.cellRect(1, 0)
	if c := RGBA(img.At(r.Min.X+3, r.Min.Y+3)); c != Sequential(math.NaN()) {
		t.Errorf("empty row's cell %v, want the no-data grey", c)
	}
	if _, err := ConfusionImage([][]int64{{1, 2}, {3}}, []string{"a", "b"}, "t"); err == nil {
		t.Error("ragged matrix accepted")
	}
}

// TestSequentialDarkens: the ramp gets darker all the way, which the confusion test's
// ordering relies on.
func TestSequentialDarkens(t *testing.T) {
	prev := math.Inf(1)
	for i := 0; i <= 100; i++ {
		l := Luminance(Sequential(float64(i) / 100))
		if l >= prev {
			t.Fatalf("Sequential(%.2f) luminance %.1f, not below %.1f", float64(i)/100, l, prev)
		}
		prev = l
	}
}

// TestWithLegend: the legend lists the classes present, in class order, and the picture
// grows by the legend's height with the image untouched at the top left.
func TestWithLegend(t *testing.T) {
	names := []string{"background", "aeroplane", "bicycle", "bird"}
	e := ClassLegend(names, fcndata.VOCPalette, []int32{3, 0, 255, 3}, []int32{0})
	if len(e) != 2 || e[0].Name != "background" || e[1].Name != "bird" || e[1].Colour != RGBA(fcndata.VOCPalette[3]) {
		t.Fatalf("legend %+v, want background and bird", e)
	}
	src := NewWhite(40, 30)
	FillRect(src, src.Bounds(), RGBA(fcndata.VOCPalette[3]))
	out := WithLegend(src, e)
	w, h := WithLegendSize(40, 30, e)
	if out.Bounds().Dx() != w || out.Bounds().Dy() != h || w != LegendMinWidth || h <= 30 {
		t.Fatalf("size %v, want %d×%d (> 30 high)", out.Bounds(), w, h)
	}
	if out.RGBAAt(20, 15) != RGBA(fcndata.VOCPalette[3]) {
		t.Error("the image was not kept at the top left")
	}
	// The second swatch is bird's colour.
	found := false
	for y := 30; y < h && !found; y++ {
		for x := range w {
			if out.RGBAAt(x, y) == RGBA(fcndata.VOCPalette[3]) {
				found = true
				break
			}
		}
	}
	if !found {
		t.Error("no swatch of bird's colour in the legend")
	}
	if err := WritePNG(filepath.Join(exampleDir(t), "legend.png"), out); err != nil {
		t.Fatal(err)
	}
}

// TestConfusionManyClasses draws VOC's 21 classes (no values written in) to look at.
func TestConfusionManyClasses(t *testing.T) {
	n := len(fcndata.VOCClassNames)
	m := make([][]int64, n)
	for g := range m {
		m[g] = make([]int64, n)
		for p := range m[g] {
			m[g][p] = int64((g*7 + p*3) % 11)
		}
		m[g][g] = 60
	}
	path := filepath.Join(exampleDir(t), "confusion-21.png")
	if err := WriteConfusion(path, m, fcndata.VOCClassNames, "val confusion, step 4000"); err != nil {
		t.Fatal(err)
	}
	img := decodePNG(t, path)
	if w, h := ConfusionSize(fcndata.VOCClassNames); img.Bounds().Dx() != w || img.Bounds().Dy() != h {
		t.Errorf("picture is %v, want %d×%d", img.Bounds(), w, h)
	}
}

// TestNiceTicks: 0–300 is labelled every 50, 0–0.19 every 0.02 (six-odd labels).
func TestNiceTicks(t *testing.T) {
	cases := []struct {
		lo, hi float64
		want   string
	}{
		{0, 300, "0 50 100 150 200 250 300"},
		{1, 300, "50 100 150 200 250 300"},
		{0.003, 0.19, "0.02 0.04 0.06 0.08 0.1 0.12 0.14 0.16 0.18"},
		{0, 1, "0 0.2 0.4 0.6 0.8 1"},
	}
	for _, c := range cases {
		var got []string
		for _, tk := range (NiceTicks{}).Ticks(c.lo, c.hi) {
			if tk.Label != "" {
				got = append(got, tk.Label)
			}
		}
		if s := strings.Join(got, " "); s != c.want {
			t.Errorf("%g–%g: %q, want %q", c.lo, c.hi, s, c.want)
		}
	}
}

// TestLogTicks: 0.13–1.6 is labelled at 0.2, 0.3, 0.5 and 1 (the 1-2-5 ticks and, as
// they are only three, the 3s); 0.31–0.38 at every tick there is (0.4 is out of range).
func TestLogTicks(t *testing.T) {
	cases := []struct {
		lo, hi float64
		want   string
	}{
		{0.13, 1.6, "0.2 0.3 0.5 1"},
		{0.013, 160, "0.02 0.05 0.1 0.2 0.5 1 2 5 10 20 50 100"},
		{0.45, 0.95, "0.5 0.6 0.7 0.8 0.9"},
	}
	for _, c := range cases {
		var got []string
		for _, tk := range (LogTicks{}).Ticks(c.lo, c.hi) {
			if tk.Label != "" {
				got = append(got, tk.Label)
			}
		}
		if s := strings.Join(got, " "); s != c.want {
			t.Errorf("%g–%g: %q, want %q", c.lo, c.hi, s, c.want)
		}
	}
}
