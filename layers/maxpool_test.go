package layers_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/fcn-dev/fcn/autodiff"
	"github.com/fcn-dev/fcn/layers"
	"gorgonia.org/tensor"
)

// Output sizes worked by hand from Caffe's formula ⌈(H+2p−k)/s⌉+1 (ceil) or
// ⌊(H+2p−k)/s⌋+1 (floor), with the last-window rule (out−1)·s < H+p in ceil mode.
func TestMaxpoolOutputSize(t *testing.T) {
	cases := []struct {
		h, k, s, p int
		ceil       bool
		want       int
	}{
		{5, 2, 2, 0, true, 3},  // ⌈3/2⌉+1: the last window covers row 4 only
		{5, 2, 2, 0, false, 2}, // ⌊3/2⌋+1
		{6, 2, 2, 0, true, 3},
		{6, 2, 2, 0, false, 3},
		{5, 3, 2, 1, true, 3},  // ⌈4/2⌉+1 = 3, (3−1)·2 = 4 < 6
		{3, 2, 2, 1, true, 2},  // ⌈3/2⌉+1 = 3 but (3−1)·2 = 4 ≥ 3+1: the rule removes one
		{3, 2, 2, 1, false, 2}, // ⌊3/2⌋+1
		{7, 3, 3, 0, true, 3},  // ⌈4/3⌉+1
		{7, 3, 3, 0, false, 2},
		{5, 1, 3, 0, true, 2}, // ⌈4/3⌉+1 = 3 would start a window at 6 ≥ 5: rule applies with p = 0 too
		{1, 1, 1, 0, true, 1},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("h%d_k%d_s%d_p%d_ceil%v", c.h, c.k, c.s, c.p, c.ceil), func(t *testing.T) {
			l, err := layers.NewMaxPool("pool", layers.MaxPoolConfig{Kernel: []int{c.k}, Stride: []int{c.s}, Pad: []int{c.p}, Ceil: c.ceil})
			if err != nil {
				t.Fatal(err)
			}
			out, err := l.Setup([]tensor.Shape{{1, 1, c.h, c.h + 1}}, tensor.Float32)
			if err != nil {
				t.Fatal(err)
			}
			if out[2] != c.want {
				t.Fatalf("output height %d, want %d", out[2], c.want)
			}
		})
	}
}

// FCN-32s on a 500×500 image: conv1_1's pad 100 gives 698×698 after conv1_2; the five
// ceil-mode pools then give 349, 175, 88, 44, 22 (pool5 22×22 → fc6 7×7 → score 16×16,
// as in the FCN paper's reference nets); floor mode would give 349, 174, 87, 43, 21.
func TestMaxpoolFCNChain(t *testing.T) {
	for _, ceil := range []bool{true, false} {
		h := 698
		var got []int
		for i := range 5 {
			l, err := layers.NewMaxPool(fmt.Sprintf("pool%d", i+1), layers.MaxPoolConfig{Kernel: []int{2}, Stride: []int{2}, Ceil: ceil})
			if err != nil {
				t.Fatal(err)
			}
			out, err := l.Setup([]tensor.Shape{{1, 1, h, 3}}, tensor.Float32)
			if err != nil {
				t.Fatal(err)
			}
			h = out[2]
			got = append(got, h)
		}
		want := []int{349, 174, 87, 43, 21}
		if ceil {
			want = []int{349, 175, 88, 44, 22}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("ceil=%v: sizes %v, want %v", ceil, got, want)
		}
	}
}

