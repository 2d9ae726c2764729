package layers_test

import (
	"strings"
	"testing"

	"github.com/fcn-dev/fcn/autodiff"
	"github.com/fcn-dev/fcn/layers"
	"gorgonia.org/tensor"
)

func iota64(n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = float64(i)
	}
	return v
}

func TestCropHand(t *testing.T) {
	// Input 0: 4×5 plane holding 0..19; window 2×3 at (1, 2): rows 1–2, columns 2–4.
	l, err := layers.NewCrop("crop", layers.CropConfig{Offset: []int{1, 2}})
	if err != nil {
		t.Fatal(err)
	}
	x := tuDense([]int{1, 1, 4, 5}, iota64(20))
	ref := tuDense([]int{1, 7, 2, 3}, nil) // only its size matters, not its channels
	dOut := tuDense([]int{1, 1, 2, 3}, []float64{1, 2, 3, 4, 5, 6})
	out, dIn := tuRun(t, l, dOut, x, ref)
	tuClose(t, "out", out.Data().([]float64), []float64{7, 8, 9, 12, 13, 14}, 0)
	tuClose(t, "dIn0", dIn[0].Data().([]float64), []float64{
		0, 0, 0, 0, 0,
		0, 0, 1, 2, 3,
		0, 0, 4, 5, 6,
		0, 0, 0, 0, 0,
	}, 0)
	tuClose(t, "dIn1", dIn[1].Data().([]float64), make([]float64, 42), 0)
	if s := out.Shape(); s[1] != 1 || s[2] != 2 || s[3] != 3 {
		t.Fatalf("output shape %v", s)
	}
}

func TestCropScalarOffsetAndBatch(t *testing.T) {
	// One offset value applies to both axes; every image and channel is cropped alike.
	l, _ := layers.NewCrop("crop", layers.CropConfig{Offset: []int{1}})
	x := tuDense([]int{2, 1, 3, 3}, iota64(18))
	out, _ := tuRun(t, l, nil, x, tuDense([]int{2, 1, 2, 2}, nil))
	tuClose(t, "out", out.Data().([]float64), []float64{4, 5, 7, 8, 13, 14, 16, 17}, 0)
}

