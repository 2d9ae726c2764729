package layers_test

import (
	"math"
	"testing"

	"github.com/fcn-dev/fcn/autodiff"
	"github.com/fcn-dev/fcn/layers"
	"gorgonia.org/tensor"
)

func newResize(t testing.TB, mode string, factor ...int) *layers.Resize {
	t.Helper()
	l, err := layers.NewResize("up", layers.ResizeConfig{Factor: factor, Mode: mode})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// Values worked by hand from align_corners=False: output o reads (o+0.5)/f − 0.5,
// clamped at 0, and the last input index repeats past the end. These are also what
// PyTorch's F.interpolate(scale_factor=f, align_corners=False) prints for these inputs.
func TestResizeHand(t *testing.T) {
	cases := []struct {
		name   string
		mode   string
		factor []int
		shape  []int
		x      []float64
		want   []float64
	}{
		// 2× of [1, 2]: sources −0.25→0, 0.25, 0.75, 1.25→clamped to 1.
		{"bilinear_1x2", "bilinear", []int{1, 2}, []int{1, 1, 1, 2}, []float64{1, 2}, []float64{1, 1.25, 1.75, 2}},
		// Separable: rows as above, then columns mixed 1, .75/.25, .25/.75, 1.
		{"bilinear_2x2", "bilinear", []int{2}, []int{1, 1, 2, 2}, []float64{1, 2, 3, 4}, []float64{
			1, 1.25, 1.75, 2,
			1.5, 1.75, 2.25, 2.5,
			2.5, 2.75, 3.25, 3.5,
			3, 3.25, 3.75, 4,
		}},
		// 3× of [0, 3]: sources −1/3→0, 0, 1/3, 2/3, 1, 4/3→1.
		{"bilinear_3x", "bilinear", []int{1, 3}, []int{1, 1, 1, 2}, []float64{0, 3}, []float64{0, 0, 1, 2, 3, 3}},
		{"nearest_2x2", "nearest", []int{2}, []int{1, 1, 2, 2}, []float64{1, 2, 3, 4}, []float64{
			1, 1, 2, 2,
			1, 1, 2, 2,
			3, 3, 4, 4,
			3, 3, 4, 4,
		}},
		{"nearest_3x1", "nearest", []int{3, 1}, []int{1, 1, 1, 2}, []float64{5, 6}, []float64{5, 6, 5, 6, 5, 6}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := newResize(t, c.mode, c.factor...)
			out, _ := tuRun(t, l, nil, tuDense(c.shape, c.x))
			tuClose(t, "out", out.Data().([]float64), c.want, 1e-15)
		})
	}
}

func TestResizeBackwardHand(t *testing.T) {
	// Adjoint of 2× of [a, b] → [a, .75a+.25b, .25a+.75b, b]: with dOut = (1, 2, 3, 4)
	// da = 1 + .75·2 + .25·3 = 3.25, db = .25·2 + .75·3 + 4 = 6.75.
	l := newResize(t, "bilinear", 1, 2)
	_, dIn := tuRun(t, l, tuDense([]int{1, 1, 1, 4}, []float64{1, 2, 3, 4}), tuDense([]int{1, 1, 1, 2}, []float64{1, 2}))
	tuClose(t, "bilinear dIn", dIn[0].Data().([]float64), []float64{3.25, 6.75}, 1e-15)
	// Nearest: each input collects its f×f block.
	l = newResize(t, "nearest", 2)
	_, dIn = tuRun(t, l, tuDense([]int{1, 1, 2, 4}, []float64{1, 2, 3, 4, 5, 6, 7, 8}), tuDense([]int{1, 1, 1, 2}, []float64{0, 0}))
	tuClose(t, "nearest dIn", dIn[0].Data().([]float64), []float64{1 + 2 + 5 + 6, 3 + 4 + 7 + 8}, 0)
}

