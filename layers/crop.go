package layers

import (
	"fmt"

	"gorgonia.org/tensor"
)

// CropConfig holds crop's hyper-parameters.
type CropConfig struct {
	// Offset is where the window starts in input 0: one value (both axes) or [h, w].
	// nil means "auto": the graph computes Caffe's coord_map offset and calls SetOffset
	// (experiment files write `offset: auto`).
	Offset []int
}

// Crop is FCN's Crop layer: input 0 (N×C×H×W) cropped to input 1's spatial size
// h×w, starting at (offset h, offset w). Input 1 is only a size reference (its
// channels and values are not read) and gets no gradient.
type Crop struct {
	name, prefix string
	auto         bool
	offSet       bool // an offset is known (given, or SetOffset called)
	off          [2]int
	n, c, h, w   int // input 0
	oh, ow       int // input 1's spatial size = output's
	setUp        bool
}

// NewCrop validates cfg and returns the layer.
func NewCrop(name string, cfg CropConfig) (*Crop, error) {
	prefix := layerPrefix("crop", name)
	l := &Crop{name: name, prefix: prefix}
	if cfg.Offset == nil {
		l.auto = true
		return l, nil
	}
	off, err := spatialPair(prefix, "offset", cfg.Offset, [2]int{}, 0)
	if err != nil {
		return nil, err
	}
	l.off, l.offSet = off, true
	return l, nil
}

// Name is the layer's node name.
func (l *Crop) Name() string { return l.name }

// Type implements Layer.
func (l *Crop) Type() string { return "crop" }

// Params implements Layer: crop has none.
func (l *Crop) Params() []*Param { return nil }

// AutoOffset reports whether the offset is to be computed by the graph (offset: auto).
func (l *Crop) AutoOffset() bool { return l.auto }

// Offset returns the offset in force (h, w); (0, 0) for an auto crop before SetOffset.
func (l *Crop) Offset() (h, w int) { return l.off[0], l.off[1] }

// SetOffset sets the crop offset, as the graph does for `offset: auto` after composing
// the coord maps between the two inputs. It checks the window against the shapes of the
// last Setup, if any.
func (l *Crop) SetOffset(h, w int) error {
	if h < 0 || w < 0 {
		return fmt.Errorf("%s: offset (%d, %d) is negative: input 1 does not lie inside input 0 (check the coord maps / padding)", l.prefix, h, w)
	}
	if l.setUp {
		if err := l.checkWindow([2]int{h, w}); err != nil {
			return err
		}
	}
	l.off, l.offSet = [2]int{h, w}, true
	return nil
}

// CoordMap implements CoordMapper as Caffe's coord_map does for Crop: scale 1 and
// offset −offset (from input 0 to the output). For an auto crop it is valid only after
// SetOffset; the graph sets crops in topological order, so earlier crops are known.
func (l *Crop) CoordMap() (scale, offset [2]float64) {
	return [2]float64{1, 1}, [2]float64{-float64(l.off[0]), -float64(l.off[1])}
}

func (l *Crop) checkWindow(off [2]int) error {
	if off[0]+l.oh > l.h || off[1]+l.ow > l.w {
		return fmt.Errorf("%s: crop window %d×%d at offset (%d, %d) exceeds input 0's %d×%d (input 0 %s, input 1 %d×%d)",
			l.prefix, l.oh, l.ow, off[0], off[1], l.h, l.w, dimsString(tensor.Shape{l.n, l.c, l.h, l.w}), l.oh, l.ow)
	}
	return nil
}

// Footprint implements Footprinter: input 0 cut to input 1's spatial size.
func (l *Crop) Footprint(in []tensor.Shape) (Footprint, error) {
	if len(in) != 2 || len(in[0]) != 4 || len(in[1]) < 2 {
		return Footprint{}, fmt.Errorf("%s: wants N×C×H×W and a …×H×W reference, got %v", l.prefix, in)
	}
	if err := checkDims(l.prefix, in); err != nil {
		return Footprint{}, err
	}
	r := in[1]
	oh, ow := r[len(r)-2], r[len(r)-1]
	off := l.off // zero while an auto offset is unset: the weakest check, as in Setup
	if off[0]+oh > in[0][2] || off[1]+ow > in[0][3] {
		return Footprint{}, fmt.Errorf("%s: crop window %d×%d at offset (%d, %d) exceeds input 0's %d×%d", l.prefix, oh, ow, off[0], off[1], in[0][2], in[0][3])
	}
	return Footprint{Out: tensor.Shape{in[0][0], in[0][1], oh, ow}}, nil
}