func TestCropAuto(t *testing.T) {
	l, err := layers.NewCrop("score_pool4c", layers.CropConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if !l.AutoOffset() {
		t.Fatal("nil offset should be auto")
	}
	in := []tensor.Shape{{1, 2, 6, 6}, {1, 2, 4, 3}}
	if _, err := l.Setup(in, tensor.Float64); err != nil {
		t.Fatal(err)
	}
	// The window 4×3 fits at (2, 3) but not at (3, 0) or (0, 4).
	if err := l.SetOffset(2, 3); err != nil {
		t.Fatal(err)
	}
	if h, w := l.Offset(); h != 2 || w != 3 {
		t.Fatalf("Offset() = %d, %d", h, w)
	}
	scale, offset := l.CoordMap()
	if scale != [2]float64{1, 1} || offset != [2]float64{-2, -3} {
		t.Fatalf("CoordMap = %v, %v; Caffe's crop maps by (1, −offset)", scale, offset)
	}
	tuWantErr(t, l.SetOffset(3, 0), "crop score_pool4c", "window 4×3 at offset (3, 0) exceeds input 0's 6×6")
	tuWantErr(t, l.SetOffset(0, 4), "crop score_pool4c", "exceeds")
	tuWantErr(t, l.SetOffset(-1, 0), "crop score_pool4c", "negative")
	// A failed SetOffset keeps the previous offset.
	x := tuDense([]int{1, 2, 6, 6}, iota64(72))
	out := tuDense([]int{1, 2, 4, 3}, nil)
	l.Forward([]*tensor.Dense{x, tuDense([]int{1, 2, 4, 3}, nil)}, out)
	if got := out.Data().([]float64)[0]; got != 2*6+3 {
		t.Fatalf("first element %v, want 15 (offset (2, 3))", got)
	}
	// Set up again with a smaller input 0: the kept offset no longer fits.
	_, err = l.Setup([]tensor.Shape{{1, 2, 5, 5}, {1, 2, 4, 3}}, tensor.Float64)
	tuWantErr(t, err, "exceeds input 0's 5×5")
}

func TestCropAutoForwardWithoutOffsetPanics(t *testing.T) {
	// Forward before SetOffset is a programmer error (the graph always sets auto offsets);
	// it must say so rather than silently crop at (0, 0).
	l, _ := layers.NewCrop("c", layers.CropConfig{})
	if _, err := l.Setup([]tensor.Shape{{1, 1, 3, 3}, {1, 1, 2, 2}}, tensor.Float64); err != nil {
		t.Fatal(err)
	}
	defer func() {
		r := recover()
		if r == nil || !strings.Contains(r.(string), "SetOffset") {
			t.Fatalf("recover() = %v", r)
		}
	}()
	l.Forward([]*tensor.Dense{tuDense([]int{1, 1, 3, 3}, nil), tuDense([]int{1, 1, 2, 2}, nil)}, tuDense([]int{1, 1, 2, 2}, nil))
}

func TestCropGradcheck(t *testing.T) {
	cases := []struct {
		off    []int
		in, rf tensor.Shape
	}{
		{[]int{0}, tensor.Shape{1, 1, 5, 7}, tensor.Shape{1, 1, 5, 7}},
		{[]int{1, 2}, tensor.Shape{2, 3, 7, 9}, tensor.Shape{2, 1, 4, 5}},
		{[]int{3}, tensor.Shape{1, 2, 9, 8}, tensor.Shape{1, 2, 5, 5}},
	}
	for i, c := range cases {
		l, err := layers.NewCrop("crop", layers.CropConfig{Offset: c.off})
		if err != nil {
			t.Fatal(err)
		}
		// input1 is compared too: its gradient must be exactly zero.
		tuGradCheck(t, l, []tensor.Shape{c.in, c.rf}, autodiff.CheckOptions{Seed: uint64(i)}, "input0", "input1")
	}
}

func TestCropErrors(t *testing.T) {
	for _, off := range [][]int{{-1}, {0, -2}, {1, 2, 3}} {
		tuNoPanic(t, func() {
			_, err := layers.NewCrop("c1", layers.CropConfig{Offset: off})
			tuWantErr(t, err, "crop c1", "offset")
		})
	}
	cases := []struct {
		off  []int
		in   []tensor.Shape
		want string
	}{
		{nil, []tensor.Shape{{1, 1, 4, 4}}, "needs 2 input(s), got 1"},
		{nil, []tensor.Shape{{1, 1, 4, 4}, {1, 1, 5, 4}}, "input 1 (1×1×5×4) is larger than input 0 (1×1×4×4)"},
		{[]int{2}, []tensor.Shape{{1, 3, 4, 4}, {1, 1, 3, 3}}, "crop window 3×3 at offset (2, 2) exceeds input 0's 4×4"},
		{[]int{0}, []tensor.Shape{{4, 4}, {1, 1, 3, 3}}, "input 0 must be 4-D"},
		{[]int{0}, []tensor.Shape{{1, 1, 4, 4}, {3}}, "input 1 must have spatial dimensions"},
	}
	for _, c := range cases {
		tuNoPanic(t, func() {
			l, err := layers.NewCrop("c1", layers.CropConfig{Offset: c.off})
			if err != nil {
				t.Fatal(err)
			}
			_, err = l.Setup(c.in, tensor.Float32)
			tuWantErr(t, err, "crop c1", c.want)
		})
	}
}

func BenchmarkCrop(b *testing.B) {
	l, _ := layers.NewCrop("crop", layers.CropConfig{Offset: []int{4, 4}})
	tuBench(b, l, []tensor.Shape{{8, 64, 64, 64}, {8, 64, 56, 56}}, nil)
}
