package caffe

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fcn-dev/fcn/configs"
	"github.com/fcn-dev/fcn/interop/caffe/caffepb"
	"github.com/fcn-dev/fcn/layers"
	"github.com/fcn-dev/fcn/train"
	"google.golang.org/protobuf/proto"
	"gorgonia.org/tensor"
)

const (
	fcn8sNet    = "testdata/voc-fcn8s-train.prototxt"
	fcn8sSolver = "testdata/voc-fcn8s-solver.prototxt"
)

// The reference voc-fcn8s net and solver import as the shipped fcn8s: same parameter
// count, crop offsets 5/9/31, FCN's solver.
func TestImportVOCFCN8s(t *testing.T) {
	res, err := ImportFiles(Files{Net: fcn8sNet, Solver: fcn8sSolver})
	if err != nil {
		t.Fatal(err)
	}
	exp := res.Experiment
	shipped, err := configs.LoadModel("fcn8s", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The inputs as FCN's Python layer gives them, with the mean of its param_str, as
	// the shipped fcn8s says too.
	if tr, want := exp.Data.Transforms, shipped.Data.Transforms; tr.Normalize != want.Normalize || tr.Flip != want.Flip ||
		tr.Crop != want.Crop || tr.ScaleMin != 1 || tr.ScaleMax != 1 || !slices.Equal(tr.BGRMean, []float64{104.00699, 116.66877, 122.67892}) {
		t.Errorf("transforms %+v, want normalize %s, flip %v, crop %d, no rescale, the param_str's mean", tr, want.Normalize, want.Flip, want.Crop)
	}
	count := func(e *configs.Experiment) int {
		g, err := train.BuildModel(e, 1, 500, 500, tensor.Float32)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, s := range train.ModelShapes(g) {
			k := 1
			for _, d := range s {
				k *= d
			}
			n += k
		}
		for name, want := range map[string]int{"score_pool4c": 5, "score_pool3c": 9, "score": 31} {
			h, w, ok := g.CropOffset(name)
			if !ok || h != want || w != want {
				t.Errorf("%s: crop %s offset %d,%d (ok %v), want %d", e.Source, name, h, w, ok, want)
			}
		}
		return n
	}
	got, want := count(exp), count(shipped)
	if got != want || got != 134489759 {
		t.Errorf("imported fcn8s has %d parameters, shipped %d", got, want)
	}
	if exp.Model.Classes != 21 || len(exp.Model.Layers) != len(shipped.Model.Layers) {
		t.Errorf("classes %d, %d layers; want 21, %d", exp.Model.Classes, len(exp.Model.Layers), len(shipped.Model.Layers))
	}
	for i, l := range exp.Model.Layers {
		s := shipped.Model.Layers[i]
		if l.Name != s.Name || l.Type != s.Type || !slices.Equal(l.Inputs, s.Inputs) {
			t.Errorf("layer %d: %s %s %v, shipped %s %s %v", i, l.Name, l.Type, l.Inputs, s.Name, s.Type, s.Inputs)
		}
		if l.Type == "deconv" && (l.Options.Bool("learn") || l.Options.String("init") != "bilinear" || l.Options.Bool("bias")) {
			t.Errorf("%s: learn %v init %s bias %v; want frozen bilinear without bias", l.Name, l.Options.Bool("learn"), l.Options.String("init"), l.Options.Bool("bias"))
		}
	}
	o := exp.Optim
	if o.LR != 1e-14 || o.Momentum != 0.99 || o.WeightDecay != 0.0005 || o.BiasLRMult != 2 || o.BiasDecayMult != 0 {
		t.Errorf("optim %+v; want FCN's lr 1e-14, momentum 0.99, decay 5e-4, bias ×2 lr, no decay", o)
	}
	if exp.Train.Steps != 100000 || exp.Train.IterSize != 1 || exp.Train.BatchSize != 1 || exp.Schedule.Policy != "fixed" {
		t.Errorf("train %+v schedule %+v", exp.Train, exp.Schedule)
	}
	if exp.Loss.Normalize != "sum" || exp.Loss.IgnoreLabel != 255 {
		t.Errorf("loss %+v; want sum, ignore 255", exp.Loss)
	}
	if !slices.ContainsFunc(res.Notes, func(n string) bool { return strings.Contains(n, "Python data layer") }) {
		t.Errorf("no note on the Python data layer in %q", res.Notes)
	}
}

// sameGraph compares two experiments' models: layers, types, inputs, every option's
// resolved value (auto crop offsets as the graph's numbers) and parameter shapes.
func sameGraph(t *testing.T, a, b *configs.Experiment, h, w int) {
	t.Helper()
	ga, err := train.BuildModel(a, 1, h, w, tensor.Float32)
	if err != nil {
		t.Fatal(err)
	}
	gb, err := train.BuildModel(b, 1, h, w, tensor.Float32)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Model.Layers) != len(b.Model.Layers) {
		t.Fatalf("%d layers, back %d", len(a.Model.Layers), len(b.Model.Layers))
	}
	for i, la := range a.Model.Layers {
		lb := b.Model.Layers[i]
		if la.Name != lb.Name || la.Type != lb.Type || !slices.Equal(la.Inputs, lb.Inputs) {
			t.Errorf("layer %d: %s %s %v, back %s %s %v", i, la.Name, la.Type, la.Inputs, lb.Name, lb.Type, lb.Inputs)
			continue
		}
		for _, key := range la.Options.Type().OptionKeys() {
			va, _ := la.Options.Value(key)
			vb, _ := lb.Options.Value(key)
			switch x := va.(type) {
			case layers.Channels:
				va, vb = x.Count(a.Model.Classes), vb.(layers.Channels).Count(b.Model.Classes)
			case layers.Offset:
				if x.Auto {
					h, w, _ := ga.CropOffset(la.Name)
					va = layers.Offset{HW: [2]int{h, w}}
				}
			}
			if key == "mode" && va == "" {
				continue
			}
			if !equalValue(va, vb) {
				t.Errorf("layer %s: %s = %v, back %v", la.Name, key, va, vb)
			}
		}
	}
	sa, sb := train.ModelShapes(ga), train.ModelShapes(gb)
	if len(sa) != len(sb) {
		t.Errorf("%d parameters, back %d", len(sa), len(sb))
	}
	for n, s := range sa {
		if !slices.Equal(s, sb[n]) {
			t.Errorf("%s: shape %v, back %v", n, s, sb[n])
		}
	}
}

