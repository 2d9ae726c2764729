package autodiff

import (
	"fmt"
	"testing"

	"gorgonia.org/tensor"
)

func TestComposeInverse(t *testing.T) {
	// compose(base, next) = (a1·a2, a1·b2 + b1), inverse (a, b) = (1/a, −b/a).
	base := coordMap{scale: [2]float64{2, 4}, shift: [2]float64{1.5, -3}}
	next := coordMap{scale: [2]float64{0.5, 0.25}, shift: [2]float64{-0.25, 2}}
	c := compose(base, next)
	want := coordMap{scale: [2]float64{1, 1}, shift: [2]float64{2*-0.25 + 1.5, 4*2 - 3}}
	if c != want {
		t.Errorf("compose = %+v, want %+v", c, want)
	}
	if got := compose(base, inverse(base)); got != identityMap {
		t.Errorf("m ∘ m⁻¹ = %+v, want identity", got)
	}
	if got := inverse(inverse(next)); got != next {
		t.Errorf("inverse(inverse(m)) = %+v, want %+v", got, next)
	}
}

func TestCropOffsetByHand(t *testing.T) {
	// conv k3 pad 100 → pool k2 s2 → deconv k4 s2, cropped to the data.
	// Maps (input ↦ output coordinates, Caffe's coord_map):
	//   conv   scale 1,   shift (100 − 1)/1        = 99
	//   pool   scale 1/2, shift (0 − 1/2)/2        = −1/4
	//   deconv scale 2,   shift (4 − 1)/2 − 0      = 3/2
	// Walking back from the deconv output: through the deconv (2, 3/2), the pool
	// 2·(−1/4) + 3/2 = 1, scale 1; the conv 1·99 + 1 = 100: data ↦ up is x + 100, so
	// the crop takes rows and columns from 100. Sizes agree: 20 → 218 → 109 → 220 and
	// 220 − 20 = 2·100 (symmetric).
	g, err := Build([]InputSpec{data(1, 3, 20, 20)}, []Node{
		{Name: "conv", Layer: &geom{kind: "conv", k: 3, s: 1, p: 100}},
		{Name: "pool", Layer: &geom{kind: "pool", k: 2, s: 2}},
		{Name: "up", Layer: &geom{kind: "deconv", k: 4, s: 2}},
		{Name: "crop", Layer: &cropLayer{auto: true}, Inputs: []string{"up", "data"}},
	}, tensor.Float64)
	if err != nil {
		t.Fatal(err)
	}
	if got := g.Shape("up"); !sameShape(got, tensor.Shape{1, 3, 220, 220}) {
		t.Errorf("up is %v, want 1×3×220×220", got)
	}
	if h, w, ok := g.CropOffset("crop"); !ok || h != 100 || w != 100 {
		t.Errorf("offset %d,%d, want 100,100", h, w)
	}
	if got := g.Shape("crop"); !sameShape(got, tensor.Shape{1, 3, 20, 20}) {
		t.Errorf("crop is %v, want 1×3×20×20", got)
	}
	if _, _, ok := g.CropOffset("pool"); ok {
		t.Error("pool reported as a crop")
	}
}

// vgg builds the VGG16 trunk of the FCN reference nets (conv1_1 padded by 100, Caffe's
// ceil-mode pooling, fc6 as a 7×7 convolution) with shape-only layers.
func vgg() []Node {
	var nodes []Node
	conv := func(name string, k, p int) {
		nodes = append(nodes, Node{Name: name, Layer: &geom{kind: "conv", k: k, s: 1, p: p}},
			Node{Name: "relu" + name[4:], Layer: &squareLayer{}})
	}
	blocks := []int{2, 2, 3, 3, 3}
	for b, n := range blocks {
		for i := 1; i <= n; i++ {
			p := 1
			if b == 0 && i == 1 {
				p = 100
			}
			conv(fmt.Sprintf("conv%d_%d", b+1, i), 3, p)
		}
		nodes = append(nodes, Node{Name: fmt.Sprintf("pool%d", b+1), Layer: &geom{kind: "pool", k: 2, s: 2}})
	}
	conv("conv_fc6", 7, 0)
	conv("conv_fc7", 1, 0)
	return append(nodes, Node{Name: "score_fr", Layer: &geom{kind: "conv", k: 1, s: 1, outC: 21}})
}

func deconv(name string, k, s int, inputs ...string) Node {
	return Node{Name: name, Layer: &geom{kind: "deconv", k: k, s: s}, Inputs: inputs}
}

func score(name, input string) Node {
	return Node{Name: name, Layer: &geom{kind: "conv", k: 1, s: 1, outC: 21}, Inputs: []string{input}}
}

func crop(name, from, to string) Node {
	return Node{Name: name, Layer: &cropLayer{auto: true}, Inputs: []string{from, to}}
}

