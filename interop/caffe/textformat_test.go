package caffe

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/fcn-dev/fcn/configs"
	"github.com/fcn-dev/fcn/interop/caffe/caffepb"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
)

// TestMarshalTextByHand: a small net's text, written out by hand in Caffe's layout
// (field-number order, `name {` blocks, one line per repeated element, enums by name,
// C-style escapes, shortest floats).
func TestMarshalTextByHand(t *testing.T) {
	net := &caffepb.NetParameter{
		Name: proto.String(`say "hi"\`),
		Layer: []*caffepb.LayerParameter{{
			Name: proto.String("conv1"), Type: proto.String("Convolution"),
			Bottom: []string{"data"}, Top: []string{"conv1"},
			Param: []*caffepb.ParamSpec{{LrMult: proto.Float32(1), DecayMult: proto.Float32(1)}, {LrMult: proto.Float32(2), DecayMult: proto.Float32(0)}},
			ConvolutionParam: &caffepb.ConvolutionParameter{
				NumOutput: proto.Uint32(21), Pad: []uint32{100}, KernelSize: []uint32{3, 5}, BiasTerm: proto.Bool(false),
				WeightFiller: &caffepb.FillerParameter{Type: proto.String("gaussian"), Std: proto.Float32(0.01)},
			},
		}, {
			Name: proto.String("pool1\n"), Type: proto.String("Pooling"), Bottom: []string{"conv1"}, Top: []string{"pool1"},
			PoolingParam: &caffepb.PoolingParameter{Pool: caffepb.PoolingParameter_MAX.Enum(), KernelSize: proto.Uint32(2)},
		}},
	}
	want := `name: "say \"hi\"\\"
layer {
  name: "conv1"
  type: "Convolution"
  bottom: "data"
  top: "conv1"
  param {
    lr_mult: 1
    decay_mult: 1
  }
  param {
    lr_mult: 2
    decay_mult: 0
  }
  convolution_param {
    num_output: 21
    bias_term: false
    pad: 100
    kernel_size: 3
    kernel_size: 5
    weight_filler {
      type: "gaussian"
      std: 0.01
    }
  }
}
layer {
  name: "pool1\n"
  type: "Pooling"
  bottom: "conv1"
  top: "pool1"
  pooling_param {
    pool: MAX
    kernel_size: 2
  }
}
`
	got, err := MarshalText(net)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// TestMarshalTextShipped: every shipped experiment's net, written as text, reads back
// (with protobuf's own parser) as the same message, the same bytes each time, in
// Caffe's `name {` style.
func TestMarshalTextShipped(t *testing.T) {
	for _, name := range configs.Names() {
		exp, err := configs.LoadModel(name, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		net, err := Export(exp, 1, 224, 224)
		if err != nil {
			t.Fatal(err)
		}
		text, _ := MarshalText(net)
		again, _ := MarshalText(proto.Clone(net).(*caffepb.NetParameter))
		if !bytes.Equal(text, again) {
			t.Errorf("%s: two writes of one net differ", name)
		}
		if strings.Contains(string(text), ": {") || strings.Contains(string(text), " \n") {
			t.Errorf("%s: text has `: {` or trailing spaces", name)
		}
		var back caffepb.NetParameter
		if err := prototext.Unmarshal(text, &back); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !proto.Equal(net, &back) {
			t.Errorf("%s: text reads back as another net", name)
		}
	}
}

func TestTextScalars(t *testing.T) {
	for _, tc := range []struct {
		f    float64
		bits int
		want string
	}{
		{1e-14, 64, "1e-14"}, {0.99, 32, "0.99"}, {float64(float32(0.1)), 32, "0.1"}, {104.00699, 64, "104.00699"},
		{math.Inf(1), 32, "inf"}, {math.Inf(-1), 64, "-inf"}, {math.NaN(), 32, "nan"},
	} {
		if got := textFloat(tc.f, tc.bits); got != tc.want {
			t.Errorf("textFloat(%g, %d) = %s, want %s", tc.f, tc.bits, got, tc.want)
		}
	}
	if got, want := quoteText([]byte("a\x01\xffb\t")), `"a\001\377b\t"`; got != want {
		t.Errorf("quoteText = %s, want %s", got, want)
	}
}