// Setup implements Layer. With an auto offset not yet set it only checks that input 1
// fits inside input 0; SetOffset then checks the actual window.
func (l *Crop) Setup(in []tensor.Shape, dt tensor.Dtype) (tensor.Shape, error) {
	if err := checkInputCount(l.prefix, in, 2); err != nil {
		return nil, err
	}
	if err := checkFloatDtype(l.prefix, dt); err != nil {
		return nil, err
	}
	if err := checkNCHW(l.prefix, "input 0", in[0]); err != nil {
		return nil, err
	}
	if len(in[1]) < 2 {
		return nil, fmt.Errorf("%s: input 1 must have spatial dimensions (…×H×W), got %s", l.prefix, dimsString(in[1]))
	}
	l.n, l.c, l.h, l.w = in[0][0], in[0][1], in[0][2], in[0][3]
	l.oh, l.ow = in[1][len(in[1])-2], in[1][len(in[1])-1]
	if l.oh <= 0 || l.ow <= 0 {
		return nil, fmt.Errorf("%s: input 1 has an empty spatial size %s", l.prefix, dimsString(in[1]))
	}
	off := l.off // zero while an auto offset is unset: the weakest check
	if err := l.checkWindow(off); err != nil {
		if !l.offSet {
			return nil, fmt.Errorf("%s: input 1 (%s) is larger than input 0 (%s)", l.prefix, dimsString(in[1]), dimsString(in[0]))
		}
		return nil, err
	}
	l.setUp = true
	return tensor.Shape{l.n, l.c, l.oh, l.ow}, nil
}

// Forward implements Layer.
func (l *Crop) Forward(in []*tensor.Dense, out *tensor.Dense) {
	if !l.offSet {
		panic(l.prefix + ": offset auto but SetOffset was never called")
	}
	if isFloat32(out) {
		cropCopy(l, floatsOf[float32](in[0]), floatsOf[float32](out), false)
	} else {
		cropCopy(l, floatsOf[float64](in[0]), floatsOf[float64](out), false)
	}
}

// Backward implements Layer: dOut is scattered into dIn[0] at the offset; input 1 gets nothing.
func (l *Crop) Backward(in []*tensor.Dense, out, dOut *tensor.Dense, dIn []*tensor.Dense) {
	if dIn[0] == nil {
		return
	}
	if isFloat32(dOut) {
		cropCopy(l, floatsOf[float32](dIn[0]), floatsOf[float32](dOut), true)
	} else {
		cropCopy(l, floatsOf[float64](dIn[0]), floatsOf[float64](dOut), true)
	}
}

// cropCopy copies big's window into small (forward) or, with back, adds small into
// big's window (backward).
func cropCopy[T Float](l *Crop, big, small []T, back bool) {
	plane, oplane := l.h*l.w, l.oh*l.ow
	for nc := 0; nc < l.n*l.c; nc++ {
		for r := 0; r < l.oh; r++ {
			b := big[nc*plane+(r+l.off[0])*l.w+l.off[1]:][:l.ow]
			s := small[nc*oplane+r*l.ow:][:l.ow]
			if back {
				for i, g := range s {
					b[i] += g
				}
			} else {
				copy(s, b)
			}
		}
	}
}

