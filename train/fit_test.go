package train

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/fcn-dev/fcn/configs"
	"github.com/fcn-dev/fcn/layers"
	"gorgonia.org/tensor"
)

// narrowed is a shipped experiment with every conv's and deconv's numeric channel count
// divided by div (at least 2): the same layers, strides, pads and crops, so the same size
// rules, at a fraction of the cost (the VGG nets' full widths run behind FCN_FULL_SIZE=1).
func narrowed(t *testing.T, name string, div int) *configs.Experiment {
	t.Helper()
	exp, err := configs.LoadModel(name, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var sets []string
	for i, l := range exp.Model.Layers {
		if l.Type != "conv" && l.Type != "deconv" {
			continue
		}
		if ch := l.Options.Channels("out"); !ch.Classes && ch.N > 2 {
			sets = append(sets, fmt.Sprintf("model.layers[%d].out=%d", i, max(2, ch.N/div)))
		}
	}
	if exp, err = configs.LoadModel(name, sets, nil); err != nil {
		t.Fatal(err)
	}
	return exp
}

// TestAnySizeInSameSizeOut runs every shipped net forward and backward at PASCAL-like
// sizes, odd sizes, the smallest it takes and one pixel off an aligned size: the scores
// always come out at the image's size (nets that need aligned sizes get the input padded
// and the scores cropped back), and an image below the smallest size is refused naming it.
func TestAnySizeInSameSizeOut(t *testing.T) {
	div := 16
	if testing.Short() {
		div = 64
	}
	if os.Getenv("FCN_FULL_SIZE") == "1" {
		div = 1 // the shipped widths: VGG16 at 375×500, minutes
	}
	for _, name := range configs.Names() {
		t.Run(name, func(t *testing.T) {
			exp := narrowed(t, name, div)
			fit := newSizeFitter(exp)
			m := fit.minimum()
			if m == 0 {
				t.Fatal("no size found")
			}
			ah, _, err := fit.fit(97, 97)
			if err != nil {
				t.Fatal(err)
			}
			sizes := [][2]int{{375, 500}, {333, 497}, {97, 131}, {m, m}, {ah + 1, ah}}
			var g *graphForTest
			for _, hw := range sizes {
				h, w := hw[0], hw[1]
				ph, pw, err := fit.fit(h, w)
				if err != nil {
					t.Fatalf("%d×%d: %v", h, w, err)
				}
				if g == nil {
					g = newGraphForTest(t, exp, ph, pw)
				}
				scores := g.forwardBackward(t, fit, h, w)
				if len(scores) != exp.Model.Classes*h*w {
					t.Errorf("%d×%d: %d scores, want %d×%d×%d", h, w, len(scores), exp.Model.Classes, h, w)
				}
			}
			if m > 1 {
				_, _, err := fit.fit(m-1, m+5)
				if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("smallest it takes is %d×%d", m, m)) {
					t.Errorf("%d×%d: %v, want a refusal naming the minimum", m-1, m+5, err)
				}
			}
		})
	}
}

type graphForTest struct {
	exp *configs.Experiment
	g   interface {
		Forward(context.Context, ...*tensor.Dense) error
		Backward(context.Context) error
		Value(string) *tensor.Dense
		SetTraining(bool)
		ZeroGrad()
	}
	params []layersParam
}

type layersParam = *layers.Param

func newGraphForTest(t *testing.T, exp *configs.Experiment, h, w int) *graphForTest {
	t.Helper()
	g, err := BuildModel(exp, 1, h, w, tensor.Float32)
	if err != nil {
		t.Fatal(err)
	}
	g.Init(rand.New(rand.NewPCG(1, 2)))
	g.SetTraining(true)
	var ps []layersParam
	for _, p := range g.Params() {
		ps = append(ps, p.Param)
	}
	return &graphForTest{exp: exp, g: g, params: ps}
}

// forwardBackward runs one h×w image with random labels through the net, padded as
// training pads it, and returns the scores cropped back to h×w; the gradients must be
// finite.
func (gt *graphForTest) forwardBackward(t *testing.T, fit *sizeFitter, h, w int) []float32 {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(h), uint64(w)))
	x := make([]float32, 3*h*w)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y := make([]int32, h*w)
	for i := range y {
		y[i] = int32(rng.IntN(gt.exp.Model.Classes))
	}
	ph, pw, err := fit.fit(h, w)
	if err != nil {
		t.Fatal(err)
	}
	xt, yt := padBatch(tensor.New(tensor.WithShape(1, 3, h, w), tensor.WithBacking(x)), tensor.New(tensor.WithShape(1, h, w), tensor.WithBacking(y)), ph, pw, gt.exp.Data.IgnoreLabel)
	gt.g.ZeroGrad()
	if err := gt.g.Forward(context.Background(), xt, yt); err != nil {
		t.Fatalf("%d×%d (run at %d×%d): %v", h, w, ph, pw, err)
	}
	if err := gt.g.Backward(context.Background()); err != nil {
		t.Fatalf("%d×%d backward: %v", h, w, err)
	}
	for _, p := range gt.params {
		for _, v := range p.Grad.Data().([]float32) {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("%d×%d: gradient of %s is %v", h, w, p.Name, v)
			}
		}
	}
	s := gt.g.Value(ScoresNode(gt.exp))
	if sh := s.Shape(); sh[2] != ph || sh[3] != pw {
		t.Fatalf("%d×%d run at %d×%d: scores %v", h, w, ph, pw, sh)
	}
	c := gt.exp.Model.Classes
	all := s.Data().([]float32)
	out := make([]float32, 0, c*h*w)
	for k := range c {
		for r := range h {
			out = append(out, all[(k*ph+r)*pw:][:w]...)
		}
	}
	return out
}
