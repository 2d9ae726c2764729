package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fcn-dev/fcn/interop/onnx"
	"github.com/fcn-dev/fcn/interop/onnx/onnxpb"
	"google.golang.org/protobuf/proto"
)

// TestExportONNXCommand exports a trained run folder (with its sample) and a fresh net,
// and checks that bad input is refused with a message naming the problem and leaves no
// file behind.
func TestExportONNXCommand(t *testing.T) {
	cfg := writeTiny(t)
	run := filepath.Join(t.TempDir(), "run")
	if code, o, e := runInProcess(t, "train", "--config", cfg, "--out", run, "--set", "train.steps=2", "--set", "train.batch_size=2", "--progress", "off"); code != 0 {
		t.Fatalf("%s\n%s", o, e)
	}
	dir := t.TempDir()
	out, sample := filepath.Join(dir, "model.onnx"), filepath.Join(dir, "sample")
	if code, o, e := runInProcess(t, "export", "onnx", "--run", run, "--out", out, "--labels", "--sample", sample, "--sample-size", "24x40"); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, o, e)
	}
	var m onnxpb.ModelProto
	if err := proto.Unmarshal(mustRead(t, out), &m); err != nil {
		t.Fatal(err)
	}
	if err := onnx.Check(&m); err != nil {
		t.Error(err)
	}
	if len(m.Graph.Output) != 2 {
		t.Errorf("outputs %v, want scores and labels", m.Graph.Output)
	}
	for name, want := range map[string][]int{"input.npy": {1, 3, 24, 40}, "logits.npy": {1, 3, 24, 40}} {
		shape, _, err := onnx.DecodeNPY(mustRead(t, filepath.Join(sample, name)))
		if err != nil {
			t.Fatal(err)
		}
		if len(shape) != 4 || shape[2] != want[2] || shape[3] != want[3] || shape[1] != want[1] && name == "input.npy" {
			t.Errorf("%s: shape %v, want %v", name, shape, want)
		}
	}
	// Fresh weights from a shipped config, and a checkpoint with its config.
	if code, o, e := runInProcess(t, "export", "onnx", "--config", "fcn16s-tiny", "--out", filepath.Join(dir, "fresh.onnx")); code != 0 || !strings.Contains(o, "fresh weights") {
		t.Errorf("fresh: exit %d\n%s\n%s", code, o, e)
	}
	if code, o, e := runInProcess(t, "export", "onnx", "--checkpoint", filepath.Join(run, "model.safetensors"), "--config", cfg, "--out", filepath.Join(dir, "ck.onnx"), "--opset", "13"); code != 0 {
		t.Errorf("checkpoint: exit %d\n%s\n%s", code, o, e)
	}

	damaged := filepath.Join(t.TempDir(), "model.safetensors")
	if err := os.WriteFile(damaged, []byte("not a safetensors file"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.onnx")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--run", run}, "--out is required"},
		{[]string{"--out", bad}, "--run DIR or --checkpoint PATH is required"},
		{[]string{"--run", run, "--checkpoint", run, "--out", bad}, "not both"},
		{[]string{"--run", run, "--out", bad, "--opset", "9"}, "--opset 9 is not supported"},
		{[]string{"--checkpoint", filepath.Join(run, "nope.safetensors"), "--config", cfg, "--out", bad}, "nope.safetensors"},
		{[]string{"--checkpoint", damaged, "--config", cfg, "--out", bad}, damaged},
		{[]string{"--checkpoint", filepath.Join(run, "model.safetensors"), "--config", "default", "--out", bad}, "model.safetensors"},
		{[]string{"--run", run, "--out", bad, "--sample", sample, "--sample-size", "0x3"}, "--sample-size"},
	} {
		code, o, e := runInProcess(t, append([]string{"export", "onnx"}, tc.args...)...)
		if code == 0 || !strings.Contains(e, tc.want) || strings.Contains(e, "panic") {
			t.Errorf("%v: exit %d, stderr %q, want %q\n%s", tc.args, code, e, tc.want, o)
		}
		if _, err := os.Stat(bad); err == nil {
			t.Fatalf("%v left %s behind", tc.args, bad)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 4 { // model, sample, fresh, ck: no temp files
		t.Errorf("files left in %s: %v", dir, ents)
	}
}
