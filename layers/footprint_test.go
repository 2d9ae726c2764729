package layers

import (
	"strings"
	"testing"

	"gorgonia.org/tensor"
)

// TestFootprintMatchesSetup: for every registered type's gradient cases (odd sizes,
// strides, padding, groups, batches), the footprint worked out from shapes alone gives
// the output shape Setup returns and the parameter count Setup allocates.
func TestFootprintMatchesSetup(t *testing.T) {
	cases := 0
	for _, typ := range Types() {
		if typ.GradCases == nil {
			continue
		}
		for _, gc := range typ.GradCases() {
			l, err := gc.Make()
			if err != nil {
				t.Fatalf("%s/%s: %v", typ.Name, gc.Name, err)
			}
			if w, ok := l.(trainableOnly); ok {
				l = w.Layer // the check's wrapper hides frozen parameters, which a model holds
			}
			fpr, ok := l.(Footprinter)
			if !ok {
				t.Errorf("%s: layer %T has no Footprint", typ.Name, l)
				continue
			}
			fp, err := fpr.Footprint(gc.In)
			if err != nil {
				t.Errorf("%s/%s: Footprint: %v", typ.Name, gc.Name, err)
				continue
			}
			out, err := l.Setup(gc.In, tensor.Float64)
			if err != nil {
				t.Fatalf("%s/%s: Setup: %v", typ.Name, gc.Name, err)
			}
			var params int64
			for _, p := range l.Params() {
				params += int64(p.Value.Shape().TotalSize())
			}
			if !out.Eq(fp.Out) || params != fp.Params {
				t.Errorf("%s/%s on %v: Footprint gives %v and %d parameters, Setup %v and %d", typ.Name, gc.Name, gc.In, fp.Out, fp.Params, out, params)
			}
			cases++
		}
	}
	if cases < 30 {
		t.Errorf("only %d cases compared", cases)
	}
}

// TestFootprintRefusesOverflow: sizes whose products overflow, or beyond any image, are
// errors naming the layer, never a wrapped-around count.
func TestFootprintRefusesOverflow(t *testing.T) {
	conv, err := NewConv("c", ConvConfig{Out: 1 << 20, Kernel: []int{1 << 12}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		l  Footprinter
		in tensor.Shape
	}{
		{conv, tensor.Shape{1, 1 << 20, 1 << 13, 1 << 13}}, // 2^20·2^20·2^24 weights
		{conv, tensor.Shape{1 << 30, 1, 1 << 30, 1 << 30}},
		{&ReLU{prefix: "relu r"}, tensor.Shape{1 << 31, 1 << 31, 1 << 31, 4}},
	}
	for _, tc := range tests {
		_, err := tc.l.Footprint([]tensor.Shape{tc.in})
		if err == nil || !(strings.Contains(err.Error(), "overflow") || strings.Contains(err.Error(), "beyond") || strings.Contains(err.Error(), "too small")) {
			t.Errorf("%T on %v: %v", tc.l, tc.in, err)
		}
	}
	// 2^31·2^31 = 2^62 fits; ·4 = 2^64 does not.
	if n, err := mulDims("x", 1<<31, 1<<31); err != nil || n != 1<<62 {
		t.Errorf("2^31·2^31 = %d, %v", n, err)
	}
	if _, err := mulDims("x", 1<<31, 1<<31, 4); err == nil {
		t.Error("2^64 accepted")
	}
}
