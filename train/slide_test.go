package train

import (
	"context"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/fcn-dev/fcn/configs"
	"gorgonia.org/tensor"
)

// pointwiseYAML is a net of 1×1 convs only: each pixel's scores depend on that pixel
// alone, so the net commutes with translation, cropping and mirroring, with no padding
// effects at any border.
const pointwiseYAML = `
name: pointwise
data: {format: synthetic, synthetic: {classes: 3, size: 16}}
model:
  classes: 3
  layers:
    - {name: conv1, type: conv, out: 5, kernel: 1}
    - {name: relu1, type: relu}
    - {name: score, type: conv, out: classes, kernel: 1}
`

// borderYAML has 3×3 convs padded with zeros and a stride-2 pool: a pixel's scores depend
// on where the window's borders are, and odd sizes are padded to even ones (the any-size
// path), so a window's scores differ from the whole image's.
const borderYAML = `
name: border
data: {format: synthetic, synthetic: {classes: 3, size: 16}}
model:
  classes: 3
  layers:
    - {name: conv1, type: conv, out: 4, kernel: 3, pad: 1}
    - {name: relu1, type: relu}
    - {name: pool1, type: maxpool, kernel: 2, stride: 2}
    - {name: conv2, type: conv, out: classes, kernel: 3, pad: 1}
    - {name: up, type: deconv, out: classes, kernel: 4, stride: 2, pad: 1, bias: false, init: bilinear, learn: false}
`

// testRunner builds the experiment text with random weights, in evaluation mode.
func testRunner(t *testing.T, text string, h, w int) *netRunner {
	t.Helper()
	exp, err := configs.Parse("test.yaml", "test", []byte(text), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	fit := newSizeFitter(exp)
	ph, pw, err := fit.fit(h, w)
	if err != nil {
		t.Fatal(err)
	}
	g, err := BuildModel(exp, 1, ph, pw, tensor.Float32)
	if err != nil {
		t.Fatal(err)
	}
	g.Init(rand.New(rand.NewPCG(3, 4)))
	g.SetTraining(false)
	return &netRunner{g: g, exp: exp, fit: fit}
}

func randomImage(h, w int, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 9))
	x := make([]float32, 3*h*w)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return x
}

func TestSlideWindowsHandWorked(t *testing.T) {
	w := func(y1, y2, x1, x2 int) Window { return Window{y1, y2, x1, x2} }
	for _, c := range []struct {
		name string
		s    Slide
		h, w int
		want []Window
	}{
		// Grid (10−4+3−1)/3+1 = 3 rows: starts 0, 3, 6; the last ends at the edge.
		{"10 crop 4 stride 3", Slide{4, 4, 3, 3}, 10, 4, []Window{w(0, 4, 0, 4), w(3, 7, 0, 4), w(6, 10, 0, 4)}},
		// (11−4+2)/3+1 = 4 rows: starts 0, 3, 6, 9; the last would end at 13, so it is
		// clamped to end at 11 and moved back to start at 7.
		{"11 crop 4 stride 3", Slide{4, 4, 3, 3}, 11, 4, []Window{w(0, 4, 0, 4), w(3, 7, 0, 4), w(6, 10, 0, 4), w(7, 11, 0, 4)}},
		// Rows first, each left to right; 5 wide: (5−4+2)/3+1 = 2 columns, 0–4 and 1–5.
		{"6×5 crop 4 stride 3", Slide{4, 4, 3, 3}, 6, 5, []Window{w(0, 4, 0, 4), w(0, 4, 1, 5), w(2, 6, 0, 4), w(2, 6, 1, 5)}},
		// Smaller than the crop: one window, the whole image.
		{"smaller than the crop", Slide{8, 8, 5, 5}, 3, 7, []Window{w(0, 3, 0, 7)}},
		// Crop and stride per axis.
		{"rectangular", Slide{2, 4, 2, 3}, 4, 7, []Window{w(0, 2, 0, 4), w(0, 2, 3, 7), w(2, 4, 0, 4), w(2, 4, 3, 7)}},
		// Stride equal to the crop: tiles, the last moved back.
		{"tiles", Slide{3, 3, 3, 3}, 7, 3, []Window{w(0, 3, 0, 3), w(3, 6, 0, 3), w(4, 7, 0, 3)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := c.s.Windows(c.h, c.w); !reflect.DeepEqual(got, c.want) {
				t.Errorf("windows of %d×%d: %v, want %v", c.h, c.w, got, c.want)
			}
		})
	}
}

