package layers

import (
	"fmt"
	"math"
	"slices"
	"sort"
)

// Caffe mappings: each layer type that has a Caffe counterpart says, in its Register
// call, how its options read as the fields of that Caffe layer's parameter message and
// back. The data here is neutral (no protobuf); interop/caffe converts it to and from
// caffepb and picks the fcn type by Caffe type name from the registry.

// CaffeMapping is how a layer type maps to a Caffe layer.
type CaffeMapping struct {
	// Type is the Caffe layer type ("Convolution"); Field the parameter message of the
	// layer ("convolution_param"), "" for types without one.
	Type, Field string
	// Match, when set, says whether a Caffe layer of Type is this fcn type (Pooling MAX is
	// maxpool, AVE is avgpool); nil matches every layer of Type.
	Match func(f CaffeFields) bool
	// Blobs names the layer's Caffe blobs in order as fcn parameters ("weight", "bias");
	// Dims is the rank of each (legacy 4-D blob shapes keep their last Dims axes).
	Blobs []string
	Dims  []int
	// Factor, when set, is the index+1 of a blob holding a scale that divides the
	// blobs before it (Caffe BatchNorm's moving-average factor).
	Factor int
	// Absorb names a Caffe type that, following the layer in place, is part of it
	// (BatchNorm's Scale, in scale_param); its fields arrive prefixed "<Absorb>." and its
	// blobs follow.
	Absorb, AbsorbField string
	// ToCaffe gives the parameter message's fields for the options (classes resolves
	// `out: classes`); FromCaffe sets options from them, reading each field it maps
	// through f (fields it does not read are an error naming them).
	ToCaffe   func(o Options, classes int) (CaffeFields, error)
	FromCaffe func(f *CaffeReader, o *Options) error
}

// CaffeFields are the set fields of a Caffe parameter message, flattened with dots
// ("weight_filler.type"): numbers as float64, repeated numbers as []float64, enums by
// name as string, strings as string, bools as bool.
type CaffeFields map[string]any

// CaffeReader hands a mapping the fields of one Caffe layer and remembers which it
// read, so that the importer can refuse the fields nothing maps.
type CaffeReader struct {
	Fields CaffeFields
	used   map[string]bool
	notes  []string
}

// NewCaffeReader reads f.
func NewCaffeReader(f CaffeFields) *CaffeReader {
	return &CaffeReader{Fields: f, used: map[string]bool{}}
}

// Has reports whether key is set.
func (r *CaffeReader) Has(key string) bool { _, ok := r.Fields[key]; return ok }

// Num is a scalar number field, def when unset.
func (r *CaffeReader) Num(key string, def float64) float64 {
	r.used[key] = true
	if v, ok := r.Fields[key].(float64); ok {
		return v
	}
	return def
}

// Nums is a repeated number field.
func (r *CaffeReader) Nums(key string) []float64 {
	r.used[key] = true
	v, _ := r.Fields[key].([]float64)
	return v
}

// Str is a string or enum field, def when unset.
func (r *CaffeReader) Str(key, def string) string {
	r.used[key] = true
	if v, ok := r.Fields[key].(string); ok {
		return v
	}
	return def
}

// Bool is a bool field, def when unset.
func (r *CaffeReader) Bool(key string, def bool) bool {
	r.used[key] = true
	if v, ok := r.Fields[key].(bool); ok {
		return v
	}
	return def
}

// Ignore marks fields that do not change what fcn computes (an engine choice).
func (r *CaffeReader) Ignore(keys ...string) {
	for _, k := range keys {
		r.used[k] = true
	}
}

