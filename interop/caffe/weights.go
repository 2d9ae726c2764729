package caffe

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/fcn-dev/fcn/checkpoints"
	"github.com/fcn-dev/fcn/interop/caffe/caffepb"
	"github.com/fcn-dev/fcn/layers"
	"github.com/fcn-dev/fcn/train"
)

// blobShape is a blob's shape: the modern BlobShape, or the legacy 4-D
// num/channels/height/width of old caffemodels (legacy true) — rank d keeps its last d
// axes when the dropped ones are 1, d 0 drops every leading 1 (InnerProduct's
// (1,1,N,K) weight is (N,K), a bias (1,1,1,N) is (N)).
func blobShape(b *caffepb.BlobProto, d int) ([]int, error) {
	var s []int
	if b.GetShape() != nil {
		for _, x := range b.GetShape().GetDim() {
			if x < 0 {
				return nil, fmt.Errorf("negative dimension %d", x)
			}
			s = append(s, int(x))
		}
		return s, nil
	}
	s = []int{int(b.GetNum()), int(b.GetChannels()), int(b.GetHeight()), int(b.GetWidth())}
	if s[0] == 0 && s[1] == 0 && s[2] == 0 && s[3] == 0 {
		return nil, fmt.Errorf("no shape (neither shape nor num/channels/height/width)")
	}
	for _, x := range s {
		if x < 0 {
			return nil, fmt.Errorf("negative dimension %d", x)
		}
	}
	if d == 0 {
		for len(s) > 1 && s[0] == 1 {
			s = s[1:]
		}
		return s, nil
	}
	for len(s) > d && s[0] == 1 {
		s = s[1:]
	}
	return s, nil
}

// blobData is a blob's values as float32 with its shape checked against their count.
func blobData(b *caffepb.BlobProto, shape []int) ([]float32, error) {
	n := 1
	for _, x := range shape {
		n *= x
	}
	data := b.GetData()
	if len(data) == 0 && len(b.GetDoubleData()) > 0 {
		data = make([]float32, len(b.GetDoubleData()))
		for i, x := range b.GetDoubleData() {
			data[i] = float32(x)
		}
	}
	if len(data) != n {
		return nil, fmt.Errorf("shape %v needs %d values, the blob has %d", shape, n, len(data))
	}
	return data, nil
}

// ReadWeights reads a caffemodel's blobs as fcn tensors named `<layer>.<param>`:
// weight and bias (convolutions, deconvolutions, InnerProduct as 2-D weights, ...),
// PReLU's weight, BatchNorm's running_mean and running_var divided by its
// moving-average factor with the weight and bias of the in-place Scale that follows it.
// It needs no prototxt, so --init-from can take a caffemodel alone.
func ReadWeights(path string) ([]checkpoints.Tensor, error) {
	net, err := ReadModel(path)
	if err != nil {
		return nil, err
	}
	return modelTensors(path, net)
}

func modelTensors(path string, net *caffepb.NetParameter) ([]checkpoints.Tensor, error) {
	ls, err := netLayers(path, net)
	if err != nil {
		return nil, err
	}
	var ts []checkpoints.Tensor
	seen := map[string]bool{}
	for i := 0; i < len(ls); i++ {
		l := ls[i]
		blobs := l.GetBlobs()
		name := l.GetName()
		t := mappingFor(l.GetType(), paramFields(l, fieldName(l.GetType())))
		var m *layers.CaffeMapping
		if t != nil {
			m = t.CaffeMap
			// A following in-place layer the mapping absorbs (BatchNorm's Scale) adds its blobs.
			if m.Absorb != "" && i+1 < len(ls) && len(l.GetTop()) == 1 && absorbs(t, ls[i+1], l.GetTop()[0]) {
				if len(ls[i+1].GetBlobs()) > 0 {
					blobs = append(append([]*caffepb.BlobProto{}, blobs...), ls[i+1].GetBlobs()...)
				}
				i++
			}
		}
		if len(blobs) == 0 {
			continue
		}
		if seen[name] {
			return nil, fmt.Errorf("%s: %s: a second layer of that name with blobs", path, where(l))
		}
		seen[name] = true
		names, dims := []string{"weight", "bias"}, []int{0, 1}
		factor := 0
		if m != nil && len(m.Blobs) > 0 {
			names, dims, factor = m.Blobs, m.Dims, m.Factor
		}
		if len(blobs) > len(names) {
			return nil, fmt.Errorf("%s: %s: %d blobs, expected at most %d (%v)", path, where(l), len(blobs), len(names), names)
		}
		scale := float32(1)
		if factor > 0 {
			if len(blobs) < factor {
				return nil, fmt.Errorf("%s: %s: %d blobs, expected %d or more (the last the moving-average factor)", path, where(l), len(blobs), factor)
			}
			fb := blobs[factor-1]
			fd, err := blobData(fb, []int{1})
			if err != nil {
				return nil, fmt.Errorf("%s: %s: blob %d (factor): %w", path, where(l), factor-1, err)
			}
			// Caffe: statistics are stored multiplied by the factor; 0 means none yet.
			if fd[0] != 0 {
				scale = 1 / fd[0]
			} else {
				scale = 0
			}
		}
		for j, b := range blobs {
			if names[j] == "" {
				continue
			}
			shape, err := blobShape(b, dims[j])
			if err != nil {
				return nil, fmt.Errorf("%s: %s: blob %d (%s): %w", path, where(l), j, names[j], err)
			}
			data, err := blobData(b, shape)
			if err != nil {
				return nil, fmt.Errorf("%s: %s: blob %d (%s): %w", path, where(l), j, names[j], err)
			}
			data = append([]float32(nil), data...)
			if factor > 0 && j < factor-1 {
				for k := range data {
					data[k] *= scale
				}
			}
			ts = append(ts, checkpoints.Tensor{Name: name + "." + names[j], Shape: shape, Data: data})
		}
	}
	return ts, nil
}

// fieldName is the parameter message of a Caffe type, from the registry ("" if none).
func fieldName(caffeType string) string {
	for _, t := range layers.Types() {
		if t.CaffeMap != nil && t.CaffeMap.Type == caffeType {
			return t.CaffeMap.Field
		}
	}
	return ""
}

// WeightsFormat is the caffemodel as an --init-from format (train.Options.InitFormats):
// a file named *.caffemodel, read by ReadWeights. A caffemodel has no magic number, so
// the name decides.
func WeightsFormat() train.InitFormat {
	return train.InitFormat{
		Name: "Caffe (caffemodel)",
		Match: func(path string, _ []byte) bool {
			return strings.EqualFold(filepath.Ext(path), ".caffemodel")
		},
		Read: ReadWeights,
	}
}
