package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/fcn-dev/fcn/layers"
)

// TestSummaryCropOffsets checks the crop offsets of the reference architectures against
// the FCN reference implementation's nets (voc-fcn*s/net.py crops, as its Caffe
// prototxts state them): FCN-8s 5, 9 and 31; FCN-16s 5 and 27; FCN-32s 19, with
// 500×500 scores for a 500×500 image.
func TestSummaryCropOffsets(t *testing.T) {
	for _, c := range []struct {
		config string
		want   []string
	}{
		{"fcn8s", []string{"score_pool4c (crops score_pool4) 5;", "score_pool3c (crops score_pool3) 9;", "score (crops upscore8) final 31\n"}},
		{"fcn16s", []string{"score_pool4c (crops score_pool4) 5;", "score (crops upscore16) final 27\n"}},
		{"fcn32s", []string{"score (crops upscore) final 19\n"}},
	} {
		t.Run(c.config, func(t *testing.T) {
			// A process of its own: building VGG at 500×500 reserves gigabytes of buffers
			// that summary never touches, but a reused test heap would zero them.
			code, stdout, stderr := execFCN(t, "summary", "--config", c.config, "--input", "500x500")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			crops := stdout[strings.Index(stdout, "crop offsets: "):]
			for _, w := range c.want {
				if !strings.Contains(crops, w) {
					t.Errorf("crop offsets lack %q:\n%s", w, crops)
				}
			}
			if !strings.Contains(stdout, "output: 1×21×500×500 (score), 500×500 for a 500×500 input") {
				t.Errorf("output line missing:\n%s", stdout)
			}
			// The table lists every layer with its output shape, parameters and MACs.
			for _, w := range []string{"layer", "MACs", "conv1_1", "1×64×698×698", "fc6", "total: "} {
				if !strings.Contains(stdout, w) {
					t.Errorf("summary lacks %q", w)
				}
			}
		})
	}
}

func TestSummaryDefaultAndErrors(t *testing.T) {
	code, stdout, stderr := runInProcess(t, "summary")
	// The default batch is the default experiment's train.batch_size, 16.
	if code != 0 || !strings.Contains(stdout, "input 16×3×64×64") || !strings.Contains(stdout, "output: 16×5×64×64") {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--input", "big"}, "want HxW"},
		{[]string{"--input", "0x5"}, "positive"},
		{[]string{"--batch", "-1"}, "--batch must be ≥ 1"},
		{[]string{"--config", "fcn9s"}, `unknown experiment "fcn9s"`},
		// The default net pools 5 times and crops: 40×40 leaves the crop no room.
		{[]string{"--input", "8x8"}, "the smallest it takes is 32×32"}, // padded would mean 4× the image: refused, naming the minimum
	} {
		code, _, stderr := runInProcess(t, append([]string{"summary"}, c.args...)...)
		if code != 1 || !strings.Contains(stderr, c.want) || strings.Contains(stderr, "panic") {
			t.Errorf("summary %v: exit %d, stderr %q, want %q", c.args, code, stderr, c.want)
		}
	}
}

// summaryPaths maps each conv and deconv row of a summary table to its path column.
func summaryPaths(t *testing.T, stdout string) map[string]string {
	t.Helper()
	paths := map[string]string{}
	lines := strings.Split(stdout, "\n")
	header := -1
	for i, l := range lines {
		if strings.HasPrefix(l, "layer ") {
			header = i
			break
		}
	}
	if header < 0 {
		t.Fatalf("no table:\n%s", stdout)
	}
	// Columns line up in runes (shapes hold "×"); the path column ends at the last one.
	col := len([]rune(lines[header][:strings.Index(lines[header], "path")]))
	for _, l := range lines[header+1:] {
		if strings.HasPrefix(l, "total:") {
			break
		}
		if f, r := strings.Fields(l), []rune(l); len(f) > 1 && (f[1] == "conv" || f[1] == "deconv") {
			paths[f[0]] = strings.TrimSpace(string(r[min(col, len(r)):]))
		}
	}
	return paths
}

// fcn summary names the compute path of every conv and deconv of FCN-8s, at the batch
// training uses (train.batch_size 1) unless --batch says otherwise: paths depend on it.
// With the AVX-512 GEMM kernel every 3×3 conv takes the implicit path (its operand
// gathered straight from the image); other kernels keep the im2col paths.
func TestSummaryPaths(t *testing.T) {
	name := regexp.MustCompile(`^(fwd [a-z0-9+-]+ / bwd [a-z0-9+-]+|[a-z0-9+-]+)$`)
	conv := func(im2col string) string {
		if layers.GEMMKernel() == "avx512" {
			return "implicit"
		}
		return im2col
	}
	for _, c := range []struct {
		args []string
		want map[string]string
	}{
		{nil, map[string]string{
			"conv1_1":  conv("fwd im2col-blocked / bwd flipped-blocked"),
			"fc7":      "pointwise",
			"upscore2": "bilinear-frozen",
			"upscore8": "bilinear-frozen",
		}},
		{[]string{"--batch", "2"}, map[string]string{
			"conv1_1":  conv("fwd image-parallel / bwd flipped-image-parallel"),
			"conv3_1":  conv("fwd im2col-blocked / bwd flipped-blocked"),
			"upscore8": "bilinear-frozen",
		}},
	} {
		code, stdout, stderr := execFCN(t, append([]string{"summary", "--config", "fcn8s"}, c.args...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", c.args, code, stderr)
		}
		paths := summaryPaths(t, stdout)
		if len(paths) != 21 { // 13 VGG convs, fc6, fc7, 3 score convs, 3 deconvs
			t.Errorf("%v: %d conv and deconv rows, want 21:\n%s", c.args, len(paths), stdout)
		}
		for layer, p := range paths {
			if !name.MatchString(p) {
				t.Errorf("%v: %s has path %q", c.args, layer, p)
			}
		}
		for layer, want := range c.want {
			if paths[layer] != want {
				t.Errorf("%v: %s takes %q, want %q", c.args, layer, paths[layer], want)
			}
		}
	}
}
