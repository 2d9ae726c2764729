package caffe

import (
	"fmt"
	"strings"

	"github.com/fcn-dev/fcn/interop/caffe/caffepb"
	"github.com/fcn-dev/fcn/layers"
	"google.golang.org/protobuf/proto"
)

// v1Types are the V1 layer type enums of old nets (VGG16's caffemodel) as the type
// names of current Caffe, as Caffe's own upgrade_proto renames them.
var v1Types = map[caffepb.V1LayerParameter_LayerType]string{
	caffepb.V1LayerParameter_ABSVAL: "AbsVal", caffepb.V1LayerParameter_ACCURACY: "Accuracy",
	caffepb.V1LayerParameter_ARGMAX: "ArgMax", caffepb.V1LayerParameter_BNLL: "BNLL",
	caffepb.V1LayerParameter_CONCAT: "Concat", caffepb.V1LayerParameter_CONTRASTIVE_LOSS: "ContrastiveLoss",
	caffepb.V1LayerParameter_CONVOLUTION: "Convolution", caffepb.V1LayerParameter_DATA: "Data",
	caffepb.V1LayerParameter_DECONVOLUTION: "Deconvolution", caffepb.V1LayerParameter_DROPOUT: "Dropout",
	caffepb.V1LayerParameter_DUMMY_DATA: "DummyData", caffepb.V1LayerParameter_EUCLIDEAN_LOSS: "EuclideanLoss",
	caffepb.V1LayerParameter_ELTWISE: "Eltwise", caffepb.V1LayerParameter_EXP: "Exp",
	caffepb.V1LayerParameter_FLATTEN: "Flatten", caffepb.V1LayerParameter_HDF5_DATA: "HDF5Data",
	caffepb.V1LayerParameter_HDF5_OUTPUT: "HDF5Output", caffepb.V1LayerParameter_HINGE_LOSS: "HingeLoss",
	caffepb.V1LayerParameter_IM2COL: "Im2col", caffepb.V1LayerParameter_IMAGE_DATA: "ImageData",
	caffepb.V1LayerParameter_INFOGAIN_LOSS: "InfogainLoss", caffepb.V1LayerParameter_INNER_PRODUCT: "InnerProduct",
	caffepb.V1LayerParameter_LRN: "LRN", caffepb.V1LayerParameter_MEMORY_DATA: "MemoryData",
	caffepb.V1LayerParameter_MULTINOMIAL_LOGISTIC_LOSS: "MultinomialLogisticLoss", caffepb.V1LayerParameter_MVN: "MVN",
	caffepb.V1LayerParameter_POOLING: "Pooling", caffepb.V1LayerParameter_POWER: "Power",
	caffepb.V1LayerParameter_RELU: "ReLU", caffepb.V1LayerParameter_SIGMOID: "Sigmoid",
	caffepb.V1LayerParameter_SIGMOID_CROSS_ENTROPY_LOSS: "SigmoidCrossEntropyLoss", caffepb.V1LayerParameter_SILENCE: "Silence",
	caffepb.V1LayerParameter_SOFTMAX: "Softmax", caffepb.V1LayerParameter_SOFTMAX_LOSS: "SoftmaxWithLoss",
	caffepb.V1LayerParameter_SPLIT: "Split", caffepb.V1LayerParameter_SLICE: "Slice",
	caffepb.V1LayerParameter_TANH: "TanH", caffepb.V1LayerParameter_WINDOW_DATA: "WindowData",
	caffepb.V1LayerParameter_THRESHOLD: "Threshold",
}

// netLayers returns the net's layers as current LayerParameters, upgrading V1 layers
// (type enum, blobs_lr/weight_decay) as Caffe does. A net with both is refused.
func netLayers(path string, net *caffepb.NetParameter) ([]*caffepb.LayerParameter, error) {
	if len(net.GetLayers()) == 0 {
		return net.GetLayer(), nil
	}
	if len(net.GetLayer()) > 0 {
		return nil, fmt.Errorf("%s: has both `layer` and V1 `layers` entries", path)
	}
	out := make([]*caffepb.LayerParameter, 0, len(net.GetLayers()))
	for i, v := range net.GetLayers() {
		t, ok := v1Types[v.GetType()]
		if !ok {
			return nil, fmt.Errorf("%s: layers[%d] (%s): V1 type %v has no current name", path, i, v.GetName(), v.GetType())
		}
		l := &caffepb.LayerParameter{
			Name: proto.String(v.GetName()), Type: proto.String(t), Bottom: v.Bottom, Top: v.Top,
			Blobs: v.Blobs, Include: v.Include, Exclude: v.Exclude,
			ConvolutionParam: v.ConvolutionParam, DropoutParam: v.DropoutParam, EltwiseParam: v.EltwiseParam,
			InnerProductParam: v.InnerProductParam, PoolingParam: v.PoolingParam, ReluParam: v.ReluParam,
			TransformParam: v.TransformParam, LossParam: v.LossParam, AccuracyParam: v.AccuracyParam,
			LossWeight: v.LossWeight,
		}
		n := max(len(v.BlobsLr), len(v.WeightDecay))
		for j := range n {
			ps := &caffepb.ParamSpec{}
			if j < len(v.BlobsLr) {
				ps.LrMult = proto.Float32(v.BlobsLr[j])
			}
			if j < len(v.WeightDecay) {
				ps.DecayMult = proto.Float32(v.WeightDecay[j])
			}
			l.Param = append(l.Param, ps)
		}
		out = append(out, l)
	}
	return out, nil
}

// mappingFor is the registered type a Caffe layer of that type and fields is, or nil.
func mappingFor(caffeType string, f layers.CaffeFields) *layers.Type {
	for _, t := range layers.Types() {
		m := t.CaffeMap
		if m != nil && m.Type == caffeType && (m.Match == nil || m.Match(f)) {
			return t
		}
	}
	return nil
}

// typesNamed lists the fcn types mapped from a Caffe type, for messages.
func typesNamed(caffeType string) []string {
	var ns []string
	for _, t := range layers.Types() {
		if t.CaffeMap != nil && t.CaffeMap.Type == caffeType {
			ns = append(ns, t.Name)
		}
	}
	return ns
}

// absorbedBy returns the type whose mapping absorbs caffeType, for a layer following it.
func absorbs(t *layers.Type, next *caffepb.LayerParameter, top string) bool {
	return t != nil && t.CaffeMap != nil && t.CaffeMap.Absorb != "" && next.GetType() == t.CaffeMap.Absorb &&
		len(next.GetBottom()) == 1 && next.GetBottom()[0] == top
}

// paramFields are the fields of the layer's parameter message named field.
func paramFields(l *caffepb.LayerParameter, field string) layers.CaffeFields {
	f := layers.CaffeFields{}
	if field == "" {
		return f
	}
	m := l.ProtoReflect()
	fd := m.Descriptor().Fields().ByName(protoreflectName(field))
	if fd != nil && m.Has(fd) {
		fieldsOf(m.Get(fd).Message(), "", f)
	}
	return f
}

// where names a layer in messages: `layer conv1 (Convolution)`.
func where(l *caffepb.LayerParameter) string {
	return fmt.Sprintf("layer %s (%s)", l.GetName(), l.GetType())
}

func joinOr(ss []string) string { return strings.Join(ss, " or ") }
