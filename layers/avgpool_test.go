package layers_test

import (
	"testing"

	"github.com/fcn-dev/fcn/layers"
)

// TestAvgPoolTorch compares with PyTorch 1.13's nn.AvgPool2d on x = 1..35 as a 1×1×5×7
// float64 tensor and dy = 1..numel(y), numbers made once by
//
//	m = torch.nn.AvgPool2d(k, s, p, ceil_mode=ceil, count_include_pad=cip)
//	y = m(x); y.backward(dy); print(y.flatten(), x.grad.flatten())  # rounded to 12 places
//
// The ceil cases have a last window that hangs past the padding (divided by fewer).
func TestAvgPoolTorch(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cfg    layers.AvgPoolConfig
		oh, ow int
		y, dx  []float64
	}{
		{"k3_s2_p1_ceil_include", layers.AvgPoolConfig{Kernel: []int{3}, Stride: []int{2}, Pad: []int{1}, Ceil: true, CountIncludePad: true}, 3, 4,
			[]float64{2.222222222222, 4.333333333333, 5.666666666667, 4.444444444444, 10.333333333333, 17.0, 19.0, 13.666666666667, 11.555555555556, 18.333333333333, 19.666666666667, 13.777777777778},
			[]float64{0.111111111111, 0.333333333333, 0.222222222222, 0.555555555556, 0.333333333333, 0.777777777778, 0.444444444444, 0.666666666667, 1.555555555556, 0.888888888889, 2.0, 1.111111111111, 2.444444444444, 1.333333333333, 0.555555555556, 1.222222222222, 0.666666666667, 1.444444444444, 0.777777777778, 1.666666666667, 0.888888888889, 1.555555555556, 3.333333333333, 1.777777777778, 3.777777777778, 2.0, 4.222222222222, 2.222222222222, 1.0, 2.111111111111, 1.111111111111, 2.333333333333, 1.222222222222, 2.555555555556, 1.333333333333}},
		{"k3_s2_p1_ceil_exclude", layers.AvgPoolConfig{Kernel: []int{3}, Stride: []int{2}, Pad: []int{1}, Ceil: true}, 3, 4,
			[]float64{5.0, 6.5, 8.5, 10.0, 15.5, 17.0, 19.0, 20.5, 26.0, 27.5, 29.5, 31.0},
			[]float64{0.25, 0.583333333333, 0.333333333333, 0.833333333333, 0.5, 1.5, 1.0, 1.083333333333, 2.083333333333, 1.0, 2.277777777778, 1.277777777778, 3.611111111111, 2.333333333333, 0.833333333333, 1.5, 0.666666666667, 1.444444444444, 0.777777777778, 2.111111111111, 1.333333333333, 3.083333333333, 5.416666666667, 2.333333333333, 4.944444444444, 2.611111111111, 6.944444444444, 4.333333333333, 2.25, 3.916666666667, 1.666666666667, 3.5, 1.833333333333, 4.833333333333, 3.0}},
		{"k2x3_s1x2_p1x0_ceil", layers.AvgPoolConfig{Kernel: []int{2, 3}, Stride: []int{1, 2}, Pad: []int{1, 0}, Ceil: true, CountIncludePad: true}, 6, 3,
			[]float64{1.0, 2.0, 3.0, 5.5, 7.5, 9.5, 12.5, 14.5, 16.5, 19.5, 21.5, 23.5, 26.5, 28.5, 30.5, 15.0, 16.0, 17.0},
			[]float64{0.833333333333, 0.833333333333, 2.0, 1.166666666667, 2.666666666667, 1.5, 1.5, 1.833333333333, 1.833333333333, 4.0, 2.166666666667, 4.666666666667, 2.5, 2.5, 2.833333333333, 2.833333333333, 6.0, 3.166666666667, 6.666666666667, 3.5, 3.5, 3.833333333333, 3.833333333333, 8.0, 4.166666666667, 8.666666666667, 4.5, 4.5, 4.833333333333, 4.833333333333, 10.0, 5.166666666667, 10.666666666667, 5.5, 5.5}},
		{"k2_s2_p0_ceil", layers.AvgPoolConfig{Kernel: []int{2}, Ceil: true, CountIncludePad: true}, 3, 4,
			[]float64{5.0, 7.0, 9.0, 10.5, 19.0, 21.0, 23.0, 24.5, 29.5, 31.5, 33.5, 35.0},
			[]float64{0.25, 0.25, 0.5, 0.5, 0.75, 0.75, 2.0, 0.25, 0.25, 0.5, 0.5, 0.75, 0.75, 2.0, 1.25, 1.25, 1.5, 1.5, 1.75, 1.75, 4.0, 1.25, 1.25, 1.5, 1.5, 1.75, 1.75, 4.0, 4.5, 4.5, 5.0, 5.0, 5.5, 5.5, 12.0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := layers.NewAvgPool("pool", tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			x := make([]float64, 35)
			for i := range x {
				x[i] = float64(i + 1)
			}
			dy := make([]float64, tc.oh*tc.ow)
			for i := range dy {
				dy[i] = float64(i + 1)
			}
			out, dIn := tuRun(t, l, tuDense([]int{1, 1, tc.oh, tc.ow}, dy), tuDense([]int{1, 1, 5, 7}, x))
			if s := out.Shape(); s[2] != tc.oh || s[3] != tc.ow {
				t.Fatalf("output %v, want %d×%d", s, tc.oh, tc.ow)
			}
			tuClose(t, "y", out.Float64s(), tc.y, 1e-11)
			tuClose(t, "dx", dIn[0].Float64s(), tc.dx, 1e-11)
		})
	}
}

func TestAvgPoolErrors(t *testing.T) {
	_, err := layers.NewAvgPool("p", layers.AvgPoolConfig{Kernel: []int{3}, Pad: []int{2}})
	tuWantErr(t, err, "avgpool p", "at most half the kernel")
	_, err = layers.NewAvgPool("p", layers.AvgPoolConfig{})
	tuWantErr(t, err, "avgpool p", "kernel is required")
	typ, _ := layers.Lookup("avgpool")
	o := typ.NewOptions()
	if !o.Bool("count_include_pad") || o.Bool("ceil") {
		t.Errorf("defaults count_include_pad %v ceil %v, want PyTorch's true, false", o.Bool("count_include_pad"), o.Bool("ceil"))
	}
}
