package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"testing"
)

// TestPositionalFirst runs a nested command with a positional argument before its flags
// (as `fcn import caffe NET --weights W`) through the command tree, fcn layers TYPE
// --json, and fcn's own commands with their flags after an unexpected argument.
func TestPositionalFirst(t *testing.T) {
	var seen []string
	importCaffe := func(_ context.Context, args []string, stdout, stderr io.Writer) error {
		fs := newFlagSet("fcn import caffe", "usage: fcn import caffe NET --weights W\n", stderr)
		weights := fs.String("weights", "", "")
		pos, err := parseArgs(fs, args)
		if err != nil {
			return err
		}
		seen = append(pos, *weights)
		return nil
	}
	tree := command{summary: "test", subs: map[string]command{
		"import": {summary: "import", subs: map[string]command{"caffe": {summary: "caffe", run: importCaffe}}},
	}}
	var stdout, stderr bytes.Buffer
	if code := runCommand(tree, "fcn", []string{"import", "caffe", "net.prototxt", "--weights", "w.caffemodel"}, &stdout, &stderr); code != 0 || !slices.Equal(seen, []string{"net.prototxt", "w.caffemodel"}) {
		t.Fatalf("exit %d, saw %q\n%s", code, seen, stderr.String())
	}
	if code := runCommand(tree, "fcn", []string{"import", "onnx"}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), `fcn import: unknown command "onnx"`) {
		t.Errorf("unknown nested command: exit %d\n%s", code, stderr.String())
	}
	stdout.Reset()
	if code := runCommand(tree, "fcn", []string{"import"}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "usage: fcn import <command>") || !strings.Contains(stdout.String(), "caffe") {
		t.Errorf("fcn import alone: exit %d\n%s", code, stdout.String())
	}

	// fcn layers TYPE takes its flags after the type too.
	code, out, errs := runFCN(t, "layers", "deconv", "--json")
	var docs []layerDoc
	if err := json.Unmarshal([]byte(out), &docs); code != 0 || err != nil || len(docs) != 1 || docs[0].Name != "deconv" {
		t.Errorf("fcn layers deconv --json: exit %d, %v\n%s%s", code, err, out, errs)
	}

	// fcn's commands parse the flags after a stray argument (fs.Parse would stop at it
	// and never see them), then reject the argument.
	code, _, errs = runFCN(t, "summary", "stray", "--bogus")
	if code != 1 || !strings.Contains(errs, "flag provided but not defined: -bogus") {
		t.Errorf("summary stray --bogus: exit %d\n%s", code, errs)
	}
	code, out, errs = runFCN(t, "eval", "stray", "-h")
	if code != 0 || !strings.Contains(errs, "usage: fcn eval") || out != "" {
		t.Errorf("eval stray -h: exit %d\n%s", code, errs)
	}
	code, _, errs = runFCN(t, "eval", "stray", "--run", t.TempDir())
	if code != 1 || !strings.Contains(errs, `fcn eval: unexpected argument "stray"`) {
		t.Errorf("eval stray --run: exit %d\n%s", code, errs)
	}
}
