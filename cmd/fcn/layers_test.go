package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/fcn-dev/fcn/layers"
)

// `fcn layers` lists every registered type with every option; `fcn layers conv` one.
func TestLayersCommand(t *testing.T) {
	var out, errb bytes.Buffer
	if err := runLayers(context.Background(), nil, &out, &errb); err != nil {
		t.Fatal(err, errb.String())
	}
	for _, typ := range layers.Types() {
		if !strings.Contains(out.String(), typ.Name+" — "+typ.Doc) {
			t.Errorf("no entry for %s", typ.Name)
		}
		for _, o := range typ.Options {
			if !strings.Contains(out.String(), o.Doc) {
				t.Errorf("%s: option %s undocumented in the listing", typ.Name, o.Key)
			}
		}
	}

	out.Reset()
	if err := runLayers(context.Background(), []string{"maxpool"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{"maxpool — ", "inputs: 1\n", "Caffe: Pooling", "ONNX: MaxPool", "PyTorch: nn.MaxPool2d", "gradient checks: 7 cases"} {
		if !strings.Contains(got, want) {
			t.Errorf("fcn layers maxpool lacks %q:\n%s", want, got)
		}
	}
	// Defaults as the file writes them; stride follows the kernel.
	for _, row := range [][]string{{"kernel", "required"}, {"stride", "= kernel"}, {"pad", "0"}, {"ceil", "false"}} {
		if !strings.Contains(got, "  "+row[0]+" ") || !strings.Contains(got, row[1]) {
			t.Errorf("fcn layers maxpool: row %v missing:\n%s", row, got)
		}
	}
	if strings.Contains(got, "conv —") {
		t.Errorf("fcn layers maxpool shows other types:\n%s", got)
	}

	out.Reset()
	if err := runLayers(context.Background(), []string{"--json", "deconv"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	var docs []layerDoc
	if err := json.Unmarshal(out.Bytes(), &docs); err != nil || len(docs) != 1 {
		t.Fatalf("--json: %v %s", err, out.String())
	}
	d := docs[0]
	if d.Name != "deconv" || d.ONNX != "ConvTranspose" || d.GradCases == 0 {
		t.Errorf("deconv: %+v", d)
	}
	var init optionDoc
	for _, o := range d.Options {
		if o.Key == "init" {
			init = o
		}
	}
	if init.Default != "bilinear" || !strings.Contains(strings.Join(init.Choices, ","), "he") {
		t.Errorf("deconv init: %+v", init)
	}

	if err := runLayers(context.Background(), []string{"decon"}, &out, &errb); err == nil || !strings.Contains(err.Error(), `did you mean "deconv"`) {
		t.Errorf("unknown type: %v", err)
	}
}
