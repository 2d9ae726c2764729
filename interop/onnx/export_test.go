package onnx

import (
	"strings"
	"testing"

	"github.com/fcn-dev/fcn/configs"
	"github.com/fcn-dev/fcn/interop/onnx/onnxpb"
	"google.golang.org/protobuf/proto"
)

func exportShipped(t *testing.T, name string, opt Options) *onnxpb.ModelProto {
	t.Helper()
	exp, err := configs.LoadModel(name, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	narrow(t, exp)
	m, err := BuildModel(exp, "", 64, 64)
	if err != nil {
		t.Fatal(err)
	}
	model, err := m.Export(opt)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return model
}

// The exported graphs pass the structural check, survive an encode/decode round trip,
// keep fcn's tensor names, drop the loss and dropout, and add ArgMax with labels.
func TestExportStructure(t *testing.T) {
	for _, name := range configs.Names() {
		model := exportShipped(t, name, Options{Labels: true})
		b, err := Marshal(model)
		if err != nil {
			t.Fatal(err)
		}
		var back onnxpb.ModelProto
		if err := proto.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if err := Check(&back); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if back.OpsetImport[0].Version != DefaultOpset {
			t.Errorf("%s: opset %d", name, back.OpsetImport[0].Version)
		}
		inits := map[string]bool{}
		for _, in := range back.Graph.Initializer {
			inits[in.Name] = true
		}
		if !inits["conv1_1.weight"] {
			t.Errorf("%s: no initializer conv1_1.weight", name)
		}
		ops := map[string]int{}
		for _, n := range back.Graph.Node {
			ops[n.OpType]++
		}
		if ops["Dropout"] != 0 || ops["SoftmaxCrossEntropyLoss"] != 0 || ops["ArgMax"] != 1 {
			t.Errorf("%s: ops %v", name, ops)
		}
		if outs := back.Graph.Output; len(outs) != 2 || outs[1].Name != LabelsName {
			t.Errorf("%s: outputs %v", name, outs)
		}
		dims := back.Graph.Input[0].Type.GetTensorType().Shape.Dim
		if dims[0].GetDimParam() != "N" || dims[2].GetDimParam() != "H" || dims[3].GetDimParam() != "W" {
			t.Errorf("%s: input dims %v are not symbolic", name, dims)
		}
	}
}

// Check rejects what a broken exporter could write.
func TestCheckRejects(t *testing.T) {
	for _, tc := range []struct {
		name   string
		break_ func(g *onnxpb.GraphProto)
		want   string
	}{
		{"undefined input", func(g *onnxpb.GraphProto) { g.Node[0].Input[0] = "nowhere" }, `"nowhere" is not defined`},
		{"node before its input", func(g *onnxpb.GraphProto) { g.Node[0], g.Node[1] = g.Node[1], g.Node[0] }, "is not defined before it"},
		{"duplicate output", func(g *onnxpb.GraphProto) { g.Node[1].Output[0] = g.Node[0].Output[0] }, "defined by"},
		{"missing graph output", func(g *onnxpb.GraphProto) { g.Output[0].Name = "ghost" }, `"ghost" is not produced`},
		{"kernel shape", func(g *onnxpb.GraphProto) {
			for _, n := range g.Node {
				if n.OpType == "Conv" {
					for _, a := range n.Attribute {
						if a.Name == "kernel_shape" {
							a.Ints = []int64{5, 5}
						}
					}
					return
				}
			}
		}, "kernel_shape"},
		{"initializer size", func(g *onnxpb.GraphProto) {
			for _, in := range g.Initializer {
				if in.Name == "conv1_1.weight" {
					in.RawData = in.RawData[4:]
				}
			}
		}, "conv1_1.weight"},
		{"batchnorm lengths", func(g *onnxpb.GraphProto) {
			for _, in := range g.Initializer {
				if in.Name == "bn1_1.running_var" {
					in.Dims = []int64{in.Dims[0] / 2, 2}
				}
			}
		}, "bn1_1.running_var"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			model := exportShipped(t, "default", Options{})
			tc.break_(model.Graph)
			err := Check(model)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestExportRejectsOpset(t *testing.T) {
	exp, err := configs.LoadModel("default", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := BuildModel(exp, "", 32, 32)
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range []int{MinOpset - 1, MaxOpset + 1} {
		if _, err := m.Export(Options{Opset: op}); err == nil || !strings.Contains(err.Error(), "opset") {
			t.Errorf("opset %d: %v", op, err)
		}
	}
}

// The .npy writer's bytes, checked against the format by hand: magic, version 1.0,
// header length, a header padded to a multiple of 64 bytes, then little-endian float32.
func TestNPY(t *testing.T) {
	b, err := EncodeNPY([]int{2, 3}, []float32{1, 2, 3, 4, 5, -0.5})
	if err != nil {
		t.Fatal(err)
	}
	// 10 bytes before the dict, 118 of dict and padding: 128 in all, a multiple of 64.
	if string(b[:10]) != "\x93NUMPY\x01\x00\x76\x00" || len(b) != 128+24 || b[127] != '\n' {
		t.Fatalf("header %q", b[:min(len(b), 128)])
	}
	if hdr := string(b[10:128]); !strings.HasPrefix(hdr, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }") {
		t.Errorf("header %q", hdr)
	}
	if got := b[128+20:]; string(got) != "\x00\x00\x00\xbf" { // −0.5 = 0xbf000000
		t.Errorf("last value bytes % x", got)
	}
	shape, data, err := DecodeNPY(b)
	if err != nil || len(shape) != 2 || shape[1] != 3 || data[5] != -0.5 {
		t.Errorf("decode: %v %v %v", shape, data, err)
	}
	one, _ := EncodeNPY([]int{3}, []float32{1, 2, 3})
	if !strings.Contains(string(one[:min(len(one), 128)]), "'shape': (3,)") {
		t.Errorf("1-d header %q", one[:min(len(one), 128)])
	}
	if _, err := EncodeNPY([]int{2, 2}, []float32{1}); err == nil {
		t.Error("want an error for 1 value of shape 2×2")
	}
	if _, _, err := DecodeNPY(b[:70]); err == nil {
		t.Error("want an error for truncated data")
	}
}
