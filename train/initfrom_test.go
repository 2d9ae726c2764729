package train

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fcn-dev/fcn/checkpoints"
	"github.com/fcn-dev/fcn/configs"
	"github.com/fcn-dev/fcn/interop/initmap"
	"gorgonia.org/tensor"
)

const torchData = "../interop/torch/testdata"

// readNpy reads a little-endian float32 C-order .npy file (as make_fixtures.py writes).
func readNpy(t *testing.T, path string) []float32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 10 || string(b[:6]) != "\x93NUMPY" || b[6] != 1 {
		t.Fatalf("%s: not a version 1 .npy file", path)
	}
	hl := int(binary.LittleEndian.Uint16(b[8:10]))
	header := string(b[10 : 10+hl])
	if !strings.Contains(header, "'<f4'") || !strings.Contains(header, "'fortran_order': False") {
		t.Fatalf("%s: header %s, want <f4 in C order", path, header)
	}
	data := b[10+hl:]
	out := make([]float32, len(data)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
	}
	return out
}

// TestTorchvisionVGG16Forward: torchvision's narrowed VGG16 and VGG16-BN, transplanted by
// the built-in maps into the same nets written as fcn layers, give torchvision's logits
// at the single output position of a 224×224 input. fc8 (dropped by the built-in map) goes
// into score_fr through a user map, loaded second with --init-from-partial.
func TestTorchvisionVGG16Forward(t *testing.T) {
	x := readNpy(t, filepath.Join(torchData, "input.npy"))
	for _, tc := range []struct{ net, mapName string }{
		{"vgg16n", "torchvision-vgg16"},
		{"vgg16bn_n", "torchvision-vgg16-bn"},
	} {
		t.Run(tc.net, func(t *testing.T) {
			exp, err := configs.Load(filepath.Join(torchData, tc.net+"_fcn.yaml"), nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			g, err := BuildModel(exp, 1, 224, 224, tensor.Float32)
			if err != nil {
				t.Fatal(err)
			}
			g.Init(rand.New(rand.NewPCG(1, 2)))
			pth := filepath.Join(torchData, tc.net+".pth")
			var out bytes.Buffer
			// Strict: score_fr is not in the map's reach, so the load is refused, naming it.
			err = LoadInit(g, pth, tc.mapName, false, nil, &out)
			if err == nil || !strings.Contains(err.Error(), "missing from the file (2): score_fr.bias, score_fr.weight") ||
				!strings.Contains(err.Error(), "classifier.6.weight (fc8") {
				t.Fatalf("strict load without score_fr: error %v, want score_fr missing and fc8 dropped", err)
			}
			if err := LoadInit(g, pth, tc.mapName, true, nil, &out); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), "fc6.weight [64 32 7 7]") {
				t.Errorf("report does not show fc6's reshape:\n%s", out.String())
			}
			if tc.mapName == "torchvision-vgg16-bn" && !strings.Contains(out.String(), "features.1.num_batches_tracked (batch norm's step count") {
				t.Errorf("report does not account for num_batches_tracked:\n%s", out.String())
			}
			if err := LoadInit(g, pth, filepath.Join(torchData, "fc8_map.yaml"), true, nil, &out); err != nil {
				t.Fatal(err)
			}
			g.SetTraining(false)
			in := tensor.New(tensor.WithShape(1, 3, 224, 224), tensor.WithBacking(x))
			lab := tensor.New(tensor.WithShape(1, 224, 224), tensor.WithBacking(make([]int32, 224*224)))
			if err := g.Forward(context.Background(), in, lab); err != nil {
				t.Fatal(err)
			}
			got := g.Value("score_fr").Data().([]float32)
			want := readNpy(t, filepath.Join(torchData, tc.net+"_logits.npy"))
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
				t.Errorf("max|fcn - torchvision| = %g > 1e-4·%g\nfcn   %v\ntorch %v", maxD, maxB, got, want)
			}
		})
	}
}

// TestVGG16MapsFitShippedNets: full-size VGG16 tensors under torchvision's and Caffe's
// names and shapes (fc6 a 4096×25088 Linear / InnerProduct, fc7 4096×4096, conv weights
// as fcn's) land on every trunk tensor of the shipped fcn32s and fcn8s; only the score and
// upsampling layers stay missing.
func TestVGG16MapsFitShippedNets(t *testing.T) {
	fileShape := map[string][]int{"fc6.weight": {4096, 25088}, "fc7.weight": {4096, 4096}}
	for _, net := range []string{"fcn32s", "fcn8s"} { // fcn16s has the same trunk
		exp, err := configs.Load(net, []string{"data.root=unused"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		g, err := BuildModel(exp, 1, 32, 32, tensor.Float32)
		if err != nil {
			t.Fatal(err)
		}
		shapes := ModelShapes(g)
		for _, mapName := range []string{"torchvision-vgg16", "caffe-vgg16"} {
			m, err := initmap.Load(mapName)
			if err != nil {
				t.Fatal(err)
			}
			var ts []checkpoints.Tensor
			for _, e := range m.Entries {
				if e.Drop {
					continue
				}
				s := shapes[e.To]
				if fs, ok := fileShape[e.To]; ok {
					s = fs
				}
				n := 1
				for _, d := range s {
					n *= d
				}
				ts = append(ts, checkpoints.Tensor{Name: e.From, Shape: s, Data: make([]float32, n)})
			}
			r, err := initmap.Apply(m, ts, nil, shapes)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := checkpoints.MatchWeights(r.Tensors, shapes, checkpoints.Partial)
			if err != nil || len(rep.Loaded) != 30 || len(rep.Unexpected)+len(rep.ShapeMismatch) > 0 {
				t.Errorf("%s with %s: %v\n%s", net, mapName, err, rep)
			}
			for _, name := range rep.Missing {
				if !strings.HasPrefix(name, "score_") && !strings.HasPrefix(name, "upscore") {
					t.Errorf("%s with %s: trunk tensor %s missing", net, mapName, name)
				}
			}
		}
	}
}