func init() {
	Register(&Type{
		Name:   "crop",
		Doc:    "crops input 0 to input 1's height and width (Caffe's Crop; offset auto from the coordinate maps)",
		Inputs: Arity{2, 2},
		Options: []Option{
			{Key: "offset", Kind: KindOffset, Default: Offset{Auto: true}, Check: func(v any) string {
				if o := v.(Offset); !o.Auto && (o.HW[0] < 0 || o.HW[1] < 0) {
					return fmt.Sprintf("must be ≥ 0, got %s", PairString(o.HW))
				}
				return ""
			}, Doc: "where the window starts in input 0: auto (Caffe's coord_map), or an integer or [h, w]"},
		},
		Build: func(a BuildArgs) ([]Built, error) {
			var cfg CropConfig
			if off := a.Options.Offset("offset"); !off.Auto {
				cfg.Offset = sliceOf(off.HW)
			}
			l, err := NewCrop(a.Name, cfg)
			return single(a, l, err)
		},
		GradCases: func() []GradCase {
			var cs []GradCase
			for i, tc := range []struct {
				name   string
				off    []int // nil: auto, set by hand as the graph would
				set    [2]int
				in, rf tensor.Shape
			}{
				{"offset0_same_size", ints(0), [2]int{}, tensor.Shape{1, 1, 5, 7}, tensor.Shape{1, 1, 5, 7}},
				{"offset1x2_batch2", ints(1, 2), [2]int{}, tensor.Shape{2, 3, 7, 9}, tensor.Shape{2, 1, 4, 5}},
				{"offset3", ints(3), [2]int{}, tensor.Shape{1, 2, 9, 8}, tensor.Shape{1, 2, 5, 5}},
				{"auto_offset_set_2x1", nil, [2]int{2, 1}, tensor.Shape{2, 2, 8, 7}, tensor.Shape{2, 2, 5, 6}},
			} {
				// input1 is only a size reference: its gradient must be exactly zero, and
				// is compared too.
				cs = append(cs, GradCase{Name: tc.name, Eps: EpsLinear, In: []tensor.Shape{tc.in, tc.rf}, Seed: uint64(600 + i),
					Want: []string{"input0", "input1"},
					Make: func() (Layer, error) {
						l, err := NewCrop("crop", CropConfig{Offset: tc.off})
						if err == nil && tc.off == nil {
							err = l.SetOffset(tc.set[0], tc.set[1])
						}
						return l, err
					}})
			}
			return cs
		},
		GradVariants: []string{"offset"},
		Caffe:        "Crop", ONNX: "Slice",
		CaffeMap:   &CaffeMapping{Type: "Crop", Field: "crop_param", ToCaffe: cropToCaffe, FromCaffe: cropFromCaffe},
		ONNXExport: onnxCrop,
	})
}

// cropToCaffe is crop_param on the spatial axes. An auto offset has no number here:
// interop/caffe writes the offset the graph's coordinate maps give.
func cropToCaffe(o Options, _ int) (CaffeFields, error) {
	off := o.Offset("offset")
	if off.Auto {
		return nil, fmt.Errorf("offset auto: resolve it first")
	}
	f := CaffeFields{"axis": 2.0}
	caffePairFields(f, "offset", off.HW)
	return f, nil
}

// cropFromCaffe reads crop_param: axis 2 (the spatial axes) with one or two offsets.
func cropFromCaffe(r *CaffeReader, o *Options) error {
	if ax := r.Num("axis", 2); ax != 2 {
		return fmt.Errorf("axis: %v; fcn crops height and width (axis 2)", ax)
	}
	off, err := caffePair(r, "offset", [2]int{0, 0})
	if err != nil {
		return err
	}
	return o.Set("offset", Offset{HW: off})
}

func onnxCrop(a ONNXArgs) (ONNXOut, error) {
	l, err := onnxLayer[*Crop](a)
	if err != nil {
		return ONNXOut{}, err
	}
	oh, ow := l.Offset()
	// The window's end is the offset plus input 1's size, read at run time from its
	// shape, so the model keeps symbolic spatial sizes.
	n := a.Name + "/"
	return ONNXOut{
		Consts: []ONNXConst{
			{Name: n + "offset", Dims: []int{2}, Ints: []int64{int64(oh), int64(ow)}},
			{Name: n + "axes", Dims: []int{2}, Ints: []int64{2, 3}},
			{Name: n + "hw_start", Dims: []int{1}, Ints: []int64{2}},
			{Name: n + "hw_end", Dims: []int{1}, Ints: []int64{4}},
		},
		Nodes: []ONNXNode{
			{Op: "Shape", Inputs: []string{a.Inputs[1]}, Outputs: []string{n + "ref_shape"}},
			{Op: "Slice", Inputs: []string{n + "ref_shape", n + "hw_start", n + "hw_end"}, Outputs: []string{n + "ref_hw"}},
			{Op: "Add", Inputs: []string{n + "ref_hw", n + "offset"}, Outputs: []string{n + "end"}},
			{Op: "Slice", Inputs: []string{a.Inputs[0], n + "offset", n + "end", n + "axes"}, Outputs: []string{a.Name}},
		}}, nil
}
