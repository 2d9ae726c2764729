package study

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/fcn-dev/fcn/autodiff"
	"github.com/fcn-dev/fcn/configs"
	fcndata "github.com/fcn-dev/fcn/data"
	"github.com/fcn-dev/fcn/layers"
	"github.com/fcn-dev/fcn/train"
	"gorgonia.org/tensor"
)

// LayerReport is what the study measures of one upsampling layer of a trained run.
type LayerReport struct {
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

// analysis is what the report computes from a trained run's weights.
type analysis struct {
	Params   int64 // trainable parameters
	Layers   []LayerReport
	Spectrum Spectrum // of the val score maps
	Preds    [][]int32
}

// upsamplingSpecs lists the model's upsampling layers: its deconvs, whatever their
// mode (resize_conv ones included).
func upsamplingSpecs(exp *configs.Experiment) []*configs.LayerSpec {
	var out []*configs.LayerSpec
	for i := range exp.Model.Layers {
		if l := &exp.Model.Layers[i]; l.Type == "deconv" {
			out = append(out, l)
		}
	}
	return out
}

// SpectralStride is the stride whose multiples the spectral score looks at: the
// largest stride of the model's upsampling layers (8 for FCN-8s's final layer).
func SpectralStride(exp *configs.Experiment) int {
	s := 1
	for _, l := range upsamplingSpecs(exp) {
		st := l.Options.Pair("stride")
		s = max(s, st[0], st[1])
	}
	return s
}

// analyse measures a trained run: trainable parameters, per upsampling layer the
// constant response, drift and kernels, and on the val samples the spectral share of the
// score maps and the predictions of the first nGrid of them.
func analyse(ctx context.Context, exp *configs.Experiment, runDir string, val []fcndata.Sample, nGrid int) (*analysis, error) {
	if len(val) == 0 {
		return nil, errors.New("no val samples")
	}
	a := &analysis{Spectrum: Spectrum{Stride: SpectralStride(exp)}}
	var err error
	if a.Params, a.Layers, err = measureLayers(ctx, exp, runDir, val[0].H, val[0].W); err != nil {
		return nil, err
	}
	// The predictor builds and loads the model again: the graph the layers were measured
	// on is garbage by now, so the two are never both held.
	pr, err := train.NewPredictor(exp, runDir, val[0].H, val[0].W)
	if err != nil {
		return nil, err
	}
	for i, smp := range val {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		p, err := pr.Predict(ctx, smp.Image, smp.H, smp.W)
		if err != nil {
			return nil, fmt.Errorf("val sample %s: %w", smp.ID, err)
		}
		hw := smp.H * smp.W
		m := make([]float64, hw)
		for c := range exp.Model.Classes {
			for j := range m {
				m[j] = float64(p.Scores[c*hw+j])
			}
			if err := a.Spectrum.Add(m, smp.H, smp.W); err != nil {
				return nil, err
			}
		}
		if i < nGrid {
			a.Preds = append(a.Preds, p.Labels)
		}
	}
	return a, nil
}

// measureLayers builds exp's model for 1×3×h×w with the run folder's trained weights (its
// model.safetensors, else its newest checkpoint) and measures it: its trainable
// parameters and each upsampling layer.
func measureLayers(ctx context.Context, exp *configs.Experiment, runDir string, h, w int) (int64, []LayerReport, error) {
	g, err := train.BuildModel(exp, 1, h, w, tensor.Float32)
	if err != nil {
		return 0, nil, err
	}
	if _, err := train.LoadModelWeights(g, runDir); err != nil {
		return 0, nil, err
	}
	var params int64
	weights := map[string][]float32{}
	for _, p := range g.Params() {
		weights[p.Name] = p.Value.Data().([]float32)
		if !p.Frozen() {
			params += int64(p.Value.Shape().TotalSize())
		}
	}
	var out []LayerReport
	for _, spec := range upsamplingSpecs(exp) {
		l, err := measureLayer(ctx, exp, g, spec, weights)
		if err != nil {
			return 0, nil, fmt.Errorf("layer %s: %w", spec.Name, err)
		}
		out = append(out, l)
	}
	return params, out, nil
}

// measureLayer measures one upsampling layer of a trained model g.
func measureLayer(ctx context.Context, exp *configs.Experiment, g *autodiff.Graph, spec *configs.LayerSpec, weights map[string][]float32) (LayerReport, error) {
	l := LayerReport{Name: spec.Name, Mode: spec.Options.String("mode"), Kernel: spec.Options.Pair("kernel"), Stride: spec.Options.Pair("stride"), Drift: math.NaN(), Response: math.NaN()}
	inShape := g.Shape(spec.Inputs[0])
	if len(inShape) != 4 {
		return l, fmt.Errorf("input %s has shape %v", spec.Inputs[0], inShape)
	}
	// The layer alone, rebuilt in float64 with the trained weights, on a constant input
	// large enough for several whole periods inside a border of one kernel.
	nodes, err := train.BuildLayer(spec, exp.Model.Classes)
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
	rg.ParamsChanged()
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
