package train

import (
	"context"
	"fmt"
	"strings"

	"github.com/fcn-dev/fcn/autodiff"
	"github.com/fcn-dev/fcn/configs"
	"gorgonia.org/tensor"
)

// InferOptions say how evaluation and prediction run the net on an image: whole (the
// zero value), in sliding windows, with test-time augmentation, or both (windows at each
// scale).
type InferOptions struct {
	Slide Slide
	TTA   TTA
}

// On reports whether anything other than one forward pass of the whole image is asked for.
func (o InferOptions) On() bool { return o.Slide.On() || o.TTA.On() }

func (o InferOptions) String() string {
	var parts []string
	if o.Slide.On() {
		parts = append(parts, "--slide "+o.Slide.String())
	}
	if o.TTA.On() {
		parts = append(parts, "--tta "+o.TTA.String())
	}
	if len(parts) == 0 {
		return "whole image"
	}
	return strings.Join(parts, " ")
}

// runSizes lists the input sizes the net is run at for an h×w image, before padding to
// the graph's: the image (or its largest window) at each scale.
func (o InferOptions) runSizes(h, w int) [][2]int {
	scales := o.TTA.Scales
	if len(scales) == 0 {
		scales = []float64{1}
	}
	var out [][2]int
	for _, s := range scales {
		sh, sw := scaledSize(h, w, s)
		wh, ww := o.Slide.maxWindow(sh, sw)
		out = append(out, [2]int{wh, ww})
	}
	return out
}

// FirstRunSize is the size the net first runs at for an h×w image (the size to build the
// graph at, so that a sliding window's model is never built at the whole image's size).
func (o InferOptions) FirstRunSize(h, w int) (int, int) {
	s := o.runSizes(h, w)[0]
	return s[0], s[1]
}

// netRunner runs a graph in evaluation mode on one normalised image of any size.
type netRunner struct {
	g   *autodiff.Graph
	exp *configs.Experiment
	fit *sizeFitter // nil: the graph takes every size as it is
}

// whole runs the net on the normalised 3×h×w image in, padded (with 0, the mean after
// normalisation) to the size fit gives, and returns the C×h×w scores cropped back.
func (r *netRunner) whole(ctx context.Context, in []float32, h, w int) ([]float32, error) {
	n := h * w
	lab := make([]int32, n)
	for i := range lab {
		lab[i] = int32(r.exp.Data.IgnoreLabel)
	}
	ph, pw := h, w
	if r.fit != nil {
		var err error
		if ph, pw, err = r.fit.fit(h, w); err != nil {
			return nil, err
		}
	}
	x := tensor.New(tensor.WithShape(1, 3, h, w), tensor.WithBacking(in))
	y := tensor.New(tensor.WithShape(1, h, w), tensor.WithBacking(lab))
	x, y = padBatch(x, y, ph, pw, r.exp.Data.IgnoreLabel)
	if err := r.g.Forward(ctx, x, y); err != nil {
		return nil, fmt.Errorf("a %d×%d image: %w", h, w, err)
	}
	s := r.g.Value(ScoresNode(r.exp))
	classes := r.exp.Model.Classes
	if sh := s.Shape(); len(sh) != 4 || sh[0] != 1 || sh[1] != classes || sh[2] != ph || sh[3] != pw {
		return nil, fmt.Errorf("a %d×%d image: the model's scores are %v, want 1×%d×%d×%d", h, w, sh, classes, ph, pw)
	}
	all := s.Data().([]float32)
	scores := make([]float32, classes*n)
	for c := range classes {
		for row := range h {
			copy(scores[(c*h+row)*w:][:w], all[(c*ph+row)*pw:][:w])
		}
	}
	return scores, nil
}

// run is one pass at the image's size: whole, or in windows.
func (r *netRunner) run(o InferOptions) func(context.Context, []float32, int, int) ([]float32, error) {
	if o.Slide.On() {
		return func(ctx context.Context, in []float32, h, w int) ([]float32, error) {
			return r.slide(ctx, in, h, w, o.Slide)
		}
	}
	return r.whole
}

// infer runs the net on the normalised 3×h×w image in as o says and returns the C×h×w
// scores and the argmax class of each pixel (ties to the lowest class). Without TTA the
// scores are the net's (averaged over windows with --slide); with TTA they are the mean
// softmax probabilities, the argmax taken before rounding them to float32.
func (r *netRunner) infer(ctx context.Context, in []float32, h, w int, o InferOptions) ([]float32, []int32, error) {
	classes := r.exp.Model.Classes
	if !o.TTA.On() {
		sc, err := r.run(o)(ctx, in, h, w)
		if err != nil {
			return nil, nil, err
		}
		return sc, argmaxChannels(sc, 1, classes, h*w), nil
	}
	p, err := tta(ctx, in, h, w, classes, o.TTA, r.run(o))
	if err != nil {
		return nil, nil, err
	}
	sc := make([]float32, len(p))
	for i, v := range p {
		sc[i] = float32(v)
	}
	return sc, argmaxChannels(p, 1, classes, h*w), nil
}
