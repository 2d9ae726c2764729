package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/fcn-dev/fcn/autodiff"
	"github.com/fcn-dev/fcn/checkpoints"
	"github.com/fcn-dev/fcn/configs"
	fcndata "github.com/fcn-dev/fcn/data"
	"github.com/fcn-dev/fcn/layers"
	"gorgonia.org/tensor"
)

// StudyLayer is what the study measures of one upsampling layer of a trained run.
type StudyLayer struct {
	Name   string
	Mode   string // the deconv's mode ("" when the experiment sets none)
	Kernel [2]int
	Stride [2]int
	// Response is the constant-response checkerboard score (ConstantResponseScore) of the
	// layer alone with the trained weights; NaN when it has no level to measure.
	Response float64
	// HasDeconvWeight is false for resize_conv (the layer is a conv after a resize).
	HasDeconvWeight bool
	// Drift is KernelDrift of the deconv weight (NaN without one).
	Drift float64
	// Diagonal holds the kernels on the weight's channel diagonal, and Mean their mean.
	Diagonal [][]float64
	Mean     []float64
	// Trainable reports whether the weight was trained (not frozen, not fixed).
	Trainable bool
}

// studyAnalysis is what the report computes from a trained run's weights.
type studyAnalysis struct {
	Params   int64 // trainable parameters
	Layers   []StudyLayer
	Spectrum Spectrum // of the val score maps
	Preds    [][]int32
}

// studyLoadModel builds exp's model for 1×3×h×w and loads a run folder's final weights
// (model.safetensors, else the newest checkpoint). Every parameter must be in the file.
func studyLoadModel(exp *configs.Experiment, runDir string, h, w int) (*autodiff.Graph, map[string][]float32, error) {
	g, err := BuildModel(exp, 1, h, w, tensor.Float32)
	if err != nil {
		return nil, nil, err
	}
	path := filepath.Join(runDir, ModelFile)
	if _, err := os.Stat(path); err != nil {
		path = runDir
	}
	ts, from, err := checkpoints.LoadWeights(path)
	if err != nil {
		return nil, nil, err
	}
	byName := checkpoints.ToMap(ts)
	for _, p := range g.Params() {
		if _, ok := byName[p.Name]; !ok {
			return nil, nil, fmt.Errorf("%s: no tensor %s", from, p.Name)
		}
	}
	if err := SetModelState(g, ts); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", from, err)
	}
	return g, byName, nil
}

// studyUpsamplingSpecs lists the model's upsampling layers: its deconvs, whatever their
// mode (resize_conv ones included).
func studyUpsamplingSpecs(exp *configs.Experiment) []*configs.LayerSpec {
	var out []*configs.LayerSpec
	for i := range exp.Model.Layers {
		if l := &exp.Model.Layers[i]; l.Type == "deconv" {
			out = append(out, l)
		}
	}
	return out
}

// StudySpectralStride is the stride whose multiples the spectral score looks at: the
// largest stride of the model's upsampling layers (8 for FCN-8s's final layer).
func StudySpectralStride(exp *configs.Experiment) int {
	s := 1
	for _, l := range studyUpsamplingSpecs(exp) {
		st := l.Options.Pair("stride")
		s = max(s, st[0], st[1])
	}
	return s
}

