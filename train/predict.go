package train

import (
	"context"
	"fmt"
	"image"
	"image/color"

	"github.com/fcn-dev/fcn/autodiff"
	"github.com/fcn-dev/fcn/configs"
	fcndata "github.com/fcn-dev/fcn/data"
	"gorgonia.org/tensor"
)

// Predictor segments images with a trained model. The graph is reshaped for every image
// size, so any size the network accepts works. It is not safe for concurrent use.
type Predictor struct {
	exp     *configs.Experiment
	g       *autodiff.Graph
	tf      *fcndata.Transforms
	fit     *sizeFitter
	Weights string // the file the weights were read from
}

// NewPredictor builds exp's model for h×w images and loads its weights from path (a
// safetensors file, a checkpoint folder or a run folder; see LoadModelWeights).
func NewPredictor(exp *configs.Experiment, path string, h, w int) (*Predictor, error) {
	fit := newSizeFitter(exp)
	ph, pw, err := fit.fit(h, w)
	if err != nil {
		return nil, err
	}
	g, err := BuildModel(exp, 1, ph, pw, tensor.Float32)
	if err != nil {
		return nil, fmt.Errorf("model for a %d×%d image: %w", h, w, err)
	}
	src, err := LoadModelWeights(g, path)
	if err != nil {
		return nil, err
	}
	tf, err := fcndata.NewTransforms(exp.Data.Transforms, exp.Data.IgnoreLabel)
	if err != nil {
		return nil, err
	}
	g.SetTraining(false)
	return &Predictor{exp: exp, g: g, tf: tf, fit: fit, Weights: src}, nil
}

// Prediction is the result for one image.
type Prediction struct {
	H, W   int
	Labels []int32   // H×W: argmax class of each pixel, ties to the lowest class
	Input  []float32 // 3×H×W: the image as the network saw it, normalised
	Scores []float32 // C×H×W: the network's scores
}

// Predict segments one image given as planar RGB values in [0, 255] (as
// data.ReadImageFile returns it), normalised as the experiment's evaluation does.
func (p *Predictor) Predict(ctx context.Context, img []float32, h, w int) (*Prediction, error) {
	return predictImage(ctx, p.g, p.exp, p.tf, p.fit, img, h, w)
}

// predictImage runs g (in evaluation mode) on one image, planar RGB in [0, 255],
// normalised by tf as evaluation normalises it. A size the graph does not take is padded
// to the one fit gives (with 0 after normalisation) and the scores cropped back.
func predictImage(ctx context.Context, g *autodiff.Graph, exp *configs.Experiment, tf *fcndata.Transforms, fit *sizeFitter, img []float32, h, w int) (*Prediction, error) {
	if len(img) != 3*h*w {
		return nil, fmt.Errorf("predict: %d values for a 3×%d×%d image", len(img), h, w)
	}
	n := h * w
	in := make([]float32, 3*n)
	for c := range 3 {
		for i := range n {
			oc, v := tf.Normalize(c, img[c*n+i])
			in[oc*n+i] = v
		}
	}
	lab := make([]int32, n)
	for i := range lab {
		lab[i] = int32(exp.Data.IgnoreLabel)
	}
	ph, pw := h, w
	if fit != nil {
		var err error
		if ph, pw, err = fit.fit(h, w); err != nil {
			return nil, err
		}
	}
	x := tensor.New(tensor.WithShape(1, 3, h, w), tensor.WithBacking(in))
	y := tensor.New(tensor.WithShape(1, h, w), tensor.WithBacking(lab))
	x, y = padBatch(x, y, ph, pw, exp.Data.IgnoreLabel)
	if err := g.Forward(ctx, x, y); err != nil {
		return nil, fmt.Errorf("a %d×%d image: %w", h, w, err)
	}
	s := g.Value(ScoresNode(exp))
	classes := exp.Model.Classes
	if sh := s.Shape(); len(sh) != 4 || sh[1] != classes || sh[2] != ph || sh[3] != pw {
		return nil, fmt.Errorf("a %d×%d image: the model's scores are %v, want 1×%d×%d×%d", h, w, sh, classes, ph, pw)
	}
	all := s.Data().([]float32)
	scores := make([]float32, classes*n)
	for c := range classes {
		for r := range h {
			copy(scores[(c*h+r)*w:][:w], all[(c*ph+r)*pw:][:w])
		}
	}
	return &Prediction{H: h, W: w, Labels: argmaxChannels(scores, 1, classes, n), Input: in, Scores: scores}, nil
}

// Overlay blends the image (planar RGB, 0–255) half and half with the palette colour of
// each pixel's class.
func Overlay(img []float32, labels []int32, h, w int, palette color.Palette) *image.RGBA {
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	n := h * w
	for i := range n {
		c := palette[int(labels[i])%len(palette)].(color.RGBA)
		blend := func(v float32, p uint8) uint8 {
			x := 0.5*v + 0.5*float32(p)
			return uint8(min(255, max(0, x+0.5)))
		}
		out.Pix[4*i] = blend(img[i], c.R)
		out.Pix[4*i+1] = blend(img[n+i], c.G)
		out.Pix[4*i+2] = blend(img[2*n+i], c.B)
		out.Pix[4*i+3] = 255
	}
	return out
}
