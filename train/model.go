package train

import (
	"fmt"
	"math/rand/v2"

	"github.com/fcn-dev/fcn/autodiff"
	"github.com/fcn-dev/fcn/configs"
	"github.com/fcn-dev/fcn/layers"
	"gorgonia.org/tensor"
)

// Graph input and loss node names every model built from an experiment has.
const (
	InputData  = "data"  // N×3×H×W images
	InputLabel = "label" // N×H×W class ids (Int32)
	LossNode   = "loss"  // softmax cross-entropy of the model's output against label
)

// BuildModel turns an experiment's model and loss sections into a graph for batches of
// n images of h×w, in dtype dt (Float32 to train, Float64 to check gradients). The
// scores are the output of the model's last layer; a softmax_cross_entropy node named
// "loss" reads them and the labels. Parameters are allocated but not initialised: call
// Graph.Init.
func BuildModel(exp *configs.Experiment, n, h, w int, dt tensor.Dtype) (*autodiff.Graph, error) {
	classes := exp.Model.Classes
	var nodes []autodiff.Node
	for i := range exp.Model.Layers {
		spec := &exp.Model.Layers[i]
		built, err := BuildLayer(spec, classes)
		if err != nil {
			return nil, fmt.Errorf("model.layers[%d] (%s): %w", i, spec.Name, err)
		}
		nodes = append(nodes, built...)
	}
	lossCfg := layers.SoftmaxCrossEntropyConfig{
		Normalize:    exp.Loss.Normalize,
		IgnoreLabel:  exp.Loss.IgnoreLabel,
		ClassWeights: exp.Loss.ClassWeights,
	}
	loss, err := layers.NewSoftmaxCrossEntropy(LossNode, lossCfg)
	if err != nil {
		return nil, fmt.Errorf("loss: %w", err)
	}
	nodes = append(nodes, autodiff.Node{Name: LossNode, Layer: loss, Inputs: []string{exp.Model.Output(), InputLabel}})
	inputs := []autodiff.InputSpec{
		{Name: InputData, Shape: tensor.Shape{n, 3, h, w}, Dtype: dt},
		{Name: InputLabel, Shape: tensor.Shape{n, h, w}, Dtype: tensor.Int32},
	}
	g, err := autodiff.Build(inputs, nodes, dt)
	if err != nil {
		return nil, err
	}
	setBatchNormMultipliers(g, exp)
	return g, nil
}

// ScoresNode is the node whose output holds the class scores.
func ScoresNode(exp *configs.Experiment) string { return exp.Model.Output() }

func pair(p [2]int) []int { return []int{p[0], p[1]} }

func ptr[T any](v T) *T { return &v }

// BuildLayer makes the graph node(s) of one layer spec, as BuildModel does for each of
// the model's layers (classes is the model's class count, for layers whose width is
// "classes"). Every spec gives one node of the same name, except a deconv in mode
// resize_conv, which becomes a parameter-free resize (`<name>_resize`) followed by a
// trained conv named like the deconv, so that downstream layers and checkpoints see the
// same name. The nodes take the spec's inputs; a caller building the layer on its own
// (the upsampling study measures one layer alone) renames the first node's inputs.
func BuildLayer(spec *configs.LayerSpec, classes int) ([]autodiff.Node, error) {
	one := func(l layers.Layer, err error) ([]autodiff.Node, error) {
		if err != nil {
			return nil, err
		}
		return []autodiff.Node{{Name: spec.Name, Layer: l, Inputs: spec.Inputs}}, nil
	}
	conv := func() layers.ConvConfig {
		c := layers.ConvConfig{
			Out:       spec.OutChannels(classes),
			Kernel:    pair(spec.KernelSize()),
			Stride:    pair(spec.StrideHW()),
			Pad:       pair(spec.PadHW()),
			Dilation:  pair(spec.DilationHW()),
			Groups:    spec.GroupCount(),
			Bias:      ptr(spec.HasBias()),
			Init:      spec.InitName(),
			Std:       spec.StdDev(),
			LRMult:    ptr(spec.LRMultiplier()),
			DecayMult: ptr(spec.DecayMultiplier()),
			Learn:     ptr(spec.Learnable()),
		}
		return c
	}
	switch spec.Type {
	case "conv":
		return one(layers.NewConv(spec.Name, conv()))
	case "deconv":
		if spec.Mode == "resize_conv" {
			return resizeConv(spec, conv())
		}
		return one(layers.NewDeconv(spec.Name, layers.DeconvConfig{
			ConvConfig:    conv(),
			OutputPadding: pair(spec.OutputPaddingHW()),
			Same:          spec.IsSame(),
			Mode:          spec.Mode,
		}))
	case "maxpool":
		return one(layers.NewMaxPool(spec.Name, layers.MaxPoolConfig{
			Kernel: pair(spec.KernelSize()),
			Stride: pair(spec.StrideHW()),
			Pad:    pair(spec.PadHW()),
			Ceil:   spec.CeilMode(),
		}))
	case "relu":
		return one(layers.NewReLU(spec.Name, layers.ReLUConfig{}))
	case "dropout":
		return one(layers.NewDropout(spec.Name, layers.DropoutConfig{P: spec.DropProb()}))
	case "crop":
		var cfg layers.CropConfig
		if off, auto := spec.CropOffset(); !auto {
			cfg.Offset = pair(off)
		}
		return one(layers.NewCrop(spec.Name, cfg))
	case "sum":
		return one(layers.NewSum(spec.Name, layers.SumConfig{Coeffs: spec.SumCoeffs()}))
	case "batchnorm":
		return one(layers.NewBatchNorm(spec.Name, layers.BatchNormConfig{Eps: spec.BNEps(), Momentum: spec.BNMomentum()}))
	case "resize":
		return one(layers.NewResize(spec.Name, layers.ResizeConfig{Factor: pair(spec.FactorHW()), Mode: spec.ResizeMode()}))
	}
	return nil, fmt.Errorf("unknown layer type %q", spec.Type)
}

