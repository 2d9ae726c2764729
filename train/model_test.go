package train

import (
	"context"
	"testing"

	"github.com/fcn-dev/fcn/configs"
	"gorgonia.org/tensor"
)

// TestBuildShippedModels builds every shipped experiment's network at a size it accepts
// and checks the scores come out at the image size with one channel per class.
func TestBuildShippedModels(t *testing.T) {
	sizes := map[string]int{"default": 64, "fcn16s-tiny": 128, "fcn32s": 64, "fcn16s": 64, "fcn8s": 64, "fcn8s-atonce": 64}
	for _, name := range configs.Names() {
		t.Run(name, func(t *testing.T) {
			exp, err := configs.LoadModel(name, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			size := sizes[name]
			if size == 0 {
				size = 64
			}
			g, err := BuildModel(exp, 1, size, size, tensor.Float32)
			if err != nil {
				t.Fatal(err)
			}
			got := g.Shape(ScoresNode(exp))
			want := tensor.Shape{1, exp.Model.Classes, size, size}
			if !got.Eq(want) {
				t.Fatalf("scores shape %v, want %v", got, want)
			}
		})
	}
}

// TestResizeConvMatchesDeconvGeometry swaps every deconv of the default model for
// resize_conv and checks that the network still builds with the same output size,
// which needs equal sizes and crop offsets at every fuse.
func TestResizeConvMatchesDeconvGeometry(t *testing.T) {
	for _, mode := range configs.UpsampleModes {
		exp, err := configs.Load("default", []string{"model.upsample=" + mode}, nil)
		if err != nil {
			t.Fatal(err)
		}
		g, err := BuildModel(exp, 2, 64, 64, tensor.Float32)
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		g.Init(newRand(1))
		x := tensor.New(tensor.WithShape(2, 3, 64, 64), tensor.Of(tensor.Float32))
		y := tensor.New(tensor.WithShape(2, 64, 64), tensor.Of(tensor.Int32))
		if err := g.Forward(context.Background(), x, y); err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
	}
}
