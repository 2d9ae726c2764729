package initmap

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fcn-dev/fcn/checkpoints"
	"github.com/fcn-dev/fcn/interop/torch"
)

// TestBuiltinsCoverTorchvision: the torchvision maps account for every name of the
// state_dicts torchvision itself wrote (make_fixtures.py), and name nothing else.
func TestBuiltinsCoverTorchvision(t *testing.T) {
	for _, tc := range []struct{ file, m string }{
		{"vgg16n.pth", "torchvision-vgg16"}, {"vgg16bn_n.pth", "torchvision-vgg16-bn"},
	} {
		sd, err := torch.ReadStateDict(filepath.Join("..", "torch", "testdata", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		m, err := Load(tc.m)
		if err != nil {
			t.Fatal(err)
		}
		from := map[string]bool{}
		for _, e := range m.Entries {
			from[e.From] = true
		}
		names := sd.Names()
		for _, n := range names {
			if !from[n] {
				t.Errorf("%s: %s is not in map %s", tc.file, n, tc.m)
			}
		}
		if len(names) != len(m.Entries) {
			t.Errorf("%s: %d names, map %s has %d entries", tc.file, len(names), tc.m, len(m.Entries))
		}
	}
}

func tensor(name string, shape ...int) checkpoints.Tensor {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return checkpoints.Tensor{Name: name, Shape: shape, Data: make([]float32, n)}
}

// TestApplyCaffeVGG16: Caffe's names stay, fc6/fc7's InnerProduct weights become
// convolutions of the model's shape, fc8 is dropped, and what does not fit is reported.
func TestApplyCaffeVGG16(t *testing.T) {
	m, err := Load("caffe-vgg16")
	if err != nil {
		t.Fatal(err)
	}
	ts := []checkpoints.Tensor{tensor("conv1_1.weight", 4, 3, 3, 3), tensor("fc6.weight", 8, 4*7*7), tensor("fc7.weight", 8, 9),
		tensor("fc8.weight", 10, 8), tensor("extra", 2)}
	expected := map[string][]int{"conv1_1.weight": {4, 3, 3, 3}, "fc6.weight": {8, 4, 7, 7}, "fc7.weight": {8, 8, 1, 1}}
	r, err := Apply(m, ts, []string{"n"}, expected)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]int{}
	for _, x := range r.Tensors {
		got[x.Name] = x.Shape
	}
	if !slices.Equal(got["fc6.weight"], []int{8, 4, 7, 7}) || !slices.Equal(got["fc7.weight"], []int{8, 9}) || !slices.Equal(got["extra"], []int{2}) || got["fc8.weight"] != nil {
		t.Errorf("tensors %v", got)
	}
	if r.Renamed != 3 || len(r.BadReshape) != 1 || !strings.HasPrefix(r.BadReshape[0], "fc7.weight [8 9]") {
		t.Errorf("renamed %d, bad reshape %v", r.Renamed, r.BadReshape)
	}
	if len(r.Dropped) != 2 || !strings.HasPrefix(r.Dropped[0], "fc8.weight (fc8") || !strings.HasPrefix(r.Dropped[1], "n (an integer tensor") {
		t.Errorf("dropped %v", r.Dropped)
	}
	if !strings.Contains(strings.Join(r.NotInFile, ","), "conv5_3.bias") {
		t.Errorf("not in file %v", r.NotInFile)
	}
	rep, err := checkpoints.MatchWeights(r.Tensors, expected, checkpoints.Strict)
	if err == nil || len(rep.ShapeMismatch) != 1 || len(rep.Unexpected) != 1 || rep.Unexpected[0] != "extra" {
		t.Errorf("match: %v %+v", err, rep)
	}
}

// TestLoadUserMap reads user maps and refuses bad ones naming the file and the item.
func TestLoadUserMap(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", "- {from: a.w, to: b.weight, reshape: [2, 3, 1, 1]}\n- {from: a.b, to: b.bias}\n- {from: c, drop: true}\n")
	m, err := Load(good)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Apply(m, []checkpoints.Tensor{tensor("a.w", 2, 3), tensor("a.b", 2), tensor("c", 1)}, nil, nil)
	if err != nil || len(r.Tensors) != 2 || !slices.Equal(r.Tensors[0].Shape, []int{2, 3, 1, 1}) || r.Tensors[1].Name != "b.bias" || len(r.Dropped) != 1 {
		t.Errorf("apply: %v %+v", err, r)
	}
	if _, err := Apply(m, []checkpoints.Tensor{tensor("zz", 1)}, nil, nil); err == nil || !strings.Contains(err.Error(), "none of its names is in the file") {
		t.Errorf("map of nothing in the file: %v", err)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"- {from: a}\n", "item 1 (a): to is required"},
		{"- {to: a}\n", "item 1: from is required"},
		{"- {from: a, to: b}\n- {from: c, to: d, reshape: [0]}\n", "item 2 (c): reshape [0]"},
		{"- {from: a, drop: true, to: b}\n", "drop excludes to"},
		{"from: a\n", "want a YAML list"},
		{"[]\n", "no entries"},
		{"- {from: a, to: b, resize: [1]}\n", "field resize not found"},
	} {
		p := write("bad.yaml", tc.yaml)
		if _, err := Load(p); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%q: error %v, want %q and the file", tc.yaml, err, tc.want)
		}
	}
	dup := write("dup.yaml", "- {from: a, to: b}\n- {from: c, to: b}\n")
	m, err = Load(dup)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Apply(m, nil, nil, nil); err == nil || !strings.Contains(err.Error(), `both map to "b"`) {
		t.Errorf("duplicate target: %v", err)
	}
}
