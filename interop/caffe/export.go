package caffe

import (
	"fmt"
	"slices"

	"github.com/fcn-dev/fcn/configs"
	"github.com/fcn-dev/fcn/interop/caffe/caffepb"
	"github.com/fcn-dev/fcn/layers"
	"github.com/fcn-dev/fcn/train"
	"google.golang.org/protobuf/proto"
	"gorgonia.org/tensor"
)

// Export writes an experiment's model (and loss) as a Caffe net: an Input layer of
// batch×3×h×w images and labels, one Caffe layer per fcn layer through the registry's
// mappings (each layer's top is its name), `auto` crop offsets as the numbers the
// coordinate maps give for that input, per-layer multipliers as param entries, and
// SoftmaxWithLoss from the loss section.
func Export(exp *configs.Experiment, batch, h, w int) (*caffepb.NetParameter, error) {
	g, err := train.BuildModel(exp, batch, h, w, tensor.Float32)
	if err != nil {
		return nil, fmt.Errorf("%s for a %d×%d input: %w", exp.Source, h, w, err)
	}
	shapes := train.ModelShapes(g)
	net := &caffepb.NetParameter{Name: proto.String(exp.Name)}
	net.Layer = append(net.Layer, &caffepb.LayerParameter{
		Name: proto.String(train.InputData), Type: proto.String("Input"),
		Top: []string{train.InputData, train.InputLabel},
		InputParam: &caffepb.InputParameter{Shape: []*caffepb.BlobShape{
			{Dim: []int64{int64(batch), 3, int64(h), int64(w)}},
			{Dim: []int64{int64(batch), 1, int64(h), int64(w)}},
		}},
	})
	// Parameters carry multipliers only when some differ from Caffe's defaults.
	explicit := exp.Optim.BiasLRMult != 1 || exp.Optim.BiasDecayMult != 1
	for _, l := range exp.Model.Layers {
		o := l.Options
		if o.Type().Option("lr_mult") != nil && (o.Float("lr_mult") != 1 || o.Float("decay_mult") != 1 || !o.Bool("learn")) {
			explicit = true
		}
	}
	for _, l := range exp.Model.Layers {
		ls, err := exportLayer(exp, g.CropOffset, shapes, l, explicit)
		if err != nil {
			return nil, fmt.Errorf("%s: model layer %s (%s): %w", exp.Source, l.Name, l.Type, err)
		}
		net.Layer = append(net.Layer, ls...)
	}
	loss := &caffepb.LayerParameter{
		Name: proto.String(train.LossNode), Type: proto.String("SoftmaxWithLoss"),
		Bottom: []string{exp.Model.Output(), train.InputLabel}, Top: []string{train.LossNode},
		LossParam: &caffepb.LossParameter{IgnoreLabel: proto.Int32(int32(exp.Loss.IgnoreLabel))},
	}
	if len(exp.Loss.ClassWeights) > 0 {
		return nil, fmt.Errorf("%s: loss.class_weights: Caffe's SoftmaxWithLoss has none", exp.Source)
	}
	switch exp.Loss.Normalize {
	case layers.NormalizeMean:
		loss.LossParam.Normalization = caffepb.LossParameter_VALID.Enum()
	case layers.NormalizeSum:
		loss.LossParam.Normalization = caffepb.LossParameter_NONE.Enum()
	default:
		return nil, fmt.Errorf("%s: loss.normalize %s has no Caffe normalization", exp.Source, exp.Loss.Normalize)
	}
	net.Layer = append(net.Layer, loss)
	return net, nil
}

func exportLayer(exp *configs.Experiment, cropOffset func(string) (int, int, bool), shapes map[string][]int, l configs.LayerSpec, explicit bool) ([]*caffepb.LayerParameter, error) {
	t := l.Options.Type()
	m := t.CaffeMap
	if m == nil {
		why := t.CaffeWhyNot
		if why == "" {
			why = "the type has no Caffe mapping"
		}
		return nil, fmt.Errorf("cannot be written for Caffe: %s", why)
	}
	o := l.Options
	if off := o.Offset("offset"); o.Type().Option("offset") != nil && off.Auto {
		h, w, ok := cropOffset(l.Name)
		if !ok {
			return nil, fmt.Errorf("offset auto: the graph has no offset for it")
		}
		if err := o.Set("offset", layers.Offset{HW: [2]int{h, w}}); err != nil {
			return nil, err
		}
	}
	f, err := m.ToCaffe(o, exp.Model.Classes)
	if err != nil {
		return nil, err
	}
	main, absorbed := layers.CaffeFields{}, layers.CaffeFields{}
	for k, v := range f {
		if rest, ok := cutPrefix(k, m.Absorb+"."); m.Absorb != "" && ok {
			absorbed[rest] = v
		} else {
			main[k] = v
		}
	}
	cl := &caffepb.LayerParameter{Name: proto.String(l.Name), Type: proto.String(m.Type),
		Bottom: slices.Clone(l.Inputs), Top: []string{l.Name}}
	if err := setParam(cl, m.Field, main); err != nil {
		return nil, err
	}
	if explicit && t.Option("lr_mult") != nil {
		if m.Absorb != "" {
			if o.Float("lr_mult") != 1 || o.Float("decay_mult") != 1 || !o.Bool("learn") {
				return nil, fmt.Errorf("lr_mult/decay_mult/learn: not written for a %s split into %s and %s", t.Name, m.Type, m.Absorb)
			}
		} else {
			for _, b := range m.Blobs {
				if _, ok := shapes[l.Name+"."+b]; !ok {
					continue
				}
				lr, decay := o.Float("lr_mult"), o.Float("decay_mult")
				if !o.Bool("learn") {
					lr, decay = 0, 0
				} else if b == "bias" {
					lr, decay = lr*exp.Optim.BiasLRMult, decay*exp.Optim.BiasDecayMult
				}
				cl.Param = append(cl.Param, &caffepb.ParamSpec{LrMult: proto.Float32(float32(lr)), DecayMult: proto.Float32(float32(decay))})
			}
		}
	}
	out := []*caffepb.LayerParameter{cl}
	if m.Absorb != "" {
		// The absorbed layer works in place on the main layer's output.
		al := &caffepb.LayerParameter{Name: proto.String(l.Name + "_" + lowerASCII(m.Absorb)), Type: proto.String(m.Absorb),
			Bottom: []string{l.Name}, Top: []string{l.Name}}
		if err := setParam(al, m.AbsorbField, absorbed); err != nil {
			return nil, err
		}
		out = append(out, al)
	}
	return out, nil
}

// setParam sets the layer's parameter message field from f.
func setParam(l *caffepb.LayerParameter, field string, f layers.CaffeFields) error {
	if len(f) == 0 {
		return nil // no empty relu_param {}
	}
	if field == "" {
		return fmt.Errorf("fields %v without a parameter message", f)
	}
	m := l.ProtoReflect()
	fd := m.Descriptor().Fields().ByName(protoreflectName(field))
	if fd == nil {
		return fmt.Errorf("LayerParameter has no field %s", field)
	}
	pm := m.Mutable(fd).Message()
	return setFields(pm, f)
}

// MarshalText writes a net as prototxt, as Caffe's tools write and read it; the same
// net gives the same bytes (see marshalText).
func MarshalText(net *caffepb.NetParameter) ([]byte, error) {
	return marshalText(net), nil
}

func cutPrefix(s, p string) (string, bool) {
	if len(s) >= len(p) && s[:len(p)] == p {
		return s[len(p):], true
	}
	return s, false
}

func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
