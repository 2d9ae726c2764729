package layers

import "testing"

// Every model layer type maps to Caffe or says why not, and its mapping is complete.
func TestCaffeMappings(t *testing.T) {
	for _, name := range ModelTypes() {
		typ, _ := Lookup(name)
		m := typ.CaffeMap
		switch {
		case m == nil && typ.CaffeWhyNot == "":
			t.Errorf("%s: no CaffeMap and no CaffeWhyNot", typ.Name)
		case m == nil:
		case m.Type == "" || m.ToCaffe == nil || m.FromCaffe == nil:
			t.Errorf("%s: CaffeMap needs Type, ToCaffe and FromCaffe", typ.Name)
		case len(m.Dims) != len(m.Blobs) || (m.Absorb != "") != (m.AbsorbField != ""):
			t.Errorf("%s: Blobs/Dims or Absorb/AbsorbField do not pair", typ.Name)
		}
	}
}

// Conv options go to convolution_param and come back the same.
func TestConvCaffeFields(t *testing.T) {
	typ, _ := Lookup("conv")
	o := typ.NewOptions()
	for k, v := range map[string]any{"out": Channels{N: 8}, "kernel": [2]int{3, 5}, "stride": [2]int{2, 2}, "pad": [2]int{1, 2},
		"dilation": [2]int{2, 1}, "groups": 2, "bias": false, "init": "gaussian", "std": 0.01} {
		if err := o.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	f, err := typ.CaffeMap.ToCaffe(o, 21)
	if err != nil {
		t.Fatal(err)
	}
	if k := f["kernel_size"].([]float64); len(k) != 2 || k[0] != 3 || k[1] != 5 {
		t.Errorf("kernel_size %v, want [3 5]", k)
	}
	if f["weight_filler.type"] != "gaussian" || f["group"] != 2.0 || f["bias_term"] != false {
		t.Errorf("fields %v", f)
	}
	r := NewCaffeReader(f)
	back := typ.NewOptions()
	if err := typ.CaffeMap.FromCaffe(r, &back); err != nil {
		t.Fatal(err)
	}
	if u := r.Unused(); len(u) > 0 {
		t.Errorf("unused fields %v", u)
	}
	for _, k := range []string{"kernel", "stride", "pad", "dilation"} {
		if back.Pair(k) != o.Pair(k) {
			t.Errorf("%s: %v, back %v", k, o.Pair(k), back.Pair(k))
		}
	}
	if back.Int("groups") != 2 || back.Bool("bias") || back.String("init") != "gaussian" || back.Float("std") != 0.01 || back.Channels("out").N != 8 {
		t.Errorf("back %v", back.SetKeys())
	}
}
