package onnx

import (
	"context"
	"encoding/json"
	"flag"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/fcn-dev/fcn/checkpoints"
	"github.com/fcn-dev/fcn/configs"
	"github.com/fcn-dev/fcn/layers"
	"github.com/fcn-dev/fcn/train"
)

var onnxFull = flag.Bool("onnx-full", false, "run the VGG nets at full width in the ONNX Runtime test (slow)")

// ortModules finds the node_modules folder holding onnxruntime-node: $FCN_ONNXRUNTIME_NODE,
// else .cache/onnxruntime-node/node_modules at the repository root (what .ci/run installs).
func ortModules(t *testing.T) (node, modules string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not found: install Node.js and `npm install --ignore-scripts --prefix .cache/onnxruntime-node onnxruntime-node` (as .ci/run does) to run the ONNX Runtime test")
	}
	modules = os.Getenv("FCN_ONNXRUNTIME_NODE")
	if modules == "" {
		root, _ := filepath.Abs(filepath.Join("..", ".."))
		modules = filepath.Join(root, ".cache", "onnxruntime-node", "node_modules")
	}
	if _, err := os.Stat(filepath.Join(modules, "onnxruntime-node", "package.json")); err != nil {
		t.Skipf("onnxruntime-node not found in %s: run `npm install --ignore-scripts --prefix .cache/onnxruntime-node onnxruntime-node` at the repository root (as .ci/run does), or set FCN_ONNXRUNTIME_NODE to a node_modules folder holding it", modules)
	}
	return node, modules
}

// narrow divides every fixed channel count by 16 (at least 2): the VGG nets' copies
// that keep every layer and geometry but run in milliseconds.
func narrow(t *testing.T, exp *configs.Experiment) {
	for i := range exp.Model.Layers {
		o := &exp.Model.Layers[i].Options
		if !o.Has("out") {
			continue
		}
		c := o.Channels("out")
		if c.Classes {
			continue
		}
		if err := o.Set("out", layers.Channels{N: max(2, c.N/16)}); err != nil {
			t.Fatal(err)
		}
	}
}

// randomizeState replaces the tensors an initialisation leaves constant (zero score
// layers, biases, batchnorm statistics, slopes) by random values, so that every
// parameter shows in the output; other weights keep their initialisation.
func randomizeState(ts []checkpoints.Tensor, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 7))
	u := func(lo, hi float64) float32 { return float32(lo + (hi-lo)*r.Float64()) }
	for _, t := range ts {
		constant := true
		for _, v := range t.Data {
			constant = constant && v == t.Data[0]
		}
		if !constant {
			continue
		}
		fan := 1
		for _, d := range t.Shape[min(1, len(t.Shape)):] {
			fan *= d
		}
		for i := range t.Data {
			switch {
			case strings.HasSuffix(t.Name, ".running_var"), len(t.Shape) == 1 && strings.HasSuffix(t.Name, ".weight"):
				t.Data[i] = u(0.5, 1.5)
			case len(t.Shape) >= 2:
				s := 1 / math.Sqrt(float64(fan))
				t.Data[i] = u(-s, s)
			default:
				t.Data[i] = u(-0.5, 0.5)
			}
		}
	}
}

type ortCase struct {
	name   string
	exp    *configs.Experiment
	export [2]int // the size the export is built at
	check  [2]int // the size both runtimes run: another one, as the sizes are symbolic
}

func parseExp(t *testing.T, name, layersYAML string, classes int) *configs.Experiment {
	t.Helper()
	text := "name: " + name + "\ndata: {format: synthetic}\nmodel:\n  classes: " + strconv.Itoa(classes) + "\n  layers:\n" + layersYAML
	exp, err := configs.Parse(name+".yaml", name, []byte(text), nil, nil)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return exp
}

