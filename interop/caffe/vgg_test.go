package caffe

import (
	"bytes"
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fcn-dev/fcn/configs"
	"github.com/fcn-dev/fcn/interop/caffe/caffepb"
	"github.com/fcn-dev/fcn/interop/onnx"
	"github.com/fcn-dev/fcn/interop/torch"
	"github.com/fcn-dev/fcn/train"
	"google.golang.org/protobuf/proto"
	"gorgonia.org/tensor"
)

// torchData holds the narrowed torchvision VGG16 (channels ÷16) that PyTorch saved, with
// its logits on a fixed 224×224 input (interop/torch/testdata/make_fixtures.py).
const torchData = "../torch/testdata"

// vggCaffemodel writes torchvision's narrowed VGG16 weights as the VGG16 caffemodel is
// laid out: V1 `layers`, legacy num/channels/height/width blob shapes, Caffe's layer
// names, fc6–fc8 as InnerProduct with 2-D weights.
func vggCaffemodel(t *testing.T, dir string) string {
	t.Helper()
	sd, err := torch.ReadStateDict(filepath.Join(torchData, "vgg16n.pth"))
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string][]float32{}
	shape := map[string][]int{}
	for _, ts := range sd.Tensors {
		byName[ts.Name], shape[ts.Name] = ts.Data, ts.Shape
	}
	// VGG16's 13 convolutions in torchvision's features.N numbering.
	convs := []struct {
		caffe string
		index string
	}{
		{"conv1_1", "0"}, {"conv1_2", "2"}, {"conv2_1", "5"}, {"conv2_2", "7"},
		{"conv3_1", "10"}, {"conv3_2", "12"}, {"conv3_3", "14"},
		{"conv4_1", "17"}, {"conv4_2", "19"}, {"conv4_3", "21"},
		{"conv5_1", "24"}, {"conv5_2", "26"}, {"conv5_3", "28"},
	}
	net := &caffepb.NetParameter{Name: proto.String("VGG_ILSVRC_16_layers")}
	take := func(name string) ([]float32, []int) {
		d, ok := byName[name]
		if !ok {
			t.Fatalf("vgg16n.pth has no %s", name)
		}
		return d, shape[name]
	}
	for _, c := range convs {
		w, ws := take("features." + c.index + ".weight")
		b, bs := take("features." + c.index + ".bias")
		net.Layers = append(net.Layers, &caffepb.V1LayerParameter{
			Name: proto.String(c.caffe), Type: caffepb.V1LayerParameter_CONVOLUTION.Enum(),
			Blobs: []*caffepb.BlobProto{
				legacyBlob(int32(ws[0]), int32(ws[1]), int32(ws[2]), int32(ws[3]), w),
				legacyBlob(1, 1, 1, int32(bs[0]), b),
			}})
	}
	for _, fc := range []struct{ caffe, torch string }{{"fc6", "classifier.0"}, {"fc7", "classifier.3"}, {"fc8", "classifier.6"}} {
		w, ws := take(fc.torch + ".weight")
		b, bs := take(fc.torch + ".bias")
		net.Layers = append(net.Layers, &caffepb.V1LayerParameter{
			Name: proto.String(fc.caffe), Type: caffepb.V1LayerParameter_INNER_PRODUCT.Enum(),
			Blobs: []*caffepb.BlobProto{
				legacyBlob(1, 1, int32(ws[0]), int32(ws[1]), w),
				legacyBlob(1, 1, 1, int32(bs[0]), b),
			}})
	}
	raw, err := proto.Marshal(net)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "VGG16n.caffemodel")
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCaffeVGG16Forward: the narrowed VGG16 weights in an old-style caffemodel, taken by
// --init-from with the built-in caffe-vgg16 map (fc6/fc7 reshaped into convolutions,
// fc8 dropped) and a user map for fc8, give torchvision's logits at the single output
// position of a 224×224 input, as the .pth does through torchvision-vgg16.
func TestCaffeVGG16Forward(t *testing.T) {
	dir := t.TempDir()
	cm := vggCaffemodel(t, dir)
	fc8Map := filepath.Join(dir, "fc8.yaml")
	if err := os.WriteFile(fc8Map, []byte("- {from: fc8.weight, to: score_fr.weight, reshape: [10, 64, 1, 1]}\n- {from: fc8.bias, to: score_fr.bias}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	exp, err := configs.Load(filepath.Join(torchData, "vgg16n_fcn.yaml"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	g, err := train.BuildModel(exp, 1, 224, 224, tensor.Float32)
	if err != nil {
		t.Fatal(err)
	}
	g.Init(rand.New(rand.NewPCG(3, 4)))
	formats := []train.InitFormat{WeightsFormat()}
	var out bytes.Buffer
	// Strict: score_fr is beyond the built-in map, so the load is refused, naming it.
	err = train.LoadInit(g, cm, "caffe-vgg16", false, formats, &out)
	if err == nil || !strings.Contains(err.Error(), "score_fr.weight") || !strings.Contains(err.Error(), "VGG16n.caffemodel") {
		t.Fatalf("strict load without score_fr: error %v, want score_fr missing, naming the file", err)
	}
	if err := train.LoadInit(g, cm, "caffe-vgg16", true, formats, &out); err != nil {
		t.Fatal(err)
	}
	if err := train.LoadInit(g, cm, fc8Map, true, formats, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "fc6.weight [64 32 7 7]") {
		t.Errorf("report does not show fc6's reshape:\n%s", out.String())
	}
	raw, err := os.ReadFile(filepath.Join(torchData, "input.npy"))
	if err != nil {
		t.Fatal(err)
	}
	_, x, err := onnx.DecodeNPY(raw)
	if err != nil {
		t.Fatal(err)
	}
	raw, err = os.ReadFile(filepath.Join(torchData, "vgg16n_logits.npy"))
	if err != nil {
		t.Fatal(err)
	}
	_, want, err := onnx.DecodeNPY(raw)
	if err != nil {
		t.Fatal(err)
	}
	g.SetTraining(false)
	in := tensor.New(tensor.WithShape(1, 3, 224, 224), tensor.WithBacking(x))
	lab := tensor.New(tensor.WithShape(1, 224, 224), tensor.WithBacking(make([]int32, 224*224)))
	if err := g.Forward(context.Background(), in, lab); err != nil {
		t.Fatal(err)
	}
	got := g.Value("score_fr").Data().([]float32)
	if len(got) != len(want) {
		t.Fatalf("%d scores, want %d", len(got), len(want))
	}
	var maxB, maxD float64
	for i := range want {
		maxB = math.Max(maxB, math.Abs(float64(want[i])))
		maxD = math.Max(maxD, math.Abs(float64(got[i]-want[i])))
	}
	t.Logf("max|fcn - torchvision| = %.3g, max|torchvision| = %.3g", maxD, maxB)
	if maxD > 1e-4*maxB {
		t.Errorf("max|fcn - torchvision| = %g > 1e-4·%g", maxD, maxB)
	}
}
