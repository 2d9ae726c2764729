package train

import (
	"context"
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestParseTTA(t *testing.T) {
	for _, c := range []struct {
		in   string
		want TTA
	}{
		{"scales=0.5,0.75,1,1.25,flip", TTA{Scales: []float64{0.5, 0.75, 1, 1.25}, Flip: true}},
		{"flip", TTA{Scales: []float64{1}, Flip: true}},
		{"flip,scales=1,2", TTA{Scales: []float64{1, 2}, Flip: true}},
		{"scales=1.5", TTA{Scales: []float64{1.5}}},
		{" scales=1 , 0.5 ", TTA{Scales: []float64{1, 0.5}}},
	} {
		got, err := ParseTTA(c.in)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseTTA(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	for _, c := range []struct{ in, want string }{
		{"", "empty"},
		{"0.5,1", `"0.5" is neither scales=... nor flip`},
		{"scales=", `scale ""`},
		{"scales=0", "want a number in (0, 8]"},
		{"scales=-1", "want a number in (0, 8]"},
		{"scales=9", "want a number in (0, 8]"},
		{"scales=NaN", "want a number in (0, 8]"},
		{"scales=1,x", `scale "x"`},
		{"scales=1,1", "scale 1 is given twice"},
		{"flip,flip", "flip is given twice"},
		{"scales=1,flip,scales=2", "scales= is given twice"},
		{"flip,2", `"2" is neither`},
		{"hflip", `"hflip" is neither`},
	} {
		_, err := ParseTTA(c.in)
		if err == nil || !strings.Contains(err.Error(), "--tta") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseTTA(%q): %v, want an error naming --tta and %q", c.in, err, c.want)
		}
	}
}

func TestScaledSizeRoundsAsMMCV(t *testing.T) {
	// mmcv.imrescale: int(side·scale + 0.5).
	for _, c := range []struct {
		h, w   int
		s      float64
		wh, ww int
	}{
		{7, 5, 0.5, 4, 3},          // 3.5 → 4, 2.5 → 3
		{375, 500, 0.75, 281, 375}, // 281.25 → 281
		{10, 10, 1.25, 13, 13},     // 12.5 → 13
		{3, 1, 0.1, 1, 1},          // never 0
		{375, 500, 1, 375, 500},
	} {
		if h, w := scaledSize(c.h, c.w, c.s); h != c.wh || w != c.ww {
			t.Errorf("%d×%d at %g: %d×%d, want %d×%d", c.h, c.w, c.s, h, w, c.wh, c.ww)
		}
	}
}

// softmax64 is the softmax over the classes of planar C×n scores, written out here.
func softmax64(s []float32, classes, n int) []float64 {
	out := make([]float64, len(s))
	for i := range n {
		var z float64
		e := make([]float64, classes)
		m := math.Inf(-1)
		for c := range classes {
			m = math.Max(m, float64(s[c*n+i]))
		}
		for c := range classes {
			e[c] = math.Exp(float64(s[c*n+i]) - m)
			z += e[c]
		}
		for c := range classes {
			out[c*n+i] = e[c] / z
		}
	}
	return out
}

func argmax64(p []float64, classes, n int) []int32 {
	out := make([]int32, n)
	for i := range n {
		for c := 1; c < classes; c++ {
			if p[c*n+i] > p[int(out[i])*n+i] {
				out[i] = int32(c)
			}
		}
	}
	return out
}

func mirror(s []float32, ch, h, w int) []float32 {
	out := make([]float32, len(s))
	for c := range ch {
		for y := range h {
			for x := range w {
				out[(c*h+y)*w+x] = s[(c*h+y)*w+w-1-x]
			}
		}
	}
	return out
}

func closeTo(t *testing.T, what string, got []float32, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if d := math.Abs(float64(got[i]) - want[i]); !(d <= tol) {
			t.Fatalf("%s: value %d = %v, want %v", what, i, got[i], want[i])
		}
	}
}

// TestTTAScaleOneIsPlain: scale 1 alone runs the image as plain inference does: the same
// labels bit for bit, and the softmax of its scores.
func TestTTAScaleOneIsPlain(t *testing.T) {
	ctx := context.Background()
	const h, w, classes = 9, 7, 3
	r := testRunner(t, borderYAML, h, w)
	in := randomImage(h, w, 3)
	plain, plainLab, err := r.infer(ctx, in, h, w, InferOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := argmax64(softmax64(plain, classes, h*w), classes, h*w); !reflect.DeepEqual(plainLab, want) {
		t.Fatal("plain labels are not the argmax of the scores")
	}
	sc, lab, err := r.infer(ctx, in, h, w, InferOptions{TTA: TTA{Scales: []float64{1}}})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(lab, plainLab) {
		t.Error("scale 1 labels differ from plain inference's")
	}
	closeTo(t, "scale 1", sc, softmax64(plain, classes, h*w), 1e-7)
}

// TestTTAFlip: mirrored runs are mirrored back before averaging. On a pointwise net
// (which commutes with mirroring) flip changes nothing; on a net with border effects the
// result is the mean of the probabilities of the image and of the mirrored image's
// scores mirrored back, worked out here from two plain runs.
func TestTTAFlip(t *testing.T) {
	ctx := context.Background()
	const h, w, classes = 8, 6, 3
	n := h * w
	in := randomImage(h, w, 4)

	pw := testRunner(t, pointwiseYAML, h, w)
	one, oneLab, err := pw.infer(ctx, in, h, w, InferOptions{TTA: TTA{Scales: []float64{1}}})
	if err != nil {
		t.Fatal(err)
	}
	fl, flLab, err := pw.infer(ctx, in, h, w, InferOptions{TTA: TTA{Scales: []float64{1}, Flip: true}})
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float64, len(one))
	for i, v := range one {
		want[i] = float64(v)
	}
	closeTo(t, "pointwise net, flip", fl, want, 1e-7)
	if !reflect.DeepEqual(flLab, oneLab) {
		t.Error("pointwise net: flip changes the labels")
	}

	br := testRunner(t, borderYAML, h, w)
	a, err := br.whole(ctx, in, h, w)
	if err != nil {
		t.Fatal(err)
	}
	b, err := br.whole(ctx, mirror(in, 3, h, w), h, w)
	if err != nil {
		t.Fatal(err)
	}
	pa, pb := softmax64(a, classes, n), softmax64(mirror(b, classes, h, w), classes, n)
	mean := make([]float64, len(pa))
	for i := range mean {
		mean[i] = (pa[i] + pb[i]) / 2
	}
	got, lab, err := br.infer(ctx, in, h, w, InferOptions{TTA: TTA{Scales: []float64{1}, Flip: true}})
	if err != nil {
		t.Fatal(err)
	}
	closeTo(t, "border net, flip", got, mean, 1e-7)
	if !reflect.DeepEqual(lab, argmax64(mean, classes, n)) {
		t.Error("border net, flip: labels are not the argmax of the mean probabilities")
	}
}

// TestTTAScalesOnConstantImage: an image of one colour stays that colour at every scale
// and mirrored, and a pointwise net gives every pixel the same scores, so every
// augmentation — scales down and up, mirrored, in windows — gives each pixel the softmax
// of the plain scores.
func TestTTAScalesOnConstantImage(t *testing.T) {
	ctx := context.Background()
	const h, w, classes = 9, 7, 3
	in := make([]float32, 3*h*w)
	for c, v := range []float32{0.7, -1.2, 0.3} {
		for i := range h * w {
			in[c*h*w+i] = v
		}
	}
	r := testRunner(t, pointwiseYAML, h, w)
	plain, err := r.whole(ctx, in, h, w)
	if err != nil {
		t.Fatal(err)
	}
	want := softmax64(plain, classes, h*w)
	for _, o := range []InferOptions{
		{TTA: TTA{Scales: []float64{0.5, 0.75, 1.25, 2}, Flip: true}},
		{TTA: TTA{Scales: []float64{0.5, 1.5}, Flip: true}, Slide: Slide{4, 4, 3, 3}},
	} {
		got, _, err := r.infer(ctx, in, h, w, o)
		if err != nil {
			t.Fatal(err)
		}
		closeTo(t, o.String(), got, want, 1e-6)
	}
}

// TestTTAWithSlideIsSlideAtEachScale: with a pointwise net, windows give the whole
// image's scores at every scale, so --slide with --tta equals --tta alone.
func TestTTAWithSlideIsSlideAtEachScale(t *testing.T) {
	ctx := context.Background()
	const h, w = 10, 9
	r := testRunner(t, pointwiseYAML, h, w)
	in := randomImage(h, w, 5)
	tt := TTA{Scales: []float64{0.6, 1, 1.3}, Flip: true}
	alone, labA, err := r.infer(ctx, in, h, w, InferOptions{TTA: tt})
	if err != nil {
		t.Fatal(err)
	}
	both, labB, err := r.infer(ctx, in, h, w, InferOptions{TTA: tt, Slide: Slide{4, 5, 3, 2}})
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float64, len(alone))
	for i, v := range alone {
		want[i] = float64(v)
	}
	closeTo(t, "slide inside tta", both, want, 1e-7)
	if !reflect.DeepEqual(labA, labB) {
		t.Error("labels differ")
	}
}

// TestTTAErrorNamesTheScale: a scale that makes the image smaller than the net takes is
// refused naming the scale and the size.
func TestTTAErrorNamesTheScale(t *testing.T) {
	r := testRunner(t, borderYAML, 8, 8)
	_, _, err := r.infer(context.Background(), randomImage(8, 8, 6), 8, 8, InferOptions{TTA: TTA{Scales: []float64{1, 0.1}}})
	if err == nil || !strings.Contains(err.Error(), "--tta scale 0.1 (1×1)") {
		t.Errorf("got %v, want an error naming --tta scale 0.1 (1×1)", err)
	}
}