func TestParseSlide(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Slide
	}{
		{"256x170", Slide{256, 256, 170, 170}},
		{"512X341", Slide{512, 512, 341, 341}},
		{"256x512x170x340", Slide{256, 512, 170, 340}},
		{"4x4", Slide{4, 4, 4, 4}},
	} {
		got, err := ParseSlide(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseSlide(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, c := range []struct{ in, want string }{
		{"256", "want CROPxSTRIDE"},
		{"256x170x3", "want CROPxSTRIDE"},
		{"0x1", `"0" is not a positive whole number`},
		{"256x-1", `"-1" is not a positive whole number`},
		{"axb", `"a" is not a positive whole number`},
		{"256x1.5", `"1.5" is not a positive whole number`},
		{"256x300", "stride (300×300) larger than the crop (256×256)"},
		{"4x8x4x9", "stride (4×9) larger than the crop (4×8)"},
	} {
		_, err := ParseSlide(c.in)
		if err == nil || !strings.Contains(err.Error(), "--slide") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseSlide(%q): %v, want an error naming --slide and %q", c.in, err, c.want)
		}
	}
}

// TestSlideEqualsWholeOnPointwiseNet: with a net whose scores at a pixel depend on that
// pixel only, every window gives each pixel the whole image's scores, and their mean
// over the overlapping windows is that value exactly.
func TestSlideEqualsWholeOnPointwiseNet(t *testing.T) {
	ctx := context.Background()
	const h, w = 11, 9
	r := testRunner(t, pointwiseYAML, 4, 4)
	in := randomImage(h, w, 1)
	whole, err := r.whole(ctx, in, h, w)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []Slide{{4, 4, 3, 3}, {5, 3, 2, 1}, {11, 9, 1, 1}, {2, 2, 1, 1}} {
		got, err := r.slide(ctx, in, h, w, s)
		if err != nil {
			t.Fatal(err)
		}
		for i := range whole {
			if got[i] != whole[i] {
				t.Fatalf("--slide %v: score %d = %v, the whole image's is %v", s, i, got[i], whole[i])
			}
		}
	}
}

// TestSlideAveragesWindows: with a net whose scores depend on the window's borders, each
// pixel's score is the mean of the scores the windows covering it give it: the windows of
// an 11×7 image for crop 4 stride 3 written out by hand (rows 0–4, 3–7, 6–10, 7–11;
// columns 0–4, 3–7), each run on its own, their scores summed and counted here.
func TestSlideAveragesWindows(t *testing.T) {
	ctx := context.Background()
	const h, w, classes = 11, 7, 3
	r := testRunner(t, borderYAML, 4, 4)
	in := randomImage(h, w, 2)
	var sum [classes * h * w]float64
	var count [h * w]int
	for _, rows := range [][2]int{{0, 4}, {3, 7}, {6, 10}, {7, 11}} {
		for _, cols := range [][2]int{{0, 4}, {3, 7}} {
			crop := make([]float32, 3*4*4)
			for c := range 3 {
				for y := range 4 {
					for x := range 4 {
						crop[(c*4+y)*4+x] = in[(c*h+rows[0]+y)*w+cols[0]+x]
					}
				}
			}
			sc, err := r.whole(ctx, crop, 4, 4)
			if err != nil {
				t.Fatal(err)
			}
			for y := range 4 {
				for x := range 4 {
					p := (rows[0]+y)*w + cols[0] + x
					count[p]++
					for c := range classes {
						sum[c*h*w+p] += float64(sc[(c*4+y)*4+x])
					}
				}
			}
		}
	}
	got, err := r.slide(ctx, in, h, w, Slide{4, 4, 3, 3})
	if err != nil {
		t.Fatal(err)
	}
	whole, err := r.whole(ctx, in, h, w)
	if err != nil {
		t.Fatal(err)
	}
	differs := false
	for i := range got {
		want := float32(sum[i] / float64(count[i%(h*w)]))
		if got[i] != want {
			t.Fatalf("score %d = %v, want the windows' mean %v", i, got[i], want)
		}
		differs = differs || got[i] != whole[i]
	}
	if !differs {
		t.Error("the windows' scores equal the whole image's: the test net has no border effects")
	}

	// Odd windows go through the any-size path: 5×5 is padded to 6×6 and cropped back.
	odd, err := r.slide(ctx, in, h, w, Slide{5, 5, 3, 3})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range odd {
		if math.IsNaN(float64(v)) {
			t.Fatalf("5×5 windows: score %d is NaN", i)
		}
	}
}

// TestSlideMemoryAtWindowSize: with --slide the model is estimated at the window's size,
// not the image's: a 2000×2000 image that the default net cannot hold whole in the
// memory its 256×256 windows need is refused whole and accepted in windows.
func TestSlideMemoryAtWindowSize(t *testing.T) {
	exp, err := configs.LoadModel("default", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	opts := InferOptions{Slide: Slide{256, 256, 170, 170}}
	e, err := EstimateInferenceWith(exp, 2000, 2000, opts)
	if err != nil {
		t.Fatal(err)
	}
	fh, fw, err := FitSize(exp, 256, 256)
	if err != nil {
		t.Fatal(err)
	}
	m, err := ModelMemory(exp, 1, fh, fw, false)
	if err != nil {
		t.Fatal(err)
	}
	if e.Model.Bytes != m.Bytes {
		t.Errorf("model estimated at %d bytes, the 256×256 window's is %d", e.Model.Bytes, m.Bytes)
	}
	// The image-sized buffers: at least the C×H×W float64 window sums.
	if min := int64(8 * exp.Model.Classes * 2000 * 2000); e.Buffers < min {
		t.Errorf("buffers %d bytes, less than the window sums' %d", e.Buffers, min)
	}
	limit := e.Total
	if err := CheckInferenceWith(exp, 2000, 2000, opts, limit); err != nil {
		t.Errorf("in windows, at the estimate: %v", err)
	}
	if err := CheckInference(exp, 1, 2000, 2000, limit); err == nil {
		t.Error("the whole 2000×2000 image fits the windows' memory: the test proves nothing")
	}
	err = CheckInferenceWith(exp, 2000, 2000, opts, limit/2)
	if err == nil || !strings.Contains(err.Error(), "--slide 256x170") || !strings.Contains(err.Error(), "smaller --slide window") {
		t.Errorf("over the limit: %v, want a refusal naming --slide", err)
	}
	// TTA at 1.5 runs windows of the same size: the model estimate does not grow.
	opts.TTA = TTA{Scales: []float64{1, 1.5}, Flip: true}
	e2, err := EstimateInferenceWith(exp, 2000, 2000, opts)
	if err != nil {
		t.Fatal(err)
	}
	if e2.Model.Bytes != m.Bytes || e2.Buffers <= e.Buffers {
		t.Errorf("with --tta: model %d bytes (want %d), buffers %d (want more than %d)", e2.Model.Bytes, m.Bytes, e2.Buffers, e.Buffers)
	}
}
