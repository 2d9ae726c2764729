package layers

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"gorgonia.org/tensor"
)

// Worked by hand: slopes 0.25 (channel 0) and -0.5 (channel 1) on a 1×2×1×3 input.
func TestPReLUByHand(t *testing.T) {
	for _, tc := range []struct {
		name   string
		shared bool
		slopes []float64
		wantY  []float64
		wantDA []float64
	}{
		// x = [-2, 0, 3 | -1, 4, -6], dy = [1, 2, 3 | 4, 5, 6]
		// per channel: y = [-0.5, 0, 3 | 0.5, 4, 3];  da0 = 1·-2 + 2·0 = -2, da1 = 4·-1 + 6·-6 = -40
		{"per_channel", false, []float64{0.25, -0.5}, []float64{-0.5, 0, 3, 0.5, 4, 3}, []float64{-2, -40}},
		// shared slope 0.25: y = [-0.5, 0, 3 | -0.25, 4, -1.5]; da = -2 + -40 = -42
		{"shared", true, []float64{0.25}, []float64{-0.5, 0, 3, -0.25, 4, -1.5}, []float64{-42}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultPReLUConfig()
			cfg.Shared = tc.shared
			l, err := NewPReLU("act", cfg)
			if err != nil {
				t.Fatal(err)
			}
			s := tensor.Shape{1, 2, 1, 3}
			out, err := l.Setup([]tensor.Shape{s}, tensor.Float64)
			if err != nil || !out.Eq(s) {
				t.Fatalf("setup: %v %v", out, err)
			}
			w := l.Params()[0]
			if w.Name != "weight" || !w.Value.Shape().Eq(tensor.Shape{len(tc.slopes)}) {
				t.Fatalf("weight %s of shape %v", w.Name, w.Value.Shape())
			}
			l.Init(rand.New(rand.NewPCG(1, 2)))
			for _, v := range w.Value.Float64s() {
				if v != 0.25 {
					t.Fatalf("init: %v", w.Value.Float64s())
				}
			}
			copy(w.Value.Float64s(), tc.slopes)
			x := denseOf(s, []float64{-2, 0, 3, -1, 4, -6})
			y := tensor.New(tensor.WithShape(s...), tensor.Of(tensor.Float64))
			l.Forward([]*tensor.Dense{x}, y)
			if !slices.Equal(y.Float64s(), tc.wantY) {
				t.Errorf("y = %v, want %v", y.Float64s(), tc.wantY)
			}
			dy := denseOf(s, []float64{1, 2, 3, 4, 5, 6})
			dx := denseOf(s, []float64{10, 10, 10, 10, 10, 10}) // Backward adds
			l.Backward([]*tensor.Dense{x}, y, dy, []*tensor.Dense{dx})
			a0, a1 := tc.slopes[0], tc.slopes[len(tc.slopes)-1]
			wantDX := []float64{10 + a0*1, 10 + a0*2, 10 + 3, 10 + a1*4, 10 + 5, 10 + a1*6}
			if !slices.Equal(dx.Float64s(), wantDX) {
				t.Errorf("dx = %v, want %v", dx.Float64s(), wantDX)
			}
			if !slices.Equal(w.Grad.Float64s(), tc.wantDA) {
				t.Errorf("da = %v, want %v", w.Grad.Float64s(), tc.wantDA)
			}
		})
	}
}

// float32 gives the float64 numbers rounded; a frozen weight gets no gradient.
func TestPReLUFloat32Frozen(t *testing.T) {
	cfg := DefaultPReLUConfig()
	cfg.LRMult, cfg.DecayMult = 0, 0
	l, err := NewPReLU("act", cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := tensor.Shape{2, 1, 2}
	if _, err := l.Setup([]tensor.Shape{s}, tensor.Float32); err != nil {
		t.Fatal(err)
	}
	l.Init(nil)
	x := tensor.New(tensor.WithShape(s...), tensor.WithBacking([]float32{-4, 2, 8, -0.5}))
	y := tensor.New(tensor.WithShape(s...), tensor.Of(tensor.Float32))
	l.Forward([]*tensor.Dense{x}, y)
	if want := []float32{-1, 2, 8, -0.125}; !slices.Equal(y.Float32s(), want) {
		t.Errorf("y = %v, want %v", y.Float32s(), want)
	}
	dx := tensor.New(tensor.WithShape(s...), tensor.Of(tensor.Float32))
	l.Backward([]*tensor.Dense{x}, y, y, []*tensor.Dense{dx})
	if g := l.Params()[0].Grad.Float32s(); g[0] != 0 {
		t.Errorf("frozen slope got gradient %v", g)
	}
	if want := []float32{-0.25, 2, 8, -0.03125}; !slices.Equal(dx.Float32s(), want) {
		t.Errorf("dx = %v, want %v", dx.Float32s(), want)
	}
}

// Built from the registry as an experiment file would: shared gives weight (1,), the
// default one slope per channel; a channel count that changes is an error naming the layer.
func TestPReLURegistry(t *testing.T) {
	typ, ok := Lookup("prelu")
	if !ok {
		t.Fatal("prelu not registered")
	}
	for _, shared := range []bool{false, true} {
		o := typ.NewOptions()
		if shared {
			if err := o.Set("shared", true); err != nil {
				t.Fatal(err)
			}
		}
		built, err := typ.Build(BuildArgs{Name: "act1", Inputs: []string{"conv1"}, Options: o})
		if err != nil || len(built) != 1 || built[0].Name != "act1" {
			t.Fatalf("build: %v %v", built, err)
		}
		l := built[0].Layer
		if _, err := l.Setup([]tensor.Shape{{2, 5, 3, 3}}, tensor.Float32); err != nil {
			t.Fatal(err)
		}
		want := 5
		if shared {
			want = 1
		}
		if w := l.Params()[0]; !w.Value.Shape().Eq(tensor.Shape{want}) || w.LRMult != 1 {
			t.Errorf("shared %v: weight %v, lr_mult %v", shared, w.Value.Shape(), w.LRMult)
		}
		_, err = l.Setup([]tensor.Shape{{2, 4, 3, 3}}, tensor.Float32)
		if shared != (err == nil) || (err != nil && !strings.Contains(err.Error(), "prelu act1")) {
			t.Errorf("shared %v: other channel count: %v", shared, err)
		}
	}
	o := typ.NewOptions()
	if err := o.Set("learn", false); err != nil {
		t.Fatal(err)
	}
	built, _ := typ.Build(BuildArgs{Name: "act", Options: o})
	built[0].Layer.Setup([]tensor.Shape{{1, 2, 2, 2}}, tensor.Float32)
	if !built[0].Layer.Params()[0].Frozen() {
		t.Error("learn: false did not freeze the slopes")
	}
}
