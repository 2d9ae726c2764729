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
	inputs, nodes, err := modelNodes(exp, n, h, w, dt)
	if err != nil {
		return nil, err
	}
	if dt == tensor.Float32 {
		if err := setPrecision(exp, nodes, layers.Precision.Supported); err != nil {
			return nil, err
		}
	}
	return autodiff.Build(inputs, nodes, dt)
}

// setPrecision gives every conv and deconv of nodes the experiment's train.precision,
// or returns an error naming train.precision: an unknown value, or one this machine
// cannot run (supported says which; bf16 has no fall-back). Float64 graphs (gradient
// checks) skip it and stay exact.
func setPrecision(exp *configs.Experiment, nodes []autodiff.Node, supported func(layers.Precision) error) error {
	if err := CheckPrecision(exp, supported); err != nil {
		return err
	}
	p := layers.Precision(exp.Train.Precision)
	for _, nd := range nodes {
		if ps, ok := nd.Layer.(layers.PrecisionSetter); ok {
			if err := ps.SetPrecision(p); err != nil {
				return fmt.Errorf("train.precision: layer %s: %w", nd.Name, err)
			}
		}
	}
	return nil
}

// CheckPrecision returns an error naming train.precision when its value is unknown or
// supported (layers.Precision.Supported, or a stand-in in tests) refuses it here.
func CheckPrecision(exp *configs.Experiment, supported func(layers.Precision) error) error {
	p, err := layers.ParsePrecision(exp.Train.Precision)
	if err != nil {
		return fmt.Errorf("%s: train.precision: %w", exp.Source, err)
	}
	if err := supported(p); err != nil {
		return fmt.Errorf("%s: train.precision %s cannot run on this machine: %w (use train.precision: fp32)", exp.Source, p, err)
	}
	return nil
}

// modelNodes are the graph inputs and nodes BuildModel builds from; making them
// allocates nothing.
func modelNodes(exp *configs.Experiment, n, h, w int, dt tensor.Dtype) ([]autodiff.InputSpec, []autodiff.Node, error) {
	var nodes []autodiff.Node
	for i := range exp.Model.Layers {
		spec := &exp.Model.Layers[i]
		built, err := BuildLayer(spec, exp.Model.Classes)
		if err != nil {
			return nil, nil, fmt.Errorf("model.layers[%d] (%s): %w", i, spec.Name, err)
		}
		nodes = append(nodes, built...)
	}
	loss, err := lossOptions(exp)
	if err != nil {
		return nil, nil, fmt.Errorf("loss: %w", err)
	}
	built, err := buildNodes(layers.LossType, LossNode, []string{exp.Model.Output(), InputLabel}, loss, exp.Model.Classes)
	if err != nil {
		return nil, nil, fmt.Errorf("loss: %w", err)
	}
	nodes = append(nodes, built...)
	inputs := []autodiff.InputSpec{
		{Name: InputData, Shape: tensor.Shape{n, 3, h, w}, Dtype: dt},
		{Name: InputLabel, Shape: tensor.Shape{n, h, w}, Dtype: tensor.Int32},
	}
	return inputs, nodes, nil
}

// BuildLayer makes the graph node(s) of one layer of a model with that many classes,
// with its registered type's builder: one node of the layer's name, except where the
// type expands into several (a deconv in mode resize_conv becomes `<name>_resize` and a
// conv named like the deconv, so downstream layers and checkpoints see the same name).
func BuildLayer(spec *configs.LayerSpec, classes int) ([]autodiff.Node, error) {
	return buildNodes(spec.Type, spec.Name, spec.Inputs, spec.Options, classes)
}

func buildNodes(typName, name string, inputs []string, opts layers.Options, classes int) ([]autodiff.Node, error) {
	typ, ok := layers.Lookup(typName)
	if !ok {
		return nil, fmt.Errorf("unknown layer type %q", typName)
	}
	if opts.Type() != typ {
		return nil, fmt.Errorf("a %s layer needs %s options", typName, typName)
	}
	built, err := typ.Build(layers.BuildArgs{Name: name, Inputs: inputs, Options: opts, Classes: classes})
	if err != nil {
		return nil, err
	}
	nodes := make([]autodiff.Node, len(built))
	for i, b := range built {
		nodes[i] = autodiff.Node{Name: b.Name, Layer: b.Layer, Inputs: b.Inputs}
	}
	return nodes, nil
}

// lossOptions are the loss layer's options from the experiment's loss section.
func lossOptions(exp *configs.Experiment) (layers.Options, error) {
	t, _ := layers.Lookup(layers.LossType)
	o := t.NewOptions()
	for k, v := range map[string]any{"normalize": exp.Loss.Normalize, "ignore_label": exp.Loss.IgnoreLabel} {
		if err := o.Set(k, v); err != nil {
			return o, err
		}
	}
	if exp.Loss.ClassWeights != nil {
		if err := o.Set("class_weights", exp.Loss.ClassWeights); err != nil {
			return o, err
		}
	}
	return o, nil
}

// ScoresNode is the node whose output holds the class scores.
func ScoresNode(exp *configs.Experiment) string { return exp.Model.Output() }

// newRand is the generator for one purpose of a run (initialisation, ...), from its seed.
func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x6663_6e5f_696e_6974)) }