func sum(name string, inputs ...string) Node {
	return Node{Name: name, Layer: &addLayer{}, Inputs: inputs}
}

// The reference offsets are those of the FCN reference implementation's prototxts
// (voc-fcn32s/16s/8s train.prototxt crop layers), at 500×500, the size PASCAL images
// are padded to.
func TestFCNReferenceOffsets(t *testing.T) {
	fcn32 := append(vgg(), deconv("upscore", 64, 32), crop("score", "upscore", "data"))
	fcn16 := append(vgg(),
		deconv("upscore2", 4, 2),
		score("score_pool4", "pool4"),
		crop("score_pool4c", "score_pool4", "upscore2"),
		sum("fuse_pool4", "upscore2", "score_pool4c"),
		deconv("upscore16", 32, 16),
		crop("score", "upscore16", "data"))
	fcn8 := append(vgg(),
		deconv("upscore2", 4, 2),
		score("score_pool4", "pool4"),
		crop("score_pool4c", "score_pool4", "upscore2"),
		sum("fuse_pool4", "upscore2", "score_pool4c"),
		deconv("upscore_pool4", 4, 2),
		score("score_pool3", "pool3"),
		crop("score_pool3c", "score_pool3", "upscore_pool4"),
		sum("fuse_pool3", "upscore_pool4", "score_pool3c"),
		deconv("upscore8", 16, 8),
		crop("score", "upscore8", "data"))
	tests := []struct {
		name  string
		nodes []Node
		want  map[string]int
	}{
		{"fcn32s", fcn32, map[string]int{"score": 19}},
		{"fcn16s", fcn16, map[string]int{"score_pool4c": 5, "score": 27}},
		{"fcn8s", fcn8, map[string]int{"score_pool4c": 5, "score_pool3c": 9, "score": 31}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, err := Build([]InputSpec{data(1, 3, 500, 500)}, tc.nodes, tensor.Float64)
			if err != nil {
				t.Fatal(err)
			}
			for name, want := range tc.want {
				if h, w, ok := g.CropOffset(name); !ok || h != want || w != want {
					t.Errorf("%s: offset %d,%d, want %d", name, h, w, want)
				}
			}
			if got := g.Shape("score"); !sameShape(got, tensor.Shape{1, 21, 500, 500}) {
				t.Errorf("output %v, want 1×21×500×500", got)
			}
			// The offsets do not depend on the image size; the graph keeps them.
			if err := g.Reshape(tensor.Shape{1, 3, 375, 263}); err != nil {
				t.Fatal(err)
			}
			if got := g.Shape("score"); !sameShape(got, tensor.Shape{1, 21, 375, 263}) {
				t.Errorf("output %v, want 1×21×375×263", got)
			}
			for name, want := range tc.want {
				if h, w, _ := g.CropOffset(name); h != want || w != want {
					t.Errorf("after reshape %s: offset %d,%d, want %d", name, h, w, want)
				}
			}
		})
	}
}

func TestCropWalksOnlyFirstInput(t *testing.T) {
	// c1 crops big (the data padded by 1 then 2) back to the data: offset 3.
	// c2 crops big2 (the data padded by 5) to c1, whose own map is (1, −3): offset 5.
	// c4 crops big to the size of half (the data subsampled) at a fixed 1,2; c3 crops
	// big2 to c4. Walking back from c4, Caffe follows only the cropped input (big): the
	// data is reached with scale 1 and c4's origin sits at data (−2, −1), i.e. big2
	// (3, 4). Following c4's second input too would reach the data first through half
	// (one layer, not two), with scale 1/2, and fail.
	g, err := Build([]InputSpec{data(1, 1, 8, 8)}, []Node{
		{Name: "big_a", Layer: &geom{kind: "conv", k: 1, s: 1, p: 1}, Inputs: []string{"data"}},
		{Name: "big", Layer: &geom{kind: "conv", k: 1, s: 1, p: 2}},
		crop("c1", "big", "data"),
		{Name: "big2", Layer: &geom{kind: "conv", k: 1, s: 1, p: 5}, Inputs: []string{"data"}},
		crop("c2", "big2", "c1"),
		{Name: "half", Layer: &subsample{s: 2}, Inputs: []string{"data"}},
		{Name: "c4", Layer: &cropLayer{off: [2]int{1, 2}}, Inputs: []string{"big", "half"}},
		crop("c3", "big2", "c4"),
	}, tensor.Float64)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][2]int{"c1": {3, 3}, "c2": {5, 5}, "c4": {1, 2}, "c3": {3, 4}} {
		if h, w, _ := g.CropOffset(name); h != want[0] || w != want[1] {
			t.Errorf("%s: offset %d,%d, want %v", name, h, w, want)
		}
	}
}
