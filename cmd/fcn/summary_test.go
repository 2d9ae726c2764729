package main

import (
	"strings"
	"testing"
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
	if code != 0 || !strings.Contains(stdout, "input 1×3×64×64") || !strings.Contains(stdout, "output: 1×5×64×64") {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--input", "big"}, "want HxW"},
		{[]string{"--input", "0x5"}, "positive"},
		{[]string{"--config", "fcn9s"}, `unknown experiment "fcn9s"`},
		// The default net pools 5 times and crops: 40×40 leaves the crop no room.
		{[]string{"--input", "8x8"}, "for a 8×8 input"},
	} {
		code, _, stderr := runInProcess(t, append([]string{"summary"}, c.args...)...)
		if code != 1 || !strings.Contains(stderr, c.want) || strings.Contains(stderr, "panic") {
			t.Errorf("summary %v: exit %d, stderr %q, want %q", c.args, code, stderr, c.want)
		}
	}
}
