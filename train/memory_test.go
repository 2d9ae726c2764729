package train

import (
	"strings"
	"testing"

	"github.com/fcn-dev/fcn/configs"
	"gorgonia.org/tensor"
)

// TestModelMemoryMatchesBuild: the estimate, from shapes alone, names every node of the
// built graph with the shape the graph gives it and counts the parameters it allocates.
func TestModelMemoryMatchesBuild(t *testing.T) {
	load := func(name string, sets ...string) *configs.Experiment {
		e, err := configs.LoadModel(name, sets, nil)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	tests := []struct {
		exp     *configs.Experiment
		n, h, w int
	}{
		{tinyExp(t), 3, 18, 22},
		{load("default"), 2, 64, 64},
		{load("default", "model.upsample=resize_conv"), 1, 96, 64},
		{load("fcn16s-tiny"), 2, 128, 96},
	}
	for _, tc := range tests {
		m, err := ModelMemory(tc.exp, tc.n, tc.h, tc.w, true)
		if err != nil {
			t.Fatalf("%s: %v", tc.exp.Name, err)
		}
		g, err := BuildModel(tc.exp, tc.n, tc.h, tc.w, tensor.Float32)
		if err != nil {
			t.Fatal(err)
		}
		var params int64
		for _, p := range g.Params() {
			params += int64(p.Param.Value.Shape().TotalSize())
		}
		var est int64
		for _, l := range m.Layers {
			est += l.Params
			if got := g.Shape(l.Name); !got.Eq(l.Out) {
				t.Errorf("%s: %s is %v in the graph, %v in the estimate", tc.exp.Name, l.Name, got, l.Out)
			}
		}
		if est != params || len(m.Layers) != len(g.Nodes()) {
			t.Errorf("%s: estimate has %d parameters in %d nodes, the graph %d in %d", tc.exp.Name, est, len(m.Layers), params, len(g.Nodes()))
		}
		if m.Bytes <= 4*params {
			t.Errorf("%s: %d bytes cannot hold %d parameters with gradients", tc.exp.Name, m.Bytes, params)
		}
	}
	// The VGG nets are estimated without building them (134M parameters). Expected counts
	// by hand from torchvision's VGG16, 138,357,544 parameters, less its 1000-class fc8
	// (4096·1000 + 1000), plus FCN's 21-class score layers (4096·21 + 21; pool4's
	// 512·21 + 21, pool3's 256·21 + 21) and bias-free deconvs (21·21·k·k: k 4, 4 and 16 in
	// FCN-8s, 4 and 32 in FCN-16s, 64 in FCN-32s).
	for _, tc := range []struct {
		name string
		want int64
	}{{"fcn8s", 134_489_759}, {"fcn16s", 134_815_994}, {"fcn32s", 136_152_917}} {
		m, err := ModelMemory(load(tc.name), 1, 500, 375, true)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var params int64
		for _, l := range m.Layers {
			params += l.Params
		}
		if params != tc.want {
			t.Errorf("%s: %d parameters, want %d", tc.name, params, tc.want)
		}
	}
}

func TestParseFormatBytes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{{"512MB", 512e6}, {"2GiB", 2 << 30}, {"1.5G", 3 << 29}, {"1000", 1000}, {"64 KiB", 64 << 10}} {
		if got, err := ParseBytes(tc.in); err != nil || got != tc.want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "-1G", "lots", "1e30TB", "NaN"} {
		if _, err := ParseBytes(bad); err == nil {
			t.Errorf("ParseBytes(%q) accepted", bad)
		}
	}
	if got := FormatBytes(3 << 29); got != "1.5 GiB" {
		t.Errorf("FormatBytes = %q", got)
	}
	if err := CheckMemory("x", 2<<30, 1<<30, "the model 2 GiB", "lower y"); err == nil || !strings.Contains(err.Error(), "2.0 GiB") || !strings.Contains(err.Error(), "lower y") {
		t.Errorf("CheckMemory: %v", err)
	}
}
