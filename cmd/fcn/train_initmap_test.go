package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fcn-dev/fcn/interop/caffe/caffepb"
	"google.golang.org/protobuf/proto"
)

const torchData = "../../interop/torch/testdata"

// TestTrainInitFromPth runs `fcn train --init-from X.pth --init-map torchvision-vgg16`
// on the narrowed VGG16 net: it loads with score_fr left to its init under
// --init-from-partial, is refused listing score_fr without it, and is refused with the
// names it cannot place when the map does not fit the file.
func TestTrainInitFromPth(t *testing.T) {
	cfg := filepath.Join(torchData, "vgg16n_fcn.yaml")
	pth := filepath.Join(torchData, "vgg16n.pth")
	dir := t.TempDir()

	code, out, errs := runFCN(t, "train", "--config", cfg, "--out", filepath.Join(dir, "ok"), "--progress", "off",
		"--init-from", pth, "--init-map", "torchvision-vgg16", "--init-from-partial")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	for _, want := range []string{"init from " + pth, "mapped 30 tensors", "classifier.6.weight (fc8", "missing from the file (2): score_fr.bias, score_fr.weight", "done: 1 steps"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	code, out, errs = runFCN(t, "train", "--config", cfg, "--out", filepath.Join(dir, "strict"), "--progress", "off",
		"--init-from", pth, "--init-map", "torchvision-vgg16")
	if code == 0 || !strings.Contains(errs, "--init-from "+pth) || !strings.Contains(errs, "missing from the file (2): score_fr.bias, score_fr.weight") {
		t.Errorf("strict: exit %d, stderr:\n%s", code, errs)
	}

	// The BN map on the plain net: its features.N indices fall on the wrong layers.
	code, _, errs = runFCN(t, "train", "--config", cfg, "--out", filepath.Join(dir, "wrong"), "--progress", "off",
		"--init-from", pth, "--init-map", "torchvision-vgg16-bn")
	if code == 0 || !strings.Contains(errs, "unexpected, not in the model") || !strings.Contains(errs, "named by the map but not in the file") {
		t.Errorf("wrong map: exit %d, stderr:\n%s", code, errs)
	}

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("- {from: a, too: b}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--init-from", pth, "--init-map", bad}, bad},
		{[]string{"--init-from", pth, "--init-map", "no-such-map"}, "neither a built-in map (caffe-vgg16, torchvision-vgg16, torchvision-vgg16-bn) nor a file"},
		{[]string{"--init-map", "torchvision-vgg16"}, "--init-map needs --init-from"},
		{[]string{"--init-from", filepath.Join(torchData, "evil.pth")}, "evil.pth: archive/data.pkl: pickle global os.system is not allowed"},
	} {
		args := append([]string{"train", "--config", cfg, "--out", filepath.Join(dir, "x"), "--progress", "off"}, tc.args...)
		if code, _, errs := runFCN(t, args...); code == 0 || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tc.args, code, errs, tc.want)
		}
	}
}

// TestTrainInitFromCaffemodel: fcn train reads a .caffemodel given to --init-from (an
// old-style V1 net with legacy blob shapes) and refuses it naming the tensors that fit
// nothing, or the file when it is not a caffemodel.
func TestTrainInitFromCaffemodel(t *testing.T) {
	dir := t.TempDir()
	blob := func(n, c, h, w int32) *caffepb.BlobProto {
		return &caffepb.BlobProto{Num: proto.Int32(n), Channels: proto.Int32(c), Height: proto.Int32(h), Width: proto.Int32(w),
			Data: make([]float32, n*c*h*w)}
	}
	net := &caffepb.NetParameter{Layers: []*caffepb.V1LayerParameter{{
		Name: proto.String("nosuch"), Type: caffepb.V1LayerParameter_CONVOLUTION.Enum(),
		Blobs: []*caffepb.BlobProto{blob(2, 3, 3, 3), blob(1, 1, 1, 2)}}}}
	raw, err := proto.Marshal(net)
	if err != nil {
		t.Fatal(err)
	}
	cm := filepath.Join(dir, "net.caffemodel")
	junk := filepath.Join(dir, "junk.caffemodel")
	if err := os.WriteFile(cm, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(junk, []byte("not a protobuf \xff\xff\xff"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ from, want string }{
		{cm, "unexpected, not in the model (2): nosuch.bias, nosuch.weight"},
		{junk, "junk.caffemodel"},
	} {
		code, _, errs := runFCN(t, "train", "--out", filepath.Join(dir, "x"), "--progress", "off", "--set", "train.steps=1", "--init-from", tc.from)
		if code == 0 || !strings.Contains(errs, tc.want) {
			t.Errorf("--init-from %s: exit %d, stderr %q, want %q", tc.from, code, errs, tc.want)
		}
	}
}