// Note records something the user should know about the mapping.
func (r *CaffeReader) Note(format string, args ...any) {
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

// Notes are the notes recorded.
func (r *CaffeReader) Notes() []string { return r.notes }

// Unused lists the set fields no mapping read, sorted.
func (r *CaffeReader) Unused() []string {
	var u []string
	for k := range r.Fields {
		if !r.used[k] {
			u = append(u, k)
		}
	}
	sort.Strings(u)
	return u
}

// caffeInt reads a non-negative integral number field.
func caffeInt(v float64) (int, bool) {
	if v < 0 || v != math.Trunc(v) || v > math.MaxInt32 {
		return 0, false
	}
	return int(v), true
}

// caffePair reads Caffe's spatial field triple: repeated `key` (empty: def, one value:
// both axes, two: h and w) or key_h/key_w.
func caffePair(r *CaffeReader, key string, def [2]int) ([2]int, error) {
	vs := r.Nums(key)
	hk, wk := key+"_h", key+"_w"
	if key == "kernel_size" {
		hk, wk = "kernel_h", "kernel_w"
	}
	if r.Has(hk) || r.Has(wk) {
		if len(vs) > 0 {
			return def, fmt.Errorf("%s and %s/%s are both set", key, hk, wk)
		}
		vs = []float64{r.Num(hk, float64(def[0])), r.Num(wk, float64(def[1]))}
	} else {
		r.Ignore(hk, wk)
	}
	var p [2]int
	switch len(vs) {
	case 0:
		return def, nil
	case 1:
		vs = []float64{vs[0], vs[0]}
	case 2:
	default:
		return def, fmt.Errorf("%s has %d values; fcn layers are 2-D (1 or 2 values)", key, len(vs))
	}
	for i, v := range vs {
		n, ok := caffeInt(v)
		if !ok {
			return def, fmt.Errorf("%s: %v is not a non-negative integer", key, v)
		}
		p[i] = n
	}
	return p, nil
}

// caffePairFields writes a pair as Caffe writes it: one value when both axes agree.
func caffePairFields(f CaffeFields, key string, p [2]int) {
	if p[0] == p[1] {
		f[key] = []float64{float64(p[0])}
		return
	}
	f[key] = []float64{float64(p[0]), float64(p[1])}
}

// Filler types and fcn inits that correspond.
var caffeFillers = map[string]string{"gaussian": "gaussian", "xavier": "xavier", "msra": "he", "bilinear": "bilinear"}

// convToCaffe is conv's and deconv's convolution_param.
func convToCaffe(o Options, classes int) (CaffeFields, error) {
	f := CaffeFields{"num_output": float64(o.Channels("out").Count(classes))}
	caffePairFields(f, "kernel_size", o.Pair("kernel"))
	if s := o.Pair("stride"); s != [2]int{1, 1} {
		caffePairFields(f, "stride", s)
	}
	if p := o.Pair("pad"); p != [2]int{0, 0} {
		caffePairFields(f, "pad", p)
	}
	if d := o.Pair("dilation"); d != [2]int{1, 1} {
		caffePairFields(f, "dilation", d)
	}
	if g := o.Int("groups"); g != 1 {
		f["group"] = float64(g)
	}
	if !o.Bool("bias") {
		f["bias_term"] = false
	}
	switch init := o.String("init"); init {
	case "zero":
		f["weight_filler.type"] = "constant"
	case "gaussian":
		f["weight_filler.type"] = "gaussian"
		f["weight_filler.std"] = o.Float("std")
	default:
		for caffe, fcn := range caffeFillers {
			if fcn == init {
				f["weight_filler.type"] = caffe
			}
		}
		if _, ok := f["weight_filler.type"]; !ok {
			return nil, fmt.Errorf("init %s has no Caffe filler", init)
		}
	}
	return f, nil
}

// convFromCaffe reads convolution_param into conv or deconv options.
func convFromCaffe(r *CaffeReader, o *Options) error {
	out, ok := caffeInt(r.Num("num_output", 0))
	if !ok || out < 1 {
		return fmt.Errorf("num_output: must be ≥ 1")
	}
	set := func(key string, v any) error { return o.Set(key, v) }
	if err := set("out", Channels{N: out}); err != nil {
		return err
	}
	for _, p := range []struct {
		caffe, fcn string
		def        [2]int
	}{{"kernel_size", "kernel", [2]int{0, 0}}, {"stride", "stride", [2]int{1, 1}}, {"pad", "pad", [2]int{0, 0}}, {"dilation", "dilation", [2]int{1, 1}}} {
		v, err := caffePair(r, p.caffe, p.def)
		if err != nil {
			return err
		}
		if p.caffe == "kernel_size" && (v[0] < 1 || v[1] < 1) {
			return fmt.Errorf("kernel_size: required, ≥ 1")
		}
		if v != p.def || p.caffe == "kernel_size" {
			if err := set(p.fcn, v); err != nil {
				return err
			}
		}
	}
	if g, ok := caffeInt(r.Num("group", 1)); !ok || g < 1 {
		return fmt.Errorf("group: must be ≥ 1")
	} else if g != 1 {
		if err := set("groups", g); err != nil {
			return err
		}
	}
	if !r.Bool("bias_term", true) {
		if err := set("bias", false); err != nil {
			return err
		}
	}
	r.Ignore("engine")
	if ax := r.Num("axis", 1); ax != 1 {
		return fmt.Errorf("axis: %v; fcn convolves NCHW blobs on axis 1", ax)
	}
	// The bias filler: fcn's biases start at zero, Caffe's default.
	if t := r.Str("bias_filler.type", "constant"); t != "constant" || r.Num("bias_filler.value", 0) != 0 {
		r.Note("bias_filler %s is not mapped: fcn starts biases at 0", t)
	}
	var init string
	switch t := r.Str("weight_filler.type", ""); t {
	case "":
		init = "zero"
		r.Note("no weight_filler: Caffe's default is constant 0, mapped to init: zero")
	case "constant":
		if v := r.Num("weight_filler.value", 0); v != 0 {
			return fmt.Errorf("weight_filler.value: constant %v; fcn can start weights only at 0", v)
		}
		init = "zero"
	case "gaussian":
		if m := r.Num("weight_filler.mean", 0); m != 0 {
			return fmt.Errorf("weight_filler.mean: %v; fcn's gaussian init has mean 0", m)
		}
		init = "gaussian"
		if err := set("std", r.Num("weight_filler.std", 1)); err != nil {
			return err
		}
	default:
		fcn, ok := caffeFillers[t]
		if !ok || !slices.Contains(o.Type().Option("init").Choices, fcn) {
			return fmt.Errorf("weight_filler.type: %q has no fcn init for %s layers", t, o.Type().Name)
		}
		init = fcn
	}
	r.Ignore("weight_filler.variance_norm")
	return set("init", init)
}