// CoordMap says input pixel i lands at output f·i + (f−1)/2. Upsampling the ramp
// x[i] = i bilinearly gives, away from the clamped borders, out[o] = (o+0.5)/f − 0.5:
// the inverse of that map.
func TestResizeCoordMap(t *testing.T) {
	for _, f := range []int{2, 3, 4} {
		l := newResize(t, "bilinear", 1, f)
		scale, offset := l.CoordMap()
		if scale[1] != float64(f) || offset[1] != float64(f-1)/2 || scale[0] != 1 || offset[0] != 0 {
			t.Fatalf("f=%d: CoordMap %v %v", f, scale, offset)
		}
		const w = 6
		out, _ := tuRun(t, l, nil, tuDense([]int{1, 1, 1, w}, iota64(w)))
		for o, v := range out.Data().([]float64) {
			if o < f || o >= (w-1)*f {
				continue // borders clamp
			}
			if want := (float64(o) - offset[1]) / scale[1]; math.Abs(v-want) > 1e-12 {
				t.Fatalf("f=%d: out[%d] = %v, CoordMap gives %v", f, o, v, want)
			}
		}
	}
}

// Backward is the exact adjoint: ⟨R x, y⟩ = ⟨x, Rᵀ y⟩.
func TestResizeAdjoint(t *testing.T) {
	for _, mode := range []string{"nearest", "bilinear"} {
		l := newResize(t, mode, 3, 2)
		x := tuDense([]int{2, 3, 5, 4}, tuRandom(1, 120))
		y := tuDense([]int{2, 3, 15, 8}, tuRandom(2, 720))
		out, dIn := tuRun(t, l, y, x)
		var a, b float64
		for i, v := range out.Data().([]float64) {
			a += v * y.Data().([]float64)[i]
		}
		for i, v := range x.Data().([]float64) {
			b += v * dIn[0].Data().([]float64)[i]
		}
		tuClose(t, mode+" ⟨Rx,y⟩ vs ⟨x,Rᵀy⟩", []float64{a}, []float64{b}, 1e-12)
	}
}

func TestResizeGradcheck(t *testing.T) {
	cases := []struct {
		mode   string
		factor []int
		shape  tensor.Shape
	}{
		{"bilinear", []int{2}, tensor.Shape{1, 2, 5, 7}},
		{"bilinear", []int{3, 2}, tensor.Shape{2, 3, 3, 5}},
		{"bilinear", []int{1}, tensor.Shape{1, 1, 3, 3}},
		{"nearest", []int{2}, tensor.Shape{2, 2, 3, 5}},
		{"nearest", []int{2, 3}, tensor.Shape{1, 3, 5, 3}},
	}
	for i, c := range cases {
		l := newResize(t, c.mode, c.factor...)
		tuGradCheck(t, l, []tensor.Shape{c.shape}, autodiff.CheckOptions{Seed: uint64(i)}, "input0")
	}
}

func TestResizeErrors(t *testing.T) {
	bad := []struct {
		cfg  layers.ResizeConfig
		want string
	}{
		{layers.ResizeConfig{Mode: "bilinear"}, "factor is required"},
		{layers.ResizeConfig{Factor: []int{0}, Mode: "bilinear"}, "factor must be ≥ 1"},
		{layers.ResizeConfig{Factor: []int{2, -2}, Mode: "nearest"}, "factor must be ≥ 1"},
		{layers.ResizeConfig{Factor: []int{2}}, `mode must be "nearest" or "bilinear", got ""`},
		{layers.ResizeConfig{Factor: []int{2}, Mode: "bicubic"}, "bicubic"},
	}
	for _, b := range bad {
		tuNoPanic(t, func() {
			_, err := layers.NewResize("up2", b.cfg)
			tuWantErr(t, err, "resize up2", b.want)
		})
	}
	l := newResize(t, "bilinear", 2)
	_, err := l.Setup([]tensor.Shape{{1, 2, 3}}, tensor.Float32)
	tuWantErr(t, err, "resize up", "4-D")
	_, err = l.Setup([]tensor.Shape{{1, 2, 3, 3}, {1, 2, 3, 3}}, tensor.Float32)
	tuWantErr(t, err, "resize up", "needs 1 input(s), got 2")
}

func BenchmarkResize(b *testing.B) {
	for _, mode := range []string{"nearest", "bilinear"} {
		b.Run(mode, func(b *testing.B) {
			tuBench(b, newResize(b, mode, 2), []tensor.Shape{{8, 64, 32, 32}}, nil)
		})
	}
}
