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
	// Options choose sliding windows and test-time augmentation (zero: the whole image,
	// once).
	Options InferOptions
}

// NewPredictor builds exp's model for h×w images and loads its weights from path (a
// safetensors file, a checkpoint folder or a run folder; see LoadModelWeights). With
// sliding windows or test-time augmentation, pass the size the net first runs at
// (InferOptions.FirstRunSize), not the image's.
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
	// Scores is C×H×W: the network's scores (with --slide, their mean over the windows
	// covering each pixel); with test-time augmentation, the mean softmax probabilities.
	Scores []float32
}

// Predict segments one image given as planar RGB values in [0, 255] (as
// data.ReadImageFile returns it), normalised as the experiment's evaluation does, and
// run as p.Options say.
func (p *Predictor) Predict(ctx context.Context, img []float32, h, w int) (*Prediction, error) {
	return predictWith(ctx, p.g, p.exp, p.tf, p.fit, img, h, w, p.Options)
}

// predictImage runs g (in evaluation mode) on one whole image, planar RGB in [0, 255],
// normalised by tf as evaluation normalises it. A size the graph does not take is padded
// to the one fit gives (with 0 after normalisation) and the scores cropped back.
func predictImage(ctx context.Context, g *autodiff.Graph, exp *configs.Experiment, tf *fcndata.Transforms, fit *sizeFitter, img []float32, h, w int) (*Prediction, error) {
	return predictWith(ctx, g, exp, tf, fit, img, h, w, InferOptions{})
}

// predictWith is predictImage run as opts say (windows, test-time augmentation).
func predictWith(ctx context.Context, g *autodiff.Graph, exp *configs.Experiment, tf *fcndata.Transforms, fit *sizeFitter, img []float32, h, w int, opts InferOptions) (*Prediction, error) {
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
	r := &netRunner{g: g, exp: exp, fit: fit}
	scores, labels, err := r.infer(ctx, in, h, w, opts)
	if err != nil {
		return nil, err
	}
	return &Prediction{H: h, W: w, Labels: labels, Input: in, Scores: scores}, nil
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