// studyAnalyse measures a trained run: trainable parameters, per upsampling layer the
// constant response, drift and kernels, and on the val samples the spectral share of the
// score maps and the predictions of the first len(grid) of them.
func studyAnalyse(ctx context.Context, exp *configs.Experiment, runDir string, val []fcndata.Sample, nGrid int) (*studyAnalysis, error) {
	if len(val) == 0 {
		return nil, errors.New("no val samples")
	}
	g, weights, err := studyLoadModel(exp, runDir, val[0].H, val[0].W)
	if err != nil {
		return nil, err
	}
	a := &studyAnalysis{Spectrum: Spectrum{Stride: StudySpectralStride(exp)}}
	for _, p := range g.Params() {
		if !p.Frozen() {
			a.Params += int64(p.Value.Shape().TotalSize())
		}
	}
	for _, spec := range studyUpsamplingSpecs(exp) {
		l, err := studyLayer(ctx, exp, g, spec, weights)
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", spec.Name, err)
		}
		a.Layers = append(a.Layers, l)
	}
	tf, err := fcndata.NewTransforms(exp.Data.Transforms, exp.Data.IgnoreLabel)
	if err != nil {
		return nil, err
	}
	scoresNode := ScoresNode(exp)
	for i, smp := range val {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		x, y := studyInput(tf, smp)
		if err := g.Forward(ctx, x, y); err != nil {
			return nil, fmt.Errorf("val sample %s: %w", smp.ID, err)
		}
		sc := g.Value(scoresNode)
		s := sc.Shape()
		if len(s) != 4 || s[2] != smp.H || s[3] != smp.W {
			return nil, fmt.Errorf("val sample %s: scores %v are not 1×C×%d×%d", smp.ID, s, smp.H, smp.W)
		}
		v := sc.Data().([]float32)
		hw := smp.H * smp.W
		m := make([]float64, hw)
		for c := range s[1] {
			for j := range m {
				m[j] = float64(v[c*hw+j])
			}
			if err := a.Spectrum.Add(m, smp.H, smp.W); err != nil {
				return nil, err
			}
		}
		if i < nGrid {
			a.Preds = append(a.Preds, argmaxChannels(v[:s[1]*hw], 1, s[1], hw))
		}
	}
	return a, nil
}

// studyInput turns a sample into the model's inputs: the normalised image and its labels.
func studyInput(tf *fcndata.Transforms, smp fcndata.Sample) (x, y *tensor.Dense) {
	hw := smp.H * smp.W
	img := make([]float32, 3*hw)
	for c := range 3 {
		for j := range hw {
			oc, v := tf.Normalize(c, smp.Image[c*hw+j])
			img[oc*hw+j] = v
		}
	}
	x = tensor.New(tensor.WithShape(1, 3, smp.H, smp.W), tensor.WithBacking(img))
	y = tensor.New(tensor.WithShape(1, smp.H, smp.W), tensor.WithBacking(append([]int32(nil), smp.Label...)))
	return x, y
}

// studyLayer measures one upsampling layer of a trained model g.
func studyLayer(ctx context.Context, exp *configs.Experiment, g *autodiff.Graph, spec *configs.LayerSpec, weights map[string][]float32) (StudyLayer, error) {
	l := StudyLayer{Name: spec.Name, Mode: spec.Options.String("mode"), Kernel: spec.Options.Pair("kernel"), Stride: spec.Options.Pair("stride"), Drift: math.NaN(), Response: math.NaN()}
	inShape := g.Shape(spec.Inputs[0])
	if len(inShape) != 4 {
		return l, fmt.Errorf("input %s has shape %v", spec.Inputs[0], inShape)
	}
	// The layer alone, rebuilt in float64 with the trained weights, on a constant input
	// large enough for several whole periods inside a border of one kernel.
	nodes, err := BuildLayer(spec, exp.Model.Classes)
	if err != nil {
		return l, err
	}
	nodes[0].Inputs = []string{"x"}
	var hw [2]int
	for a := range 2 {
		hw[a] = 2*((l.Kernel[a]+l.Stride[a]-1)/l.Stride[a]) + 8
	}
	rg, err := autodiff.Build([]autodiff.InputSpec{{Name: "x", Shape: tensor.Shape{1, inShape[1], hw[0], hw[1]}, Dtype: tensor.Float64}}, nodes, tensor.Float64)
	if err != nil {
		return l, err
	}
	for _, p := range rg.Params() {
		w, ok := weights[p.Name]
		dst := p.Value.Data().([]float64)
		if !ok || len(w) != len(dst) {
			return l, fmt.Errorf("trained weights have no %s of %d values", p.Name, len(dst))
		}
		for i, v := range w {
			dst[i] = float64(v)
		}
	}
	score, err := ConstantResponseScore(ctx, rg, spec.Name, l.Stride, l.Kernel)
	if err == nil {
		l.Response = score
	}
	// The deconv weight: drift and diagonal kernels (resize_conv has a conv instead).
	if d, ok := g.Layer(spec.Name).(*layers.Deconv); ok && d.Weight() != nil {
		w := d.Weight()
		l.HasDeconvWeight = true
		l.Trainable = !w.Frozen() && d.Mode() != "bilinear"
		if l.Drift, err = KernelDrift(w.Value); err != nil {
			return l, err
		}
		if l.Diagonal, l.Mean, err = DiagonalKernels(w.Value); err != nil {
			return l, err
		}
	}
	return l, nil
}