// The exported model, run in ONNX Runtime, gives fcn's own scores (max|a−b| ≤
// 1e-4·max|b|) for every shipped config and for the layer options the configs do not use.
func TestONNXRuntimeMatchesFCN(t *testing.T) {
	node, modules := ortModules(t)
	var cases []ortCase
	for _, name := range configs.Names() {
		exp, err := configs.LoadModel(name, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !*onnxFull {
			narrow(t, exp)
		}
		sz := [2]int{45, 61} // pad 100 nets take any size
		if name == "default" || strings.Contains(name, "tiny") {
			sz = [2]int{96, 64}
		}
		cases = append(cases, ortCase{name, exp, [2]int{64, 64}, sz})
	}
	l := func(s ...string) string { return "    - " + strings.Join(s, "\n    - ") + "\n" }
	cases = append(cases,
		ortCase{"deconv_output_padding_groups_dilation", parseExp(t, "deconv_opts", l(
			"{name: c1, type: conv, out: 4, kernel: 3, pad: 1, dilation: 2, stride: 2}",
			"{name: d1, type: deconv, out: 4, kernel: 3, stride: 2, output_padding: 1, groups: 2, init: he}",
			"{name: d2, type: deconv, out: 6, kernel: 3, dilation: 2, pad: 1, output_padding: 1, groups: 2, init: he}",
			"{name: d3, type: deconv, out: 3, kernel: 4, stride: 3, same: true, init: he}",
			"{name: d4, type: deconv, out: 3, kernel: 1, stride: 2, same: true, init: he}",
			"{name: out, type: crop, inputs: [d4, data], offset: 0}",
		), 3), [2]int{12, 10}, [2]int{9, 13}},
		ortCase{"pool_ceil_prelu_bn_sum_dropout", parseExp(t, "misc", l(
			"{name: c1, type: conv, out: 4, kernel: 3}",
			"{name: bn1, type: batchnorm}",
			"{name: p1, type: prelu}",
			"{name: pool1, type: maxpool, kernel: 3, stride: 2, pad: 1, ceil: true}",
			"{name: drop1, type: dropout, p: 0.5}",
			"{name: c2, type: conv, out: 4, kernel: 1}",
			"{name: p2, type: prelu, shared: true}",
			"{name: s1, type: sum, inputs: [drop1, p2], coeffs: [1, 0.01]}",
			"{name: pool2, type: maxpool, kernel: 2, stride: 2, ceil: true}",
			"{name: c3, type: conv, out: 2, kernel: 1}",
			"{name: up, type: deconv, out: 2, kernel: 8, stride: 4, init: he}",
			"{name: out, type: crop, inputs: [up, data], offset: [1, 0]}",
		), 2), [2]int{16, 16}, [2]int{11, 14}},
		// At 5×9 with kernel 2, stride 2, pad 1, Caffe's ceil rounding drops the last
		// window, which would start in the padding (3×5, not 4×6).
		ortCase{"maxpool_ceil_last_window_in_padding", parseExp(t, "ceil_edge", l(
			"{name: pool, type: maxpool, kernel: 2, stride: 2, pad: 1, ceil: true}",
			"{name: c1, type: conv, out: 2, kernel: 1}",
			"{name: up, type: deconv, out: 2, kernel: 4, stride: 2, init: he}",
			"{name: out, type: crop, inputs: [up, data], offset: 0}",
		), 2), [2]int{8, 8}, [2]int{5, 9}},
		ortCase{"leaky_relu_avgpool_scale", parseExp(t, "newtypes", l(
			"{name: c1, type: conv, out: 4, kernel: 3}",
			"{name: lr, type: leaky_relu, negative_slope: 0.1}",
			"{name: ap1, type: avgpool, kernel: 3, stride: 2, pad: 1, ceil: true, count_include_pad: true}",
			"{name: sc1, type: scale, per_channel: true, bias: true}",
			"{name: ap2, type: avgpool, kernel: 2, stride: 2, pad: 1, ceil: true, count_include_pad: false}",
			"{name: sc2, type: scale, per_channel: false, value: 0.01}",
			"{name: up, type: deconv, out: 2, kernel: 8, stride: 4, init: he}",
			"{name: out, type: crop, inputs: [up, data], offset: 0}",
		), 2), [2]int{16, 16}, [2]int{11, 14}},
		ortCase{"resize_deconv_modes_crop", parseExp(t, "upsample", l(
			"{name: c1, type: conv, out: 3, kernel: 3, stride: 2}",
			"{name: r1, type: resize, factor: 2, mode: bilinear}",
			"{name: r2, type: resize, factor: [3, 2], mode: nearest}",
			"{name: u1, type: deconv, out: 3, kernel: 4, stride: 2, mode: bilinear}",
			"{name: u2, type: deconv, out: 3, kernel: 4, stride: 2, pad: 1, mode: resize_conv}",
			"{name: cr2, type: crop, inputs: [u2, r2], offset: [3, 1]}",
			"{name: u3, type: deconv, out: 3, kernel: 4, stride: 2, mode: frozen}",
			"{name: cr, type: crop, inputs: [u3, data], offset: [2, 5]}",
		), 3), [2]int{15, 17}, [2]int{13, 11}},
	)
	dir := t.TempDir()
	type job struct{ Model, Input, Output string }
	var jobs []job
	want := map[string][]float32{}
	wantShape := map[string][]int{}
	for _, c := range cases {
		m, err := BuildModel(c.exp, "", c.export[0], c.export[1])
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		state, err := train.ModelState(m.Graph)
		if err != nil {
			t.Fatal(err)
		}
		randomizeState(state, 3)
		if err := train.SetModelState(m.Graph, state); err != nil {
			t.Fatal(err)
		}
		model, err := m.Export(Options{})
		if err != nil {
			t.Fatalf("%s: export: %v", c.name, err)
		}
		b, err := Marshal(model)
		if err != nil {
			t.Fatal(err)
		}
		// fcn's reference at the check size, with the same weights.
		ref, err := BuildModel(c.exp, "", c.check[0], c.check[1])
		if err != nil {
			t.Fatalf("%s at %v: %v", c.name, c.check, err)
		}
		if err := train.SetModelState(ref.Graph, state); err != nil {
			t.Fatal(err)
		}
		if s := ref.Graph.Shape("pool"); c.name == "maxpool_ceil_last_window_in_padding" && (s[2] != 3 || s[3] != 5) {
			t.Fatalf("%s: pool is %v, want 3×5 (the case must hit the rounding's edge)", c.name, s)
		}
		in := SampleInput(c.check[0], c.check[1], 5)
		logits, shape, err := ref.Forward(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		want[c.name], wantShape[c.name] = logits, shape
		j := job{filepath.Join(dir, c.name+".onnx"), filepath.Join(dir, c.name+".in.npy"), filepath.Join(dir, c.name+".out.npy")}
		if err := os.WriteFile(j.Model, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := WriteNPY(j.Input, []int{1, 3, c.check[0], c.check[1]}, in); err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, j)
	}
	jb, _ := json.Marshal(jobs)
	jf := filepath.Join(dir, "jobs.json")
	if err := os.WriteFile(jf, []byte(strings.NewReplacer(`"Model"`, `"model"`, `"Input"`, `"input"`, `"Output"`, `"output"`).Replace(string(jb))), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, filepath.Join("testdata", "run.js"), jf)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("onnxruntime-node: %v\n%s", err, out)
	}
	for i, c := range cases {
		b, err := os.ReadFile(jobs[i].Output)
		if err != nil {
			t.Fatal(err)
		}
		shape, got, err := DecodeNPY(b)
		if err != nil {
			t.Fatal(err)
		}
		w := want[c.name]
		if !slices.Equal(shape, wantShape[c.name]) {
			t.Errorf("%s: ONNX Runtime gives %v, fcn %v", c.name, shape, wantShape[c.name])
			continue
		}
		var diff, scale float64
		for k := range w {
			diff = max(diff, math.Abs(float64(got[k]-w[k])))
			scale = max(scale, math.Abs(float64(w[k])))
		}
		if diff > 1e-4*scale || scale == 0 {
			t.Errorf("%s: max|onnx−fcn| = %.3g, max|fcn| = %.3g", c.name, diff, scale)
		} else {
			t.Logf("%s %v: max|onnx−fcn| = %.3g, max|fcn| = %.3g", c.name, shape, diff, scale)
		}
	}
}