// setBatchNormMultipliers applies lr_mult, decay_mult and learn to batchnorm layers,
// whose constructor does not take them: their parameters exist once the graph is built.
func setBatchNormMultipliers(g *autodiff.Graph, exp *configs.Experiment) {
	for i := range exp.Model.Layers {
		spec := &exp.Model.Layers[i]
		if spec.Type != "batchnorm" {
			continue
		}
		lr, decay := spec.LRMultiplier(), spec.DecayMultiplier()
		if !spec.Learnable() {
			lr, decay = 0, 0
		}
		for _, p := range g.Layer(spec.Name).Params() {
			p.LRMult, p.DecayMult = lr, decay
		}
	}
}

// resizeConv replaces a deconv (kernel k, stride s, pad p) by a resize by s followed by a
// 3×3 (or 4×4) stride-1 convolution whose padding makes both the output size and Caffe's
// coordinate map equal to the deconv's, so crops and sums downstream line up unchanged:
// deconv: out = (in−1)·s − 2p + k, offset (k−1)/2 − p; resize+conv (kernel q, pad r):
// out = in·s + 2r − q + 1, offset (s−1)/2 + r − (q−1)/2. Both agree when
// r = (k − s − 2p + q − 1)/2, so q is 3 when k − s − 2p is even and 4 when it is odd.
func resizeConv(spec *configs.LayerSpec, cfg layers.ConvConfig) ([]autodiff.Node, error) {
	k, s, p := spec.KernelSize(), spec.StrideHW(), spec.PadHW()
	if spec.IsSame() || spec.OutputPaddingHW() != [2]int{} || spec.DilationHW() != [2]int{1, 1} || spec.GroupCount() != 1 {
		return nil, fmt.Errorf("mode resize_conv needs a plain deconv (no same, output_padding, dilation or groups)")
	}
	var q, r [2]int
	for a := range 2 {
		d := k[a] - s[a] - 2*p[a]
		q[a] = 3
		if d%2 != 0 {
			q[a] = 4
		}
		r[a] = (d + q[a] - 1) / 2
		if r[a] < 0 {
			return nil, fmt.Errorf("mode resize_conv: kernel %d, stride %d and pad %d would need a negative padding", k[a], s[a], p[a])
		}
	}
	resizeName := spec.Name + "_resize"
	rs, err := layers.NewResize(resizeName, layers.ResizeConfig{Factor: pair(s), Mode: "nearest"})
	if err != nil {
		return nil, err
	}
	cfg.Kernel, cfg.Stride, cfg.Pad = pair(q), []int{1, 1}, pair(r)
	if spec.Init == "" || spec.Init == "bilinear" {
		cfg.Init = "he"
	}
	cfg.Learn = ptr(true)
	cv, err := layers.NewConv(spec.Name, cfg)
	if err != nil {
		return nil, err
	}
	return []autodiff.Node{
		{Name: resizeName, Layer: rs, Inputs: spec.Inputs},
		{Name: spec.Name, Layer: cv, Inputs: []string{resizeName}},
	}, nil
}

// newRand is the generator for one purpose of a run (initialisation, ...), from its seed.
func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x6663_6e5f_696e_6974)) }