func TestMaxpoolHandExamples(t *testing.T) {
	x := []float64{
		1, 2, 3,
		4, 5, 6,
		7, 8, 9,
	}
	cases := []struct {
		name   string
		cfg    layers.MaxPoolConfig
		x      []float64
		want   []float64
		wantDx []float64 // with dOut = 1, 2, 3, ... in output order
	}{
		// Windows rows/cols {0,1}, {2}: maxima 5, 6, 8, 9.
		{"ceil", layers.MaxPoolConfig{Kernel: []int{2}, Ceil: true}, x,
			[]float64{5, 6, 8, 9},
			[]float64{0, 0, 0, 0, 1, 2, 0, 3, 4}},
		// Floor keeps one window: rows/cols {0,1}.
		{"floor", layers.MaxPoolConfig{Kernel: []int{2}}, x,
			[]float64{5},
			[]float64{0, 0, 0, 0, 1, 0, 0, 0, 0}},
		// Pad 1: windows {−1,0}, {1,2} per axis; padding is never selected.
		{"pad", layers.MaxPoolConfig{Kernel: []int{2}, Pad: []int{1}}, x,
			[]float64{1, 3, 7, 9},
			[]float64{1, 0, 2, 0, 0, 0, 3, 0, 4}},
		// All negative: zero padding would win; −∞ padding must not.
		{"pad_negative", layers.MaxPoolConfig{Kernel: []int{2}, Pad: []int{1}},
			[]float64{-1, -2, -3, -4, -5, -6, -7, -8, -9},
			[]float64{-1, -2, -4, -5},
			[]float64{1, 2, 0, 3, 4, 0, 0, 0, 0}},
		// Overlapping windows (k 3, s 1, pad 1): 3×3 output, the 9 collects four gradients.
		{"overlap", layers.MaxPoolConfig{Kernel: []int{3}, Stride: []int{1}, Pad: []int{1}}, x,
			[]float64{5, 6, 6, 8, 9, 9, 8, 9, 9},
			[]float64{0, 0, 0, 0, 1, 2 + 3, 0, 4 + 7, 5 + 6 + 8 + 9}},
		// Non-square kernel 1×3, stride 1×2, ceil.
		{"rect", layers.MaxPoolConfig{Kernel: []int{1, 3}, Stride: []int{1, 2}, Ceil: true}, x,
			[]float64{3, 6, 9},
			[]float64{0, 0, 1, 0, 0, 2, 0, 0, 3}},
		// Ties go to the first position in window order, as Caffe.
		{"tie", layers.MaxPoolConfig{Kernel: []int{3}}, []float64{0, 7, 0, 7, 0, 7, 0, 0, 0},
			[]float64{7},
			[]float64{0, 1, 0, 0, 0, 0, 0, 0, 0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l, err := layers.NewMaxPool("pool", c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			os, err := l.Setup([]tensor.Shape{{1, 1, 3, 3}}, tensor.Float64)
			if err != nil {
				t.Fatal(err)
			}
			dOut := tuDense(os, nil)
			for i := range dOut.Data().([]float64) {
				dOut.Data().([]float64)[i] = float64(i + 1)
			}
			out, dIn := tuRun(t, l, dOut, tuDense([]int{1, 1, 3, 3}, c.x))
			tuClose(t, "out", out.Data().([]float64), c.want, 0)
			tuClose(t, "dIn", dIn[0].Data().([]float64), c.wantDx, 0)
		})
	}
}

// Backward adds into dIn: two backward passes give twice the gradient.
func TestMaxpoolBackwardAccumulates(t *testing.T) {
	l, _ := layers.NewMaxPool("pool", layers.MaxPoolConfig{Kernel: []int{2}})
	x := tuDense([]int{1, 1, 2, 2}, []float64{1, 4, 3, 2})
	out, dIn := tuRun(t, l, nil, x)
	l.Backward([]*tensor.Dense{x}, out, tuDense([]int{1, 1, 1, 1}, []float64{1}), dIn)
	tuClose(t, "dIn", dIn[0].Data().([]float64), []float64{0, 2, 0, 0}, 0)
	// A nil dIn entry is skipped.
	tuNoPanic(t, func() { l.Backward([]*tensor.Dense{x}, out, out, []*tensor.Dense{nil}) })
}

func TestMaxpoolGradcheck(t *testing.T) {
	cases := []struct {
		name  string
		cfg   layers.MaxPoolConfig
		shape tensor.Shape
	}{
		{"k2s2_odd", layers.MaxPoolConfig{Kernel: []int{2}}, tensor.Shape{1, 2, 7, 9}},
		{"k2s2_ceil_batch", layers.MaxPoolConfig{Kernel: []int{2}, Ceil: true}, tensor.Shape{2, 3, 7, 5}},
		{"k3s2_pad1_ceil", layers.MaxPoolConfig{Kernel: []int{3}, Stride: []int{2}, Pad: []int{1}, Ceil: true}, tensor.Shape{2, 2, 9, 7}},
		{"k3s1_pad1_overlap", layers.MaxPoolConfig{Kernel: []int{3}, Stride: []int{1}, Pad: []int{1}}, tensor.Shape{1, 2, 5, 6}},
		{"k2x3_s1x2_pad1x0", layers.MaxPoolConfig{Kernel: []int{2, 3}, Stride: []int{1, 2}, Pad: []int{1, 0}, Ceil: true}, tensor.Shape{2, 1, 5, 8}},
		{"k3s3_ceil_pad2", layers.MaxPoolConfig{Kernel: []int{3}, Stride: []int{3}, Pad: []int{2}, Ceil: true}, tensor.Shape{1, 2, 7, 5}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l, err := layers.NewMaxPool("pool", c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			x := tuDense(c.shape, tuDistinct(uint64(i), c.shape.TotalSize()))
			tuGradCheck(t, l, []tensor.Shape{c.shape}, autodiff.CheckOptions{Seed: uint64(i), Inputs: []*tensor.Dense{x}}, "input0")
		})
	}
}

func TestMaxpoolCoordMap(t *testing.T) {
	l, _ := layers.NewMaxPool("pool", layers.MaxPoolConfig{Kernel: []int{2, 3}, Stride: []int{2, 3}, Pad: []int{0, 1}})
	scale, offset := l.CoordMap()
	// Caffe: 1/s and (p − (k−1)/2)/s: (0 − 0.5)/2 and (1 − 1)/3.
	if scale != [2]float64{0.5, 1.0 / 3} || offset != [2]float64{-0.25, 0} {
		t.Fatalf("CoordMap = %v, %v", scale, offset)
	}
}

func TestMaxpoolErrors(t *testing.T) {
	bad := []struct {
		cfg  layers.MaxPoolConfig
		want string
	}{
		{layers.MaxPoolConfig{}, "kernel is required"},
		{layers.MaxPoolConfig{Kernel: []int{0}}, "kernel must be ≥ 1"},
		{layers.MaxPoolConfig{Kernel: []int{2, -1}}, "kernel must be ≥ 1"},
		{layers.MaxPoolConfig{Kernel: []int{2}, Stride: []int{0}}, "stride must be ≥ 1"},
		{layers.MaxPoolConfig{Kernel: []int{2}, Pad: []int{-1}}, "pad must be ≥ 0"},
		{layers.MaxPoolConfig{Kernel: []int{2}, Pad: []int{2}}, "pad [2 2] must be smaller than kernel"},
		{layers.MaxPoolConfig{Kernel: []int{2, 2, 2}}, "kernel must be one int or an [h, w] pair"},
	}
	for _, b := range bad {
		tuNoPanic(t, func() {
			_, err := layers.NewMaxPool("pool1", b.cfg)
			tuWantErr(t, err, "maxpool pool1", b.want)
		})
	}
	l, err := layers.NewMaxPool("pool1", layers.MaxPoolConfig{Kernel: []int{3}, Stride: []int{2}})
	if err != nil {
		t.Fatal(err)
	}
	shapes := []struct {
		in   []tensor.Shape
		want string
	}{
		{nil, "needs 1 input(s), got 0"},
		{[]tensor.Shape{{1, 1, 4, 4}, {1, 1, 4, 4}}, "needs 1 input(s), got 2"},
		{[]tensor.Shape{{1, 4, 4}}, "input must be 4-D N×C×H×W, got 1×4×4"},
		{[]tensor.Shape{{1, 1, 2, 5}}, "kernel 3×3 is larger than the padded input 2×5"},
		{[]tensor.Shape{{0, 1, 5, 5}}, "empty dimension"},
	}
	for _, s := range shapes {
		tuNoPanic(t, func() {
			_, err := l.Setup(s.in, tensor.Float32)
			tuWantErr(t, err, "maxpool pool1", s.want)
		})
	}
	_, err = l.Setup([]tensor.Shape{{1, 1, 5, 5}}, tensor.Int32)
	tuWantErr(t, err, "maxpool pool1", "dtype")
}

func BenchmarkMaxpool(b *testing.B) {
	l, _ := layers.NewMaxPool("pool", layers.MaxPoolConfig{Kernel: []int{2}, Stride: []int{2}, Ceil: true})
	tuBench(b, l, []tensor.Shape{{8, 64, 64, 64}}, nil)
}

// FCN's 2×2 stride-2 pooling has a fast path; it must keep the general rules: the first
// maximum in row-major window order wins ties, the first NaN wins and sticks, and a
// ceil-mode edge window is clipped. Checked against a brute-force reference on values
// drawn from {0, 1, 2, NaN}, so ties and NaNs are everywhere.
func TestMaxpool2x2FastPathRules(t *testing.T) {
	for _, ceil := range []bool{false, true} {
		const n, c, h, w = 2, 3, 7, 9
		rng := rand.New(rand.NewPCG(3, 4))
		x := make([]float64, n*c*h*w)
		for i := range x {
			x[i] = float64(rng.IntN(3))
			if rng.IntN(20) == 0 {
				x[i] = math.NaN()
			}
		}
		l, err := layers.NewMaxPool("pool", layers.MaxPoolConfig{Kernel: []int{2}, Ceil: ceil})
		if err != nil {
			t.Fatal(err)
		}
		os, err := l.Setup([]tensor.Shape{{n, c, h, w}}, tensor.Float64)
		if err != nil {
			t.Fatal(err)
		}
		oh, ow := os[2], os[3]
		dOut := tuDense(os, nil)
		dy := dOut.Data().([]float64)
		for i := range dy {
			dy[i] = float64(i + 1) // tells which input each output picked
		}
		out, dIn := tuRun(t, l, dOut, tuDense([]int{n, c, h, w}, x))
		got, gotDx := out.Data().([]float64), dIn[0].Data().([]float64)
		wantDx := make([]float64, len(x))
		for p := range n * c {
			for i := range oh {
				for j := range ow {
					best := -1
					for a := 2 * i; a < min(2*i+2, h); a++ {
						for b := 2 * j; b < min(2*j+2, w); b++ {
							k := p*h*w + a*w + b
							switch {
							case best < 0:
								best = k
							case math.IsNaN(x[best]):
							case math.IsNaN(x[k]) || x[k] > x[best]:
								best = k
							}
						}
					}
					o := (p*oh+i)*ow + j
					if g := got[o]; g != x[best] && !(math.IsNaN(g) && math.IsNaN(x[best])) {
						t.Fatalf("ceil %v: output %d is %v, want %v", ceil, o, g, x[best])
					}
					wantDx[best] += dy[o]
				}
			}
		}
		tuClose(t, fmt.Sprintf("ceil %v dIn", ceil), gotDx, wantDx, 0)
	}
}

// float32 rows wide enough for the vector path keep the fast path's rules: the same
// checks on a float32 plane 37 windows wide (two vector blocks and a scalar tail).
func TestMaxpool2x2VectorRows(t *testing.T) {
	const n, c, h, w = 1, 2, 6, 75
	rng := rand.New(rand.NewPCG(5, 6))
	x := make([]float64, n*c*h*w)
	for i := range x {
		x[i] = float64(rng.IntN(3))
		if rng.IntN(20) == 0 {
			x[i] = math.NaN()
		}
	}
	l, err := layers.NewMaxPool("pool", layers.MaxPoolConfig{Kernel: []int{2}})
	if err != nil {
		t.Fatal(err)
	}
	os, err := l.Setup([]tensor.Shape{{n, c, h, w}}, tensor.Float32)
	if err != nil {
		t.Fatal(err)
	}
	xt := fastTensor(tensor.Float32, tensor.Shape{n, c, h, w}, x)
	yt := tensor.New(tensor.WithShape(os...), tensor.Of(tensor.Float32))
	l.Forward([]*tensor.Dense{xt}, yt)
	y := fastGet(yt)
	oh, ow := os[2], os[3]
	// window is the first maximum of window (p, i, j) in row-major order, or its first
	// NaN, and where it is.
	window := func(p, i, j int) (best int, m float64) {
		best, m = -1, math.Inf(-1)
		for di := range 2 {
			for dj := range 2 {
				k := p*h*w + (2*i+di)*w + 2*j + dj
				if v := x[k]; best < 0 || v > m || v != v && m == m {
					best, m = k, v
				}
			}
		}
		return best, m
	}
	for p := range n * c {
		for i := range oh {
			for j := range ow {
				_, m := window(p, i, j)
				got := y[p*oh*ow+i*ow+j]
				if !(got == m || got != got && m != m) {
					t.Fatalf("window (%d, %d, %d): max %v, want %v", p, i, j, got, m)
				}
			}
		}
	}
	// The argmax shows in the backward: dX is dY at the chosen input, 0 elsewhere.
	dy := make([]float64, os.TotalSize())
	for i := range dy {
		dy[i] = float64(i + 1)
	}
	dyt := fastTensor(tensor.Float32, os, dy)
	dxt := tensor.New(tensor.WithShape(n, c, h, w), tensor.Of(tensor.Float32))
	l.Backward([]*tensor.Dense{xt}, yt, dyt, []*tensor.Dense{dxt})
	dx := fastGet(dxt)
	for p := range n * c {
		for i := range oh {
			for j := range ow {
				best, _ := window(p, i, j)
				if g := dy[p*oh*ow+i*ow+j]; dx[best] != g {
					t.Fatalf("window (%d, %d, %d): dX at its argmax %d = %v, want %v", p, i, j, best, dx[best], g)
				}
			}
		}
	}
}