func equalValue(a, b any) bool {
	switch x := a.(type) {
	case []float64:
		y, _ := b.([]float64)
		return slices.Equal(x, y)
	case float64:
		y, _ := b.(float64)
		return x == y || math.Abs(x-y) <= 1e-7*math.Abs(x)
	}
	return a == b
}

// Every shipped experiment exported as prototxt imports back to the same graph.
func TestExportImportRoundTripShipped(t *testing.T) {
	for _, name := range configs.Names() {
		t.Run(name, func(t *testing.T) {
			exp, err := configs.LoadModel(name, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			h, w := 224, 224
			net, err := Export(exp, 1, h, w)
			if err != nil {
				t.Fatal(err)
			}
			text, err := MarshalText(net)
			if err != nil {
				t.Fatal(err)
			}
			parsed, err := ParseNetText(name+".prototxt", text)
			if err != nil {
				t.Fatal(err)
			}
			res, err := Import(Files{Net: name + ".prototxt"}, parsed, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			back := res.Experiment
			sameGraph(t, exp, back, h, w)
			if back.Loss.Normalize != exp.Loss.Normalize || back.Loss.IgnoreLabel != exp.Loss.IgnoreLabel {
				t.Errorf("loss %+v, back %+v", exp.Loss, back.Loss)
			}
			if back.Optim.BiasLRMult != exp.Optim.BiasLRMult || back.Optim.BiasDecayMult != exp.Optim.BiasDecayMult {
				t.Errorf("bias multipliers %v/%v, back %v/%v", exp.Optim.BiasLRMult, exp.Optim.BiasDecayMult, back.Optim.BiasLRMult, back.Optim.BiasDecayMult)
			}
		})
	}
}

// tinyNet is a small net: conv 3×3 pad 1 → ReLU → max pool 3×3 stride 1 pad 1 → 1×1 score conv.
const tinyNet = `name: "tiny"
layer { name: "data" type: "Input" top: "data" top: "label"
  input_param { shape { dim: 1 dim: 3 dim: 5 dim: 5 } shape { dim: 1 dim: 1 dim: 5 dim: 5 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param { num_output: 2 kernel_size: 3 pad: 1 weight_filler { type: "gaussian" std: 0.01 } } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1" pooling_param { pool: MAX kernel_size: 3 stride: 1 pad: 1 } }
layer { name: "score" type: "Convolution" bottom: "pool1" top: "score"
  convolution_param { num_output: 2 kernel_size: 1 weight_filler { type: "xavier" } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "score" bottom: "label" }
`

func blob(shape []int64, data []float32) *caffepb.BlobProto {
	return &caffepb.BlobProto{Shape: &caffepb.BlobShape{Dim: shape}, Data: data}
}

// legacyBlob has the num/channels/height/width shape of old caffemodels.
func legacyBlob(n, c, h, w int32, data []float32) *caffepb.BlobProto {
	return &caffepb.BlobProto{Num: proto.Int32(n), Channels: proto.Int32(c), Height: proto.Int32(h), Width: proto.Int32(w), Data: data}
}

func ramp(n int, scale, shift float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32((i*7)%11-5)*scale + shift
	}
	return v
}

// tinyModel is a caffemodel of tinyNet; the score layer uses legacy blob shapes.
func tinyModel() *caffepb.NetParameter {
	return &caffepb.NetParameter{Name: proto.String("tiny"), Layer: []*caffepb.LayerParameter{
		{Name: proto.String("conv1"), Type: proto.String("Convolution"),
			Blobs: []*caffepb.BlobProto{blob([]int64{2, 3, 3, 3}, ramp(54, 0.1, 0)), blob([]int64{2}, []float32{0.05, -0.1})}},
		{Name: proto.String("score"), Type: proto.String("Convolution"),
			Blobs: []*caffepb.BlobProto{legacyBlob(2, 2, 1, 1, []float32{1, -0.5, 0.25, 2}), legacyBlob(1, 1, 1, 2, []float32{0.3, -0.2})}},
	}}
}

func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// A net imported with its weights computes what Caffe's layers compute, by hand here.
func TestImportWeightsForward(t *testing.T) {
	dir := t.TempDir()
	netPath := writeFile(t, dir, "tiny.prototxt", []byte(tinyNet))
	mb, err := proto.Marshal(tinyModel())
	if err != nil {
		t.Fatal(err)
	}
	modelPath := writeFile(t, dir, "tiny.caffemodel", mb)
	res, err := ImportFiles(Files{Net: netPath, Weights: modelPath})
	if err != nil {
		t.Fatal(err)
	}
	exp := res.Experiment
	if res.InputHW != [2]int{5, 5} || exp.Model.Classes != 2 {
		t.Fatalf("input %v, classes %d", res.InputHW, exp.Model.Classes)
	}
	if c := exp.Model.Layers[0].Options; c.String("init") != "gaussian" || c.Float("std") != 0.01 {
		t.Errorf("conv1 init %s std %v", c.String("init"), c.Float("std"))
	}
	g, err := train.BuildModel(exp, 1, 5, 5, tensor.Float32)
	if err != nil {
		t.Fatal(err)
	}
	if err := train.SetModelState(g, res.Weights); err != nil {
		t.Fatal(err)
	}
	x := ramp(75, 0.2, 0.1)
	in := tensor.New(tensor.WithShape(1, 3, 5, 5), tensor.WithBacking(slices.Clone(x)))
	lab := tensor.New(tensor.WithShape(1, 5, 5), tensor.WithBacking(make([]int32, 25)))
	if err := g.Forward(context.Background(), in, lab); err != nil {
		t.Fatal(err)
	}
	got := g.Value("score").Data().([]float32)

	// By hand: conv1 (3×3, pad 1), ReLU, 3×3 max pool (padding never wins), 1×1 conv.
	w1, b1 := ramp(54, 0.1, 0), []float64{0.05, -0.1}
	c1 := make([]float64, 2*5*5)
	for o := range 2 {
		for i := range 5 {
			for j := range 5 {
				s := b1[o]
				for c := range 3 {
					for ki := range 3 {
						for kj := range 3 {
							y, xx := i+ki-1, j+kj-1
							if y >= 0 && y < 5 && xx >= 0 && xx < 5 {
								s += float64(w1[((o*3+c)*3+ki)*3+kj]) * float64(x[(c*5+y)*5+xx])
							}
						}
					}
				}
				c1[(o*5+i)*5+j] = math.Max(s, 0)
			}
		}
	}
	p := make([]float64, 2*5*5)
	for o := range 2 {
		for i := range 5 {
			for j := range 5 {
				m := math.Inf(-1)
				for di := range 3 {
					for dj := range 3 {
						if y, xx := i+di-1, j+dj-1; y >= 0 && xx >= 0 && y < 5 && xx < 5 {
							m = math.Max(m, c1[(o*5+y)*5+xx])
						}
					}
				}
				p[(o*5+i)*5+j] = m
			}
		}
	}
	w2, b2 := []float64{1, -0.5, 0.25, 2}, []float64{0.3, -0.2}
	if len(got) != 50 {
		t.Fatalf("score has %d values, want 2×5×5", len(got))
	}
	for o := range 2 {
		for k := range 25 {
			want := b2[o] + w2[o*2]*p[k] + w2[o*2+1]*p[25+k]
			if d := math.Abs(float64(got[o*25+k]) - want); d > 1e-5 {
				t.Errorf("score[%d,%d] = %v, by hand %v", o, k, got[o*25+k], want)
			}
		}
	}
}

// ReadWeights reads old V1 caffemodels (VGG16's form): legacy shapes, InnerProduct as
// 2-D weights; BatchNorm statistics are divided by the factor, its Scale is its affine.
func TestReadWeights(t *testing.T) {
	v1 := &caffepb.NetParameter{Layers: []*caffepb.V1LayerParameter{
		{Name: proto.String("conv1_1"), Type: caffepb.V1LayerParameter_CONVOLUTION.Enum(),
			Blobs: []*caffepb.BlobProto{legacyBlob(1, 1, 3, 3, ramp(9, 1, 0)), legacyBlob(1, 1, 1, 1, []float32{0.5})}},
		{Name: proto.String("relu1_1"), Type: caffepb.V1LayerParameter_RELU.Enum()},
		{Name: proto.String("fc6"), Type: caffepb.V1LayerParameter_INNER_PRODUCT.Enum(),
			Blobs: []*caffepb.BlobProto{legacyBlob(1, 1, 4, 6, ramp(24, 1, 0)), legacyBlob(1, 1, 1, 4, ramp(4, 1, 0))}},
	}}
	bn := &caffepb.NetParameter{Layer: []*caffepb.LayerParameter{
		{Name: proto.String("bn"), Type: proto.String("BatchNorm"), Bottom: []string{"x"}, Top: []string{"x"},
			Blobs: []*caffepb.BlobProto{blob([]int64{2}, []float32{4, 8}), blob([]int64{2}, []float32{2, 6}), blob([]int64{1}, []float32{2})}},
		{Name: proto.String("bn_scale"), Type: proto.String("Scale"), Bottom: []string{"x"}, Top: []string{"x"},
			ScaleParam: &caffepb.ScaleParameter{BiasTerm: proto.Bool(true)},
			Blobs:      []*caffepb.BlobProto{blob([]int64{2}, []float32{1.5, 2.5}), blob([]int64{2}, []float32{-1, 1})}},
	}}
	for _, tc := range []struct {
		name string
		net  *caffepb.NetParameter
		want map[string][]int
		vals map[string][]float32
	}{
		{"v1", v1, map[string][]int{"conv1_1.weight": {1, 1, 3, 3}, "conv1_1.bias": {1}, "fc6.weight": {4, 6}, "fc6.bias": {4}}, nil},
		{"batchnorm", bn, map[string][]int{"bn.running_mean": {2}, "bn.running_var": {2}, "bn.weight": {2}, "bn.bias": {2}},
			map[string][]float32{"bn.running_mean": {2, 4}, "bn.running_var": {1, 3}, "bn.weight": {1.5, 2.5}, "bn.bias": {-1, 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := proto.Marshal(tc.net)
			p := writeFile(t, t.TempDir(), "m.caffemodel", b)
			ts, err := ReadWeights(p)
			if err != nil {
				t.Fatal(err)
			}
			if len(ts) != len(tc.want) {
				t.Errorf("%d tensors, want %d", len(ts), len(tc.want))
			}
			for _, x := range ts {
				if !slices.Equal(x.Shape, tc.want[x.Name]) {
					t.Errorf("%s: shape %v, want %v", x.Name, x.Shape, tc.want[x.Name])
				}
				if v, ok := tc.vals[x.Name]; ok && !slices.Equal(x.Data, v) {
					t.Errorf("%s = %v, want %v", x.Name, x.Data, v)
				}
			}
		})
	}
}

// Bad input is an error naming the file and the place; nothing panics.
func TestImportErrors(t *testing.T) {
	good, _ := proto.Marshal(tinyModel())
	bad := tinyModel()
	bad.Layer[1].Blobs[0] = blob([]int64{2, 3, 1, 1}, ramp(6, 1, 0))
	mismatch, _ := proto.Marshal(bad)
	counts := tinyModel()
	counts.Layer[0].Blobs[1] = blob([]int64{3}, []float32{1, 2})
	badCount, _ := proto.Marshal(counts)
	for _, tc := range []struct {
		name, net string
		model     []byte
		want      []string
	}{
		{"syntax", "layer { name: \"a\"\n  type: \"Convolution\n}", nil, []string{"net.prototxt:2:"}},
		{"unknown field", "layer {\n  name: \"a\"\n  colour: 3\n}", nil, []string{"net.prototxt:3:", "colour"}},
		{"unknown type", strings.Replace(tinyNet, `type: "ReLU"`, `type: "LRN"`, 1), nil, []string{"layer relu1 (LRN)", "unknown layer type"}},
		{"unmapped field", strings.Replace(tinyNet, "kernel_size: 3 pad: 1", "kernel_size: 3 pad: 1 force_nd_im2col: true", 1), nil,
			[]string{"layer conv1 (Convolution)", "convolution_param.force_nd_im2col"}},
		{"unmapped layer field", strings.Replace(tinyNet, `top: "pool1"`, `top: "pool1" dropout_param { dropout_ratio: 0.3 }`, 1), nil,
			[]string{"layer pool1 (Pooling)", "dropout_param"}},
		{"eltwise prod", strings.Replace(tinyNet, `type: "ReLU" bottom: "conv1" top: "conv1"`, `type: "Eltwise" bottom: "conv1" top: "conv1" eltwise_param { operation: PROD }`, 1), nil,
			[]string{"layer relu1 (Eltwise)", "PROD"}},
		{"truncated caffemodel", tinyNet, good[:len(good)-7], []string{"model.caffemodel", "truncated"}},
		{"not protobuf", tinyNet, []byte("\x89PNG\r\n\x1a\nthis is not a caffemodel"), []string{"model.caffemodel", "not a Caffe caffemodel"}},
		{"blob shape", tinyNet, mismatch, []string{"model.caffemodel", "layer score, blob weight", "[2 3 1 1]", "[2 2 1 1]"}},
		{"blob count", tinyNet, badCount, []string{"model.caffemodel", "layer conv1 (Convolution)", "blob 1 (bias)", "needs 3 values"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			f := Files{Net: writeFile(t, dir, "net.prototxt", []byte(tc.net))}
			if tc.model != nil {
				f.Weights = writeFile(t, dir, "model.caffemodel", tc.model)
			}
			_, err := ImportFiles(f)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// The solver's policies map onto the schedule section; others are refused by name.
func TestImportSolver(t *testing.T) {
	for _, tc := range []struct {
		text string
		want configs.Schedule
		err  string
	}{
		{`base_lr: 0.01 lr_policy: "step" gamma: 0.1 stepsize: 1000 max_iter: 5000 iter_size: 4`, configs.Schedule{Policy: "step", Gamma: 0.1, StepSize: 1000, Power: 0.9}, ""},
		{`base_lr: 0.01 lr_policy: "poly" power: 0.9 max_iter: 5000`, configs.Schedule{Policy: "poly", Power: 0.9, Gamma: 0.1}, ""},
		{`base_lr: 0.01 lr_policy: "inv"`, configs.Schedule{}, `lr_policy "inv"`},
		{`base_lr: 0.01 type: "Adam"`, configs.Schedule{}, `type "Adam"`},
	} {
		dir := t.TempDir()
		res, err := ImportFiles(Files{Net: writeFile(t, dir, "n.prototxt", []byte(tinyNet)), Solver: writeFile(t, dir, "s.prototxt", []byte(tc.text))})
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "s.prototxt") {
				t.Errorf("%s: error %v, want one naming s.prototxt and %s", tc.text, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if got := res.Experiment.Schedule; got != tc.want {
			t.Errorf("%s: schedule %+v, want %+v", tc.text, got, tc.want)
		}
		if res.Experiment.Train.Steps != 5000 {
			t.Errorf("steps %d", res.Experiment.Train.Steps)
		}
	}
}

// The at-once net's fixed pool scaling (Scale, constant filler, lr_mult 0), AVE
// pooling, a leaky ReLU and BatchNorm+Scale map to their fcn types, and come back
// through prototxt the same.
func TestImportOtherTypes(t *testing.T) {
	const net = `name: "mixed"
layer { name: "data" type: "Input" top: "data" top: "label" input_param { shape { dim: 1 dim: 3 dim: 9 dim: 9 } } }
layer { name: "scale_data" type: "Scale" bottom: "data" top: "scale_data" param { lr_mult: 0 } scale_param { filler { type: "constant" value: 0.01 } } }
layer { name: "pool" type: "Pooling" bottom: "scale_data" top: "pool" pooling_param { pool: AVE kernel_size: 3 stride: 1 pad: 1 } }
layer { name: "lrelu" type: "ReLU" bottom: "pool" top: "pool" relu_param { negative_slope: 0.2 } }
layer { name: "bn" type: "BatchNorm" bottom: "pool" top: "pool" batch_norm_param { moving_average_fraction: 0.9 } }
layer { name: "bn_scale" type: "Scale" bottom: "pool" top: "pool" scale_param { bias_term: true } }
layer { name: "score" type: "Convolution" bottom: "pool" top: "score" convolution_param { num_output: 4 kernel_size: 1 weight_filler { type: "msra" } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "score" bottom: "label" loss_param { normalization: VALID } }
`
	parsed, err := ParseNetText("mixed.prototxt", []byte(net))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Import(Files{Net: "mixed.prototxt"}, parsed, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	exp := res.Experiment
	var types []string
	for _, l := range exp.Model.Layers {
		types = append(types, l.Type)
	}
	if want := []string{"scale", "avgpool", "leaky_relu", "batchnorm", "conv"}; !slices.Equal(types, want) {
		t.Fatalf("types %v, want %v", types, want)
	}
	s := exp.Model.Layers[0].Options
	if !s.Bool("per_channel") || s.Float("value") != 0.01 || s.Bool("learn") || s.Bool("bias") {
		t.Errorf("scale: per_channel %v value %v learn %v bias %v", s.Bool("per_channel"), s.Float("value"), s.Bool("learn"), s.Bool("bias"))
	}
	if p := exp.Model.Layers[1].Options; !p.Bool("ceil") || !p.Bool("count_include_pad") || p.Pair("pad") != [2]int{1, 1} {
		t.Errorf("avgpool options %v", p.SetKeys())
	}
	if v := exp.Model.Layers[2].Options.Float("negative_slope"); v != 0.2 {
		t.Errorf("negative_slope %v", v)
	}
	if m := exp.Model.Layers[3].Options.Float("momentum"); m != 0.1 {
		t.Errorf("batchnorm momentum %v, want 1 − 0.9", m)
	}
	if exp.Loss.Normalize != "mean" || exp.Model.Classes != 4 {
		t.Errorf("loss %s, classes %d", exp.Loss.Normalize, exp.Model.Classes)
	}
	back, err := Export(exp, 1, 9, 9)
	if err != nil {
		t.Fatal(err)
	}
	text, _ := MarshalText(back)
	reparsed, err := ParseNetText("back.prototxt", text)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Import(Files{Net: "back.prototxt"}, reparsed, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	sameGraph(t, exp, again.Experiment, 9, 9)
}
